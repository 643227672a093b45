/**
 * Validation: every rule returns field errors (one per bad field, with its path), which the API
 * turns into one 422 Invalid Status with a cause each. Runs after defaulting, on creates and
 * updates (`old` is the stored object on an update).
 */
import type { ResourceInfo } from './registry.js';
import {
  dns1035LabelErrors,
  dns1123LabelErrors,
  dns1123SubdomainErrors,
  labelValueErrors,
  matchesLabels,
  qualifiedNameErrors,
  selectorFromObject,
} from './selectors.js';
import { deepEqual, fieldErrors as fe, isObject, type FieldError, type KubeObject } from './types.js';

type Obj = Record<string, any>;

/** Names of these kinds are DNS-1123 labels; Services are DNS-1035 labels; the rest subdomains. */
const LABEL_NAMED = new Set(['Namespace']);
const MAX_ANNOTATIONS_BYTES = 256 * 1024;

export function validateObject(r: ResourceInfo, o: KubeObject, old?: KubeObject): FieldError[] {
  const errs: FieldError[] = [];
  validateMeta(r, o, errs);
  validateKind(r.kind, o, errs);
  if (old) validateUpdate(r.kind, o, old, errs);
  return errs;
}

// ---------------------------------------------------------------------------------------------
// metadata

export function nameErrors(kind: string, name: string): string[] {
  if (kind === 'Service') return dns1035LabelErrors(name);
  if (LABEL_NAMED.has(kind)) return dns1123LabelErrors(name);
  return dns1123SubdomainErrors(name);
}

function validateMeta(r: ResourceInfo, o: KubeObject, errs: FieldError[]): void {
  const m = o.metadata;
  if (!isObject(m)) {
    errs.push(fe.required('metadata'));
    return;
  }
  if (!m.name) {
    errs.push(fe.required('metadata.name', 'name or generateName is required'));
  } else if (typeof m.name !== 'string') {
    errs.push(fe.invalid('metadata.name', m.name, 'must be a string'));
  } else {
    for (const e of nameErrors(r.kind, m.name)) errs.push(fe.invalid('metadata.name', m.name, e));
  }
  if (r.namespaced) {
    if (!m.namespace) errs.push(fe.required('metadata.namespace'));
    else for (const e of dns1123LabelErrors(String(m.namespace))) errs.push(fe.invalid('metadata.namespace', m.namespace, e));
  } else if (m.namespace) {
    errs.push(fe.forbidden('metadata.namespace', 'not allowed on this type'));
  }
  validateLabels(m.labels, 'metadata.labels', errs);
  if (m.annotations !== undefined) {
    if (!isObject(m.annotations)) errs.push(fe.invalid('metadata.annotations', m.annotations, 'must be a map of strings'));
    else {
      let bytes = 0;
      for (const [k, v] of Object.entries(m.annotations)) {
        for (const e of qualifiedNameErrors(k)) errs.push(fe.invalid('metadata.annotations', k, e));
        if (typeof v !== 'string') errs.push(fe.invalid(`metadata.annotations[${k}]`, v, 'must be a string'));
        bytes += k.length + String(v).length;
      }
      if (bytes > MAX_ANNOTATIONS_BYTES) errs.push(fe.tooLong('metadata.annotations', '', MAX_ANNOTATIONS_BYTES));
    }
  }
  if (m.finalizers !== undefined) {
    if (!Array.isArray(m.finalizers)) errs.push(fe.invalid('metadata.finalizers', m.finalizers, 'must be a list of strings'));
    else
      m.finalizers.forEach((f: unknown, i: number) => {
        if (typeof f !== 'string') errs.push(fe.invalid(`metadata.finalizers[${i}]`, f, 'must be a string'));
        else for (const e of qualifiedNameErrors(f)) errs.push(fe.invalid(`metadata.finalizers[${i}]`, f, e));
      });
  }
  if (m.ownerReferences !== undefined) {
    if (!Array.isArray(m.ownerReferences)) errs.push(fe.invalid('metadata.ownerReferences', m.ownerReferences, 'must be a list'));
    else {
      let controllers = 0;
      m.ownerReferences.forEach((ref: Obj, i: number) => {
        const p = `metadata.ownerReferences[${i}]`;
        if (!isObject(ref)) return errs.push(fe.invalid(p, ref, 'must be an object'));
        if (!ref.apiVersion) errs.push(fe.invalid(`${p}.apiVersion`, ref.apiVersion ?? '', 'version must not be empty'));
        if (!ref.kind) errs.push(fe.invalid(`${p}.kind`, ref.kind ?? '', 'kind must not be empty'));
        if (!ref.name) errs.push(fe.invalid(`${p}.name`, ref.name ?? '', 'name must not be empty'));
        if (!ref.uid) errs.push(fe.invalid(`${p}.uid`, ref.uid ?? '', 'uid must not be empty'));
        if (ref.controller) controllers++;
      });
      if (controllers > 1) errs.push(fe.invalid('metadata.ownerReferences', m.ownerReferences, 'Only one reference can have Controller set to true'));
    }
  }
}

