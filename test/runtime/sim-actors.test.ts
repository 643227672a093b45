import { afterEach, describe, expect, it } from 'vitest';
import type { Actor } from '../../runtime/actor.js';
import { ActorUnavailableError, AskTimeoutError, MailboxFullError, UnknownActorError } from '../../runtime/errors.js';
import { SimHost } from '../../runtime/sim.js';
import type { SupervisorEvent, SupervisorSpec } from '../../runtime/supervisor.js';
import { captureLogger, inlineSpec, probeSpec, rejectionOf } from './helpers.js';

let sim: SimHost;

afterEach(async () => {
  await sim?.shutdown();
});

type Started = Extract<SupervisorEvent, { type: 'started' }>;
type Restarting = Extract<SupervisorEvent, { type: 'restarting' }>;
type Crashed = Extract<SupervisorEvent, { type: 'crashed' }>;

const started = (id: string) => sim.events.filter((e): e is Started => e.type === 'started' && e.actor === id);
const restarting = (id: string) => sim.events.filter((e): e is Restarting => e.type === 'restarting' && e.actor === id);
const crashed = (id: string) => sim.events.filter((e): e is Crashed => e.type === 'crashed' && e.actor === id);

/** Three counters under one supervisor, each having counted three messages. */
async function threeCounters(spec: Partial<SupervisorSpec>): Promise<void> {
  sim = new SimHost({ seed: 3 });
  sim.supervise({ id: 'root', ...spec, children: ['a', 'b', 'c'].map((id) => probeSpec(id, 'counter')) });
  for (const id of ['a', 'b', 'c']) for (let i = 0; i < 3; i++) sim.send(id, i);
  await sim.sleep(5);
}

async function counts(): Promise<number[]> {
  return Promise.all(['a', 'b', 'c'].map((id) => sim.ask<number>(id, { cmd: 'count' })));
}

