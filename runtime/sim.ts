/**
 * SimHost: the deterministic twin of ThreadHost. Every actor runs in this one thread on a
 * virtual clock; the network is an event queue with per-link FIFO latency and the same fault
 * model; randomness comes from one seeded PRNG; stores are in memory. The same seed gives the
 * same trace, and `traceHash` says so in one number.
 *
 * Time only moves while someone waits on the simulation (`sleep`, `ask`, `runUntil`), so a
 * test drives it like real time and it runs as fast as the events allow.
 */
import type { Logger } from 'pino';
import type { Actor, ActorContext, ActorFactory, ActorId, ActorMetrics, ActorSpec, AskOptions } from './actor.js';
import { ActorCell, type CellPlatform } from './cell.js';
import { decodeValue, encodeValue, type Envelope } from './codec.js';
import { UnknownActorError } from './errors.js';
import { FaultTable, NO_FAULTS, type FaultState } from './faults.js';
import { EventHeap, type TimedEvent } from './heap.js';
import { HOST_ID, Host } from './host.js';
import { createLogger } from './log.js';
import { fnv1a, fnv1aString, Rng } from './rng.js';
import { MemoryStore } from './store.js';

export interface SimSpec extends ActorSpec {
  /** An in-process factory, instead of loading `module`. */
  factory?: ActorFactory;
}

export interface SimOptions {
  seed: number;
  /** One-way network latency range in ms (default [0.1, 1]). */
  latencyMs?: [number, number];
  logger?: Logger;
}

const FNV_OFFSET = 0x811c9dc5;

export class SimHost extends Host {
  readonly kind = 'sim' as const;
  readonly seed: number;
  private clock = 0;
  private seq = 0;
  private readonly queue = new EventHeap();
  /** Some event ran at the current instant since promise chains were last drained. */
  private ranThisInstant = false;
  private readonly rng: Rng;
  private readonly latencyMs: [number, number];
  private readonly cells = new Map<ActorId, ActorCell>();
  private readonly down = new Map<ActorId, string>();
  private readonly stores = new Map<string, MemoryStore>();
  private readonly linkClock = new Map<string, number>();
  private readonly factories = new Map<string, ActorFactory>();
  private faultTable = new FaultTable(NO_FAULTS);
  private readonly hostCell: ActorCell;
  private readonly platform: CellPlatform;
  private hash = FNV_OFFSET;
  private waiters = 0;
  /** Set when a waiter's promise settles; the loop then yields to it before the next event. */
  private woke = false;
  private running = false;
  private stopped = false;
  /** Events run so far. */
  eventsRun = 0;
  readonly logger: Logger;

  constructor(options: SimOptions) {
    super();
    this.seed = options.seed;
    this.rng = new Rng(options.seed);
    this.latencyMs = options.latencyMs ?? [0.1, 1];
    this.logger = options.logger ?? createLogger({ now: () => this.clock, level: process.env.LOG_LEVEL ?? 'silent' });
    const host = this;
    this.platform = {
      now: () => host.clock,
      random: () => host.rng.next(),
      setTimer: (ms, fn) => host.schedule(ms, fn),
      // After every event already queued for this instant: the twin of setImmediate.
      afterTurn: (fn) => void host.schedule(0, fn),
      flush: () => {},
      clearTimer: (h) => {
        if (h) (h as TimedEvent).fn = null;
      },
      route: (kind, to, from, askId, payload) => host.route([kind, to, from, askId, payload]),
      downReason: (id) => host.downReason(id),
      store: (actor, name) => host.storeFor(actor, name),
      crashed: (cell, err) => host.onActorError(cell, err),
      logger: this.logger,
    };
    this.hostCell = new ActorCell({ id: HOST_ID, role: 'host', module: '' }, { onMessage: (_ctx, from, msg) => this.hostReceived(from, msg) }, this.platform, 0);
    void this.hostCell.start();
  }

  /** A 32-bit hash of every delivery and timer so far: equal seeds give equal hashes. */
  get traceHash(): number {
    return this.hash;
  }

  now(): number {
    return this.clock;
  }

  random(): number {
    return this.rng.next();
  }

  /** The simulation's PRNG, for test drivers and nemeses that must replay from the seed. */
  get prng(): Rng {
    return this.rng;
  }

  setTimer(delayMs: number, fn: () => void): unknown {
    return this.schedule(delayMs, fn);
  }

  clearTimer(handle: unknown): void {
    if (handle) (handle as TimedEvent).fn = null;
  }

  protected get hostContext(): ActorContext {
    return this.hostCell.ctx;
  }

