// The Router's send path, white-box on this thread: it remembers the last destination's
// outbox, so the test moves, downs and forgets that destination between bursts and checks
// that every frame still goes where the directory says at the time of the send.
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { ActorCell } from '../../runtime/cell.js';
import { decodeFrame, REPLY_ERROR, SEND, type Envelope } from '../../runtime/codec.js';
import { UnknownActorError } from '../../runtime/errors.js';
import type { Router } from '../../runtime/router.js';
import { testRouter } from './helpers.js';

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0)) await f();
});

function newRouter(): Router {
  const router = testRouter();
  cleanup.push(() => router.closeAll());
  return router;
}

/** A port for `slot` whose far end collects the envelopes that arrive on it. */
function collectingPort(router: Router, slot: number): { envs: Envelope[]; far: MessagePort } {
  const { port1, port2 } = new MessageChannel();
  router.addPort(slot, port1);
  const envs: Envelope[] = [];
  port2.on('message', (frame: ArrayBuffer) => envs.push(...decodeFrame(frame)));
  cleanup.push(() => port2.close());
  return { envs, far: port2 };
}

const settle = () => new Promise((r) => setTimeout(r, 20));

describe('Router send path', () => {
  it('follows a destination that moves, goes down, comes back and is forgotten', async () => {
    const router = newRouter();
    const one = collectingPort(router, 1);
    const two = collectingPort(router, 2);
    const seen: unknown[] = [];
    router.setLocation('me', 0, null);
    const me = new ActorCell({ id: 'me', role: 'test', module: '' }, { onMessage: (_c, _f, m) => void seen.push(m) }, router.platform, 0);
    router.addCell(me);
    await me.start();

    router.setLocation('x', 1, null);
    for (let i = 0; i < 3; i++) router.route(SEND, 'x', 'me', 0, `a${i}`);
    router.flush();
    // The actor moves to another thread: the next burst follows it.
    router.setLocation('x', 2, null);
    for (let i = 0; i < 3; i++) router.route(SEND, 'x', 'me', 0, `b${i}`);
    router.flush();
    // Down: sends are lost, an ask is refused with a reply to the asker.
    router.setLocation('x', 2, 'crashed');
    router.route(SEND, 'x', 'me', 0, 'lost');
    router.route(1, 'x', 'me', 7, 'ask while down');
    router.flush();
    // Back on thread 1.
    router.setLocation('x', 1, null);
    router.route(SEND, 'x', 'me', 0, 'c0');
    router.flush();
    // Forgotten: a send is an error the sender sees.
    router.forget('x');
    expect(() => router.route(SEND, 'x', 'me', 0, 'nowhere')).toThrow(UnknownActorError);
    await settle();

    expect(one.envs.map((e) => e[4])).toEqual(['a0', 'a1', 'a2', 'c0']);
    expect(two.envs.map((e) => e[4])).toEqual(['b0', 'b1', 'b2']);
    expect(seen).toEqual([]); // the refusal is a reply to an ask `me` never made: dropped
    // A closed port drops its outbox: the next send to a thread that is gone is not posted.
    router.setLocation('y', 2, null);
    router.route(SEND, 'y', 'me', 0, 'y0');
    router.closePort(2);
    router.route(SEND, 'y', 'me', 0, 'y1');
    router.flush();
    await settle();
    expect(two.envs.map((e) => e[4])).toEqual(['b0', 'b1', 'b2']);
  });

  it("charges a frame's bytes to its senders, by how many envelopes each put in it", async () => {
    const router = newRouter();
    const sizes: number[] = [];
    const { port1, port2 } = new MessageChannel();
    router.addPort(1, port1);
    port2.on('message', (frame: ArrayBuffer) => sizes.push(frame.byteLength));
    cleanup.push(() => port2.close());
    const cells = ['me', 'you'].map((id) => {
      router.setLocation(id, 0, null);
      const cell = new ActorCell({ id, role: 'test', module: '' }, { onMessage() {} }, router.platform, 0);
      router.addCell(cell);
      return cell;
    });
    router.setLocation('x', 1, null);
    for (const [from, payload] of [['me', 'a'], ['me', 'b'], ['you', 'c'], ['me', { d: 1 }]] as const) router.route(SEND, 'x', from, 0, payload);
    router.flush();
    await settle();
    expect(sizes).toHaveLength(1);
    const [me, you] = cells.map((c) => c!.metrics.bytesOut);
    expect(me! + you!).toBeCloseTo(sizes[0]!, 6);
    expect(me! / you!).toBeCloseTo(3, 6);
  });

  it('refuses an ask to a down destination even right after a burst to it', () => {
    const router = newRouter();
    collectingPort(router, 1);
    const refused: Envelope[] = [];
    router.setLocation('asker', 0, null);
    router.setLocation('x', 1, null);
    router.route(SEND, 'x', 'asker', 0, 'warm');
    router.setLocation('x', 1, 'stopped');
    // Intercept the local delivery of the refusal.
    router.addCell({ id: 'asker', isDead: false, metrics: { bytesOut: 0 }, deliverParts: (...env: Envelope) => refused.push(env), kill() {} } as unknown as ActorCell);
    router.route(1, 'x', 'asker', 5, 'please');
    router.flush();
    expect(refused).toHaveLength(1);
    expect(refused[0]![0]).toBe(REPLY_ERROR);
    expect(refused[0]![3]).toBe(5);
  });
});
