/**
 * Simulated containers whose work is real. A container's image, command and args choose a
 * behaviour (a "plan"); an instance of it runs on the kubelet's timers and hands its CPU-bound
 * work to a `ComputeBackend`: the piscina pool the kubelets of a worker share
 * (kubelet-pool.ts), or `SimCompute`, which models the work on the injected timers so the
 * simulator and unit tests stay deterministic and synchronous.
 *
 * Behaviours (README.md, "Workloads"):
 * - any unknown image (nginx, redis, …): a server that idles, listens and stays healthy;
 * - `actorkube/cpu-burner` (also images named like `*cpu*`, `hpa-example`, or `stress --cpu N`):
 *   burns CPU on the pool at its steady `--load` plus `--cost` per request sent to it;
 * - `actorkube/pi` (also `perl … bpi(N)`): computes N digits of pi on the pool, prints them, exits 0;
 * - `actorkube/crash`: runs `--after` seconds, then exits `--code` (default 1);
 * - shell commands (`sh -c '…'`, `sleep 5`, `echo hi`, …) run in the mini shell of
 *   kubelet-shell.ts; a loop that never sleeps burns a core; busybox-like images with no
 *   command exit 0 at once, as `sh` with no input does.
 * Flags any image honours: `--memory=64Mi` (working set; above the memory limit the container is
 * OOMKilled), `--warmup=S` (not listening for S seconds), `--fail-after=S` (probes fail after S s).
 */
import { parseQuantity } from '../controllers/quantity.js';
import type { Clock, Timers } from '../controllers/time.js';
import { argvCommand, BUILTINS, exec, isShell, parseScript, runSync, ShellExit, VirtualFs, type ShellEnv, type ShellNode, type ShellYield } from './kubelet-shell.js';
import { MAX_PI_DIGITS, piDigits, type ComputeResult, type ComputeTask } from './kubelet-workload-worker.js';

export type { ComputeResult, ComputeTask };

// ---------------------------------------------------------------------------------------------
// Compute backends

export interface ComputeStats {
  kind: 'pool' | 'sim';
  threads: number;
  queued: number;
  running: number;
  completed: number;
  failed: number;
  /** Thread time spent on tasks so far. */
  busyMs: number;
  /** piscina's utilization (0..1) where known. */
  utilization?: number;
}

/** Where CPU-bound work runs. `done` is called exactly once, never synchronously. */
export interface ComputeBackend {
  run(task: ComputeTask, done: (err: Error | null, result?: ComputeResult) => void): void;
  stats(): ComputeStats;
  close(): Promise<void>;
}

/** Modeled thread time of a pi task: Machin's formula is about quadratic in the digits. */
export function modeledPiMs(digits: number): number {
  return Math.max(1, Math.round((digits * digits) / 400_000));
}

/**
 * Work modeled on the injected timers: a burn of `ms` takes `ms` of (virtual) time and reports
 * exactly that much CPU; pi is computed here, synchronously, and reported after its modeled time.
 */
export class SimCompute implements ComputeBackend {
  private running = 0;
  private completed = 0;
  private busyMs = 0;
  constructor(private readonly timers: Timers) {}

  run(task: ComputeTask, done: (err: Error | null, result?: ComputeResult) => void): void {
    this.running++;
    let ms: number;
    let text: string | undefined;
    if (task.op === 'pi') {
      text = piDigits(task.digits);
      ms = modeledPiMs(task.digits);
    } else ms = Math.max(0, task.ms);
    this.timers.setTimer(ms, () => {
      this.running--;
      this.completed++;
      this.busyMs += ms;
      done(null, text === undefined ? { busyNs: ms * 1e6 } : { busyNs: ms * 1e6, text });
    });
  }

  stats(): ComputeStats {
    return { kind: 'sim', threads: 0, queued: 0, running: this.running, completed: this.completed, failed: 0, busyMs: this.busyMs };
  }

  async close(): Promise<void> {}
}

// ---------------------------------------------------------------------------------------------
// Images and plans

const SHELL_IMAGES = new Set(['busybox', 'alpine', 'ubuntu', 'debian', 'centos', 'fedora', 'bash', 'amazonlinux', 'rockylinux', 'almalinux']);

