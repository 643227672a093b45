/**
 * An actor cell: one running actor with its mailbox, timers and outstanding asks. Both hosts
 * run actors through cells; what differs between them (clock, randomness, routing, disk) comes
 * in through `CellPlatform`.
 */
import type { Logger } from 'pino';
import type { Actor, ActorContext, ActorId, ActorMetrics, ActorSpec, AskOptions, StoreOptions } from './actor.js';
import { ASK, REPLY, REPLY_ERROR, SEND, type Envelope, type EnvelopeKind } from './codec.js';
import {
  ActorUnavailableError,
  AskTimeoutError,
  MailboxFullError,
  assert,
  fromWireError,
  toWireError,
  type WireError,
} from './errors.js';
import type { DurableStore } from './store.js';

export const DEFAULT_ASK_TIMEOUT_MS = 5_000;
export const DEFAULT_MAILBOX_LIMIT = 100_000;

export interface CellPlatform {
  now(): number;
  random(): number;
  setTimer(delayMs: number, fn: () => void): unknown;
  clearTimer(handle: unknown): void;
  /** Runs `fn` after the messages already waiting on this thread are delivered. */
  afterTurn(fn: () => void): void;
  /** Posts the envelopes queued so far (see ActorContext.flush). */
  flush(): void;
  /** Sends an envelope on its way. Throws UnknownActorError for an id never registered. */
  route(kind: EnvelopeKind, to: ActorId, from: ActorId, askId: number, payload: unknown): void;
  /** Why `id` cannot take messages now, or null if it is up. */
  downReason(id: ActorId): string | null;
  store(actor: ActorId, name: string, options: StoreOptions): DurableStore;
  /** The actor threw (or its promise rejected): the host crashes and supervises it. */
  crashed(cell: ActorCell, err: unknown): void;
  readonly logger: Logger;
}

type State = 'starting' | 'running' | 'dead';
type MailItem = Envelope | (() => void);

/** The longest delay a Node timer takes as it is. */
const MAX_TIMER_MS = 2 ** 31 - 1;

interface PendingAsk {
  to: ActorId;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  /** When it times out (platform clock), and the timeout it was given. */
  deadline: number;
  timeoutMs: number;
}

export class ActorCell {
  readonly id: ActorId;
  readonly role: string;
  readonly metrics: ActorMetrics = {
    msgsIn: 0,
    msgsOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    mailboxDepth: 0,
    overflows: 0,
    faultDrops: 0,
    restarts: 0,
  };
  private state: State = 'starting';
  private paused = false;
  private readonly mailbox: MailItem[] = [];
  private mailboxHead = 0;
  private readonly mailboxLimit: number;
  private readonly timers = new Map<number, unknown>();
  private nextTimerId = 1;
  private readonly asks = new Map<number, PendingAsk>();
  /**
   * One timer for all outstanding asks, armed for the earliest deadline: an ask costs no timer
   * of its own to set and clear (a busy client has a thousand in flight, each answered in
   * milliseconds and timing out in seconds).
   */
  private askTimer: unknown = null;
  private askTimerAt = Infinity;
  private nextAskId = 1;
  /** The ask being handled now: its asker and askId (0: none). */
  private currentFrom: ActorId = '';
  private currentAsk = 0;
  private readonly stores = new Map<string, DurableStore>();
  readonly ctx: ActorContext;

  constructor(
    readonly spec: ActorSpec,
    private readonly actor: Actor,
    private readonly platform: CellPlatform,
    incarnation: number,
  ) {
    this.id = spec.id;
    this.role = spec.role;
    this.mailboxLimit = spec.mailboxLimit ?? DEFAULT_MAILBOX_LIMIT;
    this.metrics.restarts = incarnation;
    this.ctx = this.makeContext(incarnation);
  }

  get isDead(): boolean {
    return this.state === 'dead';
  }

  /** Sends a reply a CellReplier gives (the asker may be gone: then nothing is sent). */
  replied(kind: typeof REPLY | typeof REPLY_ERROR, to: ActorId, askId: number, value: unknown): void {
    this.metrics.msgsOut++;
    try {
      this.platform.route(kind, to, this.id, askId, value);
    } catch {
      /* asker gone */
    }
  }

  get isPaused(): boolean {
    return this.paused;
  }

  /** Runs onStart; messages that arrive meanwhile wait in the mailbox. */
  async start(): Promise<void> {
    try {
      await this.actor.onStart?.(this.ctx);
    } catch (err) {
      this.platform.crashed(this, err);
      return;
    }
    if (this.state === 'dead') return;
    this.state = 'running';
    this.drain();
  }

  /** An envelope arrives for this actor. */
  deliver(env: Envelope, bytes: number): void {
    this.deliverParts(env[0], env[1], env[2], env[3], env[4], bytes, env);
  }

