/**
 * Events (core/v1) for what controllers do, as client-go's record.EventRecorder writes them:
 * `<object>.<hex nanoseconds>` names, `involvedObject`, `source.component`, and a repeat of the
 * same reason and message on the same object within ten minutes bumps `count` and
 * `lastTimestamp` instead of adding an event (the correlator's aggregation, simplified).
 * Recording never blocks or fails a reconcile: writes go out in the background and errors are
 * dropped, as in Kubernetes.
 */
import type { KubeObject } from '../api/types.js';
import type { ApiClient } from './client.js';
import { resourceForKind } from './resources.js';
import { formatTime, type Clock } from './time.js';

export type EventType = 'Normal' | 'Warning';

export interface EventRecorder {
  /** `kind` names the object's kind where the object does not carry it (list items may not). */
  event(obj: KubeObject, type: EventType, reason: string, message: string, kind?: InvolvedKind): void;
}

/** Kinds of what controllers write events about, for objects read without kind/apiVersion. */
export interface InvolvedKind {
  apiVersion: string;
  kind: string;
}

const SIMILAR_WINDOW_MS = 10 * 60_000;
/** Distinct (object, reason, message) entries remembered for aggregation. */
const MAX_REMEMBERED = 4096;

export class ClientEventRecorder implements EventRecorder {
  private readonly seen = new Map<string, { name: string; namespace: string; count: number; firstMs: number; lastMs: number }>();
  private readonly pending = new Set<Promise<unknown>>();
  private seq = 0;

  constructor(
    private readonly client: ApiClient,
    private readonly clock: Clock,
    readonly component: string,
    private readonly host = '',
  ) {}

  event(obj: KubeObject, type: EventType, reason: string, message: string, kind?: InvolvedKind): void {
    const now = this.clock.now();
    const ns = obj.metadata.namespace || 'default';
    const apiVersion = obj.apiVersion ?? kind?.apiVersion ?? resourceForKind(undefined, obj.kind ?? '')?.apiVersion ?? 'v1';
    const k = `${obj.metadata.uid}\x00${type}\x00${reason}\x00${message}`;
    const prev = this.seen.get(k);
    if (prev && now - prev.lastMs < SIMILAR_WINDOW_MS) {
      prev.count++;
      prev.lastMs = now;
      this.track(
        this.client.patch('events', prev.namespace, prev.name, { count: prev.count, lastTimestamp: formatTime(now) }).catch(() => undefined),
      );
      return;
    }
    // Go's UnixNano in hex, plus a sequence so two events in one millisecond differ.
    const nanos = BigInt(Math.floor(now)) * 1_000_000n + BigInt(this.seq++ % 1_000_000);
    const name = `${obj.metadata.name}.${nanos.toString(16)}`;
    const ev: KubeObject = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name, namespace: ns },
      involvedObject: {
        kind: obj.kind ?? kind?.kind,
        namespace: obj.metadata.namespace,
        name: obj.metadata.name,
        uid: obj.metadata.uid,
        apiVersion,
        resourceVersion: obj.metadata.resourceVersion,
      },
      reason,
      message,
      type,
      source: this.host ? { component: this.component, host: this.host } : { component: this.component },
      firstTimestamp: formatTime(now),
      lastTimestamp: formatTime(now),
      count: 1,
      reportingComponent: this.component,
      reportingInstance: this.host,
    };
    if (this.seen.size >= MAX_REMEMBERED) this.seen.delete(this.seen.keys().next().value!);
    this.seen.set(k, { name, namespace: ns, count: 1, firstMs: now, lastMs: now });
    this.track(this.client.createEvent(ev).catch(() => undefined));
  }

  /** Resolves when every event write started so far has finished. */
  async flush(): Promise<void> {
    while (this.pending.size) await Promise.all([...this.pending]);
  }

  private track(p: Promise<unknown>): void {
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  }
}

/** An in-memory recorder for tests: `events` lists `Type Reason Message` strings. */
export class FakeRecorder implements EventRecorder {
  readonly events: string[] = [];
  event(_obj: KubeObject, type: EventType, reason: string, message: string): void {
    this.events.push(`${type} ${reason} ${message}`);
  }
}
