/**
 * The cluster's simulated nodes: one kubelet actor per node, packed into worker threads of at
 * most `perWorker` kubelets each, so a 2-core machine holds hundreds of nodes.
 */
import type { Host } from '../runtime/host.js';
import { kubeletSpec } from '../actors/kubelet.js';

export class NodePool {
  private readonly nodes = new Map<string, string>();
  private groupSeq = 0;
  private inGroup = 0;

  constructor(
    private readonly host: Host,
    private readonly perWorker = 50,
    private readonly supervisorId = 'nodes',
  ) {
    host.supervise({ id: supervisorId, strategy: 'one_for_one', maxRestarts: 100, periodMs: 10_000, children: [] });
  }

  names(): string[] {
    return [...this.nodes.keys()];
  }

  has(name: string): boolean {
    return this.nodes.has(name);
  }

  /** Starts a kubelet for `name`; it registers its Node with the API server. */
  add(name: string): string {
    if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(name)) throw new Error(`node name "${name}" must be a DNS label (lowercase letters, digits, '-')`);
    if (this.nodes.has(name)) throw new Error(`node ${name} exists already`);
    if (this.inGroup >= this.perWorker || this.groupSeq === 0) {
      this.groupSeq++;
      this.inGroup = 0;
    }
    this.inGroup++;
    const spec = kubeletSpec({ nodeName: name }, `kubelets-${this.groupSeq}`);
    this.host.addChild(this.supervisorId, spec);
    this.nodes.set(name, spec.id);
    return spec.id;
  }

  /** Stops the node's kubelet for good; the node lifecycle controller then marks the Node unreachable. */
  remove(name: string): void {
    const id = this.nodes.get(name);
    if (!id) throw new Error(`unknown node ${name}; nodes: ${this.names().join(', ') || 'none'}`);
    this.host.removeChild(id);
    this.nodes.delete(name);
  }

  /** A name not in use yet: node-<n>. */
  nextName(): string {
    for (let i = this.nodes.size + 1; ; i++) if (!this.nodes.has(`node-${i}`)) return `node-${i}`;
  }
}
