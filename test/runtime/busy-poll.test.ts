// The Router's busy polling, white-box on this thread: a producer worker streams frames into a
// port with gaps far below the poll budget, so the router takes them by polling, and the test
// checks that order holds and that the event loop (timers) still gets the thread back.
import { MessageChannel, Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { ActorCell } from '../../runtime/cell.js';
import type { Router } from '../../runtime/router.js';
import { testRouter } from './helpers.js';

const codecUrl = new URL('../../dist/runtime/codec.js', import.meta.url).href;

/** Posts `count` frames, each one send of its sequence number to `sink`, `gapUs` apart. */
const PRODUCER = `
const { workerData, parentPort } = require('node:worker_threads');
import(workerData.codecUrl).then(({ encodeFrame }) => {
  const { port, count, gapUs } = workerData;
  for (let n = 0; n < count; n++) {
    // Each gap counts from the previous post: a producer that was descheduled does not catch up
    // with a burst.
    const due = performance.now() + gapUs / 1000;
    while (performance.now() < due) {}
    const frame = encodeFrame([[0, 'sink', 'src', 0, n]]);
    port.postMessage(frame, [frame]);
  }
  parentPort.postMessage('done');
});
`;

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0)) await f();
});

function routerWithSink(): { router: Router; seen: number[] } {
  const router = testRouter();
  const seen: number[] = [];
  router.setLocation('sink', 0, null);
  router.setLocation('src', 1, null);
  const cell = new ActorCell({ id: 'sink', role: 'test', module: '' }, { onMessage: (_ctx, _from, msg) => void seen.push(msg as number) }, router.platform, 0);
  router.addCell(cell);
  void cell.start();
  cleanup.push(() => router.closeAll());
  return { router, seen };
}

function produce(router: Router, count: number, gapUs: number): Promise<void> {
  const { port1, port2 } = new MessageChannel();
  router.addPort(1, port1);
  const worker = new Worker(PRODUCER, { eval: true, workerData: { port: port2, count, gapUs, codecUrl }, transferList: [port2] });
  cleanup.push(() => worker.terminate());
  return new Promise((resolve, reject) => {
    worker.once('message', () => resolve());
    worker.once('error', reject);
  });
}

async function until(cond: () => boolean, what: string): Promise<void> {
  const end = Date.now() + 20_000;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('Router busy polling', () => {
  it('takes a close stream of frames by polling, in order, and still lets a timer fire mid-stream', async () => {
    const { router, seen } = routerWithSink();
    router.setBusyPoll(5_000); // far above the gaps: a poll practically never comes back empty
    const count = 15_000;
    const done = produce(router, count, 20); // 300 ms of frames, 20 µs apart
    await until(() => seen.length > 0, 'the stream to start');
    // Polling holds the thread in microtasks while frames keep coming; a timer due 50 ms into the
    // 300 ms stream must still fire long before its end.
    const seenWhenFired = await new Promise<number>((resolve) => setTimeout(() => resolve(seen.length), 50));
    expect(seenWhenFired).toBeLessThan(count / 2);
    expect(router.framesPolled).toBeGreaterThan(0);
    await done;
    await until(() => seen.length === count, 'every frame');
    expect(seen).toEqual(Array.from({ length: count }, (_, i) => i));
    // How many come by polling depends on the load on the machine: frames that queue up while
    // this thread is descheduled come as one burst of events.
    expect(router.framesPolled).toBeGreaterThan(0);
  });

  it('never polls when off, and does not spin for frames that come far apart when on', async () => {
    const off = routerWithSink();
    await produce(off.router, 200, 20);
    await until(() => off.seen.length === 200, 'every frame');
    expect(off.router.framesPolled).toBe(0);
    expect(off.router.pollsEmpty).toBe(0);
    expect(off.router.framesWoken).toBe(200);

    const on = routerWithSink();
    on.router.setBusyPoll(200);
    // Frames 20 ms apart: polling would find nothing after any of them, so it should not arm.
    // Armed every time, it would spin in vain after each of the 20. (A thread stalled for most
    // of a gap sees the next frame right after going idle and arms once: on a loaded machine
    // that happens a few times, hence the slack.)
    await produce(on.router, 20, 20_000);
    await until(() => on.seen.length === 20, 'every frame');
    expect(on.router.pollsEmpty).toBeLessThanOrEqual(6);
    expect(on.seen).toEqual(Array.from({ length: 20 }, (_, i) => i));
  });
});
