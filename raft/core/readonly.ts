/**
 * Pending ReadIndex requests on the leader (the safe option): each waits for a quorum of
 * heartbeat responses echoing its context, which proves the leader was still the leader when the
 * request arrived, so the commit index recorded then is a linearizable read point.
 */
import { assert } from './assert.js';
import type { Message, RequestCtx } from './types.js';

/** A request waiting for its heartbeat round. */
export interface ReadIndexStatus {
  /** The MsgReadIndex as received (from this node or forwarded by a follower). */
  readonly req: Message;
  /** The leader's commit index when the request arrived: the read point. */
  readonly index: number;
  /** Members that echoed the request's context in a heartbeat response (the leader included). */
  readonly acks: Set<string>;
}

/** Canonical string key of a request context (contexts are compared by value). */
export function ctxKey(ctx: RequestCtx): string {
  if (typeof ctx === 'string') return 's' + ctx;
  let s = 'b';
  for (let i = 0; i < ctx.length; i++) s += String.fromCharCode(ctx[i]!);
  return s;
}

export class ReadOnly {
  /** Requests by context key. Invariant: same keys as `queue`. */
  private readonly pending = new Map<string, ReadIndexStatus>();
  /** Context keys in arrival order; an ack for one confirms all before it too. */
  private queue: string[] = [];

  get size(): number {
    return this.queue.length;
  }

  /** Records a request at read point `index`. A duplicate context is ignored. */
  addRequest(index: number, m: Message): void {
    assert(m.context !== undefined, 'MsgReadIndex without context');
    const key = ctxKey(m.context);
    if (this.pending.has(key)) return;
    this.pending.set(key, { req: m, index, acks: new Set() });
    this.queue.push(key);
  }

  /** Records `id`'s ack of the request with `ctx`; returns its acks, or null if unknown. */
  recvAck(id: string, ctx: RequestCtx): Set<string> | null {
    const rs = this.pending.get(ctxKey(ctx));
    if (rs === undefined) return null;
    rs.acks.add(id);
    return rs.acks;
  }

  /**
   * The request with `ctx` has a quorum: it and every request queued before it are confirmed.
   * Returns them in order and forgets them.
   */
  advance(ctx: RequestCtx): ReadIndexStatus[] {
    const key = ctxKey(ctx);
    const at = this.queue.indexOf(key);
    if (at < 0) return [];
    const done: ReadIndexStatus[] = [];
    for (let i = 0; i <= at; i++) {
      const k = this.queue[i]!;
      const rs = this.pending.get(k);
      assert(rs !== undefined, 'read index queue and map disagree');
      done.push(rs);
      this.pending.delete(k);
    }
    this.queue = this.queue.slice(at + 1);
    return done;
  }

  /** Context of the newest pending request (heartbeats carry it), or undefined. */
  lastPendingRequestCtx(): RequestCtx | undefined {
    if (this.queue.length === 0) return undefined;
    return this.pending.get(this.queue[this.queue.length - 1]!)!.req.context;
  }
}
