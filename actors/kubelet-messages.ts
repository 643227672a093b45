/**
 * What the kubelet actor answers, in one typed file: the API server asks it for container logs
 * (`kubectl logs`, with follow streamed back as `LogsNotice` messages) and for resource usage
 * (the metrics.k8s.io API behind `kubectl top` and the HPA); tests and demos send workload load
 * and health. Errors come back as Kubernetes Status objects so the API server can pass them on.
 */
import type { Status } from '../api/types.js';

/** The actor id of the kubelet of a node. */
export function kubeletId(nodeName: string): string {
  return `kubelet-${nodeName}`;
}

export type KubeletReply<T> = { ok: true; value: T } | { ok: false; status: Status };

/** `GET pods/{name}/log` as the kubelet serves it. */
export interface LogsRequest {
  op: 'logs';
  namespace: string;
  pod: string;
  /** Required when the pod has more than one container. */
  container?: string;
  tailLines?: number;
  /** The previous (terminated) instance's log. */
  previous?: boolean;
  /** Prefix each line with its RFC 3339 timestamp. */
  timestamps?: boolean;
  sinceSeconds?: number;
  limitBytes?: number;
  /** Keep sending new lines to the asker as `LogsNotice`s under `stream`. */
  follow?: boolean;
  stream?: string;
}

export interface LogsValue {
  /** The log text so far (lines end with "\n"). */
  text: string;
  /** True when the kubelet registered a follower: more arrives as LogsNotices. */
  following: boolean;
}

/** The follower went away (the HTTP client disconnected). */
export interface LogsStop {
  op: 'logsStop';
  stream: string;
}

/**
 * New log text for a follower; `done` ends the stream (the container exited, the pod went).
 * An empty `text` is a heartbeat: the follower closes a stream silent for too long.
 */
export interface LogsNotice {
  t: 'kubeletLogs';
  stream: string;
  text: string;
  done?: boolean;
}

/** How often a kubelet sends a heartbeat to each follower. */
export const LOG_HEARTBEAT_MS = 10_000;

/** Resource usage, as metrics.k8s.io/v1beta1 shapes it. */
export interface MetricsRequest {
  op: 'metrics';
  /** Only pods of this namespace (default all). */
  namespace?: string;
  /** Only these pods (names within `namespace`). */
  pods?: string[];
  /** Only the node's usage. */
  nodeOnly?: boolean;
}

export interface ContainerUsage {
  name: string;
  usage: { cpu: string; memory: string };
}

export interface PodMetrics {
  kind: 'PodMetrics';
  apiVersion: 'metrics.k8s.io/v1beta1';
  metadata: { name: string; namespace: string; creationTimestamp: string; labels?: Record<string, string> };
  timestamp: string;
  window: string;
  containers: ContainerUsage[];
}

export interface NodeMetrics {
  kind: 'NodeMetrics';
  apiVersion: 'metrics.k8s.io/v1beta1';
  metadata: { name: string; creationTimestamp: string; labels?: Record<string, string> };
  timestamp: string;
  window: string;
  usage: { cpu: string; memory: string };
}

export interface MetricsValue {
  node: NodeMetrics;
  pods: PodMetrics[];
}

/**
 * Load for a CPU-bound workload (`actorkube/cpu-burner`): `requests` adds that many requests'
 * worth of work once; `millicores` sets the steady load.
 */
export interface LoadRequest {
  op: 'load';
  namespace: string;
  pod: string;
  container?: string;
  requests?: number;
  millicores?: number;
}

/** Makes a container's simulated probes pass or fail (every container of the pod by default). */
export interface HealthRequest {
  op: 'health';
  namespace: string;
  pod: string;
  container?: string;
  healthy: boolean;
}

/** `pods/{name}/exec`: runs a command in a running container (no stdin, no terminal). */
export interface ExecRequest {
  op: 'exec';
  namespace: string;
  pod: string;
  container?: string;
  command: string[];
}

export interface ExecValue {
  /** Standard output and error, as the container's shell wrote them. */
  output: string;
  exitCode: number;
}

/** One HTTP request to a pod's port, as the service proxy forwards it. */
export interface HttpRequest {
  op: 'http';
  namespace: string;
  pod: string;
  port: number;
  method: string;
  path: string;
}

export interface HttpValue {
  status: number;
  body: string;
}

export type KubeletRequest = LogsRequest | LogsStop | MetricsRequest | LoadRequest | HealthRequest | ExecRequest | HttpRequest;

// ---------------------------------------------------------------------------------------------
// Quantities as the metrics API renders them

/** `123456n`: CPU in nanocores. */
export function formatNanocores(nanocores: number): string {
  return `${Math.max(0, Math.round(nanocores))}n`;
}

/** `1234Ki`: memory in kibibytes (what metrics-server reports). */
export function formatKibibytes(bytes: number): string {
  return `${Math.max(0, Math.round(bytes / 1024))}Ki`;
}

/** A metav1.Duration as Go prints it: `10s`, `10.5s`, `1m0s`. */
export function formatDuration(ms: number): string {
  const totalS = Math.max(0, ms) / 1000;
  const fmt = (s: number) => `${Number(s.toFixed(3))}s`;
  if (totalS < 60) return fmt(totalS);
  const m = Math.floor(totalS / 60);
  const s = totalS - m * 60;
  if (m < 60) return `${m}m${fmt(s)}`;
  return `${Math.floor(m / 60)}h${m % 60}m${fmt(s)}`;
}