describe('SimHost supervision on the virtual clock', () => {
  it('one_for_one restarts only the crashed child', async () => {
    await threeCounters({ strategy: 'one_for_one' });
    sim.send('b', { cmd: 'boom' });
    await sim.sleep(100);
    expect(await counts()).toEqual([3, 0, 3]);
    expect(started('b').map((e) => e.incarnation)).toEqual([0, 1]);
    expect(started('a').length).toBe(1);
    expect(started('c').length).toBe(1);
  });

  it('one_for_all restarts every child', async () => {
    await threeCounters({ strategy: 'one_for_all' });
    sim.send('b', { cmd: 'boom' });
    await sim.sleep(100);
    expect(await counts()).toEqual([0, 0, 0]);
    for (const id of ['a', 'b', 'c']) expect(started(id).map((e) => e.incarnation)).toEqual([0, 1]);
  });

  it('rest_for_one restarts the crashed child and the ones after it', async () => {
    await threeCounters({ strategy: 'rest_for_one' });
    sim.send('b', { cmd: 'boom' });
    await sim.sleep(100);
    expect(await counts()).toEqual([3, 0, 0]);
    expect(started('a').length).toBe(1);
    expect(started('b').length).toBe(2);
    expect(started('c').length).toBe(2);
  });

  it('after a crash, permanent and transient children are restarted and temporary ones are not', async () => {
    sim = new SimHost({ seed: 3 });
    sim.supervise({
      id: 'root',
      children: [
        probeSpec('p', 'counter', { restart: 'permanent' }),
        probeSpec('t', 'counter', { restart: 'transient' }),
        probeSpec('x', 'counter', { restart: 'temporary' }),
      ],
    });
    for (const id of ['p', 't', 'x']) sim.send(id, { cmd: 'boom' });
    await sim.sleep(1_000);
    expect(sim.isRunning('p')).toBe(true);
    expect(sim.isRunning('t')).toBe(true);
    expect(sim.isRunning('x')).toBe(false);
    expect(await sim.ask('p', { cmd: 'count' })).toBe(0);
    expect(await sim.ask('t', { cmd: 'count' })).toBe(0);
    expect(await rejectionOf(sim.ask('x', { cmd: 'count' }))).toBeInstanceOf(ActorUnavailableError);
    expect(await sim.status('x')).toMatchObject({ state: 'dead' });
    expect(restarting('x')).toEqual([]);
  });

  it('exhausting the restart intensity emits gave_up and stops restarting', async () => {
    sim = new SimHost({ seed: 3 });
    sim.supervise({ id: 'root', maxRestarts: 2, periodMs: 10_000, children: [probeSpec('a', 'counter'), probeSpec('b', 'counter')] });
    for (let i = 0; i < 3; i++) {
      expect(await sim.runUntil(() => sim.isRunning('a'), 1_000)).toBe(true);
      sim.send('a', { cmd: 'boom' });
      await sim.sleep(1);
    }
    await sim.sleep(5_000);
    const gaveUp = sim.events.filter((e) => e.type === 'gave_up');
    expect(gaveUp).toHaveLength(1);
    expect(gaveUp[0]).toMatchObject({ supervisor: 'root' });
    expect(started('a').map((e) => e.incarnation)).toEqual([0, 1, 2]);
    expect(sim.isRunning('a')).toBe(false);
    expect(sim.isRunning('b')).toBe(false); // the supervisor stops all its children when it gives up
    expect(await rejectionOf(sim.ask('b', { cmd: 'count' }))).toBeInstanceOf(ActorUnavailableError);
  });

  it('back-off grows exponentially within the jitter bounds, and restarts happen at those virtual times', async () => {
    sim = new SimHost({ seed: 9 });
    const initialMs = 100;
    const jitter = 0.2;
    sim.supervise({ id: 'root', maxRestarts: 100, periodMs: 1e9, backoff: { initialMs, maxMs: 1e6, jitter }, children: [probeSpec('a', 'counter')] });
    const rounds = 6;
    for (let i = 0; i < rounds; i++) {
      expect(await sim.runUntil(() => sim.isRunning('a'), 1e6)).toBe(true);
      await sim.sleep(1);
      sim.crash('a');
    }
    await sim.runUntil(() => sim.isRunning('a'), 1e6);
    const delays = restarting('a').map((e) => e.delayMs);
    expect(delays).toHaveLength(rounds);
    const factors = delays.map((d, i) => d / (initialMs * 2 ** i));
    for (const f of factors) {
      expect(f).toBeGreaterThanOrEqual(1 - jitter);
      expect(f).toBeLessThanOrEqual(1 + jitter);
    }
    expect(new Set(factors.map((f) => f.toFixed(6))).size).toBeGreaterThan(1); // jitter is applied
    // Each restart starts exactly its delay after the crash, on the virtual clock.
    const crashes = crashed('a');
    const starts = started('a').slice(1);
    for (let i = 0; i < rounds; i++) expect(starts[i]!.time - crashes[i]!.time).toBeCloseTo(delays[i]!, 9);
  });

  it('events come in causal order even when onStart throws at once', async () => {
    sim = new SimHost({ seed: 3 });
    sim.supervise({ id: 'root', backoff: { jitter: 0 }, children: [probeSpec('f', 'failingStart', { args: { failures: 2 } })] });
    expect(await sim.runUntil(() => sim.isRunning('f') && started('f').length === 3, 1_000)).toBe(true);
    expect(await sim.ask('f', { cmd: 'incarnation' })).toBe(2);
    const trail = sim.events.filter((e) => 'actor' in e && e.actor === 'f').map((e) => (e.type === 'started' ? `started#${e.incarnation}` : e.type));
    expect(trail).toEqual(['started#0', 'crashed', 'restarting', 'started#1', 'crashed', 'restarting', 'started#2']);
    expect(crashed('f').map((e) => e.reason)).toEqual(['Error: onStart failure 1 of 2', 'Error: onStart failure 2 of 2']);
  });
});

