/**
 * Time as the controllers see it: an injected `Clock` and an injected timer service, so the
 * same reconcilers run on real threads (the actor context's `now()` / `setTimer()`) and in the
 * simulator (virtual time). Nothing in controllers/ reads a real clock.
 *
 * Also here: RFC 3339 formatting and parsing for the timestamps objects carry.
 */

/** Milliseconds since the Unix epoch (virtual on the simulator). */
export interface Clock {
  now(): number;
}

/** Timers the host runs; the actor context has exactly this shape. */
export interface Timers {
  setTimer(delayMs: number, fn: () => void): number;
  cancelTimer(id: number): void;
}

/** 2024-01-01T00:00:00Z, a round starting point for virtual clocks. */
export const EPOCH_2024_MS = 1_704_067_200_000;

interface PendingTimer {
  id: number;
  atMs: number;
  fn: () => void;
}

/**
 * A virtual clock with its own timers (xstate's SimulatedClock): `advance(ms)` moves time
 * forward and runs, in due order, every timer that comes due, each at its own instant.
 */
export class FakeClock implements Clock, Timers {
  private nowMs: number;
  private nextId = 1;
  /** Pending timers, unordered; small enough in tests that a scan beats a heap. */
  private readonly pending = new Map<number, PendingTimer>();

  constructor(startMs = EPOCH_2024_MS) {
    this.nowMs = startMs;
  }

  now(): number {
    return this.nowMs;
  }

  setTimer(delayMs: number, fn: () => void): number {
    const id = this.nextId++;
    this.pending.set(id, { id, atMs: this.nowMs + Math.max(0, delayMs), fn });
    return id;
  }

  cancelTimer(id: number): void {
    this.pending.delete(id);
  }

  /** Number of timers not yet run. */
  get pendingCount(): number {
    return this.pending.size;
  }

  /** When the earliest pending timer is due, or undefined. */
  nextDueMs(): number | undefined {
    let best: number | undefined;
    for (const t of this.pending.values()) if (best === undefined || t.atMs < best) best = t.atMs;
    return best;
  }

  /** Runs the earliest timer due at or before `untilMs`, moving the clock to it. */
  runNext(untilMs: number): boolean {
    let best: PendingTimer | undefined;
    for (const t of this.pending.values()) {
      if (t.atMs > untilMs) continue;
      if (!best || t.atMs < best.atMs || (t.atMs === best.atMs && t.id < best.id)) best = t;
    }
    if (!best) return false;
    this.pending.delete(best.id);
    if (best.atMs > this.nowMs) this.nowMs = best.atMs;
    best.fn();
    return true;
  }

  /** Moves time forward by `ms`, running due timers synchronously in order. */
  advance(ms: number): void {
    const until = this.nowMs + ms;
    while (this.runNext(until)) {
      /* keep going */
    }
    this.nowMs = until;
  }

  /** Jumps the clock (no timers run); for setting a scene. */
  set(ms: number): void {
    this.nowMs = ms;
  }
}


// ---------------------------------------------------------------------------------------------
// RFC 3339 (done by hand: formatting through a Date object is banned in controllers/ lest a
// clock read slip in).

function pad(n: number, width = 2): string {
  return String(n).padStart(width, '0');
}

/** Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm). */
function civilFromDays(z: number): [number, number, number] {
  z += 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const y = yoe + era * 400;
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  return [m <= 2 ? y + 1 : y, m, d];
}

function parts(ms: number) {
  const days = Math.floor(ms / 86_400_000);
  let rest = ms - days * 86_400_000;
  const [y, mo, d] = civilFromDays(days);
  const h = Math.floor(rest / 3_600_000);
  rest -= h * 3_600_000;
  const mi = Math.floor(rest / 60_000);
  rest -= mi * 60_000;
  const s = Math.floor(rest / 1000);
  const frac = rest - s * 1000;
  return { y, mo, d, h, mi, s, frac, weekday: (((days + 4) % 7) + 7) % 7 };
}

/** `2024-01-01T00:00:00Z`: metav1.Time, seconds precision (sub-second part truncated). */
export function formatTime(ms: number): string {
  const p = parts(ms);
  return `${pad(p.y, 4)}-${pad(p.mo)}-${pad(p.d)}T${pad(p.h)}:${pad(p.mi)}:${pad(p.s)}Z`;
}

/** `2024-01-01T00:00:00.000000Z`: metav1.MicroTime, as Leases and events.k8s.io carry. */
export function formatMicroTime(ms: number): string {
  // Clocks may give fractions of a millisecond: keep whole microseconds.
  const micros = Math.floor(ms * 1000);
  const p = parts(Math.floor(micros / 1000));
  return `${pad(p.y, 4)}-${pad(p.mo)}-${pad(p.d)}T${pad(p.h)}:${pad(p.mi)}:${pad(p.s)}.${pad(p.frac, 3)}${pad(micros % 1000, 3)}Z`;
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** Go's RFC1123Z layout in UTC: `Mon, 01 Jan 2024 00:00:00 +0000`. */
export function formatRfc1123z(ms: number): string {
  const p = parts(ms);
  return `${DAYS[p.weekday]}, ${pad(p.d)} ${MONTHS[p.mo - 1]} ${pad(p.y, 4)} ${pad(p.h)}:${pad(p.mi)}:${pad(p.s)} +0000`;
}

/** Milliseconds of an RFC 3339 timestamp; undefined when absent or unparsable. */
export function parseTime(s: unknown): number | undefined {
  if (typeof s !== 'string' || s === '') return undefined;
  const ms = Date.parse(s);
  return Number.isFinite(ms) ? ms : undefined;
}

/** Seconds-precision truncation, what a round trip through metav1.Time does to a time. */
export function truncSeconds(ms: number): number {
  return Math.floor(ms / 1000) * 1000;
}
