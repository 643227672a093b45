/**
 * Decoding of Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`), for
 * the objects kubectl's `create <kind>` generators send that way: Namespace, ConfigMap, Secret,
 * ServiceAccount, Service, Deployment, Job, CronJob; autoscaling/v1 HorizontalPodAutoscaler
 * (`kubectl autoscale`); and DeleteOptions and policy/v1 Eviction, which `kubectl drain` sends. A body is the magic `k8s\0` and a
 * runtime.Unknown {typeMeta, raw}; `raw` is the object in the field numbering of Kubernetes'
 * generated.proto files. A field this table does not know is refused (415), never dropped.
 * Answers stay JSON, which those clients also accept.
 */
import { errors } from './types.js';

type Scalar = 'string' | 'bytes' | 'int' | 'bool' | 'time' | 'intOrString' | 'quantity' | 'ignore';
interface MapType {
  map: Scalar | Msg;
}
type FieldType = Scalar | Msg | MapType;
interface Field {
  name: string;
  type: FieldType | (() => Msg);
  repeated?: boolean;
  /**
   * A pointer field in the Go type: sent only when set, so its zero value means zero. Other
   * scalars are always sent, and their zero value means "unset" (JSON's omitempty).
   */
  ptr?: boolean;
  /** An embedded Go struct (`json:",inline"`): its fields land in the parent object. */
  inline?: boolean;
}
interface Msg {
  name: string;
  fields: Record<number, Field>;
}

const msg = (name: string, fields: Record<number, Field>): Msg => ({ name, fields });
const f = (name: string, type: Field['type'], repeated = false): Field => ({ name, type, repeated });
/** A pointer field (see Field.ptr). */
const p = (name: string, type: Field['type']): Field => ({ name, type, ptr: true });
/** An inlined embedded message (see Field.inline). */
const inline = (type: Msg): Field => ({ name: type.name, type, inline: true });

const TypeMeta = msg('TypeMeta', { 1: f('apiVersion', 'string'), 2: f('kind', 'string') });
const Unknown = msg('Unknown', { 1: f('typeMeta', TypeMeta), 2: f('raw', 'bytes'), 3: f('contentEncoding', 'string'), 4: f('contentType', 'string') });

const OwnerReference = msg('OwnerReference', {
  1: f('kind', 'string'),
  3: f('name', 'string'),
  4: f('uid', 'string'),
  5: f('apiVersion', 'string'),
  6: p('controller', 'bool'),
  7: p('blockOwnerDeletion', 'bool'),
});
const ObjectMeta = msg('ObjectMeta', {
  1: f('name', 'string'),
  2: f('generateName', 'string'),
  3: f('namespace', 'string'),
  4: f('selfLink', 'string'),
  5: f('uid', 'string'),
  6: f('resourceVersion', 'string'),
  7: f('generation', 'int'),
  8: f('creationTimestamp', 'time'),
  9: f('deletionTimestamp', 'time'),
  10: p('deletionGracePeriodSeconds', 'int'),
  11: f('labels', { map: 'string' }),
  12: f('annotations', { map: 'string' }),
  13: f('ownerReferences', OwnerReference, true),
  14: f('finalizers', 'string', true),
  17: f('managedFields', 'ignore', true),
});
const LabelSelectorRequirement = msg('LabelSelectorRequirement', { 1: f('key', 'string'), 2: f('operator', 'string'), 3: f('values', 'string', true) });
const LabelSelector = msg('LabelSelector', { 1: f('matchLabels', { map: 'string' }), 2: f('matchExpressions', LabelSelectorRequirement, true) });
const LocalObjectReference = msg('LocalObjectReference', { 1: f('name', 'string') });
const ObjectReference = msg('ObjectReference', {
  1: f('kind', 'string'),
  2: f('namespace', 'string'),
  3: f('name', 'string'),
  4: f('uid', 'string'),
  5: f('apiVersion', 'string'),
  6: f('resourceVersion', 'string'),
  7: f('fieldPath', 'string'),
});
const Status = msg('Status', {}); // statuses of new objects are reset; their content is skipped

