/**
 * The message path on one thread of a ThreadHost: the actor directory (actor → worker slot),
 * one MessagePort per peer worker, per-destination outboxes coalesced into one frame per turn,
 * and delivery into local cells with faults applied on arrival.
 */
import type { MessagePort } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { ActorId } from './actor.js';
import { ActorCell, type CellPlatform } from './cell.js';
import { ASK, REPLY_ERROR, decodeFrame, encodeFrame, type Envelope } from './codec.js';
import { UnknownActorError, toWireError, ActorUnavailableError } from './errors.js';
import { FaultTable, NO_FAULTS, type FaultState } from './faults.js';
import { Rng } from './rng.js';
import type { DurableStore } from './store.js';
import type { StoreOptions } from './actor.js';

/** Envelopes held for an actor whose spawn has not reached this thread yet. */
const EARLY_LIMIT = 10_000;

export interface RouterOptions {
  slot: number;
  seed: number;
  logger: Logger;
  store(actor: ActorId, name: string, options: StoreOptions): DurableStore;
  crashed(cell: ActorCell, err: unknown): void;
}

export class Router {
  readonly slot: number;
  readonly cells = new Map<ActorId, ActorCell>();
  private readonly directory = new Map<ActorId, number>();
  private readonly down = new Map<ActorId, string>();
  private readonly ports = new Map<number, MessagePort>();
  private readonly outboxes = new Map<number, Envelope[]>();
  private flushScheduled = false;
  /** Slots whose outbox went from empty to non-empty since the last flush. */
  private dirty: number[] = [];
  private faults = new FaultTable(NO_FAULTS);
  private readonly rng: Rng;
  private readonly early = new Map<ActorId, Envelope[]>();
  decodeErrors = 0;
  readonly platform: CellPlatform;
  private readonly flushBound = () => this.flush();

  constructor(private readonly options: RouterOptions) {
    this.slot = options.slot;
    this.rng = new Rng(options.seed);
    const timeOrigin = performance.timeOrigin;
    this.platform = {
      // Milliseconds since the epoch at sub-millisecond resolution; every thread agrees on it.
      now: () => timeOrigin + performance.now(),
      random: Math.random,
      setTimer: (ms, fn) => setTimeout(fn, ms),
      // setImmediate runs after the poll phase has delivered every message already queued.
      afterTurn: (fn) => void setImmediate(fn),
      flush: () => this.flush(),
      clearTimer: (h) => clearTimeout(h as NodeJS.Timeout),
      route: (env) => this.route(env),
      downReason: (id) => this.down.get(id) ?? null,
      store: options.store,
      crashed: options.crashed,
      logger: options.logger,
    };
  }

  // ---- directory and ports --------------------------------------------------------------------
  setLocation(id: ActorId, slot: number, down: string | null): void {
    this.directory.set(id, slot);
    if (down === null) this.down.delete(id);
    else {
      this.down.set(id, down);
      for (const cell of this.cells.values()) cell.peerDown(id, down);
    }
  }

  forget(id: ActorId): void {
    this.directory.delete(id);
    this.down.delete(id);
    this.early.delete(id);
  }

  addPort(slot: number, port: MessagePort): void {
    this.ports.get(slot)?.close();
    this.ports.set(slot, port);
    port.on('message', (frame: ArrayBuffer) => this.onFrame(frame));
  }

  closePort(slot: number): void {
    const port = this.ports.get(slot);
    this.ports.delete(slot);
    this.outboxes.delete(slot);
    port?.close();
  }

  setFaults(state: FaultState): void {
    this.faults = new FaultTable(state);
  }

  // ---- cells ------------------------------------------------------------------------------------
  addCell(cell: ActorCell): void {
    this.cells.set(cell.id, cell);
    const held = this.early.get(cell.id);
    if (held) {
      this.early.delete(cell.id);
      for (const env of held) cell.deliver(env, 0);
    }
  }

  removeCell(id: ActorId, reason: string): void {
    const cell = this.cells.get(id);
    if (!cell) return;
    this.cells.delete(id);
    cell.kill(reason);
  }

