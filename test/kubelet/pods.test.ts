import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../controllers/time.js';
import { FakeClient } from '../../controllers/client.js';
import { mergeDiff, PodIpam } from '../../actors/kubelet-pods.js';
import { condition, NODE, rig } from './helpers.js';

const nginx = (name: string, extra: Record<string, unknown> = {}) => ({ metadata: { name }, spec: { containers: [{ name: 'web', image: 'nginx', ...extra }] } });

describe('pod lifecycle', () => {
  it('shows ContainerCreating, then runs the pod: Running, Ready, an IP from the podCIDR and the hostIP', async () => {
    const r = await rig();
    await r.create(nginx('web'));
    let p = r.pod('web')!;
    expect(p.status.phase).toBe('Pending');
    expect(r.statusColumn('web')).toBe('ContainerCreating');
    expect(r.container('web').state).toEqual({ waiting: { reason: 'ContainerCreating' } });
    expect(p.status.hostIP).toBe('172.18.0.2');
    expect(condition(p, 'PodScheduled').status).toBe('True');
    expect(condition(p, 'Ready')).toMatchObject({ status: 'False', reason: 'ContainersNotReady', message: 'containers with unready status: [web]' });

    await r.advance(100);
    p = r.pod('web')!;
    expect(p.status.phase).toBe('Running');
    expect(r.statusColumn('web')).toBe('Running');
    expect(r.readyColumn('web')).toBe('1/1');
    expect(p.status.podIP).toBe('10.244.0.2');
    expect(p.status.podIPs).toEqual([{ ip: '10.244.0.2' }]);
    expect(p.status.hostIPs).toEqual([{ ip: '172.18.0.2' }]);
    expect(p.status.qosClass).toBe('BestEffort');
    expect(p.status.startTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const cs = r.container('web');
    expect(cs).toMatchObject({ name: 'web', ready: true, started: true, restartCount: 0, image: 'docker.io/library/nginx:latest', lastState: {} });
    expect(cs.state.running.startedAt).toMatch(/Z$/);
    expect(cs.containerID).toMatch(/^containerd:\/\/[0-9a-f]{64}$/);
    expect(cs.imageID).toMatch(/^docker\.io\/library\/nginx@sha256:[0-9a-f]{64}$/);
    for (const t of ['PodReadyToStartContainers', 'Initialized', 'Ready', 'ContainersReady', 'PodScheduled']) expect(condition(p, t).status).toBe('True');
    expect(r.recorder.events).toEqual(expect.arrayContaining(['Normal Pulled Container image "nginx" already present on machine', 'Normal Created Created container: web', 'Normal Started Started container web']));

    await r.create(nginx('web2'));
    await r.advance(100);
    expect(r.pod('web2')!.status.podIP).toBe('10.244.0.3');
  });

  it('runs init containers one at a time, in order, before the containers', async () => {
    const r = await rig();
    await r.create({
      metadata: { name: 'init' },
      spec: {
        initContainers: [
          { name: 'first', image: 'busybox', command: ['sh', '-c', 'echo one; sleep 2'] },
          { name: 'second', image: 'busybox', command: ['sleep', '3'] },
        ],
        containers: [{ name: 'app', image: 'nginx' }],
      },
    });
    expect(r.statusColumn('init')).toBe('Init:0/2');
    expect(r.container('init', 'app').state.waiting.reason).toBe('PodInitializing');
    await r.advance(100);
    expect(r.container('init', 'first').state.running).toBeDefined();
    expect(r.container('init', 'second').state.waiting.reason).toBe('PodInitializing');
    expect(r.statusColumn('init')).toBe('Init:0/2');
    expect(condition(r.pod('init'), 'Initialized')).toMatchObject({ status: 'False', reason: 'ContainersNotInitialized', message: 'containers with incomplete status: [first second]' });
    await r.advance(2000);
    expect(r.container('init', 'first').state.terminated).toMatchObject({ exitCode: 0, reason: 'Completed' });
    expect(r.container('init', 'second').state.running).toBeDefined();
    expect(r.statusColumn('init')).toBe('Init:1/2');
    expect(r.pod('init')!.status.phase).toBe('Pending');
    await r.advance(3000);
    expect(r.container('init', 'second').state.terminated).toMatchObject({ exitCode: 0, reason: 'Completed' });
    expect(r.container('init', 'app').state.running).toBeDefined();
    expect(r.statusColumn('init')).toBe('Running');
    expect(condition(r.pod('init'), 'Initialized').status).toBe('True');
    const logs = r.pods.logs({ op: 'logs', namespace: 'default', pod: 'init', container: 'first' }, 'apiserver');
    expect(logs).toEqual({ ok: true, value: { text: 'one\n', following: false } });
  });

  it('fails the pod when an init container fails under restartPolicy Never', async () => {
    const r = await rig();
    await r.create({ metadata: { name: 'badinit' }, spec: { restartPolicy: 'Never', initContainers: [{ name: 'setup', image: 'busybox', command: ['sh', '-c', 'exit 2'] }], containers: [{ name: 'app', image: 'nginx' }] } });
    await r.advance(200);
    expect(r.pod('badinit')!.status.phase).toBe('Failed');
    expect(r.statusColumn('badinit')).toBe('Init:Error');
    expect(r.container('badinit', 'app').state.waiting.reason).toBe('PodInitializing');
  });

  it('completes a Job-like pod: Succeeded, containers terminated Completed, Ready False with PodCompleted', async () => {
    const r = await rig();
    await r.create({ metadata: { name: 'pi' }, spec: { restartPolicy: 'Never', containers: [{ name: 'pi', image: 'perl:5.34.0', command: ['perl', '-Mbignum=bpi', '-wle', 'print bpi(200)'] }] } });
    await r.advance(200);
    const p = r.pod('pi')!;
    expect(p.status.phase).toBe('Succeeded');
    expect(r.statusColumn('pi')).toBe('Completed');
    expect(r.readyColumn('pi')).toBe('0/1');
    expect(r.container('pi').state.terminated).toMatchObject({ exitCode: 0, reason: 'Completed' });
    expect(condition(p, 'Ready')).toMatchObject({ status: 'False', reason: 'PodCompleted' });
    expect(condition(p, 'PodReadyToStartContainers').status).toBe('False');
    const logs = r.pods.logs({ op: 'logs', namespace: 'default', pod: 'pi' }, 'apiserver');
    expect(logs.ok && logs.value.text).toMatch(/^3\.14159265358979323846264338327950288419716939937510\d{149}\n$/);
  });

  it('fails a pod whose container exits non-zero under restartPolicy Never: Failed, exit code, reason Error', async () => {
    const r = await rig();
    await r.create({ metadata: { name: 'boom' }, spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'busybox', command: ['sh', '-c', 'echo boom >&2; exit 3'] }] } });
    await r.advance(200);
    expect(r.pod('boom')!.status.phase).toBe('Failed');
    expect(r.container('boom').state.terminated).toMatchObject({ exitCode: 3, reason: 'Error' });
    expect(r.statusColumn('boom')).toBe('Error');
    expect(r.restarts('boom')).toBe(0);
    expect(condition(r.pod('boom'), 'Ready')).toMatchObject({ status: 'False', reason: 'ContainersNotReady' });
  });

  it('restartPolicy OnFailure restarts a failing container and lets a succeeding one finish', async () => {
    const r = await rig();
    await r.create({ metadata: { name: 'retry' }, spec: { restartPolicy: 'OnFailure', containers: [{ name: 'c', image: 'busybox', command: ['sh', '-c', 'sleep 1; exit 1'] }] } });
    await r.create({ metadata: { name: 'once' }, spec: { restartPolicy: 'OnFailure', containers: [{ name: 'c', image: 'busybox', command: ['sleep', '1'] }] } });
    await r.advance(1200);
    expect(r.restarts('retry')).toBe(1);
    expect(r.pod('retry')!.status.phase).toBe('Running');
    expect(r.container('retry').lastState.terminated).toMatchObject({ exitCode: 1, reason: 'Error' });
    expect(r.pod('once')!.status.phase).toBe('Succeeded');
    expect(r.restarts('once')).toBe(0);
  });

  it('restartPolicy Always restarts containers that exit 0 too', async () => {
    const r = await rig();
    await r.create({ metadata: { name: 'bb' }, spec: { containers: [{ name: 'c', image: 'busybox' }] } });
    await r.advance(200);
    expect(r.restarts('bb')).toBe(1);
    await r.advance(100);
    expect(r.statusColumn('bb')).toBe('CrashLoopBackOff');
    expect(r.container('bb').lastState.terminated).toMatchObject({ exitCode: 0, reason: 'Completed' });
    expect(r.pod('bb')!.status.phase).toBe('Running');
  });
});

