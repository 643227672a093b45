/**
 * What both hosts have in common: supervision trees, fault injection, asks from outside, and
 * introspection. `SimHost` and `ThreadHost` fill in how actors actually run.
 */
import type { ActorContext, ActorId, ActorMetrics, ActorSpec, AskOptions } from './actor.js';
import { assert, UnknownActorError } from './errors.js';
import { FaultPlan, type FaultState } from './faults.js';
import { Supervisor, type SupervisorEvent, type SupervisorHost, type SupervisorSpec } from './supervisor.js';

/** The id the host itself uses when it sends or asks from outside. */
export const HOST_ID = '$host';

export interface CrashOptions {
  /** 'auto' (default): the supervisor restarts it per its spec; 'manual': it stays down until `restart()`. */
  restart?: 'auto' | 'manual';
}

export abstract class Host {
  abstract readonly kind: 'thread' | 'sim';
  readonly faults: FaultPlan;
  private readonly supervisors = new Map<string, Supervisor>();
  private readonly owner = new Map<ActorId, Supervisor>();
  private readonly listeners = new Set<(e: SupervisorEvent) => void>();
  private readonly inbox = new Set<(from: ActorId, msg: unknown) => void>();
  /** Every supervision event so far, oldest first (bounded). */
  readonly events: SupervisorEvent[] = [];
  private static readonly MAX_EVENTS = 10_000;

  constructor() {
    this.faults = new FaultPlan((state) => this.applyFaults(state));
  }

  // ---- what each host provides -------------------------------------------------------------
  abstract now(): number;
  abstract random(): number;
  abstract setTimer(delayMs: number, fn: () => void): unknown;
  abstract clearTimer(handle: unknown): void;
  /** Starts an actor (first start or restart). */
  protected abstract startActor(spec: ActorSpec, incarnation: number): void;
  /** Kills an actor's state at once. `crash` means with no goodbye (a worker is terminated). */
  protected abstract killActor(id: ActorId, reason: string, crash: boolean): void;
  protected abstract applyFaults(state: FaultState): void;
  protected abstract pauseActor(id: ActorId, paused: boolean): void;
  /** The host's own context, for sends and asks from outside. */
  protected abstract get hostContext(): ActorContext;
  abstract status(id: ActorId): Promise<Record<string, unknown>>;
  abstract metrics(id: ActorId): Promise<ActorMetrics>;
  abstract shutdown(): Promise<void>;
  /** Waits `ms` (virtual time on SimHost, which runs the simulation meanwhile). */
  abstract sleep(ms: number): Promise<void>;
  /**
   * Resolves once every control change made so far (faults, pause, resume) is in effect on
   * every thread. Immediate on SimHost; ThreadHost round-trips to each worker.
   */
  async settled(): Promise<void> {}

  // ---- supervision ---------------------------------------------------------------------------
  supervise(spec: SupervisorSpec): Supervisor {
    assert(!this.supervisors.has(spec.id), `supervisor ${spec.id} exists already`);
    for (const child of spec.children) this.checkNew(child.id);
    const sup = new Supervisor({ ...spec, children: [] }, this.supervisorHost());
    this.supervisors.set(spec.id, sup);
    for (const child of spec.children) this.addChild(spec.id, child);
    return sup;
  }

  addChild(supervisorId: string, spec: ActorSpec): void {
    const sup = this.supervisors.get(supervisorId);
    assert(sup, `no supervisor ${supervisorId}`);
    this.checkNew(spec.id);
    this.owner.set(spec.id, sup);
    sup.add(spec);
  }

  /** Stops an actor for good and forgets it. */
  removeChild(id: ActorId): void {
    const sup = this.owner.get(id);
    if (!sup) throw new UnknownActorError(id);
    if (sup.isRunning(id)) this.killActor(id, 'removed', false);
    sup.remove(id);
    this.owner.delete(id);
    this.forget(id);
  }

  /** Hook for hosts to drop an actor from their directories. */
  protected forget(_id: ActorId): void {}

  private checkNew(id: ActorId): void {
    assert(id !== HOST_ID && !this.owner.has(id), `actor id ${id} is taken`);
  }

  actorIds(): ActorId[] {
    return [...this.owner.keys()];
  }

  isKnown(id: ActorId): boolean {
    return this.owner.has(id);
  }

  isRunning(id: ActorId): boolean {
    return this.owner.get(id)?.isRunning(id) ?? false;
  }

  /** Messages actors send to the host itself (HOST_ID), e.g. watch notifications. */
  onMessage(handler: (from: ActorId, msg: unknown) => void): () => void {
    this.inbox.add(handler);
    return () => this.inbox.delete(handler);
  }

  /** Hosts route what arrives for HOST_ID here. */
  protected hostReceived(from: ActorId, msg: unknown): void {
    for (const h of this.inbox) h(from, msg);
  }

  onEvent(listener: (e: SupervisorEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The actor failed on its own (threw, its worker died): supervise it. */
  protected actorFailed(id: ActorId, reason: string): void {
    this.owner.get(id)?.exited(id, true, reason);
  }

  private supervisorHost(): SupervisorHost {
    return {
      now: () => this.now(),
      random: () => this.random(),
      setTimer: (ms, fn) => this.setTimer(ms, fn),
      clearTimer: (h) => this.clearTimer(h),
      startChild: (spec, incarnation) => this.startActor(spec, incarnation),
      stopChild: (id) => this.killActor(id, 'stopped by its supervisor', false),
      emit: (e) => {
        this.events.push(e);
        if (this.events.length > Host.MAX_EVENTS) this.events.splice(0, this.events.length - Host.MAX_EVENTS);
        for (const l of this.listeners) l(e);
      },
    };
  }

  protected supervisorOf(id: ActorId): Supervisor | undefined {
    return this.owner.get(id);
  }

  protected stopAllSupervisors(): void {
    for (const sup of this.supervisors.values()) sup.shutdown();
  }

  // ---- faults and control ------------------------------------------------------------------
  /** Crash: the actor dies with no goodbye (its worker is terminated if it runs alone). */
  crash(id: ActorId, options: CrashOptions = {}): void {
    const sup = this.owner.get(id);
    if (!sup) throw new UnknownActorError(id);
    if (!sup.isRunning(id)) return;
    this.killActor(id, 'crash injected', true);
    sup.exited(id, true, 'crash injected', options.restart === 'manual');
  }

  /** Restarts an actor from its durable state alone (at once, whether it is up or down). */
  restart(id: ActorId): void {
    const sup = this.owner.get(id);
    if (!sup) throw new UnknownActorError(id);
    if (sup.isRunning(id)) this.killActor(id, 'restart injected', true);
    sup.release(id);
  }

  /** The actor stops processing; its messages and timers wait until `resume`. */
  pause(id: ActorId): void {
    if (!this.owner.has(id)) throw new UnknownActorError(id);
    this.pauseActor(id, true);
  }

  resume(id: ActorId): void {
    if (!this.owner.has(id)) throw new UnknownActorError(id);
    this.pauseActor(id, false);
  }

  send(to: ActorId, msg: unknown): void {
    this.hostContext.send(to, msg);
  }

  ask<R = unknown>(to: ActorId, msg: unknown, options?: AskOptions): Promise<R> {
    return this.hostContext.ask<R>(to, msg, options);
  }
}