function validateLabels(labels: unknown, path: string, errs: FieldError[]): void {
  if (labels === undefined || labels === null) return;
  if (!isObject(labels)) {
    errs.push(fe.invalid(path, labels, 'must be a map of strings'));
    return;
  }
  for (const [k, v] of Object.entries(labels)) {
    for (const e of qualifiedNameErrors(k)) errs.push(fe.invalid(path, k, e));
    if (typeof v !== 'string') errs.push(fe.invalid(`${path}[${k}]`, v, 'must be a string'));
    else for (const e of labelValueErrors(v)) errs.push(fe.invalid(path, v, e));
  }
}

// ---------------------------------------------------------------------------------------------
// helpers

function nonNegative(v: unknown, path: string, errs: FieldError[]): void {
  if (v === undefined || v === null) return;
  if (typeof v !== 'number' || !Number.isInteger(v)) errs.push(fe.invalid(path, v, 'must be an integer'));
  else if (v < 0) errs.push(fe.invalid(path, v, 'must be greater than or equal to 0'));
}

function positive(v: unknown, path: string, errs: FieldError[]): void {
  if (v === undefined || v === null) return;
  if (typeof v !== 'number' || !Number.isInteger(v)) errs.push(fe.invalid(path, v, 'must be an integer'));
  else if (v <= 0) errs.push(fe.invalid(path, v, 'must be greater than 0'));
}

function port(v: unknown, path: string, errs: FieldError[], required = true): void {
  if (v === undefined || v === null) {
    if (required) errs.push(fe.required(path));
    return;
  }
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 65535) errs.push(fe.invalid(path, v, 'must be between 1 and 65535, inclusive'));
}

function oneOf(v: unknown, path: string, allowed: string[], errs: FieldError[]): void {
  if (v === undefined || v === null) return;
  if (typeof v !== 'string' || !allowed.includes(v)) errs.push(fe.notSupported(path, v, allowed));
}

const QUANTITY = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+|[KMGTPE]i|[numkMGTPE])?$/;

export function isQuantity(v: unknown): boolean {
  if (typeof v === 'number') return Number.isFinite(v);
  return typeof v === 'string' && QUANTITY.test(v);
}

function intOrPercent(v: unknown, path: string, errs: FieldError[]): void {
  if (v === undefined || v === null) return;
  if (typeof v === 'number') {
    if (!Number.isInteger(v) || v < 0) errs.push(fe.invalid(path, v, 'must be greater than or equal to 0'));
  } else if (typeof v !== 'string' || !/^\d+%$/.test(v)) {
    errs.push(fe.invalid(path, v, "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')"));
  }
}

function labelSelector(sel: unknown, path: string, errs: FieldError[], required: boolean): void {
  if (sel === undefined || sel === null) {
    if (required) errs.push(fe.required(path));
    return;
  }
  if (!isObject(sel)) {
    errs.push(fe.invalid(path, sel, 'must be a label selector'));
    return;
  }
  validateLabels(sel.matchLabels, `${path}.matchLabels`, errs);
  if (sel.matchExpressions !== undefined) {
    if (!Array.isArray(sel.matchExpressions)) errs.push(fe.invalid(`${path}.matchExpressions`, sel.matchExpressions, 'must be a list'));
    else
      sel.matchExpressions.forEach((e: Obj, i: number) => {
        const p = `${path}.matchExpressions[${i}]`;
        if (!isObject(e)) return errs.push(fe.invalid(p, e, 'must be an object'));
        if (!e.key) errs.push(fe.required(`${p}.key`));
        oneOf(e.operator, `${p}.operator`, ['In', 'NotIn', 'Exists', 'DoesNotExist'], errs);
        if (e.operator === undefined) errs.push(fe.required(`${p}.operator`));
        const n = Array.isArray(e.values) ? e.values.length : 0;
        if ((e.operator === 'In' || e.operator === 'NotIn') && n === 0) errs.push(fe.required(`${p}.values`, 'must be specified when `operator` is \'In\' or \'NotIn\''));
        if ((e.operator === 'Exists' || e.operator === 'DoesNotExist') && n > 0) errs.push(fe.forbidden(`${p}.values`, 'may not be specified when `operator` is \'Exists\' or \'DoesNotExist\''));
      });
  }
  const empty = Object.keys(sel.matchLabels ?? {}).length === 0 && (sel.matchExpressions ?? []).length === 0;
  if (required && empty) errs.push(fe.invalid(path, sel, 'empty selector is invalid for deployment'));
}

