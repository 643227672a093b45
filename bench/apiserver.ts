/**
 * API server benchmark: mutating calls (creates over HTTPS, as kubectl and client-go make
 * them) at fixed rates of 50, 200 and 1,000 requests/s with p50/p99 measured from each
 * request's scheduled time (so a stall is not hidden); listing 10,000 pods; and 1,000
 * concurrent watchers receiving a burst of changes, counting every event any of them missed.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ThreadHost } from '../runtime/thread-host.js';
import { apiserverSpec, type ApiServerInfo } from '../actors/apiserver.js';
import { peerSpecs, superviseStore, waitForLeader } from '../cli/store-cluster.js';
import { fmt, percentile, printTable, scaled, sortNumbers, type BenchArgs } from './util.js';

interface Api {
  url: string;
  ca: string;
  token: string;
  agent: Agent;
}

function send(api: Api, method: string, path: string, body?: unknown): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      `${api.url}${path}`,
      {
        method,
        ca: api.ca,
        agent: api.agent,
        headers: {
          Authorization: `Bearer ${api.token}`,
          Accept: 'application/json',
          ...(data ? { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(data)) } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    // A request that hangs is an error, not a stalled benchmark.
    req.setTimeout(30_000, () => req.destroy(new Error(`${method} ${path}: no answer in 30 s`)));
    if (data) req.write(data);
    req.end();
  });
}

const progress = (msg: string) => process.stderr.write(`apiserver bench: ${msg}\n`);

const pod = (name: string) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, labels: { app: 'bench' } },
  spec: { containers: [{ name: 'c', image: 'nginx', resources: { requests: { cpu: '10m', memory: '16Mi' } } }] },
});

/** Open-loop creates at `rps` for `durationMs`; latency counts from each request's scheduled start. */
let runSeq = 0;
async function createsAtRate(api: Api, ns: string, rps: number, durationMs: number): Promise<{ p50: number; p99: number; errors: number; achieved: number }> {
  const total = Math.max(1, Math.round((rps * durationMs) / 1000));
  const run = ++runSeq;
  const lat: number[] = [];
  let errors = 0;
  const t0 = performance.now();
  const inflight: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const due = t0 + (i * 1000) / rps;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    inflight.push(
      send(api, 'POST', `/api/v1/namespaces/${ns}/pods`, pod(`p-${run}-${i}`)).then(
        (r) => {
          if (r.status === 201) lat.push(performance.now() - due);
          else errors++;
        },
        () => {
          errors++;
        },
      ),
    );
  }
  await Promise.all(inflight);
  const elapsed = performance.now() - t0;
  const sorted = sortNumbers(lat);
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), errors, achieved: (lat.length / elapsed) * 1000 };
}

async function fill(api: Api, ns: string, n: number): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: 64 }, async () => {
      while (next < n) {
        const i = next++;
        const r = await send(api, 'POST', `/api/v1/namespaces/${ns}/pods`, pod(`fill-${i}`));
        if (r.status !== 201) throw new Error(`create failed: ${r.status} ${r.text.slice(0, 200)}`);
      }
    }),
  );
}

/** Opens `n` watches on configmaps in `ns`; resolves once all are established. */
function openWatchers(api: Api, ns: string, n: number, rv: string) {
  const counts = new Array<number>(n).fill(0);
  const reqs: ReturnType<typeof request>[] = [];
  // Every watch holds its connection open: they get an agent without a socket limit.
  const agent = new Agent({ keepAlive: true, maxSockets: Infinity });
  const ready: Promise<void>[] = [];
  for (let w = 0; w < n; w++) {
    ready.push(
      new Promise((resolve, reject) => {
        const req = request(
          `${api.url}/api/v1/namespaces/${ns}/configmaps?watch=true&resourceVersion=${rv}`,
          { method: 'GET', ca: api.ca, agent, headers: { Authorization: `Bearer ${api.token}` } },
          (res) => {
            if (res.statusCode !== 200) return reject(new Error(`watch ${w}: HTTP ${res.statusCode}`));
            resolve();
            let buf = '';
            res.on('data', (d: Buffer) => {
              buf += d.toString('utf8');
              let i: number;
              while ((i = buf.indexOf('\n')) >= 0) {
                const line = buf.slice(0, i);
                buf = buf.slice(i + 1);
                if (line.includes('"ADDED"')) counts[w]!++;
              }
            });
            res.on('error', () => {});
          },
        );
        req.on('error', () => {});
        req.end();
        reqs.push(req);
      }),
    );
  }
  return {
    counts,
    ready: Promise.all(ready),
    close: () => {
      reqs.forEach((r) => r.destroy());
      agent.destroy();
    },
  };
}

