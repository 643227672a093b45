/**
 * Lessor: lease expiry on the leader, pure (time comes in as `nowMs` arguments).
 *
 * Leases themselves (id, TTL, attached keys) are replicated state in the MvccStore. Expiry is not:
 * only the leader's lessor is primary and tracks deadlines; when `expired(nowMs)` names leases,
 * the leader's shell proposes `leaseRevoke` for them, and the revoke, once applied, deletes the
 * attached keys on every replica. Keep-alives are leader-local, as in etcd.
 *
 * On promotion every lease gets `nowMs + TTL` (or + the remaining TTL of its last checkpoint), so
 * a lease never expires because of time that passed under an old leader (etcd's Promote).
 */
import { errors, type LeaseCheckpointRequest, type MvccError } from './commands.js';
import type { LeaseInfo } from './store.js';

/** What the lessor reads from the store. */
export interface LeaseSource {
  lease(id: number): LeaseInfo | undefined;
  leases(): IterableIterator<LeaseInfo>;
  /** Changes whenever a lease is granted, revoked or checkpointed. */
  readonly leaseChanges: number;
}

export interface LessorOptions {
  /** Deadlines use at least this TTL (etcd's minimum lease TTL). Default 1 s. */
  minTtlSeconds?: number;
  /** At most this many ids per `expired` call, so revokes come in bounded bursts. Default 1000. */
  maxExpiredPerCall?: number;
  /** A lease named by `expired` is named again after this long if still not revoked. Default 3 s. */
  revokeRetryMs?: number;
}

export interface LeaseTimeToLive {
  id: number;
  /** Granted TTL. */
  ttlSeconds: number;
  /** Seconds until expiry on the primary; elsewhere the checkpointed remaining TTL, else the TTL. */
  remainingSeconds: number;
  keys: string[];
}

export class Lessor {
  private readonly source: LeaseSource;
  private readonly minTtlSeconds: number;
  private readonly maxExpiredPerCall: number;
  private readonly revokeRetryMs: number;
  /** Deadline (ms) of every known lease; only meaningful while primary. */
  private readonly deadlines = new Map<number, number>();
  /** `source.leaseChanges` when the deadlines were last reconciled with the store. */
  private seenChanges = -1;
  private isPrimary = false;

  constructor(source: LeaseSource, options: LessorOptions = {}) {
    this.source = source;
    this.minTtlSeconds = options.minTtlSeconds ?? 1;
    this.maxExpiredPerCall = options.maxExpiredPerCall ?? 1000;
    this.revokeRetryMs = options.revokeRetryMs ?? 3000;
    if (!(this.minTtlSeconds > 0 && this.maxExpiredPerCall > 0 && this.revokeRetryMs > 0)) {
      throw new Error('lessor: limits must be positive');
    }
  }

  get primary(): boolean {
    return this.isPrimary;
  }

  /** This member became leader: every lease restarts its TTL from `nowMs`. */
  promote(nowMs: number): void {
    this.isPrimary = true;
    this.deadlines.clear();
    for (const l of this.source.leases()) this.deadlines.set(l.id, nowMs + this.fullTtlMs(l, true));
    this.seenChanges = this.source.leaseChanges;
  }

  /** This member lost leadership: it tracks no deadlines. */
  demote(): void {
    this.isPrimary = false;
    this.deadlines.clear();
    this.seenChanges = -1;
  }

  /** Renews a lease; returns its TTL in seconds. */
  keepAlive(id: number, nowMs: number): { ttlSeconds: number } | MvccError {
    if (!this.isPrimary) return errors.notPrimary();
    this.reconcile(nowMs);
    const l = this.source.lease(id);
    if (l === undefined) return errors.leaseNotFound(id);
    this.deadlines.set(id, nowMs + this.fullTtlMs(l, false));
    return { ttlSeconds: l.ttlSeconds };
  }

  /**
   * Leases past their deadline, earliest first (ties by id), at most `maxExpiredPerCall`. The
   * shell proposes a revoke for each; a named lease is named again only after `revokeRetryMs`.
   */
  expired(nowMs: number): number[] {
    if (!this.isPrimary) return [];
    this.reconcile(nowMs);
    const due: [number, number][] = [];
    for (const [id, deadline] of this.deadlines) if (deadline <= nowMs) due.push([deadline, id]);
    due.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    const ids = due.slice(0, this.maxExpiredPerCall).map(([, id]) => id);
    for (const id of ids) this.deadlines.set(id, nowMs + this.revokeRetryMs);
    return ids;
  }

  timeToLive(id: number, nowMs: number): LeaseTimeToLive | MvccError {
    const l = this.source.lease(id);
    if (l === undefined) return errors.leaseNotFound(id);
    let remainingSeconds = l.remainingTtlSeconds > 0 ? l.remainingTtlSeconds : l.ttlSeconds;
    if (this.isPrimary) {
      this.reconcile(nowMs);
      const deadline = this.deadlines.get(id)!;
      remainingSeconds = Math.max(0, Math.ceil((deadline - nowMs) / 1000));
    }
    return { id, ttlSeconds: l.ttlSeconds, remainingSeconds, keys: [...l.keys].sort() };
  }

  /**
   * A command recording every lease's remaining TTL, for the leader's shell to propose now and
   * then (and after keep-alives, if a new leader should honour them exactly). Null when not
   * primary or no lease exists.
   */
  checkpoint(nowMs: number): LeaseCheckpointRequest | null {
    if (!this.isPrimary) return null;
    this.reconcile(nowMs);
    const checkpoints: { id: number; remainingTtlSeconds: number }[] = [];
    for (const [id, deadline] of this.deadlines) {
      checkpoints.push({ id, remainingTtlSeconds: Math.max(1, Math.ceil((deadline - nowMs) / 1000)) });
    }
    if (checkpoints.length === 0) return null;
    checkpoints.sort((a, b) => a.id - b.id);
    return { type: 'leaseCheckpoint', checkpoints };
  }

  /** Picks up grants (deadline now + TTL) and revokes since the last look. */
  private reconcile(nowMs: number): void {
    const changes = this.source.leaseChanges;
    if (changes === this.seenChanges) return;
    this.seenChanges = changes;
    for (const l of this.source.leases()) {
      if (!this.deadlines.has(l.id)) this.deadlines.set(l.id, nowMs + this.fullTtlMs(l, false));
    }
    for (const id of this.deadlines.keys()) if (this.source.lease(id) === undefined) this.deadlines.delete(id);
  }

  private fullTtlMs(l: LeaseInfo, useCheckpoint: boolean): number {
    const ttl = useCheckpoint && l.remainingTtlSeconds > 0 ? l.remainingTtlSeconds : l.ttlSeconds;
    return Math.max(ttl, this.minTtlSeconds) * 1000;
  }
}
