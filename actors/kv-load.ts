/**
 * A load generator: closed-loop store clients inside one actor (on its own worker thread, so
 * the benchmark driver does not sit on the hot path). Answers with operation counts and
 * latencies.
 */
import type { Actor, ActorContext } from '../runtime/actor.js';
import { StoreClient } from '../raft/client.js';

export interface LoadCommand {
  cmd: 'run';
  peers: string[];
  concurrency: number;
  durationMs: number;
  valueBytes: number;
  /** Keys are `${prefix}${i % keySpace}`; with `distinct` every write uses a new key. */
  keySpace: number;
  distinct?: boolean;
  op: 'put' | 'get';
  prefix: string;
  /** Stop after this many operations (default unbounded). */
  maxOps?: number;
}

export interface LoadResult {
  ops: number;
  errors: number;
  firstError?: string;
  elapsedMs: number;
  /** Latencies in ms (a uniform sample of at most 100,000). */
  latenciesMs: number[];
}

const MAX_SAMPLES = 100_000;

export default function kvLoad(): Actor {
  let runs = 0;
  return {
    onMessage(ctx, _from, msg) {
      const m = msg as LoadCommand;
      if (m.cmd !== 'run') return;
      const reply = ctx.replier();
      run(ctx, m, ++runs).then((r) => reply?.ok(r), (e) => reply?.error(e));
    },
  };
}

async function run(ctx: ActorContext, m: LoadCommand, runId: number): Promise<LoadResult> {
  const value = new Uint8Array(m.valueBytes).fill(120);
  const start = ctx.now();
  const end = start + m.durationMs;
  const maxOps = m.maxOps ?? Infinity;
  let ops = 0;
  let issued = 0;
  let errors = 0;
  let firstError: string | undefined;
  const lat: number[] = [];
  let seen = 0;
  const sleep = (ms: number) => new Promise<void>((r) => ctx.setTimer(ms, r));
  await Promise.all(
    Array.from({ length: m.concurrency }, async (_, lane) => {
      const client = new StoreClient({
        ask: (to, msg, o) => ctx.ask(to, msg, o),
        peers: m.peers,
        clientId: `${ctx.self}:${ctx.incarnation}:${runId}:${lane}`,
        now: () => ctx.now(),
        sleep,
      });
      // One clock read per operation: its end is the next one's start.
      let now = ctx.now();
      while (now < end && issued < maxOps) {
        const i = issued++;
        const key = `${m.prefix}${m.distinct ? i : i % m.keySpace}`;
        const t0 = now;
        try {
          if (m.op === 'put') await client.put(key, value);
          else await client.get(key);
          ops++;
          now = ctx.now();
          const l = now - t0;
          // Reservoir sampling keeps the latency sample uniform and bounded.
          if (lat.length < MAX_SAMPLES) lat.push(l);
          else {
            const j = Math.floor(ctx.random() * (seen + 1));
            if (j < MAX_SAMPLES) lat[j] = l;
          }
          seen++;
        } catch (err) {
          errors++;
          firstError ??= (err as Error).message;
          now = ctx.now();
        }
      }
    }),
  );
  return { ops, errors, firstError, elapsedMs: ctx.now() - start, latenciesMs: lat };
}
