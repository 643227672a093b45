/**
 * The controller skeleton of kubernetes/sample-controller: informer handlers turn objects into
 * keys on a deduplicating, rate-limited workqueue; workers take keys and call `reconcile(key)`,
 * which reads the caches and writes through the API; an error puts the key back with the rate
 * limiter's back-off, a success forgets its back-off.
 *
 * Also here: expectations (what a controller has asked the API for and not yet seen come back
 * through its informers, so it does not act twice on a stale cache) and slow-start batches.
 */
import type { KubeObject } from '../api/types.js';
import type { ApiClient } from './client.js';
import { ClientEventRecorder, type EventRecorder } from './events.js';
import type { InformerFactory } from './informer.js';
import { objectKey } from './resources.js';
import type { Clock, Timers } from './time.js';
import { WorkQueue, type RateLimiter } from './workqueue.js';

/** What every controller is given: the API, time, shared informers and an event sink. */
export interface ControllerContext {
  client: ApiClient;
  clock: Clock;
  timers: Timers;
  informers: InformerFactory;
  /** Makes the recorder for a component (`replicaset-controller`); default writes Events through the client. */
  recorder?: (component: string) => EventRecorder;
  /** Told about every failed reconcile (for logs); the key is retried regardless. */
  onError?: (controller: string, key: string, err: unknown) => void;
}

export interface ControllerOptions {
  /** Keys reconciled concurrently. */
  workers?: number;
  rateLimiter?: RateLimiter<string>;
  /** The component name events carry. */
  component?: string;
}

export function makeRecorder(ctx: ControllerContext, component: string): EventRecorder {
  return ctx.recorder ? ctx.recorder(component) : new ClientEventRecorder(ctx.client, ctx.clock, component);
}

export abstract class Controller {
  readonly queue: WorkQueue<string>;
  readonly recorder: EventRecorder;
  protected readonly client: ApiClient;
  protected readonly clock: Clock;
  protected readonly timers: Timers;
  private readonly workers: number;
  private running = 0;
  private started = false;
  private stopped = false;
  readonly stats = { reconciles: 0, errors: 0 };
  /** The last error per key, for status pages and tests. */
  readonly lastErrors = new Map<string, unknown>();

  constructor(
    readonly name: string,
    protected readonly ctx: ControllerContext,
    options: ControllerOptions = {},
  ) {
    this.client = ctx.client;
    this.clock = ctx.clock;
    this.timers = ctx.timers;
    this.workers = Math.max(1, options.workers ?? 1);
    this.queue = new WorkQueue<string>({ clock: ctx.clock, timers: ctx.timers, rateLimiter: options.rateLimiter, name });
    this.recorder = makeRecorder(ctx, options.component ?? name);
  }

  /** Brings the object identified by `key` (`namespace/name`) to its desired state. */
  abstract reconcile(key: string): Promise<void>;

  enqueue(obj: KubeObject): void {
    this.queue.add(objectKey(obj));
  }

  enqueueKey(key: string): void {
    this.queue.add(key);
  }

  enqueueAfter(objOrKey: KubeObject | string, delayMs: number): void {
    this.queue.addAfter(typeof objOrKey === 'string' ? objOrKey : objectKey(objOrKey), delayMs);
  }

  enqueueRateLimited(objOrKey: KubeObject | string): void {
    this.queue.addRateLimited(typeof objOrKey === 'string' ? objOrKey : objectKey(objOrKey));
  }

  /** Starts the workers; they run whenever the queue has keys ready. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.queue.onReady(() => this.kick());
    this.kick();
  }

  stop(): void {
    this.stopped = true;
    this.queue.shutDown();
  }

  /** No key ready and none being reconciled (delayed keys may still be waiting). */
  idle(): boolean {
    return this.running === 0 && this.queue.len() === 0;
  }

  /** Takes one key and reconciles it; false when no key was ready. */
  async processNextWorkItem(): Promise<boolean> {
    const key = this.queue.get();
    if (key === undefined) return false;
    try {
      this.stats.reconciles++;
      await this.reconcile(key);
      this.queue.forget(key);
      this.lastErrors.delete(key);
    } catch (err) {
      this.stats.errors++;
      this.lastErrors.set(key, err);
      this.ctx.onError?.(this.name, key, err);
      this.queue.addRateLimited(key);
    } finally {
      this.queue.done(key);
    }
    return true;
  }

