/**
 * ThreadHost: actors on real worker threads. Each placement group (by default each actor) gets
 * a worker; workers talk over direct MessageChannels that the host creates and transfers; a
 * crash terminates the worker with no goodbye; stores are lmdb directories on disk.
 */
import { mkdirSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { MessageChannel, Worker } from 'node:worker_threads';
import * as Comlink from 'comlink/dist/esm/comlink.mjs';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import type { Logger } from 'pino';
import type { ActorContext, ActorId, ActorMetrics, ActorSpec } from './actor.js';
import { ActorCell } from './cell.js';
import { UnknownActorError } from './errors.js';
import { NO_FAULTS, type FaultState } from './faults.js';
import { HOST_ID, Host } from './host.js';
import { createLogger } from './log.js';
import type { FromWorker, ToWorker, TransportStats, WorkerControl, WorkerInit } from './protocol.js';
import { Router } from './router.js';
import { type SchedPolicy, threadPolicy, useBatchScheduling } from './sched.js';
import { MemoryStore } from './store.js';

export interface ThreadHostOptions {
  /** Root of the actors' data directories (default: a fresh directory under the OS temp dir). */
  dataDir?: string;
  /** 'disk' (lmdb, default) or 'memory' (nothing survives a crash; for benchmarks). */
  storage?: 'disk' | 'memory';
  seed?: number;
  logLevel?: string;
  /** File descriptor or path of the cluster's single log stream (default stderr). */
  logDestination?: number | string;
  /** How long shutdown waits for a worker's orderly stop before terminating it. */
  shutdownGraceMs?: number;
  /** How long a crashed worker may take to reach a turn boundary and exit before it is terminated. */
  crashGraceMs?: number;
  /**
   * Busy polling on workers, in microseconds (see Router.setBusyPoll): a number, or 'auto'
   * (default): 50 µs while there are no more workers than cores, off beyond that, where a
   * spinning thread would take the core another one needs.
   */
  busyPollUs?: number | 'auto';
  /**
   * How often a worker checks whether it has gone quiet after a burst of traffic, to hand the
   * burst's garbage back (see runtime/worker.ts). Default 5,000 ms.
   */
  quietCheckMs?: number;
  /**
   * The CPU scheduling policy of the process's threads: 'batch' (default) puts them all under
   * Linux's SCHED_BATCH (see runtime/sched.ts), where a woken actor waits for the running one
   * to block rather than preempting it; 'inherit' leaves the process as it was started.
   */
  schedPolicy?: SchedPolicy;
}

/** The busy-poll budget 'auto' gives while every worker can have a core. */
export const AUTO_BUSY_POLL_US = 50;

interface WorkerSlot {
  group: string;
  slot: number;
  worker: Worker;
  actors: Set<ActorId>;
  control: Comlink.Remote<WorkerControl>;
  controlPort: import('node:worker_threads').MessagePort;
  gone: boolean;
}

function workerScript(): URL {
  const here = new URL(import.meta.url);
  // Tests import the TypeScript sources; workers always run the compiled tree.
  return here.pathname.endsWith('.ts') ? new URL('../dist/runtime/worker.js', here) : new URL('./worker.js', here);
}

export class ThreadHost extends Host {
  readonly kind = 'thread' as const;
  readonly dataDir: string;
  readonly logger: Logger;
  private readonly options: Required<Omit<ThreadHostOptions, 'dataDir'>>;
  private readonly groups = new Map<string, WorkerSlot>();
  private readonly slots = new Map<number, WorkerSlot>();
  private nextSlot = 1;
  private readonly location = new Map<ActorId, number>();
  private readonly downReasons = new Map<ActorId, string>();
  private faultState: FaultState = NO_FAULTS;
  private readonly router: Router;
  private readonly hostCell: ActorCell;
  private closed = false;
  private nextSyncId = 1;
  /** The policy the process's threads run under ('batch', 'normal'...; null where unknown). */
  readonly schedPolicy: string | null;

  constructor(options: ThreadHostOptions = {}) {
    super();
    const quiet = options.quietCheckMs;
    if (quiet !== undefined && !(quiet > 0 && Number.isFinite(quiet))) {
      throw new RangeError(`quietCheckMs must be a positive number of milliseconds, not ${quiet}`);
    }
    const policy = options.schedPolicy;
    if (policy !== undefined && policy !== 'batch' && policy !== 'inherit') {
      throw new RangeError(`schedPolicy must be 'batch' or 'inherit', not ${String(policy)}`);
    }
    this.dataDir = options.dataDir ?? join(tmpdir(), `actorkube-${process.pid}-${Date.now()}`);
    mkdirSync(this.dataDir, { recursive: true });
    this.options = {
      storage: options.storage ?? 'disk',
      seed: options.seed ?? 1,
      logLevel: options.logLevel ?? process.env.LOG_LEVEL ?? 'info',
      logDestination: options.logDestination ?? 2,
      shutdownGraceMs: options.shutdownGraceMs ?? 2_000,
      crashGraceMs: options.crashGraceMs ?? 1_000,
      busyPollUs: options.busyPollUs ?? 'auto',
      quietCheckMs: options.quietCheckMs ?? 5_000,
      schedPolicy: options.schedPolicy ?? 'batch',
    };
    this.logger = createLogger({ level: this.options.logLevel, destination: this.options.logDestination });
    if (this.options.schedPolicy === 'batch') {
      // Before any worker exists: the workers' threads inherit the main thread's policy.
      const r = useBatchScheduling();
      this.schedPolicy = r.policy;
      if (r.error !== undefined) this.logger.info({ reason: r.error }, 'threads keep the default CPU scheduling policy');
    } else this.schedPolicy = threadPolicy();
    this.router = new Router({
      slot: 0,
      seed: this.options.seed,
      logger: this.logger,
      store: () => new MemoryStore(),
      crashed: (_cell, err) => this.logger.error({ err }, 'host cell failed'),
    });
    this.router.setLocation(HOST_ID, 0, null);
    this.location.set(HOST_ID, 0);
    this.hostCell = new ActorCell({ id: HOST_ID, role: 'host', module: '' }, { onMessage: (_ctx, from, msg) => this.hostReceived(from, msg) }, this.router.platform, 0);
    this.router.addCell(this.hostCell);
    void this.hostCell.start();
  }

  now(): number {
    return this.router.platform.now();
  }

  random(): number {
    return Math.random();
  }

  setTimer(delayMs: number, fn: () => void): unknown {
    return setTimeout(fn, delayMs);
  }

  clearTimer(handle: unknown): void {
    clearTimeout(handle as NodeJS.Timeout);
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, ms));
  }

  protected get hostContext(): ActorContext {
    return this.hostCell.ctx;
  }

  /** Number of live worker threads. */
  get workerCount(): number {
    return this.slots.size;
  }

  /** Worker thread ids of the live workers (for tests that check nothing is left running). */
  workerThreadIds(): number[] {
    return [...this.slots.values()].map((w) => w.worker.threadId);
  }

  // ---- workers ------------------------------------------------------------------------------------
  private broadcast(msg: ToWorker, transfer?: never[]): void {
    for (const w of this.slots.values()) if (!w.gone) w.worker.postMessage(msg, transfer);
  }

  private startWorker(group: string): WorkerSlot {
    const slot = this.nextSlot++;
    const ports: [number, import('node:worker_threads').MessagePort][] = [];
    // A direct channel to every live thread, main included.
    {
      const { port1, port2 } = new MessageChannel();
      ports.push([0, port1]);
      this.router.addPort(slot, port2);
    }
    for (const other of this.slots.values()) {
      if (other.gone) continue;
      const { port1, port2 } = new MessageChannel();
      ports.push([other.slot, port1]);
      other.worker.postMessage({ t: 'port', slot, port: port2 } satisfies ToWorker, [port2 as never]);
    }
    const controlChannel = new MessageChannel();
    const directory: [ActorId, number][] = [...this.location];
    const init: WorkerInit = {
      slot,
      seed: this.options.seed * 7919 + slot,
      logLevel: this.options.logLevel,
      logDestination: this.options.logDestination,
      dataDir: this.dataDir,
      storage: this.options.storage,
      directory,
      down: [...this.downReasons],
      faults: this.faultState,
      busyPollUs: this.busyPollFor(this.liveWorkers() + 1),
      quietCheckMs: this.options.quietCheckMs,
      ports,
      control: controlChannel.port2,
    };
    const worker = new Worker(workerScript(), {
      workerData: init,
      transferList: [...ports.map(([, p]) => p), controlChannel.port2] as never[],
      name: `actorkube:${group}`,
      // Descriptors a worker opened (its logs') close when it ends, crashed or not.
      trackUnmanagedFds: true,
    });
    const w: WorkerSlot = {
      group,
      slot,
      worker,
      actors: new Set(),
      control: Comlink.wrap<WorkerControl>(nodeEndpoint(controlChannel.port1)),
      controlPort: controlChannel.port1,
      gone: false,
    };
    worker.on('message', (m: FromWorker) => this.onWorkerMessage(w, m));
    worker.on('error', (err) => this.logger.error({ err, group }, 'worker failed'));
    worker.on('exit', (code) => this.onWorkerExit(w, code));
    this.groups.set(group, w);
    this.slots.set(slot, w);
    this.updateBusyPoll();
    return w;
  }

  private liveWorkers(): number {
    let n = 0;
    for (const w of this.slots.values()) if (!w.gone) n++;
    return n;
  }

  private busyPollFor(workers: number): number {
    const setting = this.options.busyPollUs;
    if (setting !== 'auto') return setting;
    return workers <= availableParallelism() ? AUTO_BUSY_POLL_US : 0;
  }

  private busyPollSent = -1;

  /** Tells the workers the busy-poll budget when the number of workers changes it. */
  private updateBusyPoll(): void {
    const us = this.busyPollFor(this.liveWorkers());
    if (us === this.busyPollSent) return;
    this.busyPollSent = us;
    this.broadcast({ t: 'busyPoll', us });
  }

  private onWorkerMessage(w: WorkerSlot, m: FromWorker): void {
    if (m.t === 'crashed') {
      if (!w.actors.delete(m.id)) return;
      this.markDown(m.id, m.reason);
      this.actorFailed(m.id, m.reason);
      this.retireIfEmpty(w);
    }
  }

  /** Forgets a worker: its ports are closed everywhere and its actors are down. */
  private dropWorker(w: WorkerSlot): void {
    if (w.gone) return;
    w.gone = true;
    this.slots.delete(w.slot);
    if (this.groups.get(w.group) === w) this.groups.delete(w.group);
    this.router.closePort(w.slot);
    this.broadcast({ t: 'closePort', slot: w.slot });
    w.controlPort.close();
    this.updateBusyPoll();
  }

  private onWorkerExit(w: WorkerSlot, code: number): void {
    const wasGone = w.gone;
    this.dropWorker(w);
    if (this.closed) return;
    const lost = [...w.actors];
    w.actors.clear();
    for (const id of lost) {
      const reason = wasGone ? 'its worker was terminated' : `its worker exited with code ${code}`;
      this.markDown(id, reason);
      this.actorFailed(id, reason);
    }
  }

  /**
   * Ends a worker the way a crash would, but at a turn boundary: it exits itself on a control
   * message, so it is never cut off inside a native call (terminating a thread in the middle of
   * an lmdb transaction can abort the process). A worker stuck in a loop is terminated after
   * `crashGraceMs`.
   */
  private crashWorker(w: WorkerSlot): void {
    const timer = setTimeout(() => void w.worker.terminate(), this.options.crashGraceMs);
    w.worker.once('exit', () => clearTimeout(timer));
    w.worker.postMessage({ t: 'die' } satisfies ToWorker);
  }

  private retireIfEmpty(w: WorkerSlot): void {
    if (w.actors.size > 0 || w.gone) return;
    this.dropWorker(w);
    this.crashWorker(w);
  }

  private markDown(id: ActorId, reason: string): void {
    const slot = this.location.get(id) ?? -1;
    this.downReasons.set(id, reason);
    this.router.setLocation(id, slot, reason);
    this.broadcast({ t: 'dir', id, slot, down: reason });
  }

  // ---- actor lifecycle ------------------------------------------------------------------------------
  protected startActor(spec: ActorSpec, incarnation: number): void {
    if (this.closed) return;
    const group = spec.group ?? spec.id;
    let w = this.groups.get(group);
    if (!w || w.gone) w = this.startWorker(group);
    w.actors.add(spec.id);
    this.location.set(spec.id, w.slot);
    this.downReasons.delete(spec.id);
    // The spawn goes first, so the worker knows the actor before anyone can address it there.
    w.worker.postMessage({ t: 'spawn', spec, incarnation } satisfies ToWorker);
    this.router.setLocation(spec.id, w.slot, null);
    this.broadcast({ t: 'dir', id: spec.id, slot: w.slot, down: null });
  }

  protected killActor(id: ActorId, reason: string, crash: boolean): void {
    const slot = this.location.get(id);
    const w = slot === undefined ? undefined : this.slots.get(slot);
    this.markDown(id, reason);
    if (!w || !w.actors.has(id)) return;
    w.actors.delete(id);
    if (crash && w.actors.size === 0) {
      // Alone on its thread: the thread dies with no goodbye.
      this.dropWorker(w);
      this.crashWorker(w);
      return;
    }
    w.worker.postMessage({ t: 'kill', id, reason } satisfies ToWorker);
    this.retireIfEmpty(w);
  }

  protected override forget(id: ActorId): void {
    this.location.delete(id);
    this.downReasons.delete(id);
    this.router.forget(id);
    this.broadcast({ t: 'forget', id });
  }

  protected pauseActor(id: ActorId, paused: boolean): void {
    const w = this.slotOf(id);
    w?.worker.postMessage({ t: 'pause', id, paused } satisfies ToWorker);
  }

  protected applyFaults(state: FaultState): void {
    this.faultState = state;
    this.router.setFaults(state);
    this.broadcast({ t: 'faults', state });
  }

  private slotOf(id: ActorId): WorkerSlot | undefined {
    const slot = this.location.get(id);
    const w = slot === undefined ? undefined : this.slots.get(slot);
    return w && w.actors.has(id) ? w : undefined;
  }

  async status(id: ActorId): Promise<Record<string, unknown>> {
    if (!this.isKnown(id)) throw new UnknownActorError(id);
    const w = this.slotOf(id);
    if (!w) return { actor: id, state: 'dead', reason: this.downReasons.get(id) ?? 'not running' };
    return w.control.status(id);
  }

  async metrics(id: ActorId): Promise<ActorMetrics> {
    if (!this.isKnown(id)) throw new UnknownActorError(id);
    const w = this.slotOf(id);
    const m = w ? await w.control.metrics(id) : null;
    if (!m) throw new UnknownActorError(id);
    return m;
  }

  /**
   * Resolves once every live worker has handled every control message sent before the call
   * (fault changes, pauses, directory updates; a spawn may still be loading its module).
   * Control messages and actor frames travel on different channels, so without this a fault
   * set just before a send can miss it on a thread that has not seen the change yet.
   */
  override async settled(): Promise<void> {
    const live = [...this.slots.values()].filter((w) => !w.gone);
    await Promise.all(
      live.map(
        (w) =>
          new Promise<void>((resolve) => {
            const id = this.nextSyncId++;
            const done = () => {
              w.worker.off('message', onMessage);
              w.worker.off('exit', done);
              resolve();
            };
            const onMessage = (m: FromWorker) => {
              if (m.t === 'synced' && m.id === id) done();
            };
            w.worker.on('message', onMessage);
            w.worker.on('exit', done);
            w.worker.postMessage({ t: 'sync', id } satisfies ToWorker);
          }),
      ),
    );
  }

  /** V8 heap of each live worker, by placement group (the rest of RSS is native: lmdb maps, buffers). */
  async heapByGroup(): Promise<Record<string, { usedMb: number; totalMb: number; externalMb: number }>> {
    const out: Record<string, { usedMb: number; totalMb: number; externalMb: number }> = {};
    const mb = (b: number) => Math.round(b / 1048576);
    for (const w of this.slots.values()) {
      if (w.gone) continue;
      const h = await w.control.heap();
      out[w.group] = { usedMb: mb(h.usedBytes), totalMb: mb(h.totalBytes), externalMb: mb(h.externalBytes) };
    }
    return out;
  }

  /** CPU time each live worker's thread has used, by placement group (empty where the OS does not say). */
  async cpuByGroup(): Promise<Record<string, { userMs: number; systemMs: number }>> {
    const out: Record<string, { userMs: number; systemMs: number }> = {};
    for (const w of this.slots.values()) {
      if (w.gone) continue;
      const c = await w.control.cpu();
      if (c) out[w.group] = c;
    }
    return out;
  }

  /** Transport counters of each live worker, by placement group. */
  async transportByGroup(): Promise<Record<string, TransportStats>> {
    const out: Record<string, TransportStats> = {};
    for (const w of this.slots.values()) if (!w.gone) out[w.group] = await w.control.transport();
    return out;
  }

  /** Frames dropped because they failed to decode, over every live thread. */
  async decodeErrors(): Promise<number> {
    let n = this.router.decodeErrors;
    for (const w of this.slots.values()) n += await w.control.decodeErrors();
    return n;
  }

  /** Stops every actor in order and ends every worker; the process can then exit by itself. */
  async shutdown(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stopAllSupervisors();
    const workers = [...this.slots.values()];
    await Promise.all(
      workers.map(
        (w) =>
          new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, this.options.shutdownGraceMs);
            w.worker.on('message', (m: FromWorker) => {
              if (m.t === 'shutdownDone') {
                clearTimeout(timer);
                resolve();
              }
            });
            w.worker.on('exit', () => {
              clearTimeout(timer);
              resolve();
            });
            w.worker.postMessage({ t: 'shutdown' } satisfies ToWorker);
          }),
      ),
    );
    await Promise.all(workers.map((w) => w.worker.terminate()));
    for (const w of workers) this.dropWorker(w);
    this.hostCell.kill('shutdown');
    this.router.closeAll();
  }
}
