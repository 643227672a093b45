/**
 * The nemesis: injects faults during a run's safety phase, then heals everything.
 *
 * Two loops run side by side, so faults mix: a process loop (kill + restart, pause + resume,
 * membership changes) and a network loop (partitions, lossy links). Each loop repeats an
 * episode: wait a while, inject one fault, hold it, undo it. Targets follow Jepsen: a random
 * peer, the leader, a minority, a majority; partitions are random halves, the leader isolated,
 * a majorities ring, a bridge, or a one-way block; lossy links drop, duplicate, delay and
 * reorder. `election` makes elections contested: a bridge partition (two halves that only one
 * peer hears) over slow, lossy links, whose bridge crash-restarts again and again, so both
 * halves campaign through it at once. Every choice comes from the run's PRNG.
 */
import type { Host } from '../../runtime/host.js';
import { HOST_ID } from '../../runtime/host.js';
import type { Rng } from '../../runtime/rng.js';
import type { LinkFaults } from '../../runtime/faults.js';
import type { NemesisEvent, NemesisKind } from './types.js';

export interface Membership {
  /** Adds a new peer (learner, then voter); resolves with what happened. */
  add(): Promise<string>;
  /** Removes a voter that is not the leader; resolves with what happened. */
  remove(): Promise<string>;
  /** Voters + learners now. */
  size(): number;
}

export interface NemesisOptions {
  kinds: readonly NemesisKind[];
  /** Pause between episodes, uniform in this range (ms). */
  gapMs: [number, number];
  /** How long a fault is held, uniform in this range (ms). */
  holdMs: [number, number];
  /** Voters the campaign starts with: the membership nemesis moves between this and one more. */
  founding: number;
}

const SETTLE_LIMIT_MS = 2_000;

export const DEFAULT_GAP_MS: [number, number] = [100, 600];
export const DEFAULT_HOLD_MS: [number, number] = [200, 1_500];

type Target = 'one' | 'leader' | 'minority' | 'majority';

export class Nemesis {
  readonly events: NemesisEvent[] = [];
  private readonly down = new Set<string>();
  private readonly paused = new Set<string>();

  constructor(
    private readonly host: Host,
    private readonly rng: Rng,
    private readonly clock: () => number,
    private readonly members: () => string[],
    private readonly leader: () => string | undefined,
    private readonly options: NemesisOptions,
    private readonly membership?: Membership,
  ) {}

  /** Injects faults until `untilMs` (on the run's clock); every fault is undone on return. */
  async run(untilMs: number): Promise<void> {
    const processKinds = this.options.kinds.filter((k) => k === 'kill' || k === 'pause' || k === 'member');
    const networkKinds = this.options.kinds.filter((k) => k === 'partition' || k === 'lossy' || k === 'election');
    const loops: Promise<void>[] = [];
    if (processKinds.length > 0) loops.push(this.loop(untilMs, processKinds));
    if (networkKinds.length > 0) loops.push(this.loop(untilMs, networkKinds));
    await Promise.all(loops);
  }

  private note(action: string): void {
    this.events.push({ atMs: Math.round(this.clock()), action });
  }

  private async loop(untilMs: number, kinds: NemesisKind[]): Promise<void> {
    for (;;) {
      await this.sleepUntil(Math.min(untilMs, this.clock() + this.uniform(this.options.gapMs)));
      if (this.clock() >= untilMs) return;
      const kind = this.rng.pick(kinds);
      const holdUntil = Math.min(untilMs, this.clock() + this.uniform(this.options.holdMs));
      switch (kind) {
        case 'kill':
          await this.killEpisode(holdUntil);
          break;
        case 'pause':
          await this.pauseEpisode(holdUntil);
          break;
        case 'partition':
          await this.partitionEpisode(holdUntil);
          break;
        case 'lossy':
          await this.lossyEpisode(holdUntil);
          break;
        case 'member':
          await this.memberEpisode();
          break;
        case 'election':
          await this.electionEpisode(holdUntil);
          break;
      }
    }
  }

  /**
   * Waits until fault changes are in effect on every thread. Bounded on real threads: a worker
   * that dies while being asked must not stall the campaign (SimHost settles at once).
   */
  private async settled(): Promise<void> {
    if (this.host.kind === 'sim') return this.host.settled();
    let timer: unknown;
    await Promise.race([this.host.settled(), new Promise<void>((resolve) => (timer = this.host.setTimer(SETTLE_LIMIT_MS, resolve)))]);
    this.host.clearTimer(timer);
  }

