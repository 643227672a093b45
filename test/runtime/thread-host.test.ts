// ThreadHost on real worker threads. Workers run the compiled tree: `node scripts/build.mjs`
// must have run first (npm test does).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MessagePort, Worker } from 'node:worker_threads';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ActorUnavailableError, AskTimeoutError, MailboxFullError, UnknownActorError } from '../../runtime/errors.js';
import { threadPolicies } from '../../runtime/sched.js';
import { AUTO_BUSY_POLL_US, ThreadHost, type ThreadHostOptions } from '../../runtime/thread-host.js';
import { canSetPolicy, eventually, rejectionOf, threadSpec } from './helpers.js';

type Tally = Record<string, number>;
type ThreadSpecList = ReturnType<typeof threadSpec>[];

const hosts: { host: ThreadHost; dir: string }[] = [];

function newHost(options: ThreadHostOptions = {}): ThreadHost {
  const dir = mkdtempSync(join(tmpdir(), 'actorkube-test-'));
  const host = new ThreadHost({ dataDir: dir, logLevel: 'silent', shutdownGraceMs: 1_000, ...options });
  hosts.push({ host, dir });
  return host;
}

/** The Worker objects behind a host's live slots (white-box: for exit checks and port access). */
function workersOf(host: ThreadHost): Worker[] {
  return [...(host as unknown as { slots: Map<number, { worker: Worker }> }).slots.values()].map((s) => s.worker);
}

/** Shuts a host down and checks that no worker thread it started is left running. */
async function shutdownAndCheck(host: ThreadHost): Promise<void> {
  const workers = workersOf(host);
  const exited = workers.map((w) => new Promise<void>((resolve) => (w.threadId === -1 ? resolve() : w.once('exit', () => resolve()))));
  await host.shutdown();
  expect(host.workerCount).toBe(0);
  await Promise.all(exited);
  for (const w of workers) expect(w.threadId).toBe(-1);
}

beforeAll(() => {
  if (!existsSync(new URL('../../dist/runtime/worker.js', import.meta.url))) {
    throw new Error('dist/ is missing: run `node scripts/build.mjs` before the ThreadHost tests');
  }
});

afterEach(async () => {
  for (const { host, dir } of hosts.splice(0)) {
    await shutdownAndCheck(host);
    rmSync(dir, { recursive: true, force: true });
  }
});

describe('ThreadHost placement and shutdown', () => {
  it('hosts many actors per worker: 200 counters in 4 groups on 4 workers, all reachable', async () => {
    const host = newHost();
    const ids = Array.from({ length: 200 }, (_, i) => `k${i}`);
    host.supervise({ id: 'root', children: ids.map((id, i) => threadSpec(id, 'counter', { group: `g${i % 4}` })) });
    expect(host.workerCount).toBe(4);
    for (const id of ids) for (let j = 0; j < 3; j++) host.send(id, { j });
    const counts = await Promise.all(ids.map((id) => host.ask<number>(id, { cmd: 'count' })));
    expect(counts).toEqual(ids.map(() => 3));
    expect(new Set(workersOf(host).map((w) => w.threadId)).size).toBe(4);
  });

  it('flush() posts what a turn sent so far: the receiver handles it while the sender is still blocked', async () => {
    const host = newHost();
    host.supervise({ id: 'root', children: [threadSpec('a', 'echo'), threadSpec('b', 'echo')] });
    // Without flush the ask leaves when a's turn ends, so b answers after the block.
    const [endedLate, answeredLate] = await host.ask<[number, number]>('a', { cmd: 'sendThenBlock', to: 'b', ms: 300, flush: false });
    expect(answeredLate).toBeGreaterThanOrEqual(endedLate);
    // With flush, b answers during a's 300 ms block.
    const [ended, answered] = await host.ask<[number, number]>('a', { cmd: 'sendThenBlock', to: 'b', ms: 300, flush: true });
    expect(answered).toBeLessThan(ended);
  });

  it('leaves no worker running after shutdown', async () => {
    const host = newHost();
    host.supervise({
      id: 'root',
      children: [threadSpec('e', 'echo'), threadSpec('c', 'counter'), threadSpec('s', 'slow', { group: 'shared' }), threadSpec('t', 'slow', { group: 'shared' })],
    });
    expect(await host.ask('e', 'hi')).toBe('hi');
    // A reply still owed at shutdown must not keep anything alive.
    void host.ask('s', { cmd: 'slow', ms: 15_000 }, { timeoutMs: 20_000 }).catch(() => undefined);
    expect(host.workerCount).toBe(3);
    expect(host.workerThreadIds()).toHaveLength(3);
    hosts.splice(0);
    await shutdownAndCheck(host);
    expect(host.workerThreadIds()).toEqual([]);
  });
});