// Pod specs as kubectl sends them back (`create job --from=cronjob/x` copies a stored template
// with every default the server filled in): the fields of core/v1 generated.proto.
const ContainerPort = msg('ContainerPort', { 1: f('name', 'string'), 2: f('hostPort', 'int'), 3: f('containerPort', 'int'), 4: f('protocol', 'string'), 5: f('hostIP', 'string') });
const ObjectFieldSelector = msg('ObjectFieldSelector', { 1: f('apiVersion', 'string'), 2: f('fieldPath', 'string') });
const ResourceFieldSelector = msg('ResourceFieldSelector', { 1: f('containerName', 'string'), 2: f('resource', 'string'), 3: f('divisor', 'quantity') });
const KeySelector = (name: string) => msg(name, { 1: inline(LocalObjectReference), 2: f('key', 'string'), 3: p('optional', 'bool') });
const EnvVarSource = msg('EnvVarSource', {
  1: f('fieldRef', ObjectFieldSelector),
  2: f('resourceFieldRef', ResourceFieldSelector),
  3: f('configMapKeyRef', KeySelector('ConfigMapKeySelector')),
  4: f('secretKeyRef', KeySelector('SecretKeySelector')),
});
const EnvVar = msg('EnvVar', { 1: f('name', 'string'), 2: f('value', 'string'), 3: f('valueFrom', EnvVarSource) });
const EnvSource = (name: string) => msg(name, { 1: inline(LocalObjectReference), 2: p('optional', 'bool') });
const EnvFromSource = msg('EnvFromSource', { 1: f('prefix', 'string'), 2: f('configMapRef', EnvSource('ConfigMapEnvSource')), 3: f('secretRef', EnvSource('SecretEnvSource')) });
const ResourceClaim = msg('ResourceClaim', { 1: f('name', 'string'), 2: f('request', 'string') });
const ResourceRequirements = msg('ResourceRequirements', { 1: f('limits', { map: 'quantity' }), 2: f('requests', { map: 'quantity' }), 3: f('claims', ResourceClaim, true) });
const VolumeMount = msg('VolumeMount', {
  1: f('name', 'string'),
  2: f('readOnly', 'bool'),
  3: f('mountPath', 'string'),
  4: f('subPath', 'string'),
  5: p('mountPropagation', 'string'),
  6: f('subPathExpr', 'string'),
  7: p('recursiveReadOnly', 'string'),
});
const ExecAction = msg('ExecAction', { 1: f('command', 'string', true) });
const HTTPHeader = msg('HTTPHeader', { 1: f('name', 'string'), 2: f('value', 'string') });
const HTTPGetAction = msg('HTTPGetAction', { 1: f('path', 'string'), 2: f('port', 'intOrString'), 3: f('host', 'string'), 4: f('scheme', 'string'), 5: f('httpHeaders', HTTPHeader, true) });
const TCPSocketAction = msg('TCPSocketAction', { 1: f('port', 'intOrString'), 2: f('host', 'string') });
const GRPCAction = msg('GRPCAction', { 1: f('port', 'int'), 2: p('service', 'string') });
const ProbeHandler = msg('ProbeHandler', { 1: f('exec', ExecAction), 2: f('httpGet', HTTPGetAction), 3: f('tcpSocket', TCPSocketAction), 4: f('grpc', GRPCAction) });
const Probe = msg('Probe', {
  1: inline(ProbeHandler),
  2: f('initialDelaySeconds', 'int'),
  3: f('timeoutSeconds', 'int'),
  4: f('periodSeconds', 'int'),
  5: f('successThreshold', 'int'),
  6: f('failureThreshold', 'int'),
  7: p('terminationGracePeriodSeconds', 'int'),
});
const SleepAction = msg('SleepAction', { 1: f('seconds', 'int') });
const LifecycleHandler = msg('LifecycleHandler', { 1: f('exec', ExecAction), 2: f('httpGet', HTTPGetAction), 3: f('tcpSocket', TCPSocketAction), 4: f('sleep', SleepAction) });
const Lifecycle = msg('Lifecycle', { 1: f('postStart', LifecycleHandler), 2: f('preStop', LifecycleHandler), 3: p('stopSignal', 'string') });
const SELinuxOptions = msg('SELinuxOptions', { 1: f('user', 'string'), 2: f('role', 'string'), 3: f('type', 'string'), 4: f('level', 'string') });
const WindowsOptions = msg('WindowsSecurityContextOptions', { 1: p('gmsaCredentialSpecName', 'string'), 2: p('runAsUserName', 'string'), 3: p('gmsaCredentialSpec', 'string'), 4: p('hostProcess', 'bool') });
const SeccompProfile = msg('SeccompProfile', { 1: f('type', 'string'), 2: p('localhostProfile', 'string') });
const AppArmorProfile = msg('AppArmorProfile', { 1: f('type', 'string'), 2: p('localhostProfile', 'string') });
const Capabilities = msg('Capabilities', { 1: f('add', 'string', true), 2: f('drop', 'string', true) });
const SecurityContext = msg('SecurityContext', {
  1: f('capabilities', Capabilities),
  2: p('privileged', 'bool'),
  3: f('seLinuxOptions', SELinuxOptions),
  4: p('runAsUser', 'int'),
  5: p('runAsNonRoot', 'bool'),
  6: p('readOnlyRootFilesystem', 'bool'),
  7: p('allowPrivilegeEscalation', 'bool'),
  8: p('runAsGroup', 'int'),
  9: p('procMount', 'string'),
  10: f('windowsOptions', WindowsOptions),
  11: f('seccompProfile', SeccompProfile),
  12: f('appArmorProfile', AppArmorProfile),
});
const Sysctl = msg('Sysctl', { 1: f('name', 'string'), 2: f('value', 'string') });
const PodSecurityContext = msg('PodSecurityContext', {
  1: f('seLinuxOptions', SELinuxOptions),
  2: p('runAsUser', 'int'),
  3: p('runAsNonRoot', 'bool'),
  4: f('supplementalGroups', 'int', true),
  5: p('fsGroup', 'int'),
  6: p('runAsGroup', 'int'),
  7: f('sysctls', Sysctl, true),
  8: f('windowsOptions', WindowsOptions),
  9: p('fsGroupChangePolicy', 'string'),
  10: f('seccompProfile', SeccompProfile),
  11: f('appArmorProfile', AppArmorProfile),
  12: p('supplementalGroupsPolicy', 'string'),
  13: p('seLinuxChangePolicy', 'string'),
});
const ContainerResizePolicy = msg('ContainerResizePolicy', { 1: f('resourceName', 'string'), 2: f('restartPolicy', 'string') });
const Container = msg('Container', {
  1: f('name', 'string'),
  2: f('image', 'string'),
  3: f('command', 'string', true),
  4: f('args', 'string', true),
  5: f('workingDir', 'string'),
  6: f('ports', ContainerPort, true),
  7: f('env', EnvVar, true),
  8: f('resources', ResourceRequirements),
  9: f('volumeMounts', VolumeMount, true),
  10: f('livenessProbe', Probe),
  11: f('readinessProbe', Probe),
  12: f('lifecycle', Lifecycle),
  13: f('terminationMessagePath', 'string'),
  14: f('imagePullPolicy', 'string'),
  15: f('securityContext', SecurityContext),
  16: f('stdin', 'bool'),
  17: f('stdinOnce', 'bool'),
  18: f('tty', 'bool'),
  19: f('envFrom', EnvFromSource, true),
  20: f('terminationMessagePolicy', 'string'),
  22: f('startupProbe', Probe),
  23: f('resizePolicy', ContainerResizePolicy, true),
  24: p('restartPolicy', 'string'),
});
const KeyToPath = msg('KeyToPath', { 1: f('key', 'string'), 2: f('path', 'string'), 3: p('mode', 'int') });
const VolumeSource = msg('VolumeSource', {
  1: f('hostPath', msg('HostPathVolumeSource', { 1: f('path', 'string'), 2: p('type', 'string') })),
  2: f('emptyDir', msg('EmptyDirVolumeSource', { 1: f('medium', 'string'), 2: f('sizeLimit', 'quantity') })),
  6: f('secret', msg('SecretVolumeSource', { 1: f('secretName', 'string'), 2: f('items', KeyToPath, true), 3: p('defaultMode', 'int'), 4: p('optional', 'bool') })),
  10: f('persistentVolumeClaim', msg('PersistentVolumeClaimVolumeSource', { 1: f('claimName', 'string'), 2: f('readOnly', 'bool') })),
  19: f('configMap', msg('ConfigMapVolumeSource', { 1: inline(LocalObjectReference), 2: f('items', KeyToPath, true), 3: p('defaultMode', 'int'), 4: p('optional', 'bool') })),
});
const Volume = msg('Volume', { 1: f('name', 'string'), 2: inline(VolumeSource) });
const NodeSelectorRequirement = msg('NodeSelectorRequirement', { 1: f('key', 'string'), 2: f('operator', 'string'), 3: f('values', 'string', true) });
const NodeSelectorTerm = msg('NodeSelectorTerm', { 1: f('matchExpressions', NodeSelectorRequirement, true), 2: f('matchFields', NodeSelectorRequirement, true) });
const NodeAffinity = msg('NodeAffinity', {
  1: f('requiredDuringSchedulingIgnoredDuringExecution', msg('NodeSelector', { 1: f('nodeSelectorTerms', NodeSelectorTerm, true) })),
  2: f('preferredDuringSchedulingIgnoredDuringExecution', msg('PreferredSchedulingTerm', { 1: f('weight', 'int'), 2: f('preference', NodeSelectorTerm) }), true),
});
const PodAffinityTerm = msg('PodAffinityTerm', {
  1: f('labelSelector', LabelSelector),
  2: f('namespaces', 'string', true),
  3: f('topologyKey', 'string'),
  4: f('namespaceSelector', LabelSelector),
  5: f('matchLabelKeys', 'string', true),
  6: f('mismatchLabelKeys', 'string', true),
});
const WeightedPodAffinityTerm = msg('WeightedPodAffinityTerm', { 1: f('weight', 'int'), 2: f('podAffinityTerm', PodAffinityTerm) });
const PodAffinity = (name: string) =>
  msg(name, { 1: f('requiredDuringSchedulingIgnoredDuringExecution', PodAffinityTerm, true), 2: f('preferredDuringSchedulingIgnoredDuringExecution', WeightedPodAffinityTerm, true) });
