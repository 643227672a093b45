/**
 * When and where to compact a peer's log. The thresholds count writes, not entries: a leader
 * puts the proposals of one turn into one entry, so an entry may hold hundreds of writes, and
 * a count of entries would keep that many times more log (in memory and on disk) than it says.
 * Like etcd's snapshot count, a compaction is due once `every + keep` writes were applied since
 * the last one, and it keeps the newest `keep` writes' entries for followers that lag a little.
 *
 * Entries applied before this planner was created (a restarted peer replays none of its applied
 * log) are not counted: the first compaction after a restart can come up to `every + keep`
 * writes later than it would have.
 */
export class CompactionPlanner {
  /** Applied entries since the last compaction point, and the running count of writes. */
  private indexes: number[] = [];
  private totals: number[] = [];
  private head = 0;
  private total = 0;

  constructor(
    private readonly every: number,
    private readonly keep: number,
  ) {}

  /** Records an applied entry and the writes it held (a no-op or membership entry counts 1). */
  applied(index: number, writes: number): void {
    this.total += Math.max(1, writes);
    this.indexes.push(index);
    this.totals.push(this.total);
  }

  /** The index to compact the log up to, or 0 when no compaction is due past `compactedAt`. */
  due(compactedAt: number): number {
    const { indexes, totals } = this;
    while (this.head < indexes.length && indexes[this.head]! <= compactedAt) this.head++;
    if (this.head > 4096) this.trim();
    const base = this.head > 0 ? totals[this.head - 1]! : 0;
    if (this.total - base < this.every + this.keep) return 0;
    // The newest entry with at least `keep` writes after it.
    let at = 0;
    for (let k = this.head; k < indexes.length && this.total - totals[k]! >= this.keep; k++) at = indexes[k]!;
    return at;
  }

  private trim(): void {
    // Keep the entry just before the head: it holds the running count at the compaction point.
    const drop = this.head - 1;
    this.indexes = this.indexes.slice(drop);
    this.totals = this.totals.slice(drop);
    this.head = 1;
  }
}