/** The parts of an image reference: `registry.k8s.io/pause:3.9`, `nginx@sha256:…`. */
export function parseImage(image: string): { registry: string; path: string; tag: string; digest: string } {
  let rest = image.trim();
  let digest = '';
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  let tag = '';
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  let registry = 'docker.io';
  const slash = rest.indexOf('/');
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    if (first.includes('.') || first.includes(':') || first === 'localhost') {
      registry = first;
      rest = rest.slice(slash + 1);
    }
  }
  if (registry === 'docker.io' && !rest.includes('/')) rest = `library/${rest}`;
  return { registry, path: rest, tag: tag || (digest ? '' : 'latest'), digest };
}

/** The fully qualified image a container runtime reports: `docker.io/library/nginx:latest`. */
export function normalizeImage(image: string): string {
  const p = parseImage(image);
  return `${p.registry}/${p.path}${p.tag ? `:${p.tag}` : ''}${p.digest ? `@${p.digest}` : ''}`;
}

/** The repository without registry and `library/`: `nginx`, `actorkube/pi`, `google-samples/hello-app`. */
export function imageRepo(image: string): string {
  const p = parseImage(image);
  const path = p.registry === 'docker.io' && p.path.startsWith('library/') ? p.path.slice('library/'.length) : p.path;
  return p.registry === 'docker.io' ? path : `${p.registry}/${path}`;
}

/** What SIGTERM does: `exit` exits with `termExitCode` at once; `ignore` waits for SIGKILL (PID 1 without a handler). */
export type OnTerm = 'exit' | 'ignore';

interface PlanBase {
  /** Working set the container reports. */
  memoryBytes: number;
  onTerm: OnTerm;
  termExitCode: number;
  /** Accepts httpGet / tcpSocket / grpc probes. */
  listens: boolean;
  port: number;
  /** Not listening (probes refused) until this long after start. */
  warmupMs: number;
  /** Probes fail from this long after start on (simulates a wedged process). */
  failAfterMs?: number;
}

export type WorkloadPlan =
  | (PlanBase & { kind: 'server' })
  | (PlanBase & { kind: 'script'; script: ShellNode })
  | (PlanBase & { kind: 'pi'; digits: number })
  | (PlanBase & { kind: 'burner'; loadMilli: number; costMs: number })
  | (PlanBase & { kind: 'crash'; afterMs: number; exitCode: number })
  | (PlanBase & { kind: 'invalid'; message: string; exitCode: number });

/** The container fields a plan reads. */
export interface ContainerLike {
  image?: string;
  command?: unknown[];
  args?: unknown[];
  ports?: { containerPort?: number }[];
}

const MI = 1024 * 1024;

/** `--name=value` and `--name value` flags of an argv. */
export function parseFlags(argv: string[]): Map<string, string> {
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const m = /^--?([a-zA-Z][\w-]*)(?:=(.*))?$/.exec(argv[i]!);
    if (!m) continue;
    if (m[2] !== undefined) flags.set(m[1]!, m[2]);
    else if (i + 1 < argv.length && !argv[i + 1]!.startsWith('-')) flags.set(m[1]!, argv[++i]!);
    else flags.set(m[1]!, '');
  }
  return flags;
}

function seconds(v: string | undefined): number | undefined {
  if (v === undefined || v === '') return undefined;
  const m = /^(\d+(?:\.\d*)?)(ms|s|m)?$/.exec(v);
  if (!m) return undefined;
  const n = Number(m[1]);
  return m[2] === 'ms' ? n : m[2] === 'm' ? n * 60_000 : n * 1000;
}

function bytes(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = parseQuantity(v);
  return Number.isFinite(n) && n >= 0 ? n : undefined;
}

function cpuMilli(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = parseQuantity(v);
  return Number.isFinite(n) && n >= 0 ? Math.round(n * 1000) : undefined;
}