  private schedule(delayMs: number, fn: () => void): TimedEvent {
    const ev: TimedEvent = { time: this.clock + Math.max(0, delayMs), seq: this.seq++, fn };
    this.queue.push(ev);
    return ev;
  }

  private downReason(id: ActorId): string | null {
    if (id === HOST_ID) return null;
    const reason = this.down.get(id);
    if (reason !== undefined) return reason;
    return this.cells.has(id) ? null : this.isKnown(id) ? 'not started' : null;
  }

  private route(env: Envelope): void {
    const to = env[1];
    if (to !== HOST_ID && !this.isKnown(to)) throw new UnknownActorError(to);
    const from = env[2];
    const bytes = encodeValue(env);
    const sender = from === HOST_ID ? this.hostCell : this.cells.get(from);
    if (sender) sender.metrics.bytesOut += bytes.byteLength;
    const link = `${from}>${to}`;
    const latency = this.latencyMs[0] + this.rng.next() * (this.latencyMs[1] - this.latencyMs[0]);
    // Links are FIFO, like a MessageChannel: a message never overtakes an earlier one unless a
    // fault reorders it.
    const at = Math.max(this.clock + latency, this.linkClock.get(link) ?? 0);
    this.linkClock.set(link, at);
    this.schedule(at - this.clock, () => this.arrive(from, to, bytes, false));
  }

  /** A message reaches its destination: faults decide its fate now, on arrival. */
  private arrive(from: ActorId, to: ActorId, bytes: Uint8Array, faulted: boolean): void {
    const cell = to === HOST_ID ? this.hostCell : this.cells.get(to);
    if (faulted) {
      if (this.faultTable.isBlocked(from, to)) return this.countDrop(cell);
      return this.deliver(cell, to, bytes);
    }
    const delays = this.faultTable.decide(from, to, this.rng);
    if (delays.length === 0) return this.countDrop(cell);
    for (const d of delays) {
      if (d === 0) this.deliver(cell, to, bytes);
      else this.schedule(d, () => this.arrive(from, to, bytes, true));
    }
  }

  private countDrop(cell: ActorCell | undefined): void {
    if (cell) cell.metrics.faultDrops++;
  }

  private deliver(cell: ActorCell | undefined, to: ActorId, bytes: Uint8Array): void {
    this.hash = fnv1a(fnv1aString(this.hash, `${this.clock}:${to}`), bytes);
    const env = decodeValue<Envelope>(bytes);
    if (cell && !cell.isDead) {
      cell.deliver(env, bytes.byteLength);
      return;
    }
    // The destination is down: an ask fails at once, as on real threads.
    if (env[0] === 1) {
      const reason = this.down.get(to) ?? 'not running';
      this.route([3, env[2], to, env[3], { name: 'ActorUnavailableError', message: reason, actor: to }]);
    }
  }

  private storeFor(actor: ActorId, name: string): MemoryStore {
    const key = `${actor}/${name}`;
    let store = this.stores.get(key);
    if (!store) {
      store = new MemoryStore();
      this.stores.set(key, store);
    }
    return store;
  }

  /** Drops an actor's durable state (a disk replaced by an empty one). */
  wipeStores(actor: ActorId): void {
    for (const key of [...this.stores.keys()]) if (key.startsWith(`${actor}/`)) this.stores.delete(key);
  }

  // ---- actor lifecycle ---------------------------------------------------------------------------
  protected startActor(spec: ActorSpec, incarnation: number): void {
    const factory = (spec as SimSpec).factory ?? this.factories.get(factoryKey(spec));
    if (!factory) throw new Error(`SimHost: no factory loaded for ${spec.module}#${spec.export ?? 'default'}; call host.load() first or pass spec.factory`);
    let actor: Actor;
    try {
      actor = factory(spec.args);
    } catch (err) {
      this.logger.error({ err, actor: spec.id }, 'actor factory threw');
      this.down.set(spec.id, 'factory failed');
      this.schedule(0, () => this.actorFailed(spec.id, `factory threw: ${String(err)}`));
      return;
    }
    const cell = new ActorCell(spec, actor, this.platform, incarnation);
    this.cells.set(spec.id, cell);
    this.down.delete(spec.id);
    this.hash = fnv1aString(this.hash, `start:${this.clock}:${spec.id}:${incarnation}`);
    void cell.start();
  }

  /** Loads actor modules for specs that name a module (SimHost has no workers to do it). */
  async load(specs: ActorSpec[]): Promise<void> {
    for (const spec of specs) {
      const key = factoryKey(spec);
      if ((spec as SimSpec).factory || this.factories.has(key)) continue;
      const mod = await import(new URL(`../${spec.module}`, import.meta.url).href);
      const factory = mod[spec.export ?? 'default'];
      if (typeof factory !== 'function') throw new Error(`${spec.module} has no export ${spec.export ?? 'default'}`);
      this.factories.set(key, factory);
    }
  }

