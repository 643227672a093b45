/**
 * Replication benchmark: 3 and 5 peers on real threads, durable (fsync) and memory-only,
 * closed-loop clients at concurrency 1, 64 and 1024, values of 100 B and 1 KiB; linearizable
 * reads; failover time after crashing the leader; the raw channel ceiling; resident memory.
 * Each cluster takes a warm-up load before its first measured case.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ThreadHost } from '../runtime/thread-host.js';
import type { LoadCommand, LoadResult } from '../actors/kv-load.js';
import { hostClient, peerSpecs, peerStatuses, waitForLeader } from '../cli/store-cluster.js';
import { rawCeiling } from './transport.js';
import { fmt, percentile, printTable, scaled, sortNumbers, type BenchArgs } from './util.js';

interface Cluster {
  host: ThreadHost;
  peers: string[];
  dir: string;
}

async function startCluster(n: number, durable: boolean): Promise<Cluster> {
  const dir = mkdtempSync(join(tmpdir(), 'actorkube-bench-'));
  const host = new ThreadHost({ dataDir: dir, storage: 'disk', logLevel: 'warn' });
  const peers = Array.from({ length: n }, (_, i) => `etcd-${i + 1}`);
  host.supervise({
    id: 'store',
    children: [
      ...peerSpecs('bench', peers, { durable }),
      { id: 'load', role: 'load', module: 'actors/kv-load.js' },
    ],
  });
  await waitForLeader(host, peers, 15_000);
  return { host, peers, dir };
}

/**
 * A fresh cluster's code is not compiled yet: the first case measured on it would pay for
 * that. Every cluster takes this load first, on keys no case uses.
 */
async function warmUp(c: Cluster, args: BenchArgs): Promise<void> {
  await load(c, { concurrency: 256, durationMs: scaled(2_000, args, 200), valueBytes: 100, keySpace: 10_000, op: 'put', prefix: '/warm-up/' });
}

async function stopCluster(c: Cluster): Promise<void> {
  await c.host.shutdown();
  rmSync(c.dir, { recursive: true, force: true });
}

async function load(c: Cluster, cmd: Omit<LoadCommand, 'cmd' | 'peers'>): Promise<LoadResult> {
  return c.host.ask<LoadResult>('load', { cmd: 'run', peers: c.peers, ...cmd }, { timeoutMs: cmd.durationMs + 60_000 });
}

interface Row {
  peers: number;
  durable: boolean;
  concurrency: number;
  valueBytes: number;
  writesPerS: number;
  mbPerS: number;
  p50: number;
  p99: number;
  p999: number;
  errors: number;
  cpu: CpuPerWrite;
  /** Writes/s of every trial, when the case ran several (the row is the best one). */
  trials?: number[];
}

/**
 * CPU time per committed write, in µs, summed over the case: the leader's thread, the mean of
 * the followers' threads, the load client's thread, and everything else in the process (V8's
 * garbage collection and compiler helpers, libuv's and lmdb's threads, the main thread).
 */
interface CpuPerWrite {
  total: number;
  leader: number;
  follower: number;
  client: number;
  other: number;
}

type CpuSample = { groups: Record<string, { userMs: number; systemMs: number }>; process: NodeJS.CpuUsage };

async function cpuSample(c: Cluster): Promise<CpuSample> {
  return { groups: await c.host.cpuByGroup(), process: process.cpuUsage() };
}

async function cpuPerWrite(c: Cluster, before: CpuSample, writes: number): Promise<CpuPerWrite> {
  const after = await cpuSample(c);
  const ms = (g: string) => {
    const a = after.groups[g];
    const b = before.groups[g];
    return a && b ? a.userMs + a.systemMs - b.userMs - b.systemMs : 0;
  };
  const perWrite = (msTotal: number) => (msTotal * 1000) / Math.max(1, writes);
  const statuses = await peerStatuses(c.host, c.peers);
  const leader = statuses.find((s) => s.role === 'leader')?.id;
  const followers = c.peers.filter((p) => p !== leader);
  const processMs = (after.process.user + after.process.system - before.process.user - before.process.system) / 1000;
  const groupsMs = [...c.peers, 'load'].reduce((sum, g) => sum + ms(g), 0);
  return {
    total: perWrite(processMs),
    leader: leader === undefined ? 0 : perWrite(ms(leader)),
    follower: perWrite(followers.reduce((sum, g) => sum + ms(g), 0) / Math.max(1, followers.length)),
    client: perWrite(ms('load')),
    other: perWrite(Math.max(0, processMs - groupsMs)),
  };
}

