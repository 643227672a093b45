/**
 * The kubelets' piscina task file: the CPU-bound part of simulated containers, run on the pool
 * threads of a kubelet worker. One typed protocol, two tasks:
 *
 * - `pi`: the digits of pi (Machin's formula on BigInt), as `perl -Mbignum=bpi -wle 'print bpi(N)'`
 *   prints them: N significant digits, "3." then N - 1 decimals;
 * - `burn`: spin for `ms` milliseconds (the CPU a loaded server or a busy loop uses).
 *
 * Each answer carries the thread time it measured (`busyNs`); the kubelet turns that into the
 * container's CPU usage for the metrics API. Pool threads host no actors, so piscina's default
 * sync atomics (which park the thread between tasks) are fine here.
 *
 * The module has no side effects on import: the simulated runner imports `piDigits` from it too.
 */

export type ComputeTask = { op: 'pi'; digits: number } | { op: 'burn'; ms: number };

export interface ComputeResult {
  /** Thread time the task took, in nanoseconds. */
  busyNs: number;
  /** The output of a `pi` task. */
  text?: string;
}

/** The most digits a pi task computes (a larger request is clamped). */
export const MAX_PI_DIGITS = 50_000;

/** arctan(1/x) scaled by `unity`, by its Taylor series. */
function arctanInverse(x: bigint, unity: bigint): bigint {
  const x2 = x * x;
  let term = unity / x;
  let sum = term;
  let k = 3n;
  let negative = true;
  while (term !== 0n) {
    term /= x2;
    const t = term / k;
    sum = negative ? sum - t : sum + t;
    negative = !negative;
    k += 2n;
  }
  return sum;
}

/** `3.14159…` with `digits` significant digits (at least 1, at most MAX_PI_DIGITS). */
export function piDigits(digits: number): string {
  const n = Math.max(1, Math.min(MAX_PI_DIGITS, Math.floor(digits)));
  const guard = 10;
  const unity = 10n ** BigInt(n + guard);
  // Machin: pi/4 = 4 arctan(1/5) - arctan(1/239).
  const pi = 4n * (4n * arctanInverse(5n, unity) - arctanInverse(239n, unity));
  const s = (pi / 10n ** BigInt(guard)).toString();
  return n === 1 ? s.slice(0, 1) : `${s.slice(0, 1)}.${s.slice(1, n)}`;
}

function nowNs(): bigint {
  return process.hrtime.bigint();
}

/** Spins for `ms` milliseconds; returns the nanoseconds it actually spun. */
function burn(ms: number): number {
  const start = nowNs();
  const end = start + BigInt(Math.max(0, Math.round(ms * 1e6)));
  let x = 0;
  while (nowNs() < end) {
    for (let i = 0; i < 2_000; i++) x += Math.sqrt(i + x);
  }
  if (x < 0) throw new Error('unreachable');
  return Number(nowNs() - start);
}

/** The piscina entry point. */
export default function run(task: ComputeTask): ComputeResult {
  switch (task.op) {
    case 'pi': {
      const start = nowNs();
      const text = piDigits(task.digits);
      return { busyNs: Number(nowNs() - start), text };
    }
    case 'burn':
      return { busyNs: burn(task.ms) };
    default:
      throw new Error(`unknown compute task ${JSON.stringify((task as { op?: unknown }).op)}`);
  }
}