describe('SimHost crashes and durability', () => {
  it('an actor that throws in onMessage is crashed, logged and restarted', async () => {
    const log = captureLogger();
    sim = new SimHost({ seed: 3, logger: log.logger });
    sim.supervise({ id: 'root', children: [probeSpec('c', 'counter')] });
    sim.send('c', 1);
    // The ask that makes it throw fails at once: the actor dies before it can answer.
    const err = await rejectionOf(sim.ask('c', { cmd: 'boom' }, { timeoutMs: 60_000 }));
    expect(err).toBeInstanceOf(ActorUnavailableError);
    expect(sim.now()).toBeLessThan(10);
    expect(crashed('c')).toEqual([expect.objectContaining({ reason: 'Error: boom requested' })]);
    const line = log.lines().find((l) => l.msg === 'actor crashed');
    expect(line).toMatchObject({ actor: 'c', role: 'counter', level: 50 });
    expect((line!.err as { message: string }).message).toBe('boom requested');
    await sim.runUntil(() => sim.isRunning('c'), 1_000);
    expect(await sim.ask('c', { cmd: 'count' })).toBe(0); // memory state is gone
    expect(started('c').map((e) => e.incarnation)).toEqual([0, 1]);
  });

  it('an async onMessage that rejects crashes the actor too', async () => {
    sim = new SimHost({ seed: 3 });
    const failing = (): Actor => ({
      async onMessage() {
        await null;
        throw new Error('late failure');
      },
    });
    sim.supervise({ id: 'root', children: [inlineSpec('f', failing)] });
    sim.send('f', 'go');
    await sim.sleep(50);
    expect(crashed('f').map((e) => e.reason)).toEqual(['Error: late failure']);
    expect(started('f').length).toBe(2);
  });

  it('durable state survives a crash and restart', async () => {
    sim = new SimHost({ seed: 3 });
    sim.supervise({ id: 'root', children: [probeSpec('d', 'durableCounter')] });
    for (let i = 1; i <= 3; i++) expect(await sim.ask('d', { cmd: 'incr' })).toBe(i);
    sim.crash('d');
    await sim.runUntil(() => sim.isRunning('d'), 1_000);
    expect(await sim.ask('d', { cmd: 'get' })).toEqual({ value: 3, incarnation: 1 });
    expect(await sim.ask('d', { cmd: 'incr' })).toBe(4);
    // A manual crash then restart() also recovers from the store alone.
    sim.crash('d', { restart: 'manual' });
    await sim.sleep(1_000);
    expect(sim.isRunning('d')).toBe(false);
    sim.restart('d');
    expect(await sim.ask('d', { cmd: 'get' })).toEqual({ value: 4, incarnation: 2 });
    // With its disk wiped, it starts from nothing.
    sim.wipeStores('d');
    sim.restart('d');
    expect(await sim.ask('d', { cmd: 'get' })).toEqual({ value: 0, incarnation: 3 });
  });
});

