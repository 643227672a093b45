// The API server's watch cache: watchers pinned to a field value (a kubelet's
// spec.nodeName=<node>) are indexed, and must see exactly what a scan of every watcher would
// deliver, selector transitions included.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { WatchCache, type EventType, type Watcher } from '../../actors/apiserver-cache.js';
import { encodeObject } from '../../actors/apiserver-storage.js';
import { matchesFields, matchesLabels, parseFieldSelector, parseLabelSelector } from '../../api/selectors.js';
import type { KubeObject } from '../../api/types.js';
import type { WatchEvent } from '../../raft/mvcc/commands.js';

const PODS = 'core/pods';
const key = (name: string) => `/registry/core/pods/default/${name}`;

function pod(name: string, node: string, app: string): KubeObject {
  const p: KubeObject = { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default', labels: { app } }, spec: { containers: [{ name: 'c', image: 'nginx' }] } };
  if (node) p.spec!.nodeName = node;
  return p;
}

type Step = { op: 'put'; name: string; node: string; app: string } | { op: 'delete'; name: string };

function recorder(fields: string, labels: string): Watcher & { got: string[] } {
  const got: string[] = [];
  return {
    rkey: PODS,
    namespace: 'default',
    labels: parseLabelSelector(labels),
    fields: parseFieldSelector(fields, 'Pod'),
    got,
    deliver(type: EventType, obj: KubeObject, rev: number) {
      got.push(`${type} ${obj.metadata.name} ${obj.spec?.nodeName ?? '-'} @${rev}`);
      return true;
    },
    close() {},
  };
}

/** What a watcher must see: every event, judged against its selectors before and after. */
function expected(steps: Step[], fields: string, labels: string): string[] {
  const f = parseFieldSelector(fields, 'Pod');
  const l = parseLabelSelector(labels);
  const m = (o: KubeObject | undefined) => o !== undefined && matchesFields(f, o) && matchesLabels(l, o.metadata.labels);
  const state = new Map<string, KubeObject>();
  const out: string[] = [];
  steps.forEach((s, i) => {
    const rev = i + 2;
    const prev = state.get(s.name);
    const show = (type: string, o: KubeObject) => out.push(`${type} ${o.metadata.name} ${o.spec?.nodeName ?? '-'} @${rev}`);
    if (s.op === 'put') {
      const obj = pod(s.name, s.node, s.app);
      state.set(s.name, obj);
      const now = m(obj);
      const before = m(prev);
      if (now && !before) show('ADDED', obj);
      else if (now && before) show('MODIFIED', obj);
      else if (!now && before) show('DELETED', prev!);
    } else if (prev) {
      state.delete(s.name);
      if (m(prev)) show('DELETED', prev);
    }
  });
  return out;
}

function events(steps: Step[], live: Set<string>): WatchEvent[][] {
  return steps.map((s, i) => {
    const rev = i + 2;
    if (s.op === 'put') {
      live.add(s.name);
      return [{ type: 'put', kv: { key: key(s.name), value: encodeObject(pod(s.name, s.node, s.app)), createRevision: rev, modRevision: rev, version: 1, lease: 0 } } as WatchEvent];
    }
    live.delete(s.name);
    return [{ type: 'delete', kv: { key: key(s.name), value: new Uint8Array(), createRevision: 0, modRevision: rev, version: 0, lease: 0 } } as WatchEvent];
  });
}

const SELECTORS: [string, string][] = [
  ['', ''],
  ['spec.nodeName=n1', ''],
  ['spec.nodeName=n2', ''],
  ['spec.nodeName=', ''],
  ['spec.nodeName!=', ''],
  ['spec.nodeName=n1', 'app=web'],
  ['metadata.name=p1', ''],
  ['metadata.name=p2,spec.nodeName=n2', ''],
  ['', 'app=db'],
];

describe('the watch cache', () => {
  it('delivers to indexed watchers exactly what a scan of all of them would', () => {
    const name = fc.constantFrom('p1', 'p2', 'p3');
    const step: fc.Arbitrary<Step> = fc.oneof(
      fc.record({ op: fc.constant('put' as const), name, node: fc.constantFrom('', 'n1', 'n2'), app: fc.constantFrom('web', 'db') }),
      fc.record({ op: fc.constant('delete' as const), name }),
    );
    fc.assert(
      fc.property(fc.array(step, { maxLength: 40 }), (steps) => {
        const cache = new WatchCache();
        cache.reset([], 1);
        const watchers = SELECTORS.map(([f, l]) => recorder(f, l));
        for (const w of watchers) cache.watch(w, 'now', false);
        const live = new Set<string>();
        const evs = events(steps, live);
        evs.forEach((batch, i) => cache.apply(batch, i + 2));
        SELECTORS.forEach(([f, l], i) => expect(watchers[i]!.got, `${f} ${l}`).toEqual(expected(steps, f, l)));
        // Watching from the start replays the same from history.
        const late = SELECTORS.map(([f, l]) => recorder(f, l));
        for (const w of late) cache.watch(w, 1, false);
        SELECTORS.forEach(([f, l], i) => expect(late[i]!.got).toEqual(expected(steps, f, l)));
        expect(cache.watcherCount).toBe(SELECTORS.length * 2);
        for (const w of [...watchers, ...late]) cache.unwatch(w);
        expect(cache.watcherCount).toBe(0);
      }),
      { numRuns: 300 },
    );
  });

  it('reaches a kubelet with the events of its pods only', () => {
    const cache = new WatchCache();
    cache.reset([], 1);
    const kubelets = Array.from({ length: 50 }, (_, i) => recorder(`spec.nodeName=n${i}`, ''));
    for (const w of kubelets) cache.watch(w, 'now', false);
    const [created, bound] = events([{ op: 'put', name: 'p1', node: '', app: 'web' }, { op: 'put', name: 'p1', node: 'n7', app: 'web' }], new Set());
    cache.apply(created!, 2);
    cache.apply(bound!, 3);
    expect(kubelets.map((k) => k.got.length)).toEqual(kubelets.map((_, i) => (i === 7 ? 1 : 0)));
    expect(kubelets[7]!.got).toEqual(['ADDED p1 n7 @3']);
  });
});
