/**
 * The memory phase of the replication benchmark, run by it in a process of its own:
 * `node dist/bench/raft-memory.js KEYS MAX_REST_WAIT_MS` prints a MemoryResult as its last line.
 */
import { memoryPhase } from './raft.js';

const [keys, maxWaitMs] = process.argv.slice(2).map(Number);
if (!Number.isInteger(keys) || keys! < 1 || !Number.isFinite(maxWaitMs) || maxWaitMs! < 0) {
  console.error('usage: raft-memory.js KEYS MAX_REST_WAIT_MS');
  process.exit(2);
}
const result = await memoryPhase(keys!, maxWaitMs!);
console.log(JSON.stringify(result));