describe('ThreadHost asks and errors', () => {
  it('a send to an unknown actor throws UnknownActorError and an ask rejects with it', async () => {
    const host = newHost();
    host.supervise({ id: 'root', children: [threadSpec('e', 'echo')] });
    expect(() => host.send('nobody', 1)).toThrow(UnknownActorError);
    expect(await rejectionOf(host.ask('nobody', 1))).toBeInstanceOf(UnknownActorError);
    const err = await rejectionOf(host.ask('e', { cmd: 'forward', to: 'nobody', payload: 1 }));
    expect(err).toBeInstanceOf(UnknownActorError);
    expect((err as UnknownActorError).actor).toBe('nobody');
  });

  it('asks to a crashed actor reject at once, including asks in flight when it crashes', async () => {
    const host = newHost();
    host.supervise({ id: 'root', children: [threadSpec('e', 'echo'), threadSpec('s', 'slow')] });
    expect(await host.ask('s', 'ping')).toBe('ping');

    // In flight from the host: the reply is 15 s away and the timeout 20 s.
    const pending = host.ask('s', { cmd: 'slow', ms: 15_000 }, { timeoutMs: 20_000 });
    await eventually(async () => ((await host.status('s')).owed === 1 ? true : undefined), 5_000, 'the slow ask to arrive');
    const t0 = Date.now();
    host.crash('s', { restart: 'manual' });
    expect(await rejectionOf(pending)).toBeInstanceOf(ActorUnavailableError);
    expect(Date.now() - t0).toBeLessThan(5_000);

    // Down: a new ask rejects without waiting.
    const err = await rejectionOf(host.ask('s', 'ping', { timeoutMs: 20_000 }));
    expect(err).toBeInstanceOf(ActorUnavailableError);
    expect((err as ActorUnavailableError).actor).toBe('s');
    expect(await host.status('s')).toMatchObject({ state: 'dead' });

    // Back up, then an actor's own ask in flight (echo forwards with a 1 s timeout, so a timeout
    // would come back as a RemoteError, not ActorUnavailableError).
    host.restart('s');
    expect(await host.ask('s', 'ping')).toBe('ping');
    const forwarded = host.ask('e', { cmd: 'forward', to: 's', payload: { cmd: 'slow', ms: 15_000 } }, { timeoutMs: 20_000 });
    await eventually(async () => ((await host.status('s')).owed === 1 ? true : undefined), 5_000, 'the forwarded ask to arrive');
    host.crash('s');
    const err2 = await rejectionOf(forwarded);
    expect(err2).toBeInstanceOf(ActorUnavailableError);
    expect((err2 as ActorUnavailableError).actor).toBe('s');
  });

  it('an ask with no timely reply rejects with AskTimeoutError', async () => {
    const host = newHost();
    host.supervise({ id: 'root', children: [threadSpec('s', 'slow')] });
    const err = await rejectionOf(host.ask('s', { cmd: 'slow', ms: 5_000 }, { timeoutMs: 50 }));
    expect(err).toBeInstanceOf(AskTimeoutError);
    expect((err as AskTimeoutError).timeoutMs).toBe(50);
    // The actor itself is fine.
    expect(await host.ask('s', 'ping')).toBe('ping');
  });
});

