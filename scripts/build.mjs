// Transpiles the TypeScript sources to dist/ (one .js per .ts, ES modules), so worker threads
// start from plain JavaScript with no loader. Type checking is `npm run typecheck`.
import { build } from 'esbuild';
import { readdirSync, statSync, rmSync, renameSync, existsSync } from 'node:fs';
import { join } from 'node:path';

const roots = ['runtime', 'actors', 'raft', 'controllers', 'api', 'cli', 'bench'];
const entryPoints = [];
function walk(dir) {
  let names;
  try { names = readdirSync(dir); } catch { return; }
  for (const name of names) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) entryPoints.push(p);
  }
}
roots.forEach(walk);
// Build beside dist/ and swap it in, so a cluster already running from dist/ (a worker it
// restarts loads dist/runtime/worker.js again) never sees a half-written tree.
const next = `dist.next-${process.pid}`;
const old = `dist.old-${process.pid}`;
rmSync(next, { recursive: true, force: true });
await build({
  entryPoints,
  outdir: next,
  outbase: '.',
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: 'inline',
  logLevel: 'warning',
});
if (existsSync('dist')) renameSync('dist', old);
renameSync(next, 'dist');
rmSync(old, { recursive: true, force: true });
