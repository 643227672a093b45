/**
 * Adoption and release of dependents by controller reference (client-go's
 * BaseControllerRefManager): a controller claims the objects its selector matches that no other
 * controller owns (adopting orphans), releases the ones it owns that no longer match, and leaves
 * alone those another controller owns. Adoption is checked against a fresh read of the owner, so
 * an owner being deleted never adopts.
 */
import { matchesLabels, type LabelSelector } from '../api/selectors.js';
import type { KubeObject, OwnerReference } from '../api/types.js';
import { isInvalid, isNotFound, type ApiClient } from './client.js';
import { controllerRef } from './resources.js';

export interface ClaimOptions {
  client: ApiClient;
  /** Resource of the dependents (`pods`, `replicasets`, `controllerrevisions`). */
  resource: string;
  owner: KubeObject;
  ownerRef: OwnerReference;
  /** Resource of the owner, for the fresh read before adopting. */
  ownerResource: string;
  selector: LabelSelector;
  /** Dependents to consider; callers usually pass the namespace's objects from a lister. */
  candidates: KubeObject[];
  /** An extra condition for matching (e.g. pods whose names belong to a StatefulSet). */
  match?: (o: KubeObject) => boolean;
}

/** Returns the dependents the owner controls after adopting and releasing. */
export async function claimObjects(o: ClaimOptions): Promise<KubeObject[]> {
  const claimed: KubeObject[] = [];
  const errs: unknown[] = [];
  let adoptable: Promise<void> | undefined;
  const ownerUid = o.owner.metadata.uid;
  const ownerDeleting = !!o.owner.metadata.deletionTimestamp;
  const matches = (c: KubeObject) => matchesLabels(o.selector, c.metadata.labels) && (o.match ? o.match(c) : true);
  for (const child of o.candidates) {
    const ref = controllerRef(child);
    if (ref) {
      if (ref.uid !== ownerUid) continue;
      if (matches(child)) {
        claimed.push(child);
        continue;
      }
      if (ownerDeleting) continue;
      try {
        await release(o, child);
      } catch (err) {
        errs.push(err);
      }
      continue;
    }
    if (ownerDeleting || !matches(child) || child.metadata.deletionTimestamp) continue;
    try {
      adoptable ??= recheckOwner(o);
      await adoptable;
      const adopted = await adopt(o, child);
      if (adopted) claimed.push(adopted);
    } catch (err) {
      errs.push(err);
    }
  }
  if (errs.length) throw errs[0];
  return claimed;
}

async function recheckOwner(o: ClaimOptions): Promise<void> {
  const fresh = await o.client.get(o.ownerResource, o.owner.metadata.namespace ?? '', o.owner.metadata.name!);
  if (fresh.metadata.uid !== o.owner.metadata.uid) {
    throw new Error(`original ${o.ownerRef.kind} ${o.owner.metadata.namespace}/${o.owner.metadata.name} is gone: got uid ${fresh.metadata.uid}, wanted ${o.owner.metadata.uid}`);
  }
  if (fresh.metadata.deletionTimestamp) {
    throw new Error(`${o.ownerRef.kind} ${o.owner.metadata.namespace}/${o.owner.metadata.name} has just been deleted at ${fresh.metadata.deletionTimestamp}`);
  }
}

async function adopt(o: ClaimOptions, child: KubeObject): Promise<KubeObject | undefined> {
  const refs = [...(child.metadata.ownerReferences ?? []).filter((r) => r.uid !== o.ownerRef.uid), { ...o.ownerRef }];
  try {
    return await o.client.patch(o.resource, child.metadata.namespace ?? '', child.metadata.name!, {
      metadata: { ownerReferences: refs as any, uid: child.metadata.uid!, resourceVersion: child.metadata.resourceVersion! },
    });
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

async function release(o: ClaimOptions, child: KubeObject): Promise<void> {
  const refs = (child.metadata.ownerReferences ?? []).filter((r) => r.uid !== o.ownerRef.uid);
  try {
    await o.client.patch(o.resource, child.metadata.namespace ?? '', child.metadata.name!, {
      metadata: { ownerReferences: (refs.length ? refs : null) as any, uid: child.metadata.uid! },
    });
  } catch (err) {
    // Gone already, or the owner reference cannot be removed: nothing to release.
    if (isNotFound(err) || isInvalid(err)) return;
    throw err;
  }
}
