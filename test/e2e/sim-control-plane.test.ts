// The whole control plane on SimHost: the controller manager, the scheduler and two kubelets as
// actors in one thread, on virtual time, against a stand-in API server over a FakeClient
// (test/sim-apiserver.ts). Virtual time makes minutes-long behaviour testable in a moment of
// real time: CronJob schedules and concurrency policies, Job back-offs, and the HPA's
// scale-down stabilization window. Every run replays from its seed.
import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../../api/types.js';
import controllerManager from '../../actors/controller-manager.js';
import kubelet, { kubeletSpec } from '../../actors/kubelet.js';
import scheduler from '../../actors/scheduler.js';
import type { K8sReply, K8sRequest } from '../../actors/apiserver-messages.js';
import type { KubeletReply } from '../../actors/kubelet-messages.js';
import { FakeClient } from '../../controllers/client.js';
import { jobFinished } from '../../controllers/job.js';
import { getCondition } from '../../controllers/podutil.js';
import { parseTime } from '../../controllers/time.js';
import { SimHost, type SimSpec } from '../../runtime/sim.js';
import { fakeApiserver } from '../sim-apiserver.js';

const NS = 'default';
const SECOND = 1_000;
const MINUTE = 60_000;

interface Cluster {
  sim: SimHost;
  client: FakeClient;
  /** A request to the API server actor, as a user's client would send it; throws on an error Status. */
  api(req: K8sRequest): Promise<any>;
  create(resource: string, obj: KubeObject): Promise<KubeObject>;
  stop(): Promise<void>;
}

/** API server, controller manager, scheduler and kubelets `n1`, `n2` on one SimHost. */
async function startCluster(seed: number): Promise<Cluster> {
  const sim = new SimHost({ seed });
  const client = new FakeClient({ clock: { now: () => sim.now() }, seed, gracefulPodDeletion: true });
  sim.supervise({
    id: 'control-plane',
    children: [
      { id: 'apiserver', role: 'apiserver', module: 'fake', factory: fakeApiserver(client, { defaults: true }) } as SimSpec,
      { id: 'controller-manager', role: 'controller-manager', module: 'actors/controller-manager.js', factory: controllerManager } as SimSpec,
      { id: 'scheduler', role: 'scheduler', module: 'actors/scheduler.js', factory: scheduler } as SimSpec,
    ],
  });
  sim.supervise({
    id: 'nodes',
    children: ['n1', 'n2'].map((nodeName, i) => ({ ...kubeletSpec({ nodeName, podCIDR: `10.244.${i + 1}.0/24` }), factory: kubelet }) as SimSpec),
  });
  const api = async (req: K8sRequest): Promise<any> => {
    const r = await sim.ask<K8sReply>('apiserver', req);
    if (!r.ok) throw new Error(`${req.verb} failed: ${r.status.message}`);
    return r.value;
  };
  // The nodes register within a second of virtual time.
  await sim.sleep(SECOND);
  expect(client.objects('nodes').map((n) => n.metadata.name).sort()).toEqual(['n1', 'n2']);
  return {
    sim,
    client,
    api,
    create: (resource, obj) => api({ op: 'k8s', verb: 'create', resource, namespace: NS, body: obj }),
    stop: () => sim.shutdown(),
  };
}

/** Runs `fn` every `stepMs` of virtual time until `untilMs` (absolute virtual time). */
async function observe(sim: SimHost, untilMs: number, stepMs: number, fn: () => void): Promise<void> {
  while (sim.now() < untilMs) {
    fn();
    await sim.sleep(Math.min(stepMs, untilMs - sim.now()));
  }
  fn();
}

/** Virtual time at which each object of a resource was created through the API, by the reactor. */
function recordCreates(c: Cluster, resource: string): { at: number; obj: KubeObject }[] {
  const out: { at: number; obj: KubeObject }[] = [];
  c.client.prependReactor('create', resource, (a) => {
    if (!a.subresource) out.push({ at: c.sim.now(), obj: a.object! });
    return undefined;
  });
  return out;
}

/** Virtual time at which each Job's status first said Complete or Failed (by name). */
function recordJobEnds(c: Cluster): Map<string, number> {
  const out = new Map<string, number>();
  c.client.prependReactor('update', 'jobs', (a) => {
    if (a.subresource === 'status' && a.object && jobFinished(a.object) && !out.has(a.name)) out.set(a.name, c.sim.now());
    return undefined;
  });
  return out;
}

