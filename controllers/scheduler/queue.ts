/**
 * The scheduling queue (pkg/scheduler/internal/queue): pods waiting to be scheduled sit in one
 * of three places.
 * - activeQ: ready now, highest priority first, then the longest waiting;
 * - backoffQ: failed recently, waiting out a back-off of 1 s doubling per attempt up to 10 s;
 * - unschedulable: failed and waiting for a cluster event that could help them (a node added
 *   or changed, an assigned pod deleted, ...), or at most 5 minutes.
 * A cluster event moves the unschedulable pods whose failing plugins care about it to activeQ
 * (or to backoffQ if their back-off has not expired). Time comes from the injected clock;
 * `flush()` moves what is due and `nextWakeMs()` says when to call it next.
 */
import type { Clock } from '../time.js';
import type { PodInfo } from './nodeinfo.js';

export interface QueuedPod {
  info: PodInfo;
  /** When it was last added or failed (ms). */
  timestampMs: number;
  /** Scheduling attempts so far. */
  attempts: number;
  /** The plugins that rejected it last time; empty when it failed for another reason. */
  unschedulablePlugins: Set<string>;
  /** The scheduling cycle it was popped in. */
  cycle: number;
}

export type ClusterEvent = 'NodeAdd' | 'NodeUpdate' | 'AssignedPodAdd' | 'AssignedPodUpdate' | 'AssignedPodDelete' | 'PvcChange' | 'PvChange' | 'ForceActivate';

/** Which plugins' failures an event may cure (the queueing hints, coarsely). */
const EVENT_PLUGINS: Record<ClusterEvent, Set<string> | 'all'> = {
  NodeAdd: 'all',
  NodeUpdate: new Set(['NodeUnschedulable', 'NodeAffinity', 'TaintToleration', 'NodeResourcesFit', 'NodePorts', 'InterPodAffinity', 'PodTopologySpread', 'VolumeBinding']),
  AssignedPodAdd: new Set(['InterPodAffinity', 'PodTopologySpread']),
  AssignedPodUpdate: new Set(['InterPodAffinity', 'PodTopologySpread', 'NodeResourcesFit']),
  AssignedPodDelete: new Set(['NodeResourcesFit', 'NodePorts', 'InterPodAffinity', 'PodTopologySpread', 'VolumeBinding']),
  PvcChange: new Set(['VolumeBinding']),
  PvChange: new Set(['VolumeBinding']),
  ForceActivate: 'all',
};

export interface QueueOptions {
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** Unschedulable pods are retried at least this often. */
  maxUnschedulableMs?: number;
}

/** A binary heap with a comparator and removal by key. */
class Heap<T> {
  private readonly items: T[] = [];
  private readonly index = new Map<string, number>();
  constructor(
    private readonly less: (a: T, b: T) => boolean,
    private readonly keyOf: (t: T) => string,
  ) {}
  get size(): number {
    return this.items.length;
  }
  has(key: string): boolean {
    return this.index.has(key);
  }
  get(key: string): T | undefined {
    const i = this.index.get(key);
    return i === undefined ? undefined : this.items[i];
  }
  peek(): T | undefined {
    return this.items[0];
  }
  push(t: T): void {
    const k = this.keyOf(t);
    const at = this.index.get(k);
    if (at !== undefined) {
      this.items[at] = t;
      this.up(at);
      this.down(this.index.get(k)!);
      return;
    }
    this.items.push(t);
    this.index.set(k, this.items.length - 1);
    this.up(this.items.length - 1);
  }
  pop(): T | undefined {
    if (this.items.length === 0) return undefined;
    const top = this.items[0]!;
    this.removeAt(0);
    return top;
  }
  delete(key: string): T | undefined {
    const i = this.index.get(key);
    if (i === undefined) return undefined;
    const t = this.items[i]!;
    this.removeAt(i);
    return t;
  }
  values(): T[] {
    return this.items.slice();
  }
  private removeAt(i: number): void {
    const last = this.items.length - 1;
    this.index.delete(this.keyOf(this.items[i]!));
    if (i !== last) {
      const moved = this.items[last]!;
      this.items[i] = moved;
      this.index.set(this.keyOf(moved), i);
      this.items.pop();
      this.up(i);
      this.down(this.index.get(this.keyOf(moved))!);
    } else this.items.pop();
  }
  private swap(i: number, j: number): void {
    const a = this.items[i]!;
    const b = this.items[j]!;
    this.items[i] = b;
    this.items[j] = a;
    this.index.set(this.keyOf(b), i);
    this.index.set(this.keyOf(a), j);
  }
  private up(i: number): void {
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(this.items[i]!, this.items[p]!)) break;
      this.swap(i, p);
      i = p;
    }
  }
  private down(i: number): void {
    const n = this.items.length;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < n && this.less(this.items[l]!, this.items[m]!)) m = l;
      if (r < n && this.less(this.items[r]!, this.items[m]!)) m = r;
      if (m === i) return;
      this.swap(i, m);
      i = m;
    }
  }
}

