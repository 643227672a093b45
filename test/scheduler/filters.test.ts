import { describe as suite, expect, it } from 'vitest';
import type { KubeObject } from '../../api/types.js';
import type { Scheduler } from '../../controllers/scheduler/index.js';
import { node, pod } from '../controllers/helpers.js';
import { makeScheduler, podRequesting } from './helpers.js';

const message = (s: Scheduler, p: KubeObject) => s.schedulePod(p).error?.message;

suite('scheduler filters', () => {
  it('words the unschedulable message as kube-scheduler does', () => {
    const s = makeScheduler([node('small', { cpu: '1', labels: { disk: 'ssd' } }), node('hdd-1', { labels: { disk: 'hdd' } }), node('hdd-2', { labels: { disk: 'hdd' } })]);
    const p = podRequesting('big', '2', undefined, { nodeSelector: { disk: 'ssd' } });
    expect(message(s, p)).toBe("0/3 nodes are available: 1 Insufficient cpu, 2 node(s) didn't match Pod's node affinity/selector.");
  });

  it('NodeResourcesFit: cpu, memory, extended resources and the pod count', () => {
    const s = makeScheduler([node('n1', { cpu: '2', memory: '1Gi', pods: '1' })], [pod('there', { node: 'n1' })]);
    const p = podRequesting('p', '3', '2Gi');
    expect(message(s, p)).toBe('0/1 nodes are available: 1 Insufficient cpu, 1 Insufficient memory, 1 Too many pods.');
    const gpu = makeScheduler([node('n1')]);
    const g = podRequesting('g');
    g.spec.containers[0].resources.requests['nvidia.com/gpu'] = '1';
    expect(message(gpu, g)).toBe('0/1 nodes are available: 1 Insufficient nvidia.com/gpu.');
  });

  it('counts requests of pods already on the node, including assumed ones', () => {
    const s = makeScheduler([node('n1', { cpu: '2' })], [podRequesting('a', '1500m')]);
    s.cache.upsertAssignedPod({ ...podRequesting('a', '1500m'), spec: { ...podRequesting('a', '1500m').spec, nodeName: 'n1' } });
    expect(s.schedulePod(podRequesting('b', '500m')).node).toBe('n1');
    expect(message(s, podRequesting('c', '600m'))).toBe('0/1 nodes are available: 1 Insufficient cpu.');
  });

  it('NodeName, NodeUnschedulable and TaintToleration', () => {
    const s = makeScheduler([node('cordoned', { unschedulable: true }), node('gpu', { taints: [{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }] }), node('other')]);
    const pinned = podRequesting('p', undefined, undefined, { nodeName: 'nowhere' });
    // Each node answers with the first filter that rejects it, in the default profile's order.
    expect(message(s, pinned)).toBe("0/3 nodes are available: 1 node(s) were unschedulable, 2 node(s) didn't match the requested node name.");
    expect(message(s, podRequesting('q', undefined, undefined, { nodeSelector: { 'kubernetes.io/hostname': 'gpu' } }))).toBe(
      "0/3 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 1 node(s) had untolerated taint {dedicated: gpu}, 1 node(s) were unschedulable.",
    );
    const tolerant = podRequesting('t', undefined, undefined, { tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'gpu', effect: 'NoSchedule' }], nodeSelector: { 'kubernetes.io/hostname': 'gpu' } });
    expect(s.schedulePod(tolerant).node).toBe('gpu');
  });

  it('NodeAffinity: required terms with In, NotIn, Exists, Gt and matchFields', () => {
    const s = makeScheduler([node('a', { labels: { zone: 'z1', gen: '3' } }), node('b', { labels: { zone: 'z2', gen: '5' } }), node('c', { labels: { gen: '7' } })]);
    const aff = (terms: any[]) => podRequesting('p', undefined, undefined, { affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: terms } } } });
    expect(s.schedulePod(aff([{ matchExpressions: [{ key: 'zone', operator: 'In', values: ['z2'] }] }])).node).toBe('b');
    expect(s.schedulePod(aff([{ matchExpressions: [{ key: 'zone', operator: 'DoesNotExist' }] }])).node).toBe('c');
    expect(s.schedulePod(aff([{ matchExpressions: [{ key: 'gen', operator: 'Gt', values: ['6'] }] }])).node).toBe('c');
    expect(s.schedulePod(aff([{ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['a'] }] }])).node).toBe('a');
    expect(message(s, aff([{ matchExpressions: [{ key: 'zone', operator: 'In', values: ['z9'] }] }]))).toBe("0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector.");
  });

  it('NodePorts: a host port in use rules the node out', () => {
    const withPort = (name: string) => podRequesting(name, undefined, undefined, { containers: [{ name: 'c', image: 'x', ports: [{ containerPort: 80, hostPort: 8080 }] }] });
    const existing = { ...withPort('e'), spec: { ...withPort('e').spec, nodeName: 'n1' } };
    const s = makeScheduler([node('n1'), node('n2')], [existing]);
    expect(s.schedulePod(withPort('p')).node).toBe('n2');
  });

  it('InterPodAffinity: required anti-affinity, affinity and existing pods\' anti-affinity', () => {
    const nodes = [node('a', { labels: { zone: 'z1' } }), node('b', { labels: { zone: 'z1' } }), node('c', { labels: { zone: 'z2' } })];
    const anti = { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: { app: 'db' } }, topologyKey: 'zone' }] } };
    const db0 = { ...podRequesting('db-0', undefined, undefined, { affinity: anti }, { app: 'db' }) };
    db0.spec.nodeName = 'a';
    const s = makeScheduler(nodes, [db0]);
    // A second db pod must go to another zone.
    expect(s.schedulePod(podRequesting('db-1', undefined, undefined, { affinity: anti }, { app: 'db' })).node).toBe('c');
    // A web pod that wants to be near a db pod goes to zone z1.
    const near = { podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: { app: 'db' } }, topologyKey: 'zone' }] } };
    expect(['a', 'b']).toContain(s.schedulePod(podRequesting('web', undefined, undefined, { affinity: near }, { app: 'web' })).node);
    // Any pod labelled app=db, even without terms of its own, is kept out of z1 by db-0's anti-affinity.
    expect(s.schedulePod(podRequesting('db-2', undefined, undefined, {}, { app: 'db' })).node).toBe('c');
    const full = makeScheduler([node('a', { labels: { zone: 'z1' } })], [db0]);
    expect(message(full, podRequesting('db-1', undefined, undefined, { affinity: anti }, { app: 'db' }))).toBe(
      "0/1 nodes are available: 1 node(s) didn't satisfy existing pods anti-affinity rules.",
    );
    expect(message(full, podRequesting('x', undefined, undefined, { affinity: { podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: { app: 'cache' } }, topologyKey: 'zone' }] } } }, { app: 'x' }))).toBe(
      "0/1 nodes are available: 1 node(s) didn't match pod affinity rules.",
    );
  });

  it('InterPodAffinity lets the first pod of a self-affine group go anywhere', () => {
    const s = makeScheduler([node('a', { labels: { zone: 'z1' } })]);
    const self = { podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: { app: 'cache' } }, topologyKey: 'zone' }] } };
    expect(s.schedulePod(podRequesting('c0', undefined, undefined, { affinity: self }, { app: 'cache' })).node).toBe('a');
  });

  it('PodTopologySpread DoNotSchedule keeps the skew within maxSkew', () => {
    const nodes = [node('a', { labels: { zone: 'z1' } }), node('b', { labels: { zone: 'z2' } })];
    const placed = ['a', 'a'].map((n, i) => ({ ...pod(`w${i}`, { labels: { app: 'w' }, node: n }), metadata: { name: `w${i}`, namespace: 'default', labels: { app: 'w' }, uid: `w${i}` } }));
    const s = makeScheduler(nodes, placed);
    const spread = { topologySpreadConstraints: [{ maxSkew: 1, topologyKey: 'zone', whenUnsatisfiable: 'DoNotSchedule', labelSelector: { matchLabels: { app: 'w' } } }] };
    expect(s.schedulePod(podRequesting('w2', undefined, undefined, spread, { app: 'w' })).node).toBe('b');
    // Zone z2 still counts as a domain (with 0 pods) while its only node is tainted.
    const tainted = makeScheduler([nodes[0]!, node('b', { labels: { zone: 'z2' }, taints: [{ key: 'maintenance', effect: 'NoSchedule' }] })], placed);
    expect(message(tainted, podRequesting('w2', undefined, undefined, spread, { app: 'w' }))).toBe(
      "0/2 nodes are available: 1 node(s) didn't match pod topology spread constraints, 1 node(s) had untolerated taint {maintenance: }.",
    );
  });

  it('VolumeBinding: claims must exist, immediate claims must be bound, bound volumes pin the node', () => {
    const claim = (name: string, extra: Record<string, any> = {}) => ({ apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name, namespace: 'default' }, spec: { ...extra } });
    const pv = { apiVersion: 'v1', kind: 'PersistentVolume', metadata: { name: 'local-b' }, spec: { nodeAffinity: { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: ['b'] }] }] } } } };
    const s = makeScheduler([node('a'), node('b')], [], { claims: [claim('bound', { volumeName: 'local-b' }), claim('pending', { storageClassName: 'standard' })], volumes: [pv] });
    const using = (c: string) => podRequesting(`p-${c}`, undefined, undefined, { volumes: [{ name: 'data', persistentVolumeClaim: { claimName: c } }] });
    expect(s.schedulePod(using('bound')).node).toBe('b');
    expect(message(s, using('missing'))).toBe('0/2 nodes are available: persistentvolumeclaim "missing" not found.');
    expect(message(s, using('pending'))).toBe('0/2 nodes are available: pod has unbound immediate PersistentVolumeClaims.');
    const only = makeScheduler([node('a')], [], { claims: [claim('bound', { volumeName: 'local-b' })], volumes: [pv] });
    expect(message(only, using('bound'))).toBe('0/1 nodes are available: 1 node(s) had volume node affinity conflict.');
  });

  it('says so when there are no nodes', () => {
    expect(message(makeScheduler([]), podRequesting('p'))).toBe('0/0 nodes are available: no nodes available to schedule pods.');
  });
});
