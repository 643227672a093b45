/**
 * The campaign's clients: concurrent processes issuing get / put / cas / delete on a small key
 * space, each operation recorded in the history with its invocation and its completion.
 *
 * - Every process has its own store client id and at most one operation in flight (the store
 *   deduplicates writes by (client, seq)). After an outcome it cannot know (`info`), the process
 *   is retired and a fresh one takes its slot with a new id, as Jepsen does: the old operation
 *   may still take effect at any later time, and it must not share a sequence with new ones.
 * - Written values are unique (`p<process>-<n>`), so a read names the write it saw.
 * - A cas is a txn comparing the value (or, for "absent", version = 0) and then putting.
 * - Reads go to a random peer half of the time (a client connected to any member), so a peer
 *   that answers linearizable reads from stale local state is exercised.
 * - Time and every choice come from the host: on SimHost the virtual clock and the seeded PRNG,
 *   so a seed replays exactly.
 */
import type { Host } from '../../runtime/host.js';
import type { Rng } from '../../runtime/rng.js';
import { StoreClient, StoreError } from '../../raft/client.js';
import type { Compare, KeyValue, TxnResponse } from '../../raft/mvcc/commands.js';
import type { HistoryRecorder, JsonValue, OpFunction } from '../../raft/check/history.js';

export interface WorkloadOptions {
  clients: number;
  keys: number;
  /** Keys are `${prefix}${i}`; the history names them without the prefix. */
  prefix: string;
  /** Per-try ask timeout of each client. */
  tryTimeoutMs: number;
  /** A client gives up on an operation after this long. */
  deadlineMs: number;
  /** Pause between a process's operations, uniform in [0, thinkMs]. */
  thinkMs: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function historyKey(i: number): string {
  return `k${i}`;
}

export class Workload {
  /** Times (ms since the run's origin) at which an operation completed ok, in order. */
  readonly okTimes: number[] = [];
  private nextProcess: number;
  private readonly loops: Promise<void>[] = [];

  constructor(
    private readonly host: Host,
    private readonly rng: Rng,
    private readonly recorder: HistoryRecorder,
    /** The peers clients may talk to now (changes with membership). */
    private readonly members: () => string[],
    private readonly clock: () => number,
    private readonly options: WorkloadOptions,
  ) {
    this.nextProcess = options.clients;
  }

  /** Starts every client; they issue operations until `untilMs` (on the run's clock). */
  start(untilMs: number): void {
    for (let slot = 0; slot < this.options.clients; slot++) this.loops.push(this.clientLoop(slot, untilMs));
  }

  /** Resolves once every client finished its last operation. */
  async finished(): Promise<void> {
    await Promise.all(this.loops);
  }

  private newClient(process: number, peers: string[]): StoreClient {
    const host = this.host;
    return new StoreClient({
      ask: (to, msg, o) => host.ask(to, msg, o),
      peers,
      clientId: `chaos-p${process}`,
      now: () => host.now(),
      sleep: (ms) => host.sleep(ms),
      tryTimeoutMs: this.options.tryTimeoutMs,
      deadlineMs: this.options.deadlineMs,
    });
  }

  private async clientLoop(slot: number, untilMs: number): Promise<void> {
    let process = slot;
    let client = this.newClient(process, this.members());
    let written = 0;
    /** The last value this process saw or wrote per key: what its cas expects. */
    const seen = new Map<string, string | null>();
    while (this.clock() < untilMs) {
      const status = await this.oneOperation(process, client, seen, () => `p${process}-${++written}`);
      if (status === 'info') {
        process = this.nextProcess++;
        client = this.newClient(process, this.members());
        written = 0;
        seen.clear();
      }
      const think = this.rng.next() * this.options.thinkMs;
      if (think > 0) await this.host.sleep(think);
    }
  }

  private pickFunction(): OpFunction {
    const r = this.rng.next();
    if (r < 0.4) return 'read';
    if (r < 0.7) return 'write';
    if (r < 0.9) return 'cas';
    return 'delete';
  }

  /** Runs one operation and records it; returns how it completed. */
  private async oneOperation(
    process: number,
    client: StoreClient,
    seen: Map<string, string | null>,
    nextValue: () => string,
  ): Promise<'ok' | 'fail' | 'info'> {
    const f = this.pickFunction();
    const k = this.rng.int(0, this.options.keys - 1);
    const key = historyKey(k);
    const storeKey = `${this.options.prefix}${key}`;
    let input: JsonValue = null;
    let expected: string | null = null;
    let value = '';
    if (f === 'write') {
      value = nextValue();
      input = value;
    } else if (f === 'cas') {
      expected = seen.get(key) ?? null;
      value = nextValue();
      input = [expected, value];
    }
    // A read through a client that starts at a random member, half of the time.
    const reader = f === 'read' && this.rng.next() < 0.5 ? this.readerAt(this.rng.int(0, 1 << 30)) : client;
    const op = this.recorder.invoke(process, f, key, input);
    try {
      switch (f) {
        case 'read': {
          const kv = await reader.get(storeKey);
          const got = kv ? text(kv) : null;
          seen.set(key, got);
          this.recorder.ok(op, got);
          break;
        }
        case 'write':
          await client.put(storeKey, value);
          seen.set(key, value);
          this.recorder.ok(op);
          break;
        case 'delete':
          await client.delete(storeKey);
          seen.set(key, null);
          this.recorder.ok(op);
          break;
        case 'cas': {
          const compare: Compare =
            expected === null
              ? { key: storeKey, target: 'version', result: '=', operand: 0 }
              : { key: storeKey, target: 'value', result: '=', operand: encoder.encode(expected) };
          const r = (await client.txn({ compare: [compare], success: [{ type: 'put', key: storeKey, value: encoder.encode(value) }], failure: [] })) as TxnResponse;
          if (r.succeeded) seen.set(key, value);
          else seen.delete(key);
          this.recorder.ok(op, r.succeeded);
          break;
        }
      }
      this.okTimes.push(this.clock());
      return 'ok';
    } catch (err) {
      const status = classify(err, f);
      if (status === 'fail') this.recorder.fail(op);
      else this.recorder.info(op);
      return status;
    }
  }

  private readerAt(r: number): StoreClient {
    const members = this.members();
    const start = r % members.length;
    const rotated = [...members.slice(start), ...members.slice(0, start)];
    return this.newClient(-1, rotated);
  }
}

function text(kv: KeyValue): string {
  return decoder.decode(kv.value);
}

/**
 * `fail` only for a definite refusal: the operation cannot have taken effect. A read never
 * changes anything, so any error of a read is a fail. For writes, an unknown outcome
 * ('Indeterminate', a timeout, anything unexpected) is `info`.
 */
export function classify(err: unknown, f: OpFunction): 'fail' | 'info' {
  if (f === 'read') return 'fail';
  if (err instanceof StoreError) return err.code === 'Indeterminate' || err.code === 'Timeout' ? 'info' : 'fail';
  return 'info';
}