export class SchedulingQueue {
  private readonly active: Heap<QueuedPod>;
  private readonly backoff: Heap<QueuedPod>;
  private readonly unschedulable = new Map<string, QueuedPod>();
  /** Pods popped and not yet done with (being scheduled or bound). */
  private readonly inFlight = new Map<string, QueuedPod>();
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly maxUnschedulableMs: number;
  private schedulingCycle = 0;
  /** The cycle of the last move request: pods failing in an earlier cycle go to backoff. */
  private moveRequestCycle = -1;

  constructor(
    private readonly clock: Clock,
    options: QueueOptions = {},
  ) {
    this.initialBackoffMs = options.initialBackoffMs ?? 1000;
    this.maxBackoffMs = options.maxBackoffMs ?? 10_000;
    this.maxUnschedulableMs = options.maxUnschedulableMs ?? 5 * 60_000;
    const key = (q: QueuedPod) => q.info.key;
    this.active = new Heap<QueuedPod>((a, b) => (a.info.priority !== b.info.priority ? a.info.priority > b.info.priority : a.timestampMs < b.timestampMs), key);
    this.backoff = new Heap<QueuedPod>((a, b) => this.backoffExpiry(a) < this.backoffExpiry(b), key);
  }

  /** Pods ready to pop, in back-off, and unschedulable. */
  get counts(): { active: number; backoff: number; unschedulable: number } {
    return { active: this.active.size, backoff: this.backoff.size, unschedulable: this.unschedulable.size };
  }

  has(key: string): boolean {
    return this.active.has(key) || this.backoff.has(key) || this.unschedulable.has(key) || this.inFlight.has(key);
  }

  where(key: string): 'active' | 'backoff' | 'unschedulable' | 'inFlight' | undefined {
    if (this.active.has(key)) return 'active';
    if (this.backoff.has(key)) return 'backoff';
    if (this.unschedulable.has(key)) return 'unschedulable';
    if (this.inFlight.has(key)) return 'inFlight';
    return undefined;
  }

  backoffDurationMs(q: QueuedPod): number {
    let d = this.initialBackoffMs;
    for (let i = 1; i < q.attempts && d < this.maxBackoffMs; i++) d *= 2;
    return Math.min(d, this.maxBackoffMs);
  }

  private backoffExpiry(q: QueuedPod): number {
    return q.timestampMs + this.backoffDurationMs(q);
  }

  /** A new pending pod. */
  add(info: PodInfo): void {
    const key = info.key;
    const cur = this.backoff.delete(key) ?? this.unschedulable.get(key);
    this.unschedulable.delete(key);
    if (this.inFlight.has(key)) {
      this.inFlight.get(key)!.info = info;
      return;
    }
    const q: QueuedPod = cur ? { ...cur, info } : { info, timestampMs: this.clock.now(), attempts: 0, unschedulablePlugins: new Set(), cycle: 0 };
    this.active.push(q);
  }

