// Client histories of the key-value store, in the shape Jepsen records them: one event per line,
// an `invoke` when a client starts an operation and one completion when it learns the outcome.
//
//   {"process":N,"type":"invoke|ok|fail|info","f":"read|write|cas|delete","key":K,"value":V,"time":ns}
//
// Meaning of the completion types:
//   ok   — the operation happened; a read's value is what it read (null when the key was absent),
//          a cas's value is `true` (applied) or `false` (the comparison failed, nothing written).
//   fail — the operation definitely did not happen (e.g. rejected before it was proposed).
//   info — the outcome is unknown (timeout, crash): it may or may not have happened, at any
//          time after its invocation.
// A process has at most one operation outstanding, which is what lets a completion be paired
// with its invocation without an operation id in the file.
//
// `time` is a monotonic clock in nanoseconds. When two events carry the same time, their order
// in the history is taken as their real-time order: the recorder appends events in the order
// they happen, so the file order is the finer clock.

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export type EventType = 'invoke' | 'ok' | 'fail' | 'info';
export type OpFunction = 'read' | 'write' | 'cas' | 'delete';
export type OpStatus = 'ok' | 'fail' | 'info';

const EVENT_TYPES: readonly EventType[] = ['invoke', 'ok', 'fail', 'info'];
const OP_FUNCTIONS: readonly OpFunction[] = ['read', 'write', 'cas', 'delete'];

/** One line of a history. */
export interface HistoryEvent {
  /** The client (logical thread) that issued the operation. */
  readonly process: number;
  readonly type: EventType;
  readonly f: OpFunction;
  readonly key: string;
  /** invoke: write → value, cas → [expected, new], read/delete → null. ok: see the file header. */
  readonly value: JsonValue;
  /** Monotonic time in nanoseconds. */
  readonly time: number;
}

/** An invocation paired with its completion. */
export interface Operation {
  /** Position among the paired operations, in invocation order; used to name operations. */
  readonly id: number;
  readonly process: number;
  readonly f: OpFunction;
  readonly key: string;
  /** write → the value written; cas → [expected, new]; read and delete → null. */
  readonly input: JsonValue;
  /** read → the value read; cas → true|false; otherwise what the completion carried. null unless ok. */
  readonly output: JsonValue;
  /** Invocation time, ns. */
  readonly call: number;
  /** Completion time, ns; +Infinity when the outcome is unknown (info or never completed). */
  readonly ret: number;
  readonly status: OpStatus;
  /** Position of the invoke event in the history (breaks ties between equal times). */
  readonly invokeIndex: number;
  /** Position of the completion event, or null when there was none. */
  readonly completeIndex: number | null;
}

/** A history line or event sequence that does not follow the format. */
export class HistoryFormatError extends Error {
  /** 1-based line of the offending text, when the events came from text. */
  readonly line: number | undefined;
  constructor(message: string, line?: number) {
    super(line === undefined ? message : `line ${line}: ${message}`);
    this.name = 'HistoryFormatError';
    this.line = line;
  }
}

// ---------------------------------------------------------------------------------------------
// Values

/**
 * A canonical text for a value (object keys sorted), so that two values are the same exactly
 * when their canonical texts are equal.
 */
