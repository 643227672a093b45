/**
 * The kubelet's pod workers: for every pod bound to the node, a state machine that creates the
 * sandbox (an IP from the node's podCIDR), runs the init containers in order, then the
 * containers, restarts them per restartPolicy with CrashLoopBackOff (10 s doubling to 5 min,
 * reset after 10 min of running, as the kubelet's flowcontrol.Backoff does), runs startup,
 * liveness and readiness probes, stops everything gracefully when the pod is deleted and then
 * removes it, and reports it all as pod status with the shapes Kubernetes uses (phases,
 * conditions, container statuses), which `kubectl get pods` renders as READY / STATUS / RESTARTS.
 *
 * It is driven from outside: the kubelet actor feeds it the pods its informer sees (`upsert`,
 * `remove`) and asks it for logs and metrics. Time, timers and randomness are injected, and
 * containers are simulated processes (kubelet-workloads.ts) whose CPU-bound work goes to an
 * injected compute backend, so tests run it on a FakeClock with a FakeClient.
 *
 * Every change ends in `sync(rec)`: reconcile (start, restart or stop what should be), then
 * schedule a status write. Writes are merge patches of pods/status computed against the newest
 * pod the kubelet has seen, with its resourceVersion as precondition; one write per pod is in
 * flight at a time and later changes coalesce into the next.
 */
import { createHash } from 'node:crypto';
import { podQosClass } from '../api/defaults.js';
import { deepEqual, errors, isObject, type Json, type KubeObject, type Status } from '../api/types.js';
import { isConflict, isNotFound, type ApiClient } from '../controllers/client.js';
import type { EventRecorder } from '../controllers/events.js';
import { milliValue, podRequests, value as quantityValue } from '../controllers/quantity.js';
import { formatTime, parseTime, type Clock, type Timers } from '../controllers/time.js';
import {
  formatDuration,
  formatKibibytes,
  formatNanocores,
  type ContainerUsage,
  type ExecRequest,
  type ExecValue,
  type HttpRequest,
  type HttpValue,
  type HealthRequest,
  type KubeletReply,
  type LoadRequest,
  type LogsNotice,
  type LogsRequest,
  type LogsValue,
  type MetricsRequest,
  type MetricsValue,
  type PodMetrics,
} from './kubelet-messages.js';
import { normalizeImage, parseImage, planFor, startWorkload, type ComputeBackend, type ProbeSpec, type WorkloadInstance } from './kubelet-workloads.js';

// ---------------------------------------------------------------------------------------------
// Limits and defaults (Kubernetes' where it has them)

/** CrashLoopBackOff: the first delay, its cap, and (twice the cap) the run time that resets it. */
export const BACKOFF_INITIAL_MS = 10_000;
export const BACKOFF_MAX_MS = 300_000;
export const BACKOFF_RESET_MS = 2 * BACKOFF_MAX_MS;
/** Lines and bytes of log kept per container instance. */
export const LOG_LINES_LIMIT = 1_000;
export const LOG_BYTES_LIMIT = 1024 * 1024;
const LOG_LINE_MAX_BYTES = 64 * 1024;
/** Log followers per kubelet. */
export const MAX_FOLLOWERS = 100;
const WRITE_RETRY_MIN_MS = 500;
const WRITE_RETRY_MAX_MS = 10_000;
const SANDBOX_RETRY_MS = 5_000;
/** A usage sample at least this old is used as the start of a metrics window. */
const MIN_METRICS_WINDOW_MS = 1_000;

const KIND_POD = { apiVersion: 'v1', kind: 'Pod' };

// ---------------------------------------------------------------------------------------------
// Small pieces

/** A bounded ring of log lines. */
export class LogRing {
  private lines: { ms: number; text: string }[] = [];
  private bytes = 0;
  constructor(
    private readonly maxLines = LOG_LINES_LIMIT,
    private readonly maxBytes = LOG_BYTES_LIMIT,
  ) {}

  append(ms: number, text: string): void {
    const line = text.length > LOG_LINE_MAX_BYTES ? text.slice(0, LOG_LINE_MAX_BYTES) : text;
    this.lines.push({ ms, text: line });
    this.bytes += line.length + 1;
    while (this.lines.length > this.maxLines || (this.bytes > this.maxBytes && this.lines.length > 1)) {
      const old = this.lines.shift()!;
      this.bytes -= old.text.length + 1;
    }
  }

  entries(): readonly { ms: number; text: string }[] {
    return this.lines;
  }

  get size(): number {
    return this.lines.length;
  }
}

/** Pod IPs from the node's podCIDR: the network's .1 is the gateway, the rest go in turn. */
export class PodIpam {
  private readonly base: number;
  private readonly size: number;
  private next = 2;
  private readonly used = new Map<number, string>();

