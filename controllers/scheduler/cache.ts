/**
 * The scheduler's cache: every node with the pods assigned to it (and the pods it has just
 * assumed onto a node while their binding is in flight), plus claims and volumes for volume
 * binding. Updated incrementally from informer events; a scheduling cycle reads it directly
 * (cycles run one at a time, so there is nothing to snapshot).
 */
import type { KubeObject } from '../../api/types.js';
import { buildPodInfo, NodeInfo, type PodInfo } from './nodeinfo.js';

export class SchedulerCache {
  private readonly nodeMap = new Map<string, NodeInfo>();
  /** Nodes in a stable order (by name) for round-robin search. */
  private list: NodeInfo[] = [];
  private listDirty = false;
  /** Pod uid → the node it is on (assigned or assumed). */
  private readonly podNode = new Map<string, string>();
  /** Pods assumed onto a node, waiting for their binding to show up. */
  private readonly assumed = new Map<string, PodInfo>();
  /** Assigned pods whose node is not known yet (node events can come after pod events). */
  private readonly orphans = new Map<string, PodInfo>();
  readonly claims = new Map<string, KubeObject>();
  readonly volumes = new Map<string, KubeObject>();
  /** Nodes that have pods with affinity terms (for the inter-pod affinity fast path). */
  affinityPodCount = 0;
  preferNoScheduleNodes = 0;

  get nodeCount(): number {
    return this.nodeMap.size;
  }

  nodes(): NodeInfo[] {
    if (this.listDirty) {
      this.list = [...this.nodeMap.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      this.listDirty = false;
    }
    return this.list;
  }

  node(name: string): NodeInfo | undefined {
    return this.nodeMap.get(name);
  }

  isAssumed(uid: string): boolean {
    return this.assumed.has(uid);
  }

  nodeOf(uid: string): string | undefined {
    return this.podNode.get(uid);
  }

  upsertNode(node: KubeObject): void {
    const name = node.metadata.name!;
    let info = this.nodeMap.get(name);
    if (info) {
      if (info.hasPreferNoSchedule) this.preferNoScheduleNodes--;
      info.setNode(node);
    } else {
      info = new NodeInfo(node);
      this.nodeMap.set(name, info);
      this.listDirty = true;
      for (const [uid, p] of this.orphans) {
        if (p.pod.spec?.nodeName === name) {
          this.orphans.delete(uid);
          this.place(p, name);
        }
      }
    }
    if (info.hasPreferNoSchedule) this.preferNoScheduleNodes++;
  }

  removeNode(name: string): void {
    const info = this.nodeMap.get(name);
    if (!info) return;
    if (info.hasPreferNoSchedule) this.preferNoScheduleNodes--;
    for (const p of info.pods.values()) {
      this.affinityPodCount -= info.podsWithAffinity.has(p) ? 1 : 0;
      this.podNode.delete(p.uid);
      if (!this.assumed.has(p.uid)) this.orphans.set(p.uid, p);
      this.assumed.delete(p.uid);
    }
    this.nodeMap.delete(name);
    this.listDirty = true;
  }

  private place(p: PodInfo, nodeName: string): void {
    const info = this.nodeMap.get(nodeName);
    if (!info) {
      this.orphans.set(p.uid, p);
      return;
    }
    info.addPod(p);
    if (info.podsWithAffinity.has(p)) this.affinityPodCount++;
    this.podNode.set(p.uid, nodeName);
  }

  private unplace(uid: string): void {
    const nodeName = this.podNode.get(uid);
    this.orphans.delete(uid);
    if (nodeName === undefined) return;
    const info = this.nodeMap.get(nodeName);
    const removed = info?.removePod(uid);
    if (removed && info && (removed.requiredAffinity.length + removed.requiredAntiAffinity.length + removed.preferredAffinity.length + removed.preferredAntiAffinity.length > 0)) this.affinityPodCount--;
    this.podNode.delete(uid);
  }

  /** Puts a pod on a node before its binding is confirmed, so later cycles see it there. */
  assume(p: PodInfo, nodeName: string): void {
    this.unplace(p.uid);
    this.assumed.set(p.uid, p);
    this.place(p, nodeName);
  }

  /** The binding failed: take the assumed pod off its node. */
  forget(uid: string): void {
    if (!this.assumed.delete(uid)) return;
    this.unplace(uid);
  }

  /** An assigned pod (spec.nodeName set) was added or changed. */
  upsertAssignedPod(pod: KubeObject): void {
    const uid = pod.metadata.uid!;
    const nodeName = pod.spec.nodeName as string;
    // An assumed pod's binding arrived (or the pod changed): account it from the real object.
    this.assumed.delete(uid);
    this.unplace(uid);
    this.place(buildPodInfo(pod), nodeName);
  }

  removePod(uid: string): void {
    this.assumed.delete(uid);
    this.unplace(uid);
  }

  upsertClaim(pvc: KubeObject): void {
    this.claims.set(`${pvc.metadata.namespace}/${pvc.metadata.name}`, pvc);
  }

  removeClaim(pvc: KubeObject): void {
    this.claims.delete(`${pvc.metadata.namespace}/${pvc.metadata.name}`);
  }

  upsertVolume(pv: KubeObject): void {
    this.volumes.set(pv.metadata.name!, pv);
  }

  removeVolume(pv: KubeObject): void {
    this.volumes.delete(pv.metadata.name!);
  }
}