  /**
   * An envelope arrives as its parts: it becomes an Envelope object only if it has to wait in
   * the mailbox (or be refused), so a message handled at once allocates nothing here.
   */
  deliverParts(kind: EnvelopeKind, to: ActorId, from: ActorId, askId: number, payload: unknown, bytes: number, env: Envelope | null = null): void {
    this.metrics.msgsIn++;
    this.metrics.bytesIn += bytes;
    if (this.state === 'dead') {
      this.refuse(env ?? [kind, to, from, askId, payload], new ActorUnavailableError(this.id, 'stopped'));
      return;
    }
    if (!this.paused && this.mailboxHead === this.mailbox.length) {
      // Replies are taken even while onStart runs, so onStart may await an ask.
      if (this.state === 'running' || kind === REPLY || kind === REPLY_ERROR) {
        this.dispatch(kind, from, askId, payload);
        return;
      }
    }
    this.enqueue(env ?? [kind, to, from, askId, payload]);
  }

  private enqueue(item: MailItem): void {
    if (this.mailbox.length - this.mailboxHead >= this.mailboxLimit) {
      // Overflow policy: the newest message is dropped (an ask is refused at once).
      this.metrics.overflows++;
      if (typeof item !== 'function') this.refuse(item, new MailboxFullError(this.id));
      return;
    }
    this.mailbox.push(item);
    this.metrics.mailboxDepth = this.mailbox.length - this.mailboxHead;
  }

  private drain(): void {
    while (this.mailboxHead < this.mailbox.length && this.state === 'running' && !this.paused) {
      const item = this.mailbox[this.mailboxHead]!;
      this.mailbox[this.mailboxHead++] = undefined as unknown as MailItem;
      if (typeof item === 'function') this.runGuarded(item);
      else this.handle(item);
    }
    if (this.mailboxHead === this.mailbox.length) {
      this.mailbox.length = 0;
      this.mailboxHead = 0;
    } else if (this.mailboxHead > 1024 && this.mailboxHead * 2 > this.mailbox.length) {
      this.mailbox.splice(0, this.mailboxHead);
      this.mailboxHead = 0;
    }
    this.metrics.mailboxDepth = this.mailbox.length - this.mailboxHead;
  }

  private handle(env: Envelope): void {
    this.dispatch(env[0], env[2], env[3], env[4]);
  }

  private dispatch(kind: EnvelopeKind, from: ActorId, askId: number, payload: unknown): void {
    if (kind === REPLY || kind === REPLY_ERROR) {
      const pending = this.asks.get(askId);
      if (!pending) return; // timed out or rejected already
      this.asks.delete(askId);
      if (kind === REPLY) pending.resolve(payload);
      else pending.reject(fromWireError(payload as WireError));
      return;
    }
    if (kind === ASK) {
      this.currentFrom = from;
      this.currentAsk = askId;
    } else this.currentAsk = 0;
    try {
      const result = this.actor.onMessage(this.ctx, from, payload);
      if (result && typeof (result as Promise<void>).then === 'function') {
        (result as Promise<void>).then(undefined, (err) => this.platform.crashed(this, err));
      }
    } catch (err) {
      this.platform.crashed(this, err);
    } finally {
      this.currentAsk = 0;
    }
  }