const Affinity = msg('Affinity', { 1: f('nodeAffinity', NodeAffinity), 2: f('podAffinity', PodAffinity('PodAffinity')), 3: f('podAntiAffinity', PodAffinity('PodAntiAffinity')) });
const Toleration = msg('Toleration', { 1: f('key', 'string'), 2: f('operator', 'string'), 3: f('value', 'string'), 4: f('effect', 'string'), 5: p('tolerationSeconds', 'int') });
const HostAlias = msg('HostAlias', { 1: f('ip', 'string'), 2: f('hostnames', 'string', true) });
const PodDNSConfig = msg('PodDNSConfig', {
  1: f('nameservers', 'string', true),
  2: f('searches', 'string', true),
  3: f('options', msg('PodDNSConfigOption', { 1: f('name', 'string'), 2: p('value', 'string') }), true),
});
const TopologySpreadConstraint = msg('TopologySpreadConstraint', {
  1: f('maxSkew', 'int'),
  2: f('topologyKey', 'string'),
  3: f('whenUnsatisfiable', 'string'),
  4: f('labelSelector', LabelSelector),
  5: p('minDomains', 'int'),
  6: p('nodeAffinityPolicy', 'string'),
  7: p('nodeTaintsPolicy', 'string'),
  8: f('matchLabelKeys', 'string', true),
});
const PodSpec = msg('PodSpec', {
  1: f('volumes', Volume, true),
  2: f('containers', Container, true),
  3: f('restartPolicy', 'string'),
  4: p('terminationGracePeriodSeconds', 'int'),
  5: p('activeDeadlineSeconds', 'int'),
  6: f('dnsPolicy', 'string'),
  7: f('nodeSelector', { map: 'string' }),
  8: f('serviceAccountName', 'string'),
  9: f('serviceAccount', 'string'),
  10: f('nodeName', 'string'),
  11: f('hostNetwork', 'bool'),
  12: f('hostPID', 'bool'),
  13: f('hostIPC', 'bool'),
  14: f('securityContext', PodSecurityContext),
  15: f('imagePullSecrets', LocalObjectReference, true),
  16: f('hostname', 'string'),
  17: f('subdomain', 'string'),
  18: f('affinity', Affinity),
  19: f('schedulerName', 'string'),
  20: f('initContainers', Container, true),
  21: p('automountServiceAccountToken', 'bool'),
  22: f('tolerations', Toleration, true),
  23: f('hostAliases', HostAlias, true),
  24: f('priorityClassName', 'string'),
  25: p('priority', 'int'),
  26: f('dnsConfig', PodDNSConfig),
  27: p('shareProcessNamespace', 'bool'),
  29: p('runtimeClassName', 'string'),
  30: p('enableServiceLinks', 'bool'),
  31: p('preemptionPolicy', 'string'),
  33: f('topologySpreadConstraints', TopologySpreadConstraint, true),
  35: p('setHostnameAsFQDN', 'bool'),
  37: p('hostUsers', 'bool'),
});
const PodTemplateSpec = msg('PodTemplateSpec', { 1: f('metadata', ObjectMeta), 2: f('spec', PodSpec) });