  private uniform([lo, hi]: [number, number]): number {
    return lo + this.rng.next() * (hi - lo);
  }

  private async sleepUntil(t: number): Promise<void> {
    const ms = t - this.clock();
    if (ms > 0) await this.host.sleep(ms);
  }

  /** Peers to hit: one at random, the leader, a minority or a majority of the members. */
  private targets(kind: Target, live: string[]): string[] {
    const shuffled = this.rng.shuffle([...live]);
    const all = this.members().length;
    switch (kind) {
      case 'one':
        return shuffled.slice(0, 1);
      case 'leader': {
        const l = this.leader();
        return l !== undefined && live.includes(l) ? [l] : shuffled.slice(0, 1);
      }
      case 'minority':
        return shuffled.slice(0, Math.max(1, Math.floor((all - 1) / 2)));
      case 'majority':
        return shuffled.slice(0, Math.floor(all / 2) + 1);
    }
  }

  private pickTarget(): Target {
    const r = this.rng.next();
    if (r < 0.3) return 'one';
    if (r < 0.65) return 'leader';
    if (r < 0.85) return 'minority';
    return 'majority';
  }

  private async killEpisode(holdUntil: number): Promise<void> {
    if (this.rng.next() < 0.25) return this.bounceEpisode(holdUntil);
    const kind = this.pickTarget();
    const live = this.members().filter((m) => this.host.isRunning(m) && !this.down.has(m));
    const victims = this.targets(kind, live);
    for (const id of victims) {
      this.host.crash(id, { restart: 'manual' });
      this.down.add(id);
    }
    this.note(`kill ${kind} ${victims.join(',')}`);
    await this.sleepUntil(holdUntil);
    for (const id of victims) this.restartPeer(id);
    this.note(`restart ${victims.join(',')}`);
  }

  /**
   * Crash-restart storm: peers die and come straight back (a supervisor's quick restart), many
   * times, often in the middle of an election, so whatever a peer must remember across a
   * restart (its vote, its log) is put to the test while messages to it are still in flight.
   */
  private async bounceEpisode(holdUntil: number): Promise<void> {
    let bounces = 0;
    while (this.clock() < holdUntil) {
      const live = this.members().filter((m) => this.host.isRunning(m) && !this.down.has(m));
      if (live.length === 0) break;
      const l = this.leader();
      const id = this.rng.next() < 0.5 && l !== undefined && live.includes(l) ? l : this.rng.pick(live);
      this.host.crash(id, { restart: 'manual' });
      this.down.add(id);
      await this.host.sleep(this.rng.next() * 20);
      this.restartPeer(id);
      bounces++;
      await this.host.sleep(5 + this.rng.next() * 60);
    }
    this.note(`bounce ${bounces} crash-restarts`);
  }

  private restartPeer(id: string): void {
    if (!this.down.delete(id)) return;
    if (!this.host.isKnown(id)) return;
    this.host.restart(id);
  }

  private async pauseEpisode(holdUntil: number): Promise<void> {
    const kind = this.pickTarget();
    const live = this.members().filter((m) => this.host.isRunning(m) && !this.paused.has(m));
    const victims = this.targets(kind, live);
    for (const id of victims) {
      this.host.pause(id);
      this.paused.add(id);
    }
    await this.settled();
    this.note(`pause ${kind} ${victims.join(',')}`);
    await this.sleepUntil(holdUntil);
    for (const id of victims) this.resumePeer(id);
    await this.settled();
    this.note(`resume ${victims.join(',')}`);
  }

  private resumePeer(id: string): void {
    if (!this.paused.delete(id)) return;
    if (this.host.isKnown(id)) this.host.resume(id);
  }

  private async partitionEpisode(holdUntil: number): Promise<void> {
    const members = this.members();
    const faults = this.host.faults;
    const r = this.rng.next();
    let what: string;
    if (r < 0.25) {
      const groups = faults.halves(members, this.rng);
      what = `halves ${groups.map((g) => g.join(',')).join(' | ')}`;
    } else if (r < 0.5) {
      const l = this.leader() ?? this.rng.pick(members);
      faults.isolate(l, members);
      what = `isolate leader ${l}`;
    } else if (r < 0.65) {
      faults.majoritiesRing(members, this.rng);
      what = 'majorities ring';
    } else if (r < 0.8) {
      const [left, bridge, right] = faults.bridge(members, this.rng);
      what = `bridge ${left.join(',')} <${bridge}> ${right.join(',')}`;
    } else {
      // One-way: a peer (often the leader) can no longer send to the others, or hear them.
      const p = this.rng.next() < 0.5 ? (this.leader() ?? this.rng.pick(members)) : this.rng.pick(members);
      const outgoing = this.rng.next() < 0.5;
      for (const other of members) {
        if (other === p) continue;
        if (outgoing) faults.block(p, other);
        else faults.block(other, p);
      }
      what = `one-way ${outgoing ? `${p} -> others` : `others -> ${p}`} blocked`;
    }
    await this.settled();
    this.note(`partition ${what}`);
    await this.sleepUntil(holdUntil);
    faults.heal();
    await this.settled();
    this.note('heal network');
  }

