import { describe as suite, expect, it } from 'vitest';
import type { KubeObject } from '../../api/types.js';
import { NodeLifecycleController, TaintEvictionController, minTolerationMs } from '../../controllers/nodelifecycle.js';
import { getCondition } from '../../controllers/podutil.js';
import { formatMicroTime } from '../../controllers/time.js';
import { harness, node, pod, type Harness } from './helpers.js';

const DEFAULT_TOLERATIONS = [
  { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
  { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
];

function lease(name: string, renewMs: number): KubeObject {
  return { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name, namespace: 'kube-node-lease' }, spec: { holderIdentity: name, leaseDurationSeconds: 40, renewTime: formatMicroTime(renewMs) } };
}

async function start(objects: KubeObject[]): Promise<Harness> {
  const h = await harness(objects);
  new NodeLifecycleController(h.ctx).start();
  new TaintEvictionController(h.ctx).start();
  await h.sync();
  return h;
}

/** The kubelet of `name` renews its lease. */
function renew(h: Harness, name: string): void {
  h.client.mutate('leases', 'kube-node-lease', name, (l) => (l.spec.renewTime = formatMicroTime(h.clock.now())));
}

const taintKeys = (h: Harness, n: string) => (h.client.peek('nodes', '', n)!.spec?.taints ?? []).map((t: any) => `${t.key}:${t.effect}`).sort();

suite('node lifecycle', () => {
  it('a node whose lease keeps being renewed stays Ready and untainted', async () => {
    const h = await start([node('n1'), lease('n1', 0)]);
    for (let i = 0; i < 12; i++) {
      await h.run(10_000);
      renew(h, 'n1');
    }
    expect(getCondition(h.client.peek('nodes', '', 'n1')!.status, 'Ready')!.status).toBe('True');
    expect(taintKeys(h, 'n1')).toEqual([]);
  });

  it('a silent node turns Unknown after the 50 s grace period and gets the unreachable taints', async () => {
    const h = await start([node('n1'), lease('n1', 0)]);
    await h.run(50_000);
    expect(getCondition(h.client.peek('nodes', '', 'n1')!.status, 'Ready')!.status).toBe('True');
    await h.run(5_000);
    const n = h.client.peek('nodes', '', 'n1')!;
    expect(getCondition(n.status, 'Ready')).toMatchObject({ status: 'Unknown', reason: 'NodeStatusUnknown', message: 'Kubelet stopped posting node status.' });
    expect(getCondition(n.status, 'MemoryPressure')!.status).toBe('Unknown');
    expect(taintKeys(h, 'n1')).toEqual(['node.kubernetes.io/unreachable:NoExecute', 'node.kubernetes.io/unreachable:NoSchedule']);
    expect(n.spec.taints.find((t: any) => t.effect === 'NoExecute').timeAdded).toBeDefined();
  });

  it('a node reporting Ready False gets not-ready taints, removed when it is Ready again', async () => {
    const h = await start([node('n1', { ready: 'False' }), lease('n1', 0)]);
    expect(taintKeys(h, 'n1')).toEqual(['node.kubernetes.io/not-ready:NoExecute', 'node.kubernetes.io/not-ready:NoSchedule']);
    h.client.mutate('nodes', '', 'n1', (n) => (n.status.conditions[0].status = 'True'));
    await h.run(1);
    expect(taintKeys(h, 'n1')).toEqual([]);
  });

  it('cordoned nodes get the unschedulable taint', async () => {
    const h = await start([node('n1', { unschedulable: true }), lease('n1', 0)]);
    expect(taintKeys(h, 'n1')).toEqual(['node.kubernetes.io/unschedulable:NoSchedule']);
  });

  it('evicts pods tolerating unreachable for 300 s that long after the taint, and untolerating pods at once', async () => {
    const h = await start([
      node('n1'),
      lease('n1', 0),
      pod('patient', { node: 'n1', phase: 'Running', ready: true, spec: { tolerations: DEFAULT_TOLERATIONS } }),
      pod('bare', { node: 'n1', phase: 'Running', ready: true }),
      pod('forever', { node: 'n1', phase: 'Running', ready: true, spec: { tolerations: [{ key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute' }] } }),
    ]);
    await h.run(55_000); // tainted at 55 s
    expect(h.client.peek('pods', 'default', 'bare')).toBeUndefined();
    expect(getCondition(h.client.peek('pods', 'default', 'patient')!.status, 'Ready')!.status).toBe('False');
    await h.run(299_000);
    expect(h.client.peek('pods', 'default', 'patient')).toBeDefined();
    await h.run(1_000);
    expect(h.client.peek('pods', 'default', 'patient')).toBeUndefined();
    expect(h.client.peek('pods', 'default', 'forever')).toBeDefined();
    expect(h.recorder.events).toContain('Normal TaintManagerEviction Marking for deletion Pod default/patient');
    const disruption = h.client.writes().find((a) => a.verb === 'update' && a.subresource === 'status' && a.name === 'patient' && a.object?.status?.conditions?.some((c: any) => c.type === 'DisruptionTarget'));
    expect(disruption).toBeDefined();
  });

  it('cancels a planned eviction when the node recovers', async () => {
    const h = await start([node('n1'), lease('n1', 0), pod('patient', { node: 'n1', phase: 'Running', ready: true, spec: { tolerations: DEFAULT_TOLERATIONS } })]);
    await h.run(60_000);
    expect(taintKeys(h, 'n1')).toContain('node.kubernetes.io/unreachable:NoExecute');
    renew(h, 'n1');
    h.client.mutate('nodes', '', 'n1', (n) => (n.status.conditions = [{ type: 'Ready', status: 'True', lastHeartbeatTime: '2024-01-01T00:01:00Z' }]));
    await h.run(1_000);
    expect(taintKeys(h, 'n1')).toEqual([]);
    await h.run(400_000 - 61_000);
    expect(h.client.peek('pods', 'default', 'patient')).toBeDefined();
    expect(h.recorder.events).toContain('Normal TaintManagerEviction Cancelling deletion of Pod default/patient');
  });

  it('computes the minimum toleration time', () => {
    const taints = [{ key: 'a', effect: 'NoExecute' }, { key: 'b', effect: 'NoExecute' }];
    const p = (tolerations: any[]) => ({ metadata: {}, spec: { tolerations } }) as KubeObject;
    expect(minTolerationMs(taints, p([{ key: 'a', operator: 'Exists' }]))).toBeUndefined();
    expect(minTolerationMs(taints, p([{ operator: 'Exists' }]))).toBe(-1);
    expect(minTolerationMs(taints, p([{ key: 'a', operator: 'Exists' }, { key: 'b', operator: 'Exists', tolerationSeconds: 30 }]))).toBe(30_000);
  });
});