  constructor(cidr: string) {
    const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)\/(\d+)$/.exec(cidr.trim());
    if (!m) throw new Error(`invalid podCIDR ${JSON.stringify(cidr)}`);
    const bits = Number(m[5]);
    if (bits < 8 || bits > 30) throw new Error(`podCIDR ${cidr}: prefix length must be 8..30`);
    const ip = ((Number(m[1]) << 24) | (Number(m[2]) << 16) | (Number(m[3]) << 8) | Number(m[4])) >>> 0;
    this.size = 2 ** (32 - bits);
    this.base = Math.floor(ip / this.size) * this.size;
  }

  private format(n: number): string {
    const v = this.base + n;
    return `${(v >>> 24) & 255}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
  }

  /** The offset of an IP in the range, or -1. */
  private offset(ip: string): number {
    const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(ip);
    if (!m) return -1;
    const v = ((Number(m[1]) << 24) | (Number(m[2]) << 16) | (Number(m[3]) << 8) | Number(m[4])) >>> 0;
    const off = v - this.base;
    return off >= 2 && off < this.size - 1 ? off : -1;
  }

  allocate(owner: string): string | null {
    const span = this.size - 3;
    for (let i = 0; i < span; i++) {
      const n = 2 + ((this.next - 2 + i) % span);
      if (this.used.has(n)) continue;
      this.used.set(n, owner);
      this.next = n + 1;
      return this.format(n);
    }
    return null;
  }

  /** Marks an IP a recovered pod holds. */
  reserve(ip: string, owner: string): void {
    const off = this.offset(ip);
    if (off >= 0) this.used.set(off, owner);
  }

  release(ip: string, owner: string): void {
    const off = this.offset(ip);
    if (off >= 0 && this.used.get(off) === owner) this.used.delete(off);
  }

  get inUse(): number {
    return this.used.size;
  }
}

/**
 * An RFC 7386 merge patch that turns `from` into `to`: changed leaves and arrays are set whole,
 * keys `to` lacks are set to null. Undefined when they are equal.
 */
export function mergeDiff(from: unknown, to: unknown): Json | undefined {
  if (deepEqual(from, to)) return undefined;
  if (!isObject(from) || !isObject(to)) return to as Json;
  const out: Record<string, Json> = {};
  for (const k of Object.keys(from)) if (from[k] !== undefined && to[k] === undefined) out[k] = null;
  for (const [k, v] of Object.entries(to)) {
    if (v === undefined) continue;
    const d = mergeDiff(from[k], v);
    if (d !== undefined) out[k] = d;
  }
  return out;
}

function rvNumber(o: KubeObject): number {
  const n = Number(o.metadata.resourceVersion ?? 0);
  return Number.isFinite(n) ? n : 0;
}

function podKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

// ---------------------------------------------------------------------------------------------
// Containers and pods

interface Terminated {
  exitCode: number;
  reason: string;
  message?: string;
  startedAtMs: number;
  finishedAtMs: number;
  containerID: string;
}

type CState = { kind: 'waiting'; reason: string; message?: string } | { kind: 'running'; startedAtMs: number } | { kind: 'terminated'; t: Terminated };

type ProbeKind = 'startup' | 'liveness' | 'readiness';

interface ProbeState {
  kind: ProbeKind;
  spec: ProbeSpec & { initialDelaySeconds?: number; periodSeconds?: number; failureThreshold?: number; successThreshold?: number; terminationGracePeriodSeconds?: number };
  successes: number;
  failures: number;
  timer?: number;
}

interface Follower {
  to: string;
  stream: string;
  pending: string;
  scheduled: boolean;
}

class Container {
  spec: any;
  image: string;
  imageID = '';
  containerID = '';
  restartCount = 0;
  state: CState;
  last: Terminated | null = null;
  ready = false;
  started = false;
  instance: WorkloadInstance | null = null;
  backoff: { delayMs: number; lastUpdateMs: number } | null = null;
  backoffTimer: number | undefined;
  killTimer: number | undefined;
  /** Restart at once whatever the restart policy says (its definition changed). */
  restartNow = false;
  probes: ProbeState[] = [];
  logs = new LogRing();
  prevLogs: LogRing | null = null;
  partial = '';
  followers = new Map<string, Follower>();
  /** CPU of finished instances, and two cumulative usage samples for the metrics window. */
  cpuBaseNs = 0;
  samples: { ms: number; ns: number }[] = [];

  constructor(
    readonly name: string,
    spec: any,
    readonly init: boolean,
    waitingReason: string,
  ) {
    this.spec = spec;
    this.image = normalizeImage(String(spec?.image ?? ''));
    this.state = { kind: 'waiting', reason: waitingReason };
  }

  get succeeded(): boolean {
    return this.state.kind === 'terminated' && this.state.t.exitCode === 0;
  }

  cpuNanos(): number {
    return this.cpuBaseNs + (this.instance?.cpuNanos() ?? 0);
  }
}

type StopWhy = 'delete' | 'deadline';

interface PodRecord {
  uid: string;
  namespace: string;
  name: string;
  pod: KubeObject;
  startMs: number;
  podIP: string;
  sandboxReady: boolean;
  sandboxTimer: number | undefined;
  init: Container[];
  containers: Container[];
  phase: string;
  /** Succeeded or Failed: nothing runs any more. */
  terminal: boolean;
  /** Admission refused it (OutOfcpu, OutOfpods …): it never runs. */
  rejected: boolean;
  /** Pod-level reason and message (OutOfcpu, DeadlineExceeded). */
  reason?: string;
  message?: string;
  stopping: { why: StopWhy; graceMs: number } | null;
  stopDone: boolean;
  deleteSent: boolean;
  deadlineTimer: number | undefined;
  conds: Map<string, { status: string; ms: number }>;
  write: { dirty: boolean; scheduled: boolean; inFlight: boolean; retryMs: number; retryTimer: number | undefined };
  gone: boolean;
}

export interface PodManagerOptions {
  nodeName: string;
  hostIP: string;
  podCIDR: string;
  client: ApiClient;
  clock: Clock;
  timers: Timers;
  random: () => number;
  compute: ComputeBackend;
  recorder?: EventRecorder;
  /** Sends log lines to followers (the API server). */
  send?: (to: string, msg: unknown) => void;
  /** What admission checks pods against: millicores, bytes, pod count. */
  allocatable: { cpuMilli: number; memoryBytes: number; pods: number };
  /** How long creating a pod sandbox takes (ContainerCreating shows meanwhile). */
  sandboxDelayMs?: number;
  log?: { warn(obj: object, msg: string): void };
}

export interface PodManagerStats {
  pods: number;
  running: number;
  containersRunning: number;
  restarts: number;
  ipsInUse: number;
  followers: number;
  statusWrites: number;
  statusConflicts: number;
  writeErrors: number;
}

const OWNED_STATUS_KEYS = ['phase', 'conditions', 'hostIP', 'hostIPs', 'podIP', 'podIPs', 'startTime', 'initContainerStatuses', 'containerStatuses', 'qosClass', 'reason', 'message'];
const OWNED_CONDITIONS = ['PodReadyToStartContainers', 'Initialized', 'Ready', 'ContainersReady', 'PodScheduled'];

function notFound(name: string): KubeletReply<never> {
  return { ok: false, status: errors.notFound('', 'pods', name).status };
}

function badRequest(message: string): KubeletReply<never> {
  return { ok: false, status: errors.badRequest(message).status };
}

export class PodManager {
  private readonly pods = new Map<string, PodRecord>();
  private readonly byKey = new Map<string, string>();
  private readonly ipam: PodIpam;
  private readonly o: PodManagerOptions;
  private followerCount = 0;
  private readonly counters = { statusWrites: 0, statusConflicts: 0, writeErrors: 0 };

  constructor(options: PodManagerOptions) {
    this.o = options;
    this.ipam = new PodIpam(options.podCIDR);
  }

  private get now(): number {
    return this.o.clock.now();
  }

  private setTimer(ms: number, fn: () => void): number {
    return this.o.timers.setTimer(Math.max(0, ms), fn);
  }

  /** Runs a workload callback; if the owner died meanwhile (its timers throw), forgets it. */
  private guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.o.log?.warn({ err: (err as Error)?.message }, 'pod worker callback failed');
    }
  }

  private cancel(id: number | undefined): void {
    if (id !== undefined) this.o.timers.cancelTimer(id);
  }

  private event(rec: PodRecord, type: 'Normal' | 'Warning', reason: string, message: string): void {
    this.o.recorder?.event(rec.pod, type, reason, message, KIND_POD);
  }

  // ---- what the informer tells -------------------------------------------------------------

  /** A pod bound to this node was added or changed. */
  upsert(pod: KubeObject): void {
    if (pod.spec?.nodeName !== this.o.nodeName) return;
    const uid = pod.metadata.uid ?? '';
    let rec = this.pods.get(uid);
    if (!rec) {
      rec = this.admit(pod);
      if (!rec) return;
    } else {
      if (rvNumber(pod) >= rvNumber(rec.pod)) rec.pod = pod;
      this.specChanged(rec);
    }
    if (pod.metadata.deletionTimestamp && !rec.stopping) {
      const grace = pod.metadata.deletionGracePeriodSeconds ?? pod.spec?.terminationGracePeriodSeconds ?? 30;
      this.beginStop(rec, 'delete', grace * 1000);
    }
    this.sync(rec);
  }

  /** The pod is gone from the API (deleted for good): stop whatever still runs, at once. */
  remove(pod: KubeObject): void {
    const rec = this.pods.get(pod.metadata.uid ?? '');
    if (!rec) return;
    rec.gone = true;
    for (const c of [...rec.init, ...rec.containers]) {
      const inst = c.instance;
      c.instance = null;
      inst?.kill();
      this.stopProbes(c);
      this.cancel(c.backoffTimer);
      this.cancel(c.killTimer);
      this.endFollowers(c);
    }
    this.cancel(rec.sandboxTimer);
    this.cancel(rec.deadlineTimer);
    this.cancel(rec.write.retryTimer);
    if (rec.podIP && !rec.pod.spec?.hostNetwork) this.ipam.release(rec.podIP, rec.uid);
    this.pods.delete(rec.uid);
    if (this.byKey.get(podKey(rec.namespace, rec.name)) === rec.uid) this.byKey.delete(podKey(rec.namespace, rec.name));
  }

  /** Stops every container with no goodbye and forgets every pod (the kubelet stops). */
  shutdown(): void {
    for (const rec of [...this.pods.values()]) this.remove(rec.pod);
  }

  // ---- admission and recovery --------------------------------------------------------------

  private newRecord(pod: KubeObject): PodRecord {
    const spec = pod.spec ?? {};
    const hasInit = Array.isArray(spec.initContainers) && spec.initContainers.length > 0;
    const rec: PodRecord = {
      uid: pod.metadata.uid ?? '',
      namespace: pod.metadata.namespace ?? 'default',
      name: pod.metadata.name ?? '',
      pod,
      startMs: this.now,
      podIP: '',
      sandboxReady: false,
      sandboxTimer: undefined,
      init: (spec.initContainers ?? []).map((c: any) => new Container(String(c.name), c, true, 'PodInitializing')),
      containers: (spec.containers ?? []).map((c: any) => new Container(String(c.name), c, false, hasInit ? 'PodInitializing' : 'ContainerCreating')),
      phase: 'Pending',
      terminal: false,
      rejected: false,
      stopping: null,
      stopDone: false,
      deleteSent: false,
      deadlineTimer: undefined,
      conds: new Map(),
      write: { dirty: false, scheduled: false, inFlight: false, retryMs: WRITE_RETRY_MIN_MS, retryTimer: undefined },
      gone: false,
    };
    this.pods.set(rec.uid, rec);
    this.byKey.set(podKey(rec.namespace, rec.name), rec.uid);
    return rec;
  }

  private activeRecords(): PodRecord[] {
    return [...this.pods.values()].filter((r) => !r.terminal && !r.gone);
  }

  /** A pod new to this kubelet: recover it if it ran here before, else admit or reject it. */
  private admit(pod: KubeObject): PodRecord | undefined {
    const status = pod.status ?? {};
    const ran = [...(status.containerStatuses ?? []), ...(status.initContainerStatuses ?? [])].some((cs: any) => cs?.containerID);
    if (ran || status.phase === 'Succeeded' || status.phase === 'Failed') return this.recover(pod);
    const active = this.activeRecords();
    const rejection = this.admissionFailure(pod, active);
    const rec = this.newRecord(pod);
    if (rejection) {
      rec.phase = 'Failed';
      rec.terminal = true;
      rec.rejected = true;
      rec.stopDone = true;
      rec.reason = rejection.reason;
      rec.message = rejection.message;
      this.event(rec, 'Warning', rejection.reason, rejection.message);
      return rec;
    }
    this.startDeadline(rec);
    return rec;
  }

  private admissionFailure(pod: KubeObject, active: PodRecord[]): { reason: string; message: string } | null {
    const alloc = this.o.allocatable;
    if (active.length + 1 > alloc.pods) {
      return { reason: 'OutOfpods', message: `Pod was rejected: Node didn't have enough resource: pods, requested: 1, used: ${active.length}, capacity: ${alloc.pods}` };
    }
    const want = podRequests(pod);
    const used = { cpu: 0, memory: 0 };
    for (const r of active) {
      const req = podRequests(r.pod);
      used.cpu += req.cpu ?? 0;
      used.memory += req.memory ?? 0;
    }
    for (const [res, cap] of [['cpu', alloc.cpuMilli], ['memory', alloc.memoryBytes]] as const) {
      const w = want[res] ?? 0;
      if (w > 0 && used[res] + w > cap) {
        return { reason: `OutOf${res}`, message: `Pod was rejected: Node didn't have enough resource: ${res}, requested: ${w}, used: ${used[res]}, capacity: ${cap}` };
      }
    }
    return null;
  }

  /** Rebuilds a pod's state from the status it last reported (the kubelet restarted). */
  private recover(pod: KubeObject): PodRecord {
    const rec = this.newRecord(pod);
    const status = pod.status ?? {};
    rec.startMs = parseTime(status.startTime) ?? this.now;
    rec.phase = status.phase ?? 'Pending';
    rec.terminal = rec.phase === 'Succeeded' || rec.phase === 'Failed';
    if (status.reason) rec.reason = status.reason;
    if (status.message) rec.message = status.message;
    for (const c of status.conditions ?? []) {
      if (c?.type && OWNED_CONDITIONS.includes(c.type)) rec.conds.set(c.type, { status: c.status, ms: parseTime(c.lastTransitionTime) ?? this.now });
    }
    if (typeof status.podIP === 'string' && status.podIP) {
      rec.podIP = status.podIP;
      if (!pod.spec?.hostNetwork) this.ipam.reserve(rec.podIP, rec.uid);
      rec.sandboxReady = !rec.terminal;
    }
    const restore = (c: Container, cs: any) => {
      if (!cs) return;
      c.restartCount = Number(cs.restartCount ?? 0) || 0;
      c.containerID = cs.containerID ?? '';
      c.imageID = cs.imageID ?? '';
      c.last = parseTerminated(cs.lastState?.terminated, c.containerID);
      const st = cs.state ?? {};
      if (st.terminated) c.state = { kind: 'terminated', t: parseTerminated(st.terminated, c.containerID)! };
      else if (st.waiting) c.state = { kind: 'waiting', reason: st.waiting.reason ?? 'ContainerCreating', ...(st.waiting.message ? { message: st.waiting.message } : {}) };
      if (c.init && c.succeeded) c.ready = true;
      if (st.running && !rec.terminal && rec.sandboxReady) {
        // The container kept running while the kubelet was away: attach to it again.
        this.startContainer(rec, c, { startedAtMs: parseTime(st.running.startedAt) ?? this.now, containerID: c.containerID });
      } else if (st.running) {
        c.state = { kind: 'waiting', reason: 'ContainerCreating' };
      }
    };
    const byName = (list: any[] | undefined, name: string) => (list ?? []).find((s: any) => s?.name === name);
    for (const c of rec.init) restore(c, byName(status.initContainerStatuses, c.name));
    for (const c of rec.containers) restore(c, byName(status.containerStatuses, c.name));
    if (rec.terminal) rec.stopDone = true;
    else this.startDeadline(rec);
    return rec;
  }

  private startDeadline(rec: PodRecord): void {
    const secs = rec.pod.spec?.activeDeadlineSeconds;
    if (typeof secs !== 'number' || secs <= 0) return;
    const due = rec.startMs + secs * 1000;
    rec.deadlineTimer = this.setTimer(due - this.now, () => {
      rec.deadlineTimer = undefined;
      if (rec.gone || rec.terminal || rec.stopping) return;
      rec.reason = 'DeadlineExceeded';
      rec.message = 'Pod was active on the node longer than the specified deadline';
      this.event(rec, 'Normal', 'DeadlineExceeded', rec.message);
      this.beginStop(rec, 'deadline', (rec.pod.spec?.terminationGracePeriodSeconds ?? 30) * 1000);
      this.sync(rec);
    });
  }

  /** Image changes (the only container change a pod update allows) restart the container. */
  private specChanged(rec: PodRecord): void {
    const spec = rec.pod.spec ?? {};
    const update = (list: Container[], specs: any[] | undefined) => {
      for (const c of list) {
        const s = (specs ?? []).find((x: any) => x?.name === c.name);
        if (!s || s.image === c.spec?.image) continue;
        c.spec = s;
        c.image = normalizeImage(String(s.image ?? ''));
        if (c.instance && !rec.stopping && !rec.terminal) {
          this.event(rec, 'Normal', 'Killing', `Container ${c.name} definition changed, will be restarted`);
          c.restartNow = true;
          this.kill(rec, c, (spec.terminationGracePeriodSeconds ?? 30) * 1000);
        }
      }
    };
    update(rec.init, spec.initContainers);
    update(rec.containers, spec.containers);
  }

  // ---- the state machine -------------------------------------------------------------------

  private restartPolicy(rec: PodRecord): string {
    return rec.pod.spec?.restartPolicy ?? 'Always';
  }

  private sync(rec: PodRecord): void {
    if (rec.gone) return;
    this.reconcile(rec);
    this.requestWrite(rec);
  }

  private reconcile(rec: PodRecord): void {
    if (rec.stopping) {
      if (!rec.stopDone && ![...rec.init, ...rec.containers].some((c) => c.instance)) this.finishStop(rec);
      return;
    }
    if (rec.terminal) return;
    if (!rec.sandboxReady) {
      this.ensureSandbox(rec);
      return;
    }
    const policy = this.restartPolicy(rec);
    for (const c of rec.init) {
      if (c.succeeded) continue;
      if (c.instance) return this.updatePhase(rec);
      const ran = c.state.kind === 'terminated' || c.last !== null;
      if (ran && policy === 'Never') return this.updatePhase(rec);
      if (!ran) this.startContainer(rec, c);
      else this.startOrBackoff(rec, c);
      return this.updatePhase(rec);
    }
    for (const c of rec.containers) {
      if (c.instance) continue;
      if (!c.containerID) {
        this.startContainer(rec, c);
        continue;
      }
      const t = c.state.kind === 'terminated' ? c.state.t : c.last;
      if (c.restartNow) {
        c.restartNow = false;
        this.startContainer(rec, c);
        continue;
      }
      const restart = policy === 'Always' || (policy === 'OnFailure' && (t?.exitCode ?? 1) !== 0);
      if (restart) this.startOrBackoff(rec, c);
    }
    this.updatePhase(rec);
  }

  private ensureSandbox(rec: PodRecord): void {
    if (rec.sandboxTimer !== undefined) return;
    rec.sandboxTimer = this.setTimer(this.o.sandboxDelayMs ?? 100, () => {
      rec.sandboxTimer = undefined;
      if (rec.gone || rec.stopping || rec.terminal) return;
      const ip = rec.pod.spec?.hostNetwork ? this.o.hostIP : this.ipam.allocate(rec.uid);
      if (!ip) {
        this.event(rec, 'Warning', 'FailedCreatePodSandBox', `Failed to create pod sandbox: no IP addresses available in range set: ${this.o.podCIDR}`);
        rec.sandboxTimer = this.setTimer(SANDBOX_RETRY_MS, () => {
          rec.sandboxTimer = undefined;
          this.sync(rec);
        });
        return;
      }
      rec.podIP = ip;
      rec.sandboxReady = true;
      this.sync(rec);
    });
  }

  /** Restarts a container that exited, unless it is backing off (CrashLoopBackOff). */
  private startOrBackoff(rec: PodRecord, c: Container): void {
    const t = c.state.kind === 'terminated' ? c.state.t : c.last;
    if (t) {
      const now = this.now;
      const b = c.backoff;
      const expired = b !== null && t.finishedAtMs - b.lastUpdateMs > BACKOFF_RESET_MS;
      if (b && !expired && now - t.finishedAtMs < b.delayMs) {
        if (c.state.kind === 'terminated') c.last = c.state.t;
        const message = `back-off ${formatDuration(b.delayMs)} restarting failed container=${c.name} pod=${rec.name}_${rec.namespace}(${rec.uid})`;
        const wasBackingOff = c.state.kind === 'waiting' && c.state.reason === 'CrashLoopBackOff';
        c.state = { kind: 'waiting', reason: 'CrashLoopBackOff', message };
        if (!wasBackingOff) this.event(rec, 'Warning', 'BackOff', `Back-off restarting failed container ${c.name} in pod ${rec.name}_${rec.namespace}(${rec.uid})`);
        if (c.backoffTimer === undefined) {
          c.backoffTimer = this.setTimer(t.finishedAtMs + b.delayMs - now, () => {
            c.backoffTimer = undefined;
            this.sync(rec);
          });
        }
        return;
      }
      c.backoff = !b || expired ? { delayMs: BACKOFF_INITIAL_MS, lastUpdateMs: now } : { delayMs: Math.min(b.delayMs * 2, BACKOFF_MAX_MS), lastUpdateMs: now };
    }
    this.startContainer(rec, c);
  }

  private newContainerId(): string {
    let s = '';
    for (let i = 0; i < 8; i++) s += Math.floor(this.o.random() * 2 ** 32).toString(16).padStart(8, '0');
    return `containerd://${s}`;
  }

  private startContainer(rec: PodRecord, c: Container, attach?: { startedAtMs: number; containerID: string }): void {
    if (attach) c.containerID = attach.containerID;
    else {
      if (c.containerID) {
        if (c.state.kind === 'terminated') c.last = c.state.t;
        c.restartCount++;
        c.prevLogs = c.logs;
        c.logs = new LogRing();
      }
      c.containerID = this.newContainerId();
    }
    const img = parseImage(String(c.spec?.image ?? ''));
    c.imageID = `${img.registry}/${img.path}@sha256:${createHash('sha256').update(c.image).digest('hex')}`;
    const limits = c.spec?.resources?.limits ?? {};
    const env: Record<string, string> = {};
    for (const e of c.spec?.env ?? []) if (e?.name && typeof e.value === 'string') env[e.name] = e.value;
    const cpuLimit = limits.cpu !== undefined ? milliValue(limits.cpu) : this.o.allocatable.cpuMilli;
    const memLimit = limits.memory !== undefined ? quantityValue(limits.memory) : 0;
    let inst: WorkloadInstance | null = null;
    inst = startWorkload(
      planFor(c.spec ?? {}),
      {
        clock: this.o.clock,
        timers: this.o.timers,
        compute: this.o.compute,
        hostname: String(rec.pod.spec?.hostname ?? rec.name),
        env,
        cpuLimitMilli: Math.max(1, cpuLimit || this.o.allocatable.cpuMilli),
        memoryLimitBytes: memLimit,
      },
      {
        output: (text) => this.guard(() => this.output(rec, c, inst, text)),
        exit: (code, reason) => this.guard(() => this.exited(rec, c, inst, code, reason)),
      },
    );
    c.instance = inst;
    c.state = { kind: 'running', startedAtMs: attach?.startedAtMs ?? this.now };
    c.ready = false;
    c.started = false;
    c.samples = [{ ms: this.now, ns: c.cpuBaseNs }];
    if (!attach) {
      const image = String(c.spec?.image ?? '');
      this.event(rec, 'Normal', 'Pulled', `Container image "${image}" already present on machine`);
      this.event(rec, 'Normal', 'Created', `Created container: ${c.name}`);
      this.event(rec, 'Normal', 'Started', `Started container ${c.name}`);
    }
    if (!c.init) this.startProbes(rec, c, inst);
  }

  private output(rec: PodRecord, c: Container, inst: WorkloadInstance | null, text: string): void {
    if (rec.gone || c.instance !== inst) return;
    const parts = (c.partial + text).split('\n');
    c.partial = parts.pop() ?? '';
    if (c.partial.length > LOG_LINE_MAX_BYTES) {
      parts.push(c.partial);
      c.partial = '';
    }
    for (const line of parts) this.appendLog(c, line);
  }

  private appendLog(c: Container, line: string): void {
    const ms = this.now;
    c.logs.append(ms, line);
    for (const f of c.followers.values()) {
      f.pending += `${line}\n`;
      if (f.pending.length > LOG_BYTES_LIMIT) f.pending = f.pending.slice(-LOG_BYTES_LIMIT);
      if (!f.scheduled) {
        f.scheduled = true;
        queueMicrotask(() => this.flushFollower(c, f));
      }
    }
  }

  private exited(rec: PodRecord, c: Container, inst: WorkloadInstance | null, code: number, reason?: string): void {
    if (rec.gone || !inst || c.instance !== inst) return;
    if (c.partial) {
      this.appendLog(c, c.partial);
      c.partial = '';
    }
    c.cpuBaseNs += inst.cpuNanos();
    c.instance = null;
    this.stopProbes(c);
    this.cancel(c.killTimer);
    c.killTimer = undefined;
    const startedAtMs = c.state.kind === 'running' ? c.state.startedAtMs : this.now;
    c.state = { kind: 'terminated', t: { exitCode: code, reason: reason ?? (code === 0 ? 'Completed' : 'Error'), startedAtMs, finishedAtMs: this.now, containerID: c.containerID } };
    c.ready = c.init && code === 0;
    c.started = false;
    this.endFollowers(c);
    this.sync(rec);
  }

  /** SIGTERM now, SIGKILL (exit 137) after the grace period if it is still running. */
  private kill(rec: PodRecord, c: Container, graceMs: number): void {
    const inst = c.instance;
    if (!inst || c.killTimer !== undefined) return;
    this.event(rec, 'Normal', 'Killing', `Stopping container ${c.name}`);
    this.stopProbes(c);
    c.ready = false;
    inst.terminate();
    c.killTimer = this.setTimer(graceMs, () => {
      c.killTimer = undefined;
      if (c.instance !== inst) return;
      inst.kill();
      this.exited(rec, c, inst, 137, 'Error');
    });
  }

  private updatePhase(rec: PodRecord): void {
    const phase = this.computePhase(rec, false);
    rec.phase = phase;
    if (phase === 'Succeeded' || phase === 'Failed') this.becomeTerminal(rec);
  }

  private becomeTerminal(rec: PodRecord): void {
    rec.terminal = true;
    this.cancel(rec.deadlineTimer);
    rec.deadlineTimer = undefined;
    for (const c of [...rec.init, ...rec.containers]) {
      this.cancel(c.backoffTimer);
      c.backoffTimer = undefined;
      this.stopProbes(c);
      if (!c.init) c.ready = false;
    }
  }

  /** Kubernetes' getPhase: the pod phase from its containers' states. */
  private computePhase(rec: PodRecord, podIsTerminal: boolean): string {
    const policy = this.restartPolicy(rec);
    let pendingInit = 0;
    let failedInit = 0;
    for (const c of rec.init) {
      if (c.state.kind === 'running') pendingInit++;
      else if (c.state.kind === 'terminated') {
        if (c.state.t.exitCode !== 0) failedInit++;
      } else if (c.last) {
        if (c.last.exitCode !== 0) failedInit++;
      } else pendingInit++;
    }
    let running = 0;
    let waiting = 0;
    let stopped = 0;
    let succeeded = 0;
    for (const c of rec.containers) {
      if (c.state.kind === 'running') running++;
      else if (c.state.kind === 'terminated') {
        stopped++;
        if (c.state.t.exitCode === 0) succeeded++;
      } else if (c.last) stopped++;
      else waiting++;
    }
    if (failedInit > 0 && (policy === 'Never' || podIsTerminal)) return 'Failed';
    if (podIsTerminal) {
      if (running === 0 && waiting === 0 && stopped > 0 && stopped === succeeded) return 'Succeeded';
      return 'Failed';
    }
    if (pendingInit > 0 || waiting > 0) return 'Pending';
    if (running > 0) return 'Running';
    if (stopped > 0) {
      if (policy === 'Always') return 'Running';
      if (stopped === succeeded) return 'Succeeded';
      if (policy === 'Never') return 'Failed';
      return 'Running';
    }
    return 'Pending';
  }

  // ---- stopping ----------------------------------------------------------------------------

  private beginStop(rec: PodRecord, why: StopWhy, graceMs: number): void {
    if (rec.stopping) return;
    rec.stopping = { why, graceMs };
    this.cancel(rec.sandboxTimer);
    rec.sandboxTimer = undefined;
    this.cancel(rec.deadlineTimer);
    rec.deadlineTimer = undefined;
    for (const c of [...rec.init, ...rec.containers]) {
      this.cancel(c.backoffTimer);
      c.backoffTimer = undefined;
      if (c.instance) this.kill(rec, c, graceMs);
    }
  }

  /** Everything stopped: the pod's final phase; a deleted pod is then removed from the API. */
  private finishStop(rec: PodRecord): void {
    rec.stopDone = true;
    if (!rec.terminal) {
      rec.phase = rec.stopping?.why === 'deadline' ? 'Failed' : this.computePhase(rec, true);
      this.becomeTerminal(rec);
    }
    rec.sandboxReady = false;
  }

  // ---- probes ------------------------------------------------------------------------------

  private startProbes(rec: PodRecord, c: Container, inst: WorkloadInstance): void {
    if (c.spec?.startupProbe) this.schedule(rec, c, inst, 'startup', c.spec.startupProbe);
    else this.startMainProbes(rec, c, inst);
  }

  private startMainProbes(rec: PodRecord, c: Container, inst: WorkloadInstance): void {
    c.started = true;
    if (c.spec?.livenessProbe) this.schedule(rec, c, inst, 'liveness', c.spec.livenessProbe);
    if (c.spec?.readinessProbe) this.schedule(rec, c, inst, 'readiness', c.spec.readinessProbe);
    else c.ready = true;
  }

  private schedule(rec: PodRecord, c: Container, inst: WorkloadInstance, kind: ProbeKind, spec: ProbeState['spec']): void {
    const ps: ProbeState = { kind, spec, successes: 0, failures: 0 };
    c.probes.push(ps);
    ps.timer = this.setTimer((spec.initialDelaySeconds ?? 0) * 1000, () => this.probeTick(rec, c, inst, ps));
  }

  private stopProbes(c: Container): void {
    for (const p of c.probes) this.cancel(p.timer);
    c.probes = [];
  }

  private probeTick(rec: PodRecord, c: Container, inst: WorkloadInstance, ps: ProbeState): void {
    ps.timer = undefined;
    if (rec.gone || rec.stopping || rec.terminal || c.instance !== inst || !c.probes.includes(ps)) return;
    const r = inst.probe(ps.spec, rec.podIP);
    const failureThreshold = Math.max(1, ps.spec.failureThreshold ?? 3);
    const successThreshold = Math.max(1, ps.spec.successThreshold ?? 1);
    if (r.ok) {
      ps.successes++;
      ps.failures = 0;
    } else {
      ps.failures++;
      ps.successes = 0;
      const name = ps.kind[0]!.toUpperCase() + ps.kind.slice(1);
      this.event(rec, 'Warning', 'Unhealthy', `${name} probe failed: ${r.output}`);
    }
    const graceMs = (ps.spec.terminationGracePeriodSeconds ?? rec.pod.spec?.terminationGracePeriodSeconds ?? 30) * 1000;
    switch (ps.kind) {
      case 'startup':
        if (r.ok) {
          c.probes = c.probes.filter((p) => p !== ps);
          this.startMainProbes(rec, c, inst);
          this.sync(rec);
          return;
        }
        if (ps.failures >= failureThreshold) {
          this.event(rec, 'Normal', 'Killing', `Container ${c.name} failed startup probe, will be restarted`);
          this.kill(rec, c, graceMs);
          this.sync(rec);
          return;
        }
        break;
      case 'liveness':
        if (!r.ok && ps.failures >= failureThreshold) {
          this.event(rec, 'Normal', 'Killing', `Container ${c.name} failed liveness probe, will be restarted`);
          this.kill(rec, c, graceMs);
          this.sync(rec);
          return;
        }
        break;
      case 'readiness': {
        const ready = r.ok ? (ps.successes >= successThreshold ? true : c.ready) : ps.failures >= failureThreshold ? false : c.ready;
        if (ready !== c.ready) {
          c.ready = ready;
          this.sync(rec);
        }
        break;
      }
    }
    ps.timer = this.setTimer(Math.max(1, ps.spec.periodSeconds ?? 10) * 1000, () => this.probeTick(rec, c, inst, ps));
  }

  // ---- status ------------------------------------------------------------------------------

  private condition(rec: PodRecord, type: string, ok: boolean, reason?: string, message?: string): Record<string, Json> {
    const status = ok ? 'True' : 'False';
    let t = rec.conds.get(type);
    if (!t || t.status !== status) {
      t = { status, ms: this.now };
      rec.conds.set(type, t);
    }
    const c: Record<string, Json> = { type, status, lastProbeTime: null, lastTransitionTime: formatTime(t.ms) };
    if (!ok && reason) c.reason = reason;
    if (!ok && message) c.message = message;
    return c;
  }

  private stateJson(s: CState): Record<string, Json> {
    if (s.kind === 'waiting') return { waiting: s.message ? { reason: s.reason, message: s.message } : { reason: s.reason } };
    if (s.kind === 'running') return { running: { startedAt: formatTime(s.startedAtMs) } };
    return { terminated: terminatedJson(s.t) };
  }

  private containerStatus(c: Container): Record<string, Json> {
    const s: Record<string, Json> = {
      name: c.name,
      state: this.stateJson(c.state),
      lastState: c.last ? { terminated: terminatedJson(c.last) } : {},
      ready: c.ready,
      restartCount: c.restartCount,
      image: c.image,
      imageID: c.imageID,
      started: c.started,
    };
    if (c.containerID) s.containerID = c.containerID;
    return s;
  }

  /** The pod status the kubelet reports now (keeping what other writers own). */
  computeStatus(rec: PodRecord): Record<string, Json> {
    const base: Record<string, Json> = isObject(rec.pod.status) ? rec.pod.status : {};
    const s: Record<string, Json> = {};
    for (const [k, v] of Object.entries(base)) if (!OWNED_STATUS_KEYS.includes(k)) s[k] = v;
    s.phase = rec.phase;
    const baseConds: any[] = Array.isArray(base.conditions) ? base.conditions.filter(isObject) : [];
    const others = baseConds.filter((c) => !OWNED_CONDITIONS.includes(String(c.type)));
    const scheduled = baseConds.find((c) => c.type === 'PodScheduled') ?? {
      type: 'PodScheduled',
      status: 'True',
      lastProbeTime: null,
      lastTransitionTime: formatTime(rec.startMs),
    };
    if (rec.reason) s.reason = rec.reason;
    if (rec.message) s.message = rec.message;
    if (rec.rejected) {
      s.conditions = [scheduled, ...others];
      s.startTime = formatTime(rec.startMs);
      return s;
    }
    const uninitialized = rec.init.filter((c) => !c.succeeded).map((c) => c.name);
    const unready = rec.containers.filter((c) => !c.ready).map((c) => c.name);
    const completed = rec.phase === 'Succeeded';
    const containersReady = unready.length === 0 && rec.containers.length > 0 && !rec.terminal;
    const crReason = completed ? 'PodCompleted' : 'ContainersNotReady';
    const crMessage = completed ? undefined : `containers with unready status: [${unready.join(' ')}]`;
    let ready = containersReady;
    let readyReason = crReason;
    let readyMessage = crMessage;
    if (ready) {
      const gates: any[] = rec.pod.spec?.readinessGates ?? [];
      for (const g of gates) {
        const cond = others.find((c) => c.type === g?.conditionType);
        if (!cond || cond.status !== 'True') {
          ready = false;
          readyReason = 'ReadinessGatesNotReady';
          readyMessage = cond ? `the status of pod readiness gate "${g.conditionType}" is not "True", but ${String(cond.status)}` : `corresponding condition of pod readiness gate "${g.conditionType}" does not exist.`;
          break;
        }
      }
    }
    s.conditions = [
      this.condition(rec, 'PodReadyToStartContainers', rec.sandboxReady && !rec.terminal),
      this.condition(rec, 'Initialized', uninitialized.length === 0, 'ContainersNotInitialized', `containers with incomplete status: [${uninitialized.join(' ')}]`),
      this.condition(rec, 'Ready', ready, readyReason, readyMessage),
      this.condition(rec, 'ContainersReady', containersReady, crReason, crMessage),
      scheduled,
      ...others,
    ];
    s.hostIP = this.o.hostIP;
    s.hostIPs = [{ ip: this.o.hostIP }];
    if (rec.podIP) {
      s.podIP = rec.podIP;
      s.podIPs = [{ ip: rec.podIP }];
    }
    s.startTime = formatTime(rec.startMs);
    if (rec.init.length) s.initContainerStatuses = rec.init.map((c) => this.containerStatus(c));
    s.containerStatuses = rec.containers.map((c) => this.containerStatus(c));
    s.qosClass = podQosClass(rec.pod.spec ?? {});
    return s;
  }

  private requestWrite(rec: PodRecord): void {
    if (rec.gone) return;
    rec.write.dirty = true;
    if (rec.write.inFlight || rec.write.scheduled || rec.write.retryTimer !== undefined) return;
    rec.write.scheduled = true;
    queueMicrotask(() => {
      rec.write.scheduled = false;
      this.writeLoop(rec).catch(() => {
        // Only a dead owner makes scheduling the retry throw; nothing is left to write for.
      });
    });
  }

  private async writeLoop(rec: PodRecord): Promise<void> {
    if (rec.write.inFlight || rec.gone) return;
    rec.write.inFlight = true;
    try {
      while (rec.write.dirty && !rec.gone) {
        rec.write.dirty = false;
        await this.writeOnce(rec);
      }
      if (!rec.gone && rec.stopDone && rec.stopping?.why === 'delete' && !rec.deleteSent) await this.deleteFromApi(rec);
      rec.write.retryMs = WRITE_RETRY_MIN_MS;
    } catch (err) {
      this.counters.writeErrors++;
      this.o.log?.warn({ pod: `${rec.namespace}/${rec.name}`, err: (err as Error)?.message }, 'pod status write failed; will retry');
      rec.write.dirty = true;
      const wait = rec.write.retryMs;
      rec.write.retryMs = Math.min(WRITE_RETRY_MAX_MS, wait * 2);
      rec.write.retryTimer = this.setTimer(wait, () => {
        rec.write.retryTimer = undefined;
        this.requestWrite(rec);
      });
    } finally {
      rec.write.inFlight = false;
    }
    if (rec.write.dirty && rec.write.retryTimer === undefined && !rec.gone) this.requestWrite(rec);
  }

  private observe(rec: PodRecord, o: KubeObject): void {
    if (o.metadata?.uid === rec.uid && rvNumber(o) >= rvNumber(rec.pod)) rec.pod = o;
  }

  private async writeOnce(rec: PodRecord): Promise<void> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const base = rec.pod;
      const want = this.computeStatus(rec);
      const diff = mergeDiff(base.status ?? {}, want);
      if (diff === undefined) return;
      try {
        const out = await this.o.client.patch('pods', rec.namespace, rec.name, { metadata: { resourceVersion: base.metadata.resourceVersion ?? null }, status: diff }, { subresource: 'status' });
        this.counters.statusWrites++;
        this.observe(rec, out);
        return;
      } catch (err) {
        if (isNotFound(err)) return;
        if (!isConflict(err)) throw err;
        this.counters.statusConflicts++;
        const fresh = await this.o.client.get('pods', rec.namespace, rec.name);
        if (fresh.metadata.uid !== rec.uid) return;
        this.observe(rec, fresh);
      }
    }
  }

  private async deleteFromApi(rec: PodRecord): Promise<void> {
    rec.deleteSent = true;
    try {
      await this.o.client.delete('pods', rec.namespace, rec.name, { gracePeriodSeconds: 0, preconditions: { uid: rec.uid } });
    } catch (err) {
      if (isNotFound(err) || isConflict(err)) return;
      rec.deleteSent = false;
      throw err;
    }
  }

  // ---- logs --------------------------------------------------------------------------------

  private record(namespace: string, name: string): PodRecord | undefined {
    const uid = this.byKey.get(podKey(namespace, name));
    return uid === undefined ? undefined : this.pods.get(uid);
  }

  private pickContainer(rec: PodRecord, name: string | undefined): Container | KubeletReply<never> {
    const all = [...rec.init, ...rec.containers];
    if (!name) {
      if (rec.containers.length === 1) return rec.containers[0]!;
      return badRequest(`a container name must be specified for pod ${rec.name}, choose one of: [${rec.containers.map((c) => c.name).join(' ')}]${rec.init.length ? ` or one of the init containers: [${rec.init.map((c) => c.name).join(' ')}]` : ''}`);
    }
    const c = all.find((x) => x.name === name);
    return c ?? badRequest(`container ${name} is not valid for pod ${rec.name}`);
  }

  /** `kubectl logs`: the text so far; with follow, registers `from` for what comes next. */
  logs(req: LogsRequest, from: string): KubeletReply<LogsValue> {
    const rec = this.record(req.namespace, req.pod);
    if (!rec) return notFound(req.pod);
    const picked = this.pickContainer(rec, req.container);
    if (!(picked instanceof Container)) return picked;
    const c = picked;
    let ring: LogRing;
    if (req.previous) {
      if (!c.prevLogs) return badRequest(`previous terminated container "${c.name}" in pod "${rec.name}" not found`);
      ring = c.prevLogs;
    } else {
      if (!c.containerID) {
        const why = c.state.kind === 'waiting' ? c.state.reason : 'ContainerCreating';
        return badRequest(`container "${c.name}" in pod "${rec.name}" is waiting to start: ${why}`);
      }
      ring = c.logs;
    }
    let entries = ring.entries();
    if (req.sinceSeconds !== undefined && req.sinceSeconds > 0) {
      const since = this.now - req.sinceSeconds * 1000;
      entries = entries.filter((e) => e.ms >= since);
    }
    if (req.tailLines !== undefined && req.tailLines >= 0) entries = entries.slice(Math.max(0, entries.length - req.tailLines));
    let text = entries.map((e) => (req.timestamps ? `${rfc3339Nano(e.ms)} ${e.text}\n` : `${e.text}\n`)).join('');
    if (req.limitBytes !== undefined && req.limitBytes > 0 && text.length > req.limitBytes) text = text.slice(0, req.limitBytes);
    let following = false;
    if (req.follow && !req.previous && c.instance && req.stream) {
      if (this.followerCount >= MAX_FOLLOWERS) return { ok: false, status: errors.tooManyRequests('too many log followers on this node').status };
      c.followers.set(`${from}/${req.stream}`, { to: from, stream: req.stream, pending: '', scheduled: false });
      this.followerCount++;
      following = true;
    }
    return { ok: true, value: { text, following } };
  }

  /** `kubectl exec`: a command in a running container. */
  exec(req: ExecRequest): KubeletReply<ExecValue> {
    const rec = this.record(req.namespace, req.pod);
    if (!rec) return notFound(req.pod);
    const picked = this.pickContainer(rec, req.container);
    if (!(picked instanceof Container)) return picked;
    if (!picked.instance?.alive) return badRequest(`container "${picked.name}" in pod "${rec.name}" is not running`);
    if (!Array.isArray(req.command) || req.command.length === 0) return badRequest('you must specify at least one command for the container');
    return { ok: true, value: picked.instance.exec(req.command.map(String)) };
  }

  /**
   * An HTTP request to a pod's port (from the service proxy): the container that declares the
   * port, or the one that listens on it by default, answers; 503 when nothing listens yet.
   */
  http(req: HttpRequest): KubeletReply<HttpValue> {
    const rec = this.record(req.namespace, req.pod);
    if (!rec) return notFound(req.pod);
    const declares = (c: Container) => (c.spec?.ports ?? []).some((p: { containerPort?: number }) => p?.containerPort === req.port);
    const c = rec.containers.find(declares) ?? rec.containers.find((x) => x.instance?.plan.listens && x.instance.plan.port === req.port) ?? rec.containers[0];
    const answer = c?.instance?.serve(req.method, req.path, c.image) ?? null;
    if (!answer) return { ok: true, value: { status: 503, body: `dial tcp ${rec.podIP ?? ''}:${req.port}: connect: connection refused\n` } };
    return { ok: true, value: answer };
  }

  /** The follower went away. */
  stopFollow(from: string, stream: string): void {
    const key = `${from}/${stream}`;
    for (const rec of this.pods.values()) {
      for (const c of [...rec.init, ...rec.containers]) {
        if (c.followers.delete(key)) {
          this.followerCount--;
          return;
        }
      }
    }
  }

  /** Tells every follower the stream is alive (they close streams that stay silent). */
  heartbeat(): void {
    for (const rec of this.pods.values()) {
      for (const c of [...rec.init, ...rec.containers]) {
        for (const f of c.followers.values()) this.sendLogs(f, { t: 'kubeletLogs', stream: f.stream, text: '' });
      }
    }
  }

  private sendLogs(f: Follower, msg: LogsNotice): boolean {
    try {
      this.o.send?.(f.to, msg);
      return true;
    } catch {
      return false;
    }
  }

  private flushFollower(c: Container, f: Follower): void {
    f.scheduled = false;
    if (!f.pending || !c.followers.has(`${f.to}/${f.stream}`)) return;
    const text = f.pending;
    f.pending = '';
    if (!this.sendLogs(f, { t: 'kubeletLogs', stream: f.stream, text })) {
      c.followers.delete(`${f.to}/${f.stream}`);
      this.followerCount--;
    }
  }

  private endFollowers(c: Container): void {
    for (const f of c.followers.values()) {
      this.sendLogs(f, { t: 'kubeletLogs', stream: f.stream, text: f.pending, done: true });
      this.followerCount--;
    }
    c.followers.clear();
  }

  // ---- metrics -----------------------------------------------------------------------------

  /** Takes a CPU usage sample of every running container (the actor calls this periodically). */
  sample(): void {
    const ms = this.now;
    for (const rec of this.pods.values()) {
      for (const c of [...rec.init, ...rec.containers]) {
        if (!c.instance) continue;
        c.samples.push({ ms, ns: c.cpuNanos() });
        if (c.samples.length > 2) c.samples.shift();
      }
    }
  }

  /** CPU in nanocores over the window since the newest sample at least a second old. */
  private usage(c: Container): { nanocores: number; memoryBytes: number; windowMs: number } {
    const ms = this.now;
    const ns = c.cpuNanos();
    let from = c.samples[0] ?? { ms, ns };
    for (const s of c.samples) if (ms - s.ms >= MIN_METRICS_WINDOW_MS) from = s;
    const windowMs = ms - from.ms;
    const nanocores = windowMs > 0 ? ((ns - from.ns) * 1000) / windowMs : 0;
    return { nanocores, memoryBytes: c.instance?.memoryBytes() ?? 0, windowMs };
  }

  /** PodMetrics / NodeMetrics of what runs here now. */
  metrics(req: MetricsRequest, node: { name: string; labels?: Record<string, string> }): MetricsValue {
    const now = this.now;
    const stamp = formatTime(now);
    const pods: PodMetrics[] = [];
    let cpu = 0;
    let mem = 0;
    let windowMs = 0;
    const names = req.pods ? new Set(req.pods) : null;
    for (const rec of this.pods.values()) {
      const running = rec.containers.filter((c) => c.instance);
      if (running.length === 0) continue;
      const containers: ContainerUsage[] = [];
      for (const c of running) {
        const u = this.usage(c);
        cpu += u.nanocores;
        mem += u.memoryBytes;
        windowMs = Math.max(windowMs, u.windowMs);
        containers.push({ name: c.name, usage: { cpu: formatNanocores(u.nanocores), memory: formatKibibytes(u.memoryBytes) } });
      }
      if (req.nodeOnly) continue;
      if (req.namespace && rec.namespace !== req.namespace) continue;
      if (names && !names.has(rec.name)) continue;
      const meta: PodMetrics['metadata'] = { name: rec.name, namespace: rec.namespace, creationTimestamp: stamp };
      if (rec.pod.metadata.labels) meta.labels = rec.pod.metadata.labels;
      pods.push({ kind: 'PodMetrics', apiVersion: 'metrics.k8s.io/v1beta1', metadata: meta, timestamp: stamp, window: formatDuration(windowMs || MIN_METRICS_WINDOW_MS), containers });
    }
    const nodeMeta: MetricsValue['node']['metadata'] = { name: node.name, creationTimestamp: stamp };
    if (node.labels) nodeMeta.labels = node.labels;
    return {
      node: { kind: 'NodeMetrics', apiVersion: 'metrics.k8s.io/v1beta1', metadata: nodeMeta, timestamp: stamp, window: formatDuration(windowMs || MIN_METRICS_WINDOW_MS), usage: { cpu: formatNanocores(cpu), memory: formatKibibytes(mem) } },
      pods,
    };
  }

  // ---- load and health ---------------------------------------------------------------------

  private targets(namespace: string, pod: string, container: string | undefined): Container[] | KubeletReply<never> {
    const rec = this.record(namespace, pod);
    if (!rec) return notFound(pod);
    const list = rec.containers.filter((c) => !container || c.name === container);
    if (container && list.length === 0) return badRequest(`container ${container} is not valid for pod ${pod}`);
    return list;
  }

  load(req: LoadRequest): KubeletReply<{ containers: number }> {
    const t = this.targets(req.namespace, req.pod, req.container);
    if (!Array.isArray(t)) return t;
    let n = 0;
    for (const c of t) {
      const load: { requests?: number; millicores?: number } = {};
      if (req.requests !== undefined) load.requests = req.requests;
      if (req.millicores !== undefined) load.millicores = req.millicores;
      if (c.instance?.addLoad(load)) n++;
    }
    if (n === 0) return badRequest(`pod ${req.pod} runs no container that takes load`);
    return { ok: true, value: { containers: n } };
  }

  health(req: HealthRequest): KubeletReply<{ containers: number }> {
    const t = this.targets(req.namespace, req.pod, req.container);
    if (!Array.isArray(t)) return t;
    let n = 0;
    for (const c of t) {
      if (!c.instance) continue;
      c.instance.setHealthy(req.healthy);
      n++;
    }
    return { ok: true, value: { containers: n } };
  }

  // ---- introspection -----------------------------------------------------------------------

  stats(): PodManagerStats {
    let running = 0;
    let containersRunning = 0;
    let restarts = 0;
    for (const rec of this.pods.values()) {
      if (rec.phase === 'Running') running++;
      for (const c of [...rec.init, ...rec.containers]) {
        if (c.instance) containersRunning++;
        restarts += c.restartCount;
      }
    }
    return { pods: this.pods.size, running, containersRunning, restarts, ipsInUse: this.ipam.inUse, followers: this.followerCount, ...this.counters };
  }

  /** The status the kubelet would report for a pod now (tests). */
  statusOf(namespace: string, name: string): Record<string, Json> | undefined {
    const rec = this.record(namespace, name);
    return rec ? this.computeStatus(rec) : undefined;
  }

  /** Whether every status write has landed (tests). */
  get idle(): boolean {
    for (const rec of this.pods.values()) if (rec.write.dirty || rec.write.inFlight || rec.write.scheduled) return false;
    return true;
  }
}

function terminatedJson(t: Terminated): Record<string, Json> {
  const o: Record<string, Json> = { exitCode: t.exitCode, reason: t.reason };
  if (t.message) o.message = t.message;
  o.startedAt = formatTime(t.startedAtMs);
  o.finishedAt = formatTime(t.finishedAtMs);
  if (t.containerID) o.containerID = t.containerID;
  return o;
}

function parseTerminated(t: any, containerID: string): Terminated | null {
  if (!isObject(t)) return null;
  const out: Terminated = {
    exitCode: Number(t.exitCode ?? 0) || 0,
    reason: String(t.reason ?? ''),
    startedAtMs: parseTime(t.startedAt) ?? 0,
    finishedAtMs: parseTime(t.finishedAt) ?? 0,
    containerID: String(t.containerID ?? containerID),
  };
  if (typeof t.message === 'string') out.message = t.message;
  return out;
}

/** RFC 3339 with nanoseconds, as `kubectl logs --timestamps` shows. */
function rfc3339Nano(ms: number): string {
  const base = formatTime(ms).slice(0, -1);
  const frac = Math.floor(((ms % 1000) + 1000) % 1000);
  return `${base}.${String(frac).padStart(3, '0')}000000Z`;
}

export type { Status };