/** Chooses what a container does from its image, command and args. */
export function planFor(c: ContainerLike): WorkloadPlan {
  const argv = [...(c.command ?? []), ...(c.args ?? [])].map(String);
  const repo = imageRepo(String(c.image ?? ''));
  const base = repo.slice(repo.lastIndexOf('/') + 1).toLowerCase();
  const cmd0 = argv[0] ? argv[0].slice(argv[0].lastIndexOf('/') + 1) : undefined;
  const flags = parseFlags(argv);
  const ours = repo.startsWith('actorkube/');
  const common: PlanBase = {
    memoryBytes: 8 * MI,
    onTerm: 'exit',
    termExitCode: 0,
    listens: true,
    port: c.ports?.[0]?.containerPort ?? 80,
    warmupMs: seconds(flags.get('warmup')) ?? 0,
  };
  const failAfter = seconds(flags.get('fail-after'));
  if (failAfter !== undefined) common.failAfterMs = failAfter;
  const memory = bytes(flags.get('memory'));
  const withMemory = <P extends WorkloadPlan>(p: P): P => (memory === undefined ? p : { ...p, memoryBytes: memory });
  const joined = argv.join(' ');

  const bpi = /bpi\((\d+)\)/.exec(joined);
  if (repo === 'actorkube/pi' || bpi) {
    const positional = argv.find((a) => /^\d+$/.test(a));
    const digits = Math.min(MAX_PI_DIGITS, Number(bpi?.[1] ?? flags.get('digits') ?? positional ?? 1000) || 1000);
    return withMemory({ ...common, kind: 'pi', digits, memoryBytes: 4 * MI + digits * 16, listens: false, onTerm: ours ? 'exit' : 'ignore', termExitCode: 143 });
  }
  if (repo === 'actorkube/crash' || cmd0 === 'crash') {
    const code = Number(flags.get('code') ?? flags.get('exit-code') ?? 1);
    return withMemory({ ...common, kind: 'crash', afterMs: seconds(flags.get('after')) ?? 5_000, exitCode: Number.isInteger(code) ? ((code % 256) + 256) % 256 : 1, memoryBytes: 2 * MI, listens: false, termExitCode: 143 });
  }
  if (repo === 'actorkube/cpu-burner' || base.includes('cpu') || base === 'hpa-example' || cmd0 === 'cpu-burner' || cmd0 === 'stress') {
    const stressCores = cmd0 === 'stress' ? Number(flags.get('cpu') ?? flags.get('c') ?? 1) : undefined;
    const loadMilli = cpuMilli(flags.get('load')) ?? (stressCores !== undefined && Number.isFinite(stressCores) ? stressCores * 1000 : 0);
    const costMs = seconds(flags.get('cost')) ?? 20;
    return withMemory({ ...common, kind: 'burner', loadMilli, costMs, memoryBytes: 12 * MI, port: c.ports?.[0]?.containerPort ?? 8080 });
  }
  const script = { ...common, memoryBytes: 1 * MI, listens: false, onTerm: 'ignore' as const, termExitCode: 143 };
  if (isShell(argv[0])) {
    const ci = argv.findIndex((a, i) => i > 0 && /^-[a-z]*c[a-z]*$/.test(a));
    if (ci < 0) return withMemory({ ...script, kind: 'script', script: { t: 'list', items: [] } });
    try {
      return withMemory({ ...script, kind: 'script', script: parseScript(argv[ci + 1] ?? '') });
    } catch (err) {
      return { ...script, kind: 'invalid', message: (err as Error).message, exitCode: 2 };
    }
  }
  if (cmd0 !== undefined && BUILTINS.has(cmd0)) return withMemory({ ...script, kind: 'script', script: argvCommand(argv) });
  if (argv.length === 0 && SHELL_IMAGES.has(base)) return withMemory({ ...script, kind: 'script', script: { t: 'list', items: [] } });
  return withMemory({ ...common, kind: 'server' });
}

// ---------------------------------------------------------------------------------------------
// Instances

export interface WorkloadEnv {
  clock: Clock;
  timers: Timers;
  compute: ComputeBackend;
  hostname: string;
  /** The container's environment variables (visible to scripts). */
  env: Record<string, string>;
  /** CPU the container may use, in millicores (its limit, else the node's capacity). */
  cpuLimitMilli: number;
  /** Memory limit in bytes; 0 = none. */
  memoryLimitBytes: number;
}

