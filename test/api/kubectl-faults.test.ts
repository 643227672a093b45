// kubectl applies while the store's Raft leader crashes: every object kubectl was told was
// created survives, and the re-apply of whatever failed completes.
import { execFile } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitForLeader } from '../../cli/store-cluster.js';
import { startCluster, type TestCluster } from './harness.js';

const KUBECTL = process.env.KUBECTL ?? '/usr/bin/kubectl';
const haveKubectl = existsSync(KUBECTL);
if (!haveKubectl) console.warn(`skipping kubectl fault tests: ${KUBECTL} not found`);

let c: TestCluster;

function kubectl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(KUBECTL, args, { env: { ...process.env, KUBECONFIG: c.kubeconfig }, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

beforeAll(async () => {
  if (haveKubectl) c = await startCluster({ peers: 3, api: { watchSilenceMs: 2_000 } });
});

afterAll(async () => {
  await c?.stop();
});

describe.skipIf(!haveKubectl)('kubectl under store faults', () => {
  it('keeps every object kubectl saw created when the Raft leader crashes mid-apply', async () => {
    const docs = Array.from({ length: 150 }, (_, i) => `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm-${i}}\ndata: {i: "${i}"}\n`);
    const manifest = join(c.dir, 'many.yaml');
    writeFileSync(manifest, docs.join('---\n'));
    let done = false;
    const applying = kubectl(['apply', '-f', manifest]).finally(() => {
      done = true;
    });
    // Crash the leader while the apply is in flight (kubectl sends one request per object).
    await new Promise((r) => setTimeout(r, 300));
    const leader = await waitForLeader(c.host, c.peers, 5_000);
    expect(done, 'the apply was still running when the leader crashed').toBe(false);
    c.host.crash(leader, { restart: 'manual' });
    const first = await applying;
    const acknowledged = [...first.stdout.matchAll(/configmap\/(cm-\d+) created/g)].map((m) => m[1]!);
    console.log(`first apply: ${acknowledged.length} created before and during the leader crash, exit ${first.code}`);
    // Whatever failed is applied again once a new leader is elected.
    await waitForLeader(c.host, c.peers.filter((p) => p !== leader), 10_000);
    const again = await kubectl(['apply', '-f', manifest]);
    expect(again.code, again.stderr).toBe(0);
    c.host.restart(leader);
    const listed = await kubectl(['get', 'configmaps', '-o', 'name']);
    const names = new Set(listed.stdout.trim().split('\n').map((l) => l.replace('configmap/', '')));
    for (const name of acknowledged) expect(names.has(name), `${name} was acknowledged`).toBe(true);
    for (let i = 0; i < 150; i++) expect(names.has(`cm-${i}`)).toBe(true);
    // Values are intact, not only names.
    const cm = JSON.parse((await kubectl(['get', 'configmap', 'cm-42', '-o', 'json'])).stdout) as { data: { i: string } };
    expect(cm.data.i).toBe('42');
  });
});
