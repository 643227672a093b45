/**
 * Label selectors (equality- and set-based, the query-string form and the LabelSelector object
 * form) and field selectors, with Kubernetes' grammar and matching rules.
 */
import { ApiError, errors, isObject, type KubeObject } from './types.js';

export type Operator = '=' | '!=' | 'in' | 'notin' | 'exists' | '!' | 'gt' | 'lt';

export interface Requirement {
  key: string;
  op: Operator;
  values: string[];
}

/** A parsed selector; the empty selector matches everything. */
export type LabelSelector = Requirement[];

export interface LabelSelectorObject {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

class Lexer {
  pos = 0;
  constructor(readonly s: string) {}
  skipSpace(): void {
    while (this.pos < this.s.length && /\s/.test(this.s[this.pos]!)) this.pos++;
  }
  eof(): boolean {
    this.skipSpace();
    return this.pos >= this.s.length;
  }
  peek(): string {
    this.skipSpace();
    return this.s[this.pos] ?? '';
  }
  /** A bare word: letters, digits and `-_./`. */
  word(): string {
    this.skipSpace();
    const start = this.pos;
    while (this.pos < this.s.length && /[A-Za-z0-9\-_./]/.test(this.s[this.pos]!)) this.pos++;
    return this.s.slice(start, this.pos);
  }
  eat(tok: string): boolean {
    this.skipSpace();
    if (this.s.startsWith(tok, this.pos)) {
      this.pos += tok.length;
      return true;
    }
    return false;
  }
}

function bad(selector: string, why: string): ApiError {
  return errors.badRequest(`unable to parse requirement: ${why} (in selector ${JSON.stringify(selector)})`);
}

/** Parses `a=b,c!=d,e in (x,y),f notin (z),g,!h`. Throws a 400 ApiError on bad syntax. */
export function parseLabelSelector(s: string | undefined | null): LabelSelector {
  if (!s || !s.trim()) return [];
  const lx = new Lexer(s);
  const reqs: Requirement[] = [];
  for (;;) {
    let req: Requirement;
    if (lx.eat('!')) {
      const key = lx.word();
      if (!key) throw bad(s, 'expected a key after "!"');
      req = { key, op: '!', values: [] };
    } else {
      const key = lx.word();
      if (!key) throw bad(s, `expected a key at position ${lx.pos}`);
      if (lx.eat('==') || lx.eat('=')) req = { key, op: '=', values: [lx.word()] };
      else if (lx.eat('!=')) req = { key, op: '!=', values: [lx.word()] };
      else if (lx.eat('>')) req = { key, op: 'gt', values: [lx.word()] };
      else if (lx.eat('<')) req = { key, op: 'lt', values: [lx.word()] };
      else {
        const save = lx.pos;
        const w = lx.word();
        if (w === 'in' || w === 'notin') {
          if (!lx.eat('(')) throw bad(s, `expected "(" after ${w}`);
          const values: string[] = [];
          if (!lx.eat(')')) {
            for (;;) {
              values.push(lx.word());
              if (lx.eat(')')) break;
              if (!lx.eat(',')) throw bad(s, 'expected "," or ")" in value set');
            }
          }
          req = { key, op: w, values };
        } else {
          lx.pos = save;
          req = { key, op: 'exists', values: [] };
        }
      }
    }
    validateRequirement(s, req);
    reqs.push(req);
    if (lx.eof()) break;
    if (!lx.eat(',')) throw bad(s, `unexpected ${JSON.stringify(lx.peek())} at position ${lx.pos}`);
  }
  return reqs;
}

const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

function validateRequirement(s: string, r: Requirement): void {
  if (qualifiedNameErrors(r.key).length) throw bad(s, `invalid label key ${JSON.stringify(r.key)}`);
  for (const v of r.values) {
    if (v.length > 63 || !LABEL_VALUE.test(v)) throw bad(s, `invalid label value ${JSON.stringify(v)}`);
  }
  if ((r.op === 'gt' || r.op === 'lt') && !/^-?\d+$/.test(r.values[0] ?? '')) throw bad(s, 'for gt/lt the value must be an integer');
}

/** Converts a LabelSelector object (matchLabels + matchExpressions). Throws 400 on a bad operator. */
export function selectorFromObject(sel: LabelSelectorObject | undefined | null): LabelSelector {
  if (!sel) return [];
  const reqs: Requirement[] = [];
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) reqs.push({ key: k, op: '=', values: [String(v)] });
  for (const e of sel.matchExpressions ?? []) {
    switch (e.operator) {
      case 'In':
        reqs.push({ key: e.key, op: 'in', values: [...(e.values ?? [])] });
        break;
      case 'NotIn':
        reqs.push({ key: e.key, op: 'notin', values: [...(e.values ?? [])] });
        break;
      case 'Exists':
        reqs.push({ key: e.key, op: 'exists', values: [] });
        break;
      case 'DoesNotExist':
        reqs.push({ key: e.key, op: '!', values: [] });
        break;
      default:
        throw errors.badRequest(`${JSON.stringify(e.operator)} is not a valid label selector operator`);
    }
  }
  return reqs;
}