/**
 * The saturating cases run this many times, and the best trial is the row (every trial's rate
 * is printed): on a shared machine a neighbour's burst can take a quarter of a 4 s trial's
 * throughput, and what is measured is what the cluster can do, not what it was left.
 */
const SATURATED_TRIALS = 3;

async function bestOf(trials: number, run: () => Promise<Row>): Promise<Row> {
  const rows: Row[] = [];
  for (let i = 0; i < trials; i++) rows.push(await run());
  const best = rows.reduce((a, b) => (b.writesPerS > a.writesPerS ? b : a));
  return trials > 1 ? { ...best, trials: rows.map((r) => r.writesPerS) } : best;
}

async function writeCase(c: Cluster, concurrency: number, valueBytes: number, durationMs: number, durable: boolean): Promise<Row> {
  const before = await cpuSample(c);
  const r = await load(c, { concurrency, durationMs, valueBytes, keySpace: 10_000, op: 'put', prefix: `/bench/${concurrency}/${valueBytes}/` });
  const cpu = await cpuPerWrite(c, before, r.ops);
  const lat = sortNumbers(r.latenciesMs);
  const rate = (r.ops / r.elapsedMs) * 1000;
  return {
    peers: c.peers.length,
    durable,
    concurrency,
    valueBytes,
    writesPerS: rate,
    mbPerS: (rate * valueBytes) / 1e6,
    p50: percentile(lat, 50),
    p99: percentile(lat, 99),
    p999: percentile(lat, 99.9),
    errors: r.errors,
    cpu,
  };
}

const rssMb = () => process.memoryUsage().rss / 1024 / 1024;

export interface MemoryResult {
  keys: number;
  rssMb: number;
  rssAfterFillMb: number;
  waitedMs: number;
  peerHeapMb: number[];
  peerHeapAfterFillMb: number[];
  /** Quiet-time collections each peer's worker ran (see runtime/worker.ts). */
  peerQuietCollections: number[];
}

/**
 * Fills a 3-peer durable store with `keys` distinct 100 B keys, then measures this process's
 * resident memory right after the fill (the load client's worker included) and once at rest,
 * the store alone: the load client is removed after the fill (see atRest). Run by
 * raft-memory.ts in a process of its own.
 */
export async function memoryPhase(keys: number, maxWaitMs: number): Promise<MemoryResult> {
  const c = await startCluster(3, true);
  const fill = await load(c, { concurrency: 256, durationMs: 600_000, valueBytes: 100, keySpace: keys, distinct: true, maxOps: keys, op: 'put', prefix: '/mem/' });
  const rssAfterFillMb = rssMb();
  const peerHeap = async () => {
    const heaps = await c.host.heapByGroup();
    return c.peers.map((p) => heaps[p]?.usedMb ?? 0);
  };
  const peerHeapAfterFillMb = await peerHeap();
  // The client is not part of the store: its worker goes before the store is measured at rest.
  c.host.removeChild('load');
  const rest = await atRest(c, maxWaitMs);
  const peerHeapMb = await peerHeap();
  const transport = await c.host.transportByGroup();
  const peerQuietCollections = c.peers.map((p) => transport[p]?.quietCollections ?? 0);
  await stopCluster(c);
  return { keys: fill.ops, rssMb: Math.round(rest.rssMb), rssAfterFillMb: Math.round(rssAfterFillMb), waitedMs: rest.waitedMs, peerHeapMb, peerHeapAfterFillMb, peerQuietCollections };
}

