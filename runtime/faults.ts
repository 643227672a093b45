/**
 * The fault model, identical in both hosts. A `FaultState` is plain data (it crosses to every
 * worker as is) and `decide()` turns it into the fate of one message on one directed link:
 * dropped, delivered once or twice, now or after a delay. Hosts apply it where a message is
 * *delivered*, so a fault also hits messages that were already in flight when it was set.
 */
import type { Rng } from './rng.js';

export interface LinkFaults {
  /** Probability in [0, 1] that a message is lost. */
  drop?: number;
  /** Probability in [0, 1] that a message is delivered twice. */
  duplicate?: number;
  /** Every message is held for a uniform delay in [min, max] milliseconds. */
  delayMs?: [number, number];
  /** Probability in [0, 1] that a message is held up to `reorderWindowMs` so later ones pass it. */
  reorder?: number;
  reorderWindowMs?: number;
}

export interface LinkRule {
  /** Sender actor id, or '*' for any. */
  from: string;
  /** Receiver actor id, or '*' for any. */
  to: string;
  faults: LinkFaults;
}

export interface FaultState {
  /** Directed pairs `${from}>${to}` whose messages are all dropped (partitions, one-way blocks). */
  blocked: string[];
  links: LinkRule[];
}

export const NO_FAULTS: FaultState = { blocked: [], links: [] };

const DEFAULT_REORDER_WINDOW_MS = 5;

/** A compiled FaultState for fast per-message decisions. */
export class FaultTable {
  private readonly blocked: Set<string>;
  private readonly links = new Map<string, LinkFaults>();
  readonly empty: boolean;

  constructor(readonly state: FaultState) {
    this.blocked = new Set(state.blocked);
    for (const rule of state.links) this.links.set(`${rule.from}>${rule.to}`, rule.faults);
    this.empty = this.blocked.size === 0 && this.links.size === 0;
  }

  isBlocked(from: string, to: string): boolean {
    return this.blocked.size > 0 && this.blocked.has(`${from}>${to}`);
  }

  private linkFor(from: string, to: string): LinkFaults | undefined {
    if (this.links.size === 0) return undefined;
    return (
      this.links.get(`${from}>${to}`) ??
      this.links.get(`${from}>*`) ??
      this.links.get(`*>${to}`) ??
      this.links.get('*>*')
    );
  }

  /**
   * The delays (ms) at which copies of one message are delivered: `[]` drops it, `[0]` is the
   * normal case. Draws from `rng` only when a link rule applies, so a fault-free run consumes
   * no randomness here.
   */
  decide(from: string, to: string, rng: Rng): number[] {
    if (this.empty) return ONCE_NOW;
    if (this.isBlocked(from, to)) return NEVER;
    const link = this.linkFor(from, to);
    if (!link) return ONCE_NOW;
    if (link.drop && rng.next() < link.drop) return NEVER;
    const copies = link.duplicate && rng.next() < link.duplicate ? 2 : 1;
    const delays: number[] = [];
    for (let i = 0; i < copies; i++) {
      let delay = 0;
      if (link.delayMs) delay += link.delayMs[0] + rng.next() * (link.delayMs[1] - link.delayMs[0]);
      if (link.reorder && rng.next() < link.reorder) {
        delay += rng.next() * (link.reorderWindowMs ?? DEFAULT_REORDER_WINDOW_MS);
      }
      delays.push(delay);
    }
    return delays;
  }
}

const ONCE_NOW: number[] = [0];
const NEVER: number[] = [];

/** Builds fault states: partitions, one-way blocks, the Jepsen shapes, lossy links. */
export class FaultPlan {
  private blocked = new Set<string>();
  private links: LinkRule[] = [];

  constructor(private readonly onChange: (state: FaultState) => void) {}

  get state(): FaultState {
    return { blocked: [...this.blocked].sort(), links: this.links.map((l) => ({ ...l, faults: { ...l.faults } })) };
  }

  private changed(): void {
    this.onChange(this.state);
  }

  /** Actors in different groups cannot talk to each other; actors in no group are unaffected. */
  partition(groups: string[][]): void {
    for (let i = 0; i < groups.length; i++) {
      for (let j = 0; j < groups.length; j++) {
        if (i === j) continue;
        for (const a of groups[i]!) for (const b of groups[j]!) if (a !== b) this.blocked.add(`${a}>${b}`);
      }
    }
    this.changed();
  }