export async function runApiserver(args: BenchArgs): Promise<Record<string, number>> {
  const dir = mkdtempSync(join(tmpdir(), 'actorkube-apibench-'));
  const host = new ThreadHost({ dataDir: join(dir, 'actors'), logDestination: join(dir, 'cluster.log'), logLevel: 'warn' });
  const peers = ['etcd-1', 'etcd-2', 'etcd-3'];
  try {
    superviseStore(host, peerSpecs('apibench', peers));
    await waitForLeader(host, peers, 15_000);
    host.supervise({ id: 'api', children: [apiserverSpec({ peers, dataDir: dir, port: 0 })] });
    const info = (await host.ask('apiserver', { op: 'info' }, { timeoutMs: 30_000 })) as ApiServerInfo;
    const api: Api = {
      url: info.url,
      ca: readFileSync(join(dir, 'pki', 'ca.crt'), 'utf8'),
      token: readFileSync(join(dir, 'pki', 'token'), 'utf8').trim(),
      agent: new Agent({ keepAlive: true, maxSockets: 256 }),
    };
    for (const ns of ['rate', 'list', 'watch']) {
      const r = await send(api, 'POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
      if (r.status !== 201) throw new Error(`namespace ${ns}: ${r.status} ${r.text}`);
    }
    const durationMs = scaled(5_000, args, 300);
    await createsAtRate(api, 'rate', 50, 500); // warm-up
    const rates: Record<number, Awaited<ReturnType<typeof createsAtRate>>> = {};
    for (const rps of [50, 200, 1000]) {
      progress(`creates at ${rps}/s for ${durationMs} ms`);
      rates[rps] = await createsAtRate(api, 'rate', rps, durationMs);
    }

    const pods = scaled(10_000, args, 200);
    progress(`creating ${pods} pods to list`);
    await fill(api, 'list', pods);
    const listTimes: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      const r = await send(api, 'GET', '/api/v1/namespaces/list/pods');
      listTimes.push(performance.now() - t0);
      const n = (JSON.parse(r.text) as { items: unknown[] }).items.length;
      if (n !== pods) throw new Error(`list returned ${n} pods, expected ${pods}`);
    }

    const watcherCount = scaled(1_000, args, 50);
    const burst = scaled(100, args, 10);
    const list = JSON.parse((await send(api, 'GET', '/api/v1/namespaces/watch/configmaps')).text) as { metadata: { resourceVersion: string } };
    progress(`${watcherCount} watchers, a burst of ${burst} changes`);
    const watchers = openWatchers(api, 'watch', watcherCount, list.metadata.resourceVersion);
    await watchers.ready;
    const tBurst = performance.now();
    await Promise.all(Array.from({ length: burst }, (_, i) => send(api, 'POST', '/api/v1/namespaces/watch/configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `cm-${i}` }, data: { i: String(i) } })));
    const expected = watcherCount * burst;
    const deadline = performance.now() + 30_000;
    const seen = () => watchers.counts.reduce((a, b) => a + b, 0);
    while (seen() < expected && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const deliveredMs = performance.now() - tBurst;
    const missed = expected - seen();
    watchers.close();
    api.agent.destroy();

    printTable('apiserver: creates at a fixed rate (open loop, HTTPS)', ['rate', 'achieved/s', 'p50 ms', 'p99 ms', 'errors'], [50, 200, 1000].map((r) => [`${r}/s`, fmt(rates[r]!.achieved), fmt(rates[r]!.p50, 2), fmt(rates[r]!.p99, 2), rates[r]!.errors]));
    const listMs = sortNumbers(listTimes)[1]!;
    printTable('apiserver: list and watch', ['metric', 'value'], [
      [`list ${fmt(pods)} pods (median of 3, ms)`, fmt(listMs, 1)],
      [`${fmt(watcherCount)} watchers x ${burst} events: delivered in (ms)`, fmt(deliveredMs, 0)],
      ['watch events missed', missed],
    ]);
    return {
      create_p50_ms_at_50rps: Math.round(rates[50]!.p50 * 100) / 100,
      create_p99_ms_at_50rps: Math.round(rates[50]!.p99 * 100) / 100,
      create_p50_ms_at_200rps: Math.round(rates[200]!.p50 * 100) / 100,
      create_p99_ms_at_200rps: Math.round(rates[200]!.p99 * 100) / 100,
      create_p50_ms_at_1000rps: Math.round(rates[1000]!.p50 * 100) / 100,
      create_p99_ms_at_1000rps: Math.round(rates[1000]!.p99 * 100) / 100,
      create_errors: rates[50]!.errors + rates[200]!.errors + rates[1000]!.errors,
      list_pods: pods,
      list_10k_pods_ms: Math.round(listMs),
      watchers: watcherCount,
      watch_burst_events: burst,
      watch_delivery_ms: Math.round(deliveredMs),
      watch_events_missed: missed,
    };
  } finally {
    await host.shutdown();
    rmSync(dir, { recursive: true, force: true });
  }
}
