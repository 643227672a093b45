/**
 * A watch over the campaign's key prefix, held by the host, resumed across peer failures.
 *
 * The stream is a list of segments (raft/check/watch.ts): a watch opened on some peer from a
 * revision, the events it delivered, until that peer crashed, restarted (a restart forgets its
 * watches), or cancelled the watch. Each resumption opens a new watch on a live peer from the
 * revision after the last event received. At the end, the events every peer committed are read
 * back with a fresh watch from revision 1, and `checkWatches` compares: revisions strictly
 * increase, nothing skipped or repeated, and resumption continues where it stopped.
 */
import type { Host } from '../../runtime/host.js';
import { HOST_ID } from '../../runtime/host.js';
import type { Rng } from '../../runtime/rng.js';
import { prefixEnd, type WatchEvent as MvccWatchEvent } from '../../raft/mvcc/commands.js';
import type { PeerReply, PeerRequest, WatchNotice } from '../../raft/protocol.js';
import { checkWatches, type WatchCheckResult, type WatchEvent, type WatchSegment } from '../../raft/check/watch.js';

const decoder = new TextDecoder();

interface Segment {
  peer: string;
  watchId: number;
  startRevision: number;
  events: WatchEvent[];
}

export class WatchObserver {
  readonly segments: Segment[] = [];
  private current: Segment | null = null;
  private lastRevision = 0;
  private resuming = false;
  private stopped = false;
  private readonly offMessage: () => void;
  private readonly offEvent: () => void;
  private final: { peer: string; watchId: number; events: WatchEvent[]; currentTo: number } | null = null;
  /**
   * Notices of watches not adopted yet, by `${peer}#${watchId}`: a peer may deliver the first
   * catch-up events before its reply to the watch request arrives.
   */
  private early = new Map<string, WatchNotice[]>();
  private static readonly EARLY_LIMIT = 10_000;

  constructor(
    private readonly host: Host,
    private readonly rng: Rng,
    private readonly prefix: string,
    private readonly members: () => string[],
  ) {
    this.offMessage = host.onMessage((from, msg) => this.onNotice(from, msg as WatchNotice));
    this.offEvent = host.onEvent((e) => {
      // A peer that crashes or restarts forgets its watches: resume elsewhere.
      if ((e.type === 'crashed' || e.type === 'started' || e.type === 'stopped') && this.current?.peer === e.actor) this.lost();
    });
  }

  async start(): Promise<void> {
    await this.resume();
  }

  stop(): void {
    this.stopped = true;
    this.offMessage();
    this.offEvent();
  }

  private onNotice(from: string, n: WatchNotice): void {
    if (!n || n.t !== 'watch') return;
    const adopted = (this.final && from === this.final.peer && n.watchId === this.final.watchId) || (this.current && from === this.current.peer && n.watchId === this.current.watchId);
    if (!adopted) {
      const key = `${from}#${n.watchId}`;
      const list = this.early.get(key) ?? [];
      if (list.length < WatchObserver.EARLY_LIMIT) list.push(n);
      this.early.set(key, list);
      return;
    }
    if (this.final && from === this.final.peer && n.watchId === this.final.watchId) {
      this.final.events.push(...n.events.map(toEvent));
      this.final.currentTo = Math.max(this.final.currentTo, n.revision);
      return;
    }
    const seg = this.current;
    if (!seg || from !== seg.peer || n.watchId !== seg.watchId) return; // an abandoned watch
    for (const e of n.events) {
      const ev = toEvent(e);
      seg.events.push(ev);
      this.lastRevision = Math.max(this.lastRevision, ev.revision);
    }
    if (n.canceled !== undefined) this.lost();
  }

  /** Hands notices that arrived before the watch was adopted to the normal path. */
  private replayEarly(peer: string, watchId: number): void {
    const key = `${peer}#${watchId}`;
    const list = this.early.get(key);
    this.early.clear();
    for (const n of list ?? []) this.onNotice(peer, n);
  }

  private lost(): void {
    this.current = null;
    if (!this.stopped) void this.resume();
  }

  /** Opens a watch on a live peer from the revision after the last one received. */
  private async resume(): Promise<void> {
    if (this.resuming) return;
    this.resuming = true;
    try {
      while (!this.stopped && this.current === null) {
        const live = this.members().filter((m) => this.host.isRunning(m));
        if (live.length > 0) {
          const peer = this.rng.pick(live);
          const startRevision = this.lastRevision + 1;
          const watchId = await this.open(peer, startRevision);
          if (watchId !== null) {
            if (this.current === null && !this.stopped) {
              this.current = { peer, watchId, startRevision, events: [] };
              this.segments.push(this.current);
              this.replayEarly(peer, watchId);
            }
            continue;
          }
        }
        await this.host.sleep(20);
      }
    } finally {
      this.resuming = false;
    }
  }

  private async open(peer: string, startRevision: number): Promise<number | null> {
    const req: PeerRequest = { op: 'watch', watcher: HOST_ID, req: { key: this.prefix, rangeEnd: prefixEnd(this.prefix), startRevision, progressNotify: true } };
    try {
      const r = (await this.host.ask(peer, req, { timeoutMs: 500 })) as PeerReply;
      if (!r.ok) return null;
      return (r.result as unknown as { watchId: number }).watchId;
    } catch {
      return null;
    }
  }

  /**
   * Reads every committed event of the prefix back from `peer` (which must hold revision
   * `revision`) and checks the stream. Returns null when the read-back did not complete.
   */
  async check(peer: string, revision: number, waitMs: number): Promise<WatchCheckResult | null> {
    const watchId = await this.open(peer, 1);
    if (watchId === null) return null;
    this.final = { peer, watchId, events: [], currentTo: 0 };
    this.replayEarly(peer, watchId);
    const deadline = this.host.now() + waitMs;
    const f = this.final;
    while (f.currentTo < revision && this.host.now() < deadline) await this.host.sleep(10);
    if (f.currentTo < revision) return null;
    const segments: WatchSegment[] = this.segments.map((s) => ({ startRevision: s.startRevision, events: s.events }));
    return checkWatches({ prefix: this.prefix, committed: f.events, watchers: [{ watcher: 'host', segments }] });
  }

  get eventsReceived(): number {
    return this.segments.reduce((n, s) => n + s.events.length, 0);
  }
}

function toEvent(e: MvccWatchEvent): WatchEvent {
  return {
    revision: e.kv.modRevision,
    key: e.kv.key,
    type: e.type,
    value: e.type === 'put' ? decoder.decode(e.kv.value) : null,
  };
}