  /** One-way: messages from `from` to `to` are lost, the other direction still flows. */
  block(from: string, to: string): void {
    this.blocked.add(`${from}>${to}`);
    this.changed();
  }

  /** Cuts `actor` off from every other member. */
  isolate(actor: string, members: readonly string[]): void {
    this.partition([[actor], members.filter((m) => m !== actor)]);
  }

  /** Random halves of `members` (the smaller half first). Returns the groups. */
  halves(members: readonly string[], rng: Rng): string[][] {
    const shuffled = rng.shuffle([...members]);
    const cut = Math.floor(shuffled.length / 2);
    const groups = [shuffled.slice(0, cut), shuffled.slice(cut)];
    this.partition(groups);
    return groups;
  }

  /**
   * Each member hears from a majority (its view, itself included), and no two members have the
   * same view (Jepsen's majorities ring). Returns each member's view.
   */
  majoritiesRing(members: readonly string[], rng: Rng): Record<string, string[]> {
    const ring = rng.shuffle([...members]);
    const n = ring.length;
    const reach = Math.floor(n / 2); // neighbours visible on each side... trimmed to a majority
    const majority = Math.floor(n / 2) + 1;
    const views: Record<string, string[]> = {};
    for (let i = 0; i < n; i++) {
      const view = new Set<string>([ring[i]!]);
      for (let d = 1; view.size < majority && d <= reach; d++) {
        view.add(ring[(i + d) % n]!);
        if (view.size < majority) view.add(ring[(i - d + n) % n]!);
      }
      views[ring[i]!] = [...view];
    }
    // A member hears exactly its view (Jepsen's grudge). For some sizes (3, 6, 7, ...) no ring of
    // distinct majorities is symmetric, so blocking only mutual pairs would leave less than a
    // majority: block the incoming direction alone.
    for (const a of members) {
      for (const b of members) {
        if (a !== b && !views[a]!.includes(b)) this.blocked.add(`${b}>${a}`);
      }
    }
    this.changed();
    return views;
  }

  /** Two halves that only one member (the bridge) can reach both of. Returns [left, bridge, right]. */
  bridge(members: readonly string[], rng: Rng): [string[], string, string[]] {
    const shuffled = rng.shuffle([...members]);
    const bridgeNode = shuffled[0]!;
    const rest = shuffled.slice(1);
    const cut = Math.ceil(rest.length / 2);
    const left = rest.slice(0, cut);
    const right = rest.slice(cut);
    for (const a of left) {
      for (const b of right) {
        this.blocked.add(`${a}>${b}`);
        this.blocked.add(`${b}>${a}`);
      }
    }
    this.changed();
    return [left, bridgeNode, right];
  }

  /** Lossy link rule from `from` to `to` ('*' matches any actor). A later rule for the same link replaces it. */
  link(from: string, to: string, faults: LinkFaults): void {
    for (const p of [faults.drop, faults.duplicate, faults.reorder]) {
      if (p !== undefined && !(p >= 0 && p <= 1)) throw new RangeError(`probability ${p} is outside [0, 1]`);
    }
    if (faults.delayMs && !(faults.delayMs[0] >= 0 && faults.delayMs[1] >= faults.delayMs[0])) {
      throw new RangeError(`delayMs ${JSON.stringify(faults.delayMs)} must be [min, max] with 0 <= min <= max`);
    }
    this.links = this.links.filter((l) => !(l.from === from && l.to === to));
    this.links.push({ from, to, faults: { ...faults } });
    this.changed();
  }

  drop(from: string, to: string, probability: number): void {
    this.link(from, to, { ...this.ruleFor(from, to), drop: probability });
  }

  duplicate(from: string, to: string, probability: number): void {
    this.link(from, to, { ...this.ruleFor(from, to), duplicate: probability });
  }

  delay(from: string, to: string, minMs: number, maxMs: number): void {
    this.link(from, to, { ...this.ruleFor(from, to), delayMs: [minMs, maxMs] });
  }

  reorder(from: string, to: string, probability: number, windowMs = DEFAULT_REORDER_WINDOW_MS): void {
    this.link(from, to, { ...this.ruleFor(from, to), reorder: probability, reorderWindowMs: windowMs });
  }

  private ruleFor(from: string, to: string): LinkFaults {
    return this.links.find((l) => l.from === from && l.to === to)?.faults ?? {};
  }

  /** Removes every partition, block and link rule. */
  heal(): void {
    this.blocked.clear();
    this.links = [];
    this.changed();
  }
}
