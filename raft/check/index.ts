// History checkers: the judges of recorded client histories, Raft observations and watch
// streams. Pure functions over recorded data; nothing here does I/O or reads a clock.
export * from './history.js';
export * from './linearizability.js';
export * from './lost-writes.js';
export * from './raft-invariants.js';
export * from './watch.js';
