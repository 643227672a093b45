// History checkers: the judges of recorded client histories and Raft observations.
export * from './history.js';
export * from './linearizability.js';
