// Kubelets on real worker threads: the store, the API server and two kubelets sharing one
// worker (and its piscina pool), driven through HTTPS and the real kubectl binary.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubeletSpec } from '../../actors/kubelet.js';
import { call, startCluster, until, type TestCluster } from '../api/harness.js';

const KUBECTL = process.env.KUBECTL ?? '/usr/bin/kubectl';
const haveKubectl = existsSync(KUBECTL);
if (!haveKubectl) console.warn(`skipping kubectl checks: ${KUBECTL} not found`);

let c: TestCluster;

function kubectl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(KUBECTL, args, { env: { ...process.env, KUBECONFIG: c.kubeconfig }, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

async function ok(args: string[]): Promise<string> {
  const r = await kubectl(args);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

/** The row of `kubectl get pods` for a pod, split into columns. */
async function row(name: string, wide = false): Promise<string[]> {
  const out = await ok(['get', 'pod', name, '--no-headers', ...(wide ? ['-o', 'wide'] : [])]);
  return out.trim().split(/\s{2,}/);
}

const podBody = (name: string, node: string, spec: Record<string, unknown>) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name, labels: { app: name } }, spec: { nodeName: node, ...spec } });

async function createPod(name: string, node: string, spec: Record<string, unknown>): Promise<void> {
  const r = await call(c, 'POST', '/api/v1/namespaces/default/pods', podBody(name, node, spec));
  expect(r.status, r.text).toBe(201);
}

async function getPod(name: string): Promise<any> {
  const r = await call(c, 'GET', `/api/v1/namespaces/default/pods/${name}`);
  return r.status === 200 ? r.json() : undefined;
}

beforeAll(async () => {
  c = await startCluster();
  const common = { statusEveryMs: 2_000, leaseEveryMs: 2_000, metricsEveryMs: 1_000, sandboxDelayMs: 50, poolThreads: 1 };
  c.host.supervise({
    id: 'kubelets',
    children: [kubeletSpec({ nodeName: 'node-1', podCIDR: '10.244.1.0/24', labels: { zone: 'a' }, ...common }, 'kubelets'), kubeletSpec({ nodeName: 'node-2', podCIDR: '10.244.2.0/24', ...common }, 'kubelets')],
  });
});

afterAll(async () => {
  await c?.stop();
});