/** Whether `labels` satisfy every requirement. */
export function matchesLabels(sel: LabelSelector, labels: Record<string, string> | undefined): boolean {
  const l = labels ?? {};
  for (const r of sel) {
    const has = Object.prototype.hasOwnProperty.call(l, r.key);
    const v = l[r.key];
    switch (r.op) {
      case '=':
        if (!has || v !== r.values[0]) return false;
        break;
      case '!=':
        if (has && v === r.values[0]) return false;
        break;
      case 'in':
        if (!has || !r.values.includes(v!)) return false;
        break;
      case 'notin':
        if (has && r.values.includes(v!)) return false;
        break;
      case 'exists':
        if (!has) return false;
        break;
      case '!':
        if (has) return false;
        break;
      case 'gt':
      case 'lt': {
        if (!has || !/^-?\d+$/.test(v!)) return false;
        const n = Number(v);
        const bound = Number(r.values[0]);
        if (r.op === 'gt' ? !(n > bound) : !(n < bound)) return false;
        break;
      }
    }
  }
  return true;
}

/** The canonical string form (`a=b,c in (x,y)`), as Scale.status.selector carries it. */
export function selectorToString(sel: LabelSelector): string {
  return sel
    .map((r) => {
      switch (r.op) {
        case '=':
          return `${r.key}=${r.values[0]}`;
        case '!=':
          return `${r.key}!=${r.values[0]}`;
        case 'in':
        case 'notin':
          return `${r.key} ${r.op} (${[...r.values].sort().join(',')})`;
        case 'exists':
          return r.key;
        case '!':
          return `!${r.key}`;
        case 'gt':
          return `${r.key}>${r.values[0]}`;
        case 'lt':
          return `${r.key}<${r.values[0]}`;
      }
    })
    .join(',');
}

// ---------------------------------------------------------------------------------------------
// Field selectors

export interface FieldRequirement {
  field: string;
  op: '=' | '!=';
  value: string;
}

export type FieldSelector = FieldRequirement[];

/** Fields every kind supports. */
const COMMON_FIELDS = ['metadata.name', 'metadata.namespace'];

/** Extra selectable fields per kind (what the Kubernetes registries publish). */
const KIND_FIELDS: Record<string, string[]> = {
  Pod: ['spec.nodeName', 'spec.restartPolicy', 'spec.schedulerName', 'spec.serviceAccountName', 'spec.hostNetwork', 'status.phase', 'status.podIP', 'status.nominatedNodeName'],
  Event: [
    'involvedObject.kind',
    'involvedObject.namespace',
    'involvedObject.name',
    'involvedObject.uid',
    'involvedObject.apiVersion',
    'involvedObject.resourceVersion',
    'involvedObject.fieldPath',
    'reason',
    'reportingComponent',
    'source',
    'type',
  ],
  Secret: ['type'],
  Namespace: ['status.phase'],
  Node: ['spec.unschedulable'],
  ReplicaSet: ['status.replicas'],
  ReplicationController: ['status.replicas'],
  Job: ['status.successful'],
};

