/**
 * `npm run cluster`: starts the replicated store on real worker threads with its data under
 * `--data-dir` (reused on the next start), shows a live status table and takes console
 * commands. `--headless` prints one `ready {json}` line and runs until a signal.
 */
import { parseArgs } from 'node:util';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { ThreadHost } from '../runtime/thread-host.js';
import { hostClient, loadClusterFile, peerSpecs, peerStatuses, superviseStore, waitForLeader } from './store-cluster.js';
import { runConsoleCommand, HELP } from './console.js';
import { NodePool } from './nodes.js';
import { apiserverSpec, DEFAULT_API_PORT, type ApiServerInfo } from '../actors/apiserver.js';
import type { DnsInfo } from '../actors/dns.js';

const { values } = parseArgs({
  options: {
    peers: { type: 'string' },
    'data-dir': { type: 'string', default: '.actorkube' },
    headless: { type: 'boolean', default: false },
    'log-level': { type: 'string' },
    'api-port': { type: 'string', default: String(DEFAULT_API_PORT) },
    'dns-port': { type: 'string', default: '0' },
    nodes: { type: 'string', default: '3' },
    'sched-policy': { type: 'string', default: 'batch' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (values.help) {
  console.log(`usage: npm run cluster -- [--peers N] [--nodes N] [--data-dir DIR] [--api-port PORT] [--dns-port PORT] [--headless] [--log-level LEVEL] [--sched-policy batch|inherit]

Starts an N-peer (default 3) Raft-replicated store on worker threads and the Kubernetes API
server on https://127.0.0.1:PORT (default ${DEFAULT_API_PORT}; 0 picks a free port). Data lives in DIR
(default ./.actorkube) and is reused on the next start; logs go to DIR/cluster.log; kubectl
finds the server with: export KUBECONFIG=DIR/kubeconfig
--nodes N (default 3) starts N kubelets (simulated nodes node-1..node-N, many per worker thread).
--dns-port PORT serves cluster DNS (cluster.local) on 127.0.0.1:PORT over UDP (default 0: any free
port; the ready line and the banner name it).
--sched-policy batch (default) runs every thread under Linux's SCHED_BATCH, where a woken thread
waits for the running one instead of preempting it (more throughput on a busy machine);
inherit keeps the policy the process was started with.
--headless prints one "ready {json}" line and runs until SIGINT/SIGTERM.`);
  process.exit(0);
}

const dataDir = resolve(values['data-dir']!);
const nodeCount = Number(values.nodes);
if (!Number.isInteger(nodeCount) || nodeCount < 0 || nodeCount > 5000) {
  console.error(`error: --nodes must be an integer from 0 to 5000, got ${values.nodes}`);
  process.exit(2);
}
const dnsPort = Number(values['dns-port']);
if (!Number.isInteger(dnsPort) || dnsPort < 0 || dnsPort > 65535) {
  console.error(`error: --dns-port must be a port number (0 for any free port), got ${values['dns-port']}`);
  process.exit(2);
}
const apiPort = Number(values['api-port']);
if (!Number.isInteger(apiPort) || apiPort < 0 || apiPort > 65535) {
  console.error(`error: --api-port must be a port number (0 for any free port), got ${values['api-port']}`);
  process.exit(2);
}
const schedPolicy = values['sched-policy'];
if (schedPolicy !== 'batch' && schedPolicy !== 'inherit') {
  console.error(`error: --sched-policy must be batch or inherit, got ${schedPolicy}`);
  process.exit(2);
}
let file;
try {
  file = loadClusterFile(dataDir, values.peers === undefined ? undefined : Number(values.peers));
} catch (err) {
  console.error(`error: ${(err as Error).message}`);
  process.exit(2);
}
const logFile = join(dataDir, 'cluster.log');
const host = new ThreadHost({ dataDir: join(dataDir, 'actors'), logDestination: logFile, logLevel: values['log-level'], schedPolicy });
superviseStore(host, peerSpecs(file.clusterId, file.peers));

let stopping = false;
async function shutdown(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  await host.shutdown();
  process.exit(code);
}
process.on('SIGINT', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(0));

const t0 = performance.now();
let leader: string;
try {
  leader = await waitForLeader(host, file.peers, 15_000);
} catch (err) {
  console.error(`error: ${(err as Error).message}; see ${logFile}`);
  await shutdown(1);
  throw err;
}
host.supervise({ id: 'control-plane', strategy: 'one_for_one', maxRestarts: 20, periodMs: 10_000, children: [apiserverSpec({ peers: file.peers, dataDir, port: apiPort })] });
let api: ApiServerInfo;
try {
  api = (await host.ask('apiserver', { op: 'info' }, { timeoutMs: 30_000 })) as ApiServerInfo;
} catch (err) {
  console.error(`error: the API server did not start (${(err as Error).message}); is port ${apiPort} free? (--api-port 0 picks any free port); see ${logFile}`);
  await shutdown(1);
  throw err;
}
// The controller manager and the scheduler reach the API server through actor messages.
host.supervise({
  id: 'controllers',
  strategy: 'one_for_one',
  maxRestarts: 20,
  periodMs: 10_000,
  children: [
    { id: 'controller-manager', role: 'controller-manager', module: 'actors/controller-manager.js', args: { volumeBaseDir: join(dataDir, 'volumes') } },
    { id: 'scheduler', role: 'scheduler', module: 'actors/scheduler.js' },
    { id: 'dns', role: 'dns', module: 'actors/dns.js', args: { port: dnsPort } },
    { id: 'proxy', role: 'proxy', module: 'actors/proxy.js' },
  ],
});
let dns: DnsInfo;
try {
  dns = (await host.ask('dns', { op: 'info' }, { timeoutMs: 30_000 })) as DnsInfo;
  if (!dns) throw new Error('no address');
} catch (err) {
  console.error(`error: the cluster DNS server did not start (${(err as Error).message}); is UDP port ${dnsPort} free? (--dns-port 0 picks any free port); see ${logFile}`);
  await shutdown(1);
  throw err;
}
const nodes = new NodePool(host);
for (let i = 1; i <= nodeCount; i++) nodes.add(`node-${i}`);
// Ready means usable: every node has registered with the API server.
{
  const deadline = performance.now() + 30_000;
  for (;;) {
    const registered = await Promise.all(nodes.names().map((n) => host.status(`kubelet-${n}`).then((st) => st.registered === true, () => false)));
    if (registered.every(Boolean)) break;
    if (performance.now() > deadline) {
      console.error(`error: ${registered.filter((r) => !r).length} of ${registered.length} nodes did not register within 30 s; see ${logFile}`);
      await shutdown(1);
    }
    await host.sleep(50);
  }
}
const client = hostClient(host, file.peers, `cli-${process.pid}`);
const ready = {
  dataDir,
  clusterId: file.clusterId,
  peers: file.peers,
  leader,
  api: api.url,
  kubeconfig: api.kubeconfig,
  dns: `${dns.address}:${dns.port}`,
  nodes: nodes.names(),
  log: logFile,
  startupMs: Math.round(performance.now() - t0),
};

if (values.headless) {
  console.log(`ready ${JSON.stringify(ready)}`);
} else {
  const out: string[] = [];
  const print = (line: string) => {
    out.push(...line.split('\n'));
    if (out.length > 14) out.splice(0, out.length - 14);
  };
  print(`cluster ${file.clusterId} up in ${ready.startupMs} ms; data in ${dataDir}; logs in ${logFile}`);
  print(`API server ${api.url}; for kubectl: export KUBECONFIG=${api.kubeconfig}`);
  print(`cluster DNS ${ready.dns} (UDP): dig @${dns.address} -p ${dns.port} SERVICE.NAMESPACE.svc.cluster.local`);
  print(HELP);
  const rl = createInterface({ input: process.stdin, output: process.stdout, prompt: 'actorkube> ' });
  const interactive = process.stdout.isTTY;
  host.onMessage((from, msg) => {
    const m = msg as { t?: string; events?: { type: string; kv: { key: string; value: Uint8Array; modRevision: number } }[] };
    if (m.t === 'watch' && m.events) {
      for (const e of m.events) print(`watch ${from}: ${e.type} ${e.kv.key}=${Buffer.from(e.kv.value ?? []).toString()} @${e.kv.modRevision}`);
    }
  });
  const render = async () => {
    const statuses = await peerStatuses(host, file.peers);
    const lines = statuses.map((s) =>
      'term' in s
        ? `${s.id.padEnd(8)} ${s.role.padEnd(12)} ${String(s.term).padStart(5)} ${String(s.commit).padStart(9)} ${String(s.applied).padStart(9)} ${(s.leader || '-').padEnd(8)} ${String(s.lastHeartbeatMs).padStart(6)} ms`
        : `${s.id.padEnd(8)} ${'DOWN'.padEnd(12)} ${s.reason}`,
    );
    if (!interactive) return;
    process.stdout.write('\x1b[2J\x1b[H');
    console.log('peer     role          term    commit   applied leader   last heartbeat');
    console.log(lines.join('\n'));
    const up = (id: string) => (host.isRunning(id) ? 'up' : 'DOWN');
    const nodeNames = nodes.names();
    const nodesUp = nodeNames.filter((n) => host.isRunning(`kubelet-${n}`)).length;
    console.log(`apiserver ${up('apiserver')}   controller-manager ${up('controller-manager')}   scheduler ${up('scheduler')}   dns ${up('dns')}   proxy ${up('proxy')}   nodes ${nodesUp}/${nodeNames.length} up   ${api.url}`);
    console.log('');
    console.log(out.join('\n'));
    rl.prompt(true);
  };
  // Listen before anything awaits: piped input is read at once.
  rl.on('line', (line) => {
    pending = pending.then(() => onLine(line));
  });
  const onLine = async (line: string) => {
    try {
      const result = await runConsoleCommand(line, { host, client, peers: file.peers, nodes });
      if (result === 'quit') {
        rl.close();
        return;
      }
      if (result) print(result);
    } catch (err) {
      print(`error: ${(err as Error).message}`);
    }
    if (interactive) await render();
    else {
      console.log(out.splice(0).join('\n'));
      rl.prompt();
    }
  };
  let pending = Promise.resolve();
  rl.on('close', () => {
    clearInterval(timer);
    // Piped input: finish the commands already read, then stop.
    void pending.then(() => shutdown(0));
  });
  const timer = setInterval(() => void render(), 1_000);
  await render();
  if (!interactive) rl.prompt();
}
