/**
 * The CPU scheduling policy of the process's threads (Linux).
 *
 * Actors pass work along in bursts: a Raft leader posts a frame to each follower, then fsyncs
 * and applies; a follower acknowledges, then applies. Under the default policy, every post
 * wakes a thread that has run less than the poster, and the kernel switches to it at once: on
 * a busy machine the leader loses the core in the middle of its turn, at every post, and the
 * pipeline's serial thread waits on the ones it feeds. SCHED_BATCH (Linux's policy for
 * throughput work) keeps the same fair shares but lets a woken thread wait for the running
 * one to block or use up its slice, instead of preempting it on wakeup.
 *
 * The kernel offers no way to set it from JavaScript, so it is set with `chrt` (util-linux)
 * for every thread of the process; threads created later (workers, V8's helpers) inherit it.
 * Switching a thread to SCHED_BATCH needs no privilege.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

export type SchedPolicy = 'batch' | 'inherit';

/** Linux policy numbers (field 41 of /proc/<pid>/task/<tid>/stat). */
const POLICY_NAMES: Record<number, string> = { 0: 'normal', 1: 'fifo', 2: 'rr', 3: 'batch', 5: 'idle', 6: 'deadline' };

/**
 * The policy of thread `tid` of process `pid` (this process's main thread by default), or null
 * off Linux.
 */
export function threadPolicy(tid: number = process.pid, pid: number = process.pid): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: fields 3 on follow the last ')'.
    const policy = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[41 - 3];
    if (policy === undefined || !/^\d+$/.test(policy)) return null;
    return POLICY_NAMES[Number(policy)] ?? `policy ${policy}`;
  } catch {
    return null;
  }
}

/** The policy of every thread of process `pid` (this one by default), by thread id (empty off Linux). */
export function threadPolicies(pid: number = process.pid): Map<number, string> {
  const out = new Map<number, string>();
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const t of tids) {
    const p = threadPolicy(Number(t), pid);
    if (p !== null) out.set(Number(t), p);
  }
  return out;
}

/**
 * Puts every thread of this process under SCHED_BATCH (see above). Returns the policy the main
 * thread has afterwards, or the reason it could not be set: `chrt` is missing, or this is not
 * Linux. A process that is already under it is left alone.
 */
export function useBatchScheduling(): { policy: string | null; error?: string } {
  if (process.platform !== 'linux') return { policy: null, error: `not available on ${process.platform}` };
  if (threadPolicy() === 'batch') return { policy: 'batch' };
  try {
    execFileSync('chrt', ['--all-tasks', '--batch', '--pid', '0', String(process.pid)], { stdio: 'pipe', timeout: 5_000 });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: Buffer };
    const why = e.code === 'ENOENT' ? 'chrt (util-linux) is not installed' : (e.stderr?.toString().trim() || e.message);
    return { policy: threadPolicy(), error: why };
  }
  return { policy: threadPolicy() };
}
