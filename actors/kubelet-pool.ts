/**
 * The piscina pool that runs the CPU-bound part of simulated containers, shared by every
 * kubelet on one worker thread (module state is per thread). Threads start on demand and end
 * after `IDLE_TIMEOUT_MS` without work, so kubelets whose containers only idle cost no threads.
 * The pool is the one real-thread dependency of the kubelet: the simulator uses SimCompute.
 */
import { availableParallelism } from 'node:os';
import { isMainThread } from 'node:worker_threads';
import { Piscina } from 'piscina';
import type { ComputeBackend, ComputeResult, ComputeStats, ComputeTask } from './kubelet-workloads.js';

const IDLE_TIMEOUT_MS = 30_000;
/** Tasks waiting for a thread beyond this are refused (the workload sheds that slice). */
const MAX_QUEUE = 10_000;

function taskFile(): string {
  const here = new URL(import.meta.url);
  // Tests import the TypeScript sources; pool threads always run the compiled tree.
  const url = here.pathname.endsWith('.ts') ? new URL('../dist/actors/kubelet-workload-worker.js', here) : new URL('./kubelet-workload-worker.js', here);
  return url.href;
}

interface Shared {
  pool: Piscina<ComputeTask, ComputeResult>;
  users: Set<string>;
  running: number;
  completed: number;
  failed: number;
  busyNs: number;
}

let shared: Shared | null = null;

/**
 * Whether the caller runs on a worker thread (ThreadHost), where a pool may start; the
 * simulator runs every actor on the main thread and models the work instead.
 */
export function onWorkerThread(): boolean {
  return !isMainThread;
}

/** The threads a pool gets by default: half the machine's cores, at least one. */
export function defaultPoolThreads(): number {
  return Math.max(1, Math.floor(availableParallelism() / 2));
}

/** A kubelet's handle on its thread's pool; `close()` lets the pool go once nobody holds it. */
export class PoolCompute implements ComputeBackend {
  private closed = false;
  private constructor(
    private readonly user: string,
    private readonly s: Shared,
  ) {}

  /** Joins (or starts) this thread's pool. `user` is the kubelet's actor id: a restarted kubelet rejoins. */
  static acquire(user: string, threads = defaultPoolThreads()): PoolCompute {
    if (!shared) {
      shared = {
        pool: new Piscina<ComputeTask, ComputeResult>({
          filename: taskFile(),
          minThreads: 0,
          maxThreads: Math.max(1, threads),
          idleTimeout: IDLE_TIMEOUT_MS,
          maxQueue: MAX_QUEUE,
          name: 'default',
        }),
        users: new Set(),
        running: 0,
        completed: 0,
        failed: 0,
        busyNs: 0,
      };
    }
    shared.users.add(user);
    return new PoolCompute(user, shared);
  }

  run(task: ComputeTask, done: (err: Error | null, result?: ComputeResult) => void): void {
    const s = this.s;
    s.running++;
    // A task may finish after its kubelet died (the pool outlives one kubelet on a shared
    // worker): whatever `done` then throws must not become an unhandled rejection, which would
    // end the worker and every other kubelet on it.
    const deliver = (err: Error | null, r?: ComputeResult) => {
      try {
        done(err, r);
      } catch {
        /* its owner is gone */
      }
    };
    s.pool.run(task).then(
      (r) => {
        s.running--;
        s.completed++;
        s.busyNs += r.busyNs;
        deliver(null, r);
      },
      (err: unknown) => {
        s.running--;
        s.failed++;
        deliver(err instanceof Error ? err : new Error(String(err)));
      },
    );
  }

  stats(): ComputeStats {
    const s = this.s;
    return {
      kind: 'pool',
      threads: s.pool.threads.length,
      queued: s.pool.queueSize,
      running: s.running,
      completed: s.completed,
      failed: s.failed,
      busyMs: Math.round(s.busyNs / 1e6),
      utilization: Math.round(s.pool.utilization * 1000) / 1000,
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.s.users.delete(this.user);
    if (this.s.users.size > 0 || shared !== this.s) return;
    shared = null;
    await this.s.pool.destroy();
  }
}