describe('kubelets on worker threads', () => {
  it('register their nodes Ready and renew their leases', async () => {
    const nodes = await until(async () => {
      const r = await call(c, 'GET', '/api/v1/nodes');
      const items = r.json().items as any[];
      return items.length === 2 && items.every((n) => n.status?.conditions?.some((x: any) => x.type === 'Ready' && x.status === 'True')) ? items : null;
    }, 15_000, 'two Ready nodes');
    const n1 = nodes!.find((n) => n.metadata.name === 'node-1');
    expect(n1.metadata.labels).toMatchObject({ 'kubernetes.io/hostname': 'node-1', 'kubernetes.io/os': 'linux', zone: 'a' });
    expect(n1.spec.podCIDR).toBe('10.244.1.0/24');
    expect(n1.status.capacity).toMatchObject({ cpu: '4', memory: '8388608Ki', pods: '110' });
    expect(n1.status.nodeInfo.kubeletVersion).toBe('v1.32.0-actorkube');
    expect(n1.status.addresses).toContainEqual({ type: 'InternalIP', address: '172.18.1.2' });
    const ready = n1.status.conditions.find((x: any) => x.type === 'Ready');
    expect(ready).toMatchObject({ reason: 'KubeletReady', message: 'kubelet is posting ready status' });
    const lease = await until(async () => {
      const r = await call(c, 'GET', '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/node-1');
      return r.status === 200 ? r.json() : null;
    }, 10_000, 'the node lease');
    expect(lease.spec).toMatchObject({ holderIdentity: 'node-1', leaseDurationSeconds: 40 });
    const renewed = await until(async () => {
      const r = await call(c, 'GET', '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/node-1');
      return r.json().spec.renewTime !== lease.spec.renewTime;
    }, 10_000, 'a lease renewal');
    expect(renewed).toBe(true);
    if (haveKubectl) {
      const out = await ok(['get', 'nodes']);
      expect(out).toMatch(/node-1\s+Ready\s+<none>\s+\S+\s+v1\.32\.0-actorkube/);
      expect(out).toMatch(/node-2\s+Ready/);
    }
  });

  it('run pods bound to them: Running, READY 1/1, an IP from the node podCIDR', async () => {
    await createPod('web-1', 'node-1', { containers: [{ name: 'nginx', image: 'nginx:1.27', ports: [{ containerPort: 80 }], readinessProbe: { httpGet: { path: '/', port: 80 }, periodSeconds: 1 } }] });
    await createPod('web-2', 'node-2', { containers: [{ name: 'nginx', image: 'nginx:1.27' }] });
    const p1 = await until(async () => {
      const p = await getPod('web-1');
      return p?.status?.conditions?.some((x: any) => x.type === 'Ready' && x.status === 'True') ? p : null;
    }, 15_000, 'web-1 ready');
    expect(p1.status.phase).toBe('Running');
    expect(p1.status.podIP).toMatch(/^10\.244\.1\.\d+$/);
    expect(p1.status.hostIP).toBe('172.18.1.2');
    const p2 = await until(async () => ((await getPod('web-2'))?.status?.phase === 'Running' ? getPod('web-2') : null), 15_000, 'web-2 running');
    expect(p2.status.podIP).toMatch(/^10\.244\.2\.\d+$/);
    if (haveKubectl) {
      const cols = await row('web-1', true);
      expect(cols.slice(0, 4)).toEqual(['web-1', '1/1', 'Running', '0']);
      expect(cols).toContain(p1.status.podIP);
      expect(cols).toContain('node-1');
    }
  });

  it('completes a pi pod, and kubectl logs prints its digits', async () => {
    await createPod('pi', 'node-2', { restartPolicy: 'Never', containers: [{ name: 'pi', image: 'perl:5.34.0', command: ['perl', '-Mbignum=bpi', '-wle', 'print bpi(2000)'] }] });
    await until(async () => (await getPod('pi'))?.status?.phase === 'Succeeded', 15_000, 'pi Succeeded');
    const raw = await call(c, 'GET', '/api/v1/namespaces/default/pods/pi/log');
    expect(raw.status).toBe(200);
    expect(raw.headers['content-type']).toMatch(/^text\/plain/);
    expect(raw.text).toMatch(/^3\.14159265358979323846264338327950288419716939937510\d{1949}\n$/);
    if (haveKubectl) {
      expect((await ok(['logs', 'pi'])).trim()).toBe(raw.text.trim());
      expect((await row('pi')).slice(0, 4)).toEqual(['pi', '0/1', 'Completed', '0']);
      const err = await kubectl(['logs', 'pi', '--previous']);
      expect(err.code).not.toBe(0);
      expect(err.stderr).toContain('previous terminated container "pi" in pod "pi" not found');
    }
  });

  it.skipIf(!haveKubectl)('runs kubectl exec commands in the container: its files, output and exit code', async () => {
    await createPod('shell', 'node-1', { containers: [{ name: 'box', image: 'busybox', command: ['sh', '-c', 'echo ready > /tmp/state; sleep 3600'] }] });
    await until(async () => (await getPod('shell'))?.status?.phase === 'Running', 15_000, 'shell Running');
    await until(async () => (await kubectl(['exec', 'shell', '--', 'cat', '/tmp/state'])).stdout === 'ready\n', 10_000, 'the file the container wrote');
    expect(await ok(['exec', 'shell', '-c', 'box', '--', 'sh', '-c', 'echo $((6 * 7)); echo done'])).toBe('42\ndone\n');
    const failed = await kubectl(['exec', 'shell', '--', 'sh', '-c', 'exit 3']);
    expect(failed.code).toBe(3);
    expect(failed.stderr).toContain('command terminated with exit code 3');
    const wrong = await kubectl(['exec', 'shell', '-c', 'nope', '--', 'true']);
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toContain('container nope is not valid for pod shell');
    const interactive = await kubectl(['exec', '-i', 'shell', '--', 'sh']);
    expect(interactive.stderr).toContain('interactive exec (stdin, tty) is not supported');
    // Without an upgrade, exec is a 400 as in Kubernetes.
    expect((await call(c, 'POST', '/api/v1/namespaces/default/pods/shell/exec?command=true')).status).toBe(400);
  });

  it('shows a crashing pod in CrashLoopBackOff with restarts', async () => {
    await createPod('crash', 'node-1', { containers: [{ name: 'crash', image: 'actorkube/crash', args: ['--after=0.3s', '--code=3'] }] });
    const p = await until(async () => {
      const pod = await getPod('crash');
      return pod?.status?.containerStatuses?.[0]?.state?.waiting?.reason === 'CrashLoopBackOff' ? pod : null;
    }, 15_000, 'CrashLoopBackOff');
    const cs = p.status.containerStatuses[0];
    expect(cs.restartCount).toBe(1);
    expect(cs.lastState.terminated).toMatchObject({ exitCode: 3, reason: 'Error' });
    expect(cs.state.waiting.message).toMatch(/^back-off 10s restarting failed container=crash pod=crash_default/);
    expect(p.status.phase).toBe('Running');
    if (haveKubectl) {
      const cols = await row('crash');
      expect(cols.slice(0, 3)).toEqual(['crash', '0/1', 'CrashLoopBackOff']);
      expect(cols[3]).toMatch(/^1\b/);
      expect(await ok(['logs', 'crash', '--previous'])).toContain('fatal: simulated crash (exit code 3)');
    }
  });

  it.skipIf(!haveKubectl)('follows logs with kubectl logs -f until the container exits', async () => {
    await createPod('ticker', 'node-2', { restartPolicy: 'Never', containers: [{ name: 'c', image: 'busybox', command: ['sh', '-c', 'for i in 1 2 3; do echo tick $i; sleep 0.5; done'] }] });
    await until(async () => (await getPod('ticker'))?.status?.containerStatuses?.[0]?.state?.running, 10_000, 'ticker running');
    const out = await ok(['logs', '-f', 'ticker']);
    expect(out).toBe('tick 1\ntick 2\ntick 3\n');
  });

  it('serves metrics.k8s.io from the kubelets: kubectl top pods and nodes', async () => {
    await createPod('burner', 'node-1', { containers: [{ name: 'burn', image: 'actorkube/cpu-burner', args: ['--load=300m', '--memory=48Mi'], resources: { requests: { cpu: '100m' }, limits: { cpu: '1' } } }] });
    await until(async () => (await getPod('burner'))?.status?.phase === 'Running', 10_000, 'burner running');
    const groups = (await call(c, 'GET', '/apis')).json().groups.map((g: any) => g.name);
    expect(groups).toContain('metrics.k8s.io');
    const m = await until(async () => {
      const r = await call(c, 'GET', '/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/burner');
      if (r.status !== 200) return null;
      const cpu = Number(String(r.json().containers[0].usage.cpu).replace(/n$/, '')) / 1e6;
      return cpu > 150 ? r.json() : null;
    }, 15_000, 'burner CPU in the metrics API');
    expect(m).toMatchObject({ kind: 'PodMetrics', apiVersion: 'metrics.k8s.io/v1beta1', metadata: { name: 'burner', namespace: 'default' } });
    expect(m.containers[0].usage.memory).toBe(`${48 * 1024}Ki`);
    const nodes = (await call(c, 'GET', '/apis/metrics.k8s.io/v1beta1/nodes')).json();
    expect(nodes.items.map((n: any) => n.metadata.name).sort()).toEqual(['node-1', 'node-2']);
    const list = (await call(c, 'GET', '/apis/metrics.k8s.io/v1beta1/namespaces/default/pods?labelSelector=app%3Dburner')).json();
    expect(list.items.map((p: any) => p.metadata.name)).toEqual(['burner']);
    if (haveKubectl) {
      const top = await ok(['top', 'pods']);
      const line = top.split('\n').find((l) => l.startsWith('burner'))!;
      expect(line).toMatch(/^burner\s+\d+m\s+48Mi/);
      expect(Number(/\s(\d+)m\s/.exec(line)![1])).toBeGreaterThan(150);
      expect(top).toMatch(/web-1\s+0m\s+8Mi/);
      const topNodes = await ok(['top', 'nodes']);
      expect(topNodes).toMatch(/node-1\s+\d+m\s+\d+%\s+\d+Mi\s+\d+%/);
      expect(topNodes).toMatch(/node-2\s/);
    }
  });

  it('terminates a deleted pod gracefully and it disappears', async () => {
    const before = await getPod('web-2');
    expect(before.status.phase).toBe('Running');
    const r = await call(c, 'DELETE', '/api/v1/namespaces/default/pods/web-2');
    expect(r.status).toBe(202);
    expect(r.json().metadata.deletionTimestamp).toBeTruthy();
    await until(async () => (await getPod('web-2')) === undefined, 10_000, 'web-2 gone');
    if (haveKubectl) {
      // kubectl waits for the pod to go; a sleeper ignoring SIGTERM takes its (short) grace period.
      await createPod('sleeper', 'node-2', { terminationGracePeriodSeconds: 1, containers: [{ name: 'c', image: 'busybox', command: ['sleep', '3600'] }] });
      await until(async () => (await getPod('sleeper'))?.status?.phase === 'Running', 10_000, 'sleeper running');
      const started = Date.now();
      expect(await ok(['delete', 'pod', 'sleeper'])).toContain('pod "sleeper" deleted');
      expect(Date.now() - started).toBeGreaterThanOrEqual(900);
      expect(await getPod('sleeper')).toBeUndefined();
    }
  });

  it('recovers its pods status after the kubelet actor crashes and restarts', async () => {
    const before = await getPod('web-1');
    const id = before.status.containerStatuses[0].containerID;
    // Work in flight on the shared pool when the kubelet dies must not hurt its neighbour.
    await createPod('spin', 'node-1', { containers: [{ name: 'c', image: 'busybox', command: ['sh', '-c', 'while true; do :; done'] }] });
    await createPod('pi-late', 'node-1', { restartPolicy: 'Never', containers: [{ name: 'pi', image: 'actorkube/pi', args: ['20000'] }] });
    await until(async () => (await getPod('pi-late'))?.status?.phase === 'Running', 10_000, 'pi-late running');
    c.host.crash('kubelet-node-1');
    const st = await until(async () => {
      const s = (await c.host.status('kubelet-node-1').catch(() => ({}))) as any;
      return s.incarnation >= 1 && s.registered && s.informer?.synced ? s : null;
    }, 15_000, 'kubelet re-registered');
    expect(st.incarnation).toBeGreaterThanOrEqual(1);
    expect(st.pods).toBeGreaterThanOrEqual(3);
    // The pod stays Running with the same container; the restarted kubelet keeps reporting it.
    await createPod('after', 'node-1', { containers: [{ name: 'nginx', image: 'nginx' }] });
    await until(async () => (await getPod('after'))?.status?.phase === 'Running', 10_000, 'a new pod runs after the restart');
    const after = await getPod('web-1');
    expect(after.status.phase).toBe('Running');
    expect(after.status.podIP).toBe(before.status.podIP);
    expect(after.status.containerStatuses[0]).toMatchObject({ containerID: id, restartCount: 0 });
    await until(async () => (await getPod('web-1'))?.status?.containerStatuses?.[0]?.ready === true, 10_000, 'web-1 ready again');
    expect((await getPod('after')).status.podIP).not.toBe(before.status.podIP);
    // The crash pod keeps crashing and counting.
    await until(async () => ((await getPod('crash'))?.status?.containerStatuses?.[0]?.restartCount ?? 0) >= 2, 20_000, 'crash restarts counted on');
    expect(st.pool.kind).toBe('pool');
    // node-2's kubelet, on the same worker, lived through it.
    expect(((await c.host.status('kubelet-node-2')) as any).incarnation).toBe(0);
    await until(async () => (await getPod('pi-late'))?.status?.phase === 'Succeeded', 15_000, 'pi-late done after the restart');
  });
});
