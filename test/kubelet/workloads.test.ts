import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseLabelSelector } from '../../api/selectors.js';
import { Indexer, Lister } from '../../controllers/informer.js';
import { FakeClock } from '../../controllers/time.js';
import { KubeletMetricsSource } from '../../actors/kubelet-gateway.js';
import { formatDuration } from '../../actors/kubelet-messages.js';
import { PoolCompute } from '../../actors/kubelet-pool.js';
import { exec, parseScript, runSync, ShellExit, VirtualFs, type ShellEnv } from '../../actors/kubelet-shell.js';
import { piDigits } from '../../actors/kubelet-workload-worker.js';
import { imageRepo, normalizeImage, planFor, SimCompute, startWorkload } from '../../actors/kubelet-workloads.js';

function shellEnv(lines: string[]): ShellEnv {
  return { vars: new Map([['HOSTNAME', 'pod-1']]), fs: new VirtualFs(), hostname: 'pod-1', now: () => 1_704_067_200_000, out: (t) => lines.push(t), sleeps: 0, status: 0 };
}

/** Runs a script to its end, skipping sleeps; returns [exit code, output, sleeps requested]. */
function runScript(src: string): [number, string, number[]] {
  const out: string[] = [];
  const sleeps: number[] = [];
  const gen = exec(parseScript(src), shellEnv(out));
  try {
    for (let i = 0; i < 1000; i++) {
      const r = gen.next();
      if (r.done) return [r.value, out.join(''), sleeps];
      if ('sleepMs' in r.value) sleeps.push(r.value.sleepMs);
    }
    throw new Error('script did not end');
  } catch (err) {
    if (err instanceof ShellExit) return [err.code, out.join(''), sleeps];
    throw err;
  }
}

describe('workload plans', () => {
  it('names images as a container runtime reports them', () => {
    expect(normalizeImage('nginx')).toBe('docker.io/library/nginx:latest');
    expect(normalizeImage('nginx:1.27')).toBe('docker.io/library/nginx:1.27');
    expect(normalizeImage('actorkube/pi')).toBe('docker.io/actorkube/pi:latest');
    expect(normalizeImage('registry.k8s.io/pause:3.9')).toBe('registry.k8s.io/pause:3.9');
    expect(normalizeImage('localhost:5000/app@sha256:abc')).toBe('localhost:5000/app@sha256:abc');
    expect(imageRepo('docker.io/library/busybox:1.36')).toBe('busybox');
    expect(imageRepo('registry.k8s.io/hpa-example')).toBe('registry.k8s.io/hpa-example');
  });

  it('chooses a behaviour from image, command and args', () => {
    expect(planFor({ image: 'nginx' })).toMatchObject({ kind: 'server', listens: true, port: 80 });
    expect(planFor({ image: 'redis:7', ports: [{ containerPort: 6379 }] })).toMatchObject({ kind: 'server', port: 6379 });
    expect(planFor({ image: 'actorkube/pi', args: ['500'] })).toMatchObject({ kind: 'pi', digits: 500 });
    expect(planFor({ image: 'perl:5.34.0', command: ['perl', '-Mbignum=bpi', '-wle', 'print bpi(2000)'] })).toMatchObject({ kind: 'pi', digits: 2000, onTerm: 'ignore' });
    expect(planFor({ image: 'actorkube/crash', args: ['--after=3', '--code=4'] })).toMatchObject({ kind: 'crash', afterMs: 3000, exitCode: 4 });
    expect(planFor({ image: 'actorkube/cpu-burner', args: ['--load=500m', '--cost=5ms'] })).toMatchObject({ kind: 'burner', loadMilli: 500, costMs: 5 });
    expect(planFor({ image: 'registry.k8s.io/hpa-example' })).toMatchObject({ kind: 'burner', loadMilli: 0 });
    expect(planFor({ image: 'busybox', command: ['stress', '--cpu', '2'] })).toMatchObject({ kind: 'burner', loadMilli: 2000 });
    expect(planFor({ image: 'busybox', command: ['sh', '-c', 'exit 3'] })).toMatchObject({ kind: 'script', onTerm: 'ignore' });
    expect(planFor({ image: 'busybox', command: ['sleep', '5'] })).toMatchObject({ kind: 'script' });
    expect(planFor({ image: 'busybox' })).toMatchObject({ kind: 'script', script: { t: 'list', items: [] } });
    expect(planFor({ image: 'python:3', command: ['python', 'app.py'] })).toMatchObject({ kind: 'server' });
    expect(planFor({ image: 'busybox', command: ['sh', '-c', 'echo "unterminated'] })).toMatchObject({ kind: 'invalid', exitCode: 2 });
    expect(planFor({ image: 'nginx', args: ['--memory=64Mi', '--warmup=5', '--fail-after=60'] })).toMatchObject({ memoryBytes: 64 * 1024 * 1024, warmupMs: 5000, failAfterMs: 60_000 });
  });

  it('computes pi as perl -Mbignum=bpi prints it', () => {
    expect(piDigits(1)).toBe('3');
    expect(piDigits(10)).toBe('3.141592653');
    const d = piDigits(1000);
    expect(d.length).toBe(1001);
    expect(d.endsWith('216420198')).toBe(true);
    expect(piDigits(1001).endsWith('2164201989')).toBe(true); // the 1000th decimal
  });

  it('OOM-kills a container whose working set exceeds its memory limit', () => {
    const clock = new FakeClock();
    const exits: string[] = [];
    startWorkload(planFor({ image: 'nginx', args: ['--memory=256Mi'] }), { clock, timers: clock, compute: new SimCompute(clock), hostname: 'p', env: {}, cpuLimitMilli: 1000, memoryLimitBytes: 128 * 1024 * 1024 }, { output: () => {}, exit: (code, reason) => exits.push(`${code} ${reason}`) });
    clock.advance(1000);
    expect(exits).toEqual(['137 OOMKilled']);
  });
});

