/**
 * The dedup table's records by client, in order of last activity (least recent first), which
 * decides who is forgotten first.
 *
 * A Map kept in that order needs a delete and a re-insert on every write. Here the map holds
 * the records and a queue beside it holds the order: every update appends the client, and its
 * earlier places go stale (a place is current while it names the record's index and position).
 * Stale places are skipped when they reach the front, and dropped all at once when they
 * outnumber the live ones, so the queue stays within a few times the table's size.
 */
import type { ClientRecord } from './store.js';

export class ClientTable {
  private readonly records = new Map<string, ClientRecord>();
  private keys: string[] = [];
  private indexes: number[] = [];
  private ats: number[] = [];
  /** The revision of each place's record (see minRevision). */
  private revisions: number[] = [];
  private head = 0;

  get size(): number {
    return this.records.size;
  }

  get(client: string): ClientRecord | undefined {
    return this.records.get(client);
  }

  /** Stores `record` as the client's, now its most recent activity. */
  set(client: string, record: ClientRecord): void {
    this.records.set(client, record);
    this.keys.push(client);
    this.indexes.push(record.index);
    this.ats.push(record.at ?? 0);
    this.revisions.push(record.revision);
    // Places before the front are dead too: count them, or the arrays would only ever grow.
    if (this.keys.length > 2 * this.records.size + 1024) this.dropStale();
  }

  delete(client: string): boolean {
    return this.records.delete(client);
  }

  clear(): void {
    this.records.clear();
    this.keys = [];
    this.indexes = [];
    this.ats = [];
    this.revisions = [];
    this.head = 0;
  }

  /**
   * A revision no remembered client's record is below, read without a lookup: the revision of
   * the front place. Places are in order of activity, and a record's revision (the store's,
   * after its command) only grows with that order, so the front place, current or stale, has
   * the lowest. Infinity when there are no places.
   */
  minRevision(): number {
    return this.head < this.revisions.length ? this.revisions[this.head]! : Infinity;
  }

  /** The least recently active client, or undefined when there is none. */
  oldest(): string | undefined {
    while (this.head < this.keys.length) {
      if (this.isCurrent(this.head)) return this.keys[this.head];
      this.head++;
    }
    return undefined;
  }

  /** Every client with its record, least recently active first. */
  entries(): [string, ClientRecord][] {
    const out: [string, ClientRecord][] = [];
    for (let i = this.head; i < this.keys.length; i++) {
      if (this.isCurrent(i)) out.push([this.keys[i]!, this.records.get(this.keys[i]!)!]);
    }
    return out;
  }

  private isCurrent(i: number): boolean {
    const r = this.records.get(this.keys[i]!);
    return r !== undefined && r.index === this.indexes[i] && (r.at ?? 0) === this.ats[i];
  }

  private dropStale(): void {
    const keys: string[] = [];
    const indexes: number[] = [];
    const ats: number[] = [];
    const revisions: number[] = [];
    for (let i = this.head; i < this.keys.length; i++) {
      if (!this.isCurrent(i)) continue;
      keys.push(this.keys[i]!);
      indexes.push(this.indexes[i]!);
      ats.push(this.ats[i]!);
      revisions.push(this.revisions[i]!);
    }
    this.keys = keys;
    this.indexes = indexes;
    this.ats = ats;
    this.revisions = revisions;
    this.head = 0;
  }
}