const RollingUpdateDeployment = msg('RollingUpdateDeployment', { 1: f('maxUnavailable', 'intOrString'), 2: f('maxSurge', 'intOrString') });
const DeploymentStrategy = msg('DeploymentStrategy', { 1: f('type', 'string'), 2: f('rollingUpdate', RollingUpdateDeployment) });
const DeploymentSpec = msg('DeploymentSpec', {
  1: p('replicas', 'int'),
  2: f('selector', LabelSelector),
  3: f('template', PodTemplateSpec),
  4: f('strategy', DeploymentStrategy),
  5: f('minReadySeconds', 'int'),
  6: p('revisionHistoryLimit', 'int'),
  7: f('paused', 'bool'),
  9: p('progressDeadlineSeconds', 'int'),
});
const JobSpec = msg('JobSpec', {
  1: p('parallelism', 'int'),
  2: p('completions', 'int'),
  3: p('activeDeadlineSeconds', 'int'),
  4: f('selector', LabelSelector),
  5: p('manualSelector', 'bool'),
  6: f('template', PodTemplateSpec),
  7: p('backoffLimit', 'int'),
  8: p('ttlSecondsAfterFinished', 'int'),
  9: p('completionMode', 'string'),
  10: p('suspend', 'bool'),
  12: p('backoffLimitPerIndex', 'int'),
  13: p('maxFailedIndexes', 'int'),
  14: p('podReplacementPolicy', 'string'),
  15: p('managedBy', 'string'),
});
const JobTemplateSpec = msg('JobTemplateSpec', { 1: f('metadata', ObjectMeta), 2: f('spec', JobSpec) });
const CronJobSpec = msg('CronJobSpec', {
  1: f('schedule', 'string'),
  2: p('startingDeadlineSeconds', 'int'),
  3: f('concurrencyPolicy', 'string'),
  4: p('suspend', 'bool'),
  5: f('jobTemplate', JobTemplateSpec),
  6: p('successfulJobsHistoryLimit', 'int'),
  7: p('failedJobsHistoryLimit', 'int'),
  8: p('timeZone', 'string'),
});
const ServicePort = msg('ServicePort', { 1: f('name', 'string'), 2: f('protocol', 'string'), 3: f('port', 'int'), 4: f('targetPort', 'intOrString'), 5: f('nodePort', 'int'), 6: f('appProtocol', 'string') });
const ServiceSpec = msg('ServiceSpec', {
  1: f('ports', ServicePort, true),
  2: f('selector', { map: 'string' }),
  3: f('clusterIP', 'string'),
  4: f('type', 'string'),
  5: f('externalIPs', 'string', true),
  7: f('sessionAffinity', 'string'),
  8: f('loadBalancerIP', 'string'),
  10: f('externalName', 'string'),
  11: f('externalTrafficPolicy', 'string'),
  12: f('healthCheckNodePort', 'int'),
  13: f('publishNotReadyAddresses', 'bool'),
  18: f('clusterIPs', 'string', true),
});

