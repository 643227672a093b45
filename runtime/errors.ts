/**
 * Every error the runtime hands to actors and callers, in one place. Each has a stable `name`
 * so it survives a trip through msgpack (a rejected `ask` arrives as `{name, message}`).
 */

export class RuntimeError extends Error {
  constructor(name: string, message: string) {
    super(message);
    this.name = name;
  }
}

/** The destination was never registered with the host. */
export class UnknownActorError extends RuntimeError {
  constructor(readonly actor: string) {
    super('UnknownActorError', `unknown actor "${actor}"`);
  }
}

/** The destination exists but is not running (crashed, stopped, or restarting). */
export class ActorUnavailableError extends RuntimeError {
  constructor(
    readonly actor: string,
    readonly reason: string,
  ) {
    super('ActorUnavailableError', `actor "${actor}" is unavailable: ${reason}`);
  }
}

/** No reply came within the ask's timeout. */
export class AskTimeoutError extends RuntimeError {
  constructor(
    readonly actor: string,
    readonly timeoutMs: number,
  ) {
    super('AskTimeoutError', `ask to "${actor}" timed out after ${timeoutMs} ms`);
  }
}

/** The destination's mailbox was full; the message was dropped. */
export class MailboxFullError extends RuntimeError {
  constructor(readonly actor: string) {
    super('MailboxFullError', `mailbox of "${actor}" is full`);
  }
}

/** The actor's handler threw while answering an ask; carries the remote error's name. */
export class RemoteError extends RuntimeError {
  constructor(
    readonly remoteName: string,
    message: string,
  ) {
    super('RemoteError', message);
  }
}

/** A broken invariant. Thrown by `assert`; crashes the actor, whose supervisor restarts it. */
export class AssertionError extends RuntimeError {
  constructor(message: string) {
    super('AssertionError', message);
  }
}

export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new AssertionError(message);
}

/** Wire form of an error carried in a reply. */
export interface WireError {
  name: string;
  message: string;
  actor?: string;
}

export function toWireError(err: unknown): WireError {
  if (err instanceof Error) {
    const wire: WireError = { name: err.name, message: err.message };
    const actor = (err as { actor?: unknown }).actor;
    if (typeof actor === 'string') wire.actor = actor;
    return wire;
  }
  return { name: 'Error', message: String(err) };
}

export function fromWireError(wire: WireError): Error {
  switch (wire.name) {
    case 'UnknownActorError':
      return new UnknownActorError(wire.actor ?? '?');
    case 'ActorUnavailableError':
      return new ActorUnavailableError(wire.actor ?? '?', wire.message);
    case 'MailboxFullError':
      return new MailboxFullError(wire.actor ?? '?');
    default:
      return new RemoteError(wire.name, wire.message);
  }
}