describe('CrashLoopBackOff', () => {
  it('restarts at once the first time, then after 10 s, 20 s, 40 s … capped at 5 minutes', async () => {
    const r = await rig();
    await r.create({ metadata: { name: 'crash' }, spec: { containers: [{ name: 'c', image: 'actorkube/crash', args: ['--after=1s', '--code=2'] }] } });
    await r.advance(1100); // sandbox 0.1 s, then a 1 s run
    expect(r.restarts('crash')).toBe(1);
    expect(r.container('crash').state.running).toBeDefined();
    expect(r.container('crash').lastState.terminated).toMatchObject({ exitCode: 2, reason: 'Error' });
    const delays: number[] = [];
    const messages: string[] = [];
    for (let i = 0; i < 7; i++) {
      await r.until(() => r.statusColumn('crash') === 'CrashLoopBackOff', 2_000);
      messages.push(r.container('crash').state.waiting.message);
      const restarts = r.restarts('crash');
      delays.push(await r.until(() => r.restarts('crash') === restarts + 1, 400_000, 1000));
      expect(r.pod('crash')!.status.phase).toBe('Running');
    }
    expect(delays).toEqual([10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000]);
    expect(messages[0]).toMatch(/^back-off 10s restarting failed container=c pod=crash_default\(.+\)$/);
    expect(messages.map((m) => m.split(' ')[1])).toEqual(['10s', '20s', '40s', '1m20s', '2m40s', '5m0s', '5m0s']);
    expect(r.recorder.events.filter((e) => e.startsWith('Warning BackOff')).length).toBeGreaterThan(0);
  });

  it('resets the back-off after a container ran for 10 minutes', async () => {
    const r = await rig();
    await r.create({ metadata: { name: 'slow' }, spec: { containers: [{ name: 'c', image: 'actorkube/crash', args: ['--after=11m'] }] } });
    await r.advance(100 + 11 * 60_000);
    expect(r.restarts('slow')).toBe(1);
    await r.advance(11 * 60_000);
    // Ran 11 minutes since the last restart: no back-off, straight back up.
    expect(r.restarts('slow')).toBe(2);
    expect(r.container('slow').state.running).toBeDefined();
  });
});