const Preconditions = msg('Preconditions', { 1: p('uid', 'string'), 2: p('resourceVersion', 'string') });
const DeleteOptions = msg('DeleteOptions', {
  1: p('gracePeriodSeconds', 'int'),
  2: f('preconditions', Preconditions),
  3: p('orphanDependents', 'bool'),
  4: p('propagationPolicy', 'string'),
  5: f('dryRun', 'string', true),
  6: p('ignoreStoreReadErrorWithClusterBreakingPotential', 'bool'),
});
const Eviction = msg('Eviction', { 1: f('metadata', ObjectMeta), 2: f('deleteOptions', DeleteOptions) });

const CrossVersionObjectReference = msg('CrossVersionObjectReference', { 1: f('kind', 'string'), 2: f('name', 'string'), 3: f('apiVersion', 'string') });
const HorizontalPodAutoscalerSpecV1 = msg('HorizontalPodAutoscalerSpec', {
  1: f('scaleTargetRef', CrossVersionObjectReference),
  2: p('minReplicas', 'int'),
  3: f('maxReplicas', 'int'),
  4: p('targetCPUUtilizationPercentage', 'int'),
});

const KINDS: Record<string, Msg> = {
  // What kubectl sends as protobuf besides objects: delete options and evictions (drain).
  'v1/DeleteOptions': DeleteOptions,
  'meta.k8s.io/v1/DeleteOptions': DeleteOptions,
  'policy/v1/Eviction': Eviction,
  'policy/v1beta1/Eviction': Eviction,
  'v1/Namespace': msg('Namespace', { 1: f('metadata', ObjectMeta), 2: f('spec', msg('NamespaceSpec', { 1: f('finalizers', 'string', true) })), 3: f('status', Status) }),
  'v1/ConfigMap': msg('ConfigMap', { 1: f('metadata', ObjectMeta), 2: f('data', { map: 'string' }), 3: f('binaryData', { map: 'bytes' }), 4: p('immutable', 'bool') }),
  'v1/Secret': msg('Secret', { 1: f('metadata', ObjectMeta), 2: f('data', { map: 'bytes' }), 3: f('type', 'string'), 4: f('stringData', { map: 'string' }), 5: p('immutable', 'bool') }),
  'v1/ServiceAccount': msg('ServiceAccount', { 1: f('metadata', ObjectMeta), 2: f('secrets', ObjectReference, true), 3: f('imagePullSecrets', LocalObjectReference, true), 4: p('automountServiceAccountToken', 'bool') }),
  'v1/Service': msg('Service', { 1: f('metadata', ObjectMeta), 2: f('spec', ServiceSpec), 3: f('status', Status) }),
  'apps/v1/Deployment': msg('Deployment', { 1: f('metadata', ObjectMeta), 2: f('spec', DeploymentSpec), 3: f('status', Status) }),
  'batch/v1/Job': msg('Job', { 1: f('metadata', ObjectMeta), 2: f('spec', JobSpec), 3: f('status', Status) }),
  'batch/v1/CronJob': msg('CronJob', { 1: f('metadata', ObjectMeta), 2: f('spec', CronJobSpec), 3: f('status', Status) }),
  // What `kubectl autoscale` sends.
  'autoscaling/v1/HorizontalPodAutoscaler': msg('HorizontalPodAutoscaler', { 1: f('metadata', ObjectMeta), 2: f('spec', HorizontalPodAutoscalerSpecV1), 3: f('status', Status) }),
};

