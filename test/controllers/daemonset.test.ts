import { describe as suite, expect, it } from 'vitest';
import type { KubeObject } from '../../api/types.js';
import { DaemonSetController, targetNodeName } from '../../controllers/daemonset.js';
import { isPodReady } from '../../controllers/podutil.js';
import { formatTime } from '../../controllers/time.js';
import { harness, node, podTemplate, settle, type Harness } from './helpers.js';

function daemonSet(name: string, extra: Record<string, any> = {}, templateSpec: Record<string, any> = {}): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name, namespace: 'kube-system' },
    spec: {
      selector: { matchLabels: { app: name } },
      template: podTemplate({ app: name }, templateSpec),
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1, maxSurge: 0 } },
      revisionHistoryLimit: 10,
      ...extra,
    },
  };
}

async function start(objects: KubeObject[]): Promise<Harness> {
  const h = await harness(objects);
  new DaemonSetController(h.ctx).start();
  await h.sync();
  return h;
}

const placement = (h: Harness) =>
  h.client
    .objects('pods')
    .filter((p) => !p.metadata.deletionTimestamp)
    .map((p) => targetNodeName(p))
    .sort();

/** The scheduler and kubelet: bind each pod to its target node and make it ready. */
async function bindAndReady(h: Harness): Promise<void> {
  for (const p of h.client.objects('pods')) {
    if (isPodReady(p)) continue;
    h.client.mutate('pods', p.metadata.namespace!, p.metadata.name!, (x) => {
      x.spec.nodeName = targetNodeName(x);
      x.status = { phase: 'Running', conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: formatTime(h.clock.now()) }] };
    });
  }
  await settle();
}

suite('DaemonSet controller', () => {
  it('runs one pod on each eligible node, pinned there by node affinity', async () => {
    const h = await start([
      node('n1', { labels: { disk: 'ssd' } }),
      node('n2', { labels: { disk: 'ssd' } }),
      node('n3', { labels: { disk: 'hdd' } }),
      daemonSet('agent', {}, { nodeSelector: { disk: 'ssd' } }),
    ]);
    expect(placement(h)).toEqual(['n1', 'n2']);
    const p = h.client.objects('pods')[0]!;
    expect(p.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms).toEqual([
      { matchFields: [{ key: 'metadata.name', operator: 'In', values: [targetNodeName(p)] }] },
    ]);
    expect(p.spec.tolerations).toContainEqual({ key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute' });
    expect(p.metadata.labels!['controller-revision-hash']).toBeTruthy();
    expect(h.recorder.events.filter((e) => e.startsWith('Normal SuccessfulCreate Created pod: agent-'))).toHaveLength(2);
    const status = h.client.peek('daemonsets', 'kube-system', 'agent')!.status;
    expect(status).toMatchObject({ desiredNumberScheduled: 2, currentNumberScheduled: 0, numberReady: 0, numberUnavailable: 2 });
    await bindAndReady(h);
    expect(h.client.peek('daemonsets', 'kube-system', 'agent')!.status).toMatchObject({ desiredNumberScheduled: 2, currentNumberScheduled: 2, numberReady: 2, numberAvailable: 2, updatedNumberScheduled: 2, numberUnavailable: 0 });
  });

  it('follows nodes joining and leaving', async () => {
    const h = await start([node('n1'), daemonSet('agent')]);
    expect(placement(h)).toEqual(['n1']);
    h.client.add(node('n2'));
    await settle();
    expect(placement(h)).toEqual(['n1', 'n2']);
    await h.client.delete('nodes', '', 'n2');
    await settle();
    expect(placement(h)).toEqual(['n1']);
  });

  it('respects taints: no pod on an untolerated NoSchedule taint, eviction on an untolerated NoExecute one', async () => {
    const h = await start([
      node('tainted', { taints: [{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }] }),
      node('notready', { taints: [{ key: 'node.kubernetes.io/not-ready', effect: 'NoExecute' }] }),
      node('plain'),
      daemonSet('agent'),
    ]);
    // not-ready is tolerated by every daemon pod.
    expect(placement(h)).toEqual(['notready', 'plain']);
    h.client.mutate('nodes', '', 'plain', (n) => (n.spec.taints = [{ key: 'maintenance', effect: 'NoExecute' }]));
    await settle();
    expect(placement(h)).toEqual(['notready']);
    // A NoSchedule taint added later does not evict the pod already there.
    h.client.mutate('nodes', '', 'notready', (n) => n.spec.taints.push({ key: 'dedicated', value: 'x', effect: 'NoSchedule' }));
    await settle();
    expect(placement(h)).toEqual(['notready']);
  });

  it('a toleration in the template lets the pod onto a tainted node', async () => {
    const h = await start([node('gpu', { taints: [{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }] }), daemonSet('agent', {}, { tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'gpu', effect: 'NoSchedule' }] })]);
    expect(placement(h)).toEqual(['gpu']);
  });

  it('rolls out a new template replacing at most maxUnavailable pods at a time', async () => {
    const h = await start([node('n1'), node('n2'), node('n3'), node('n4'), daemonSet('agent', { updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 2, maxSurge: 0 } } })]);
    await bindAndReady(h);
    const ds = h.client.peek('daemonsets', 'kube-system', 'agent')!;
    const oldHash = h.client.objects('pods')[0]!.metadata.labels!['controller-revision-hash'];
    ds.spec.template.spec.containers[0].image = 'agent:2';
    await h.client.update('daemonsets', 'kube-system', ds);
    await settle();
    const rounds: number[] = [];
    for (let i = 0; i < 4; i++) {
      const pods = h.client.objects('pods');
      const readyOld = pods.filter((p) => p.metadata.labels!['controller-revision-hash'] === oldHash && isPodReady(p)).length;
      const readyNew = pods.filter((p) => p.metadata.labels!['controller-revision-hash'] !== oldHash && isPodReady(p)).length;
      rounds.push(readyOld);
      expect(readyOld + readyNew).toBeGreaterThanOrEqual(2);
      await bindAndReady(h);
    }
    expect(rounds).toEqual([2, 0, 0, 0]);
    const pods = h.client.objects('pods');
    expect(pods).toHaveLength(4);
    expect(pods.every((p) => p.spec.containers[0].image === 'agent:2')).toBe(true);
    expect(h.client.objects('controllerrevisions')).toHaveLength(2);
  });

  it('replaces a failed daemon pod, with back-off', async () => {
    const h = await start([node('n1'), daemonSet('agent')]);
    await bindAndReady(h);
    const [p] = h.client.objects('pods');
    h.client.mutate('pods', 'kube-system', p!.metadata.name!, (x) => (x.status.phase = 'Failed'));
    await settle();
    expect(h.recorder.events).toContain(`Warning FailedDaemonPod Found failed daemon pod kube-system/${p!.metadata.name} on node n1, will try to kill it`);
    const pods = h.client.objects('pods');
    expect(pods).toHaveLength(1);
    expect(pods[0]!.metadata.name).not.toBe(p!.metadata.name);
  });
});