describe('the mini shell', () => {
  it('runs sequences, conditionals, loops, variables, arithmetic and exit codes', () => {
    expect(runScript('echo hi; exit 3')).toEqual([3, 'hi\n', []]);
    expect(runScript('i=0; while [ $i -lt 3 ]; do echo $i; i=$((i+1)); done')[1]).toBe('0\n1\n2\n');
    expect(runScript('for x in a b c; do echo "item $x"; done | grep -v b')[1]).toBe('item a\nitem c\n');
    expect(runScript('if [ -f /nope ]; then echo yes; else echo no; fi')[1]).toBe('yes\n'); // image files exist
    expect(runScript('rm -f /tmp/x; if [ -f /tmp/x ]; then echo yes; else echo no; fi')[1]).toBe('no\n');
    expect(runScript('false && echo a || echo b')[1]).toBe('b\n');
    expect(runScript('false; exit')[0]).toBe(1);
    expect(runScript('echo "$(hostname) at $(date)"')[1]).toBe('pod-1 at Mon Jan  1 00:00:00 UTC 2024\n');
    expect(runScript('echo ok > /tmp/f; cat /tmp/f; cat /tmp/f >> /tmp/g; cat /tmp/g')[1]).toBe('ok\nok\n');
    expect(runScript('touch /tmp/healthy; sleep 30; rm -f /tmp/healthy; sleep 600')[2]).toEqual([30_000, 600_000]);
    expect(runScript("printf '%s-%d\\n' a 7; sleep 1m")).toEqual([0, 'a-7\n', [60_000]]);
    expect(runScript('echo $UNSET "$UNSET" x')[1]).toBe(' x\n');
    expect(() => parseScript('while true; do echo')).toThrow(/syntax error/);
  });

  it('answers exec probes synchronously against the files a script made', () => {
    const out: string[] = [];
    const env = shellEnv(out);
    runSync(parseScript('touch /tmp/healthy'), env);
    expect(runSync(parseScript('cat /tmp/healthy'), env)).toBe(0);
    runSync(parseScript('rm /tmp/healthy'), env);
    expect(runSync(parseScript('cat /tmp/healthy'), env)).toBe(1);
    expect(out.join('')).toContain("cat: can't open '/tmp/healthy': No such file or directory");
    expect(runSync(parseScript('while true; do :; done'), env)).toBe(124);
  });

  it('spins in a loop that never sleeps (a busy loop burns a core)', () => {
    const gen = exec(parseScript('while true; do :; done'), shellEnv([]));
    expect(gen.next().value).toEqual({ spin: true });
    expect(gen.next().value).toEqual({ spin: true });
  });
});