// ---------------------------------------------------------------------------------------------
// pods

const CONTAINER_NAME = (v: string) => dns1123LabelErrors(v);

function validateContainers(list: unknown, path: string, errs: FieldError[], required: boolean, names: Set<string>): void {
  if (list === undefined || list === null || (Array.isArray(list) && list.length === 0)) {
    if (required) errs.push(fe.required(path));
    return;
  }
  if (!Array.isArray(list)) {
    errs.push(fe.invalid(path, list, 'must be a list of containers'));
    return;
  }
  list.forEach((c: Obj, i: number) => {
    const p = `${path}[${i}]`;
    if (!isObject(c)) return errs.push(fe.invalid(p, c, 'must be a container'));
    if (!c.name) errs.push(fe.required(`${p}.name`));
    else if (typeof c.name !== 'string') errs.push(fe.invalid(`${p}.name`, c.name, 'must be a string'));
    else {
      for (const e of CONTAINER_NAME(c.name)) errs.push(fe.invalid(`${p}.name`, c.name, e));
      if (names.has(c.name)) errs.push(fe.duplicate(`${p}.name`, c.name));
      names.add(c.name);
    }
    if (!c.image || typeof c.image !== 'string' || !c.image.trim()) errs.push(fe.required(`${p}.image`));
    oneOf(c.imagePullPolicy, `${p}.imagePullPolicy`, ['Always', 'IfNotPresent', 'Never'], errs);
    if (c.ports !== undefined) {
      if (!Array.isArray(c.ports)) errs.push(fe.invalid(`${p}.ports`, c.ports, 'must be a list'));
      else {
        const portNames = new Set<string>();
        c.ports.forEach((pt: Obj, j: number) => {
          const pp = `${p}.ports[${j}]`;
          if (!isObject(pt)) return errs.push(fe.invalid(pp, pt, 'must be a port'));
          port(pt.containerPort, `${pp}.containerPort`, errs);
          port(pt.hostPort, `${pp}.hostPort`, errs, false);
          oneOf(pt.protocol, `${pp}.protocol`, ['TCP', 'UDP', 'SCTP'], errs);
          if (pt.name !== undefined) {
            if (typeof pt.name !== 'string' || pt.name.length > 15 || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(pt.name) || !/[a-z]/.test(pt.name)) {
              errs.push(fe.invalid(`${pp}.name`, pt.name, 'must be no more than 15 characters, contain only lowercase alphanumerics or \'-\', and contain at least one letter'));
            } else if (portNames.has(pt.name)) errs.push(fe.duplicate(`${pp}.name`, pt.name));
            else portNames.add(pt.name);
          }
        });
      }
    }
    if (c.env !== undefined) {
      if (!Array.isArray(c.env)) errs.push(fe.invalid(`${p}.env`, c.env, 'must be a list'));
      else
        c.env.forEach((e: Obj, j: number) => {
          if (!isObject(e) || !e.name) errs.push(fe.required(`${p}.env[${j}].name`));
        });
    }
    const res = c.resources;
    if (isObject(res)) {
      for (const kind of ['requests', 'limits']) {
        const m = res[kind];
        if (m === undefined) continue;
        if (!isObject(m)) {
          errs.push(fe.invalid(`${p}.resources.${kind}`, m, 'must be a map of quantities'));
          continue;
        }
        for (const [k, v] of Object.entries(m)) {
          if (!isQuantity(v)) errs.push(fe.invalid(`${p}.resources.${kind}[${k}]`, v, "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"));
        }
      }
    }
  });
}

export function validatePodSpec(spec: unknown, path: string, errs: FieldError[], template = false): void {
  if (!isObject(spec)) {
    errs.push(fe.required(path));
    return;
  }
  const names = new Set<string>();
  validateContainers(spec.containers, `${path}.containers`, errs, true, names);
  validateContainers(spec.initContainers, `${path}.initContainers`, errs, false, names);
  oneOf(spec.restartPolicy, `${path}.restartPolicy`, ['Always', 'OnFailure', 'Never'], errs);
  oneOf(spec.dnsPolicy, `${path}.dnsPolicy`, ['ClusterFirstWithHostNet', 'ClusterFirst', 'Default', 'None'], errs);
  nonNegative(spec.terminationGracePeriodSeconds, `${path}.terminationGracePeriodSeconds`, errs);
  positive(spec.activeDeadlineSeconds, `${path}.activeDeadlineSeconds`, errs);
  if (spec.nodeSelector !== undefined) validateLabels(spec.nodeSelector, `${path}.nodeSelector`, errs);
  if (spec.volumes !== undefined) {
    if (!Array.isArray(spec.volumes)) errs.push(fe.invalid(`${path}.volumes`, spec.volumes, 'must be a list'));
    else {
      const seen = new Set<string>();
      spec.volumes.forEach((v: Obj, i: number) => {
        const p = `${path}.volumes[${i}]`;
        if (!isObject(v) || !v.name) return errs.push(fe.required(`${p}.name`));
        for (const e of dns1123LabelErrors(String(v.name))) errs.push(fe.invalid(`${p}.name`, v.name, e));
        if (seen.has(v.name)) errs.push(fe.duplicate(`${p}.name`, v.name));
        seen.add(v.name);
      });
    }
  }
  if (Array.isArray(spec.tolerations)) {
    spec.tolerations.forEach((t: Obj, i: number) => {
      const p = `${path}.tolerations[${i}]`;
      if (!isObject(t)) return errs.push(fe.invalid(p, t, 'must be a toleration'));
      oneOf(t.operator, `${p}.operator`, ['Equal', 'Exists'], errs);
      oneOf(t.effect, `${p}.effect`, ['NoSchedule', 'PreferNoSchedule', 'NoExecute', ''], errs);
      if (t.operator === 'Exists' && t.value) errs.push(fe.invalid(`${p}.operator`, t.operator, 'value must be empty when `operator` is \'Exists\''));
    });
  }
  void template;
}