describe('probes', () => {
  it('restarts a container whose liveness probe fails (the Kubernetes exec liveness example)', async () => {
    const r = await rig();
    await r.create({
      metadata: { name: 'liveness-exec' },
      spec: {
        terminationGracePeriodSeconds: 2,
        containers: [
          {
            name: 'liveness',
            image: 'registry.k8s.io/busybox',
            args: ['/bin/sh', '-c', 'touch /tmp/healthy; sleep 30; rm -f /tmp/healthy; sleep 600'],
            livenessProbe: { exec: { command: ['cat', '/tmp/healthy'] }, initialDelaySeconds: 5, periodSeconds: 5 },
          },
        ],
      },
    });
    await r.advance(100 + 29_000);
    expect(r.recorder.events.some((e) => e.includes('Liveness probe failed'))).toBe(false);
    // The file goes at 30 s: failures at 30, 35 and 40 s; then SIGTERM, which sh ignores, and SIGKILL 2 s later.
    await r.advance(11_500);
    expect(r.recorder.events).toContain("Warning Unhealthy Liveness probe failed: cat: can't open '/tmp/healthy': No such file or directory");
    expect(r.recorder.events).toContain('Normal Killing Container liveness failed liveness probe, will be restarted');
    expect(r.restarts('liveness-exec')).toBe(0);
    await r.advance(2_000);
    expect(r.restarts('liveness-exec')).toBe(1);
    expect(r.container('liveness-exec').lastState.terminated).toMatchObject({ exitCode: 137, reason: 'Error' });
    expect(r.container('liveness-exec').state.running).toBeDefined();
  });

  it('readiness follows the probe: failureThreshold failures make it unready, successThreshold successes ready again', async () => {
    const r = await rig();
    await r.create(nginx('ready', { readinessProbe: { httpGet: { path: '/', port: 80 }, periodSeconds: 1, failureThreshold: 2, successThreshold: 2 } }));
    await r.advance(100);
    expect(r.readyColumn('ready')).toBe('0/1');
    await r.advance(1000);
    expect(r.readyColumn('ready')).toBe('1/1');
    expect(condition(r.pod('ready'), 'Ready').status).toBe('True');
    expect(r.pods.health({ op: 'health', namespace: 'default', pod: 'ready', healthy: false })).toMatchObject({ ok: true });
    await r.advance(1000);
    expect(r.readyColumn('ready')).toBe('1/1');
    await r.advance(1000);
    expect(r.readyColumn('ready')).toBe('0/1');
    expect(r.statusColumn('ready')).toBe('Running');
    expect(condition(r.pod('ready'), 'Ready')).toMatchObject({ status: 'False', reason: 'ContainersNotReady' });
    expect(r.recorder.events).toContain('Warning Unhealthy Readiness probe failed: HTTP probe failed with statuscode: 500');
    r.pods.health({ op: 'health', namespace: 'default', pod: 'ready', healthy: true });
    await r.advance(2000);
    expect(r.readyColumn('ready')).toBe('1/1');
    expect(r.restarts('ready')).toBe(0);
  });

  it('holds liveness and readiness back until the startup probe succeeds', async () => {
    const r = await rig();
    await r.create(
      nginx('slowstart', {
        args: ['--warmup=20'],
        startupProbe: { tcpSocket: { port: 80 }, periodSeconds: 5, failureThreshold: 10 },
        readinessProbe: { httpGet: { path: '/', port: 80 }, periodSeconds: 5 },
      }),
    );
    await r.advance(100 + 19_000);
    expect(r.container('slowstart')).toMatchObject({ started: false, ready: false });
    expect(r.recorder.events).toContain('Warning Unhealthy Startup probe failed: dial tcp 10.244.0.2:80: connect: connection refused');
    await r.advance(1_000);
    expect(r.container('slowstart')).toMatchObject({ started: true, ready: true });
  });

  it('kills a container that never passes its startup probe', async () => {
    const r = await rig();
    await r.create(nginx('nostart', { args: ['--warmup=600'], startupProbe: { httpGet: { port: 80 }, periodSeconds: 1, failureThreshold: 3 } }));
    await r.advance(100 + 2_500);
    expect(r.restarts('nostart')).toBe(1);
    expect(r.recorder.events).toContain('Normal Killing Container web failed startup probe, will be restarted');
  });
});

