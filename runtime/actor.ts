/**
 * The actor contract. An actor sees the world only through its `ActorContext`; the same actor
 * runs unchanged on real worker threads (ThreadHost) and in the deterministic simulator
 * (SimHost).
 */
import type { Logger } from 'pino';
import type { DurableStore } from './store.js';

export type ActorId = string;

export interface AskOptions {
  /** Reject with AskTimeoutError after this long. Default 5,000 ms. */
  timeoutMs?: number;
}

export interface StoreOptions {
  /** fsync every write batch (default true). `false` survives a process crash, not a power cut. */
  sync?: boolean;
}

export type Reply = (value: unknown) => void;

export interface ActorContext {
  /** This actor's id. */
  readonly self: ActorId;
  /** Its role ("etcd", "kubelet", ...), bound into every log line. */
  readonly role: string;
  /** The `args` of its spec, as given to the host. */
  readonly args: unknown;
  /** How many times the host restarted this actor (0 on first start). */
  readonly incarnation: number;
  /** Fire and forget. Throws UnknownActorError for an id the host never registered. */
  send(to: ActorId, msg: unknown): void;
  /** Request/response. Rejects at once if the destination is down, or on timeout. */
  ask<R = unknown>(to: ActorId, msg: unknown, options?: AskOptions): Promise<R>;
  /** Replies to the ask being handled right now (no-op for a plain send). */
  reply(value: unknown): void;
  /** Replies to the current ask with an error. */
  replyError(err: unknown): void;
  /** Captures the current ask's reply channel to answer later; null for a plain send. */
  replier(): { ok: Reply; error: (err: unknown) => void } | null;
  /** Runs `fn` after `delayMs` (virtual time on SimHost). Paused actors' timers wait. */
  setTimer(delayMs: number, fn: () => void): number;
  cancelTimer(id: number): void;
  /**
   * Runs `fn` once the host has delivered every message already waiting for this actor's
   * thread: work batched per turn (a Raft peer's Ready) then covers everything that arrived
   * together, instead of one batch per message. Waits while the actor is paused.
   */
  afterTurn(fn: () => void): void;
  /**
   * Sends what this thread has queued now instead of at the end of the turn. Messages sent in
   * one turn leave together as one frame; an actor about to block (a Raft leader fsyncing its
   * log) calls this first so that the messages it already sent travel while it waits. No-op on
   * SimHost, where sends are already in flight.
   */
  flush(): void;
  /**
   * Milliseconds. On ThreadHost: since the epoch, at sub-millisecond resolution, agreed by every
   * thread (so usable for timestamps too). On SimHost: virtual time from 0.
   */
  now(): number;
  /** Uniform in [0, 1); seeded on SimHost. */
  random(): number;
  /** A durable store of this actor's own (kept across restarts of the actor). */
  store(name: string, options?: StoreOptions): DurableStore;
  /** A pino child logger bound to {actor, role}. */
  readonly log: Logger;
}

export interface Actor {
  /** Called once per incarnation before any message. Messages wait until it settles. */
  onStart?(ctx: ActorContext): void | Promise<void>;
  onMessage(ctx: ActorContext, from: ActorId, msg: unknown): void | Promise<void>;
  /** Called on an orderly stop (not on a crash). */
  onStop?(ctx: ActorContext): void | Promise<void>;
  /** Role-specific introspection, served through the control RPC. */
  status?(ctx: ActorContext): Record<string, unknown>;
}

/** A module exporting actor factories: `export function echo(args): Actor`. */
export type ActorFactory = (args: unknown) => Actor;

export type RestartType = 'permanent' | 'transient' | 'temporary';

export interface ActorSpec {
  id: ActorId;
  role: string;
  /** Module path relative to the package root's compiled tree, e.g. "actors/etcd-peer.js". */
  module: string;
  /** Named export of the factory (default "default"). */
  export?: string;
  args?: unknown;
  /** Actors with the same group share a worker thread on ThreadHost. Default: their id. */
  group?: string;
  /** Supervision restart type (default permanent). */
  restart?: RestartType;
  /** Mailbox bound in messages (default 100,000). */
  mailboxLimit?: number;
}

export interface ActorMetrics {
  msgsIn: number;
  msgsOut: number;
  bytesIn: number;
  bytesOut: number;
  mailboxDepth: number;
  /** Messages dropped because the mailbox was full. */
  overflows: number;
  /** Messages dropped by fault injection on their way in. */
  faultDrops: number;
  restarts: number;
}
