/**
 * OTP-style supervision, shared by both hosts. A supervisor owns an ordered list of children
 * and decides, when one exits, what to restart and when: strategies one_for_one /
 * one_for_all / rest_for_one, restart types permanent / transient / temporary, a restart
 * intensity (more than `maxRestarts` in `periodMs` and it gives up), and exponential back-off
 * with jitter. Time and randomness come from the host, so SimHost tests it on a virtual clock.
 */
import type { ActorId, ActorSpec } from './actor.js';
import { assert } from './errors.js';

export type Strategy = 'one_for_one' | 'one_for_all' | 'rest_for_one';

export interface BackoffOptions {
  /** Delay before the first restart of a child in a period. */
  initialMs: number;
  /** Upper bound on the delay. */
  maxMs: number;
  /** Relative jitter in [0, 1]: the delay is scaled by a uniform factor in [1 - jitter, 1 + jitter]. */
  jitter: number;
}

export interface SupervisorSpec {
  id: string;
  strategy?: Strategy;
  /** More restarts than this within `periodMs` and the supervisor gives up. Default 10. */
  maxRestarts?: number;
  periodMs?: number;
  backoff?: Partial<BackoffOptions>;
  children: ActorSpec[];
}

export type SupervisorEvent =
  | { type: 'started'; supervisor: string; actor: ActorId; incarnation: number; time: number }
  | { type: 'crashed'; supervisor: string; actor: ActorId; reason: string; time: number }
  | { type: 'stopped'; supervisor: string; actor: ActorId; time: number }
  | { type: 'restarting'; supervisor: string; actor: ActorId; delayMs: number; time: number }
  | { type: 'gave_up'; supervisor: string; reason: string; time: number };

/** What a supervisor needs from its host. */
export interface SupervisorHost {
  now(): number;
  random(): number;
  setTimer(delayMs: number, fn: () => void): unknown;
  clearTimer(handle: unknown): void;
  /** Starts (or restarts) the actor; `incarnation` counts restarts. */
  startChild(spec: ActorSpec, incarnation: number): void;
  /** Stops a running child as part of a group restart (no exit is reported back). */
  stopChild(id: ActorId): void;
  emit(event: SupervisorEvent): void;
}

interface Child {
  spec: ActorSpec;
  incarnation: number;
  running: boolean;
  /** A restart timer, or a hold placed by a manual crash. */
  pending: unknown;
  held: boolean;
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 10, maxMs: 5_000, jitter: 0.2 };

export class Supervisor {
  readonly id: string;
  readonly strategy: Strategy;
  readonly maxRestarts: number;
  readonly periodMs: number;
  readonly backoff: BackoffOptions;
  private readonly children: Child[] = [];
  /** Times of restarts inside the current period (intensity window). */
  private restartTimes: number[] = [];
  private gaveUp = false;

  constructor(
    spec: SupervisorSpec,
    private readonly host: SupervisorHost,
  ) {
    this.id = spec.id;
    this.strategy = spec.strategy ?? 'one_for_one';
    this.maxRestarts = spec.maxRestarts ?? 10;
    this.periodMs = spec.periodMs ?? 10_000;
    this.backoff = { ...DEFAULT_BACKOFF, ...spec.backoff };
    assert(this.maxRestarts >= 0, 'maxRestarts must be >= 0');
    assert(this.backoff.jitter >= 0 && this.backoff.jitter <= 1, 'backoff jitter must be in [0, 1]');
    for (const child of spec.children) this.add(child);
  }

  get givenUp(): boolean {
    return this.gaveUp;
  }

  has(id: ActorId): boolean {
    return this.children.some((c) => c.spec.id === id);
  }

  specs(): ActorSpec[] {
    return this.children.map((c) => c.spec);
  }

  isRunning(id: ActorId): boolean {
    return this.find(id)?.running ?? false;
  }

  /** Adds and starts a child. */
  add(spec: ActorSpec): void {
    assert(!this.has(spec.id), `supervisor ${this.id} already has child ${spec.id}`);
    const child: Child = { spec, incarnation: 0, running: false, pending: null, held: false };
    this.children.push(child);
    if (!this.gaveUp) this.start(child);
  }

  /** Removes a child for good (after the host stopped it). */
  remove(id: ActorId): void {
    const i = this.children.findIndex((c) => c.spec.id === id);
    if (i < 0) return;
    const child = this.children[i]!;
    if (child.pending) this.host.clearTimer(child.pending);
    this.children.splice(i, 1);
  }