describe('termination', () => {
  it('stops the containers on delete and removes the pod: a server exits on SIGTERM at once', async () => {
    const r = await rig();
    await r.create(nginx('web'));
    await r.advance(100);
    await r.client.delete('pods', 'default', 'web');
    await r.settle();
    const p = r.pod('web');
    expect(p === undefined || r.statusColumn('web') === 'Terminating').toBe(true);
    await r.advance(10);
    expect(r.pod('web')).toBeUndefined();
    const del = r.client.writes().filter((a) => a.verb === 'delete');
    expect(del.at(-1)?.options).toMatchObject({ gracePeriodSeconds: 0, preconditions: { uid: expect.any(String) } });
    expect(r.pods.stats().ipsInUse).toBe(0);
  });

  it('waits terminationGracePeriodSeconds for a process that ignores SIGTERM, then kills it', async () => {
    const r = await rig();
    await r.create({ metadata: { name: 'sleeper' }, spec: { terminationGracePeriodSeconds: 5, containers: [{ name: 'c', image: 'busybox', command: ['sleep', '3600'] }] } });
    await r.advance(100);
    await r.client.delete('pods', 'default', 'sleeper');
    await r.advance(4_900);
    expect(r.statusColumn('sleeper')).toBe('Terminating');
    expect(r.pod('sleeper')!.metadata.deletionGracePeriodSeconds).toBe(5);
    expect(r.container('sleeper').state.running).toBeDefined();
    const seen: string[] = [];
    r.informer.addEventHandler({ update: (_o, n) => seen.push(`${n.status?.phase} ${JSON.stringify(n.status?.containerStatuses?.[0]?.state?.terminated?.exitCode)}`) });
    await r.advance(200);
    expect(r.pod('sleeper')).toBeUndefined();
    // Its last status before it went: Failed, killed with 137.
    expect(seen).toContain('Failed 137');
  });

  it('honours a shorter grace period given on delete', async () => {
    const r = await rig();
    await r.create({ metadata: { name: 'sleeper' }, spec: { containers: [{ name: 'c', image: 'busybox', command: ['sleep', '3600'] }] } });
    await r.advance(100);
    await r.client.delete('pods', 'default', 'sleeper', { gracePeriodSeconds: 1 });
    await r.advance(1_100);
    expect(r.pod('sleeper')).toBeUndefined();
  });

  it('fails a pod that outlives activeDeadlineSeconds', async () => {
    const r = await rig();
    await r.create({ metadata: { name: 'dl' }, spec: { activeDeadlineSeconds: 5, terminationGracePeriodSeconds: 1, containers: [{ name: 'c', image: 'nginx' }] } });
    await r.advance(5_100);
    const p = r.pod('dl')!;
    expect(p.status).toMatchObject({ phase: 'Failed', reason: 'DeadlineExceeded', message: 'Pod was active on the node longer than the specified deadline' });
    expect(r.container('dl').state.terminated).toMatchObject({ exitCode: 0, reason: 'Completed' });
  });
});