  /** Reconciles ready keys until none is left (tests drive controllers with this). */
  async drain(maxItems = 100_000): Promise<number> {
    let n = 0;
    while (n < maxItems && (await this.processNextWorkItem())) n++;
    return n;
  }

  private kick(): void {
    if (!this.started || this.stopped) return;
    while (this.running < this.workers && this.queue.len() > 0) {
      this.running++;
      // A microtask, so a worker never runs inside the informer callback that woke it.
      queueMicrotask(() => void this.work());
    }
  }

  private async work(): Promise<void> {
    try {
      while (!this.stopped && (await this.processNextWorkItem())) {
        /* next key */
      }
    } finally {
      this.running--;
      // A key added after this worker found the queue empty, but before it got here, found
      // `running` still counting it and started no worker: look again, or that key would wait
      // until some other key is added (for ever, if it is the only one).
      this.kick();
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Expectations

/** Expectations older than this are given up on (the watch event was lost). */
export const EXPECTATIONS_TIMEOUT_MS = 5 * 60_000;

interface Expectation {
  add: number;
  del: number;
  timestampMs: number;
  /** Keys of the objects whose deletion is expected (UID-tracking expectations). */
  deleting: Set<string>;
}

/**
 * client-go's ControllerExpectations with UID tracking: before creating N pods a controller
 * expects N creations; each add event it sees lowers the count; it syncs again only once the
 * counts reach zero (or the expectation times out).
 */
export class Expectations {
  private readonly map = new Map<string, Expectation>();
  constructor(
    private readonly clock: Clock,
    readonly timeoutMs = EXPECTATIONS_TIMEOUT_MS,
  ) {}

  satisfied(key: string): boolean {
    const e = this.map.get(key);
    if (!e) return true;
    if (e.add <= 0 && e.del <= 0) return true;
    return this.clock.now() - e.timestampMs > this.timeoutMs;
  }

  /** Expects `add` creations and the deletion of the objects with these keys. */
  expect(key: string, add: number, deleteKeys: string[]): void {
    this.map.set(key, { add, del: deleteKeys.length, timestampMs: this.clock.now(), deleting: new Set(deleteKeys) });
  }

  expectCreations(key: string, n: number): void {
    this.expect(key, n, []);
  }

  expectDeletions(key: string, objectKeys: string[]): void {
    this.expect(key, 0, objectKeys);
  }

  creationObserved(key: string): void {
    const e = this.map.get(key);
    if (e) e.add--;
  }

  /** A deletion seen (or a create that failed and will not be seen). */
  deletionObserved(key: string, objectKey?: string): void {
    const e = this.map.get(key);
    if (!e) return;
    if (objectKey !== undefined) {
      if (!e.deleting.delete(objectKey)) return;
    }
    e.del--;
  }

  lowerExpectations(key: string, add: number, del: number): void {
    const e = this.map.get(key);
    if (!e) return;
    e.add -= add;
    e.del -= del;
  }

  delete(key: string): void {
    this.map.delete(key);
  }

  get(key: string): { add: number; del: number } | undefined {
    const e = this.map.get(key);
    return e ? { add: e.add, del: e.del } : undefined;
  }
}

/**
 * Runs `fn` `count` times in batches of 1, 2, 4, … (controller.slowStartBatch), so a failure
 * that would hit every call (a quota, a bad template) costs one call, not hundreds. Returns how
 * many succeeded and the first error.
 */
export async function slowStartBatch(count: number, initialBatchSize: number, fn: (i: number) => Promise<void>): Promise<{ successes: number; error?: unknown }> {
  let remaining = count;
  let successes = 0;
  let index = 0;
  for (let batch = Math.min(remaining, initialBatchSize); batch > 0; batch = Math.min(2 * batch, remaining)) {
    const results = await Promise.allSettled(Array.from({ length: batch }, () => fn(index++)));
    let error: unknown;
    for (const r of results) {
      if (r.status === 'fulfilled') successes++;
      else if (error === undefined) error = r.reason;
    }
    if (error !== undefined) return { successes, error };
    remaining -= batch;
  }
  return { successes };
}
