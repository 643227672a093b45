/** The replicated key-value state machine: etcd v3 semantics over a DurableStore. */
export * from './commands.js';
export { MvccStore, compareBytes } from './store.js';
export type { ApplyResult, ClientRecord, LeaseInfo, LogEntry, MvccListener, MvccOptions, StoredRecord } from './store.js';
export { Lessor } from './lessor.js';
export type { LeaseSource, LeaseTimeToLive, LessorOptions } from './lessor.js';
export { WatchHub } from './watch.js';
export type { WatchCancelReason, WatchFilter, WatchHubOptions, WatchRequest } from './watch.js';
export { crc32, decodeSnapshot, encodeSnapshot, snapshotFormat } from './snapshot.js';
export type { SnapshotData } from './snapshot.js';