export interface WorkloadEvents {
  /** Text the process wrote (stdout and stderr); may hold several lines. */
  output(text: string): void;
  /** The process ended. Never called synchronously from start(), terminate() or kill(). */
  exit(code: number, reason?: string): void;
}

export interface ProbeSpec {
  exec?: { command?: unknown[] };
  httpGet?: { path?: string; port?: unknown; scheme?: string };
  tcpSocket?: { port?: unknown };
  grpc?: { port?: unknown };
}

export interface ProbeOutcome {
  ok: boolean;
  /** What the check said (the event message on failure). */
  output: string;
}

export interface WorkloadInstance {
  readonly plan: WorkloadPlan;
  readonly alive: boolean;
  /** Runs one simulated probe against the process. */
  probe(p: ProbeSpec, podIP: string): ProbeOutcome;
  /** SIGTERM. */
  terminate(): void;
  /** SIGKILL: the process is gone at once and reports no exit. */
  kill(): void;
  /** CPU time used so far, in nanoseconds. */
  cpuNanos(): number;
  memoryBytes(): number;
  /** Sends work to a CPU-bound workload; false if it takes none. */
  addLoad(load: { requests?: number; millicores?: number }): boolean;
  /** Runs a command in the container (`kubectl exec`): the small shell, against its files. */
  exec(command: string[]): { exitCode: number; output: string };
  /**
   * One HTTP request to the process (through a Service): null when nothing listens there yet.
   * A CPU burner takes one request's worth of work, as the HPA walkthrough's php-apache does.
   */
  serve(method: string, path: string, image: string): { status: number; body: string } | null;
  setHealthy(healthy: boolean): void;
}

/** What nginx answers on / out of the box. */
const NGINX_PAGE = `<!DOCTYPE html>
<html>
<head>
<title>Welcome to nginx!</title>
</head>
<body>
<h1>Welcome to nginx!</h1>
<p>If you see this page, the nginx web server is successfully installed and working.</p>
</body>
</html>
`;

/** A burner or a busy loop asks for CPU in slices of this length. */
export const TICK_MS = 250;
/** Unserved CPU demand a burner keeps (more is dropped: the server sheds load). */
const MAX_BACKLOG_MS = 10_000;
const OOM_AFTER_MS = 100;

class Workload implements WorkloadInstance {
  alive = true;
  private readonly timers = new Set<number>();
  private cpuNs = 0;
  private healthy = true;
  private readonly startMs: number;
  private outstanding = 0;
  private demandMs = 0;
  private loadMilli = 0;
  private readonly fs = new VirtualFs();
  private shell: ShellEnv | null = null;
  private gen: Generator<ShellYield, number> | null = null;

  constructor(
    readonly plan: WorkloadPlan,
    private readonly env: WorkloadEnv,
    private readonly events: WorkloadEvents,
  ) {
    this.startMs = env.clock.now();
    this.start();
  }

  private later(ms: number, fn: () => void): void {
    let id: number;
    try {
      id = this.env.timers.setTimer(ms, () => {
        this.timers.delete(id);
        if (this.alive) fn();
      });
    } catch {
      // The owner's timers are gone (its actor died): so is this process.
      this.alive = false;
      return;
    }
    this.timers.add(id);
  }

  private stopTimers(): void {
    for (const id of this.timers) this.env.timers.cancelTimer(id);
    this.timers.clear();
  }

  private finish(code: number, reason?: string): void {
    if (!this.alive) return;
    this.alive = false;
    this.stopTimers();
    this.events.exit(code, reason);
  }

  private out(text: string): void {
    if (this.alive && text) this.events.output(text);
  }