/** Parses `metadata.name=x,spec.nodeName!=`. Throws 400 for syntax errors and unsupported fields. */
export function parseFieldSelector(s: string | undefined | null, kind: string): FieldSelector {
  if (!s || !s.trim()) return [];
  const allowed = new Set([...COMMON_FIELDS, ...(KIND_FIELDS[kind] ?? [])]);
  const out: FieldSelector = [];
  for (const part of s.split(',')) {
    const term = part.trim();
    if (!term) continue;
    const m = /^([^=!]+?)\s*(==|=|!=)\s*(.*)$/.exec(term);
    if (!m) throw errors.badRequest(`invalid selector: '${s}'; can't understand '${term}'`);
    const field = m[1]!.trim();
    if (!allowed.has(field)) throw errors.badRequest(`field label not supported: ${field}`);
    out.push({ field, op: m[2] === '!=' ? '!=' : '=', value: m[3]!.trim() });
  }
  return out;
}

/** The value of a selectable field on an object, as a string ('' when absent). */
const FIELD_PATHS = new Map<string, string[]>();

export function fieldValue(obj: KubeObject, field: string): string {
  if (field === 'source') return String(obj.source?.component ?? obj.reportingController ?? '');
  let path = FIELD_PATHS.get(field);
  if (path === undefined) {
    path = field.split('.');
    if (FIELD_PATHS.size < 1_000) FIELD_PATHS.set(field, path);
  }
  let cur: unknown = obj;
  for (const p of path) {
    if (!isObject(cur)) return '';
    cur = cur[p];
  }
  if (cur === undefined || cur === null) return field === 'spec.unschedulable' || field === 'spec.hostNetwork' ? 'false' : '';
  return String(cur);
}

export function matchesFields(sel: FieldSelector, obj: KubeObject): boolean {
  for (const r of sel) {
    const v = fieldValue(obj, r.field);
    if (r.op === '=' ? v !== r.value : v === r.value) return false;
  }
  return true;
}

/** The single metadata.name a field selector pins, if any (lets a list read one key). */
export function pinnedName(sel: FieldSelector): string | undefined {
  return sel.find((r) => r.field === 'metadata.name' && r.op === '=')?.value;
}

export function pinnedNamespace(sel: FieldSelector): string | undefined {
  return sel.find((r) => r.field === 'metadata.namespace' && r.op === '=')?.value;
}

// ---------------------------------------------------------------------------------------------
// Name rules (here because label keys are qualified names)

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;

export function dns1123LabelErrors(v: string): string[] {
  const out: string[] = [];
  if (v.length > 63) out.push('must be no more than 63 characters');
  if (!DNS1123_LABEL.test(v)) {
    out.push(
      "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
    );
  }
  return out;
}

export function dns1123SubdomainErrors(v: string): string[] {
  const out: string[] = [];
  if (v.length > 253) out.push('must be no more than 253 characters');
  if (!DNS1123_SUBDOMAIN.test(v)) {
    out.push(
      "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
    );
  }
  return out;
}

export function dns1035LabelErrors(v: string): string[] {
  const out: string[] = [];
  if (v.length > 63) out.push('must be no more than 63 characters');
  if (!DNS1035_LABEL.test(v)) {
    out.push(
      "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')",
    );
  }
  return out;
}

/** `prefix/name` with a DNS subdomain prefix and a 63-character name. */
export function qualifiedNameErrors(v: string): string[] {
  const parts = v.split('/');
  let name = v;
  const out: string[] = [];
  if (parts.length === 2) {
    const [prefix, n] = parts as [string, string];
    if (!prefix) out.push('prefix part must be non-empty');
    else out.push(...dns1123SubdomainErrors(prefix).map((e) => `prefix part ${e}`));
    name = n;
  } else if (parts.length > 2) {
    return ["a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character, with an optional DNS subdomain prefix and '/'"];
  }
  if (!name) out.push('name part must be non-empty');
  else if (name.length > 63) out.push('name part must be no more than 63 characters');
  else if (!QUALIFIED_NAME.test(name)) {
    out.push(
      "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
    );
  }
  return out;
}

export function labelValueErrors(v: string): string[] {
  const out: string[] = [];
  if (v.length > 63) out.push('must be no more than 63 characters');
  if (!LABEL_VALUE.test(v)) {
    out.push(
      "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
    );
  }
  return out;
}