describe('SimHost asks', () => {
  it('an ask to a crashed actor rejects at once', async () => {
    sim = new SimHost({ seed: 3 });
    sim.supervise({ id: 'root', children: [probeSpec('e', 'echo')] });
    expect(await sim.ask('e', 'hi')).toBe('hi');
    sim.crash('e', { restart: 'manual' });
    const t0 = sim.now();
    const err = await rejectionOf(sim.ask('e', 'hi', { timeoutMs: 60_000 }));
    expect(err).toBeInstanceOf(ActorUnavailableError);
    expect((err as ActorUnavailableError).actor).toBe('e');
    expect(sim.now()).toBe(t0);
  });

  it('an ask in flight when its destination crashes rejects at once', async () => {
    sim = new SimHost({ seed: 3 });
    sim.supervise({ id: 'root', children: [probeSpec('s', 'slow')] });
    const pending = sim.ask('s', { cmd: 'slow', ms: 10_000 }, { timeoutMs: 60_000 });
    await sim.sleep(5);
    expect(await sim.status('s')).toMatchObject({ owed: 1 });
    sim.crash('s');
    const t0 = sim.now();
    expect(await rejectionOf(pending)).toBeInstanceOf(ActorUnavailableError);
    expect(sim.now()).toBe(t0);
  });

  it("an actor's own ask in flight to a crashing actor rejects at once", async () => {
    sim = new SimHost({ seed: 3 });
    sim.supervise({ id: 'root', children: [probeSpec('e', 'echo'), probeSpec('s', 'slow')] });
    // echo forwards with a 1 s timeout: a rejection that took that long would be a timeout.
    const pending = sim.ask('e', { cmd: 'forward', to: 's', payload: { cmd: 'slow', ms: 10_000 } }, { timeoutMs: 60_000 });
    await sim.sleep(5);
    expect(await sim.status('s')).toMatchObject({ owed: 1 });
    sim.crash('s');
    const err = await rejectionOf(pending);
    expect(err).toBeInstanceOf(ActorUnavailableError);
    expect((err as ActorUnavailableError).actor).toBe('s');
    expect(sim.now()).toBeLessThan(20);
  });

  it('an ask with no reply times out with AskTimeoutError at its timeout', async () => {
    sim = new SimHost({ seed: 3 });
    sim.supervise({ id: 'root', children: [probeSpec('c', 'counter')] });
    const err = await rejectionOf(sim.ask('c', { keep: true }, { timeoutMs: 100 }));
    expect(err).toBeInstanceOf(AskTimeoutError);
    expect((err as AskTimeoutError).timeoutMs).toBe(100);
    expect(sim.now()).toBeCloseTo(100, 6);
  });

  it("an actor's asks each time out at their own deadline, whatever order they were made in", async () => {
    sim = new SimHost({ seed: 3 });
    const outcomes: string[] = [];
    const asker: Actor = {
      onMessage(ctx, _from, msg) {
        if ((msg as { cmd?: string }).cmd !== 'go') return;
        const t0 = ctx.now();
        // The slow actor answers every ask after 150 ms: only the asks that give up sooner fail.
        for (const timeoutMs of [300, 100, 200, 40, 5_000, 149]) {
          ctx.ask('s', { cmd: 'slow', ms: 150, value: timeoutMs }, { timeoutMs }).then(
            (v) => outcomes.push(`${timeoutMs}: answered ${String(v)} after ${ctx.now() - t0 >= 150 ? '150 ms' : 'less'}`),
            (e: Error) => outcomes.push(`${timeoutMs}: ${e.name} at ${ctx.now() - t0}`),
          );
        }
      },
    };
    sim.supervise({ id: 'root', children: [probeSpec('s', 'slow'), inlineSpec('asker', () => asker)] });
    sim.send('asker', { cmd: 'go' });
    await sim.sleep(10_000);
    expect(outcomes).toEqual([
      '40: AskTimeoutError at 40',
      '100: AskTimeoutError at 100',
      '149: AskTimeoutError at 149',
      '300: answered 300 after 150 ms',
      '200: answered 200 after 150 ms',
      '5000: answered 5000 after 150 ms',
    ]);
  });

  it('a send to an unknown actor throws UnknownActorError and an ask rejects with it', async () => {
    sim = new SimHost({ seed: 3 });
    sim.supervise({ id: 'root', children: [probeSpec('e', 'echo')] });
    expect(() => sim.send('nobody', 1)).toThrow(UnknownActorError);
    expect(await rejectionOf(sim.ask('nobody', 1))).toBeInstanceOf(UnknownActorError);
    // From inside an actor too: echo's ask fails and it answers with that error.
    const err = await rejectionOf(sim.ask('e', { cmd: 'forward', to: 'nobody', payload: 1 }));
    expect(err).toBeInstanceOf(UnknownActorError);
    expect((err as UnknownActorError).actor).toBe('nobody');
    expect(() => sim.crash('nobody')).toThrow(UnknownActorError);
    expect(() => sim.pause('nobody')).toThrow(UnknownActorError);
  });
});