describe('the piscina pool', () => {
  it('runs pi and CPU burns on pool threads and measures their time', async () => {
    const pool = PoolCompute.acquire('test', 1);
    const run = (task: Parameters<PoolCompute['run']>[0]) => new Promise<any>((resolve, reject) => pool.run(task, (err, r) => (err ? reject(err) : resolve(r))));
    const [pi, burn] = await Promise.all([run({ op: 'pi', digits: 100 }), run({ op: 'burn', ms: 50 })]);
    expect(pi.text).toBe(piDigits(100));
    expect(burn.busyNs).toBeGreaterThanOrEqual(45e6);
    const s = pool.stats();
    expect(s).toMatchObject({ kind: 'pool', completed: 2, failed: 0, running: 0 });
    expect(s.busyMs).toBeGreaterThanOrEqual(45);
    await pool.close();
  });
});

describe('the HPA metrics source', () => {
  it('gathers pod usage from the kubelets of their nodes, in milli-units', async () => {
    const indexer = new Indexer();
    const pod = (name: string, node: string, app: string) => ({ metadata: { name, namespace: 'default', labels: { app } }, spec: { nodeName: node }, status: { phase: 'Running' } });
    for (const p of [pod('a', 'n1', 'web'), pod('b', 'n2', 'web'), pod('c', 'n1', 'other')]) indexer.set(`default/${p.metadata.name}`, p);
    const asked: string[] = [];
    const ask = async (to: string, msg: any) => {
      asked.push(`${to} ${msg.pods.join(',')}`);
      const usage: Record<string, string> = { a: '250000000n', b: '1500m' };
      return {
        ok: true,
        value: {
          node: {},
          pods: msg.pods.map((name: string) => ({ metadata: { name, namespace: 'default' }, timestamp: '2024-01-01T00:00:10Z', window: '10s', containers: [{ name: 'c', usage: { cpu: usage[name] ?? '0', memory: '1Ki' } }] })),
        },
      };
    };
    const source = new KubeletMetricsSource(ask, new Lister(indexer, true));
    const m = await source.podResourceMetrics('default', parseLabelSelector('app=web'), 'cpu');
    expect(asked.sort()).toEqual(['kubelet-n1 a', 'kubelet-n2 b']);
    expect(m.get('a')).toEqual({ value: 250, timestampMs: 1_704_067_210_000, windowMs: 10_000 });
    expect(m.get('b')!.value).toBe(1500);
    expect((await source.podResourceMetrics('default', parseLabelSelector('app=web'), 'memory')).get('a')!.value).toBe(1024_000);
  });

  it('prints windows as Go durations', () => {
    expect(formatDuration(10_000)).toBe('10s');
    expect(formatDuration(10_500)).toBe('10.5s');
    expect(formatDuration(60_000)).toBe('1m0s');
    expect(formatDuration(300_000)).toBe('5m0s');
  });
});

describe('kubelet purity', () => {
  it('reads time, randomness and timers only through the actor context (the pool and its task file aside)', () => {
    const FORBIDDEN = /Math\.random|Date\.now|new Date\(\s*\)|performance\.now|setTimeout|setInterval|setImmediate|hrtime|worker_threads/;
    const files = ['kubelet.ts', 'kubelet-pods.ts', 'kubelet-workloads.ts', 'kubelet-shell.ts', 'kubelet-messages.ts', 'kubelet-gateway.ts'];
    const hits: string[] = [];
    for (const f of files) {
      readFileSync(new URL(`../../actors/${f}`, import.meta.url), 'utf8')
        .split('\n')
        .forEach((line, i) => {
          const code = line.replace(/\/\/.*$/, '');
          if (FORBIDDEN.test(code) && !/^\s*\*/.test(code)) hits.push(`${f}:${i + 1}: ${line.trim()}`);
        });
    }
    expect(hits).toEqual([]);
  });
});