  private start(): void {
    const p = this.plan;
    if (this.env.memoryLimitBytes > 0 && p.memoryBytes > this.env.memoryLimitBytes) {
      this.later(OOM_AFTER_MS, () => this.finish(137, 'OOMKilled'));
      return;
    }
    switch (p.kind) {
      case 'server':
        this.later(0, () => this.out(`listening on :${p.port}\n`));
        return;
      case 'burner':
        this.loadMilli = p.loadMilli;
        this.later(0, () => {
          this.out(`cpu-burner listening on :${p.port}; load ${p.loadMilli}m, ${p.costMs} ms per request\n`);
          this.tick();
        });
        return;
      case 'pi':
        this.later(0, () =>
          this.env.compute.run({ op: 'pi', digits: p.digits }, (err, r) => {
            if (!this.alive) return;
            if (err || !r) {
              this.out(`pi: ${err?.message ?? 'no result'}\n`);
              this.finish(1);
              return;
            }
            this.cpuNs += r.busyNs;
            this.out(`${r.text}\n`);
            this.finish(0);
          }),
        );
        return;
      case 'crash':
        this.later(0, () => this.out(`started; exiting with code ${p.exitCode} in ${p.afterMs / 1000}s\n`));
        this.later(p.afterMs, () => {
          this.out(`fatal: simulated crash (exit code ${p.exitCode})\n`);
          this.finish(p.exitCode);
        });
        return;
      case 'invalid':
        this.later(0, () => {
          this.out(`${p.message}\n`);
          this.finish(p.exitCode);
        });
        return;
      case 'script':
        this.shell = this.shellEnv((t) => this.out(t));
        this.gen = exec(p.script, this.shell);
        this.later(0, () => this.step());
        return;
    }
  }

