/**
 * `npm run bench -- <name> [--json] [--quick|--smoke]`: runs one benchmark, prints its tables and, with
 * `--json`, one JSON line last.
 */
import { useBatchScheduling } from '../runtime/sched.js';
import { parseBenchArgs } from './util.js';

const benches: Record<string, (args: ReturnType<typeof parseBenchArgs>) => Promise<object>> = {
  transport: async (a) => (await import('./transport.js')).runTransport(a),
  raft: async (a) => (await import('./raft.js')).runRaft(a),
  apiserver: async (a) => (await import('./apiserver.js')).runApiserver(a),
  controlplane: async (a) => (await import('./controlplane.js')).runControlplane(a),
};

const args = parseBenchArgs(process.argv.slice(2));
const name = args.rest[0];
if (!name || !benches[name]) {
  console.error(`usage: npm run bench -- <${Object.keys(benches).join('|')}> [--json] [--quick|--smoke]`);
  process.exit(2);
}
// Every phase under the policy the clusters run under (ThreadHost's default), the raw
// baselines included, so that their ratios compare like with like.
const sched = useBatchScheduling();
console.log(`${name} bench: CPU scheduling policy ${sched.policy ?? 'unknown'}${sched.error ? ` (${sched.error})` : ''}`);
const result = await benches[name](args);
if (args.json) console.log(JSON.stringify({ bench: name, ...result, sched_policy: sched.policy }));
