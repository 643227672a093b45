/**
 * Defaulting, as the Kubernetes API's defaulting functions do it for the kinds that matter.
 * `applyDefaults` fills unset fields in place and never overwrites a set one.
 */
import { isObject, type KubeObject } from './types.js';

type Obj = Record<string, any>;

function setDefault(o: Obj, key: string, value: unknown): void {
  if (o[key] === undefined || o[key] === null) o[key] = value;
}

function obj(o: Obj, key: string): Obj {
  if (!isObject(o[key])) o[key] = {};
  return o[key] as Obj;
}

/** An image with no tag (or `:latest`) is pulled Always, any other IfNotPresent. */
export function defaultPullPolicy(image: unknown): 'Always' | 'IfNotPresent' {
  if (typeof image !== 'string') return 'IfNotPresent';
  if (image.includes('@')) return 'IfNotPresent';
  const lastSlash = image.lastIndexOf('/');
  const tagAt = image.indexOf(':', lastSlash + 1);
  const tag = tagAt < 0 ? '' : image.slice(tagAt + 1);
  return tag === '' || tag === 'latest' ? 'Always' : 'IfNotPresent';
}

function defaultContainer(c: Obj): void {
  if (!isObject(c)) return;
  setDefault(c, 'imagePullPolicy', defaultPullPolicy(c.image));
  setDefault(c, 'terminationMessagePath', '/dev/termination-log');
  setDefault(c, 'terminationMessagePolicy', 'File');
  setDefault(c, 'resources', {});
  // Requests default to the limits where only limits are given.
  if (isObject(c.resources) && isObject(c.resources.limits)) {
    const req = obj(c.resources, 'requests');
    for (const [k, v] of Object.entries(c.resources.limits)) setDefault(req, k, v);
  }
  if (Array.isArray(c.ports)) for (const p of c.ports) if (isObject(p)) setDefault(p, 'protocol', 'TCP');
  for (const probe of ['livenessProbe', 'readinessProbe', 'startupProbe']) {
    const pr = c[probe];
    if (!isObject(pr)) continue;
    setDefault(pr, 'timeoutSeconds', 1);
    setDefault(pr, 'periodSeconds', 10);
    setDefault(pr, 'successThreshold', 1);
    setDefault(pr, 'failureThreshold', 3);
    if (isObject(pr.httpGet)) {
      setDefault(pr.httpGet, 'path', '/');
      setDefault(pr.httpGet, 'scheme', 'HTTP');
    }
  }
  if (Array.isArray(c.env)) {
    for (const e of c.env) {
      if (isObject(e) && isObject(e.valueFrom) && isObject(e.valueFrom.fieldRef)) setDefault(e.valueFrom.fieldRef, 'apiVersion', 'v1');
    }
  }
}

