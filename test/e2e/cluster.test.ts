/**
 * The whole cluster as a user runs it: `npm run cluster -- --headless` in a child process,
 * driven with the real kubectl through the kubeconfig it writes.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Resolver } from 'node:dns/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { threadPolicies } from '../../runtime/sched.js';
import { canSetPolicy } from '../runtime/helpers.js';

const KUBECTL = '/usr/bin/kubectl';
const run = promisify(execFile);
const haveKubectl = existsSync(KUBECTL);
if (!haveKubectl) console.warn(`skipping the cluster end-to-end tests: ${KUBECTL} is not installed`);

let dir: string;
let child: ChildProcess;
let ready: { kubeconfig: string; nodes: string[]; api: string; dns: string };

async function kubectl(...args: string[]): Promise<string> {
  const { stdout } = await run(KUBECTL, args, { env: { ...process.env, KUBECONFIG: ready.kubeconfig }, timeout: 60_000 });
  return stdout;
}

async function eventually<T>(fn: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`condition not met in ${timeoutMs} ms; last value: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

beforeAll(async () => {
  if (!haveKubectl) return;
  dir = mkdtempSync(join(tmpdir(), 'actorkube-e2e-'));
  child = spawn(process.execPath, ['dist/cli/cluster.js', '--headless', '--data-dir', dir, '--api-port', '0', '--nodes', '2'], { stdio: ['ignore', 'pipe', 'pipe'] });
  ready = await new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => l.startsWith('ready '));
      if (line) resolve(JSON.parse(line.slice(6)));
    });
    child.on('exit', (code) => reject(new Error(`cluster exited with ${code} before it was ready: ${out}`)));
    setTimeout(() => reject(new Error(`no ready line in 60 s: ${out}`)), 60_000);
  });
});

afterAll(async () => {
  if (!child) return;
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  child.kill('SIGTERM');
  expect(await exited).toBe(0);
  rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!haveKubectl)('npm run cluster, driven with kubectl', () => {
  it.skipIf(!canSetPolicy)('runs every thread of the cluster under SCHED_BATCH, and refuses an unknown --sched-policy', async () => {
    const policies = threadPolicies(child.pid!);
    expect(policies.size).toBeGreaterThan(5); // workers and V8's helpers
    expect(new Set(policies.values())).toEqual(new Set(['batch']));
    const bad = await run(process.execPath, ['dist/cli/cluster.js', '--headless', '--data-dir', join(dir, 'unused'), '--sched-policy', 'fifo']).then(
      () => null,
      (e: { code: number; stderr: string }) => e,
    );
    expect(bad?.code).toBe(2);
    expect(bad?.stderr).toContain('--sched-policy must be batch or inherit, got fifo');
    expect(existsSync(join(dir, 'unused'))).toBe(false);
  });

  it('runs a Deployment on the nodes, rolls it forward and back to the same ReplicaSet, and runs a Job to completion', async () => {
    expect(ready.nodes).toEqual(['node-1', 'node-2']);
    await eventually(() => kubectl('get', 'nodes', '--no-headers'), (o) => (o.match(/ Ready /g) ?? []).length === 2);
    const manifest = join(dir, 'web.yaml');
    writeFileSync(
      manifest,
      `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: nginx, image: "nginx:1.27"}]
---
apiVersion: batch/v1
kind: Job
metadata: {name: pi}
spec:
  backoffLimit: 2
  template:
    spec:
      restartPolicy: Never
      containers: [{name: pi, image: "perl:5.34.0", command: ["perl", "-Mbignum=bpi", "-wle", "print bpi(50)"]}]
`,
    );
    expect(await kubectl('apply', '-f', manifest)).toContain('deployment.apps/web created');
    await kubectl('rollout', 'status', 'deploy/web', '--timeout=60s');
    const running = await kubectl('get', 'pods', '-l', 'app=web', '--no-headers');
    expect((running.match(/1\/1\s+Running/g) ?? []).length).toBe(3);

    expect(await kubectl('scale', 'deploy/web', '--replicas=5')).toContain('deployment.apps/web scaled');
    await kubectl('rollout', 'status', 'deploy/web', '--timeout=60s');
    await eventually(() => kubectl('get', 'pods', '-l', 'app=web', '--no-headers'), (o) => (o.match(/1\/1\s+Running/g) ?? []).length === 5);
    await kubectl('scale', 'deploy/web', '--replicas=3');
    await eventually(() => kubectl('get', 'deploy', 'web', '--no-headers'), (o) => /^web\s+3\/3\s+3\s+3\s/.test(o));

    await kubectl('set', 'image', 'deploy/web', 'nginx=nginx:1.28');
    await kubectl('rollout', 'status', 'deploy/web', '--timeout=60s');
    await kubectl('rollout', 'undo', 'deploy/web');
    await kubectl('rollout', 'status', 'deploy/web', '--timeout=60s');
    // Undo goes back to the first ReplicaSet: no third one is made.
    const rs = JSON.parse(await kubectl('get', 'rs', '-l', 'app=web', '-o', 'json')) as { items: { spec: { replicas: number; template: { spec: { containers: { image: string }[] } } } }[] };
    expect(rs.items).toHaveLength(2);
    const active = rs.items.filter((r) => r.spec.replicas > 0);
    expect(active.map((r) => r.spec.template.spec.containers[0]!.image)).toEqual(['nginx:1.27']);

    await kubectl('wait', '--for=condition=complete', 'job/pi', '--timeout=60s');
    expect((await kubectl('logs', 'job/pi')).trim()).toBe('3.1415926535897932384626433832795028841971693993751');
  });

  it('fails a Job whose pods keep failing once it reaches its backoffLimit', async () => {
    await kubectl('create', 'job', 'flaky', '--image=busybox', '--', 'sh', '-c', 'echo trying; exit 3');
    await kubectl('patch', 'job', 'flaky', '--type=merge', '-p', '{"spec":{"backoffLimit":1}}');
    // One failure, a 10 s back-off, a second failure: the limit of 1 retry is used up.
    await kubectl('wait', '--for=condition=failed', 'job/flaky', '--timeout=60s');
    const job = JSON.parse(await kubectl('get', 'job', 'flaky', '-o', 'json'));
    expect(job.status.conditions.find((c: { type: string }) => c.type === 'Failed')).toMatchObject({ status: 'True', reason: 'BackoffLimitExceeded', message: 'Job has reached the specified backoff limit' });
    expect(job.status.failed).toBe(2);
    const pods = await kubectl('get', 'pods', '-l', 'job-name=flaky', '--no-headers');
    expect((pods.match(/\sError\s/g) ?? []).length).toBe(2);
    expect((await kubectl('logs', '-l', 'job-name=flaky')).trim().split('\n')).toEqual(['trying', 'trying']);
  });

  it('drains a node through the eviction API: its pods move, the node stays cordoned until uncordoned', async () => {
    await kubectl('scale', 'deploy/web', '--replicas=4');
    await kubectl('rollout', 'status', 'deploy/web', '--timeout=60s');
    const out = await kubectl('drain', 'node-1', '--ignore-daemonsets', '--delete-emptydir-data', '--timeout=60s');
    expect(out).toContain('node/node-1 drained');
    expect(out).toMatch(/evicting pod default\/web-/);
    await kubectl('rollout', 'status', 'deploy/web', '--timeout=60s');
    const pods = JSON.parse(await kubectl('get', 'pods', '-l', 'app=web', '-o', 'json')).items as { spec: { nodeName: string }; status: { phase: string }; metadata: { deletionTimestamp?: string } }[];
    const live = pods.filter((p) => !p.metadata.deletionTimestamp);
    expect(live).toHaveLength(4);
    expect(new Set(live.map((p) => p.spec.nodeName))).toEqual(new Set(['node-2']));
    expect(await kubectl('get', 'node', 'node-1', '--no-headers')).toMatch(/Ready,SchedulingDisabled/);
    await kubectl('uncordon', 'node-1');
    expect(await kubectl('get', 'node', 'node-1', '--no-headers')).not.toMatch(/SchedulingDisabled/);
  });

  it('drains within a PodDisruptionBudget: evictions wait (429) while it allows none, and enough pods stay ready', { timeout: 120_000 }, async () => {
    const manifest = join(dir, 'pdb.yaml');
    writeFileSync(manifest, 'apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: web}\nspec:\n  minAvailable: 3\n  selector: {matchLabels: {app: web}}\n');
    expect(await kubectl('apply', '-f', manifest)).toContain('poddisruptionbudget.policy/web created');
    await eventually(() => kubectl('get', 'pdb', 'web', '--no-headers'), (o) => /^web\s+3\s+N\/A\s+1\s/.test(o));
    let fewestReady = Infinity;
    let draining = true;
    const watchReady = (async () => {
      while (draining) {
        const pods = JSON.parse(await kubectl('get', 'pods', '-l', 'app=web', '-o', 'json')).items as { metadata: { deletionTimestamp?: string }; status: { conditions?: { type: string; status: string }[] } }[];
        const ready = pods.filter((p) => !p.metadata.deletionTimestamp && p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')).length;
        fewestReady = Math.min(fewestReady, ready);
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
    const { stdout, stderr } = await run(KUBECTL, ['drain', 'node-2', '--ignore-daemonsets', '--timeout=100s'], { env: { ...process.env, KUBECONFIG: ready.kubeconfig }, timeout: 110_000 });
    draining = false;
    await watchReady;
    expect(stdout).toContain('node/node-2 drained');
    expect(stderr).toMatch(/Cannot evict pod as it would violate the pod's disruption budget/);
    expect(fewestReady).toBeGreaterThanOrEqual(3);
    await kubectl('rollout', 'status', 'deploy/web', '--timeout=60s');
    const nodes = JSON.parse(await kubectl('get', 'pods', '-l', 'app=web', '-o', 'json')).items.filter((p: { metadata: { deletionTimestamp?: string } }) => !p.metadata.deletionTimestamp).map((p: { spec: { nodeName: string } }) => p.spec.nodeName);
    expect(new Set(nodes)).toEqual(new Set(['node-1']));
    await kubectl('uncordon', 'node-2');
  });

  it("serves cluster DNS: a Service's cluster IP, a headless Service's pods, named ports", async () => {
    const manifest = join(dir, 'svc.yaml');
    writeFileSync(
      manifest,
      `apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: web-pods}
spec:
  clusterIP: None
  selector: {app: web}
  ports: [{name: http, port: 80}]
`,
    );
    await kubectl('apply', '-f', manifest);
    const resolver = new Resolver({ timeout: 2_000, tries: 2 });
    resolver.setServers([ready.dns]);
    const clusterIP = (await kubectl('get', 'svc', 'web', '-o', 'jsonpath={.spec.clusterIP}')).trim();
    expect(await resolver.resolve4('web.default.svc.cluster.local')).toEqual([clusterIP]);
    const podIPs = async () =>
      (JSON.parse(await kubectl('get', 'pods', '-l', 'app=web', '-o', 'json')).items as { metadata: { deletionTimestamp?: string }; status: { podIP?: string; conditions?: { type: string; status: string }[] } }[])
        .filter((p) => !p.metadata.deletionTimestamp && p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'))
        .map((p) => p.status.podIP!)
        .sort();
    await eventually(async () => [JSON.stringify(await resolver.resolve4('web-pods.default.svc.cluster.local').then((a) => a.sort(), () => [])), JSON.stringify(await podIPs())], ([dnsIPs, ips]) => dnsIPs === ips && ips !== '[]');
    const srv = await resolver.resolveSrv('_http._tcp.web.default.svc.cluster.local');
    expect(srv).toEqual([{ name: 'web.default.svc.cluster.local', port: 80, priority: 0, weight: 100 }]);
    await expect(resolver.resolve4('nope.default.svc.cluster.local')).rejects.toMatchObject({ code: 'ENOTFOUND' });
    // The API server keeps the kubernetes Service pointing at itself, as in every cluster.
    expect(await resolver.resolve4('kubernetes.default.svc.cluster.local')).toEqual(['10.96.0.1']);
    const apiPort = Number(new URL(ready.api).port);
    expect(await kubectl('get', 'endpoints', 'kubernetes', '--no-headers')).toMatch(new RegExp(`^kubernetes\\s+127\\.0\\.0\\.1:${apiPort}\\s`));
  });

  it('proxies NodePort Services to their ready pods, in turn, and answers 503 without any', async () => {
    const get = async (port: string, path = '/') => {
      const r = await fetch(`http://127.0.0.1:${port}${path}`);
      return { status: r.status, body: await r.text() };
    };
    await kubectl('create', 'deployment', 'echo', '--image=registry.example/echo:1', '--replicas=2');
    await kubectl('expose', 'deployment', 'echo', '--type=NodePort', '--port=8080');
    await kubectl('rollout', 'status', 'deploy/echo', '--timeout=60s');
    const port = (await kubectl('get', 'svc', 'echo', '-o', 'jsonpath={.spec.ports[0].nodePort}')).trim();
    expect(Number(port)).toBeGreaterThanOrEqual(30000);
    const seen = new Set<string>();
    await eventually(
      async () => {
        const r = await get(port, '/hello').catch(() => ({ status: 0, body: '' }));
        if (r.status === 200) seen.add(r.body.replace(/^GET \/hello served by /, '').trim());
        return seen.size;
      },
      (n) => n === 2,
    );
    const pods = JSON.parse(await kubectl('get', 'pods', '-l', 'app=echo', '-o', 'json')).items.map((p: { metadata: { name: string } }) => p.metadata.name).sort();
    expect([...seen].sort()).toEqual(pods);
    await kubectl('scale', 'deploy/echo', '--replicas=0');
    await eventually(() => get(port), (r) => r.status === 503);
    expect((await get(port)).body).toBe('no endpoints available for service "default/echo"\n');
  });
});
