/**
 * Server-side printing: the `meta.k8s.io/v1 Table` that `kubectl get` asks for, with the columns
 * Kubernetes' printers use for each kind (priority 1 columns are the `-o wide` extras).
 */
import { selectorFromObject, selectorToString } from './selectors.js';
import { isObject, type KubeObject } from './types.js';

type Obj = Record<string, any>;
type Cell = string | number | boolean;

interface Column {
  name: string;
  type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  format?: string;
  priority?: number;
  description: string;
  cell: (o: KubeObject, nowMs: number) => Cell;
}

/** Kubernetes' HumanDuration: `45s`, `3m12s`, `5h`, `2d4h`, `3y`. */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) return seconds % 60 === 0 ? `${minutes}m` : `${minutes}m${seconds % 60}s`;
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 8) return minutes % 60 === 0 ? `${hours}h` : `${hours}h${minutes % 60}m`;
  if (hours < 48) return `${hours}h`;
  if (hours < 24 * 8) return hours % 24 === 0 ? `${Math.floor(hours / 24)}d` : `${Math.floor(hours / 24)}d${hours % 24}h`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24)}d`;
  if (hours < 24 * 365 * 8) {
    const dy = Math.floor(hours / 24) % 365;
    return dy === 0 ? `${Math.floor(hours / 24 / 365)}y` : `${Math.floor(hours / 24 / 365)}y${dy}d`;
  }
  return `${Math.floor(hours / 24 / 365)}y`;
}

function since(ts: unknown, nowMs: number): string {
  if (typeof ts !== 'string' || !ts) return '<unknown>';
  const t = Date.parse(ts);
  return Number.isNaN(t) ? '<unknown>' : humanDuration(nowMs - t);
}

const nameCol: Column = {
  name: 'Name',
  type: 'string',
  format: 'name',
  description: 'Name must be unique within a namespace.',
  cell: (o) => o.metadata.name ?? '',
};
const ageCol: Column = {
  name: 'Age',
  type: 'string',
  description: 'CreationTimestamp is a timestamp representing the server time when this object was created.',
  cell: (o, now) => since(o.metadata.creationTimestamp, now),
};

function col(name: string, type: Column['type'], cell: Column['cell'], priority = 0, description = name): Column {
  return { name, type, cell, priority, description };
}

function none(v: unknown): string {
  return v === undefined || v === null || v === '' ? '<none>' : String(v);
}

function num(v: unknown): number {
  return typeof v === 'number' ? v : 0;
}

function containers(o: KubeObject): Obj[] {
  const spec = o.spec?.template?.spec ?? o.spec?.jobTemplate?.spec?.template?.spec ?? o.spec;
  return Array.isArray(spec?.containers) ? spec.containers.filter(isObject) : [];
}

function selectorString(sel: unknown): string {
  if (!isObject(sel)) return '<none>';
  if (!('matchLabels' in sel) && !('matchExpressions' in sel)) {
    const s = Object.entries(sel as Record<string, string>)
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
    return s || '<none>';
  }
  try {
    return selectorToString(selectorFromObject(sel)) || '<none>';
  } catch {
    return '<invalid>';
  }
}

const containersCol = col('Containers', 'string', (o) => containers(o).map((c) => c.name).join(','), 1, 'Names of each container in the template.');
const imagesCol = col('Images', 'string', (o) => containers(o).map((c) => c.image).join(','), 1, 'Images referenced by each container in the template.');
const selectorCol = col('Selector', 'string', (o) => selectorString(o.spec?.selector), 1, 'Label selector.');

/** The STATUS column of `kubectl get pods`, as the Kubernetes pod printer derives it. */
export function podStatusReason(o: KubeObject): string {
  const status: Obj = o.status ?? {};
  let reason: string = status.reason || status.phase || 'Unknown';
  const inits: Obj[] = status.initContainerStatuses ?? [];
  let initializing = false;
  inits.forEach((c, i) => {
    if (initializing) return;
    const term = c.state?.terminated;
    if (term && term.exitCode === 0) return;
    if (term) {
      reason = term.reason ? `Init:${term.reason}` : term.signal ? `Init:Signal:${term.signal}` : `Init:ExitCode:${term.exitCode}`;
      initializing = true;
    } else if (c.state?.waiting?.reason && c.state.waiting.reason !== 'PodInitializing') {
      reason = `Init:${c.state.waiting.reason}`;
      initializing = true;
    } else if (!c.started && !c.ready) {
      reason = `Init:${i}/${(o.spec?.initContainers ?? []).length}`;
      initializing = true;
    }
  });
  if (!initializing) {
    let hasRunning = false;
    const cs: Obj[] = status.containerStatuses ?? [];
    for (let i = cs.length - 1; i >= 0; i--) {
      const c = cs[i]!;
      if (c.state?.waiting?.reason) reason = c.state.waiting.reason;
      else if (c.state?.terminated?.reason) reason = c.state.terminated.reason;
      else if (c.state?.terminated) reason = c.state.terminated.signal ? `Signal:${c.state.terminated.signal}` : `ExitCode:${c.state.terminated.exitCode}`;
      else if (c.ready && c.state?.running) hasRunning = true;
    }
    if (reason === 'Completed' && hasRunning) {
      const ready = (status.conditions ?? []).some((c: Obj) => c.type === 'Ready' && c.status === 'True');
      reason = ready ? 'Running' : 'NotReady';
    }
  }
  if (o.metadata.deletionTimestamp) reason = status.reason === 'NodeLost' ? 'Unknown' : 'Terminating';
  return reason;
}

function jobStatus(o: KubeObject): string {
  const conds: Obj[] = o.status?.conditions ?? [];
  const has = (t: string) => conds.some((c) => c.type === t && c.status === 'True');
  if (has('Complete')) return 'Complete';
  if (has('Failed')) return 'Failed';
  if (o.metadata.deletionTimestamp) return 'Terminating';
  if (has('SuccessCriteriaMet')) return 'SuccessCriteriaMet';
  if (has('FailureTarget')) return 'FailureTarget';
  if (has('Suspended')) return 'Suspended';
  return 'Running';
}

function servicePorts(o: KubeObject): string {
  const ports: Obj[] = o.spec?.ports ?? [];
  if (!ports.length) return '<none>';
  return ports.map((p) => (p.nodePort ? `${p.port}:${p.nodePort}/${p.protocol ?? 'TCP'}` : `${p.port}/${p.protocol ?? 'TCP'}`)).join(',');
}

function externalIp(o: KubeObject): string {
  const s = o.spec ?? {};
  const lb: Obj[] = o.status?.loadBalancer?.ingress ?? [];
  const lbIps = lb.map((i) => i.ip || i.hostname).filter(Boolean);
  switch (s.type) {
    case 'ExternalName':
      return s.externalName ?? '<none>';
    case 'LoadBalancer':
      return [...lbIps, ...(s.externalIPs ?? [])].join(',') || '<pending>';
    default:
      return (s.externalIPs ?? []).join(',') || '<none>';
  }
}

function nodeStatus(o: KubeObject): string {
  const conds: Obj[] = o.status?.conditions ?? [];
  const ready = conds.find((c) => c.type === 'Ready');
  const parts = [ready ? (ready.status === 'True' ? 'Ready' : 'NotReady') : 'Unknown'];
  if (o.spec?.unschedulable) parts.push('SchedulingDisabled');
  return parts.join(',');
}

function nodeRoles(o: KubeObject): string {
  const roles: string[] = [];
  for (const [k, v] of Object.entries(o.metadata.labels ?? {})) {
    if (k.startsWith('node-role.kubernetes.io/')) roles.push(k.slice('node-role.kubernetes.io/'.length));
    else if (k === 'kubernetes.io/role') roles.push(v);
  }
  return roles.sort().join(',') || '<none>';
}

function endpointsList(o: KubeObject): string {
  const out: string[] = [];
  for (const s of o.subsets ?? []) {
    for (const a of s.addresses ?? []) {
      const ports: Obj[] = s.ports ?? [];
      if (ports.length === 0) out.push(a.ip);
      for (const p of ports) out.push(`${a.ip}:${p.port}`);
    }
  }
  if (!out.length) return '<none>';
  return out.length > 3 ? `${out.slice(0, 3).join(',')} + ${out.length - 3} more...` : out.join(',');
}

function sliceEndpoints(o: KubeObject): string {
  const out: string[] = [];
  for (const e of o.endpoints ?? []) for (const a of e.addresses ?? []) out.push(a);
  if (!out.length) return '<unset>';
  return out.length > 3 ? `${out.slice(0, 3).join(',')} + ${out.length - 3} more...` : out.join(',');
}

function accessModes(modes: unknown): string {
  const short: Record<string, string> = { ReadWriteOnce: 'RWO', ReadOnlyMany: 'ROX', ReadWriteMany: 'RWX', ReadWriteOncePod: 'RWOP' };
  return Array.isArray(modes) ? modes.map((m) => short[m] ?? m).join(',') : '';
}

function hpaTargets(o: KubeObject): string {
  const metrics: Obj[] = o.spec?.metrics ?? [];
  const current: Obj[] = o.status?.currentMetrics ?? [];
  const parts = metrics.map((m, i) => {
    if (m.type !== 'Resource') return '<unknown>/<unknown>';
    const name = m.resource?.name ?? 'cpu';
    const target = m.resource?.target ?? {};
    const cur = current[i]?.resource?.current;
    if (target.type === 'Utilization') {
      const c = cur?.averageUtilization !== undefined ? `${cur.averageUtilization}%` : '<unknown>';
      return `${name}: ${c}/${target.averageUtilization}%`;
    }
    const c = cur?.averageValue ?? '<unknown>';
    return `${name}: ${c}/${target.averageValue ?? target.value}`;
  });
  return parts.join(', ') || '<none>';
}

function lastSeen(o: KubeObject, now: number): string {
  const t = o.series?.lastObservedTime ?? o.lastTimestamp ?? o.eventTime ?? o.firstTimestamp ?? o.metadata.creationTimestamp;
  return since(t, now);
}

const COLUMNS: Record<string, Column[]> = {
  Pod: [
    nameCol,
    col('Ready', 'string', (o) => {
      const cs: Obj[] = o.status?.containerStatuses ?? [];
      const total = (o.spec?.containers ?? []).length;
      return `${cs.filter((c) => c.ready).length}/${total}`;
    }, 0, 'The aggregate readiness state of this pod for accepting traffic.'),
    col('Status', 'string', (o) => podStatusReason(o), 0, 'The aggregate status of the containers in this pod.'),
    col('Restarts', 'string', (o) => String((o.status?.containerStatuses ?? []).reduce((n: number, c: Obj) => n + num(c.restartCount), 0)), 0, 'The number of times the containers in this pod have been restarted.'),
    ageCol,
    col('IP', 'string', (o) => none(o.status?.podIP), 1, 'IP address allocated to the pod.'),
    col('Node', 'string', (o) => none(o.spec?.nodeName), 1, 'Name of the node the pod is assigned to.'),
    col('Nominated Node', 'string', (o) => none(o.status?.nominatedNodeName), 1, 'Name of the node that the pod is nominated to.'),
    col('Readiness Gates', 'string', (o) => {
      const gates: Obj[] = o.spec?.readinessGates ?? [];
      if (!gates.length) return '<none>';
      const conds: Obj[] = o.status?.conditions ?? [];
      const ok = gates.filter((g) => conds.some((c) => c.type === g.conditionType && c.status === 'True')).length;
      return `${ok}/${gates.length}`;
    }, 1, 'Pod readiness gates.'),
  ],
  Deployment: [
    nameCol,
    col('Ready', 'string', (o) => `${num(o.status?.readyReplicas)}/${num(o.spec?.replicas)}`, 0, 'Number of the pod with ready state'),
    col('Up-to-date', 'integer', (o) => num(o.status?.updatedReplicas), 0, 'Total number of non-terminated pods targeted by this deployment that have the desired template spec.'),
    col('Available', 'integer', (o) => num(o.status?.availableReplicas), 0, 'Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.'),
    ageCol,
    containersCol,
    imagesCol,
    selectorCol,
  ],
  ReplicaSet: [
    nameCol,
    col('Desired', 'integer', (o) => num(o.spec?.replicas), 0, 'Number of desired pods.'),
    col('Current', 'integer', (o) => num(o.status?.replicas), 0, 'Number of actually running pods.'),
    col('Ready', 'integer', (o) => num(o.status?.readyReplicas), 0, 'Number of ready pods.'),
    ageCol,
    containersCol,
    imagesCol,
    selectorCol,
  ],
  StatefulSet: [
    nameCol,
    col('Ready', 'string', (o) => `${num(o.status?.readyReplicas)}/${num(o.spec?.replicas)}`, 0, 'Number of the pod with ready state'),
    ageCol,
    containersCol,
    imagesCol,
  ],
  DaemonSet: [
    nameCol,
    col('Desired', 'integer', (o) => num(o.status?.desiredNumberScheduled), 0, 'The total number of nodes that should be running the daemon pod.'),
    col('Current', 'integer', (o) => num(o.status?.currentNumberScheduled), 0, 'The number of nodes that are running at least 1 daemon pod.'),
    col('Ready', 'integer', (o) => num(o.status?.numberReady), 0, 'The number of nodes that should be running the daemon pod and have one or more running and ready.'),
    col('Up-to-date', 'integer', (o) => num(o.status?.updatedNumberScheduled), 0, 'The total number of nodes that are running updated daemon pod.'),
    col('Available', 'integer', (o) => num(o.status?.numberAvailable), 0, 'The number of nodes that should be running the daemon pod and have one or more running and available.'),
    col('Node Selector', 'string', (o) => selectorString(o.spec?.template?.spec?.nodeSelector), 0, 'The node selector of the daemon pods.'),
    ageCol,
    containersCol,
    imagesCol,
    selectorCol,
  ],
  Job: [
    nameCol,
    col('Status', 'string', (o) => jobStatus(o), 0, 'Status of the job.'),
    col('Completions', 'string', (o) => {
      const want = o.spec?.completions;
      const done = num(o.status?.succeeded);
      return want === undefined || want === null ? `${done}/1 of ${num(o.spec?.parallelism)}` : `${done}/${want}`;
    }, 0, 'The desired number of successfully finished pods the job should be run with.'),
    col('Duration', 'string', (o, now) => {
      const start = o.status?.startTime;
      if (!start) return '';
      const end = o.status?.completionTime ? Date.parse(o.status.completionTime) : now;
      return humanDuration(end - Date.parse(start));
    }, 0, 'Time required to complete the job.'),
    ageCol,
    containersCol,
    imagesCol,
    selectorCol,
  ],
  CronJob: [
    nameCol,
    col('Schedule', 'string', (o) => String(o.spec?.schedule ?? ''), 0, 'The schedule in Cron format.'),
    col('Timezone', 'string', (o) => none(o.spec?.timeZone), 0, 'The time zone of the schedule.'),
    col('Suspend', 'boolean', (o) => Boolean(o.spec?.suspend), 0, 'Whether subsequent executions are suspended.'),
    col('Active', 'integer', (o) => (o.status?.active ?? []).length, 0, 'Number of currently running jobs.'),
    col('Last Schedule', 'string', (o, now) => (o.status?.lastScheduleTime ? since(o.status.lastScheduleTime, now) : '<none>'), 0, 'Time of the last schedule.'),
    ageCol,
    containersCol,
    imagesCol,
    col('Selector', 'string', (o) => selectorString(o.spec?.jobTemplate?.spec?.selector), 1, 'Label selector.'),
  ],
  Service: [
    nameCol,
    col('Type', 'string', (o) => String(o.spec?.type ?? 'ClusterIP'), 0, 'The type of the service.'),
    col('Cluster-IP', 'string', (o) => none(o.spec?.clusterIP), 0, 'The IP address of the service.'),
    col('External-IP', 'string', (o) => externalIp(o), 0, 'The external IP addresses of the service.'),
    col('Port(s)', 'string', (o) => servicePorts(o), 0, 'The ports of the service.'),
    ageCol,
    col('Selector', 'string', (o) => selectorString(o.spec?.selector), 1, 'Route service traffic to pods with label keys and values matching this selector.'),
  ],
  Node: [
    nameCol,
    col('Status', 'string', (o) => nodeStatus(o), 0, 'The status of the node.'),
    col('Roles', 'string', (o) => nodeRoles(o), 0, 'The roles of the node.'),
    ageCol,
    col('Version', 'string', (o) => String(o.status?.nodeInfo?.kubeletVersion ?? ''), 0, 'Kubelet version.'),
    col('Internal-IP', 'string', (o) => none((o.status?.addresses ?? []).find((a: Obj) => a.type === 'InternalIP')?.address), 1, 'Internal IP.'),
    col('External-IP', 'string', (o) => none((o.status?.addresses ?? []).find((a: Obj) => a.type === 'ExternalIP')?.address), 1, 'External IP.'),
    col('OS-Image', 'string', (o) => String(o.status?.nodeInfo?.osImage ?? '<unknown>'), 1, 'OS image.'),
    col('Kernel-Version', 'string', (o) => String(o.status?.nodeInfo?.kernelVersion ?? '<unknown>'), 1, 'Kernel version.'),
    col('Container-Runtime', 'string', (o) => String(o.status?.nodeInfo?.containerRuntimeVersion ?? '<unknown>'), 1, 'Container runtime.'),
  ],
  Namespace: [nameCol, col('Status', 'string', (o) => String(o.status?.phase ?? ''), 0, 'The status of the namespace.'), ageCol],
  ConfigMap: [nameCol, col('Data', 'integer', (o) => Object.keys(o.data ?? {}).length + Object.keys(o.binaryData ?? {}).length, 0, 'Number of keys.'), ageCol],
  Secret: [
    nameCol,
    col('Type', 'string', (o) => String(o.type ?? 'Opaque'), 0, 'The type of the secret.'),
    col('Data', 'integer', (o) => Object.keys(o.data ?? {}).length, 0, 'Number of keys.'),
    ageCol,
  ],
  Endpoints: [nameCol, col('Endpoints', 'string', (o) => endpointsList(o), 0, 'Endpoints of the service.'), ageCol],
  EndpointSlice: [
    nameCol,
    col('AddressType', 'string', (o) => String(o.addressType ?? ''), 0, 'Address type.'),
    col('Ports', 'string', (o) => (o.ports ?? []).map((p: Obj) => p.port ?? '<unset>').join(',') || '<unset>', 0, 'Ports.'),
    col('Endpoints', 'string', (o) => sliceEndpoints(o), 0, 'Endpoint addresses.'),
    ageCol,
  ],
  Event: [
    col('Last Seen', 'string', (o, now) => lastSeen(o, now), 0, 'Time since the last occurrence.'),
    col('Type', 'string', (o) => String(o.type ?? ''), 0, 'Event type.'),
    col('Reason', 'string', (o) => String(o.reason ?? ''), 0, 'Reason.'),
    col('Object', 'string', (o) => `${String(o.involvedObject?.kind ?? '').toLowerCase()}/${o.involvedObject?.name ?? ''}`, 0, 'The object this event is about.'),
    col('Message', 'string', (o) => String(o.message ?? '').trim(), 0, 'Message.'),
    { ...nameCol, priority: 1 },
  ],
  PersistentVolume: [
    nameCol,
    col('Capacity', 'string', (o) => String(o.spec?.capacity?.storage ?? ''), 0, 'Capacity.'),
    col('Access Modes', 'string', (o) => accessModes(o.spec?.accessModes), 0, 'Access modes.'),
    col('Reclaim Policy', 'string', (o) => String(o.spec?.persistentVolumeReclaimPolicy ?? ''), 0, 'Reclaim policy.'),
    col('Status', 'string', (o) => String(o.status?.phase ?? ''), 0, 'Phase.'),
    col('Claim', 'string', (o) => (o.spec?.claimRef ? `${o.spec.claimRef.namespace}/${o.spec.claimRef.name}` : ''), 0, 'Bound claim.'),
    col('StorageClass', 'string', (o) => String(o.spec?.storageClassName ?? ''), 0, 'Storage class.'),
    col('VolumeAttributesClass', 'string', (o) => none(o.spec?.volumeAttributesClassName), 0, 'Volume attributes class.'),
    col('Reason', 'string', (o) => String(o.status?.reason ?? ''), 0, 'Reason.'),
    ageCol,
  ],
  PersistentVolumeClaim: [
    nameCol,
    col('Status', 'string', (o) => (o.metadata.deletionTimestamp ? 'Terminating' : String(o.status?.phase ?? '')), 0, 'Phase.'),
    col('Volume', 'string', (o) => String(o.spec?.volumeName ?? ''), 0, 'Bound volume.'),
    col('Capacity', 'string', (o) => String(o.status?.capacity?.storage ?? ''), 0, 'Capacity.'),
    col('Access Modes', 'string', (o) => accessModes(o.status?.accessModes), 0, 'Access modes.'),
    col('StorageClass', 'string', (o) => String(o.spec?.storageClassName ?? ''), 0, 'Storage class.'),
    col('VolumeAttributesClass', 'string', (o) => none(o.spec?.volumeAttributesClassName), 0, 'Volume attributes class.'),
    ageCol,
    col('VolumeMode', 'string', (o) => String(o.spec?.volumeMode ?? ''), 1, 'Volume mode.'),
  ],
  ServiceAccount: [nameCol, col('Secrets', 'integer', (o) => (o.secrets ?? []).length, 0, 'Number of secrets.'), ageCol],
  ControllerRevision: [
    nameCol,
    col('Controller', 'string', (o) => {
      const ref = (o.metadata.ownerReferences ?? []).find((r) => r.controller);
      return ref ? `${ref.kind.toLowerCase()}.${ref.apiVersion.split('/')[0]}/${ref.name}` : '<none>';
    }, 0, 'Controller of the revision.'),
    col('Revision', 'integer', (o) => num(o.revision), 0, 'Revision.'),
    ageCol,
  ],
  HorizontalPodAutoscaler: [
    nameCol,
    col('Reference', 'string', (o) => `${o.spec?.scaleTargetRef?.kind ?? ''}/${o.spec?.scaleTargetRef?.name ?? ''}`, 0, 'Scale target.'),
    col('Targets', 'string', (o) => hpaTargets(o), 0, 'Metric targets.'),
    col('MinPods', 'string', (o) => String(o.spec?.minReplicas ?? 1), 0, 'Lower limit for replicas.'),
    col('MaxPods', 'integer', (o) => num(o.spec?.maxReplicas), 0, 'Upper limit for replicas.'),
    col('Replicas', 'integer', (o) => num(o.status?.currentReplicas), 0, 'Current replicas.'),
    ageCol,
  ],
  Ingress: [
    nameCol,
    col('Class', 'string', (o) => none(o.spec?.ingressClassName), 0, 'Ingress class.'),
    col('Hosts', 'string', (o) => (o.spec?.rules ?? []).map((r: Obj) => r.host).filter(Boolean).join(',') || '*', 0, 'Hosts.'),
    col('Address', 'string', (o) => (o.status?.loadBalancer?.ingress ?? []).map((i: Obj) => i.ip || i.hostname).join(','), 0, 'Address.'),
    col('Ports', 'string', (o) => ((o.spec?.tls ?? []).length ? '80, 443' : '80'), 0, 'Ports.'),
    ageCol,
  ],
  Lease: [nameCol, col('Holder', 'string', (o) => String(o.spec?.holderIdentity ?? ''), 0, 'Holder identity.'), ageCol],
  PodDisruptionBudget: [
    nameCol,
    col('Min Available', 'string', (o) => (o.spec?.minAvailable === undefined ? 'N/A' : String(o.spec.minAvailable)), 0, 'Minimum pods available.'),
    col('Max Unavailable', 'string', (o) => (o.spec?.maxUnavailable === undefined ? 'N/A' : String(o.spec.maxUnavailable)), 0, 'Maximum pods unavailable.'),
    col('Allowed Disruptions', 'integer', (o) => num(o.status?.disruptionsAllowed), 0, 'Evictions allowed now.'),
    ageCol,
  ],
};
// A ReplicationController lists like a ReplicaSet.
COLUMNS.ReplicationController = COLUMNS.ReplicaSet!;

const DEFAULT_COLUMNS = [nameCol, ageCol];

/** A cell of an object whose fields have unexpected shapes prints as `<unknown>`, never fails. */
function safeCell(c: Column, o: KubeObject, nowMs: number): Cell {
  try {
    return c.cell(o, nowMs);
  } catch {
    return '<unknown>';
  }
}

export function columnsFor(kind: string): Column[] {
  return COLUMNS[kind] ?? DEFAULT_COLUMNS;
}

export interface TableOptions {
  /** `includeObject`: None, Metadata (default) or Object. */
  includeObject?: 'None' | 'Metadata' | 'Object';
  /** meta.k8s.io version asked for. */
  version?: 'v1' | 'v1beta1';
  nowMs: number;
  noHeaders?: boolean;
}

function rowObject(o: KubeObject, include: TableOptions['includeObject'], version: string): unknown {
  if (include === 'None') return undefined;
  if (include === 'Object') return o;
  return { kind: 'PartialObjectMetadata', apiVersion: `meta.k8s.io/${version}`, metadata: o.metadata };
}

/** One Table holding `objects` (a list, or a single object for get and watch events). */
export function toTable(kind: string, objects: KubeObject[], listMeta: Record<string, unknown>, opts: TableOptions) {
  const version = opts.version ?? 'v1';
  const cols = columnsFor(kind);
  const table: Record<string, unknown> = {
    kind: 'Table',
    apiVersion: `meta.k8s.io/${version}`,
    metadata: listMeta,
  };
  if (!opts.noHeaders) {
    table.columnDefinitions = cols.map((c) => ({
      name: c.name,
      type: c.type,
      format: c.format ?? '',
      description: c.description,
      priority: c.priority ?? 0,
    }));
  }
  table.rows = objects.map((o) => {
    const row: Record<string, unknown> = { cells: cols.map((c) => safeCell(c, o, opts.nowMs)) };
    const ob = rowObject(o, opts.includeObject, version);
    if (ob !== undefined) row.object = ob;
    return row;
  });
  return table;
}