  private async lossyEpisode(holdUntil: number): Promise<void> {
    const members = this.members();
    const link: LinkFaults = {};
    // At least one facet; often several.
    while (Object.keys(link).length === 0) {
      if (this.rng.next() < 0.5) link.drop = 0.05 + this.rng.next() * 0.25;
      if (this.rng.next() < 0.4) link.duplicate = 0.05 + this.rng.next() * 0.2;
      if (this.rng.next() < 0.5) {
        const max = 5 + this.rng.next() * 45;
        link.delayMs = [0, max];
      }
      if (this.rng.next() < 0.4) {
        link.reorder = 0.1 + this.rng.next() * 0.3;
        link.reorderWindowMs = 5 + this.rng.next() * 25;
      }
    }
    // Between peers, and from clients to peers. Replies and watch events to clients keep their
    // order (a client's connection is a stream); their loss shows up as timed-out requests.
    for (const a of members) {
      for (const b of members) if (a !== b) this.host.faults.link(a, b, link);
      this.host.faults.link(HOST_ID, a, link);
    }
    await this.settled();
    this.note(`lossy ${JSON.stringify(link, (_k, v: unknown) => (typeof v === 'number' ? Math.round(v * 100) / 100 : v))}`);
    await this.sleepUntil(holdUntil);
    this.host.faults.heal();
    await this.settled();
    this.note('heal network');
  }

  /**
   * Contested elections. Under a bridge partition both halves can only win through the bridge
   * peer; each time it restarts it has no leader and hears both sides' candidates, within a
   * few ms of each other (the links are slow and lossy). Whatever a voter must not forget
   * across a restart is put to the test here.
   */
  private async electionEpisode(holdUntil: number): Promise<void> {
    const members = this.members();
    if (members.length < 3) return;
    const faults = this.host.faults;
    const [left, bridge, right] = faults.bridge(members, this.rng);
    const link: LinkFaults = { delayMs: [0, 10 + this.rng.next() * 40], drop: this.rng.next() * 0.3 };
    for (const a of members) for (const b of members) if (a !== b) faults.link(a, b, link);
    await this.settled();
    let bounces = 0;
    const bounce = async (downMs: number) => {
      if (!this.host.isRunning(bridge) || this.down.has(bridge) || this.paused.has(bridge)) return;
      this.host.crash(bridge, { restart: 'manual' });
      this.down.add(bridge);
      await this.host.sleep(downMs);
      this.restartPeer(bridge);
      bounces++;
    };
    while (this.clock() < holdUntil) {
      // Down long enough for both halves to lose their leader, then back: both halves
      // campaign through the bridge, and quick restarts keep landing in the middle of a vote.
      await bounce(150 + this.rng.next() * 250);
      const stormUntil = Math.min(holdUntil, this.clock() + 200 + this.rng.next() * 300);
      while (this.clock() < stormUntil) {
        await this.host.sleep(10 + this.rng.next() * 40);
        await bounce(this.rng.next() * 3);
      }
      await this.sleepUntil(Math.min(holdUntil, this.clock() + 50 + this.rng.next() * 200));
    }
    faults.heal();
    await this.settled();
    this.note(`election: bridge ${left.join(',')} <${bridge}> ${right.join(',')} over ${JSON.stringify(link.delayMs?.map(Math.round))} ms links, bridge restarted ${bounces} times; heal network`);
  }

  private async memberEpisode(): Promise<void> {
    if (!this.membership) return;
    const grow = this.membership.size() <= this.options.founding;
    const outcome = grow ? await this.membership.add() : await this.membership.remove();
    this.note(`member ${outcome}`);
  }

  /** Undoes every fault: the network heals, paused peers resume, downed peers restart. */
  async healAll(): Promise<void> {
    this.host.faults.heal();
    for (const id of [...this.paused]) this.resumePeer(id);
    for (const id of [...this.down]) this.restartPeer(id);
    await this.settled();
    this.note('heal all');
  }
}
