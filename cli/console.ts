/** The cluster console's commands, shared by the interactive view and tests. */
import type { Host } from '../runtime/host.js';
import type { StoreClient } from '../raft/client.js';
import type { NodePool } from './nodes.js';
import { prefixEnd, type KeyValue } from '../raft/mvcc/commands.js';

export const HELP = `commands: put K V | get K | del K | watch PREFIX | crash ID | restart ID | pause ID | resume ID
          partition A,B C,D | isolate ID | heal | transfer ID | add-node [NAME] | remove-node NAME
          actors | status | bench [N] | help | quit`;

export interface ConsoleEnv {
  host: Host;
  client: StoreClient;
  peers: string[];
  nodes?: NodePool;
}

export async function runConsoleCommand(line: string, env: ConsoleEnv): Promise<string | 'quit' | null> {
  const [cmd, ...rest] = line.trim().split(/\s+/);
  const { host, client, peers } = env;
  const need = (n: number, usage: string) => {
    if (rest.length < n) throw new Error(`usage: ${usage}`);
  };
  switch (cmd) {
    case undefined:
    case '':
      return null;
    case 'help':
      return HELP;
    case 'quit':
    case 'exit':
      return 'quit';
    case 'put': {
      need(2, 'put KEY VALUE');
      const r = (await client.put(rest[0]!, rest.slice(1).join(' '))) as { revision: number };
      return `OK (revision ${r.revision})`;
    }
    case 'get': {
      need(1, 'get KEY');
      const kv = await client.get(rest[0]!);
      return kv ? `${kv.key}=${Buffer.from(kv.value).toString()} (mod ${kv.modRevision}, version ${kv.version})` : `${rest[0]} not found`;
    }
    case 'del': {
      need(1, 'del KEY');
      const r = (await client.delete(rest[0]!)) as { deleted: number };
      return `deleted ${r.deleted}`;
    }
    case 'watch': {
      need(1, 'watch PREFIX');
      const w = await client.watch('$host', { key: rest[0]!, rangeEnd: prefixEnd(rest[0]!) });
      return `watching ${rest[0]}* (watch ${w.watchId} on ${w.peer})`;
    }
    case 'crash':
    case 'restart':
    case 'pause':
    case 'resume': {
      need(1, `${cmd} ID`);
      const id = rest[0]!;
      if (!host.isKnown(id)) throw new Error(`unknown actor ${id}; actors: ${host.actorIds().join(', ')}`);
      if (cmd === 'crash') host.crash(id, { restart: 'manual' });
      else if (cmd === 'restart') host.restart(id);
      else if (cmd === 'pause') host.pause(id);
      else host.resume(id);
      return `${cmd} ${id}: done${cmd === 'crash' ? ' (stays down until "restart ' + id + '")' : ''}`;
    }
    case 'partition': {
      need(2, 'partition A,B C,D');
      const groups = rest.map((g) => g.split(',').filter(Boolean));
      for (const id of groups.flat()) if (!host.isKnown(id)) throw new Error(`unknown actor ${id}`);
      host.faults.partition(groups);
      return `partitioned ${groups.map((g) => `[${g.join(' ')}]`).join(' | ')}`;
    }
    case 'isolate':
      need(1, 'isolate ID');
      if (!host.isKnown(rest[0]!)) throw new Error(`unknown actor ${rest[0]}`);
      host.faults.isolate(rest[0]!, peers);
      return `isolated ${rest[0]}`;
    case 'heal':
      host.faults.heal();
      return 'healed every partition and link fault';
    case 'transfer': {
      need(1, 'transfer ID');
      if (!peers.includes(rest[0]!)) throw new Error(`unknown peer ${rest[0]}; peers: ${peers.join(', ')}`);
      const statuses = await Promise.all(peers.map((p) => client.status(p).catch(() => null)));
      const leader = statuses.find((s) => s?.role === 'leader');
      if (!leader) throw new Error('no leader to transfer from');
      if (leader.id === rest[0]) return `${rest[0]} already leads`;
      await host.ask(leader.id, { op: 'transferLeader', to: rest[0] }, { timeoutMs: 2_000 });
      return `asked ${leader.id} to hand leadership to ${rest[0]}`;
    }
    case 'add-node': {
      if (!env.nodes) throw new Error('this cluster runs no nodes');
      const name = rest[0] ?? env.nodes.nextName();
      const id = env.nodes.add(name);
      return `added node ${name} (actor ${id})`;
    }
    case 'remove-node': {
      if (!env.nodes) throw new Error('this cluster runs no nodes');
      need(1, 'remove-node NAME');
      env.nodes.remove(rest[0]!);
      return `removed node ${rest[0]}; its pods are evicted once the node is unreachable (about 50 s + 300 s tolerance, as Kubernetes does); \`kubectl delete node ${rest[0]}\` has the pod garbage collector remove them after 40 s instead`;
    }
    case 'actors': {
      const lines = [];
      for (const id of host.actorIds()) lines.push(`${id.padEnd(22)} ${host.isRunning(id) ? 'up' : 'DOWN'}`);
      return lines.join('\n');
    }
    case 'status': {
      const lines = [];
      for (const id of peers) lines.push(JSON.stringify(await host.status(id)));
      return lines.join('\n');
    }
    case 'bench': {
      const n = Number(rest[0] ?? 2_000);
      if (!Number.isInteger(n) || n <= 0) throw new Error('usage: bench [N]');
      const t0 = performance.now();
      const lanes = 64;
      let next = 0;
      await Promise.all(
        Array.from({ length: lanes }, async (_, lane) => {
          const { StoreClient } = await import('../raft/client.js');
          const c = new StoreClient({ ask: (to, msg, o) => host.ask(to, msg, o), peers, clientId: `bench-${process.pid}-${lane}-${Date.now()}`, now: () => host.now(), sleep: (ms) => host.sleep(ms) });
          while (next < n) {
            const i = next++;
            await c.put(`/bench/${i % 1000}`, 'x'.repeat(100));
          }
        }),
      );
      const s = (performance.now() - t0) / 1000;
      return `bench: ${n} puts of 100 B with ${lanes} clients in ${s.toFixed(2)} s = ${Math.round(n / s)} writes/s`;
    }
    default:
      throw new Error(`unknown command "${cmd}"; ${HELP}`);
  }
}

export type { KeyValue };
