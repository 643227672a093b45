import { describe as suite, expect, it } from 'vitest';
import type { KubeObject } from '../../api/types.js';
import { DeploymentController, REVISION_ANNOTATION, maxSurge, maxUnavailable } from '../../controllers/deployment.js';
import { ReplicaSetController } from '../../controllers/replicaset.js';
import { getCondition, isPodReady } from '../../controllers/podutil.js';
import { harness, makeReady, podTemplate, settle, type Harness } from './helpers.js';

function deployment(name: string, replicas: number, extra: Record<string, any> = {}): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: 'default' },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: podTemplate({ app: name }),
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } },
      revisionHistoryLimit: 10,
      progressDeadlineSeconds: 600,
      ...extra,
    },
  };
}

async function cluster(d: KubeObject): Promise<{ h: Harness; dc: DeploymentController }> {
  const h = await harness([d]);
  const rsc = new ReplicaSetController(h.ctx);
  const dc = new DeploymentController(h.ctx);
  rsc.start();
  dc.start();
  await h.sync();
  await settle();
  return { h, dc };
}

/** The kubelet's part: every pod not yet ready becomes ready. */
async function readyAll(h: Harness): Promise<void> {
  for (const p of h.client.objects('pods')) if (!isPodReady(p) && !p.metadata.deletionTimestamp) makeReady(h, 'default', p.metadata.name!);
  await settle();
}

function sets(h: Harness): Record<string, number> {
  const out: Record<string, number> = {};
  for (const rs of h.client.objects('replicasets')) out[rs.metadata.annotations?.[REVISION_ANNOTATION] ?? '?'] = rs.spec.replicas;
  return out;
}

async function setImage(h: Harness, name: string, image: string): Promise<void> {
  const d = h.client.peek('deployments', 'default', name)!;
  d.spec.template.spec.containers[0].image = image;
  await h.client.update('deployments', 'default', d);
  await settle();
}

/** What `kubectl rollout status` checks. */
function rolloutDone(d: KubeObject): boolean {
  const s = d.status ?? {};
  return (s.observedGeneration ?? 0) >= d.metadata.generation! && s.updatedReplicas === d.spec.replicas && s.replicas === s.updatedReplicas && s.availableReplicas >= s.updatedReplicas;
}

