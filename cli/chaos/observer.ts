/**
 * Watches the peers from outside while a run goes on: every few ms it samples each peer's role
 * and term (for election safety: at most one leader per term), keeps the newest leader for the
 * nemesis to aim at, and collects peers that crashed on their own (an assertion failure in a
 * peer is a finding, not a fault we injected).
 */
import type { Host } from '../../runtime/host.js';
import type { RoleObservation } from '../../raft/check/raft-invariants.js';

const STATUS_LIMIT_MS = 1_000;

interface SampledStatus {
  state?: string;
  role?: string;
  term?: number;
}

export class Observer {
  readonly roles: RoleObservation[] = [];
  private readonly seen = new Set<string>();
  private leaderId: string | undefined;
  private leaderTerm = -1;
  private timer: unknown = null;
  private stopped = false;
  /** Crashes not injected by the nemesis: `${actor}: ${reason}`. */
  readonly selfCrashes: string[] = [];
  private readonly unsubscribe: () => void;

  constructor(
    private readonly host: Host,
    private readonly members: () => string[],
    private readonly sampleMs: number,
  ) {
    this.unsubscribe = host.onEvent((e) => {
      if (e.type === 'crashed' && !e.reason.includes('injected')) this.selfCrashes.push(`${e.actor}: ${e.reason}`);
    });
  }

  start(): void {
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) this.host.clearTimer(this.timer);
    this.timer = null;
    this.unsubscribe();
  }

  /** The peer seen leading in the highest term so far (it may have lost leadership since). */
  get leader(): string | undefined {
    return this.leaderId;
  }

  /** Distinct terms in which a leader was seen. */
  get elections(): number {
    return new Set(this.roles.map((r) => r.term)).size;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = this.host.setTimer(this.sampleMs, () => {
      this.timer = null;
      void this.sample().finally(() => this.schedule());
    });
  }

  /** One sample of every member (status is served outside the actor's mailbox). */
  async sample(): Promise<void> {
    const ids = this.members();
    const statuses = await Promise.all(ids.map((id) => this.statusOf(id)));
    for (let i = 0; i < ids.length; i++) this.record(ids[i]!, statuses[i] as SampledStatus);
  }

  /** A peer's status; on real threads a call that outlives its worker gives up after a while. */
  private async statusOf(id: string): Promise<SampledStatus> {
    const status = this.host.status(id).catch(() => ({}) as SampledStatus) as Promise<SampledStatus>;
    if (this.host.kind === 'sim') return status;
    let timer: unknown;
    const giveUp = new Promise<SampledStatus>((resolve) => (timer = this.host.setTimer(STATUS_LIMIT_MS, () => resolve({}))));
    const s = await Promise.race([status, giveUp]);
    this.host.clearTimer(timer);
    return s;
  }

  private record(peer: string, s: SampledStatus): void {
    if (s.state === 'dead' || s.role !== 'leader' || typeof s.term !== 'number') return;
    const key = `${peer}@${s.term}`;
    if (!this.seen.has(key)) {
      this.seen.add(key);
      this.roles.push({ peer, term: s.term, role: 'leader' });
    }
    if (s.term >= this.leaderTerm) {
      this.leaderTerm = s.term;
      this.leaderId = peer;
    }
  }
}
