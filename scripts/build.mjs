// Transpiles the TypeScript sources to dist/ (one .js per .ts, ES modules), so worker threads
// start from plain JavaScript with no loader. Type checking is `npm run typecheck`.
import { build } from 'esbuild';
import { readdirSync, statSync, rmSync } from 'node:fs';
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
rmSync('dist', { recursive: true, force: true });
await build({
  entryPoints,
  outdir: 'dist',
  outbase: '.',
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: 'inline',
  logLevel: 'warning',
});