describe('admission, logs, metrics, recovery', () => {
  it('rejects a pod beyond the node capacity (OutOfpods, OutOfcpu)', async () => {
    const r = await rig({ allocatable: { cpuMilli: 1000, memoryBytes: 1024 ** 3, pods: 2 } });
    await r.create(nginx('a', { resources: { requests: { cpu: '600m' } } }));
    await r.create(nginx('b', { resources: { requests: { cpu: '600m' } } }));
    await r.create(nginx('c'));
    await r.create(nginx('d'));
    await r.advance(200);
    expect(r.pod('a')!.status.phase).toBe('Running');
    expect(r.pod('b')!.status).toMatchObject({ phase: 'Failed', reason: 'OutOfcpu' });
    expect(r.pod('b')!.status.message).toBe("Pod was rejected: Node didn't have enough resource: cpu, requested: 600, used: 600, capacity: 1000");
    expect(r.statusColumn('b')).toBe('OutOfcpu');
    expect(r.pod('c')!.status.phase).toBe('Running');
    expect(r.pod('d')!.status).toMatchObject({ phase: 'Failed', reason: 'OutOfpods' });
  });

  it('keeps bounded logs per container, the previous instance, and streams to followers', async () => {
    const r = await rig();
    await r.create({ metadata: { name: 'talk' }, spec: { containers: [{ name: 'c', image: 'busybox', command: ['sh', '-c', 'i=0; while [ $i -lt 1500 ]; do echo line $i; i=$((i+1)); sleep 0.01; done; exit 1'] }] } });
    await r.advance(100 + 995);
    const mid = r.pods.logs({ op: 'logs', namespace: 'default', pod: 'talk', tailLines: 2, follow: true, stream: 's1' }, 'apiserver');
    expect(mid).toEqual({ ok: true, value: { text: 'line 98\nline 99\n', following: true } });
    await r.advance(20);
    expect(r.sent.map((s) => s.msg.text).join('')).toBe('line 100\nline 101\n');
    expect(r.sent[0]).toMatchObject({ to: 'apiserver', msg: { t: 'kubeletLogs', stream: 's1' } });
    await r.advance(14_000);
    // The container exited: the follower got everything and then `done`.
    expect(r.sent.at(-1)!.msg.done).toBe(true);
    expect(r.sent.map((s) => s.msg.text).join('').split('\n').filter(Boolean).length).toBe(1400);
    const all = r.pods.logs({ op: 'logs', namespace: 'default', pod: 'talk', previous: true }, 'apiserver');
    const lines = all.ok ? all.value.text.split('\n').filter(Boolean) : [];
    expect(lines.length).toBe(1000);
    expect(lines[0]).toBe('line 500');
    expect(lines.at(-1)).toBe('line 1499');
    const ts = r.pods.logs({ op: 'logs', namespace: 'default', pod: 'talk', previous: true, tailLines: 1, timestamps: true }, 'apiserver');
    expect(ts.ok && ts.value.text).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z line 1499\n$/);
    expect(r.pods.logs({ op: 'logs', namespace: 'default', pod: 'nope' }, 'x')).toMatchObject({ ok: false, status: { code: 404 } });
    expect(r.pods.logs({ op: 'logs', namespace: 'default', pod: 'talk', container: 'zz' }, 'x')).toMatchObject({ ok: false, status: { code: 400, message: 'container zz is not valid for pod talk' } });
  });

  it('says a waiting container has no logs yet', async () => {
    const r = await rig();
    await r.create(nginx('new'));
    expect(r.pods.logs({ op: 'logs', namespace: 'default', pod: 'new' }, 'x')).toMatchObject({ ok: false, status: { code: 400, message: 'container "web" in pod "new" is waiting to start: ContainerCreating' } });
    expect(r.pods.logs({ op: 'logs', namespace: 'default', pod: 'new', previous: true }, 'x')).toMatchObject({ ok: false, status: { message: 'previous terminated container "web" in pod "new" not found' } });
  });

  it('reports CPU from the work done (a burner at 500m within a 1-core limit) and memory', async () => {
    const r = await rig();
    await r.create({ metadata: { name: 'burn', labels: { app: 'burn' } }, spec: { containers: [{ name: 'c', image: 'actorkube/cpu-burner', args: ['--load=500m', '--memory=64Mi'], resources: { limits: { cpu: '1' } } }] } });
    await r.create(nginx('idle'));
    await r.advance(100);
    for (let i = 0; i < 3; i++) {
      await r.advance(10_000);
      r.pods.sample();
    }
    await r.advance(5_000);
    const m = r.pods.metrics({ op: 'metrics', namespace: 'default' }, { name: NODE });
    const burn = m.pods.find((p) => p.metadata.name === 'burn')!;
    const cpu = Number(burn.containers[0]!.usage.cpu.slice(0, -1));
    expect(cpu / 1e6).toBeGreaterThan(450);
    expect(cpu / 1e6).toBeLessThan(550);
    expect(burn.containers[0]!.usage.memory).toBe(`${64 * 1024}Ki`);
    expect(burn.metadata.labels).toEqual({ app: 'burn' });
    expect(burn.window).toBe('5s');
    expect(m.pods.find((p) => p.metadata.name === 'idle')!.containers[0]!.usage.cpu).toBe('0n');
    expect(Number(m.node.usage.cpu.slice(0, -1))).toBe(cpu);
    // Requests add work: a burst shows up as more CPU, still within the limit.
    expect(r.pods.load({ op: 'load', namespace: 'default', pod: 'burn', requests: 500 })).toMatchObject({ ok: true });
    r.pods.sample();
    await r.advance(5_000);
    const busy = Number(r.pods.metrics({ op: 'metrics', namespace: 'default', pods: ['burn'] }, { name: NODE }).pods[0]!.containers[0]!.usage.cpu.slice(0, -1)) / 1e6;
    expect(busy).toBeGreaterThan(900);
    expect(busy).toBeLessThanOrEqual(1000);
  });

  it('recovers running pods after a restart from their reported status, keeping IPs, container ids and restart counts', async () => {
    const clock = new FakeClock();
    const client = new FakeClient({ clock, gracefulPodDeletion: true });
    const first = await rig({ clock, client });
    await first.create(nginx('keep'));
    await first.create({ metadata: { name: 'flaky' }, spec: { containers: [{ name: 'c', image: 'actorkube/crash', args: ['--after=1s'] }] } });
    await first.create({ metadata: { name: 'done' }, spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'busybox', command: ['true'] }] } });
    await first.advance(1_200);
    const before = first.pod('keep')!;
    expect(first.restarts('flaky')).toBe(1);
    // The kubelet dies: its informer and workers are gone with it.
    first.informer.stop();
    first.pods.shutdown();
    await first.advance(30_000);
    const second = await rig({ clock, client });
    await second.advance(100);
    const after = second.pod('keep')!;
    expect(after.status.podIP).toBe(before.status.podIP);
    expect(second.container('keep')).toMatchObject({ containerID: before.status.containerStatuses[0].containerID, restartCount: 0, ready: true, state: { running: { startedAt: before.status.containerStatuses[0].state.running.startedAt } } });
    expect(second.statusColumn('keep')).toBe('Running');
    expect(second.restarts('flaky')).toBeGreaterThanOrEqual(1);
    expect(second.pod('done')!.status.phase).toBe('Succeeded');
    await second.create(nginx('fresh'));
    await second.advance(100);
    expect(second.pod('fresh')!.status.podIP).not.toBe(before.status.podIP);
  });
});

