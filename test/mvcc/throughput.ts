/**
 * Throughput and memory of MvccStore.applyEntries (a measurement, not a test).
 *
 *   npx esbuild test/mvcc/throughput.ts --bundle --platform=node --format=esm --packages=external \
 *     --outfile=/tmp/mvcc-throughput.mjs && node --expose-gc /tmp/mvcc-throughput.mjs [puts] [keys]
 *
 * Workload: small puts (100-byte values, 100,000 distinct keys) from 100 clients, as msgpack log
 * entries, in batches of 1,000; the same with a prevKv watcher over every key (what an API
 * server's watch cache does); API-server-style txn writes; then memory with `keys` distinct keys
 * in the index and the time to re-open (rebuild the index).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pack } from 'msgpackr';
import { LmdbStore, MemoryStore, type DurableStore } from '../../runtime/store.js';
import { MvccStore, type LogEntry } from '../../raft/mvcc/store.js';
import { WatchHub } from '../../raft/mvcc/watch.js';

const puts = Number(process.argv[2] ?? 300_000);
const distinctKeys = Number(process.argv[3] ?? 1_000_000);
const batchSize = 1000;
const clients = 100;
const value = new Uint8Array(100).fill(7);

/** `txn` is the API server's write: compare modRevision, then put, else read the key back. */
function makeEntries(from: number, n: number, keyCount: number, kind: 'put' | 'txn' = 'put'): LogEntry[] {
  const out: LogEntry[] = [];
  for (let i = 0; i < n; i++) {
    const index = from + i;
    const key = `/registry/pods/default/pod-${index % keyCount}`;
    const put = { type: 'put', key, value };
    const cmd =
      kind === 'put'
        ? put
        : {
            type: 'txn',
            compare: [{ key, target: 'modRevision', result: '<', operand: 2 ** 40 }],
            success: [put],
            failure: [{ type: 'range', key }],
          };
    const proposal = { client: `client-${index % clients}`, seq: Math.floor(index / clients) + 1, cmd };
    out.push({ index, data: new Uint8Array(pack(proposal)) });
  }
  return out;
}

function run(label: string, backend: DurableStore, withWatcher: boolean, kind: 'put' | 'txn' = 'put'): void {
  const store = MvccStore.open(backend);
  let delivered = 0;
  if (withWatcher) {
    const hub = new WatchHub(store, { deliver: (_id, events) => void (delivered += events.length) });
    hub.create({ key: '/registry/', rangeEnd: '/registry0', prevKv: true });
  }
  // Entries are encoded up front: decoding is part of apply, encoding is the proposer's cost.
  const batches: LogEntry[][] = [];
  for (let i = 0; i < puts; i += batchSize) batches.push(makeEntries(1 + i, Math.min(batchSize, puts - i), 100_000, kind));
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  for (const b of batches) store.applyEntries(b);
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  // CPU time is the steadier figure on a shared machine; it includes GC helper threads.
  console.log(
    `${label.padEnd(34)} ${String(Math.round(puts / seconds)).padStart(8)} puts/s wall ` +
      `${String(Math.round(puts / cpuSeconds)).padStart(8)} puts/cpu-s  (${puts} puts, batches of ${batchSize}` +
      `${withWatcher ? `, ${delivered} events watched` : ''})`,
  );
}

function memory(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) {
    console.log('memory: run with --expose-gc');
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'mvcc-mem-'));
  const backend = LmdbStore.open(dir, { sync: false });
  gc();
  const before = process.memoryUsage().heapUsed;
  const store = MvccStore.open(backend);
  for (let i = 0; i < distinctKeys; i += batchSize) store.applyEntries(makeEntries(1 + i, Math.min(batchSize, distinctKeys - i), distinctKeys));
  gc();
  const after = process.memoryUsage().heapUsed;
  console.log(
    `memory: ${store.indexedKeys} keys in the index, ${Math.round((after - before) / store.indexedKeys)} bytes of JS heap per key (values in lmdb)`,
  );
  const t0 = performance.now();
  const reopened = MvccStore.open(backend);
  console.log(`re-open (index rebuild) of ${reopened.indexedKeys} keys: ${Math.round(performance.now() - t0)} ms`);
  void backend.close().then(() => rmSync(dir, { recursive: true, force: true }));
}

const dirs: string[] = [];
function lmdb(): LmdbStore {
  const dir = mkdtempSync(join(tmpdir(), 'mvcc-bench-'));
  dirs.push(dir);
  return LmdbStore.open(dir, { sync: false });
}

run('MemoryStore', new MemoryStore(), false);
run('LmdbStore (sync: false)', lmdb(), false);
run('MemoryStore + prevKv watcher', new MemoryStore(), true);
run('LmdbStore (sync: false) + watcher', lmdb(), true);
run('LmdbStore (sync: false), txn writes', lmdb(), false, 'txn');
memory();
process.on('exit', () => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
