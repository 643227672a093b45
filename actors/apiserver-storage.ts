/**
 * Objects in the replicated store. One key per object,
 * `/registry/<group>/<resource>/<namespace>/<name>` (no namespace segment for cluster-scoped
 * kinds, group `core` for the core group); the value is the object's JSON without its
 * resourceVersion, which is the key's modRevision. Writes are txns that compare the key's
 * version or modRevision, so a create never overwrites and an update never loses a write.
 *
 * The store deduplicates writes per (client id, sequence) and wants at most one write in flight
 * per client id, so writes go through a pool of clients, each carrying one write at a time.
 */
import type { KeyValue, RequestOp, TxnResponse } from '../raft/mvcc/commands.js';
import { prefixEnd } from '../raft/mvcc/commands.js';
import { StoreError, type StoreClient } from '../raft/client.js';
import { resourceKey, type ResourceInfo } from '../api/registry.js';
import { errors, type ApiError, type KubeObject } from '../api/types.js';

export const REGISTRY_PREFIX = '/registry/';

/** The store key of an object (namespace '' for cluster-scoped kinds). */
export function objectKey(r: ResourceInfo, namespace: string, name: string): string {
  return r.namespaced ? `${REGISTRY_PREFIX}${resourceKey(r)}/${namespace}/${name}` : `${REGISTRY_PREFIX}${resourceKey(r)}/${name}`;
}

/** The key prefix of a resource, or of its objects in one namespace. */
export function resourcePrefix(r: ResourceInfo, namespace?: string): string {
  return r.namespaced && namespace ? `${REGISTRY_PREFIX}${resourceKey(r)}/${namespace}/` : `${REGISTRY_PREFIX}${resourceKey(r)}/`;
}

