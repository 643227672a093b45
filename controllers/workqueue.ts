/**
 * client-go's workqueue on an injected clock: a deduplicating FIFO (an item is in the queue at
 * most once, and an item being processed that is added again is processed again after `done`),
 * a delaying layer (`addAfter`) and a rate-limiting layer (`addRateLimited`) with the default
 * controller rate limiter: per-item exponential back-off 5 ms → 1,000 s, and an overall token
 * bucket of 10 qps with a burst of 100, whichever asks for the longer wait.
 *
 * The queue holds each distinct item once, so its size is bounded by the number of objects the
 * controller watches.
 */
import type { Clock, Timers } from './time.js';

export interface RateLimiter<T> {
  /** How long to wait before the item may be retried; counts the attempt. */
  when(item: T): number;
  /** Stops tracking the item (it succeeded). */
  forget(item: T): void;
  numRequeues(item: T): number;
}

/** Back-off doubling per failure of the same item: base × 2^failures, capped. */
export class ItemExponentialFailureRateLimiter<T> implements RateLimiter<T> {
  private readonly failures = new Map<T, number>();
  constructor(
    readonly baseDelayMs = 5,
    readonly maxDelayMs = 1_000_000,
  ) {}
  when(item: T): number {
    const exp = this.failures.get(item) ?? 0;
    this.failures.set(item, exp + 1);
    const backoff = this.baseDelayMs * 2 ** exp;
    return backoff > this.maxDelayMs || !Number.isFinite(backoff) ? this.maxDelayMs : backoff;
  }
  forget(item: T): void {
    this.failures.delete(item);
  }
  numRequeues(item: T): number {
    return this.failures.get(item) ?? 0;
  }
}

/**
 * An overall token bucket (golang.org/x/time/rate's Reserve): every call takes a token, and a
 * call that finds none waits until its token would have been refilled.
 */
export class BucketRateLimiter<T> implements RateLimiter<T> {
  private tokens: number;
  private lastMs: number;
  constructor(
    private readonly clock: Clock,
    readonly qps = 10,
    readonly burst = 100,
  ) {
    this.tokens = burst;
    this.lastMs = clock.now();
  }
  when(_item: T): number {
    const now = this.clock.now();
    if (now > this.lastMs) {
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.lastMs) / 1000) * this.qps);
      this.lastMs = now;
    }
    this.tokens -= 1;
    return this.tokens >= 0 ? 0 : Math.ceil((-this.tokens / this.qps) * 1000);
  }
  forget(_item: T): void {}
  numRequeues(_item: T): number {
    return 0;
  }
}

/** The longest wait any of its limiters asks for. */
export class MaxOfRateLimiter<T> implements RateLimiter<T> {
  private readonly limiters: RateLimiter<T>[];
  constructor(...limiters: RateLimiter<T>[]) {
    this.limiters = limiters;
  }
  when(item: T): number {
    let max = 0;
    for (const l of this.limiters) max = Math.max(max, l.when(item));
    return max;
  }
  forget(item: T): void {
    for (const l of this.limiters) l.forget(item);
  }
  numRequeues(item: T): number {
    let max = 0;
    for (const l of this.limiters) max = Math.max(max, l.numRequeues(item));
    return max;
  }
}

/** client-go's DefaultControllerRateLimiter. */
export function defaultControllerRateLimiter<T>(clock: Clock): RateLimiter<T> {
  return new MaxOfRateLimiter<T>(new ItemExponentialFailureRateLimiter<T>(5, 1_000_000), new BucketRateLimiter<T>(clock, 10, 100));
}

export interface WorkQueueOptions<T> {
  clock: Clock;
  timers: Timers;
  rateLimiter?: RateLimiter<T>;
  name?: string;
}

export class WorkQueue<T> {
  readonly name: string;
  /** FIFO of items ready to process; `head` is the index of the first. */
  private items: T[] = [];
  private head = 0;
  /** Items that need processing (queued, or re-added while processing). */
  private readonly dirty = new Set<T>();
  private readonly processing = new Set<T>();
  /** Items waiting for addAfter, with when they become ready and their timer. */
  private readonly waiting = new Map<T, { readyAtMs: number; timer: number }>();
  private readonly rateLimiter: RateLimiter<T>;
  private readonly clock: Clock;
  private readonly timers: Timers;
  private closed = false;
  private readonly listeners: (() => void)[] = [];

  constructor(options: WorkQueueOptions<T>) {
    this.clock = options.clock;
    this.timers = options.timers;
    this.rateLimiter = options.rateLimiter ?? defaultControllerRateLimiter<T>(options.clock);
    this.name = options.name ?? 'queue';
  }

  /** Called (synchronously) whenever an item becomes ready to get. */
  onReady(fn: () => void): void {
    this.listeners.push(fn);
  }

  add(item: T): void {
    if (this.closed || this.dirty.has(item)) return;
    this.dirty.add(item);
    if (this.processing.has(item)) return;
    this.items.push(item);
    for (const l of this.listeners) l();
  }

  /** Items ready to get. */
  len(): number {
    return this.items.length - this.head;
  }

  /** Items waiting for a delay. */
  waitingCount(): number {
    return this.waiting.size;
  }

  /** The next item to process, marked as processing; undefined when none is ready. */
  get(): T | undefined {
    if (this.len() === 0) return undefined;
    const item = this.items[this.head]!;
    this.head++;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    this.processing.add(item);
    this.dirty.delete(item);
    return item;
  }

  /** Marks the item processed; if it was added meanwhile it goes back in the queue. */
  done(item: T): void {
    this.processing.delete(item);
    if (this.dirty.has(item) && !this.closed) {
      this.items.push(item);
      for (const l of this.listeners) l();
    }
  }

  isProcessing(item: T): boolean {
    return this.processing.has(item);
  }

  /** Adds the item after `delayMs`; a pending earlier delay of the same item wins. */
  addAfter(item: T, delayMs: number): void {
    if (this.closed) return;
    if (delayMs <= 0) {
      this.add(item);
      return;
    }
    const readyAtMs = this.clock.now() + delayMs;
    const cur = this.waiting.get(item);
    if (cur) {
      if (cur.readyAtMs <= readyAtMs) return;
      this.timers.cancelTimer(cur.timer);
    }
    const timer = this.timers.setTimer(delayMs, () => {
      const w = this.waiting.get(item);
      if (w && w.timer === timer) this.waiting.delete(item);
      this.add(item);
    });
    this.waiting.set(item, { readyAtMs, timer });
  }

  /** Adds the item after the rate limiter's wait for it. */
  addRateLimited(item: T): void {
    this.addAfter(item, this.rateLimiter.when(item));
  }

  forget(item: T): void {
    this.rateLimiter.forget(item);
  }

  numRequeues(item: T): number {
    return this.rateLimiter.numRequeues(item);
  }

  shutDown(): void {
    this.closed = true;
    for (const w of this.waiting.values()) this.timers.cancelTimer(w.timer);
    this.waiting.clear();
  }

  get shuttingDown(): boolean {
    return this.closed;
  }
}