describe('SimHost pause, resume and mailbox bounds', () => {
  /** Records every message and its own timer's firing, in the order it processes them. */
  function recorder(): Actor {
    const seen: string[] = [];
    return {
      onStart(ctx) {
        ctx.setTimer(10, () => seen.push('timer'));
      },
      onMessage(_ctx, _from, msg) {
        seen.push(String(msg));
      },
      status: () => ({ seen: [...seen] }),
    };
  }

  it('messages and timers wait while paused and run in arrival order after resume', async () => {
    sim = new SimHost({ seed: 3 });
    sim.supervise({ id: 'root', children: [inlineSpec('r', recorder)] });
    sim.pause('r');
    sim.send('r', 'm1');
    await sim.sleep(20); // m1 arrives, then the timer fires at t=10
    sim.send('r', 'm2');
    sim.send('r', 'm3');
    await sim.sleep(20);
    expect(await sim.status('r')).toMatchObject({ seen: [], paused: true });
    expect((await sim.metrics('r')).mailboxDepth).toBe(4);
    sim.resume('r');
    expect(await sim.status('r')).toMatchObject({ seen: ['m1', 'timer', 'm2', 'm3'], paused: false });
    sim.send('r', 'm4');
    await sim.sleep(5);
    expect(await sim.status('r')).toMatchObject({ seen: ['m1', 'timer', 'm2', 'm3', 'm4'] });
  });

  it('a paused actor answers a waiting ask after resume', async () => {
    sim = new SimHost({ seed: 3 });
    sim.supervise({ id: 'root', children: [probeSpec('e', 'echo')] });
    sim.pause('e');
    let answer: unknown = null;
    const pending = sim.ask('e', 'q', { timeoutMs: 1_000 }).then((v) => (answer = v));
    await sim.sleep(500);
    expect(answer).toBeNull();
    sim.resume('e');
    await pending;
    expect(answer).toBe('q');
    expect(sim.now()).toBeLessThan(510);
  });

  it('a full mailbox counts overflows and refuses an ask with MailboxFullError', async () => {
    sim = new SimHost({ seed: 3 });
    sim.supervise({ id: 'root', children: [probeSpec('c', 'counter', { mailboxLimit: 5 })] });
    sim.pause('c');
    for (let i = 0; i < 8; i++) sim.send('c', i);
    await sim.sleep(5);
    let m = await sim.metrics('c');
    expect(m.mailboxDepth).toBe(5);
    expect(m.overflows).toBe(3);
    const err = await rejectionOf(sim.ask('c', { cmd: 'count' }, { timeoutMs: 60_000 }));
    expect(err).toBeInstanceOf(MailboxFullError);
    expect((err as MailboxFullError).actor).toBe('c');
    m = await sim.metrics('c');
    expect(m.overflows).toBe(4);
    sim.resume('c');
    expect(await sim.ask('c', { cmd: 'count' })).toBe(5);
    expect((await sim.metrics('c')).mailboxDepth).toBe(0);
  });
});

describe('SimHost clock', () => {
  it('code after a sleep runs at the instant the sleep ends, even while an ask is outstanding', async () => {
    sim = new SimHost({ seed: 3 });
    sim.supervise({ id: 'root', children: [probeSpec('s', 'slow')] });
    const pending = sim.ask('s', { cmd: 'slow', ms: 1_000, value: 'done' }, { timeoutMs: 5_000 });
    await sim.sleep(10);
    expect(sim.now()).toBe(10);
    await sim.sleep(100);
    expect(sim.now()).toBe(110);
    expect(await pending).toBe('done');
    expect(sim.now()).toBeGreaterThan(1_000);
    expect(sim.now()).toBeLessThan(1_010);
  });

  it('time stands still while nobody waits on the simulation', async () => {
    sim = new SimHost({ seed: 3 });
    sim.supervise({ id: 'root', children: [probeSpec('c', 'counter')] });
    sim.send('c', 1);
    await new Promise((r) => setTimeout(r, 20));
    expect(sim.now()).toBe(0);
    expect((await sim.metrics('c')).msgsIn).toBe(0);
    await sim.sleep(5);
    expect((await sim.metrics('c')).msgsIn).toBe(1);
  });
});