suite('Deployment controller', () => {
  it('resolves maxSurge up and maxUnavailable down from percentages', () => {
    const d = deployment('x', 10);
    expect([maxSurge(d), maxUnavailable(d)]).toEqual([3, 2]);
    const zero = deployment('x', 1, { strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 0, maxUnavailable: 0 } } });
    expect(maxUnavailable(zero)).toBe(1);
    expect(maxUnavailable(deployment('x', 3, { strategy: { type: 'Recreate' } }))).toBe(0);
  });

  it('a new Deployment creates a ReplicaSet with pod-template-hash and revision 1, and completes', async () => {
    const { h } = await cluster(deployment('web', 3));
    const [rs] = h.client.objects('replicasets');
    const hash = rs!.metadata.labels!['pod-template-hash']!;
    expect(rs!.metadata.name).toBe(`web-${hash}`);
    expect(rs!.spec.selector.matchLabels).toEqual({ app: 'web', 'pod-template-hash': hash });
    expect(rs!.metadata.annotations).toMatchObject({ [REVISION_ANNOTATION]: '1', 'deployment.kubernetes.io/desired-replicas': '3', 'deployment.kubernetes.io/max-replicas': '4' });
    expect(h.recorder.events).toContain(`Normal ScalingReplicaSet Scaled up replica set web-${hash} from 0 to 3`);
    expect(h.client.objects('pods')).toHaveLength(3);
    await readyAll(h);
    const d = h.client.peek('deployments', 'default', 'web')!;
    expect(d.metadata.annotations![REVISION_ANNOTATION]).toBe('1');
    expect(d.status).toMatchObject({ replicas: 3, updatedReplicas: 3, readyReplicas: 3, availableReplicas: 3, unavailableReplicas: 0, observedGeneration: 1 });
    expect(getCondition(d.status, 'Available')).toMatchObject({ status: 'True', reason: 'MinimumReplicasAvailable' });
    expect(getCondition(d.status, 'Progressing')).toMatchObject({ status: 'True', reason: 'NewReplicaSetAvailable', message: `ReplicaSet "web-${hash}" has successfully progressed.` });
    expect(rolloutDone(d)).toBe(true);
  });

  it('rolls out with maxSurge 1 / maxUnavailable 0 one pod at a time as pods become ready', async () => {
    const { h } = await cluster(deployment('web', 3, { strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } } }));
    await readyAll(h);
    await setImage(h, 'web', 'nginx:1.28');
    const steps = [sets(h)];
    let d = h.client.peek('deployments', 'default', 'web')!;
    expect(rolloutDone(d)).toBe(false);
    expect(getCondition(d.status, 'Progressing')!.reason).toMatch(/NewReplicaSetCreated|ReplicaSetUpdated/);
    for (let i = 0; i < 4; i++) {
      await readyAll(h);
      steps.push(sets(h));
      // Never fewer than 3 ready pods, never more than 4 pods in all.
      const pods = h.client.objects('pods').filter((p) => !p.metadata.deletionTimestamp);
      expect(pods.length).toBeLessThanOrEqual(4);
    }
    expect(steps).toEqual([
      { '1': 3, '2': 1 },
      { '1': 2, '2': 2 },
      { '1': 1, '2': 3 },
      { '1': 0, '2': 3 },
      { '1': 0, '2': 3 },
    ]);
    d = h.client.peek('deployments', 'default', 'web')!;
    expect(rolloutDone(d)).toBe(true);
    expect(d.metadata.annotations![REVISION_ANNOTATION]).toBe('2');
    expect(d.metadata.generation).toBe(2);
  });

  it('rolls out 10 replicas with 25% surge (3) and 25% unavailable (2)', async () => {
    const { h } = await cluster(deployment('web', 10));
    await readyAll(h);
    await setImage(h, 'web', 'nginx:1.28');
    // New set up by 3 (surge: 13 pods at most); old down by 2 (13 - 8 minimum available - 3
    // new unavailable); then the new set takes the 2 freed slots.
    expect(sets(h)).toEqual({ '1': 8, '2': 5 });
    for (let i = 0; i < 10 && !rolloutDone(h.client.peek('deployments', 'default', 'web')!); i++) {
      await readyAll(h);
      const ready = h.client.objects('pods').filter((p) => isPodReady(p) && !p.metadata.deletionTimestamp).length;
      expect(ready).toBeGreaterThanOrEqual(8);
      expect(h.client.objects('pods').length).toBeLessThanOrEqual(13);
    }
    expect(sets(h)).toEqual({ '1': 0, '2': 10 });
  });

  it('Recreate scales the old ReplicaSet to zero before creating the new one', async () => {
    const { h } = await cluster(deployment('db', 2, { strategy: { type: 'Recreate' } }));
    await readyAll(h);
    h.recorder.events.length = 0;
    await setImage(h, 'db', 'postgres:17');
    const scaling = h.recorder.events.filter((e) => e.includes('ScalingReplicaSet'));
    expect(scaling[0]).toMatch(/^Normal ScalingReplicaSet Scaled down replica set db-\w+ from 2 to 0$/);
    expect(scaling[1]).toMatch(/^Normal ScalingReplicaSet Scaled up replica set db-\w+ from 0 to 2$/);
    expect(sets(h)).toEqual({ '1': 0, '2': 2 });
  });

  it('rolls back by template: the old ReplicaSet becomes the new one with the next revision', async () => {
    const { h } = await cluster(deployment('web', 2));
    await readyAll(h);
    const firstRs = h.client.objects('replicasets')[0]!;
    await setImage(h, 'web', 'nginx:1.28');
    for (let i = 0; i < 4; i++) await readyAll(h);
    expect(sets(h)).toEqual({ '1': 0, '2': 2 });
    // kubectl rollout undo: patch the template back to revision 1's.
    await setImage(h, 'web', 'nginx:1.27');
    for (let i = 0; i < 4; i++) await readyAll(h);
    expect(h.client.objects('replicasets')).toHaveLength(2);
    const back = h.client.peek('replicasets', 'default', firstRs.metadata.name!)!;
    expect(back.metadata.annotations![REVISION_ANNOTATION]).toBe('3');
    expect(back.metadata.annotations!['deployment.kubernetes.io/revision-history']).toBe('1');
    expect(back.spec.replicas).toBe(2);
    expect(h.client.peek('deployments', 'default', 'web')!.metadata.annotations![REVISION_ANNOTATION]).toBe('3');
  });

  it('a paused Deployment does not roll out but still scales, and resumes', async () => {
    const { h } = await cluster(deployment('web', 2));
    await readyAll(h);
    let d = h.client.peek('deployments', 'default', 'web')!;
    d.spec.paused = true;
    await h.client.update('deployments', 'default', d);
    await settle();
    await setImage(h, 'web', 'nginx:1.28');
    expect(h.client.objects('replicasets')).toHaveLength(1);
    d = h.client.peek('deployments', 'default', 'web')!;
    expect(getCondition(d.status, 'Progressing')).toMatchObject({ status: 'Unknown', reason: 'DeploymentPaused', message: 'Deployment is paused' });
    d.spec.replicas = 4;
    await h.client.update('deployments', 'default', d);
    await settle();
    expect(sets(h)).toEqual({ '1': 4 });
    d = h.client.peek('deployments', 'default', 'web')!;
    d.spec.paused = false;
    await h.client.update('deployments', 'default', d);
    await settle();
    expect(h.client.objects('replicasets')).toHaveLength(2);
    for (let i = 0; i < 6; i++) await readyAll(h);
    expect(sets(h)).toEqual({ '1': 0, '2': 4 });
    d = h.client.peek('deployments', 'default', 'web')!;
    expect(getCondition(d.status, 'Progressing')!.reason).toBe('NewReplicaSetAvailable');
  });

  it('reports ProgressDeadlineExceeded when the new pods never become ready', async () => {
    const { h } = await cluster(deployment('web', 2, { progressDeadlineSeconds: 60 }));
    await readyAll(h);
    await setImage(h, 'web', 'nginx:broken');
    let d = h.client.peek('deployments', 'default', 'web')!;
    expect(getCondition(d.status, 'Progressing')!.status).toBe('True');
    await h.run(30_000);
    d = h.client.peek('deployments', 'default', 'web')!;
    expect(getCondition(d.status, 'Progressing')!.status).toBe('True');
    await h.run(32_000);
    d = h.client.peek('deployments', 'default', 'web')!;
    const c = getCondition(d.status, 'Progressing')!;
    expect(c).toMatchObject({ status: 'False', reason: 'ProgressDeadlineExceeded' });
    expect(c.message).toMatch(/^ReplicaSet "web-\w+" has timed out progressing\.$/);
  });

  it('keeps revisionHistoryLimit old ReplicaSets', async () => {
    const { h } = await cluster(deployment('web', 1, { revisionHistoryLimit: 1 }));
    for (const img of ['a:1', 'a:2', 'a:3']) {
      await readyAll(h);
      await setImage(h, 'web', img);
      for (let i = 0; i < 4; i++) await readyAll(h);
    }
    const revs = h.client.objects('replicasets').map((rs) => rs.metadata.annotations![REVISION_ANNOTATION]).sort();
    expect(revs).toEqual(['3', '4']);
  });

  it('scaling in the middle of a rollout spreads replicas proportionally', async () => {
    const { h } = await cluster(deployment('web', 10));
    await readyAll(h);
    await setImage(h, 'web', 'nginx:1.28');
    expect(sets(h)).toEqual({ '1': 8, '2': 5 });
    const d = h.client.peek('deployments', 'default', 'web')!;
    d.spec.replicas = 20;
    await h.client.update('deployments', 'default', d);
    await settle();
    // 20 + 5 surge allowed, 12 to add, in proportion to each set's share of the 13 it was
    // sized for: old round(8 × 25 / 13) − 8 = 7, new round(5 × 25 / 13) − 5 = 5.
    expect(sets(h)).toEqual({ '1': 15, '2': 10 });
    expect(h.recorder.events.filter((e) => e.includes('from 8 to 15') || e.includes('from 5 to 10'))).toHaveLength(2);
  });

  it('never writes to a cached object (the caches are frozen)', async () => {
    const { h, dc } = await cluster(deployment('web', 3));
    await readyAll(h);
    await setImage(h, 'web', 'nginx:1.28');
    for (let i = 0; i < 4; i++) await readyAll(h);
    expect(dc.stats.errors).toBe(0);
    expect([...dc.lastErrors.values()]).toEqual([]);
  });
});