  private runGuarded(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.platform.crashed(this, err);
    }
  }

  private refuse(env: Envelope, err: Error): void {
    if (env[0] !== ASK) return;
    try {
      this.platform.route(REPLY_ERROR, env[2], this.id, env[3], toWireError(err));
    } catch {
      /* the asker is gone too */
    }
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    if (this.state === 'running') this.drain();
  }

  private armAskTimer(at: number): void {
    if (this.askTimer !== null) this.platform.clearTimer(this.askTimer);
    this.askTimerAt = at;
    // Node runs a timer beyond 2^31 - 1 ms after 1 ms: a longer wait is taken in steps.
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, at - this.platform.now()));
    this.askTimer = this.platform.setTimer(delay, () => this.expireAsks());
  }

  /** Rejects the asks whose deadline has passed and arms the timer for the next one. */
  private expireAsks(): void {
    this.askTimer = null;
    this.askTimerAt = Infinity;
    if (this.state === 'dead') return;
    const now = this.platform.now();
    let next = Infinity;
    for (const [id, pending] of this.asks) {
      if (pending.deadline <= now) {
        this.asks.delete(id);
        pending.reject(new AskTimeoutError(pending.to, pending.timeoutMs));
      } else if (pending.deadline < next) next = pending.deadline;
    }
    if (next !== Infinity) this.armAskTimer(next);
  }

  /** Another actor went down: asks waiting on it fail now rather than at their timeout. */
  peerDown(peer: ActorId, reason: string): void {
    if (this.asks.size === 0) return;
    for (const [id, pending] of this.asks) {
      if (pending.to !== peer) continue;
      this.asks.delete(id);
      pending.reject(new ActorUnavailableError(peer, reason));
    }
  }

  /** Stops the cell at once: timers cancelled, queued asks refused, stores closed. */
  kill(reason: string): void {
    if (this.state === 'dead') return;
    this.state = 'dead';
    for (const handle of this.timers.values()) this.platform.clearTimer(handle);
    this.timers.clear();
    if (this.askTimer !== null) this.platform.clearTimer(this.askTimer);
    this.askTimer = null;
    this.asks.clear(); // the asker itself is gone: nobody awaits these promises
    const queued = this.mailbox.slice(this.mailboxHead);
    this.mailbox.length = 0;
    this.mailboxHead = 0;
    this.metrics.mailboxDepth = 0;
    for (const item of queued) if (typeof item !== 'function') this.refuse(item, new ActorUnavailableError(this.id, reason));
    for (const store of this.stores.values()) store.close().catch(() => {});
    this.stores.clear();
  }

  /** Orderly stop: onStop runs, then the cell is killed. */
  async stop(): Promise<void> {
    if (this.state === 'dead') return;
    try {
      await this.actor.onStop?.(this.ctx);
    } catch (err) {
      this.ctx.log.warn({ err }, 'onStop failed');
    }
    this.kill('stopped');
  }

  status(): Record<string, unknown> {
    const base = { actor: this.id, role: this.role, state: this.state, paused: this.paused };
    if (this.state === 'dead' || !this.actor.status) return base;
    return { ...base, ...this.actor.status(this.ctx) };
  }

  private makeContext(incarnation: number): ActorContext {
    const platform = this.platform;
    const log = platform.logger.child({ actor: this.spec.id, role: this.spec.role });
    const cell = this;
    return {
      self: this.spec.id,
      role: this.spec.role,
      args: this.spec.args,
      incarnation,
      log,
      send(to, msg) {
        cell.assertAlive();
        cell.metrics.msgsOut++;
        platform.route(SEND, to, cell.id, 0, msg);
      },
      ask<R>(to: ActorId, msg: unknown, options?: AskOptions): Promise<R> {
        cell.assertAlive();
        const down = platform.downReason(to);
        if (down !== null) return Promise.reject(new ActorUnavailableError(to, down));
        const askId = cell.nextAskId++;
        const timeoutMs = options?.timeoutMs ?? DEFAULT_ASK_TIMEOUT_MS;
        return new Promise<R>((resolve, reject) => {
          const deadline = platform.now() + timeoutMs;
          cell.asks.set(askId, { to, resolve: resolve as (v: unknown) => void, reject, deadline, timeoutMs });
          if (deadline < cell.askTimerAt) cell.armAskTimer(deadline);
          cell.metrics.msgsOut++;
          try {
            platform.route(ASK, to, cell.id, askId, msg);
          } catch (err) {
            cell.asks.delete(askId);
            reject(err as Error);
          }
        });
      },
      reply(value) {
        const askId = cell.currentAsk;
        if (askId === 0) return;
        cell.currentAsk = 0;
        cell.metrics.msgsOut++;
        platform.route(REPLY, cell.currentFrom, cell.id, askId, value);
      },
      replyError(err) {
        const askId = cell.currentAsk;
        if (askId === 0) return;
        cell.currentAsk = 0;
        cell.metrics.msgsOut++;
        platform.route(REPLY_ERROR, cell.currentFrom, cell.id, askId, toWireError(err));
      },
      replier() {
        const askId = cell.currentAsk;
        if (askId === 0) return null;
        cell.currentAsk = 0;
        return new CellReplier(cell, cell.currentFrom, askId);
      },
      setTimer(delayMs, fn) {
        cell.assertAlive();
        assert(delayMs >= 0 && Number.isFinite(delayMs), `timer delay ${delayMs} ms must be finite and >= 0`);
        const id = cell.nextTimerId++;
        const handle = platform.setTimer(delayMs, () => {
          if (!cell.timers.delete(id) || cell.state === 'dead') return;
          if (cell.paused || cell.state === 'starting') cell.enqueue(fn);
          else cell.runGuarded(fn);
        });
        cell.timers.set(id, handle);
        return id;
      },
      afterTurn(fn) {
        cell.assertAlive();
        platform.afterTurn(() => {
          if (cell.state === 'dead') return;
          if (cell.paused || cell.state === 'starting') cell.enqueue(fn);
          else cell.runGuarded(fn);
        });
      },
      flush: () => platform.flush(),
      cancelTimer(id) {
        const handle = cell.timers.get(id);
        if (handle === undefined) return;
        cell.timers.delete(id);
        platform.clearTimer(handle);
      },
      now: () => platform.now(),
      random: () => platform.random(),
      store(name, options = {}) {
        let store = cell.stores.get(name);
        if (!store) {
          store = platform.store(cell.id, name, options);
          cell.stores.set(name, store);
        }
        return store;
      },
    };
  }

  private assertAlive(): void {
    if (this.state === 'dead') throw new ActorUnavailableError(this.id, 'this actor was stopped');
  }
}

/** The answer to one ask, given later (`ctx.replier()`): the first of ok / error goes, once. */
class CellReplier {
  private done = false;
  constructor(
    private readonly cell: ActorCell,
    private readonly to: ActorId,
    private readonly askId: number,
  ) {}

  ok(value: unknown): void {
    this.send(REPLY, value);
  }

  error(err: unknown): void {
    this.send(REPLY_ERROR, toWireError(err));
  }

  private send(kind: typeof REPLY | typeof REPLY_ERROR, value: unknown): void {
    if (this.done || this.cell.isDead) return;
    this.done = true;
    this.cell.replied(kind, this.to, this.askId, value);
  }
}
