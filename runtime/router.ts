/**
 * The message path on one thread of a ThreadHost: the actor directory (actor → worker slot),
 * one MessagePort per peer worker, per-destination outboxes coalesced into one frame per turn,
 * and delivery into local cells with faults applied on arrival.
 */
import { receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { ActorId } from './actor.js';
import { ActorCell, type CellPlatform } from './cell.js';
import { ASK, REPLY_ERROR, FrameBuilder, forEachEnvelope, unpackFrame, type DecodedFrame, type Envelope, type EnvelopeKind, type Senders } from './codec.js';
import { UnknownActorError, toWireError, ActorUnavailableError } from './errors.js';
import { FaultTable, NO_FAULTS, type FaultState } from './faults.js';
import { Rng } from './rng.js';
import type { DurableStore } from './store.js';
import type { StoreOptions } from './actor.js';

/** The longest a busy poll keeps the event loop waiting (see Router.setBusyPoll). */
const MAX_POLL_STRETCH_MS = 2;

/** Schedules the per-turn flush (see route). */
const settled = Promise.resolve();

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
  private readonly outboxes = new Map<number, FrameBuilder>();
  /** The destination of the last send and its outbox: bursts to one actor skip two lookups. */
  private lastTo = '';
  private lastBox: FrameBuilder | null = null;
  private flushScheduled = false;
  /** Slots whose outbox went from empty to non-empty since the last flush. */
  private dirty: number[] = [];
  private faults = new FaultTable(NO_FAULTS);
  private readonly rng: Rng;
  private readonly early = new Map<ActorId, Envelope[]>();
  decodeErrors = 0;
  /** Frames taken by busy polling, and frames that arrived as events (a wake-up if the thread slept). */
  framesPolled = 0;
  framesWoken = 0;
  /** Frames posted to other threads. */
  framesOut = 0;
  /** Envelopes, and frame bytes, that arrived (the worker's quiet-time collection reads them). */
  envelopesIn = 0;
  bytesIn = 0;
  /** Polls that spun their whole budget and found nothing (CPU spent for no frame). */
  pollsEmpty = 0;
  readonly platform: CellPlatform;
  private readonly flushBound = () => this.flush();
  /** Busy polling (see setBusyPoll): the budget, whether it is armed, and when this thread went idle. */
  private pollUs = 0;
  private pollArmed = false;
  private pollScheduled = false;
  private idleSince = 0;
  private readonly pollBound = () => void this.poll();

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
      route: (kind, to, from, askId, payload) => this.route(kind, to, from, askId, payload),
      downReason: (id) => this.down.get(id) ?? null,
      store: options.store,
      crashed: options.crashed,
      logger: options.logger,
    };
  }

  // ---- directory and ports --------------------------------------------------------------------
  setLocation(id: ActorId, slot: number, down: string | null): void {
    this.lastTo = '';
    this.directory.set(id, slot);
    if (down === null) this.down.delete(id);
    else {
      this.down.set(id, down);
      for (const cell of this.cells.values()) cell.peerDown(id, down);
    }
  }

  forget(id: ActorId): void {
    this.lastTo = '';
    this.directory.delete(id);
    this.down.delete(id);
    this.early.delete(id);
  }

  addPort(slot: number, port: MessagePort): void {
    this.ports.get(slot)?.close();
    this.ports.set(slot, port);
    port.on('message', (frame: ArrayBuffer) => this.onPortFrame(frame));
  }

  /**
   * Busy polling: a thread that has just handled a frame and expects the next one soon keeps
   * checking its ports for up to `us` microseconds before it goes back to sleep, which saves the
   * wake-up of a sleeping thread (tens of microseconds) on each hop of a request/response
   * exchange. It arms itself when frames follow each other closely (the gap before the last one
   * was within twice the budget) and disarms after a poll that found nothing, so a thread with
   * sparse traffic never spins. It costs a core while spinning: the host turns it on only when
   * every worker can have a core of its own. 0 turns it off.
   */
  setBusyPoll(us: number): void {
    this.pollUs = Math.max(0, us);
    if (this.pollUs === 0) this.pollArmed = false;
  }

  get busyPollUs(): number {
    return this.pollUs;
  }

  private onPortFrame(frame: ArrayBuffer): void {
    this.framesWoken++;
    if (this.pollUs > 0) {
      if (!this.pollArmed && performance.now() - this.idleSince <= (2 * this.pollUs) / 1000) this.pollArmed = true;
      if (!this.pollScheduled) {
        this.pollScheduled = true;
        // After this loop iteration's frames are handled and their replies posted.
        setImmediate(this.pollBound);
      }
    }
    this.onFrame(frame);
  }

  private async poll(): Promise<void> {
    this.pollScheduled = false;
    if (!this.pollArmed || this.pollUs === 0) {
      this.idleSince = performance.now();
      return;
    }
    this.pollScheduled = true;
    const budget = this.pollUs / 1000;
    // Timers and I/O wait while this runs: it hands the thread back to the event loop this often.
    const yieldAt = performance.now() + MAX_POLL_STRETCH_MS;
    let deadline = performance.now() + budget;
    for (;;) {
      let got = false;
      for (const port of this.ports.values()) {
        const m = receiveMessageOnPort(port);
        if (m) {
          got = true;
          this.framesPolled++;
          this.onFrame(m.message as ArrayBuffer);
        }
      }
      const now = performance.now();
      if (got) deadline = now + budget;
      if (now >= yieldAt) break;
      if (now >= deadline) {
        this.pollsEmpty++;
        this.pollScheduled = false;
        this.pollArmed = false;
        this.idleSince = now;
        return;
      }
      // Each round lets the microtasks run (replies, awaited asks, the flush that posts them).
      await null;
    }
    // Busy for a while: go round the event loop, then poll again.
    setImmediate(this.pollBound);
  }

  closePort(slot: number): void {
    const port = this.ports.get(slot);
    this.ports.delete(slot);
    this.outboxes.delete(slot);
    this.lastTo = '';
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
  route(kind: EnvelopeKind, to: ActorId, from: ActorId, askId: number, payload: unknown): void {
    let box = this.lastBox;
    if (to !== this.lastTo || box === null) {
      const slot = this.directory.get(to);
      if (slot === undefined) throw new UnknownActorError(to);
      if (this.down.size !== 0 && this.down.has(to)) {
        if (kind === ASK) this.refuse([kind, to, from, askId, payload], this.down.get(to)!);
        return; // a send to a down actor is lost, as a packet to a dead host would be
      }
      box = this.outboxes.get(slot) ?? null;
      if (!box) {
        box = new FrameBuilder(slot);
        this.outboxes.set(slot, box);
      }
      // Cached until the directory, the down set or the ports change (each clears lastTo).
      this.lastTo = to;
      this.lastBox = box;
    }
    if (box.count === 0) this.dirty.push(box.slot);
    box.add(kind, to, from, askId, payload);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      // A reaction on a settled promise: the same microtask queue as queueMicrotask, without
      // the AsyncResource Node creates for each queueMicrotask call (half the cost).
      settled.then(this.flushBound);
    }
  }

  /** Everything sent during one turn to one thread leaves as a single frame. */
  flush(): void {
    this.flushScheduled = false;
    const dirty = this.dirty;
    this.dirty = [];
    for (const slot of dirty) {
      const box = this.outboxes.get(slot);
      if (!box || box.count === 0) continue;
      const count = box.count;
      const senders = box.senders();
      const frame = box.take();
      this.chargeBytes(senders, frame.byteLength / count);
      if (slot === this.slot) {
        this.onFrame(frame);
        continue;
      }
      const port = this.ports.get(slot);
      if (!port) continue; // that worker is gone; its actors are reported down separately
      try {
        this.framesOut++;
        port.postMessage(frame, [frame]);
      } catch (err) {
        this.options.logger.warn({ err, slot }, 'frame could not be posted');
      }
    }
  }

  /** Attributes a frame's bytes to its senders (evenly per envelope). */
  private chargeBytes(senders: Senders, perEnvelope: number): void {
    for (let k = 0; k < senders.ids.length; k++) {
      const cell = this.cells.get(senders.ids[k]!);
      if (cell) cell.metrics.bytesOut += perEnvelope * senders.counts[k]!;
    }
  }

  // ---- receiving ----------------------------------------------------------------------------------
  onFrame(frame: ArrayBuffer): void {
    let decoded: DecodedFrame;
    try {
      decoded = unpackFrame(frame);
    } catch (err) {
      this.decodeErrors++;
      this.options.logger.warn({ err: String(err), bytes: frame.byteLength, slot: this.slot }, 'dropped a frame that failed to decode');
      return;
    }
    const per = frame.byteLength / decoded.count;
    this.envelopesIn += decoded.count;
    this.bytesIn += frame.byteLength;
    if (!this.faults.empty) {
      forEachEnvelope(decoded, (kind, to, from, askId, payload) => this.arriveWithFaults([kind, to, from, askId, payload], per));
      return;
    }
    // Runs address one actor: its cell is looked up once per run, not once per envelope.
    let lastTo = '';
    let cell: ActorCell | undefined;
    forEachEnvelope(decoded, (kind, to, from, askId, payload) => {
      if (to !== lastTo || cell === undefined || cell.isDead) {
        lastTo = to;
        cell = this.cells.get(to);
      }
      if (cell !== undefined) cell.deliverParts(kind, to, from, askId, payload, per);
      else this.arrive([kind, to, from, askId, payload], per);
    });
  }

  private arriveWithFaults(env: Envelope, per: number): void {
    const delays = this.faults.decide(env[2], env[1], this.rng);
    if (delays.length === 0) {
      const cell = this.cells.get(env[1]);
      if (cell) cell.metrics.faultDrops++;
      return;
    }
    for (const d of delays) {
      if (d === 0) this.arrive(env, per);
      else
        setTimeout(() => {
          if (!this.faults.isBlocked(env[2], env[1])) this.arrive(env, per);
        }, d);
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
    try {
      this.route(REPLY_ERROR, env[2], env[1], env[3], toWireError(new ActorUnavailableError(env[1], reason)));
    } catch {
      /* the asker is unknown here as well */
    }
  }

  closeAll(): void {
    for (const port of this.ports.values()) port.close();
    this.ports.clear();
  }
}
