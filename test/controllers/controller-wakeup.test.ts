// A key added while the last worker is on its way out (it found the queue empty, and its
// `running` count has not dropped yet) must still be reconciled.
import { expect, it } from 'vitest';
import { Controller } from '../../controllers/controller.js';
import { harness, settle } from './helpers.js';

class Recorder extends Controller {
  readonly seen: string[] = [];
  private injected = false;
  override async reconcile(key: string): Promise<void> {
    this.seen.push(key);
  }
  override async processNextWorkItem(): Promise<boolean> {
    const more = await super.processNextWorkItem();
    if (!more && !this.injected) {
      this.injected = true;
      // Runs before the worker's loop sees `false`: the worker still counts as running.
      queueMicrotask(() => this.enqueueKey('default/late'));
    }
    return more;
  }
}

it('a key added as the last worker stops is reconciled (no lost wake-up)', async () => {
  const h = await harness();
  const c = new Recorder('recorder', h.ctx);
  c.start();
  c.enqueueKey('default/first');
  await settle();
  expect(c.seen).toEqual(['default/first', 'default/late']);
  expect(c.idle()).toBe(true);
});