class Reader {
  pos = 0;
  constructor(readonly buf: Uint8Array) {}
  eof(): boolean {
    return this.pos >= this.buf.length;
  }
  varint(): bigint {
    let result = 0n;
    let shift = 0n;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.buf.length) throw new Error('truncated varint');
      const b = this.buf[this.pos++]!;
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
    }
    throw new Error('varint too long');
  }
  bytes(): Uint8Array {
    const n = Number(this.varint());
    if (this.pos + n > this.buf.length) throw new Error('truncated field');
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.pos += 8;
    else if (wire === 2) this.bytes();
    else if (wire === 5) this.pos += 4;
    else throw new Error(`wire type ${wire} not supported`);
  }
}

const text = new TextDecoder('utf-8', { fatal: true });

function scalar(type: Scalar, r: Reader, wire: number): unknown {
  switch (type) {
    case 'string':
      return text.decode(r.bytes());
    case 'bytes':
      return Buffer.from(r.bytes()).toString('base64');
    case 'int':
      return Number(BigInt.asIntN(64, r.varint()));
    case 'bool':
      return r.varint() !== 0n;
    case 'ignore':
      r.skip(wire);
      return undefined;
    case 'time': {
      const t = decodeMessage(msg('Time', { 1: f('seconds', 'int'), 2: f('nanos', 'int') }), r.bytes()) as { seconds?: number };
      return new Date((t.seconds ?? 0) * 1000).toISOString().replace('.000Z', 'Z');
    }
    case 'intOrString': {
      const v = decodeMessage(msg('IntOrString', { 1: f('type', 'int'), 2: f('intVal', 'int'), 3: f('strVal', 'string') }), r.bytes()) as { type?: number; intVal?: number; strVal?: string };
      return v.type === 1 ? (v.strVal ?? '') : (v.intVal ?? 0);
    }
    case 'quantity':
      return (decodeMessage(msg('Quantity', { 1: f('string', 'string') }), r.bytes()) as { string?: string }).string ?? '0';
  }
}