/** Splits a store key into its resource key (`apps/deployments`), namespace and name. */
export function parseKey(key: string): { rkey: string; namespace: string; name: string } | null {
  if (!key.startsWith(REGISTRY_PREFIX)) return null;
  const parts = key.slice(REGISTRY_PREFIX.length).split('/');
  if (parts.length === 3) return { rkey: `${parts[0]}/${parts[1]}`, namespace: '', name: parts[2]! };
  if (parts.length === 4) return { rkey: `${parts[0]}/${parts[1]}`, namespace: parts[2]!, name: parts[3]! };
  return null;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeObject(o: KubeObject): Uint8Array {
  const { resourceVersion: _rv, ...meta } = o.metadata;
  return encoder.encode(JSON.stringify({ ...o, metadata: meta }));
}

/** The object of a key-value, with resourceVersion = its modRevision. */
export function decodeObject(kv: KeyValue, revision = kv.modRevision): KubeObject {
  const o = JSON.parse(decoder.decode(kv.value)) as KubeObject;
  o.metadata = { ...o.metadata, resourceVersion: String(revision) };
  return o;
}

export interface Stored {
  key: string;
  obj: KubeObject;
  /** modRevision. */
  rev: number;
}

export interface ListPage {
  items: Stored[];
  /** The store revision the page was read at. */
  revision: number;
  /** The first key after this page, if there is more. */
  nextKey?: string;
  /** Keys in the whole range at that revision (all pages). */
  count: number;
}

/** Extra keys a write touches in the same txn (service IP allocations). */
export interface SideKeys {
  /** Put only if absent. */
  claim?: string[];
  release?: string[];
}

/** Turns a store failure into the API's Status. */
export function storeFailure(err: unknown): ApiError {
  if (err instanceof StoreError) {
    switch (err.code) {
      case 'Compacted':
        return errors.expired(`The resourceVersion for the provided list is too old: ${err.message}`);
      case 'RequestTooLarge':
        return errors.tooLarge(`etcdserver: request is too large`);
      case 'NoLeader':
        return errors.unavailable(`the replicated store has no leader: ${err.message}`);
      case 'Timeout':
      case 'Indeterminate':
        return errors.timeout(`Timeout: request did not complete within the allowed duration (${err.message})`);
      case 'FutureRevision':
        return errors.timeout(`Too large resource version: ${err.message}`);
      default:
        return errors.internal(`store: ${err.message}`);
    }
  }
  return errors.internal((err as Error)?.message ?? String(err));
}

export class ObjectStorage {
  private readonly idle: StoreClient[];
  private readonly waiting: ((c: StoreClient) => void)[] = [];
  /** Writes queued for a client beyond this are refused with 429. */
  private readonly maxQueuedWrites: number;

  constructor(
    private readonly reader: StoreClient,
    writers: StoreClient[],
    options: { maxQueuedWrites?: number } = {},
  ) {
    if (writers.length === 0) throw new Error('ObjectStorage needs at least one writer');
    this.idle = [...writers];
    this.maxQueuedWrites = options.maxQueuedWrites ?? 10_000;
  }

  private async withWriter<T>(fn: (c: StoreClient) => Promise<T>): Promise<T> {
    let c = this.idle.pop();
    if (!c) {
      if (this.waiting.length >= this.maxQueuedWrites) throw errors.tooManyRequests('too many writes queued; try again later');
      c = await new Promise<StoreClient>((resolve) => this.waiting.push(resolve));
    }
    try {
      return await fn(c);
    } catch (err) {
      throw storeFailure(err);
    } finally {
      const next = this.waiting.shift();
      if (next) next(c);
      else this.idle.push(c);
    }
  }

  /** A linearizable read of one object. */
  async get(key: string): Promise<Stored | null> {
    let kv: KeyValue | null;
    try {
      kv = await this.reader.get(key);
    } catch (err) {
      throw storeFailure(err);
    }
    return kv ? { key, obj: decodeObject(kv), rev: kv.modRevision } : null;
  }

  /** One page of a prefix at `revision` (0 = now, linearizable), from `startKey` on. */
  async list(prefix: string, opts: { revision?: number; startKey?: string; limit?: number } = {}): Promise<ListPage> {
    const end = prefixEnd(prefix);
    let res: { kvs: KeyValue[]; revision: number; more: boolean; count: number };
    try {
      res = (await this.reader.range(opts.startKey ?? prefix, {
        rangeEnd: end,
        ...(opts.limit ? { limit: opts.limit } : {}),
        ...(opts.revision ? { revision: opts.revision } : {}),
      })) as typeof res;
    } catch (err) {
      throw storeFailure(err);
    }
    const items: Stored[] = [];
    for (const kv of res.kvs) {
      try {
        items.push({ key: kv.key, obj: decodeObject(kv), rev: kv.modRevision });
      } catch {
        // A value that is not an object (written by someone else) is skipped, never served.
      }
    }
    const page: ListPage = { items, revision: opts.revision || res.revision, count: res.count };
    if (res.more && res.kvs.length) page.nextKey = res.kvs[res.kvs.length - 1]!.key + '\0';
    return page;
  }

  /** The store's current revision (a linearizable read). */
  async revision(): Promise<number> {
    try {
      const r = (await this.reader.range(REGISTRY_PREFIX, { rangeEnd: prefixEnd(REGISTRY_PREFIX), countOnly: true })) as { revision: number };
      return r.revision;
    } catch (err) {
      throw storeFailure(err);
    }
  }

  /**
   * Creates the key if absent. Returns the new revision, 'exists' if the key exists, or
   * 'claimed' if a side key to claim is taken.
   */
  async create(key: string, o: KubeObject, side: SideKeys = {}): Promise<number | 'exists' | 'claimed'> {
    const claims = side.claim ?? [];
    const value = encodeObject(o);
    const res = await this.withWriter(
      (c) =>
        c.txn({
          compare: [{ key, target: 'version', result: '=', operand: 0 }, ...claims.map((k) => ({ key: k, target: 'version' as const, result: '=' as const, operand: 0 }))],
          success: [{ type: 'put', key, value }, ...claims.map((k): RequestOp => ({ type: 'put', key: k, value: encoder.encode(key) }))],
          failure: [{ type: 'range', key }],
        }) as Promise<TxnResponse>,
    );
    if (res.succeeded) return res.revision;
    const probe = res.responses[0] as { kvs?: KeyValue[] } | undefined;
    return probe?.kvs?.length ? 'exists' : 'claimed';
  }

  /** Replaces the key if its modRevision is still `expectRev`; null on a conflict. */
  async update(key: string, o: KubeObject, expectRev: number): Promise<number | null> {
    const value = encodeObject(o);
    const res = await this.withWriter(
      (c) =>
        c.txn({
          compare: [{ key, target: 'modRevision', result: '=', operand: expectRev }],
          success: [{ type: 'put', key, value }],
          failure: [],
        }) as Promise<TxnResponse>,
    );
    return res.succeeded ? res.revision : null;
  }

  /** Deletes the key if its modRevision is still `expectRev`; the deleting revision, or null. */
  async delete(key: string, expectRev: number, side: SideKeys = {}): Promise<number | null> {
    const res = await this.withWriter(
      (c) =>
        c.txn({
          compare: [{ key, target: 'modRevision', result: '=', operand: expectRev }],
          success: [{ type: 'deleteRange', key }, ...(side.release ?? []).map((k): RequestOp => ({ type: 'deleteRange', key: k }))],
          failure: [],
        }) as Promise<TxnResponse>,
    );
    return res.succeeded ? res.revision : null;
  }

  async compact(revision: number): Promise<void> {
    await this.withWriter((c) => c.compact(revision));
  }
}
