/**
 * A store peer and the API server on real worker threads, in a temp directory, for tests that
 * drive the API with real clients (kubectl, @kubernetes/client-node, raw HTTPS).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ThreadHost } from '../../runtime/thread-host.js';
import { peerSpecs, waitForLeader } from '../../cli/store-cluster.js';
import { apiserverSpec, type ApiServerArgs, type ApiServerInfo } from '../../actors/apiserver.js';
import { kubeletSpec, type KubeletArgs } from '../../actors/kubelet.js';

export interface TestCluster {
  host: ThreadHost;
  dir: string;
  info: ApiServerInfo;
  kubeconfig: string;
  token: string;
  ca: string;
  peers: string[];
  stop(): Promise<void>;
}

export async function startCluster(options: { peers?: number; api?: Partial<ApiServerArgs> } = {}): Promise<TestCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'actorkube-api-'));
  const host = new ThreadHost({ dataDir: join(dir, 'actors'), logDestination: join(dir, 'cluster.log'), logLevel: 'warn' });
  const peers = Array.from({ length: options.peers ?? 1 }, (_, i) => `etcd-${i + 1}`);
  host.supervise({ id: 'store', children: peerSpecs('test', peers) });
  // Generous: two test files run at once, each with its own cluster of threads, on two cores.
  await waitForLeader(host, peers, 30_000);
  host.supervise({ id: 'api', children: [apiserverSpec({ peers, dataDir: dir, port: 0, ...options.api })] });
  const info = (await host.ask('apiserver', { op: 'info' }, { timeoutMs: 30_000 })) as ApiServerInfo;
  return {
    host,
    dir,
    info,
    kubeconfig: info.kubeconfig,
    token: readFileSync(join(dir, 'pki', 'token'), 'utf8').trim(),
    ca: readFileSync(join(dir, 'pki', 'ca.crt'), 'utf8'),
    peers,
    async stop() {
      await host.shutdown();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json(): any;
}

/** One HTTPS request to the test server (trusting its CA). */
export function call(
  c: TestCluster,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
  options: { token?: string | null } = {},
): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
    const token = options.token === undefined ? c.token : options.token;
    const req = request(
      `${c.info.url}${path}`,
      {
        method,
        ca: c.ca,
        headers: {
          ...(token ? { Authorization: `Bearer ${token}` } : {}),
          ...(data !== undefined ? { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(data)) } : {}),
          ...headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: () => JSON.parse(text) });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (data !== undefined) req.write(data);
    req.end();
  });
}

/** Opens a watch and collects its events until `stop()`. */
export function openWatch(c: TestCluster, path: string, headers: Record<string, string> = {}) {
  const events: { type: string; object: any }[] = [];
  let status = 0;
  let ended = false;
  const req = request(`${c.info.url}${path}`, { method: 'GET', ca: c.ca, headers: { Authorization: `Bearer ${c.token}`, ...headers } }, (res) => {
    status = res.statusCode ?? 0;
    let buf = '';
    res.on('data', (d: Buffer) => {
      buf += d.toString('utf8');
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (line.trim()) events.push(JSON.parse(line));
      }
    });
    res.on('end', () => {
      ended = true;
    });
    res.on('error', () => {
      ended = true;
    });
  });
  req.on('error', () => {
    ended = true;
  });
  req.end();
  return {
    events,
    get status() {
      return status;
    },
    get ended() {
      return ended;
    },
    stop() {
      req.destroy();
    },
  };
}

export async function until<T>(fn: () => T | Promise<T>, timeoutMs = 10_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export const KUBECTL = '/usr/bin/kubectl';
export const haveKubectl = existsSync(KUBECTL);

/** Runs kubectl against a test cluster; resolves with stdout, rejects (stderr in the error) on failure. */
export function kubectlIn(c: TestCluster, ...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(KUBECTL, args, { env: { ...process.env, KUBECONFIG: c.kubeconfig }, timeout: 30_000 }, (err, stdout, stderr) => (err ? reject(Object.assign(err, { stderr })) : resolve(stdout)));
  });
}

/**
 * A test cluster with a controller manager (`controllerManager` are its args), a scheduler and
 * one kubelet, `node-1`, registered before it returns.
 */
export async function startOneNodeCluster(controllerManager: object, kubelet: Partial<KubeletArgs> = {}): Promise<TestCluster> {
  const c = await startCluster();
  c.host.supervise({
    id: 'control',
    children: [
      { id: 'controller-manager', role: 'controller-manager', module: 'actors/controller-manager.js', args: controllerManager },
      { id: 'scheduler', role: 'scheduler', module: 'actors/scheduler.js' },
    ],
  });
  c.host.supervise({ id: 'nodes', children: [kubeletSpec({ nodeName: 'node-1', statusEveryMs: 2_000, leaseEveryMs: 2_000, sandboxDelayMs: 20, poolThreads: 1, events: false, ...kubelet }, 'kubelets')] });
  await until(async () => (await call(c, 'GET', '/api/v1/nodes')).json().items.length === 1, 15_000, 'the node');
  return c;
}
