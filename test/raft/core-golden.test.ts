// Data-driven golden traces (etcd-io/raft style): each file in testdata/ is a sequence of
//
//   command args...
//   ----
//   expected output (the messages delivered while the command ran, then its own report)
//
// blocks separated by blank lines; lines starting with '#' are comments. The cluster is the
// deterministic simulated network, so traces are exact. After an intended behaviour change,
// regenerate with UPDATE_GOLDEN=1 and review the diff.
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { NodeOptions } from '../../raft/core/testing.js';
import { Network, bytes } from '../../raft/core/testing.js';

const DIR = join(import.meta.dirname, 'testdata');
const UPDATE = process.env.UPDATE_GOLDEN === '1';

interface Block {
  comments: string[];
  command: string;
  expected: string[];
}

function parse(text: string): Block[] {
  const blocks: Block[] = [];
  const lines = text.split('\n');
  let i = 0;
  while (i < lines.length) {
    const comments: string[] = [];
    while (i < lines.length && (lines[i]!.startsWith('#') || lines[i]!.trim() === '')) {
      if (lines[i]!.startsWith('#')) comments.push(lines[i]!);
      i++;
    }
    if (i >= lines.length) break;
    const command = lines[i++]!;
    if (lines[i] !== '----') throw new Error(`expected ---- after "${command}" (line ${i + 1})`);
    i++;
    const expected: string[] = [];
    while (i < lines.length && lines[i]!.trim() !== '') expected.push(lines[i++]!);
    blocks.push({ comments, command, expected });
  }
  return blocks;
}

function render(blocks: Block[], outputs: string[][]): string {
  return blocks
    .map((b, k) => [...b.comments, b.command, '----', ...outputs[k]!].join('\n'))
    .join('\n\n') + '\n';
}

function args(parts: string[]): { pos: string[]; kv: Record<string, string> } {
  const pos: string[] = [];
  const kv: Record<string, string> = {};
  for (const p of parts) {
    const eq = p.indexOf('=');
    if (eq > 0) kv[p.slice(0, eq)] = p.slice(eq + 1);
    else pos.push(p);
  }
  return { pos, kv };
}

function options(kv: Record<string, string>): NodeOptions {
  const o: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(kv)) {
    if (k === 'peers' || k === 'seed') continue;
    o[k] = v === 'true' ? true : v === 'false' ? false : Number.isNaN(Number(v)) ? v : Number(v);
  }
  return o as NodeOptions;
}

/** Runs one command; returns its output lines. */
function exec(state: { net: Network | null }, command: string): string[] {
  const [name, ...rest] = command.trim().split(/\s+/);
  const { pos, kv } = args(rest);
  if (name === 'new') {
    state.net = new Network({ peers: kv.peers!.split(','), seed: Number(kv.seed ?? 1), config: options(kv) });
    return ['ok'];
  }
  const net = state.net;
  if (net === null) throw new Error('no network: start with "new"');
  net.trace = [];
  const out: string[] = [];
  switch (name) {
    case 'campaign':
      net.campaign(pos[0]!);
      break;
    case 'propose': {
      const r = net.propose(pos[0]!, pos[1]!);
      out.push(`result: ${JSON.stringify(r)}`);
      break;
    }
    case 'propose-many': {
      const n = net.node(pos[0]!);
      for (let i = 0; i < Number(pos[1]); i++) n.propose(bytes(`${pos[2] ?? 'v'}${i}`));
      net.stabilize();
      break;
    }
    case 'tick':
      if (pos[1] !== undefined) net.tickNode(pos[1], Number(pos[0] ?? 1));
      else net.tick(Number(pos[0] ?? 1));
      break;
    case 'isolate':
      net.isolate(pos[0]!);
      break;
    case 'partition':
      net.partition(...pos.map((g) => g.split(',')));
      break;
    case 'heal':
      net.heal();
      break;
    case 'crash':
      net.crash(pos[0]!);
      break;
    case 'restart':
      net.restart(pos[0]!);
      net.stabilize();
      break;
    case 'compact':
      net.compact(pos[0]!, Number(kv.keep ?? 0));
      out.push(`first index: ${net.node(pos[0]!).raft.log.firstIndex()}`);
      break;
    case 'transfer':
      out.push(`result: ${JSON.stringify(net.node(pos[0]!).transferLeadership(pos[1]!))}`);
      net.stabilize();
      break;
    case 'read': {
      const p = net.peer(pos[0]!);
      const before = p.readStates.length;
      out.push(`result: ${JSON.stringify(p.n.readIndex(pos[1]!))}`);
      net.stabilize();
      for (const rs of p.readStates.slice(before)) out.push(`readState: index=${rs.index} ctx=${String(rs.requestCtx)}`);
      break;
    }
    case 'add-learner':
    case 'add-voter':
    case 'remove': {
      if (!net.peers.has(pos[1]!) && name !== 'remove') net.addPeer(pos[1]!);
      const type = name === 'add-learner' ? 'addLearner' : name === 'add-voter' ? 'addNode' : 'removeNode';
      out.push(`result: ${JSON.stringify(net.proposeConfChange(pos[0]!, { type, nodeId: pos[1]! }))}`);
      break;
    }
    case 'status':
      for (const [id, p] of net.peers) {
        if (!p.up) {
          out.push(`${id}: down`);
          continue;
        }
        const s = p.n.status();
        out.push(`${id}: ${s.role} term=${s.term} lead=${s.lead || '-'} commit=${s.commit} applied=${s.applied} last=${s.lastIndex} voters=${s.config.voters.join(',')}${s.config.learners.length ? ` learners=${s.config.learners.join(',')}` : ''}`);
      }
      break;
    case 'applied':
      for (const id of pos.length ? pos : [...net.peers.keys()]) out.push(`${id}: ${net.appliedData(id).join(' ') || '(none)'}`);
      break;
    default:
      throw new Error(`unknown command ${name}`);
  }
  const trace = net.trace;
  net.trace = null;
  return [...trace, ...out, ...(trace.length + out.length === 0 ? ['ok'] : [])];
}

describe('golden traces', () => {
  for (const file of readdirSync(DIR).filter((f) => f.endsWith('.txt')).sort()) {
    it(file, () => {
      const path = join(DIR, file);
      const blocks = parse(readFileSync(path, 'utf8'));
      const state: { net: Network | null } = { net: null };
      const outputs = blocks.map((b) => exec(state, b.command));
      if (UPDATE) {
        writeFileSync(path, render(blocks, outputs));
        return;
      }
      for (let k = 0; k < blocks.length; k++) {
        expect(outputs[k]!.join('\n'), `${file}: "${blocks[k]!.command}"`).toBe(blocks[k]!.expected.join('\n'));
      }
    });
  }
});
