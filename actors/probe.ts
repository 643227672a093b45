/**
 * Small diagnostic actors: they exercise the runtime in tests, benchmarks and the cluster's
 * self-check. Each export is an actor factory.
 */
import type { Actor, ActorContext } from '../runtime/actor.js';

/**
 * Answers every ask with what it was sent; counts plain sends. `{cmd:'sendThenBlock', to, ms,
 * flush}` asks `to` for the time (in its own turn), then keeps this thread busy for `ms`, flushing
 * first if told, and answers with [when the block ended, `to`'s time].
 */
export function echo(): Actor {
  let sends = 0;
  return {
    onMessage(ctx, from, msg) {
      const m = msg as { cmd?: string; to?: string; payload?: unknown; ms?: number; flush?: boolean } | null;
      if (m && m.cmd === 'count') return ctx.reply(sends);
      if (m && m.cmd === 'sendThenBlock' && m.to) {
        const r = ctx.replier();
        const theirs = ctx.ask<number>(m.to, { cmd: 'now' }, { timeoutMs: 5_000 });
        if (m.flush) ctx.flush();
        const until = ctx.now() + (m.ms ?? 100);
        while (ctx.now() < until) {
          /* a synchronous wait, as an fsync is */
        }
        const blockEnded = ctx.now();
        theirs.then((t) => r?.ok([blockEnded, t]), (e) => r?.error(e));
        return;
      }
      if (m && m.cmd === 'now') return ctx.reply(ctx.now());
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
  /** Flow control: messages per window; two windows may be in flight. */
  windowMsgs: number;
}

/**
 * Sends `count` messages to a sink as fast as flow control allows and answers with the time it
 * took; the sink's count ask doubles as the window acknowledgement. Two windows may be in
 * flight: the next window goes out while the sink still works through the last one, so
 * neither side waits for the other at window boundaries.
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
  let previous: Promise<unknown> | null = null;
  while (sent < m.count) {
    const windowEnd = Math.min(m.count, sent + m.windowMsgs);
    while (sent < windowEnd) {
      const n = Math.min(m.perTurn, windowEnd - sent);
      for (let i = 0; i < n; i++) ctx.send(m.to, payload);
      sent += n;
      // Ends this turn: the runtime's per-turn flush runs first, so each batch is one frame.
      if (sent < windowEnd) await null;
    }
    // The sink answers once it has seen this window; wait for the one before (at most two
    // windows in flight).
    const ack = ctx.ask(m.to, { cmd: 'count' }, { timeoutMs: 30_000 });
    ack.catch(() => {}); // awaited below; a failure must not count as unhandled meanwhile
    if (previous) await previous;
    previous = ack;
  }
  await previous;
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

/**
 * Throws in onStart while its incarnation is below `args.failures` (default: always), then
 * answers `{cmd:'incarnation'}` with the incarnation that came up.
 */
export function failingStart(args: unknown): Actor {
  const failures = (args as { failures?: number } | undefined)?.failures ?? Infinity;
  return {
    onStart(ctx) {
      if (ctx.incarnation < failures) throw new Error(`onStart failure ${ctx.incarnation + 1} of ${failures}`);
    },
    onMessage(ctx, _from, msg) {
      if ((msg as { cmd?: string } | null)?.cmd === 'incarnation') ctx.reply(ctx.incarnation);
    },
  };
}

/**
 * Answers `{cmd:'slow', ms, value}` after `ms` milliseconds (its own timer), any other ask at
 * once; its status tells how many replies it still owes, so a test knows an ask is in flight.
 */
export function slow(): Actor {
  let owed = 0;
  return {
    onMessage(ctx, _from, msg) {
      const m = msg as { cmd?: string; ms?: number; value?: unknown } | null;
      if (m?.cmd !== 'slow') return ctx.reply(msg);
      const r = ctx.replier();
      owed++;
      ctx.setTimer(m.ms ?? 1_000, () => {
        owed--;
        r?.ok(m.value ?? 'late');
      });
    },
    status: () => ({ owed }),
  };
}

/**
 * On `{cmd:'start', to, perTick}` sends `perTick` messages to `to` on every timer tick until
 * `{cmd:'stop'}`, which answers with the number sent. Sends to a destination that is down are
 * lost, as on a real network, so the burst goes on through the destination's crashes.
 */
export function burster(): Actor {
  let timer = 0;
  let sent = 0;
  let running = false;
  return {
    onMessage(ctx, _from, msg) {
      const m = msg as { cmd: string; to?: string; perTick?: number };
      if (m.cmd === 'start' && !running) {
        running = true;
        const to = m.to!;
        const perTick = m.perTick ?? 100;
        const tick = () => {
          for (let i = 0; i < perTick; i++) ctx.send(to, { n: sent++ });
          timer = ctx.setTimer(1, tick);
        };
        tick();
        return ctx.reply(true);
      }
      if (m.cmd === 'stop') {
        running = false;
        ctx.cancelTimer(timer);
        return ctx.reply(sent);
      }
      if (m.cmd === 'sent') return ctx.reply(sent);
    },
  };
}

/**
 * Tallies arrivals by sender. `{cmd:'fanout', to, count}` sends `count` `{seq, sentAt}` messages
 * to each actor in `to`; `{cmd:'tally'}` answers `{[sender]: n}`; `{cmd:'log'}` answers every
 * arrival as `[sender, seq, sentAt, arrivedAt]`, oldest first.
 */
export function peer(): Actor {
  const tally: Record<string, number> = {};
  const log: [string, number, number, number][] = [];
  return {
    onMessage(ctx, from, msg) {
      const m = msg as { cmd?: string; to?: string[]; count?: number; seq?: number; sentAt?: number };
      if (m.cmd === 'fanout') {
        const now = ctx.now();
        for (const to of m.to!) for (let seq = 0; seq < m.count!; seq++) ctx.send(to, { seq, sentAt: now });
        return ctx.reply(m.to!.length * m.count!);
      }
      if (m.cmd === 'tally') return ctx.reply(tally);
      if (m.cmd === 'log') return ctx.reply(log);
      tally[from] = (tally[from] ?? 0) + 1;
      log.push([from, m.seq ?? -1, m.sentAt ?? -1, ctx.now()]);
    },
  };
}