  protected killActor(id: ActorId, reason: string): void {
    const cell = this.cells.get(id);
    if (!cell) return;
    cell.kill(reason);
    this.cells.delete(id);
    this.down.set(id, reason);
    this.hash = fnv1aString(this.hash, `kill:${this.clock}:${id}`);
    for (const other of this.cells.values()) other.peerDown(id, reason);
    this.hostCell.peerDown(id, reason);
  }

  protected override forget(id: ActorId): void {
    this.down.delete(id);
  }

  private onActorError(cell: ActorCell, err: unknown): void {
    if (cell.isDead) return;
    this.logger.error({ err, actor: cell.id, role: cell.role }, 'actor crashed');
    const reason = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    this.killActor(cell.id, reason);
    this.actorFailed(cell.id, reason);
  }

  protected pauseActor(id: ActorId, paused: boolean): void {
    const cell = this.cells.get(id);
    if (!cell) return;
    if (paused) cell.pause();
    else cell.resume();
  }

  protected applyFaults(state: FaultState): void {
    this.faultTable = new FaultTable(state);
  }

  async status(id: ActorId): Promise<Record<string, unknown>> {
    const cell = this.cells.get(id);
    if (!cell) {
      if (!this.isKnown(id)) throw new UnknownActorError(id);
      return { actor: id, state: 'dead', reason: this.down.get(id) ?? 'not started' };
    }
    return cell.status();
  }

  async metrics(id: ActorId): Promise<ActorMetrics> {
    const cell = this.cells.get(id);
    if (!cell) throw new UnknownActorError(id);
    return { ...cell.metrics };
  }

  /** Runs the actor's `fn` synchronously against its live context (tests and nemeses). */
  contextOf(id: ActorId): ActorContext | undefined {
    return this.cells.get(id)?.ctx;
  }

  // ---- driving time ------------------------------------------------------------------------------
  override ask<R = unknown>(to: ActorId, msg: unknown, options?: AskOptions): Promise<R> {
    return this.whileWaiting(super.ask<R>(to, msg, options));
  }

  sleep(ms: number): Promise<void> {
    return this.whileWaiting(new Promise<void>((resolve) => this.schedule(ms, resolve)));
  }

  /** Runs until `predicate()` holds (checked after every event) or `maxMs` pass; returns whether it held. */
  async runUntil(predicate: () => boolean, maxMs: number): Promise<boolean> {
    const deadline = this.clock + maxMs;
    while (!predicate()) {
      if (this.clock >= deadline) return false;
      await this.sleep(Math.min(1, deadline - this.clock));
    }
    return true;
  }

  private whileWaiting<T>(p: Promise<T>): Promise<T> {
    this.waiters++;
    this.kick();
    return p.finally(() => {
      this.waiters--;
      this.woke = true;
    });
  }

  private kick(): void {
    if (this.running || this.stopped) return;
    this.running = true;
    void this.loop();
  }

  private async loop(): Promise<void> {
    try {
      for (;;) {
        // Let promise continuations (actors' awaits, the test's own code) run at this instant.
        await null;
        await null;
        if (this.woke) {
          // A waiter was answered: let its code run to its next wait before time moves on,
          // however many promise hops that takes (another waiter may keep the loop going).
          this.woke = false;
          await new Promise<void>((resolve) => setImmediate(resolve));
        }
        if (this.waiters === 0 || this.stopped) break;
        const next = this.queue.peek();
        if (!next) break;
        if (next.time > this.clock && this.ranThisInstant) {
          // Before time moves on, let every promise chain started at this instant run to its end
          // (a reconcile is many awaits long): work takes no virtual time unless it waits.
          this.ranThisInstant = false;
          await new Promise<void>((resolve) => setImmediate(resolve));
          continue;
        }
        const ev = this.queue.pop()!;
        if (!ev.fn) continue;
        this.clock = ev.time;
        this.ranThisInstant = true;
        this.eventsRun++;
        const fn = ev.fn;
        ev.fn = null;
        fn();
      }
    } finally {
      this.running = false;
    }
  }

  async shutdown(): Promise<void> {
    this.stopAllSupervisors();
    for (const cell of this.cells.values()) cell.kill('shutdown');
    this.cells.clear();
    this.stopped = true;
  }
}

function factoryKey(spec: ActorSpec): string {
  return `${spec.module}#${spec.export ?? 'default'}`;
}