  // ---- sending ------------------------------------------------------------------------------------
  route(env: Envelope): void {
    const to = env[1];
    const slot = this.directory.get(to);
    if (slot === undefined) throw new UnknownActorError(to);
    if (this.down.has(to)) {
      if (env[0] === ASK) this.refuse(env, this.down.get(to)!);
      return; // a send to a down actor is lost, as a packet to a dead host would be
    }
    let box = this.outboxes.get(slot);
    if (!box) {
      box = [];
      this.outboxes.set(slot, box);
    }
    if (box.length === 0) this.dirty.push(slot);
    box.push(env);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      queueMicrotask(this.flushBound);
    }
  }

  /** Everything sent during one turn to one thread leaves as a single frame. */
  flush(): void {
    this.flushScheduled = false;
    const dirty = this.dirty;
    this.dirty = [];
    for (const slot of dirty) {
      const envs = this.outboxes.get(slot);
      if (!envs || envs.length === 0) continue;
      this.outboxes.set(slot, []);
      const frame = encodeFrame(envs);
      this.chargeBytes(envs, frame.byteLength);
      if (slot === this.slot) {
        this.onFrame(frame);
        continue;
      }
      const port = this.ports.get(slot);
      if (!port) continue; // that worker is gone; its actors are reported down separately
      try {
        port.postMessage(frame, [frame]);
      } catch (err) {
        this.options.logger.warn({ err, slot }, 'frame could not be posted');
      }
    }
  }

  /** Attributes a frame's bytes to its senders (evenly per envelope). */
  private chargeBytes(envs: Envelope[], bytes: number): void {
    const per = bytes / envs.length;
    let sender = envs[0]![2];
    let cell = this.cells.get(sender);
    for (const env of envs) {
      if (env[2] !== sender) {
        sender = env[2];
        cell = this.cells.get(sender);
      }
      if (cell) cell.metrics.bytesOut += per;
    }
  }

  // ---- receiving ----------------------------------------------------------------------------------
  onFrame(frame: ArrayBuffer): void {
    let envs: Envelope[];
    try {
      envs = decodeFrame(frame);
    } catch (err) {
      this.decodeErrors++;
      this.options.logger.warn({ err: String(err), bytes: frame.byteLength, slot: this.slot }, 'dropped a frame that failed to decode');
      return;
    }
    const per = envs.length ? frame.byteLength / envs.length : 0;
    const faults = this.faults;
    for (const env of envs) {
      if (faults.empty) {
        this.arrive(env, per);
        continue;
      }
      const delays = faults.decide(env[2], env[1], this.rng);
      if (delays.length === 0) {
        const cell = this.cells.get(env[1]);
        if (cell) cell.metrics.faultDrops++;
        continue;
      }
      for (const d of delays) {
        if (d === 0) this.arrive(env, per);
        else
          setTimeout(() => {
            if (!this.faults.isBlocked(env[2], env[1])) this.arrive(env, per);
          }, d);
      }
    }
  }

  private arrive(env: Envelope, bytes: number): void {
    const to = env[1];
    const cell = this.cells.get(to);
    if (cell) {
      cell.deliver(env, bytes);
      return;
    }
    const down = this.down.get(to);
    if (down !== undefined || !this.directory.has(to)) {
      this.refuse(env, down ?? 'unknown here');
      return;
    }
    // The directory says it lives here but its spawn has not arrived yet: hold the message.
    let held = this.early.get(to);
    if (!held) {
      held = [];
      this.early.set(to, held);
    }
    if (held.length < EARLY_LIMIT) held.push(env);
    else this.refuse(env, 'starting, and too many messages are waiting for it');
  }

  private refuse(env: Envelope, reason: string): void {
    if (env[0] !== ASK) return;
    const reply: Envelope = [REPLY_ERROR, env[2], env[1], env[3], toWireError(new ActorUnavailableError(env[1], reason))];
    try {
      this.route(reply);
    } catch {
      /* the asker is unknown here as well */
    }
  }

  closeAll(): void {
    for (const port of this.ports.values()) port.close();
    this.ports.clear();
  }
}
