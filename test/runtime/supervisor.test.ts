import { describe, expect, it } from 'vitest';
import type { ActorSpec } from '../../runtime/actor.js';
import { Supervisor, type SupervisorEvent, type SupervisorHost, type SupervisorSpec } from '../../runtime/supervisor.js';

/** A SupervisorHost on a manual clock that records what the supervisor asks of it. */
class FakeHost implements SupervisorHost {
  time = 0;
  rand = 0.5;
  readonly events: SupervisorEvent[] = [];
  readonly calls: string[] = [];
  private timers: { at: number; fn: () => void; live: boolean }[] = [];

  now(): number {
    return this.time;
  }
  random(): number {
    return this.rand;
  }
  setTimer(delayMs: number, fn: () => void): unknown {
    const t = { at: this.time + delayMs, fn, live: true };
    this.timers.push(t);
    return t;
  }
  clearTimer(handle: unknown): void {
    (handle as { live: boolean }).live = false;
  }
  startChild(spec: ActorSpec, incarnation: number): void {
    this.calls.push(`start ${spec.id}#${incarnation}`);
  }
  stopChild(id: string): void {
    this.calls.push(`stop ${id}`);
  }
  emit(event: SupervisorEvent): void {
    this.events.push(event);
  }
  /** Moves the clock forward, firing due timers in time order. */
  advance(ms: number): void {
    const end = this.time + ms;
    for (;;) {
      const due = this.timers.filter((t) => t.live && t.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      due.live = false;
      this.time = due.at;
      due.fn();
    }
    this.time = end;
  }
  pendingTimers(): number {
    return this.timers.filter((t) => t.live).length;
  }
  take(): string[] {
    return this.calls.splice(0);
  }
}

const child = (id: string, restart?: ActorSpec['restart']): ActorSpec => ({ id, role: 't', module: 'm.js', ...(restart ? { restart } : {}) });

function make(spec: Partial<SupervisorSpec> = {}, ids = ['a', 'b', 'c']) {
  const host = new FakeHost();
  const sup = new Supervisor({ id: 'sup', backoff: { initialMs: 10, maxMs: 1_000, jitter: 0 }, ...spec, children: ids.map((id) => child(id)) }, host);
  host.take();
  return { host, sup };
}

describe('Supervisor (unit, fake host)', () => {
  it('starts its children in order at incarnation 0', () => {
    const host = new FakeHost();
    new Supervisor({ id: 's', children: [child('a'), child('b')] }, host);
    expect(host.calls).toEqual(['start a#0', 'start b#0']);
    expect(host.events.map((e) => e.type)).toEqual(['started', 'started']);
  });

  it('one_for_one restarts only the child that crashed, after the back-off', () => {
    const { host, sup } = make({ strategy: 'one_for_one' });
    sup.exited('b', true, 'boom');
    expect(sup.isRunning('b')).toBe(false);
    expect(host.take()).toEqual([]);
    host.advance(9);
    expect(host.take()).toEqual([]);
    host.advance(1);
    expect(host.take()).toEqual(['start b#1']);
    expect(sup.isRunning('b')).toBe(true);
  });

  it('one_for_all stops and restarts every child', () => {
    const { host, sup } = make({ strategy: 'one_for_all' });
    sup.exited('b', true, 'boom');
    expect(host.take()).toEqual(['stop a', 'stop c']);
    host.advance(10);
    expect(host.take()).toEqual(['start a#1', 'start b#1', 'start c#1']);
  });

  it('rest_for_one restarts the crashed child and those started after it', () => {
    const { host, sup } = make({ strategy: 'rest_for_one' });
    sup.exited('b', true, 'boom');
    expect(host.take()).toEqual(['stop c']);
    host.advance(10);
    expect(host.take()).toEqual(['start b#1', 'start c#1']);
    expect(sup.isRunning('a')).toBe(true);
  });

  it('permanent children restart after a crash and after an orderly stop', () => {
    const host = new FakeHost();
    const sup = new Supervisor({ id: 's', backoff: { jitter: 0 }, children: [child('p', 'permanent')] }, host);
    host.take();
    sup.exited('p', false, 'normal');
    host.advance(1_000);
    expect(host.take()).toEqual(['start p#1']);
    sup.exited('p', true, 'boom');
    host.advance(1_000);
    expect(host.take()).toEqual(['start p#2']);
  });

  it('transient children restart after a crash but not after an orderly stop', () => {
    const host = new FakeHost();
    const sup = new Supervisor({ id: 's', backoff: { jitter: 0 }, children: [child('t', 'transient')] }, host);
    host.take();
    sup.exited('t', true, 'boom');
    host.advance(1_000);
    expect(host.take()).toEqual(['start t#1']);
    sup.exited('t', false, 'normal');
    host.advance(10_000);
    expect(host.take()).toEqual([]);
    expect(sup.isRunning('t')).toBe(false);
    expect(host.events.at(-1)).toMatchObject({ type: 'stopped', actor: 't' });
  });

  it('temporary children are never restarted', () => {
    const host = new FakeHost();
    const sup = new Supervisor({ id: 's', children: [child('x', 'temporary')] }, host);
    host.take();
    sup.exited('x', true, 'boom');
    host.advance(60_000);
    expect(host.take()).toEqual([]);
    expect(host.pendingTimers()).toBe(0);
  });

  it('a temporary sibling is stopped but not restarted by a one_for_all restart', () => {
    const host = new FakeHost();
    const sup = new Supervisor({ id: 's', strategy: 'one_for_all', backoff: { jitter: 0 }, children: [child('a'), child('x', 'temporary'), child('b')] }, host);
    host.take();
    sup.exited('b', true, 'boom');
    host.advance(1_000);
    expect(host.take()).toEqual(['stop a', 'stop x', 'start a#1', 'start b#1']);
    expect(sup.isRunning('x')).toBe(false);
  });

  it('gives up, stopping every child, after more than maxRestarts in the period', () => {
    const { host, sup } = make({ maxRestarts: 3, periodMs: 1_000 });
    for (let i = 1; i <= 3; i++) {
      sup.exited('a', true, 'boom');
      host.advance(100);
      expect(host.take()).toEqual([`start a#${i}`]);
    }
    sup.exited('a', true, 'boom');
    expect(sup.givenUp).toBe(true);
    expect(host.take()).toEqual(['stop b', 'stop c']);
    expect(host.events.at(-1)).toMatchObject({ type: 'gave_up', supervisor: 'sup' });
    host.advance(60_000);
    expect(host.take()).toEqual([]);
    expect(['a', 'b', 'c'].some((id) => sup.isRunning(id))).toBe(false);
    // Later exits are still reported, but start nothing.
    sup.add(child('d'));
    expect(host.take()).toEqual([]);
  });

  it('restarts spread wider apart than the period never exhaust the intensity', () => {
    const { host, sup } = make({ maxRestarts: 2, periodMs: 1_000 });
    for (let i = 1; i <= 10; i++) {
      sup.exited('a', true, 'boom');
      host.advance(1_000);
      expect(host.take()).toEqual([`start a#${i}`]);
    }
    expect(sup.givenUp).toBe(false);
  });

  it('back-off doubles per restart in the period, is capped, and jitter stays within its bounds', () => {
    const host = new FakeHost();
    const sup = new Supervisor({ id: 's', backoff: { initialMs: 10, maxMs: 200, jitter: 0.25 }, children: [] }, host);
    host.rand = 0.5; // factor 1
    expect([1, 2, 3, 4, 5, 6, 7].map((n) => sup.delayFor(n))).toEqual([10, 20, 40, 80, 160, 200, 200]);
    host.rand = 0; // factor 1 - jitter
    expect(sup.delayFor(3)).toBeCloseTo(30);
    host.rand = 0.999999; // factor just under 1 + jitter
    expect(sup.delayFor(3)).toBeCloseTo(50, 3);
    expect(sup.delayFor(6)).toBe(200); // jitter never exceeds the cap
  });

  it('a held child stays down until released, then starts at once', () => {
    const { host, sup } = make();
    sup.exited('a', true, 'crash injected', true);
    host.advance(10_000);
    expect(host.take()).toEqual([]);
    sup.release('a');
    expect(host.take()).toEqual(['start a#1']);
  });

  it('release restarts a running child at once', () => {
    const { host, sup } = make();
    sup.release('b');
    expect(host.take()).toEqual(['stop b', 'start b#1']);
  });

  it('remove cancels a pending restart', () => {
    const { host, sup } = make();
    sup.exited('a', true, 'boom');
    sup.remove('a');
    host.advance(10_000);
    expect(host.take()).toEqual([]);
    expect(sup.has('a')).toBe(false);
  });

  it('shutdown cancels pending restarts', () => {
    const { host, sup } = make();
    sup.exited('a', true, 'boom');
    sup.shutdown();
    host.advance(10_000);
    expect(host.take()).toEqual([]);
    expect(host.pendingTimers()).toBe(0);
  });

  it('refuses duplicate children and nonsensical limits', () => {
    const host = new FakeHost();
    const sup = new Supervisor({ id: 's', children: [child('a')] }, host);
    expect(() => sup.add(child('a'))).toThrow(/already has child/);
    expect(() => new Supervisor({ id: 's', maxRestarts: -1, children: [] }, host)).toThrow();
    expect(() => new Supervisor({ id: 's', backoff: { jitter: 2 }, children: [] }, host)).toThrow();
  });
});
