/**
 * Typed errors thrown by {@link Storage} implementations. The core catches exactly these and
 * treats them as expected conditions (a compacted log means "send a snapshot"); any other error
 * from storage propagates and crashes the actor.
 */

/** Base class of the expected storage conditions, so callers can test one `instanceof`. */
export abstract class StorageError extends Error {
  abstract readonly code: 'Compacted' | 'Unavailable' | 'SnapshotTemporarilyUnavailable' | 'SnapshotOutOfDate';
}

/** The requested index is at or below the compaction point: only a snapshot covers it. */
export class CompactedError extends StorageError {
  override readonly name = 'CompactedError';
  readonly code = 'Compacted' as const;
  constructor(readonly index: number, readonly firstIndex: number) {
    super(`requested index ${index} is unavailable due to compaction (first index ${firstIndex})`);
  }
}

/** The requested index is beyond the last entry in storage. */
export class UnavailableError extends StorageError {
  override readonly name = 'UnavailableError';
  readonly code = 'Unavailable' as const;
  constructor(readonly index: number, readonly lastIndex: number) {
    super(`requested entry at index ${index} is unavailable (last index ${lastIndex})`);
  }
}

/**
 * The snapshot is being produced and is not ready yet; the leader retries later (on the next
 * heartbeat response from the follower that needs it).
 */
export class SnapshotTemporarilyUnavailableError extends StorageError {
  override readonly name = 'SnapshotTemporarilyUnavailableError';
  readonly code = 'SnapshotTemporarilyUnavailable' as const;
  constructor() {
    super('snapshot is temporarily unavailable');
  }
}

/** A snapshot older than (or as old as) the current one was applied or created. */
export class SnapshotOutOfDateError extends StorageError {
  override readonly name = 'SnapshotOutOfDateError';
  readonly code = 'SnapshotOutOfDate' as const;
  constructor(readonly index: number, readonly currentIndex: number) {
    super(`requested snapshot index ${index} is older than the existing snapshot at ${currentIndex}`);
  }
}