describe('ThreadHost crashes and durability', () => {
  it('an actor that throws in onMessage is crashed, logged and restarted', async () => {
    const logDir = mkdtempSync(join(tmpdir(), 'actorkube-log-'));
    const logFile = join(logDir, 'cluster.log');
    try {
      const host = newHost({ logLevel: 'error', logDestination: logFile });
      host.supervise({ id: 'root', children: [threadSpec('c', 'counter'), threadSpec('f', 'failingStart', { args: { failures: 2 } })] });
      host.send('c', 1);
      expect(await host.ask('c', { cmd: 'count' })).toBe(1);
      expect(await rejectionOf(host.ask('c', { cmd: 'boom' }, { timeoutMs: 20_000 }))).toBeInstanceOf(ActorUnavailableError);
      const count = await eventually(() => host.ask<number>('c', { cmd: 'count' }), 5_000, 'the counter to come back');
      expect(count).toBe(0);
      const crashes = host.events.filter((e) => e.type === 'crashed' && e.actor === 'c');
      expect(crashes).toEqual([expect.objectContaining({ reason: 'Error: boom requested' })]);

      // An actor that throws in onStart is restarted until it comes up.
      expect(await eventually(() => host.ask<number>('f', { cmd: 'incarnation' }), 5_000, 'failingStart to come up')).toBe(2);
      expect(host.events.filter((e) => e.type === 'crashed' && e.actor === 'f').map((e) => (e as { reason: string }).reason)).toEqual([
        'Error: onStart failure 1 of 2',
        'Error: onStart failure 2 of 2',
      ]);

      const lines = readFileSync(logFile, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { msg: string; actor?: string; err?: { message: string } });
      const line = lines.find((l) => l.msg === 'actor crashed' && l.actor === 'c');
      expect(line?.err?.message).toBe('boom requested');
    } finally {
      rmSync(logDir, { recursive: true, force: true });
    }
  });

  it('crashing one actor of a shared worker leaves its neighbour running on that worker', async () => {
    const host = newHost();
    host.supervise({ id: 'root', children: [threadSpec('x', 'counter', { group: 'g' }), threadSpec('y', 'counter', { group: 'g' })] });
    host.send('x', 1);
    host.send('y', 1);
    expect(await host.ask('x', { cmd: 'count' })).toBe(1);
    expect(await host.ask('y', { cmd: 'count' })).toBe(1);
    const [thread] = workersOf(host).map((w) => w.threadId);
    host.crash('x');
    expect(await eventually(() => host.ask<number>('x', { cmd: 'count' }), 5_000, 'x to come back')).toBe(0);
    expect(await host.ask('y', { cmd: 'count' })).toBe(1);
    expect(workersOf(host).map((w) => w.threadId)).toEqual([thread]);
  });

  it('durable state in lmdb survives a crash and a restart of the whole host', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'actorkube-lmdb-'));
    try {
      const host = newHost({ dataDir });
      host.supervise({ id: 'root', children: [threadSpec('d', 'durableCounter')] });
      for (let i = 1; i <= 3; i++) expect(await host.ask('d', { cmd: 'incr' })).toBe(i);
      host.crash('d');
      const after = await eventually(() => host.ask('d', { cmd: 'get' }), 5_000, 'the durable counter to restart');
      expect(after).toEqual({ value: 3, incarnation: 1 });
      expect(await host.ask('d', { cmd: 'incr' })).toBe(4);
      hosts.splice(0);
      await shutdownAndCheck(host);

      const again = newHost({ dataDir });
      again.supervise({ id: 'root', children: [threadSpec('d', 'durableCounter')] });
      expect(await again.ask('d', { cmd: 'get' })).toEqual({ value: 4, incarnation: 0 });
    } finally {
      for (const { host } of hosts.splice(0)) await shutdownAndCheck(host);
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('repeated worker crashes under heavy traffic never take the process down, and the sink comes back', async () => {
    const host = newHost();
    host.supervise({ id: 'root', maxRestarts: 100, children: [threadSpec('sink', 'counter'), threadSpec('b', 'burster')] });
    expect(await host.ask('b', { cmd: 'start', to: 'sink', perTick: 200 })).toBe(true);
    await eventually(async () => (await host.ask<number>('sink', { cmd: 'count' })) > 1_000, 5_000, 'traffic to flow');
    const crashes = 6;
    for (let i = 0; i < crashes; i++) {
      host.crash('sink');
      // Up again and counting the burst from scratch.
      await eventually(async () => (await host.ask<number>('sink', { cmd: 'count' })) > 200, 5_000, `the sink to come back (${i + 1})`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const c1 = await host.ask<number>('sink', { cmd: 'count' });
    await eventually(async () => (await host.ask<number>('sink', { cmd: 'count' })) > c1, 5_000, 'the sink to keep counting');
    const sent = await host.ask<number>('b', { cmd: 'stop' });
    expect(sent).toBeGreaterThan(0);
    const sinkEvents = host.events.filter((e) => 'actor' in e && e.actor === 'sink');
    expect(sinkEvents.filter((e) => e.type === 'crashed')).toHaveLength(crashes);
    expect(sinkEvents.filter((e) => e.type === 'started').map((e) => (e as { incarnation: number }).incarnation)).toEqual(
      Array.from({ length: crashes + 1 }, (_, i) => i),
    );
    expect(host.events.filter((e) => e.type === 'gave_up')).toEqual([]);
    // The burster was never disturbed, and only the sink's workers were replaced.
    expect(host.events.filter((e) => 'actor' in e && e.actor === 'b' && e.type === 'crashed')).toEqual([]);
    expect(host.workerCount).toBe(2);
    expect(await host.decodeErrors()).toBe(0);
  });
});

describe('ThreadHost transport', () => {
  it('a frame that fails to decode is dropped and counted, and the receiver keeps running', async () => {
    const host = newHost();
    host.supervise({ id: 'root', children: [threadSpec('c', 'counter')] });
    host.send('c', 1);
    expect(await host.ask('c', { cmd: 'count' })).toBe(1);
    // White-box: post garbage straight onto the main thread's port to c's worker.
    const internals = host as unknown as { router: { ports: Map<number, MessagePort> }; location: Map<string, number> };
    const port = internals.router.ports.get(internals.location.get('c')!)!;
    expect(port).toBeDefined();
    const garbage = [new Uint8Array([0xc1, 0xc1, 0xc1]), new Uint8Array([0x93, 0x01]), new TextEncoder().encode('not a frame')];
    for (const g of garbage) port.postMessage(g.buffer, [g.buffer]);
    host.send('c', 2);
    await eventually(async () => ((await host.decodeErrors()) === garbage.length ? true : undefined), 5_000, 'the decode errors to be counted');
    expect(await host.ask('c', { cmd: 'count' })).toBe(2);
    expect(host.events.filter((e) => e.type === 'crashed')).toEqual([]);
  });

  it('a one-way block on real threads drops only that direction', async () => {
    const host = newHost();
    host.supervise({ id: 'root', children: [threadSpec('a', 'peer'), threadSpec('b', 'peer')] });
    // Both are up first: a drop is counted by the receiving cell, so it must exist by then.
    expect(await host.ask('a', { cmd: 'tally' })).toEqual({});
    expect(await host.ask('b', { cmd: 'tally' })).toEqual({});
    host.faults.block('a', 'b');
    // Fault changes travel to workers on the control channel, actor frames on their own:
    // settled() makes sure b's thread has the block before a sends.
    await host.settled();
    await host.ask('a', { cmd: 'fanout', to: ['b'], count: 10 });
    await host.ask('b', { cmd: 'fanout', to: ['a'], count: 10 });
    await eventually(async () => ((await host.ask<Tally>('a', { cmd: 'tally' })).b === 10 ? true : undefined), 5_000, 'b>a traffic');
    // a's messages did reach b's thread, where the fault dropped them on arrival.
    await eventually(async () => ((await host.metrics('b')).faultDrops === 10 ? true : undefined), 5_000, 'a>b drops');
    expect(await host.ask<Tally>('b', { cmd: 'tally' })).toEqual({});
    host.faults.heal();
    await host.settled();
    await host.ask('a', { cmd: 'fanout', to: ['b'], count: 10 });
    await eventually(async () => ((await host.ask<Tally>('b', { cmd: 'tally' })).a === 10 ? true : undefined), 5_000, 'a>b after heal');
  });

  it('a fault change is in effect on every thread once settled() resolves', async () => {
    const host = newHost();
    host.supervise({ id: 'root', children: [threadSpec('a', 'peer'), threadSpec('b', 'peer')] });
    expect(await host.ask('b', { cmd: 'tally' })).toEqual({});
    // Messages that arrived at b, delivered or dropped.
    const arrived = async () => (await host.metrics('b')).faultDrops + ((await host.ask<Tally>('b', { cmd: 'tally' })).a ?? 0);
    const rounds = 10;
    for (let i = 0; i < rounds; i++) {
      host.faults.block('a', 'b');
      await host.settled();
      await host.ask('a', { cmd: 'fanout', to: ['b'], count: 1 });
      // Faults apply on arrival: the heal must wait until the blocked message has landed.
      await eventually(async () => ((await arrived()) === 2 * i + 1 ? true : undefined), 5_000, `round ${i}, blocked`);
      host.faults.heal();
      await host.settled();
      await host.ask('a', { cmd: 'fanout', to: ['b'], count: 1 });
      await eventually(async () => ((await arrived()) === 2 * i + 2 ? true : undefined), 5_000, `round ${i}, healed`);
    }
    expect((await host.ask<Tally>('b', { cmd: 'tally' })).a).toBe(rounds);
    expect((await host.metrics('b')).faultDrops).toBe(rounds);
  });

  it('a partition drops exactly the cross-group traffic, between and within workers, until healed', async () => {
    const host = newHost();
    const ids = ['a', 'b', 'c', 'd'];
    // a and b share a worker, as do c and d; the partition cuts across both workers.
    host.supervise({ id: 'root', children: ids.map((id) => threadSpec(id, 'peer', { group: id < 'c' ? 'w1' : 'w2' })) });
    for (const id of ids) expect(await host.ask(id, { cmd: 'tally' })).toEqual({});
    host.faults.partition([
      ['a', 'c'],
      ['b', 'd'],
    ]);
    await host.settled();
    for (const id of ids) await host.ask(id, { cmd: 'fanout', to: ids.filter((x) => x !== id), count: 5 });
    const expected: Record<string, Tally> = { a: { c: 5 }, c: { a: 5 }, b: { d: 5 }, d: { b: 5 } };
    await eventually(async () => {
      for (const id of ids) if (JSON.stringify(await host.ask(id, { cmd: 'tally' })) !== JSON.stringify(expected[id])) return undefined;
      return true;
    }, 5_000, 'the in-group traffic');
    // Everything sent was either delivered or dropped on arrival: 2 of 3 peers were cut off.
    await eventually(async () => {
      for (const id of ids) if ((await host.metrics(id)).faultDrops !== 10) return undefined;
      return true;
    }, 5_000, 'the cross-group drops');
    host.faults.heal();
    await host.settled();
    for (const id of ids) await host.ask(id, { cmd: 'fanout', to: ids.filter((x) => x !== id), count: 5 });
    await eventually(async () => {
      for (const id of ids) {
        const t = await host.ask<Tally>(id, { cmd: 'tally' });
        if (ids.some((from) => from !== id && (t[from] ?? 0) !== (expected[id]![from] ?? 0) + 5)) return undefined;
      }
      return true;
    }, 5_000, 'all traffic after heal');
  });

  it('pause holds messages in order and resume processes them', async () => {
    const host = newHost();
    host.supervise({ id: 'root', children: [threadSpec('p', 'peer')] });
    expect(await host.ask('p', { cmd: 'tally' })).toEqual({});
    host.pause('p');
    await host.settled();
    expect(await host.status('p')).toMatchObject({ paused: true });
    for (let seq = 0; seq < 5; seq++) host.send('p', { seq, sentAt: 0 });
    await eventually(async () => ((await host.metrics('p')).mailboxDepth === 5 ? true : undefined), 5_000, 'the messages to queue');
    let answered = false;
    const log = host.ask<[string, number][]>('p', { cmd: 'log' }).then((v) => ((answered = true), v));
    await new Promise((r) => setTimeout(r, 50));
    expect(answered).toBe(false);
    host.resume('p');
    expect((await log).map((x) => x[1])).toEqual([0, 1, 2, 3, 4]);
  });

  it('a full mailbox counts overflows and refuses an ask with MailboxFullError', async () => {
    const host = newHost();
    host.supervise({ id: 'root', children: [threadSpec('c', 'counter', { mailboxLimit: 5 })] });
    expect(await host.ask('c', { cmd: 'count' })).toBe(0);
    host.pause('c');
    await host.settled();
    expect(await host.status('c')).toMatchObject({ paused: true });
    for (let i = 0; i < 8; i++) host.send('c', i);
    const m = await eventually(async () => {
      const mm = await host.metrics('c');
      return mm.overflows === 3 ? mm : undefined;
    }, 5_000, 'the overflows to be counted');
    expect(m.mailboxDepth).toBe(5);
    const err = await rejectionOf(host.ask('c', { cmd: 'count' }, { timeoutMs: 20_000 }));
    expect(err).toBeInstanceOf(MailboxFullError);
    expect((await host.metrics('c')).overflows).toBe(4);
    host.resume('c');
    expect(await host.ask('c', { cmd: 'count' })).toBe(5);
  });
});

describe('ThreadHost busy polling', () => {
  const exchange = (host: ThreadHost, count: number) =>
    host.ask<number[]>('blaster', { cmd: 'askLatency', to: 'echo', count }, { timeoutMs: 60_000 });
  const pair = (extra: ThreadSpecList = []) => [
    threadSpec('blaster', 'blaster', { group: 'a' }),
    threadSpec('echo', 'echo', { group: 'b' }),
    ...extra,
  ];

  it('a request/response exchange is taken by polling when it is on, and never when it is off', async () => {
    const on = newHost({ busyPollUs: 1_000 });
    on.supervise({ id: 'root', children: pair() });
    expect(await exchange(on, 2_000)).toHaveLength(2_000);
    const polled = await on.transportByGroup();
    expect(polled.b!.busyPollUs).toBe(1_000);
    // Each ask and each reply is one frame. How many are polled depends on the load on the
    // machine (a descheduled thread takes what queued up as events); on an idle one, nearly all.
    expect(polled.b!.framesPolled).toBeGreaterThan(0);
    expect(polled.a!.framesPolled).toBeGreaterThan(0);

    const off = newHost({ busyPollUs: 0 });
    off.supervise({ id: 'root', children: pair() });
    expect(await exchange(off, 500)).toHaveLength(500);
    const woken = await off.transportByGroup();
    expect(woken.b).toMatchObject({ busyPollUs: 0, framesPolled: 0 });
    expect(woken.b!.framesWoken).toBeGreaterThanOrEqual(500);
  });

  it('timers and other actors on a polling thread still run while an exchange keeps it busy', async () => {
    const host = newHost({ busyPollUs: 1_000 });
    host.supervise({ id: 'root', children: pair([threadSpec('slow', 'slow', { group: 'b' })]) });
    let exchangeDone = false;
    const run = exchange(host, 20_000).then((r) => ((exchangeDone = true), r));
    await eventually(async () => ((await host.transportByGroup()).b!.framesPolled > 100 ? true : undefined), 10_000, 'polling to start');
    // A 5 ms timer on the busy thread fires long before 20,000 round trips are over.
    expect(await host.ask('slow', { cmd: 'slow', ms: 5, value: 'on time' })).toBe('on time');
    expect(exchangeDone).toBe(false);
    expect(await run).toHaveLength(20_000);
  });

  it.skipIf(process.platform !== 'linux')('reports the CPU time of each worker thread, and the busy one used more', async () => {
    const host = newHost({ busyPollUs: 0 });
    host.supervise({ id: 'root', children: [...pair(), threadSpec('idle', 'echo', { group: 'c' })] });
    expect(await host.ask('idle', 'hi')).toBe('hi');
    const before = await host.cpuByGroup();
    expect(await exchange(host, 3_000)).toHaveLength(3_000);
    const after = await host.cpuByGroup();
    expect(Object.keys(after).sort()).toEqual(['a', 'b', 'c']);
    const used = (g: string) => after[g]!.userMs + after[g]!.systemMs - before[g]!.userMs - before[g]!.systemMs;
    // 3,000 asks cost the asker tens of milliseconds; the idle worker answered nothing since.
    expect(used('a')).toBeGreaterThan(used('c'));
    expect(used('a')).toBeGreaterThan(0);
  });

  it("'auto' polls while every worker can have a core, and stops once workers outnumber cores", async () => {
    const host = newHost({ busyPollUs: 'auto' });
    host.supervise({ id: 'root', children: [threadSpec('e0', 'echo', { group: 'g0' })] });
    expect(await host.ask('e0', 'hi')).toBe('hi');
    await host.settled();
    expect((await host.transportByGroup()).g0!.busyPollUs).toBe(AUTO_BUSY_POLL_US);
    const more = Array.from({ length: availableParallelism() }, (_, i) => threadSpec(`e${i + 1}`, 'echo', { group: `g${i + 1}` }));
    host.supervise({ id: 'more', children: more });
    for (const s of more) expect(await host.ask(s.id, 'hi')).toBe('hi');
    await host.settled();
    const stats = await host.transportByGroup();
    expect(Object.keys(stats)).toHaveLength(availableParallelism() + 1);
    for (const s of Object.values(stats)) expect(s.busyPollUs).toBe(0);
  });
});

describe.skipIf(!canSetPolicy)('ThreadHost CPU scheduling policy', () => {
  const policies = () => new Set(threadPolicies().values());

  it('puts every thread under SCHED_BATCH by default, workers started later included; inherit leaves it', async () => {
    // Back to the default policy, as a process starts.
    execFileSync('chrt', ['--all-tasks', '--other', '--pid', '0', String(process.pid)]);
    const kept = newHost({ schedPolicy: 'inherit' });
    kept.supervise({ id: 'root', children: [threadSpec('k', 'counter', { group: 'kept' })] });
    expect(await kept.ask('k', { cmd: 'count' })).toBe(0);
    expect(kept.schedPolicy).toBe('normal');
    expect(policies()).toEqual(new Set(['normal']));

    const host = newHost();
    expect(host.schedPolicy).toBe('batch');
    const before = threadPolicies().size;
    host.supervise({ id: 'root', children: [threadSpec('c', 'counter', { group: 'late' })] });
    expect(await host.ask('c', { cmd: 'count' })).toBe(0);
    expect(threadPolicies().size).toBeGreaterThan(before);
    expect(policies()).toEqual(new Set(['batch']));
  });

  it('refuses an unknown policy before anything starts', () => {
    expect(() => new ThreadHost({ schedPolicy: 'fifo' as never })).toThrow(/schedPolicy must be 'batch' or 'inherit', not fifo/);
  });
});

describe('ThreadHost quiet-time collection', () => {
  /** A blaster (group a) sends `blast` to a sink (group b) on a host checking quiet every second. */
  async function blastSink(blast: Record<string, unknown>) {
    const host = newHost({ quietCheckMs: 1_000 });
    host.supervise({ id: 'root', children: [threadSpec('blaster', 'blaster', { group: 'a' }), threadSpec('sink', 'counter', { group: 'b', mailboxLimit: 1_000_000 })] });
    await host.ask('sink', { cmd: 'count' }); // started
    await host.ask('blaster', { cmd: 'blast', to: 'sink', ...blast }, { timeoutMs: 60_000 });
    const quietCollections = async () => (await host.transportByGroup()).b!.quietCollections;
    return { host, during: await host.transportByGroup(), quietCollections };
  }

  it('collects twice after a burst, once the thread has gone quiet; a thread without a burst never', async () => {
    const { host, during, quietCollections } = await blastSink({ count: 150_000, perTurn: 64, payloadBytes: 100, windowMsgs: 8_192 });
    expect(during.b!.envelopesIn).toBeGreaterThanOrEqual(150_000);
    // Checked every second here: two quiet checks in a row, then a collection, and one more a check later.
    await expect.poll(quietCollections, { timeout: 15_000, interval: 200 }).toBe(2);
    await new Promise((r) => setTimeout(r, 3_000));
    const after = await host.transportByGroup();
    expect(after.b!.quietCollections).toBe(2); // per burst
    expect(after.a!.quietCollections).toBe(0); // the blaster only received acknowledgements
  }, 40_000);

  it('refuses a check interval that is not a positive number of milliseconds', () => {
    for (const quietCheckMs of [0, -5, Number.NaN, Infinity]) {
      expect(() => new ThreadHost({ quietCheckMs }), String(quietCheckMs)).toThrow(RangeError);
    }
  });

  it('counts a burst of few, large messages as a burst too', async () => {
    // 80 MB in 400 messages: far fewer envelopes than a burst needs, but bytes enough.
    const { host, during, quietCollections } = await blastSink({ count: 400, perTurn: 1, payloadBytes: 200_000, windowMsgs: 20 });
    expect(during.b!.envelopesIn).toBeLessThan(1_000);
    expect(during.b!.bytesIn).toBeGreaterThan(64 * 1024 * 1024);
    await expect.poll(quietCollections, { timeout: 15_000, interval: 200 }).toBe(2);
    expect((await host.transportByGroup()).a!.quietCollections).toBe(0);
  }, 40_000);
});
