// The kubelet on SimHost: virtual time, seeded randomness, modeled workloads. A stand-in API
// server actor serves the in-cluster protocol from a FakeClient, so the whole run is one thread
// and replays from its seed.
import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../../api/types.js';
import { FakeClient } from '../../controllers/client.js';
import kubelet, { kubeletSpec } from '../../actors/kubelet.js';
import { SimHost, type SimSpec } from '../../runtime/sim.js';
import { fakeApiserver } from '../sim-apiserver.js';

async function simulate(seed: number): Promise<{ hash: number; pods: Record<string, unknown> }> {
  const sim = new SimHost({ seed });
  const client = new FakeClient({ clock: { now: () => sim.now() }, gracefulPodDeletion: true });
  sim.supervise({ id: 'api', children: [{ id: 'apiserver', role: 'apiserver', module: 'fake', factory: fakeApiserver(client) } as SimSpec] });
  sim.supervise({ id: 'kubelets', children: [{ ...kubeletSpec({ nodeName: 'n1', podCIDR: '10.244.7.0/24' }), factory: kubelet } as SimSpec] });
  await sim.sleep(1_000);
  const pod = (name: string, spec: Record<string, unknown>): KubeObject => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default' }, spec: { nodeName: 'n1', ...spec } });
  await client.create('pods', 'default', pod('web', { containers: [{ name: 'web', image: 'nginx', livenessProbe: { httpGet: { port: 80 }, periodSeconds: 10 } }] }));
  await client.create('pods', 'default', pod('pi', { restartPolicy: 'Never', containers: [{ name: 'pi', image: 'actorkube/pi', args: ['300'] }] }));
  await client.create('pods', 'default', pod('crash', { containers: [{ name: 'c', image: 'actorkube/crash', args: ['--after=2s'] }] }));
  await client.create('pods', 'default', pod('burn', { containers: [{ name: 'b', image: 'actorkube/cpu-burner', args: ['--load=250m'] }] }));
  await sim.sleep(5 * 60_000);
  const top = await sim.ask<any>('kubelet-n1', { op: 'metrics', namespace: 'default' });
  const pods: Record<string, unknown> = {};
  for (const p of client.objects('pods')) {
    const cs = p.status?.containerStatuses?.[0];
    pods[p.metadata.name!] = { phase: p.status?.phase, ip: p.status?.podIP, restarts: cs?.restartCount, id: cs?.containerID, state: Object.keys(cs?.state ?? {})[0] };
  }
  pods.burnCpu = top.value.pods.find((p: any) => p.metadata.name === 'burn')?.containers[0].usage.cpu;
  pods.node = client.peek('nodes', '', 'n1')?.status?.conditions?.find((c: any) => c.type === 'Ready')?.status;
  pods.lease = client.peek('leases', 'kube-node-lease', 'n1')?.spec?.renewTime;
  const hash = sim.traceHash;
  await sim.shutdown();
  return { hash, pods };
}

describe('the kubelet on SimHost', () => {
  it('runs pods in virtual time, and the same seed replays the same run', async () => {
    const a = await simulate(42);
    expect(a.pods).toMatchObject({
      web: { phase: 'Running', ip: '10.244.7.2', restarts: 0, state: 'running' },
      pi: { phase: 'Succeeded', state: 'terminated' },
      burn: { phase: 'Running', state: 'running' },
      node: 'True',
    });
    // A 2 s crash loop for 5 minutes: restarts at 3 s (at once), 15, 37, 79 and 161 s (after
    // 10, 20, 40 and 80 s of back-off); the next one is due at 323 s.
    expect((a.pods.crash as any).restarts).toBe(5);
    expect(Number(String(a.pods.burnCpu).slice(0, -1)) / 1e6).toBeCloseTo(250, -1);
    const b = await simulate(42);
    expect(b).toEqual(a);
  });
});