function validateTemplate(spec: Obj, path: string, errs: FieldError[], selectorRequired: boolean): void {
  const tmpl = spec.template;
  if (!isObject(tmpl)) {
    errs.push(fe.required(`${path}.template`));
    return;
  }
  const labels = tmpl.metadata?.labels;
  validateLabels(labels, `${path}.template.metadata.labels`, errs);
  validatePodSpec(tmpl.spec, `${path}.template.spec`, errs, true);
  if (isObject(spec.selector) && selectorRequired) {
    let sel;
    try {
      sel = selectorFromObject(spec.selector);
    } catch {
      return; // reported by labelSelector()
    }
    if (sel.length > 0 && !matchesLabels(sel, isObject(labels) ? labels : {})) {
      errs.push(fe.invalid(`${path}.template.metadata.labels`, labels ?? {}, '`selector` does not match template `labels`'));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// per kind

function validateKind(kind: string, o: KubeObject, errs: FieldError[]): void {
  const spec: Obj = isObject(o.spec) ? o.spec : {};
  switch (kind) {
    case 'Pod':
      validatePodSpec(o.spec, 'spec', errs);
      break;
    case 'Deployment':
      nonNegative(spec.replicas, 'spec.replicas', errs);
      labelSelector(spec.selector, 'spec.selector', errs, true);
      validateTemplate(spec, 'spec', errs, true);
      if (spec.template?.spec?.restartPolicy && spec.template.spec.restartPolicy !== 'Always') {
        errs.push(fe.notSupported('spec.template.spec.restartPolicy', spec.template.spec.restartPolicy, ['Always']));
      }
      if (isObject(spec.strategy)) {
        oneOf(spec.strategy.type, 'spec.strategy.type', ['Recreate', 'RollingUpdate'], errs);
        const ru = spec.strategy.rollingUpdate;
        if (spec.strategy.type === 'Recreate' && ru) errs.push(fe.forbidden('spec.strategy.rollingUpdate', 'may not be specified when strategy `type` is \'Recreate\''));
        if (isObject(ru)) {
          intOrPercent(ru.maxSurge, 'spec.strategy.rollingUpdate.maxSurge', errs);
          intOrPercent(ru.maxUnavailable, 'spec.strategy.rollingUpdate.maxUnavailable', errs);
          if (isZero(ru.maxSurge) && isZero(ru.maxUnavailable)) {
            errs.push(fe.invalid('spec.strategy.rollingUpdate.maxUnavailable', ru.maxUnavailable, 'may not be 0 when `maxSurge` is 0'));
          }
        }
      }
      nonNegative(spec.revisionHistoryLimit, 'spec.revisionHistoryLimit', errs);
      nonNegative(spec.minReadySeconds, 'spec.minReadySeconds', errs);
      positive(spec.progressDeadlineSeconds, 'spec.progressDeadlineSeconds', errs);
      break;
    case 'ReplicaSet':
      nonNegative(spec.replicas, 'spec.replicas', errs);
      labelSelector(spec.selector, 'spec.selector', errs, true);
      validateTemplate(spec, 'spec', errs, true);
      break;
    case 'ReplicationController':
      nonNegative(spec.replicas, 'spec.replicas', errs);
      if (!isObject(spec.selector) || Object.keys(spec.selector).length === 0) errs.push(fe.required('spec.selector'));
      else validateLabels(spec.selector, 'spec.selector', errs);
      if (isObject(spec.template)) {
        validateTemplate({ ...spec, selector: { matchLabels: spec.selector } }, 'spec', errs, true);
      } else errs.push(fe.required('spec.template'));
      break;
    case 'StatefulSet':
      nonNegative(spec.replicas, 'spec.replicas', errs);
      labelSelector(spec.selector, 'spec.selector', errs, true);
      validateTemplate(spec, 'spec', errs, true);
      oneOf(spec.podManagementPolicy, 'spec.podManagementPolicy', ['OrderedReady', 'Parallel'], errs);
      if (isObject(spec.updateStrategy)) {
        oneOf(spec.updateStrategy.type, 'spec.updateStrategy.type', ['RollingUpdate', 'OnDelete'], errs);
        nonNegative(spec.updateStrategy.rollingUpdate?.partition, 'spec.updateStrategy.rollingUpdate.partition', errs);
      }
      if (Array.isArray(spec.volumeClaimTemplates)) {
        spec.volumeClaimTemplates.forEach((t: Obj, i: number) => {
          if (!isObject(t) || !t.metadata?.name) errs.push(fe.required(`spec.volumeClaimTemplates[${i}].metadata.name`));
        });
      }
      break;
    case 'DaemonSet':
      labelSelector(spec.selector, 'spec.selector', errs, true);
      validateTemplate(spec, 'spec', errs, true);
      if (isObject(spec.updateStrategy)) {
        oneOf(spec.updateStrategy.type, 'spec.updateStrategy.type', ['RollingUpdate', 'OnDelete'], errs);
        const ru = spec.updateStrategy.rollingUpdate;
        if (isObject(ru)) {
          intOrPercent(ru.maxUnavailable, 'spec.updateStrategy.rollingUpdate.maxUnavailable', errs);
          intOrPercent(ru.maxSurge, 'spec.updateStrategy.rollingUpdate.maxSurge', errs);
        }
      }
      break;
    case 'Job':
      validateJobSpec(spec, 'spec', errs, true);
      break;
    case 'CronJob':
      if (!spec.schedule) errs.push(fe.required('spec.schedule'));
      else if (!validCron(String(spec.schedule))) errs.push(fe.invalid('spec.schedule', spec.schedule, 'unparseable cron schedule'));
      oneOf(spec.concurrencyPolicy, 'spec.concurrencyPolicy', ['Allow', 'Forbid', 'Replace'], errs);
      nonNegative(spec.successfulJobsHistoryLimit, 'spec.successfulJobsHistoryLimit', errs);
      nonNegative(spec.failedJobsHistoryLimit, 'spec.failedJobsHistoryLimit', errs);
      nonNegative(spec.startingDeadlineSeconds, 'spec.startingDeadlineSeconds', errs);
      if (!isObject(spec.jobTemplate)) errs.push(fe.required('spec.jobTemplate'));
      else validateJobSpec(isObject(spec.jobTemplate.spec) ? spec.jobTemplate.spec : {}, 'spec.jobTemplate.spec', errs, false);
      break;
    case 'Service':
      validateService(spec, errs);
      break;
    case 'ConfigMap':
      dataKeys(o.data, 'data', errs);
      dataKeys(o.binaryData, 'binaryData', errs);
      for (const [field, m] of [['data', o.data], ['binaryData', o.binaryData]] as const) {
        if (isObject(m)) for (const [k, v] of Object.entries(m)) if (typeof v !== 'string') errs.push(fe.invalid(`${field}[${k}]`, v, 'must be a string'));
      }
      for (const k of Object.keys(isObject(o.data) ? o.data : {})) {
        if (isObject(o.binaryData) && k in o.binaryData) errs.push(fe.invalid('data', k, 'duplicate of key present in binaryData'));
      }
      break;
    case 'Secret':
      dataKeys(o.data, 'data', errs);
      if (isObject(o.data)) {
        for (const [k, v] of Object.entries(o.data)) {
          if (typeof v !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(v) || v.length % 4 !== 0) errs.push(fe.invalid(`data[${k}]`, '<secret contents redacted>', 'must be base64-encoded'));
        }
      }
      if (o.type === 'kubernetes.io/dockerconfigjson' && !o.data?.['.dockerconfigjson']) errs.push(fe.required('data[.dockerconfigjson]'));
      break;
    case 'PersistentVolumeClaim':
      if (!Array.isArray(spec.accessModes) || spec.accessModes.length === 0) errs.push(fe.required('spec.accessModes', 'at least 1 access mode is required'));
      else spec.accessModes.forEach((m: unknown, i: number) => oneOf(m, `spec.accessModes[${i}]`, ['ReadWriteOnce', 'ReadOnlyMany', 'ReadWriteMany', 'ReadWriteOncePod'], errs));
      if (!isObject(spec.resources?.requests) || spec.resources.requests.storage === undefined) errs.push(fe.required('spec.resources[storage]'));
      else if (!isQuantity(spec.resources.requests.storage)) errs.push(fe.invalid('spec.resources[storage]', spec.resources.requests.storage, 'must be a quantity'));
      break;
    case 'PersistentVolume':
      if (!isObject(spec.capacity) || spec.capacity.storage === undefined) errs.push(fe.required('spec.capacity'));
      if (!Array.isArray(spec.accessModes) || spec.accessModes.length === 0) errs.push(fe.required('spec.accessModes'));
      oneOf(spec.persistentVolumeReclaimPolicy, 'spec.persistentVolumeReclaimPolicy', ['Retain', 'Delete', 'Recycle'], errs);
      break;
    case 'PodDisruptionBudget': {
      if (spec.minAvailable !== undefined && spec.maxUnavailable !== undefined) {
        errs.push(fe.invalid('spec', spec, 'minAvailable and maxUnavailable cannot be both set'));
      }
      for (const field of ['minAvailable', 'maxUnavailable']) {
        const v = spec[field];
        if (v === undefined) continue;
        if (typeof v === 'number' ? !Number.isInteger(v) || v < 0 : typeof v !== 'string' || !/^\d+%$/.test(v) || Number(v.slice(0, -1)) > 100) {
          errs.push(fe.invalid(`spec.${field}`, v, 'must be a non-negative integer or a percentage between 0% and 100%'));
        }
      }
      oneOf(spec.unhealthyPodEvictionPolicy, 'spec.unhealthyPodEvictionPolicy', ['IfHealthyBudget', 'AlwaysAllow'], errs);
      break;
    }
    case 'HorizontalPodAutoscaler': {
      const ref = spec.scaleTargetRef;
      if (!isObject(ref)) errs.push(fe.required('spec.scaleTargetRef'));
      else {
        if (!ref.kind) errs.push(fe.required('spec.scaleTargetRef.kind'));
        if (!ref.name) errs.push(fe.required('spec.scaleTargetRef.name'));
      }
      if (spec.maxReplicas === undefined) errs.push(fe.required('spec.maxReplicas'));
      else positive(spec.maxReplicas, 'spec.maxReplicas', errs);
      if (typeof spec.minReplicas === 'number') {
        if (spec.minReplicas < 1) errs.push(fe.invalid('spec.minReplicas', spec.minReplicas, 'must be greater than or equal to 1'));
        else if (typeof spec.maxReplicas === 'number' && spec.minReplicas > spec.maxReplicas) {
          errs.push(fe.invalid('spec.maxReplicas', spec.maxReplicas, 'must be greater than or equal to `minReplicas`'));
        }
      }
      break;
    }
    case 'Ingress':
      if (Array.isArray(spec.rules)) {
        spec.rules.forEach((r: Obj, i: number) => {
          (r?.http?.paths ?? []).forEach((p: Obj, j: number) => {
            const pp = `spec.rules[${i}].http.paths[${j}]`;
            oneOf(p?.pathType, `${pp}.pathType`, ['Exact', 'Prefix', 'ImplementationSpecific'], errs);
            if (!isObject(p?.backend)) errs.push(fe.required(`${pp}.backend`));
          });
        });
      }
      break;
    case 'EndpointSlice':
      if (!o.addressType) errs.push(fe.required('addressType'));
      else oneOf(o.addressType, 'addressType', ['IPv4', 'IPv6', 'FQDN'], errs);
      if (o.endpoints !== undefined && !Array.isArray(o.endpoints)) errs.push(fe.invalid('endpoints', o.endpoints, 'must be a list'));
      break;
    case 'ControllerRevision':
      nonNegative(o.revision, 'revision', errs);
      if (o.revision === undefined) errs.push(fe.required('revision'));
      break;
    case 'Lease':
      nonNegative(spec.leaseDurationSeconds, 'spec.leaseDurationSeconds', errs);
      nonNegative(spec.leaseTransitions, 'spec.leaseTransitions', errs);
      break;
    case 'Event':
      if (!isObject(o.involvedObject)) errs.push(fe.required('involvedObject'));
      break;
    case 'Node':
      if (Array.isArray(spec.taints)) {
        spec.taints.forEach((t: Obj, i: number) => {
          if (!isObject(t) || !t.key) errs.push(fe.required(`spec.taints[${i}].key`));
          else oneOf(t.effect, `spec.taints[${i}].effect`, ['NoSchedule', 'PreferNoSchedule', 'NoExecute'], errs);
          if (isObject(t) && !t.effect) errs.push(fe.required(`spec.taints[${i}].effect`));
        });
      }
      break;
  }
}

function isZero(v: unknown): boolean {
  return v === 0 || v === '0%';
}

function dataKeys(data: unknown, path: string, errs: FieldError[]): void {
  if (data === undefined || data === null) return;
  if (!isObject(data)) {
    errs.push(fe.invalid(path, data, 'must be a map'));
    return;
  }
  for (const k of Object.keys(data)) {
    if (!/^[-._a-zA-Z0-9]+$/.test(k) || k.length > 253) {
      errs.push(fe.invalid(path, k, "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"));
    }
  }
}

function validateJobSpec(spec: Obj, path: string, errs: FieldError[], selectorRequired: boolean): void {
  nonNegative(spec.parallelism, `${path}.parallelism`, errs);
  nonNegative(spec.completions, `${path}.completions`, errs);
  nonNegative(spec.backoffLimit, `${path}.backoffLimit`, errs);
  positive(spec.activeDeadlineSeconds, `${path}.activeDeadlineSeconds`, errs);
  nonNegative(spec.ttlSecondsAfterFinished, `${path}.ttlSecondsAfterFinished`, errs);
  oneOf(spec.completionMode, `${path}.completionMode`, ['NonIndexed', 'Indexed'], errs);
  if (spec.completionMode === 'Indexed' && spec.completions == null) errs.push(fe.required(`${path}.completions`, 'when completion mode is Indexed'));
  if (selectorRequired) labelSelector(spec.selector, `${path}.selector`, errs, false);
  validateTemplate(spec, path, errs, selectorRequired);
  const rp = spec.template?.spec?.restartPolicy;
  if (isObject(spec.template?.spec) && rp !== 'OnFailure' && rp !== 'Never') {
    if (rp === undefined || rp === 'Always') errs.push(fe.notSupported(`${path}.template.spec.restartPolicy`, rp ?? '', ['OnFailure', 'Never']));
  }
}

function validateService(spec: Obj, errs: FieldError[]): void {
  oneOf(spec.type, 'spec.type', ['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName'], errs);
  oneOf(spec.sessionAffinity, 'spec.sessionAffinity', ['None', 'ClientIP'], errs);
  if (spec.type === 'ExternalName') {
    if (!spec.externalName) errs.push(fe.required('spec.externalName'));
    return;
  }
  const headless = spec.clusterIP === 'None';
  const ports = spec.ports;
  if (ports === undefined || (Array.isArray(ports) && ports.length === 0)) {
    if (!headless) errs.push(fe.required('spec.ports'));
  } else if (!Array.isArray(ports)) {
    errs.push(fe.invalid('spec.ports', ports, 'must be a list'));
  } else {
    const names = new Set<string>();
    ports.forEach((p: Obj, i: number) => {
      const pp = `spec.ports[${i}]`;
      if (!isObject(p)) return errs.push(fe.invalid(pp, p, 'must be a port'));
      port(p.port, `${pp}.port`, errs);
      oneOf(p.protocol, `${pp}.protocol`, ['TCP', 'UDP', 'SCTP'], errs);
      if (ports.length > 1 && !p.name) errs.push(fe.required(`${pp}.name`));
      if (p.name) {
        for (const e of dns1123LabelErrors(String(p.name))) errs.push(fe.invalid(`${pp}.name`, p.name, e));
        if (names.has(p.name)) errs.push(fe.duplicate(`${pp}.name`, p.name));
        names.add(p.name);
      }
      if (typeof p.targetPort === 'number') port(p.targetPort, `${pp}.targetPort`, errs);
      if (p.nodePort !== undefined) {
        if (spec.type !== 'NodePort' && spec.type !== 'LoadBalancer') errs.push(fe.forbidden(`${pp}.nodePort`, 'may not be used when `type` is \'ClusterIP\''));
        else if (typeof p.nodePort !== 'number' || p.nodePort < 30000 || p.nodePort > 32767) {
          errs.push(fe.invalid(`${pp}.nodePort`, p.nodePort, 'provided port is not in the valid range. The range of valid ports is 30000-32767'));
        }
      }
    });
  }
  if (spec.selector !== undefined) validateLabels(spec.selector, 'spec.selector', errs);
}

/** Five cron fields (with ranges, steps, lists, names) or a @macro. */
export function validCron(s: string): boolean {
  let spec = s.trim();
  if (spec.startsWith('TZ=') || spec.startsWith('CRON_TZ=')) spec = spec.slice(spec.indexOf(' ') + 1).trim();
  if (/^@(yearly|annually|monthly|weekly|daily|midnight|hourly)$/.test(spec)) return true;
  if (/^@every\s+\S+$/.test(spec)) return true;
  const fields = spec.split(/\s+/);
  if (fields.length !== 5) return false;
  const names = ['jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec', 'sun|mon|tue|wed|thu|fri|sat'];
  const ranges: [number, number, string?][] = [
    [0, 59],
    [0, 23],
    [1, 31],
    [1, 12, names[0]],
    [0, 7, names[1]],
  ];
  return fields.every((f, i) => {
    const [lo, hi, nm] = ranges[i]!;
    return f.split(',').every((part) => {
      const [rangePart, step] = part.split('/');
      if (step !== undefined && !/^\d+$/.test(step)) return false;
      if (rangePart === '*' || rangePart === '?') return true;
      const bounds = rangePart!.split('-');
      if (bounds.length > 2) return false;
      return bounds.every((b) => {
        if (nm && new RegExp(`^(${nm})$`, 'i').test(b)) return true;
        if (!/^\d+$/.test(b)) return false;
        const n = Number(b);
        return n >= lo && n <= hi;
      });
    });
  });
}

// ---------------------------------------------------------------------------------------------
// updates: immutable fields

function immutable(a: unknown, b: unknown, path: string, errs: FieldError[]): void {
  if (!deepEqual(a, b)) errs.push(fe.invalid(path, a ?? null, 'field is immutable'));
}

function validateUpdate(kind: string, o: KubeObject, old: KubeObject, errs: FieldError[]): void {
  const spec: Obj = isObject(o.spec) ? o.spec : {};
  const oldSpec: Obj = isObject(old.spec) ? old.spec : {};
  switch (kind) {
    case 'Deployment':
    case 'ReplicaSet':
    case 'DaemonSet':
      immutable(spec.selector, oldSpec.selector, 'spec.selector', errs);
      break;
    case 'StatefulSet': {
      const { replicas: _a, template: _b, updateStrategy: _c, persistentVolumeClaimRetentionPolicy: _d, minReadySeconds: _e, ordinals: _f, revisionHistoryLimit: _g, ...rest } = spec;
      const { replicas: _h, template: _i, updateStrategy: _j, persistentVolumeClaimRetentionPolicy: _k, minReadySeconds: _l, ordinals: _m, revisionHistoryLimit: _n, ...oldRest } = oldSpec;
      if (!deepEqual(rest, oldRest)) {
        errs.push(fe.forbidden('spec', "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"));
      }
      break;
    }
    case 'Job':
      immutable(spec.selector, oldSpec.selector, 'spec.selector', errs);
      immutable(spec.template, oldSpec.template, 'spec.template', errs);
      immutable(spec.completions, oldSpec.completions, 'spec.completions', errs);
      immutable(spec.completionMode, oldSpec.completionMode, 'spec.completionMode', errs);
      break;
    case 'Pod':
      validatePodUpdate(spec, oldSpec, errs);
      break;
    case 'Service':
      if (oldSpec.clusterIP && oldSpec.clusterIP !== 'None' && spec.clusterIP !== oldSpec.clusterIP && spec.type !== 'ExternalName') {
        errs.push(fe.invalid('spec.clusterIP', spec.clusterIP ?? '', 'field is immutable'));
      }
      break;
    case 'ConfigMap':
    case 'Secret':
      if (old.immutable === true) {
        if (o.immutable !== true) errs.push(fe.forbidden('immutable', 'field is immutable when `immutable` is set'));
        if (!deepEqual(o.data, old.data) || !deepEqual(o.binaryData, old.binaryData)) errs.push(fe.forbidden('data', 'field is immutable when `immutable` is set'));
      }
      if (kind === 'Secret') immutable(o.type, old.type, 'type', errs);
      break;
    case 'PersistentVolumeClaim': {
      // A claim created without a class may be given one later (retroactive default storage
      // class assignment, Kubernetes 1.28+): the PV controller does that before binding.
      const classUnset = oldSpec.storageClassName === undefined || oldSpec.storageClassName === null;
      const strip = (s: Obj) => ({ ...s, resources: undefined, volumeName: undefined, volumeAttributesClassName: undefined, ...(classUnset ? { storageClassName: undefined } : {}) });
      if (!deepEqual(strip(spec), strip(oldSpec))) errs.push(fe.forbidden('spec', 'spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims'));
      break;
    }
    case 'ControllerRevision':
      immutable(o.data, old.data, 'data', errs);
      break;
  }
}

/** Pods allow only image, activeDeadlineSeconds and added tolerations to change. */
function validatePodUpdate(spec: Obj, old: Obj, errs: FieldError[]): void {
  const mutableView = (s: Obj) => {
    const c = JSON.parse(JSON.stringify(s)) as Obj;
    for (const list of ['containers', 'initContainers']) for (const x of c[list] ?? []) if (isObject(x)) delete x.image;
    delete c.activeDeadlineSeconds;
    delete c.tolerations;
    // The scheduler binds through the binding subresource; an unbound pod may get a node.
    if (!old.nodeName) delete c.nodeName;
    delete c.schedulingGates;
    return c;
  };
  if (!deepEqual(mutableView(spec), mutableView(old))) {
    errs.push(
      fe.forbidden(
        'spec',
        'pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)',
      ),
    );
  }
}
