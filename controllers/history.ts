/**
 * ControllerRevisions (pkg/controller/history): the pod templates a StatefulSet or DaemonSet
 * has had, numbered by `revision`, named `<owner>-<hash>`, so pods can say which template they
 * came from and `kubectl rollout history` / `undo` can list them.
 */
import { clone, deepEqual, type KubeObject } from '../api/types.js';
import { isAlreadyExists, type ApiClient } from './client.js';
import { fnv32a, safeEncode, stableStringify } from './podutil.js';
import { newControllerRef } from './resources.js';

export const CONTROLLER_REVISION_HASH_LABEL = 'controller-revision-hash';
export const REVISION_HASH_LABEL = 'controller.kubernetes.io/hash';

/** What a revision stores: a patch replacing the owner's pod template. */
export function revisionData(owner: KubeObject): any {
  return { spec: { template: { ...clone(owner.spec?.template ?? {}), $patch: 'replace' } } };
}

/** The pod template a revision records. */
export function templateOf(revision: KubeObject): any {
  const t = clone(revision.data?.spec?.template ?? {});
  delete t.$patch;
  return t;
}

/** HashControllerRevision: FNV-32a of the data and the collision count, safe-encoded. */
export function hashRevision(data: unknown, collisionCount?: number): string {
  let h = fnv32a(stableStringify(data));
  if (collisionCount) {
    for (const b of [collisionCount & 0xff, (collisionCount >>> 8) & 0xff, (collisionCount >>> 16) & 0xff, (collisionCount >>> 24) & 0xff]) {
      h ^= b;
      h = Math.imul(h, 0x01000193) >>> 0;
    }
  }
  return safeEncode(String(h >>> 0));
}

export function newRevision(owner: KubeObject, ownerKind: { apiVersion: string; kind: string }, revision: number, collisionCount: number): KubeObject {
  const data = revisionData(owner);
  const hash = hashRevision(data, collisionCount);
  const prefix = owner.metadata.name!.slice(0, 223);
  const labels: Record<string, string> = { ...(owner.spec?.template?.metadata?.labels ?? {}), [REVISION_HASH_LABEL]: hash };
  const cr: KubeObject = {
    apiVersion: 'apps/v1',
    kind: 'ControllerRevision',
    metadata: {
      name: `${prefix}-${hash}`,
      namespace: owner.metadata.namespace,
      labels,
      ownerReferences: [newControllerRef(owner, ownerKind.apiVersion, ownerKind.kind)],
    },
    data,
    revision,
  };
  if (owner.metadata.annotations && Object.keys(owner.metadata.annotations).length) cr.metadata.annotations = { ...owner.metadata.annotations };
  return cr;
}

export function equalRevision(a: KubeObject, b: KubeObject): boolean {
  return deepEqual(a.data, b.data);
}

export function sortRevisions(revs: KubeObject[]): KubeObject[] {
  return [...revs].sort((a, b) => (a.revision ?? 0) - (b.revision ?? 0) || (a.metadata.name! < b.metadata.name! ? -1 : 1));
}

export function nextRevisionNumber(revs: KubeObject[]): number {
  let max = 0;
  for (const r of revs) max = Math.max(max, r.revision ?? 0);
  return max + 1;
}

/**
 * The revision for the owner's current template: the latest if it is equal, an older equal one
 * renumbered to the next revision (a rollback), or a new one (bumping the collision count on a
 * name clash with different data). Returns the revision and the collision count to record.
 */
export async function syncUpdateRevision(
  client: ApiClient,
  owner: KubeObject,
  ownerKind: { apiVersion: string; kind: string },
  revisions: KubeObject[],
  collisionCount: number,
): Promise<{ revision: KubeObject; collisionCount: number }> {
  const sorted = sortRevisions(revisions);
  const next = nextRevisionNumber(sorted);
  const candidate = newRevision(owner, ownerKind, next, collisionCount);
  const equal = sorted.filter((r) => equalRevision(r, candidate));
  const latest = sorted[sorted.length - 1];
  if (equal.length > 0 && latest && equalRevision(latest, equal[equal.length - 1]!)) return { revision: latest, collisionCount };
  const ns = owner.metadata.namespace ?? '';
  if (equal.length > 0) {
    const old = equal[equal.length - 1]!;
    if ((old.revision ?? 0) === next) return { revision: old, collisionCount };
    const updated = await client.update('controllerrevisions', ns, { ...clone(old), revision: next });
    return { revision: updated, collisionCount };
  }
  let count = collisionCount;
  for (let attempt = 0; attempt < 10; attempt++) {
    const cr = newRevision(owner, ownerKind, next, count);
    try {
      return { revision: await client.create('controllerrevisions', ns, cr), collisionCount: count };
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
      const existing = await client.get('controllerrevisions', ns, cr.metadata.name!);
      if (equalRevision(existing, cr)) return { revision: existing, collisionCount: count };
      count++;
    }
  }
  throw new Error(`could not find a free ControllerRevision name for ${owner.metadata.name}`);
}