export function canonicalValue(value: JsonValue): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalValue).join(',')}]`;
  const keys = Object.keys(value).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalValue(value[k] as JsonValue)}`).join(',')}}`;
}

export function sameValue(a: JsonValue, b: JsonValue): boolean {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false;
  return canonicalValue(a) === canonicalValue(b);
}

function isJsonValue(value: unknown, depth = 0): value is JsonValue {
  if (depth > 64) return false;
  if (value === null) return true;
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(value);
    case 'object':
      if (Array.isArray(value)) return value.every((v) => isJsonValue(v, depth + 1));
      return Object.values(value as object).every((v) => isJsonValue(v, depth + 1));
    default:
      return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Real-time order

/** Sort key of an operation's invocation: time, then history position. */
export function callEventOrder(op: Operation): [number, number] {
  return [op.call, op.invokeIndex];
}

/** Sort key of an operation's completion: time, then history position; (+∞, +∞) when unknown. */
export function returnEventOrder(op: Operation): [number, number] {
  if (op.ret === Infinity) return [Infinity, Infinity];
  return [op.ret, op.completeIndex ?? Infinity];
}

/** Orders two (time, history position) pairs. */
export function compareEventOrder(a: readonly [number, number], b: readonly [number, number]): number {
  if (a[0] !== b[0]) return a[0] < b[0] ? -1 : 1;
  if (a[1] !== b[1]) return a[1] < b[1] ? -1 : 1;
  return 0;
}

/** True when `a` completed before `b` was invoked, so every linearization puts `a` first. */
export function precedes(a: Operation, b: Operation): boolean {
  return compareEventOrder(returnEventOrder(a), callEventOrder(b)) < 0;
}

// ---------------------------------------------------------------------------------------------
// Recorder

interface OpenOperation {
  readonly process: number;
  readonly f: OpFunction;
  readonly key: string;
  readonly value: JsonValue;
}

/**
 * Records a history in memory as clients run. Time comes from the injected clock (nanoseconds,
 * monotonic), so the simulator's virtual clock and a real monotonic clock both fit.
 */
export class HistoryRecorder {
  /** Events in the order they were recorded. */
  private readonly recorded: HistoryEvent[] = [];
  /** Operations invoked and not yet completed, by operation id. */
  private readonly open = new Map<number, OpenOperation>();
  /** Processes with an operation outstanding (at most one each). */
  private readonly busyProcesses = new Set<number>();
  private nextOpId = 0;
  private lastTimeNs = -Infinity;

  constructor(private readonly now: () => number) {}

  /** Records an invocation and returns the operation id to complete it with. */
  invoke(process: number, f: OpFunction, key: string, value: JsonValue = null): number {
    if (!Number.isInteger(process)) throw new HistoryFormatError(`process must be an integer, got ${process}`);
    if (!OP_FUNCTIONS.includes(f)) throw new HistoryFormatError(`unknown operation "${String(f)}"`);
    if (typeof key !== 'string') throw new HistoryFormatError('key must be a string');
    if (this.busyProcesses.has(process)) {
      throw new HistoryFormatError(`process ${process} invoked ${f} while its previous operation is still open`);
    }
    checkInvokeValue(f, value);
    const time = this.tick();
    const opId = this.nextOpId++;
    this.open.set(opId, { process, f, key, value });
    this.busyProcesses.add(process);
    this.append({ process, type: 'invoke', f, key, value, time });
    return opId;
  }

  /**
   * The operation happened. A read must pass what it read (null for absent); a cas passes
   * true|false (default true); a write or delete may omit the value (the write echoes its input).
   */
  ok(opId: number, value?: JsonValue): void {
    const op = this.openOperation(opId);
    let recorded: JsonValue;
    if (value !== undefined) recorded = value;
    else if (op.f === 'read') throw new HistoryFormatError(`ok of read ${opId} must carry the value read (null when absent)`);
    else if (op.f === 'cas') recorded = true;
    else if (op.f === 'write') recorded = op.value;
    else recorded = null;
    checkOkValue(op.f, recorded);
    const time = this.tick();
    this.close(opId);
    this.append({ process: op.process, type: 'ok', f: op.f, key: op.key, value: recorded, time });
  }

  /** The operation definitely did not happen. */
  fail(opId: number): void {
    this.complete(opId, 'fail');
  }

  /** The outcome is unknown (timeout, crash): it may have happened, or may still happen. */
  info(opId: number): void {
    this.complete(opId, 'info');
  }

  /** Number of operations invoked and not completed yet. */
  get openCount(): number {
    return this.open.size;
  }

  events(): readonly HistoryEvent[] {
    return this.recorded;
  }

  /** Paired operations; those still open count as unknown outcome (info). */
  operations(): Operation[] {
    return pairOperations(this.recorded);
  }

  toJsonLines(): string {
    return toJsonLines(this.recorded);
  }

  /** fail and info echo the invocation's value, as Jepsen does. */
  private complete(opId: number, type: 'fail' | 'info'): void {
    const op = this.openOperation(opId);
    const time = this.tick();
    this.close(opId);
    this.append({ process: op.process, type, f: op.f, key: op.key, value: op.value, time });
  }

  private openOperation(opId: number): OpenOperation {
    const op = this.open.get(opId);
    if (op === undefined) throw new HistoryFormatError(`operation ${opId} is not open (never invoked, or already completed)`);
    return op;
  }

  private close(opId: number): void {
    const op = this.openOperation(opId);
    this.open.delete(opId);
    this.busyProcesses.delete(op.process);
  }

  private tick(): number {
    const t = this.now();
    if (!Number.isFinite(t)) throw new HistoryFormatError(`clock returned a non-finite time ${t}`);
    if (t < this.lastTimeNs) throw new HistoryFormatError(`clock went backwards: ${t} after ${this.lastTimeNs}`);
    this.lastTimeNs = t;
    return t;
  }

  private append(event: HistoryEvent): void {
    this.recorded.push(event);
  }
}

function checkInvokeValue(f: OpFunction, value: JsonValue, line?: number): void {
  if (!isJsonValue(value)) throw new HistoryFormatError(`${f} value is not a JSON value`, line);
  if (f === 'cas' && !(Array.isArray(value) && value.length === 2)) {
    throw new HistoryFormatError(`cas invoke value must be [expected, new], got ${JSON.stringify(value)}`, line);
  }
}

function checkOkValue(f: OpFunction, value: JsonValue, line?: number): void {
  if (!isJsonValue(value)) throw new HistoryFormatError(`${f} value is not a JSON value`, line);
  if (f === 'cas' && typeof value !== 'boolean' && value !== null && !Array.isArray(value)) {
    throw new HistoryFormatError(`cas ok value must be true or false, got ${JSON.stringify(value)}`, line);
  }
}

// ---------------------------------------------------------------------------------------------
// JSON lines

export function toJsonLines(events: readonly HistoryEvent[]): string {
  let out = '';
  for (const e of events) {
    out += JSON.stringify({ process: e.process, type: e.type, f: e.f, key: e.key, value: e.value, time: e.time });
    out += '\n';
  }
  return out;
}

/**
 * Parses a history, one JSON object per line; blank lines are skipped. Throws a
 * HistoryFormatError naming the line for anything malformed.
 */
export function parseJsonLines(text: string): HistoryEvent[] {
  return parseWithLines(text).events;
}

/** Parses and pairs a history in one step; pairing errors name the line. */
export function parseHistory(text: string): Operation[] {
  const { events, lines } = parseWithLines(text);
  return pairOperationsAt(events, (i) => lines[i]);
}

function parseWithLines(text: string): { events: HistoryEvent[]; lines: number[] } {
  const events: HistoryEvent[] = [];
  const lines: number[] = [];
  const rows = text.split('\n');
  for (let i = 0; i < rows.length; i++) {
    const row = (rows[i] as string).trim();
    if (row === '') continue;
    events.push(parseEvent(row, i + 1));
    lines.push(i + 1);
  }
  return { events, lines };
}

function parseEvent(row: string, line: number): HistoryEvent {
  let raw: unknown;
  try {
    raw = JSON.parse(row);
  } catch (err) {
    throw new HistoryFormatError(`not valid JSON (${(err as Error).message})`, line);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new HistoryFormatError('expected a JSON object', line);
  }
  const o = raw as Record<string, unknown>;
  const process = o['process'];
  if (typeof process !== 'number' || !Number.isInteger(process)) {
    throw new HistoryFormatError(`"process" must be an integer, got ${JSON.stringify(process)}`, line);
  }
  const type = o['type'];
  if (typeof type !== 'string' || !EVENT_TYPES.includes(type as EventType)) {
    throw new HistoryFormatError(`"type" must be one of ${EVENT_TYPES.join(', ')}, got ${JSON.stringify(type)}`, line);
  }
  const f = o['f'];
  if (typeof f !== 'string' || !OP_FUNCTIONS.includes(f as OpFunction)) {
    throw new HistoryFormatError(`"f" must be one of ${OP_FUNCTIONS.join(', ')}, got ${JSON.stringify(f)}`, line);
  }
  const key = o['key'];
  if (typeof key !== 'string') throw new HistoryFormatError(`"key" must be a string, got ${JSON.stringify(key)}`, line);
  const time = o['time'];
  if (typeof time !== 'number' || !Number.isFinite(time)) {
    throw new HistoryFormatError(`"time" must be a finite number of nanoseconds, got ${JSON.stringify(time)}`, line);
  }
  const value = o['value'] === undefined ? null : o['value'];
  if (!isJsonValue(value)) throw new HistoryFormatError('"value" is not a JSON value', line);
  const event: HistoryEvent = { process, type: type as EventType, f: f as OpFunction, key, value, time };
  if (event.type === 'invoke') checkInvokeValue(event.f, value, line);
  if (event.type === 'ok') checkOkValue(event.f, value, line);
  return event;
}

// ---------------------------------------------------------------------------------------------
// Pairing

/**
 * Pairs each invocation with the next completion by the same client process. An invocation
 * without a completion counts as unknown outcome (status info, ret +Infinity), as does `info`.
 */
export function pairOperations(events: readonly HistoryEvent[]): Operation[] {
  return pairOperationsAt(events, undefined);
}

function pairOperationsAt(events: readonly HistoryEvent[], lineOf: ((i: number) => number | undefined) | undefined): Operation[] {
  const where = (i: number): string => {
    const line = lineOf?.(i);
    return line === undefined ? `event ${i + 1}` : `line ${line}`;
  };
  const openByProcess = new Map<number, number>(); // process → index of its open invoke event
  const completionOf = new Map<number, number>(); // invoke index → completion index
  for (let i = 0; i < events.length; i++) {
    const e = events[i] as HistoryEvent;
    const open = openByProcess.get(e.process);
    if (e.type === 'invoke') {
      if (open !== undefined) {
        const previous = (events[open] as HistoryEvent).f;
        throw new HistoryFormatError(`${where(i)}: process ${e.process} invoked ${e.f} while its ${previous} from ${where(open)} is still open`);
      }
      openByProcess.set(e.process, i);
      continue;
    }
    if (open === undefined) {
      throw new HistoryFormatError(`${where(i)}: ${e.type} ${e.f} of process ${e.process} has no open invocation`);
    }
    const inv = events[open] as HistoryEvent;
    if (inv.f !== e.f || inv.key !== e.key) {
      throw new HistoryFormatError(
        `${where(i)}: ${e.type} ${e.f} ${JSON.stringify(e.key)} does not match the open invocation ` +
          `${inv.f} ${JSON.stringify(inv.key)} of process ${e.process} at ${where(open)}`,
      );
    }
    if (e.time < inv.time) {
      throw new HistoryFormatError(`${where(i)}: completion time ${e.time} is before its invocation time ${inv.time}`);
    }
    openByProcess.delete(e.process);
    completionOf.set(open, i);
  }

  const ops: Operation[] = [];
  for (let i = 0; i < events.length; i++) {
    const inv = events[i] as HistoryEvent;
    if (inv.type !== 'invoke') continue;
    const c = completionOf.get(i);
    const done = c === undefined ? undefined : (events[c] as HistoryEvent);
    const status: OpStatus = done === undefined || done.type === 'info' ? 'info' : (done.type as OpStatus);
    let output: JsonValue = null;
    if (status === 'ok') {
      output = (done as HistoryEvent).value;
      // A cas ok without a boolean follows Jepsen's convention: ok means applied.
      if (inv.f === 'cas' && typeof output !== 'boolean') output = true;
    }
    ops.push({
      id: ops.length,
      process: inv.process,
      f: inv.f,
      key: inv.key,
      input: inv.f === 'read' || inv.f === 'delete' ? null : inv.value,
      output,
      call: inv.time,
      ret: status === 'info' ? Infinity : (done as HistoryEvent).time,
      status,
      invokeIndex: i,
      completeIndex: c ?? null,
    });
  }
  return ops;
}

// ---------------------------------------------------------------------------------------------
// Describing operations in reports

function showTime(t: number): string {
  return t === Infinity ? '∞' : String(t);
}

/** A one-line description such as `#4 p2 read -> "a" [100, 180]`. */
export function describeOperation(op: Operation): string {
  let what: string;
  switch (op.f) {
    case 'read':
      what = op.status === 'ok' ? `read -> ${JSON.stringify(op.output)}` : 'read';
      break;
    case 'write':
      what = `write ${JSON.stringify(op.input)}`;
      break;
    case 'delete':
      what = 'delete';
      break;
    case 'cas': {
      const [e, n] = Array.isArray(op.input) ? op.input : [null, null];
      const outcome = op.status === 'ok' ? (op.output === false ? ' failed' : ' succeeded') : '';
      what = `cas ${JSON.stringify(e)} -> ${JSON.stringify(n)}${outcome}`;
      break;
    }
  }
  const status = op.status === 'ok' ? '' : ` (${op.status === 'info' ? 'outcome unknown' : 'failed'})`;
  return `#${op.id} p${op.process} ${what}${status} [${showTime(op.call)}, ${showTime(op.ret)}]`;
}