  /**
   * A pending pod changed. A change of its spec or labels may make it schedulable, so an
   * unschedulable pod moves on; a status-only change just refreshes what is kept (`specChanged`
   * false), as kube-scheduler's isPodUpdated decides.
   */
  update(info: PodInfo, specChanged = true): void {
    const key = info.key;
    const a = this.active.get(key);
    if (a) {
      a.info = info;
      this.active.push(a);
      return;
    }
    const b = this.backoff.get(key);
    if (b) {
      b.info = info;
      return;
    }
    const u = this.unschedulable.get(key);
    if (u) {
      u.info = info;
      if (!specChanged) return;
      this.unschedulable.delete(key);
      if (this.backoffExpiry(u) > this.clock.now()) this.backoff.push(u);
      else this.active.push(u);
      return;
    }
    const f = this.inFlight.get(key);
    if (f) {
      f.info = info;
      return;
    }
    this.add(info);
  }

  delete(key: string): void {
    this.active.delete(key);
    this.backoff.delete(key);
    this.unschedulable.delete(key);
    this.inFlight.delete(key);
  }

  /** The next pod to schedule, after moving due back-offs in. */
  pop(): QueuedPod | undefined {
    this.flush();
    const q = this.active.pop();
    if (!q) return undefined;
    q.attempts++;
    q.cycle = ++this.schedulingCycle;
    this.inFlight.set(q.info.key, q);
    return q;
  }

  /** The popped pod is scheduled and bound (or gone): forget it. */
  done(key: string): void {
    this.inFlight.delete(key);
  }

  /**
   * A popped pod could not be scheduled. If a cluster event came while it was being tried, it
   * goes to back-off (the event may have helped); otherwise it waits as unschedulable.
   */
  requeueUnschedulable(q: QueuedPod, plugins: Set<string>): void {
    const key = q.info.key;
    if (!this.inFlight.has(key)) return;
    this.inFlight.delete(key);
    q.timestampMs = this.clock.now();
    q.unschedulablePlugins = plugins;
    if (this.moveRequestCycle >= q.cycle) this.backoff.push(q);
    else this.unschedulable.set(key, q);
  }

  /** A popped pod failed for a reason no event will cure (an API error): retry after back-off. */
  requeueBackoff(q: QueuedPod): void {
    const key = q.info.key;
    if (!this.inFlight.has(key)) return;
    this.inFlight.delete(key);
    q.timestampMs = this.clock.now();
    q.unschedulablePlugins = new Set();
    this.backoff.push(q);
  }

  /** A cluster event: unschedulable pods it may help go to activeQ or backoffQ. */
  moveAllToActiveOrBackoff(event: ClusterEvent): number {
    const plugins = EVENT_PLUGINS[event];
    const now = this.clock.now();
    let moved = 0;
    for (const [key, q] of [...this.unschedulable]) {
      if (plugins !== 'all' && q.unschedulablePlugins.size > 0 && ![...q.unschedulablePlugins].some((p) => plugins.has(p))) continue;
      this.unschedulable.delete(key);
      if (this.backoffExpiry(q) > now) this.backoff.push(q);
      else this.active.push(q);
      moved++;
    }
    this.moveRequestCycle = this.schedulingCycle;
    return moved;
  }

  /** Moves pods whose back-off expired, and pods unschedulable for too long. */
  flush(): void {
    const now = this.clock.now();
    for (let q = this.backoff.peek(); q && this.backoffExpiry(q) <= now; q = this.backoff.peek()) {
      this.backoff.pop();
      this.active.push(q);
    }
    for (const [key, q] of [...this.unschedulable]) {
      if (now - q.timestampMs < this.maxUnschedulableMs) continue;
      this.unschedulable.delete(key);
      if (this.backoffExpiry(q) > now) this.backoff.push(q);
      else this.active.push(q);
    }
  }

  /** When `flush` next has something to move, or undefined. */
  nextWakeMs(): number | undefined {
    let t: number | undefined;
    const b = this.backoff.peek();
    if (b) t = this.backoffExpiry(b);
    for (const q of this.unschedulable.values()) {
      const due = q.timestampMs + this.maxUnschedulableMs;
      if (t === undefined || due < t) t = due;
    }
    return t;
  }

  get activeCount(): number {
    return this.active.size;
  }
}