/** memoryPhase in a child process; its JSON result is the last line it prints. */
async function memoryInChild(keys: number, maxWaitMs: number): Promise<MemoryResult> {
  const script = fileURLToPath(new URL('./raft-memory.js', import.meta.url));
  const child = spawn(process.execPath, [script, String(keys), String(maxWaitMs)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  const last = out.trim().split('\n').pop() ?? '';
  if (code !== 0 || !last.startsWith('{')) throw new Error(`the memory phase failed (exit ${code}): ${out.slice(-500)}`);
  return JSON.parse(last) as MemoryResult;
}

/** Longest wait for the store to come to rest after the fill (full run). */
const REST_WAIT_MS = 90_000;
/** V8 gives back what a write burst left once its threads have idled for a while: wait at least this. */
const REST_MIN_MS = 45_000;

/**
 * Resident memory once the store, holding its keys and taking no writes, has come to rest: V8's
 * memory reducer collects the fill's garbage and shrinks the heaps some tens of seconds after
 * the writes stop. Samples every 2 s; done once at least REST_MIN_MS (scaled like the wait)
 * passed and the figure has not fallen for 10 s. Reports the last sample.
 */
async function atRest(c: Cluster, maxWaitMs: number): Promise<{ rssMb: number; waitedMs: number }> {
  const t0 = c.host.now();
  const minMs = Math.min(maxWaitMs, (REST_MIN_MS * maxWaitMs) / REST_WAIT_MS);
  let last = rssMb();
  let low = last;
  let lowAt = t0;
  for (;;) {
    const now = c.host.now();
    if (now - t0 >= maxWaitMs || (now - t0 >= minMs && now - lowAt >= 10_000)) return { rssMb: last, waitedMs: now - t0 };
    await c.host.sleep(Math.min(2_000, maxWaitMs));
    last = rssMb();
    if (last < low - 4) {
      low = last;
      lowAt = c.host.now();
    }
  }
}

async function failover(c: Cluster, rounds: number): Promise<number[]> {
  const client = hostClient(c.host, c.peers, `failover-${process.pid}`);
  const times: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const leader = await waitForLeader(c.host, c.peers, 10_000);
    await client.put('/failover/warm', String(i));
    const t0 = c.host.now();
    c.host.crash(leader, { restart: 'manual' });
    // The first write committed after the crash marks the end of the unavailability.
    const probe = hostClient(c.host, c.peers.filter((p) => p !== leader), `failover-${process.pid}-${i}`);
    await probe.put('/failover/probe', String(i));
    times.push(c.host.now() - t0);
    c.host.restart(leader);
    // Let the old leader rejoin before the next round.
    for (let k = 0; k < 100; k++) {
      const s = await peerStatuses(c.host, [leader]);
      if ('term' in s[0]! && s[0]!.leader) break;
      await c.host.sleep(20);
    }
  }
  return times;
}

export async function runRaft(args: BenchArgs): Promise<Record<string, number | number[]>> {
  const durationMs = scaled(4_000, args, 300);
  const rows: Row[] = [];
  const ceiling = await rawCeiling(args);

  let c = await startCluster(3, true);
  await warmUp(c, args);
  const trials = args.scale >= 1 ? SATURATED_TRIALS : 1;
  for (const concurrency of [1, 64]) rows.push(await writeCase(c, concurrency, 100, durationMs, true));
  rows.push(await bestOf(trials, () => writeCase(c, 1024, 100, durationMs, true)));
  rows.push(await writeCase(c, 64, 1024, durationMs, true));
  const reads = await load(c, { concurrency: 64, durationMs, valueBytes: 100, keySpace: 10_000, op: 'get', prefix: '/bench/64/100/' });
  const readsPerS = (reads.ops / reads.elapsedMs) * 1000;
  const failoverTimes = sortNumbers(await failover(c, scaled(10, args, 1)));
  await stopCluster(c);

  c = await startCluster(3, false);
  await warmUp(c, args);
  rows.push(await writeCase(c, 64, 100, durationMs, false));
  rows.push(await bestOf(trials, () => writeCase(c, 1024, 100, durationMs, false)));
  await stopCluster(c);

  if (args.scale >= 1) {
    c = await startCluster(5, true);
    await warmUp(c, args);
    for (const concurrency of [64, 1024]) rows.push(await writeCase(c, concurrency, 100, durationMs, true));
    await stopCluster(c);
  }

  // Memory: a 3-peer store holding many distinct 100 B keys (1 million in the full run), in a
  // process of its own, so what the earlier phases left behind does not count.
  const mem = await memoryInChild(scaled(1_000_000, args, 2_000), scaled(REST_WAIT_MS, args, 0));

  printTable(
    'raft: committed writes (closed-loop clients)',
    ['peers', 'disk', 'clients', 'value', 'writes/s', 'MB/s', 'p50 ms', 'p99 ms', 'p99.9 ms', 'CPU µs/write', 'errors'],
    rows.map((r) => [r.peers, r.durable ? 'fsync' : 'memory', r.concurrency, `${r.valueBytes} B`, fmt(r.writesPerS), fmt(r.mbPerS, 1), fmt(r.p50, 2), fmt(r.p99, 2), fmt(r.p999, 2), fmt(r.cpu.total, 1), r.errors]),
  );
  const bestRow = (durable: boolean) =>
    rows.filter((r) => r.peers === 3 && r.durable === durable && r.valueBytes === 100).reduce((a, b) => (b.writesPerS > a.writesPerS ? b : a));
  const best = (durable: boolean) => bestRow(durable).writesPerS;
  const one = rows.find((r) => r.peers === 3 && r.durable && r.concurrency === 1)!;
  const top = bestRow(true);
  const trialsOf = (durable: boolean) => (bestRow(durable).trials ?? [best(durable)]).map((x) => Math.round(x));
  const cores = availableParallelism();
  const round1 = (x: number) => Math.round(x * 10) / 10;
  const result = {
    durable_writes_per_s_3peers_100b: Math.round(best(true)),
    memory_writes_per_s_3peers_100b: Math.round(best(false)),
    durable_trials_3peers_100b: trialsOf(true),
    memory_trials_3peers_100b: trialsOf(false),
    p50_ms_1client_durable: Math.round(one.p50 * 1000) / 1000,
    p99_ms_1client_durable: Math.round(one.p99 * 1000) / 1000,
    linearizable_reads_per_s: Math.round(readsPerS),
    failover_ms_median: Math.round(percentile(failoverTimes, 50)),
    failover_ms_max: Math.round(failoverTimes[failoverTimes.length - 1]!),
    ceiling_msgs_per_s: Math.round(ceiling),
    ratio_to_ceiling: Number((best(true) / ceiling).toPrecision(3)),
    rss_mb: mem.rssMb,
    rss_mb_after_fill: mem.rssAfterFillMb,
    rest_wait_s: Math.round(mem.waitedMs / 1000),
    heap_mb_per_peer_max: Math.max(...mem.peerHeapMb),
    memory_keys: mem.keys,
    cpu_us_per_write_3peers_100b: round1(top.cpu.total),
    cpu_us_per_write_leader: round1(top.cpu.leader),
    cpu_us_per_write_follower: round1(top.cpu.follower),
    cpu_us_per_write_client: round1(top.cpu.client),
    cpu_us_per_write_other: round1(top.cpu.other),
    cpu_bound_writes_per_s: Math.round((cores * 1e6) / top.cpu.total),
  };
  printTable(
    `raft: CPU per durable write, 3 peers, 100 B, ${top.concurrency} clients (µs, all threads of the process)`,
    ['leader', 'follower (each)', 'load client', 'other threads', 'total', `writes/s ${cores} cores allow at this cost`],
    [[fmt(top.cpu.leader, 1), fmt(top.cpu.follower, 1), fmt(top.cpu.client, 1), fmt(top.cpu.other, 1), fmt(top.cpu.total, 1), fmt(result.cpu_bound_writes_per_s)]],
  );
  printTable('raft: reads, failover, memory', ['metric', 'value'], [
    [`durable writes/s, 3 peers, 100 B, ${top.concurrency} clients: each trial (the best is the row above)`, trialsOf(true).map((x) => fmt(x)).join(' / ')],
    ['memory-only writes/s, the same: each trial', trialsOf(false).map((x) => fmt(x)).join(' / ')],
    ['linearizable reads/s (64 clients)', fmt(readsPerS)],
    ['failover median / max (ms)', `${result.failover_ms_median} / ${result.failover_ms_max}`],
    ['raw channel ceiling (msgs/s)', fmt(ceiling)],
    ['durable writes / ceiling', result.ratio_to_ceiling],
    [`resident memory with ${fmt(mem.keys)} keys (MB, the store's process without its load client), at rest after ${result.rest_wait_s} s`, result.rss_mb],
    ['  of which V8 heap per peer (MB)', mem.peerHeapMb.join(' / ')],
    ['  quiet-time collections per peer', mem.peerQuietCollections.join(' / ')],
    ['resident memory right after the fill, load client included (MB)', result.rss_mb_after_fill],
    ['  of which V8 heap per peer (MB)', mem.peerHeapAfterFillMb.join(' / ')],
  ]);
  return result;
}