  private shellEnv(out: (t: string) => void): ShellEnv {
    const vars = new Map<string, string>([
      ['HOSTNAME', this.env.hostname],
      ['HOME', '/root'],
      ['PATH', '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
    ]);
    for (const [k, v] of Object.entries(this.env.env)) vars.set(k, v);
    return { vars, fs: this.fs, hostname: this.env.hostname, now: () => this.env.clock.now(), out, sleeps: 0, status: 0 };
  }

  /** Runs the script until it sleeps, spins or ends. */
  private step(): void {
    if (!this.gen) return;
    try {
      const r = this.gen.next();
      if (r.done) return this.finish(r.value);
      if ('sleepMs' in r.value) {
        // `sleep infinity` never wakes (timers are bounded: a day at a time).
        const ms = r.value.sleepMs;
        if (ms === Number.POSITIVE_INFINITY) this.later(86_400_000, () => this.sleepForever());
        else this.later(ms, () => this.step());
        return;
      }
      this.burnSlice(() => this.step());
    } catch (err) {
      if (err instanceof ShellExit) return this.finish(err.code);
      this.out(`sh: ${(err as Error).message}\n`);
      this.finish(2);
    }
  }

  private sleepForever(): void {
    this.later(86_400_000, () => this.sleepForever());
  }

  /** One slice of a busy loop: a core (or the CPU limit) for TICK_MS, then `next`. */
  private burnSlice(next: () => void): void {
    const ms = Math.max(1, Math.round(TICK_MS * Math.min(1, this.env.cpuLimitMilli / 1000)));
    this.env.compute.run({ op: 'burn', ms }, (err, r) => {
      if (!this.alive) return;
      if (!err && r) this.cpuNs += r.busyNs;
      this.later(Math.max(0, TICK_MS - ms), next);
    });
  }

  /** A burner's heartbeat: serves its steady load and queued requests, within its CPU limit. */
  private tick(): void {
    this.demandMs = Math.min(MAX_BACKLOG_MS, this.demandMs + (this.loadMilli / 1000) * TICK_MS);
    if (this.outstanding === 0 && this.demandMs >= 1) {
      const capMs = (this.env.cpuLimitMilli / 1000) * TICK_MS;
      const take = Math.min(this.demandMs, capMs);
      this.demandMs -= take;
      const tasks = Math.max(1, Math.ceil(take / TICK_MS));
      const each = take / tasks;
      this.outstanding = tasks;
      for (let i = 0; i < tasks; i++) {
        this.env.compute.run({ op: 'burn', ms: each }, (err, r) => {
          this.outstanding--;
          if (this.alive && !err && r) this.cpuNs += r.busyNs;
        });
      }
    }
    this.later(TICK_MS, () => this.tick());
  }

  private currentlyHealthy(): boolean {
    const p = this.plan;
    return this.healthy && !(p.failAfterMs !== undefined && this.env.clock.now() - this.startMs >= p.failAfterMs);
  }

  probe(p: ProbeSpec, podIP: string): ProbeOutcome {
    if (!this.alive) return { ok: false, output: 'container is not running' };
    if (p.exec) {
      const cmd = (p.exec.command ?? []).map(String);
      if (!this.currentlyHealthy()) return { ok: false, output: `command ${JSON.stringify(cmd.join(' '))} exited with 1` };
      const { exitCode, output } = this.exec(cmd);
      return { ok: exitCode === 0, output: output.trim() || (exitCode === 0 ? '' : `command ${JSON.stringify(cmd.join(' '))} exited with ${exitCode}`) };
    }
    const target = p.httpGet ?? p.tcpSocket ?? p.grpc;
    const port = typeof target?.port === 'number' ? target.port : this.plan.port;
    const listening = this.plan.listens && this.env.clock.now() - this.startMs >= this.plan.warmupMs;
    if (!listening) {
      const dial = `dial tcp ${podIP}:${port}: connect: connection refused`;
      return { ok: false, output: p.httpGet ? `Get "${p.httpGet.scheme === 'HTTPS' ? 'https' : 'http'}://${podIP}:${port}${p.httpGet.path ?? '/'}": ${dial}` : dial };
    }
    if (!this.currentlyHealthy()) return { ok: false, output: p.httpGet ? 'HTTP probe failed with statuscode: 500' : p.grpc ? 'service unhealthy (responded with "NOT_SERVING")' : `dial tcp ${podIP}:${port}: i/o timeout` };
    return { ok: true, output: '' };
  }

  serve(method: string, path: string, image: string): { status: number; body: string } | null {
    if (!this.alive || !this.plan.listens || this.env.clock.now() - this.startMs < this.plan.warmupMs) return null;
    if (!this.currentlyHealthy()) return { status: 500, body: 'Internal Server Error\n' };
    if (this.plan.kind === 'burner') {
      this.addLoad({ requests: 1 });
      return { status: 200, body: 'OK!' };
    }
    if (/(^|\/)nginx(:|@|$)/.test(image)) return { status: 200, body: NGINX_PAGE };
    return { status: 200, body: `${method} ${path} served by ${this.env.hostname}\n` };
  }

  exec(cmd: string[]): { exitCode: number; output: string } {
    let node: ShellNode;
    try {
      const ci = cmd.findIndex((a, i) => i > 0 && /^-[a-z]*c[a-z]*$/.test(a));
      node = isShell(cmd[0]) && ci >= 0 ? parseScript(cmd[ci + 1] ?? '') : argvCommand(cmd);
    } catch (err) {
      return { exitCode: 2, output: `${(err as Error).message}\n` };
    }
    let output = '';
    const env = this.shell ?? this.shellEnv(() => {});
    // The command sees the container's files and variables; what it sets stays its own.
    const exitCode = runSync(node, { ...env, vars: new Map(env.vars), out: (t) => void (output += t), sleeps: 0 });
    return { exitCode, output };
  }

  terminate(): void {
    if (!this.alive || this.plan.onTerm === 'ignore') return;
    this.later(0, () => this.finish(this.plan.termExitCode));
  }

  kill(): void {
    this.alive = false;
    this.stopTimers();
  }

  cpuNanos(): number {
    return this.cpuNs;
  }

  memoryBytes(): number {
    return this.plan.memoryBytes;
  }

  addLoad(load: { requests?: number; millicores?: number }): boolean {
    if (this.plan.kind !== 'burner' || !this.alive) return false;
    if (load.millicores !== undefined && Number.isFinite(load.millicores)) this.loadMilli = Math.max(0, load.millicores);
    if (load.requests !== undefined && Number.isFinite(load.requests)) this.demandMs = Math.min(MAX_BACKLOG_MS, this.demandMs + Math.max(0, load.requests) * this.plan.costMs);
    return true;
  }

  setHealthy(healthy: boolean): void {
    this.healthy = healthy;
  }
}

/** Starts a simulated process. */
export function startWorkload(plan: WorkloadPlan, env: WorkloadEnv, events: WorkloadEvents): WorkloadInstance {
  return new Workload(plan, env, events);
}