  private find(id: ActorId): Child | undefined {
    return this.children.find((c) => c.spec.id === id);
  }

  private start(child: Child): void {
    child.pending = null;
    child.running = true;
    // Announced before the start: a child that fails at once (SimHost runs onStart
    // synchronously) reports its crash from inside startChild, and events must keep causal order.
    this.host.emit({ type: 'started', supervisor: this.id, actor: child.spec.id, incarnation: child.incarnation, time: this.host.now() });
    this.host.startChild(child.spec, child.incarnation);
  }

  /**
   * A child exited. `abnormal` is true for a crash, false for an orderly stop. With `hold`, the
   * child stays down until `release(id)` (a manual kill-then-restart fault).
   */
  exited(id: ActorId, abnormal: boolean, reason: string, hold = false): void {
    const child = this.find(id);
    if (!child || !child.running) return;
    child.running = false;
    const now = this.host.now();
    if (abnormal) this.host.emit({ type: 'crashed', supervisor: this.id, actor: id, reason, time: now });
    else this.host.emit({ type: 'stopped', supervisor: this.id, actor: id, time: now });
    if (this.gaveUp) return;
    if (hold) {
      child.held = true;
      return;
    }
    const restartType = child.spec.restart ?? 'permanent';
    if (restartType === 'temporary' || (restartType === 'transient' && !abnormal)) return;
    if (!this.countRestart(now)) return;
    for (const c of this.affected(child)) {
      if (c !== child && c.running) {
        this.host.stopChild(c.spec.id);
        c.running = false;
      }
      // As in OTP, a temporary child is never restarted, not even by a sibling's group restart.
      if (c !== child && c.spec.restart === 'temporary') continue;
      this.scheduleRestart(c);
    }
  }

  /** Starts a held child now (or restarts a running one at once). */
  release(id: ActorId): void {
    const child = this.find(id);
    assert(child, `supervisor ${this.id} has no child ${id}`);
    if (child.pending) this.host.clearTimer(child.pending);
    child.held = false;
    if (child.running) {
      this.host.stopChild(id);
      child.running = false;
    }
    child.incarnation++;
    this.start(child);
  }

  /** Children restarted together with `child`, per the strategy. */
  private affected(child: Child): Child[] {
    if (this.strategy === 'one_for_one') return [child];
    if (this.strategy === 'one_for_all') return this.children.filter((c) => !c.held);
    const i = this.children.indexOf(child);
    return this.children.slice(i).filter((c) => c === child || !c.held);
  }

  /** Records a restart; false (and gives up) when the intensity is exceeded. */
  private countRestart(now: number): boolean {
    this.restartTimes = this.restartTimes.filter((t) => now - t < this.periodMs);
    this.restartTimes.push(now);
    if (this.restartTimes.length <= this.maxRestarts) return true;
    this.gaveUp = true;
    for (const c of this.children) {
      if (c.pending) this.host.clearTimer(c.pending);
      c.pending = null;
      if (c.running) {
        this.host.stopChild(c.spec.id);
        c.running = false;
      }
    }
    this.host.emit({
      type: 'gave_up',
      supervisor: this.id,
      reason: `more than ${this.maxRestarts} restarts in ${this.periodMs} ms`,
      time: now,
    });
    return false;
  }

  /** The back-off delay for the n-th restart inside the period (n >= 1). */
  delayFor(n: number): number {
    const base = Math.min(this.backoff.maxMs, this.backoff.initialMs * 2 ** Math.max(0, n - 1));
    const factor = 1 + this.backoff.jitter * (this.host.random() * 2 - 1);
    return Math.min(this.backoff.maxMs, base * factor);
  }

  private scheduleRestart(child: Child): void {
    if (child.pending) this.host.clearTimer(child.pending);
    const delayMs = this.delayFor(this.restartTimes.length);
    this.host.emit({ type: 'restarting', supervisor: this.id, actor: child.spec.id, delayMs, time: this.host.now() });
    child.pending = this.host.setTimer(delayMs, () => {
      child.pending = null;
      if (this.gaveUp || child.running || child.held) return;
      child.incarnation++;
      this.start(child);
    });
  }

  /** Stops every child for good (host shutdown). */
  shutdown(): void {
    this.gaveUp = true;
    for (const c of this.children) {
      if (c.pending) this.host.clearTimer(c.pending);
      c.pending = null;
    }
  }
}
