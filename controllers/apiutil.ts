/**
 * Small write helpers the reconcilers share.
 */
import { deepEqual, type KubeObject } from '../api/types.js';
import { isConflict, isNotFound, type ApiClient } from './client.js';

/**
 * Writes `status` unless it equals what the object has. A conflict (the cached copy was stale)
 * retries once on a fresh read, as the workload controllers' status updaters do.
 */
export async function writeStatus(client: ApiClient, resource: string, cached: KubeObject, status: any): Promise<KubeObject> {
  if (deepEqual(cached.status ?? {}, status)) return cached;
  const ns = cached.metadata.namespace ?? '';
  try {
    return await client.updateStatus(resource, ns, { ...cached, status });
  } catch (err) {
    if (!isConflict(err)) throw err;
    const fresh = await client.get(resource, ns, cached.metadata.name!);
    if (fresh.metadata.uid !== cached.metadata.uid) throw err;
    return await client.updateStatus(resource, ns, { ...fresh, status });
  }
}

/** Deletes, treating NotFound as done. */
export async function deleteIgnoringNotFound(client: ApiClient, resource: string, namespace: string, name: string, options?: Parameters<ApiClient['delete']>[3]): Promise<boolean> {
  try {
    await client.delete(resource, namespace, name, options);
    return true;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}

/** The message an error carries, for events and conditions. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
