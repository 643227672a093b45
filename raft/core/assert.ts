/**
 * Invariant checks for the Raft core.
 *
 * A failed assertion means the core's own state (or the storage it was handed) broke an invariant
 * that the algorithm depends on. Continuing could lose committed data, so the core throws and the
 * actor around it crashes; its supervisor restarts it from durable state. Expected conditions
 * (a proposal to a follower without a leader, a compacted index) are typed results instead.
 */

/** Thrown when an invariant of the Raft core does not hold. Never caught inside the core. */
export class AssertionError extends Error {
  override readonly name = 'AssertionError';
  constructor(message: string) {
    super(message);
  }
}

/**
 * Throws an {@link AssertionError} unless `cond` holds. `msg` may be a thunk so that building an
 * expensive message costs nothing on the hot path.
 */
export function assert(cond: unknown, msg: string | (() => string)): asserts cond {
  if (!cond) throw new AssertionError(typeof msg === 'string' ? msg : msg());
}

/** Marks a branch that a well-typed caller can never reach. */
export function unreachable(value: never, what: string): never {
  throw new AssertionError(`unreachable: unexpected ${what} ${String(value)}`);
}

/** True for a safe non-negative integer: every index, term and count in the core is one. */
export function isIndex(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
}