describe('helpers', () => {
  it('mergeDiff writes changed leaves, whole arrays, and nulls for removed keys', () => {
    expect(mergeDiff({ a: 1, b: { c: 2, d: 3 }, e: [1] }, { a: 1, b: { c: 2, x: 4 }, e: [1, 2] })).toEqual({ b: { d: null, x: 4 }, e: [1, 2] });
    expect(mergeDiff({ a: 1 }, { a: 1 })).toBeUndefined();
    expect(mergeDiff({ state: { waiting: { reason: 'X' } } }, { state: { running: { startedAt: 't' } } })).toEqual({ state: { waiting: null, running: { startedAt: 't' } } });
  });

  it('PodIpam hands out addresses from the CIDR in turn and reuses released ones last', () => {
    const ipam = new PodIpam('10.244.3.0/30');
    expect(ipam.allocate('a')).toBe('10.244.3.2');
    expect(ipam.allocate('b')).toBeNull();
    const big = new PodIpam('10.244.1.0/24');
    expect(big.allocate('a')).toBe('10.244.1.2');
    expect(big.allocate('b')).toBe('10.244.1.3');
    big.release('10.244.1.2', 'a');
    expect(big.allocate('c')).toBe('10.244.1.4');
    big.reserve('10.244.1.5', 'd');
    expect(big.allocate('e')).toBe('10.244.1.6');
  });
});
