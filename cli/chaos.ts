/**
 * `npm run chaos`: fault campaigns against the replicated store. Each run drives concurrent
 * clients while a nemesis injects faults, heals, demands liveness, and checks the recorded
 * history (linearizability, lost writes), election safety, replica convergence and the watch
 * stream. `--sim` runs replay from their seed; `--threads` runs on real workers with lmdb.
 * Exits non-zero on any violation (or, with --plant, when the planted bug went undetected).
 */
import { parseArgs } from 'node:util';
import { runCampaign } from './chaos/campaign.js';
import { failureDetail, runLine, summaryLines } from './chaos/report.js';
import { DEFAULT_OPTIONS, NEMESIS_KINDS, PLANTED_BUGS, type CampaignOptions, type NemesisKind, type PlantedBug } from './chaos/types.js';

const USAGE = `usage: npm run chaos -- [--sim | --threads] [options]

  --sim                 deterministic simulation (default): every run replays from its seed
  --threads             real worker threads, lmdb in a temp dir, real crashes
  --runs N              number of runs (default ${DEFAULT_OPTIONS.runs}; 1 with --threads)
  --seed S              base seed; run i uses seed S + i (default ${DEFAULT_OPTIONS.seed})
  --duration MS         safety phase per run, ms (default ${DEFAULT_OPTIONS.durationMs})
  --nemesis LIST        comma-separated: ${NEMESIS_KINDS.join(', ')}, all, none
                        (default ${DEFAULT_OPTIONS.nemeses.join(',')})
  --clients N           concurrent client processes (default ${DEFAULT_OPTIONS.clients})
  --keys N              keys they share (default ${DEFAULT_OPTIONS.keys})
  --peers N             founding voters (default ${DEFAULT_OPTIONS.peers})
  --liveness-bound MS   after healing, a write must commit within this (default ${DEFAULT_OPTIONS.livenessBoundMs})
  --no-watch            do not record and check a watch stream
  --history DIR         write each run's history (JSON lines) to DIR
  --plant NAME          plant a bug in every peer (${PLANTED_BUGS.join(', ')}); reports the detection rate
  --snapshot-every N    compact the Raft log every N writes (forces snapshot installs; default 10000)
  --json                print one JSON line with the summary last
  --verbose             print the faults of every run, not only of failing ones
  --log-level LEVEL     worker log level for --threads (default silent)`;

function fail(message: string): never {
  console.error(`error: ${message}\n\n${USAGE}`);
  process.exit(2);
}

function int(value: string | undefined, name: string, fallback: number, min = 0): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) fail(`${name} must be an integer >= ${min}, got ${JSON.stringify(value)}`);
  return n;
}

function parseNemeses(value: string | undefined): NemesisKind[] {
  if (value === undefined) return [...DEFAULT_OPTIONS.nemeses];
  const out = new Set<NemesisKind>();
  for (const part of value.split(',').map((s) => s.trim()).filter(Boolean)) {
    if (part === 'all') NEMESIS_KINDS.forEach((k) => out.add(k));
    else if (part === 'none') continue;
    else if ((NEMESIS_KINDS as readonly string[]).includes(part)) out.add(part as NemesisKind);
    else fail(`unknown nemesis "${part}" (choose from ${NEMESIS_KINDS.join(', ')}, all, none)`);
  }
  return [...out];
}

const { values } = parseArgs({
  options: {
    sim: { type: 'boolean', default: false },
    threads: { type: 'boolean', default: false },
    runs: { type: 'string' },
    seed: { type: 'string' },
    duration: { type: 'string' },
    nemesis: { type: 'string' },
    clients: { type: 'string' },
    keys: { type: 'string' },
    peers: { type: 'string' },
    'liveness-bound': { type: 'string' },
    'no-watch': { type: 'boolean', default: false },
    history: { type: 'string' },
    plant: { type: 'string' },
    'snapshot-every': { type: 'string' },
    json: { type: 'boolean', default: false },
    verbose: { type: 'boolean', default: false },
    'log-level': { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
if (values.sim && values.threads) fail('choose one of --sim and --threads');
if (values.plant !== undefined && !(PLANTED_BUGS as readonly string[]).includes(values.plant)) {
  fail(`unknown planted bug "${values.plant}" (choose from ${PLANTED_BUGS.join(', ')})`);
}

const mode = values.threads ? 'threads' : 'sim';
const snapshotEvery = values['snapshot-every'] === undefined ? undefined : int(values['snapshot-every'], '--snapshot-every', 0, 1);
const options: CampaignOptions = {
  mode,
  runs: int(values.runs, '--runs', mode === 'threads' ? 1 : DEFAULT_OPTIONS.runs, 1),
  seed: int(values.seed, '--seed', DEFAULT_OPTIONS.seed),
  durationMs: int(values.duration, '--duration', DEFAULT_OPTIONS.durationMs, 1),
  nemeses: parseNemeses(values.nemesis),
  clients: int(values.clients, '--clients', DEFAULT_OPTIONS.clients, 1),
  keys: int(values.keys, '--keys', DEFAULT_OPTIONS.keys, 1),
  peers: int(values.peers, '--peers', DEFAULT_OPTIONS.peers, 1),
  livenessBoundMs: int(values['liveness-bound'], '--liveness-bound', DEFAULT_OPTIONS.livenessBoundMs, 1),
  watch: !values['no-watch'],
  ...(values.history ? { historyDir: values.history } : {}),
  ...(values.plant ? { plant: values.plant as PlantedBug } : {}),
  ...(snapshotEvery ? { peerArgs: { snapshotEveryEntries: snapshotEvery, keepEntries: Math.max(1, Math.floor(snapshotEvery / 2)) } } : {}),
  ...(values['log-level'] ? { logLevel: values['log-level'] } : {}),
};

console.log(
  `chaos: ${options.runs} ${mode} run(s) from seed ${options.seed}, ${options.durationMs} ms under ${options.nemeses.join('+') || 'no faults'}, ` +
    `${options.peers} peers, ${options.clients} clients on ${options.keys} keys${options.plant ? `, planted bug ${options.plant}` : ''}`,
);
const { summary } = await runCampaign(options, (r) => {
  console.log(runLine(r));
  if (r.violations.length > 0 || values.verbose) console.log(failureDetail(r, options));
});
for (const line of summaryLines(summary)) console.log(line);
if (values.json) console.log(JSON.stringify(summary));

// With a planted bug, finding it is success; missing it in every run is the failure.
const failed = options.plant ? summary.planted_detected === 0 : summary.violations > 0;
// Every host was shut down; exit now rather than wait on a worker's lingering handle.
process.exit(failed ? 1 : 0);