// ---------------------------------------------------------------------------------------------

function cronJob(name: string, policy: 'Allow' | 'Forbid' | 'Replace', script: string, spec: Record<string, unknown> = {}): KubeObject {
  return {
    apiVersion: 'batch/v1',
    kind: 'CronJob',
    metadata: { name, namespace: NS },
    spec: {
      schedule: '* * * * *',
      concurrencyPolicy: policy,
      ...spec,
      jobTemplate: {
        spec: {
          backoffLimit: 0,
          template: { spec: { restartPolicy: 'Never', containers: [{ name: 'work', image: 'busybox', command: ['sh', '-c', script] }] } },
        },
      },
    },
  };
}

const ownedBy = (o: KubeObject, name: string) => o.metadata.ownerReferences?.some((r) => r.controller && r.name === name) ?? false;

describe('the control plane on SimHost', () => {
  it('CronJobs: Forbid never overlaps a long job and starts again once it finished; Allow overlaps; Replace replaces', async () => {
    const c = await startCluster(7);
    const { sim, client } = c;
    const jobCreates = recordCreates(c, 'jobs');
    const jobEnds = recordJobEnds(c);
    // Every job runs 150 s, longer than two schedule periods.
    await c.create('cronjobs', cronJob('forbid', 'Forbid', 'sleep 150'));
    await c.create('cronjobs', cronJob('forbid-dl', 'Forbid', 'sleep 150', { startingDeadlineSeconds: 20 }));
    await c.create('cronjobs', cronJob('allow', 'Allow', 'sleep 150'));
    await c.create('cronjobs', cronJob('replace', 'Replace', 'sleep 150'));

    const jobsOf = (cj: string) => client.objects('jobs', NS).filter((j) => ownedBy(j, cj));
    const maxStatusActive = new Map<string, number>();
    const maxRunning = new Map<string, number>();
    const activeAt200s = new Map<string, string[]>();
    await observe(sim, 4.5 * MINUTE, SECOND, () => {
      for (const cj of ['forbid', 'forbid-dl', 'allow', 'replace']) {
        const active: any[] = client.peek('cronjobs', NS, cj)?.status?.active ?? [];
        maxStatusActive.set(cj, Math.max(maxStatusActive.get(cj) ?? 0, active.length));
        maxRunning.set(cj, Math.max(maxRunning.get(cj) ?? 0, jobsOf(cj).filter((j) => !jobFinished(j)).length));
        if (sim.now() >= 200 * SECOND && !activeAt200s.has(cj)) activeAt200s.set(cj, active.map((r) => r.name));
      }
    });
    /** Each job of a CronJob: its name, when it was created and when it finished (Infinity: not seen finishing), in virtual ms. */
    const runs = (cj: string) => jobCreates.filter((j) => ownedBy(j.obj, cj)).map((j) => ({ name: j.obj.metadata.name!, from: j.at, to: jobEnds.get(j.obj.metadata.name!) ?? Infinity }));
    const overlaps = (cj: string) => {
      const r = runs(cj);
      return r.some((a, i) => r.some((b, k) => k > i && a.from < b.to && b.from < a.to));
    };

    // Forbid: the job of minute 1 runs until about 3:31; minutes 2 and 3 find it running and
    // start nothing. When it ends, the missed 3:00 run starts at once (no startingDeadlineSeconds,
    // so a missed time never expires: Kubernetes does the same).
    const forbid = runs('forbid');
    expect(forbid.map((r) => r.name)).toEqual(['forbid-1', 'forbid-3']);
    expect(forbid[0]!.from - 1 * MINUTE).toBeLessThan(SECOND);
    expect(forbid[0]!.to).toBeGreaterThan(3.5 * MINUTE);
    expect(forbid[1]!.from).toBeGreaterThanOrEqual(forbid[0]!.to);
    expect(forbid[1]!.from - forbid[0]!.to).toBeLessThan(SECOND);
    expect(overlaps('forbid')).toBe(false);
    expect(maxRunning.get('forbid')).toBe(1);
    expect(maxStatusActive.get('forbid')).toBe(1);
    expect(activeAt200s.get('forbid')).toEqual(['forbid-1']);
    expect(client.peek('cronjobs', NS, 'forbid')!.status.active.map((r: any) => r.name)).toEqual(['forbid-3']);
    const skipped = client.objects('events', NS).filter((e) => e.involvedObject?.name === 'forbid' && e.reason === 'JobAlreadyActive');
    expect(skipped).toHaveLength(1);
    // The skipped minutes (2:00, 3:00, and 4:00 while the late 3:00 job runs), in one
    // aggregated event.
    expect(skipped[0]).toMatchObject({ firstTimestamp: '1970-01-01T00:02:00Z', lastTimestamp: '1970-01-01T00:04:00Z' });
    expect(skipped[0]!.count).toBeGreaterThanOrEqual(3);

    // Forbid with a 20 s starting deadline: the missed 3:00 run has expired when the first job
    // ends, so the next job is the one of 4:00, on time.
    const dl = runs('forbid-dl');
    expect(dl.map((r) => r.name)).toEqual(['forbid-dl-1', 'forbid-dl-4']);
    expect(dl[1]!.from - 4 * MINUTE).toBeGreaterThanOrEqual(0);
    expect(dl[1]!.from - 4 * MINUTE).toBeLessThan(SECOND);
    expect(overlaps('forbid-dl')).toBe(false);
    expect(maxStatusActive.get('forbid-dl')).toBe(1);

    // Allow: one job a minute, three of them running side by side at 3:20.
    expect(runs('allow').map((r) => r.name)).toEqual(['allow-1', 'allow-2', 'allow-3', 'allow-4']);
    expect(overlaps('allow')).toBe(true);
    expect(activeAt200s.get('allow')).toEqual(['allow-1', 'allow-2', 'allow-3']);
    expect(maxRunning.get('allow')).toBe(3);

    // Replace: one job a minute, each deleting the one before; the collector deletes its pod,
    // which (a shell ignoring SIGTERM) is killed after its 30 s grace period and then goes.
    expect(runs('replace').map((r) => r.name)).toEqual(['replace-1', 'replace-2', 'replace-3', 'replace-4']);
    expect(maxStatusActive.get('replace')).toBe(1);
    expect(jobsOf('replace').map((j) => j.metadata.name)).toEqual(['replace-4']);
    const replacePods = () => client.objects('pods', NS).filter((p) => p.metadata.labels?.['job-name']?.startsWith('replace-'));
    expect(replacePods().filter((p) => !p.metadata.deletionTimestamp).map((p) => p.metadata.labels!['job-name'])).toEqual(['replace-4']);
    await sim.sleep(10 * SECOND);
    expect(replacePods().map((p) => p.metadata.labels!['job-name'])).toEqual(['replace-4']);
    await c.stop();
  });

  it('a Job whose pod always fails makes 3 pods 10 s and 20 s of back-off apart, then fails with BackoffLimitExceeded', async () => {
    const c = await startCluster(11);
    const { sim, client } = c;
    const podCreates = recordCreates(c, 'pods');
    await c.create('jobs', {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: { name: 'crasher', namespace: NS },
      spec: { backoffLimit: 2, template: { spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'actorkube/crash', args: ['--after=2s'] }] } } },
    });
    const failed = () => getCondition(client.peek('jobs', NS, 'crasher')?.status, 'Failed');
    let failedAt: number | undefined;
    await observe(sim, sim.now() + 2 * MINUTE, 100, () => {
      if (failedAt === undefined && failed()?.status === 'True') failedAt = sim.now();
    });
    const job = client.peek('jobs', NS, 'crasher')!;
    expect(failed()).toMatchObject({ status: 'True', reason: 'BackoffLimitExceeded' });
    expect(job.status).toMatchObject({ failed: 3, succeeded: 0, active: 0 });

    // Three pods, ever: the first at once, each next one after the back-off from the failure of
    // the one before (10 s, then 20 s), measured on the virtual clock.
    const created = podCreates.filter((p) => p.obj.metadata.labels?.['job-name'] === 'crasher');
    expect(created).toHaveLength(3);
    const pods = client.objects('pods', NS).filter((p) => p.metadata.labels?.['job-name'] === 'crasher');
    expect(pods).toHaveLength(3);
    const byCreation = [...pods].sort((a, b) => parseTime(a.metadata.creationTimestamp)! - parseTime(b.metadata.creationTimestamp)!);
    for (const p of byCreation) {
      expect(p.status.phase).toBe('Failed');
      expect(p.status.containerStatuses[0].state.terminated).toMatchObject({ exitCode: 1 });
      expect(p.metadata.finalizers ?? []).toEqual([]);
    }
    const finishedAt = byCreation.map((p) => parseTime(p.status.containerStatuses[0].state.terminated.finishedAt)!);
    const at = created.map((p) => p.at);
    // Timestamps have whole seconds, as metav1.Time: the back-off counts from the second the
    // container finished, so the next pod comes 10 s (20 s) after that, to within latency.
    expect(at[1]! - finishedAt[0]!).toBeGreaterThanOrEqual(10 * SECOND);
    expect(at[1]! - finishedAt[0]!).toBeLessThan(10 * SECOND + 500);
    expect(at[2]! - finishedAt[1]!).toBeGreaterThanOrEqual(20 * SECOND);
    expect(at[2]! - finishedAt[1]!).toBeLessThan(20 * SECOND + 500);
    // Pod to pod: the 2 s run (plus start-up) and the back-off.
    expect((at[1]! - at[0]!) / SECOND).toBeGreaterThan(11);
    expect((at[1]! - at[0]!) / SECOND).toBeLessThan(13);
    expect((at[2]! - at[1]!) / SECOND).toBeGreaterThan(21);
    expect((at[2]! - at[1]!) / SECOND).toBeLessThan(23);
    // It failed as the third pod did, not before, and made nothing after.
    expect(failedAt! - finishedAt[2]!).toBeGreaterThanOrEqual(0);
    expect(failedAt! - finishedAt[2]!).toBeLessThan(2 * SECOND);
    await c.stop();
  });

  it('an HPA scales cpu-burners up under load, and down only once the 300 s stabilization window has passed', async () => {
    const c = await startCluster(5);
    const { sim, client } = c;
    // The HPA's syncs (each reads the scale), its rescales, and its status writes, on the virtual clock.
    const syncs: number[] = [];
    const rescales: { at: number; replicas: number }[] = [];
    const statuses: { at: number; status: any }[] = [];
    client.prependReactor('get', 'deployments', (a) => {
      if (a.subresource === 'scale') syncs.push(sim.now());
    });
    client.prependReactor('patch', 'deployments', (a) => {
      if (a.subresource === 'scale') rescales.push({ at: sim.now(), replicas: (a.patch as any).spec.replicas });
    });
    client.prependReactor('update', 'horizontalpodautoscalers', (a) => {
      if (a.subresource === 'status') statuses.push({ at: sim.now(), status: a.object!.status });
    });
    const labels = { app: 'burner' };
    await c.create('deployments', {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'burner', namespace: NS },
      spec: {
        replicas: 1,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: { containers: [{ name: 'burn', image: 'actorkube/cpu-burner', args: ['--load=300m'], resources: { requests: { cpu: '200m' } } }] },
        },
      },
    });
    await c.create('horizontalpodautoscalers', {
      apiVersion: 'autoscaling/v2',
      kind: 'HorizontalPodAutoscaler',
      metadata: { name: 'burner', namespace: NS },
      spec: {
        scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'burner' },
        minReplicas: 1,
        maxReplicas: 4,
        metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 50 } } }],
      },
    });
    const replicas = () => client.peek('deployments', NS, 'burner')!.spec.replicas;
    const burners = () => client.objects('pods', NS).filter((p) => p.metadata.labels?.app === 'burner' && !p.metadata.deletionTimestamp);

    // 300m used of 200m requested is 150 % against a 50 % target: up to the maximum.
    await sim.sleep(3 * MINUTE);
    expect(replicas()).toBe(4);
    expect(rescales.length).toBeGreaterThan(0);
    expect(rescales[0]!.at).toBeLessThan(MINUTE);
    expect(rescales.every((r, i) => r.replicas > (i === 0 ? 1 : rescales[i - 1]!.replicas))).toBe(true);
    expect(rescales.at(-1)!.replicas).toBe(4);
    const running = burners().filter((p) => p.status?.phase === 'Running');
    expect(running).toHaveLength(4);
    const hpa = client.peek('horizontalpodautoscalers', NS, 'burner')!;
    expect(hpa.status).toMatchObject({ currentReplicas: 4, desiredReplicas: 4 });
    expect(hpa.status.currentMetrics[0].resource.current.averageUtilization).toBeGreaterThanOrEqual(140);
    const upCount = rescales.length;

    // The load falls to 20m a pod (10 %): the recommendation falls to the minimum, 1.
    const loweredAt = sim.now();
    for (const p of running) {
      const r = await sim.ask<KubeletReply<{ containers: number }>>(`kubelet-${p.spec.nodeName}`, { op: 'load', namespace: NS, pod: p.metadata.name, millicores: 20 });
      expect(r.ok).toBe(true);
    }
    let firstDropSeen: number | undefined;
    await observe(sim, loweredAt + 7 * MINUTE, SECOND, () => {
      if (firstDropSeen === undefined && replicas() < 4) firstDropSeen = sim.now();
    });

    // The first sync whose own recommendation was below 4 says so (ScaleDownStabilized: the
    // window still holds a higher one); the sync before it made the last high recommendation.
    const fell = statuses.find((s) => s.at > loweredAt && getCondition(s.status, 'AbleToScale')?.reason === 'ScaleDownStabilized');
    expect(fell).toBeDefined();
    const [lastHigh, fellSync] = syncs.filter((t) => t < fell!.at).slice(-2) as [number, number];
    expect(fell!.at - fellSync).toBeLessThan(SECOND);
    expect(fellSync - lastHigh).toBeGreaterThanOrEqual(15 * SECOND);
    expect(fellSync - lastHigh).toBeLessThan(16 * SECOND);
    expect(fell!.at - loweredAt).toBeLessThan(45 * SECOND);

    // No scale-down until 300 s after the last high recommendation; the first sync after that scales down.
    const downs = rescales.slice(upCount);
    expect(downs.length).toBeGreaterThan(0);
    expect(downs[0]!.replicas).toBeLessThan(4);
    expect(downs[0]!.at - lastHigh).toBeGreaterThanOrEqual(300 * SECOND);
    expect(downs[0]!.at - lastHigh).toBeLessThan(300 * SECOND + 17 * SECOND);
    expect(firstDropSeen! - downs[0]!.at).toBeLessThanOrEqual(SECOND);
    // Measured from when the load fell (what an operator sees): nothing for at least 4m45s.
    expect(firstDropSeen! - loweredAt).toBeGreaterThan(285 * SECOND);
    // And then all the way down to the minimum; the deployment follows.
    expect(replicas()).toBe(1);
    expect(burners()).toHaveLength(1);
    expect(client.peek('horizontalpodautoscalers', NS, 'burner')!.status).toMatchObject({ currentReplicas: 1, desiredReplicas: 1 });
    await c.stop();
  });

  it('replays: the same seed gives the same trace, another seed another', async () => {
    const run = async (seed: number) => {
      const c = await startCluster(seed);
      await c.create('deployments', {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'web', namespace: NS },
        spec: { replicas: 3, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'nginx', image: 'nginx' }] } } },
      });
      await c.create('jobs', {
        apiVersion: 'batch/v1',
        kind: 'Job',
        metadata: { name: 'pi', namespace: NS },
        spec: { completions: 2, parallelism: 2, template: { spec: { restartPolicy: 'Never', containers: [{ name: 'pi', image: 'actorkube/pi', args: ['2000'] }] } } },
      });
      await c.create('cronjobs', cronJob('tick', 'Forbid', 'sleep 30'));
      await c.sim.sleep(3 * MINUTE);
      const pods = c.client
        .objects('pods', NS)
        .map((p) => `${p.metadata.name} ${p.spec.nodeName} ${p.status?.podIP} ${p.status?.phase}`)
        .sort();
      const jobs = c.client.objects('jobs', NS).map((j) => `${j.metadata.name} ${jobFinished(j)} ${j.status?.succeeded}`);
      const out = { hash: c.sim.traceHash, events: c.sim.eventsRun, pods, jobs };
      await c.stop();
      return out;
    };
    const a = await run(42);
    expect(a.pods.filter((p) => p.startsWith('web-') && p.endsWith('Running'))).toHaveLength(3);
    expect(a.jobs).toEqual(expect.arrayContaining(['pi Complete 2', 'tick-1 Complete 1', 'tick-2 Complete 1']));
    const b = await run(42);
    expect(b).toEqual(a);
    const other = await run(43);
    expect(other.hash).not.toBe(a.hash);
  });
});
