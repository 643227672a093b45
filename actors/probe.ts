/**
 * Small diagnostic actors: they exercise the runtime in tests, benchmarks and the cluster's
 * self-check. Each export is an actor factory.
 */
import type { Actor, ActorContext } from '../runtime/actor.js';

/** Answers every ask with what it was sent; counts plain sends. */
export function echo(): Actor {
  let sends = 0;
  return {
    onMessage(ctx, from, msg) {
      const m = msg as { cmd?: string; to?: string; payload?: unknown } | null;
      if (m && m.cmd === 'count') return ctx.reply(sends);
      if (m && m.cmd === 'forward' && m.to) {
        // Ask another actor and answer with its reply: exercises deferred replies.
        const r = ctx.replier();
        ctx.ask(m.to, m.payload, { timeoutMs: 1_000 }).then(
          (v) => r?.ok(v),
          (e) => r?.error(e),
        );
        return;
      }
      sends++;
      ctx.reply(msg);
      void from;
    },
    status: () => ({ sends }),
  };
}

/** Counts every message; `{cmd:'count'}` asks for the total, `{cmd:'boom'}` throws. */
export function counter(): Actor {
  let count = 0;
  const seen: unknown[] = [];
  return {
    onMessage(ctx, _from, msg) {
      const m = msg as { cmd?: string; keep?: boolean } | null;
      if (m?.cmd === 'count') return ctx.reply(count);
      if (m?.cmd === 'seen') return ctx.reply(seen);
      if (m?.cmd === 'boom') throw new Error('boom requested');
      count++;
      if (m?.keep) seen.push(msg);
    },
    status: () => ({ count }),
  };
}

/** Keeps a counter in its durable store so restarts can be observed. */
export function durableCounter(): Actor {
  let value = 0;
  return {
    onStart(ctx) {
      value = (ctx.store('state').table('meta').get('value') as number | undefined) ?? 0;
    },
    onMessage(ctx, _from, msg) {
      const m = msg as { cmd: string };
      if (m.cmd === 'incr') {
        value++;
        ctx.store('state').write(() => ctx.store('state').table('meta').put('value', value));
        return ctx.reply(value);
      }
      if (m.cmd === 'get') return ctx.reply({ value, incarnation: ctx.incarnation });
    },
  };
}

interface BlastCommand {
  cmd: 'blast';
  to: string;
  /** Messages in all. */
  count: number;
  /** Messages sent per turn (1 = one per turn; more are coalesced into one frame). */
  perTurn: number;
  payloadBytes: number;
  /** Messages allowed in flight before waiting for the sink to catch up. */
  windowMsgs: number;
}

/**
 * Sends `count` messages to a sink as fast as flow control allows and answers with the time it
 * took; the sink's count ask doubles as the window acknowledgement.
 */
export function blaster(): Actor {
  return {
    onMessage(ctx, _from, msg) {
      const m = msg as BlastCommand | AskLatencyCommand;
      const reply = ctx.replier();
      const work = m.cmd === 'blast' ? blast(ctx, m) : m.cmd === 'askLatency' ? askLatency(ctx, m) : null;
      work?.then((r) => reply?.ok(r), (e) => reply?.error(e));
    },
  };
}

async function blast(ctx: ActorContext, m: BlastCommand): Promise<{ elapsedMs: number; sent: number }> {
  const payload = 'x'.repeat(m.payloadBytes);
  const start = ctx.now();
  let sent = 0;
  while (sent < m.count) {
    const windowEnd = Math.min(m.count, sent + m.windowMsgs);
    while (sent < windowEnd) {
      const n = Math.min(m.perTurn, windowEnd - sent);
      for (let i = 0; i < n; i++) ctx.send(m.to, payload);
      sent += n;
      // Ends this turn: the runtime's per-turn flush runs first, so each batch is one frame.
      if (sent < windowEnd) await null;
    }
    // Wait until the sink has seen everything sent so far (bounded in-flight messages).
    await ctx.ask(m.to, { cmd: 'count' }, { timeoutMs: 30_000 });
  }
  return { elapsedMs: ctx.now() - start, sent };
}

interface AskLatencyCommand {
  cmd: 'askLatency';
  to: string;
  count: number;
}

/** Asks `to` `count` times in sequence; answers with each round trip in microseconds. */
async function askLatency(ctx: ActorContext, m: AskLatencyCommand): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < m.count; i++) {
    const t0 = ctx.now();
    await ctx.ask(m.to, i, { timeoutMs: 5_000 });
    samples.push((ctx.now() - t0) * 1000);
  }
  return samples;
}
