/**
 * The control plane together on the fake API: a Deployment and a Service become pods bound to
 * nodes, ready endpoints and a complete rollout, with a kubelet played by the test.
 */
import { describe as suite, expect, it } from 'vitest';
import type { KubeObject } from '../../api/types.js';
import { createControllerManager } from '../../controllers/manager.js';
import { getCondition, isPodReady } from '../../controllers/podutil.js';
import { Scheduler } from '../../controllers/scheduler/index.js';
import { formatMicroTime } from '../../controllers/time.js';
import { harness, makeReady, node, podTemplate, settle, type Harness } from './helpers.js';
import { seeded } from '../scheduler/helpers.js';

/** The kubelets: bound pods start, get an IP and become ready; leases are renewed. */
async function kubelets(h: Harness): Promise<void> {
  let ip = 10;
  for (const p of h.client.objects('pods')) {
    if (p.spec.nodeName && !isPodReady(p) && !p.metadata.deletionTimestamp) makeReady(h, p.metadata.namespace!, p.metadata.name!, `10.244.0.${ip++}`);
  }
  for (const l of h.client.objects('leases', 'kube-node-lease')) h.client.mutate('leases', 'kube-node-lease', l.metadata.name!, (x) => (x.spec.renewTime = formatMicroTime(h.clock.now())));
  await settle();
}

suite('control plane on the fake API', () => {
  it('a Deployment behind a Service rolls out onto scheduled pods with ready endpoints', async () => {
    const objects: KubeObject[] = [
      node('n1'),
      node('n2'),
      ...['n1', 'n2'].map((n) => ({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: n, namespace: 'kube-node-lease' }, spec: { renewTime: formatMicroTime(0) } })),
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'web', namespace: 'default' },
        spec: {
          replicas: 4,
          selector: { matchLabels: { app: 'web' } },
          template: podTemplate({ app: 'web' }, { containers: [{ name: 'app', image: 'nginx', ports: [{ name: 'http', containerPort: 8080 }], resources: { requests: { cpu: '100m' } } }] }),
          strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } },
          revisionHistoryLimit: 10,
          progressDeadlineSeconds: 600,
        },
      },
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'default' }, spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }] } },
    ];
    const h = await harness(objects);
    const cm = createControllerManager(h.ctx);
    const sched = new Scheduler({ client: h.client, clock: h.clock, timers: h.clock, random: seeded(5), recorder: h.recorder });
    sched.attach(h.informers);
    sched.start();
    cm.start();
    await cm.synced();
    await settle();
    for (let i = 0; i < 5; i++) {
      await sched.settled();
      await kubelets(h);
      await h.run(1_000);
    }
    const pods = h.client.objects('pods');
    expect(pods).toHaveLength(4);
    expect(new Set(pods.map((p) => p.spec.nodeName))).toEqual(new Set(['n1', 'n2']));
    const d = h.client.peek('deployments', 'default', 'web')!;
    expect(d.status).toMatchObject({ replicas: 4, updatedReplicas: 4, availableReplicas: 4 });
    expect(getCondition(d.status, 'Progressing')!.reason).toBe('NewReplicaSetAvailable');
    const ep = h.client.peek('endpoints', 'default', 'web')!;
    expect(ep.subsets[0].addresses).toHaveLength(4);
    expect(ep.subsets[0].ports).toEqual([{ name: 'http', port: 8080, protocol: 'TCP' }]);
    expect(h.client.objects('endpointslices')[0]!.endpoints).toHaveLength(4);

    // Deleting the Deployment (background) takes the ReplicaSet and pods with it.
    await h.client.delete('deployments', 'default', 'web', { propagationPolicy: 'Background' });
    await settle(6);
    expect(h.client.objects('replicasets')).toHaveLength(0);
    expect(h.client.objects('pods')).toHaveLength(0);
    cm.stop();
    sched.stop();
  });
});