/** The tolerations the DefaultTolerationSeconds admission plugin adds (300 s each). */
const DEFAULT_TOLERATIONS = [
  { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
  { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
];

export function defaultPodSpec(spec: Obj): void {
  if (!isObject(spec)) return;
  setDefault(spec, 'restartPolicy', 'Always');
  setDefault(spec, 'terminationGracePeriodSeconds', 30);
  setDefault(spec, 'dnsPolicy', 'ClusterFirst');
  setDefault(spec, 'securityContext', {});
  setDefault(spec, 'schedulerName', 'default-scheduler');
  for (const list of ['containers', 'initContainers', 'ephemeralContainers']) {
    if (Array.isArray(spec[list])) for (const c of spec[list]) defaultContainer(c);
  }
  if (Array.isArray(spec.volumes)) {
    for (const v of spec.volumes) {
      if (!isObject(v)) continue;
      if (isObject(v.configMap)) setDefault(v.configMap, 'defaultMode', 420);
      if (isObject(v.secret)) setDefault(v.secret, 'defaultMode', 420);
      if (isObject(v.hostPath)) setDefault(v.hostPath, 'type', '');
      if (isObject(v.emptyDir)) {
        /* no defaults */
      }
    }
  }
}

function defaultPodTemplate(tmpl: unknown): void {
  if (!isObject(tmpl)) return;
  // Clients written in Go send empty metadata fields as null (`creationTimestamp: null` in
  // every template kubectl copies, as `rollout undo` does). The real API server's typed
  // decoding drops them; dropping them here keeps a template equal to itself, so its hash
  // (pod-template-hash) and the controllers' comparisons do not change.
  if (isObject(tmpl.metadata)) {
    const meta = tmpl.metadata as Record<string, unknown>;
    for (const k of Object.keys(meta)) if (meta[k] === null) delete meta[k];
  }
  defaultPodSpec(obj(tmpl, 'spec'));
}

/** Tolerations the admission chain adds to a pod (not to templates). */
function addDefaultTolerations(spec: Obj): void {
  const tolerations: Obj[] = Array.isArray(spec.tolerations) ? spec.tolerations : [];
  for (const t of DEFAULT_TOLERATIONS) {
    const has = tolerations.some((x) => isObject(x) && x.key === t.key && (x.effect === 'NoExecute' || x.effect === undefined || x.effect === ''));
    if (!has) tolerations.push({ ...t });
  }
  spec.tolerations = tolerations;
}

/** Labels the template carries become the selector where the API does that (RC). */
function templateLabels(spec: Obj): Record<string, string> | undefined {
  const l = spec?.template?.metadata?.labels;
  return isObject(l) ? (l as Record<string, string>) : undefined;
}

export function applyDefaults(kind: string, o: KubeObject): void {
  const spec: Obj = isObject(o.spec) ? o.spec : {};
  switch (kind) {
    case 'Pod':
      o.spec = spec;
      defaultPodSpec(spec);
      // What the admission chain adds to pods (not to templates).
      setDefault(spec, 'enableServiceLinks', true);
      setDefault(spec, 'preemptionPolicy', 'PreemptLowerPriority');
      setDefault(spec, 'priority', 0);
      setDefault(spec, 'serviceAccountName', spec.serviceAccount ?? 'default');
      setDefault(spec, 'serviceAccount', spec.serviceAccountName);
      addDefaultTolerations(spec);
      break;
    case 'Deployment': {
      o.spec = spec;
      setDefault(spec, 'replicas', 1);
      const strategy = obj(spec, 'strategy');
      setDefault(strategy, 'type', 'RollingUpdate');
      if (strategy.type === 'RollingUpdate') {
        const ru = obj(strategy, 'rollingUpdate');
        setDefault(ru, 'maxUnavailable', '25%');
        setDefault(ru, 'maxSurge', '25%');
      }
      setDefault(spec, 'revisionHistoryLimit', 10);
      setDefault(spec, 'progressDeadlineSeconds', 600);
      defaultPodTemplate(spec.template);
      break;
    }
    case 'ReplicaSet':
      o.spec = spec;
      setDefault(spec, 'replicas', 1);
      defaultPodTemplate(spec.template);
      break;
    case 'ReplicationController': {
      o.spec = spec;
      setDefault(spec, 'replicas', 1);
      const labels = templateLabels(spec);
      if (labels && (!isObject(spec.selector) || Object.keys(spec.selector).length === 0)) spec.selector = { ...labels };
      if (labels && !isObject(o.metadata.labels)) o.metadata.labels = { ...labels };
      defaultPodTemplate(spec.template);
      break;
    }
    case 'StatefulSet': {
      o.spec = spec;
      setDefault(spec, 'replicas', 1);
      setDefault(spec, 'podManagementPolicy', 'OrderedReady');
      const us = obj(spec, 'updateStrategy');
      setDefault(us, 'type', 'RollingUpdate');
      if (us.type === 'RollingUpdate') setDefault(obj(us, 'rollingUpdate'), 'partition', 0);
      setDefault(spec, 'revisionHistoryLimit', 10);
      const retention = obj(spec, 'persistentVolumeClaimRetentionPolicy');
      setDefault(retention, 'whenDeleted', 'Retain');
      setDefault(retention, 'whenScaled', 'Retain');
      if (Array.isArray(spec.volumeClaimTemplates)) {
        for (const t of spec.volumeClaimTemplates) {
          if (isObject(t)) {
            t.apiVersion ??= 'v1';
            t.kind ??= 'PersistentVolumeClaim';
            setDefault(obj(t, 'spec'), 'volumeMode', 'Filesystem');
            setDefault(t, 'status', { phase: 'Pending' });
          }
        }
      }
      defaultPodTemplate(spec.template);
      break;
    }
    case 'DaemonSet': {
      o.spec = spec;
      const us = obj(spec, 'updateStrategy');
      setDefault(us, 'type', 'RollingUpdate');
      if (us.type === 'RollingUpdate') {
        const ru = obj(us, 'rollingUpdate');
        setDefault(ru, 'maxUnavailable', 1);
        setDefault(ru, 'maxSurge', 0);
      }
      setDefault(spec, 'revisionHistoryLimit', 10);
      defaultPodTemplate(spec.template);
      break;
    }
    case 'Job':
      o.spec = spec;
      defaultJobSpec(spec);
      break;
    case 'CronJob': {
      o.spec = spec;
      setDefault(spec, 'concurrencyPolicy', 'Allow');
      setDefault(spec, 'suspend', false);
      setDefault(spec, 'successfulJobsHistoryLimit', 3);
      setDefault(spec, 'failedJobsHistoryLimit', 1);
      const jt = obj(spec, 'jobTemplate');
      defaultJobSpec(obj(jt, 'spec'));
      break;
    }
    case 'Service': {
      o.spec = spec;
      setDefault(spec, 'type', 'ClusterIP');
      setDefault(spec, 'sessionAffinity', 'None');
      if (spec.type !== 'ExternalName') {
        setDefault(spec, 'ipFamilies', ['IPv4']);
        setDefault(spec, 'ipFamilyPolicy', 'SingleStack');
        setDefault(spec, 'internalTrafficPolicy', 'Cluster');
      }
      if (spec.type === 'NodePort' || spec.type === 'LoadBalancer') setDefault(spec, 'externalTrafficPolicy', 'Cluster');
      if (spec.type === 'LoadBalancer') setDefault(spec, 'allocateLoadBalancerNodePorts', true);
      if (Array.isArray(spec.ports)) {
        for (const p of spec.ports) {
          if (!isObject(p)) continue;
          setDefault(p, 'protocol', 'TCP');
          setDefault(p, 'targetPort', p.port);
        }
      }
      break;
    }
    case 'Namespace': {
      o.spec = spec;
      setDefault(spec, 'finalizers', ['kubernetes']);
      const labels = isObject(o.metadata.labels) ? o.metadata.labels : (o.metadata.labels = {});
      if (o.metadata.name) labels['kubernetes.io/metadata.name'] = o.metadata.name;
      break;
    }
    case 'Secret':
      setDefault(o, 'type', 'Opaque');
      break;
    case 'PersistentVolume':
      o.spec = spec;
      setDefault(spec, 'persistentVolumeReclaimPolicy', 'Retain');
      setDefault(spec, 'volumeMode', 'Filesystem');
      break;
    case 'PersistentVolumeClaim':
      o.spec = spec;
      setDefault(spec, 'volumeMode', 'Filesystem');
      break;
    case 'HorizontalPodAutoscaler':
      o.spec = spec;
      setDefault(spec, 'minReplicas', 1);
      if (!Array.isArray(spec.metrics) || spec.metrics.length === 0) {
        spec.metrics = [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 80 } } }];
      }
      break;
    case 'Ingress':
      if (Array.isArray(spec.rules)) {
        for (const r of spec.rules) for (const p of r?.http?.paths ?? []) if (isObject(p)) setDefault(p, 'pathType', 'ImplementationSpecific');
      }
      break;
    case 'EndpointSlice':
      if (Array.isArray(o.ports)) for (const p of o.ports) if (isObject(p)) setDefault(p, 'protocol', 'TCP');
      break;
    case 'Endpoints':
      if (Array.isArray(o.subsets)) for (const s of o.subsets) for (const p of s?.ports ?? []) if (isObject(p)) setDefault(p, 'protocol', 'TCP');
      break;
    case 'Node':
      break;
  }
}

