/**
 * The entry point of every ThreadHost worker: it hosts the actor cells of one placement group,
 * talks to its peers over direct MessageChannels, and takes control messages from the host.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parentPort, workerData } from 'node:worker_threads';
import * as Comlink from 'comlink/dist/esm/comlink.mjs';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import type { Actor, ActorFactory, ActorSpec, StoreOptions } from './actor.js';
import { ActorCell } from './cell.js';
import { createLogger } from './log.js';
import type { FromWorker, ToWorker, WorkerControl, WorkerInit } from './protocol.js';
import { Router } from './router.js';
import { LmdbStore, MemoryStore, type DurableStore } from './store.js';

const init = workerData as WorkerInit;
const port = parentPort!;
const logger = createLogger({ level: init.logLevel, destination: init.logDestination });
const post = (m: FromWorker) => port.postMessage(m);

function openStore(actor: string, name: string, options: StoreOptions): DurableStore {
  if (init.storage === 'memory') return new MemoryStore();
  const dir = join(init.dataDir, actor, name);
  mkdirSync(dir, { recursive: true });
  return LmdbStore.open(dir, { sync: options.sync !== false });
}

const router = new Router({
  slot: init.slot,
  seed: init.seed,
  logger,
  store: openStore,
  crashed: (cell, err) => {
    if (cell.isDead) return;
    const reason = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    logger.error({ err, actor: cell.id, role: cell.role }, 'actor crashed');
    router.removeCell(cell.id, reason);
    post({ t: 'crashed', id: cell.id, reason });
  },
});
const downReasons = new Map(init.down);
for (const [id, slot] of init.directory) router.setLocation(id, slot, downReasons.get(id) ?? null);
for (const [slot, p] of init.ports) router.addPort(slot, p);
router.setFaults(init.faults);
router.setBusyPoll(init.busyPollUs);

const factories = new Map<string, ActorFactory>();
async function loadFactory(spec: ActorSpec): Promise<ActorFactory> {
  const key = `${spec.module}#${spec.export ?? 'default'}`;
  let f = factories.get(key);
  if (!f) {
    const mod = await import(new URL(`../${spec.module}`, import.meta.url).href);
    f = mod[spec.export ?? 'default'] as ActorFactory;
    if (typeof f !== 'function') throw new Error(`${spec.module} has no actor factory export "${spec.export ?? 'default'}"`);
    factories.set(key, f);
  }
  return f;
}

async function spawn(spec: ActorSpec, incarnation: number): Promise<void> {
  let actor: Actor;
  try {
    actor = (await loadFactory(spec))(spec.args);
  } catch (err) {
    logger.error({ err, actor: spec.id }, 'actor could not be created');
    post({ t: 'crashed', id: spec.id, reason: `could not be created: ${String(err)}` });
    return;
  }
  const cell = new ActorCell(spec, actor, router.platform, incarnation);
  router.addCell(cell);
  void cell.start();
}

/** This thread's CPU time from /proc/thread-self/stat (Linux), read on this thread. */
function threadCpu(): { userMs: number; systemMs: number } | null {
  try {
    const stat = readFileSync('/proc/thread-self/stat', 'latin1');
    // Fields after the command name (which may hold spaces) start after its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const tick = 1000 / CLOCK_TICKS_PER_S;
    return { userMs: Number(fields[11]) * tick, systemMs: Number(fields[12]) * tick };
  } catch {
    return null;
  }
}

/** USER_HZ: Linux reports thread times in 1/100 s on every architecture Node runs on. */
const CLOCK_TICKS_PER_S = 100;

const control: WorkerControl = {
  status: (id) => router.cells.get(id)?.status() ?? { actor: id, state: 'dead' },
  metrics: (id) => {
    const cell = router.cells.get(id);
    return cell ? { ...cell.metrics } : null;
  },
  decodeErrors: () => router.decodeErrors,
  ping: () => init.slot,
  transport: () => ({
    busyPollUs: router.busyPollUs,
    framesPolled: router.framesPolled,
    framesWoken: router.framesWoken,
    framesOut: router.framesOut,
    pollsEmpty: router.pollsEmpty,
    decodeErrors: router.decodeErrors,
    envelopesIn: router.envelopesIn,
    bytesIn: router.bytesIn,
    quietCollections,
  }),
  cpu: threadCpu,
  heap: () => {
    const h = getHeapStatistics();
    return { usedBytes: h.used_heap_size, totalBytes: h.total_heap_size, externalBytes: h.external_memory };
  },
};
Comlink.expose(control, nodeEndpoint(init.control as never));