function decodeMessage(m: Msg, buf: Uint8Array): Record<string, unknown> {
  const r = new Reader(buf);
  const out: Record<string, unknown> = {};
  while (!r.eof()) {
    const key = Number(r.varint());
    const num = key >>> 3;
    const wire = key & 7;
    const field = m.fields[num];
    if (!field) {
      if (m === Status) {
        r.skip(wire);
        continue;
      }
      throw errors.unsupportedMediaType(`application/vnd.kubernetes.protobuf (field ${num} of ${m.name} is not supported; send JSON)`);
    }
    const type = typeof field.type === 'function' ? field.type() : field.type;
    let value: unknown;
    if (typeof type === 'string') value = scalar(type, r, wire);
    else if ('map' in type) {
      const entry = decodeMessage(msg(`${m.name}.${field.name}Entry`, { 1: f('key', 'string'), 2: f('value', type.map) }), r.bytes());
      const target = (out[field.name] ??= {}) as Record<string, unknown>;
      target[String(entry.key ?? '')] = entry.value ?? (type.map === 'string' || type.map === 'bytes' ? '' : {});
      continue;
    } else value = decodeMessage(type, r.bytes());
    if (value === undefined) continue;
    if (field.inline) {
      Object.assign(out, value);
      continue;
    }
    if (!field.ptr && !field.repeated && (value === '' || value === 0 || value === false || value === EPOCH)) continue;
    if (field.repeated) ((out[field.name] ??= []) as unknown[]).push(value);
    else out[field.name] = value;
  }
  return out;
}

const EPOCH = '1970-01-01T00:00:00Z';
const MAGIC = [0x6b, 0x38, 0x73, 0x00];

/** Decodes a protobuf request body into the object's JSON form. Throws 400 / 415. */
export function decodeProtobufObject(body: Uint8Array): Record<string, unknown> {
  if (body.length < 4 || MAGIC.some((b, i) => body[i] !== b)) throw errors.badRequest('protobuf body lacks the k8s\\0 prefix');
  let unknown: { typeMeta?: { apiVersion?: string; kind?: string }; raw?: string };
  try {
    unknown = decodeMessage(Unknown, body.subarray(4)) as typeof unknown;
  } catch (err) {
    if (err instanceof Error && err.name === 'ApiError') throw err;
    throw errors.badRequest(`malformed protobuf body: ${(err as Error).message}`);
  }
  const apiVersion = unknown.typeMeta?.apiVersion ?? '';
  const kind = unknown.typeMeta?.kind ?? '';
  const schema = KINDS[`${apiVersion}/${kind}`];
  if (!schema) throw errors.unsupportedMediaType(`application/vnd.kubernetes.protobuf (${apiVersion} ${kind} is accepted as JSON only)`);
  let obj: Record<string, unknown>;
  try {
    obj = decodeMessage(schema, Buffer.from(unknown.raw ?? '', 'base64'));
  } catch (err) {
    if (err instanceof Error && err.name === 'ApiError') throw err;
    throw errors.badRequest(`malformed protobuf ${kind}: ${(err as Error).message}`);
  }
  delete obj.status;
  return { apiVersion, kind, ...obj };
}