function defaultJobSpec(spec: Obj): void {
  if (spec.completions == null && spec.parallelism == null) {
    spec.completions = 1;
    spec.parallelism = 1;
  }
  setDefault(spec, 'parallelism', 1);
  setDefault(spec, 'backoffLimit', 6);
  setDefault(spec, 'completionMode', 'NonIndexed');
  setDefault(spec, 'suspend', false);
  setDefault(spec, 'manualSelector', undefined);
  if (spec.manualSelector === undefined) delete spec.manualSelector;
  setDefault(spec, 'podReplacementPolicy', 'TerminatingOrFailed');
  defaultPodTemplate(spec.template);
}

/** The quality-of-service class a pod's requests and limits put it in. */
export function podQosClass(spec: Obj): 'Guaranteed' | 'Burstable' | 'BestEffort' {
  const containers: Obj[] = [...(spec?.containers ?? []), ...(spec?.initContainers ?? [])].filter(isObject);
  let any = false;
  let guaranteed = containers.length > 0;
  for (const c of containers) {
    const req = isObject(c.resources?.requests) ? c.resources.requests : {};
    const lim = isObject(c.resources?.limits) ? c.resources.limits : {};
    if (Object.keys(req).length || Object.keys(lim).length) any = true;
    for (const r of ['cpu', 'memory']) {
      if (lim[r] === undefined) guaranteed = false;
      else if (req[r] !== undefined && String(req[r]) !== String(lim[r])) guaranteed = false;
    }
  }
  if (!any) return 'BestEffort';
  return guaranteed ? 'Guaranteed' : 'Burstable';
}