/**
 * Quiet-time collection: once a burst of traffic (a bulk load, a benchmark) is over and the
 * thread has stayed quiet for two check intervals in a row (so that what the burst left to do
 * is done), one full garbage collection hands the burst's garbage back at once, and a second
 * one a check later gives back the young generation the burst had grown: V8 shrinks it only at
 * a collection that finds allocation slow, and the first still counts the burst. V8's memory
 * reducer would do all this too, but in its own time: tens of seconds, and now and then not at
 * all while heartbeats keep allocating a little. Checked every `quietCheckMs` (5 s by
 * default); costs two collections per burst (some tens of ms each for a heap of 100 MB), never
 * during one.
 *
 * A burst is this many envelopes, or frame bytes, since the last collection: a Raft follower
 * takes a bulk load in few, large envelopes.
 */
const BURST_ENVELOPES = 100_000;
const BURST_BYTES = 64 * 1024 * 1024;
/** At most this many envelopes and bytes in one check interval: quiet (heartbeats alone stay below). */
const QUIET_ENVELOPES = 5_000;
const QUIET_BYTES = 4 * 1024 * 1024;
let collectedAt = 0;
let collectedAtBytes = 0;
let lastCount = 0;
let lastBytes = 0;
/** Quiet check intervals in a row. */
let quietChecks = 0;
/** A first collection ran after a burst; the next quiet check runs the second. */
let settling = false;
let quietCollections = 0;
/** gc(): undefined until first needed, null when it could not be reached (not tried again). */
let collect: (() => void) | null | undefined;
setInterval(() => {
  const n = router.envelopesIn;
  const bytes = router.bytesIn;
  const recent = n - lastCount;
  const recentBytes = bytes - lastBytes;
  lastCount = n;
  lastBytes = bytes;
  if (recent > QUIET_ENVELOPES || recentBytes > QUIET_BYTES) {
    quietChecks = 0;
    return;
  }
  if (++quietChecks < 2) return;
  if (settling) settling = false;
  else if (n - collectedAt < BURST_ENVELOPES && bytes - collectedAtBytes < BURST_BYTES) return;
  else settling = true;
  collectedAt = n;
  collectedAtBytes = bytes;
  if (collect === undefined) collect = gcFunction();
  if (collect === null) return;
  collect();
  quietCollections++;
}, init.quietCheckMs).unref();

/** V8's gc(), reached without starting the process with --expose-gc; null when that fails. */
function gcFunction(): (() => void) | null {
  try {
    setFlagsFromString('--expose-gc');
    return runInNewContext('gc') as () => void;
  } catch (err) {
    logger.warn({ err }, 'no quiet-time garbage collection: gc() is not reachable');
    return null;
  }
}

port.on('message', (m: ToWorker) => {
  switch (m.t) {
    case 'spawn':
      void spawn(m.spec, m.incarnation);
      break;
    case 'kill':
      router.removeCell(m.id, m.reason);
      break;
    case 'stop': {
      const cell = router.cells.get(m.id);
      if (!cell) break;
      router.cells.delete(m.id);
      void cell.stop().then(() => post({ t: 'stopped', id: m.id }));
      break;
    }
    case 'pause': {
      const cell = router.cells.get(m.id);
      if (cell) (m.paused ? cell.pause() : cell.resume());
      break;
    }
    case 'dir':
      router.setLocation(m.id, m.slot, m.down);
      break;
    case 'forget':
      router.forget(m.id);
      break;
    case 'faults':
      router.setFaults(m.state);
      break;
    case 'busyPoll':
      router.setBusyPoll(m.us);
      break;
    case 'port':
      router.addPort(m.slot, m.port);
      break;
    case 'closePort':
      router.closePort(m.slot);
      break;
    case 'sync':
      post({ t: 'synced', id: m.id });
      break;
    case 'die':
      // No goodbye: no onStop, no flush. Exiting here rather than being terminated from outside
      // means the thread never dies inside a native call (an lmdb transaction), which can abort
      // the whole process or leave a write lock held.
      process.exit(1);
      break;
    case 'shutdown':
      void (async () => {
        for (const cell of [...router.cells.values()]) await cell.stop();
        router.cells.clear();
        router.flush();
        post({ t: 'shutdownDone' });
        router.closeAll();
        port.close();
        init.control.close();
      })();
      break;
  }
});
