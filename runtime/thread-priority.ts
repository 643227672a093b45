/**
 * The scheduling priority of a worker thread, raised while some actor on it asks for it
 * (ActorContext.setCpuPriority). Linux only: a thread's nice value is set through its thread
 * id, which /proc/thread-self names; lowering it below the process's takes root or
 * CAP_SYS_NICE. Where either is missing the thread simply keeps its priority.
 */
import { readlinkSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';

/**
 * How much a high-priority thread's nice value is below its normal one. Under contention CFS
 * gives a thread at -10 about nine times the CPU share of one at 0: a Raft leader on a
 * machine with fewer cores than busy threads then keeps up with its followers. Far lower
 * values starve the followers the leader waits for.
 */
export const HIGH_PRIORITY_DELTA = -10;

export class ThreadPriority {
  private readonly wanting = new Set<string>();
  /** This thread's id and its normal nice value; null once found unusable. */
  private thread: { tid: number; normal: number } | null | undefined;
  private current: number | null = null;

  /** @param unavailable told once why the priority cannot be changed on this thread */
  constructor(private readonly unavailable: (reason: string) => void) {}

  /** This thread's nice value, or null when its priority cannot be changed here. */
  get nice(): number | null {
    this.lookUp();
    return this.current;
  }

  set(actor: string, level: 'high' | 'normal'): void {
    if (level === 'high') this.wanting.add(actor);
    else if (!this.wanting.delete(actor)) return;
    const thread = this.lookUp();
    if (thread === null) return;
    const nice = this.wanting.size > 0 ? thread.normal + HIGH_PRIORITY_DELTA : thread.normal;
    if (nice === this.current) return;
    try {
      setPriority(thread.tid, nice);
      this.current = nice;
    } catch (err) {
      this.give(`cannot set the priority of thread ${thread.tid} to ${nice}: ${(err as Error).message}`);
    }
  }

  private lookUp(): { tid: number; normal: number } | null {
    if (this.thread !== undefined) return this.thread;
    try {
      const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
      if (!Number.isInteger(tid) || tid <= 0) throw new Error('/proc/thread-self names no thread id');
      this.thread = { tid, normal: getPriority(tid) };
      this.current = this.thread.normal;
    } catch (err) {
      this.give(`no thread id to set a priority on: ${(err as Error).message}`);
    }
    return this.thread ?? null;
  }

  private give(reason: string): void {
    this.thread = null;
    this.current = null;
    this.unavailable(reason);
  }
}
