/**
 * The generic object model: every Kubernetes object is plain JSON with `apiVersion`, `kind`,
 * `metadata`, and kind-specific fields (`spec`, `status`, `data`, ...). Nothing here knows
 * about storage or HTTP.
 */

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  /** The store's modRevision of the object, as a decimal string. Opaque to clients. */
  resourceVersion?: string;
  generation?: number;
  /** RFC 3339, seconds precision. */
  creationTimestamp?: string;
  deletionTimestamp?: string;
  deletionGracePeriodSeconds?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  finalizers?: string[];
  managedFields?: unknown[];
  [key: string]: unknown;
}

/** Any object: metadata plus whatever the kind carries. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  spec?: any;
  status?: any;
  [key: string]: any;
}

export interface ListMeta {
  resourceVersion?: string;
  continue?: string;
  remainingItemCount?: number;
}

export interface KubeList {
  apiVersion: string;
  kind: string;
  metadata: ListMeta;
  items: KubeObject[];
}

// ---------------------------------------------------------------------------------------------
// Status: every error the API returns, and the one place their shapes are made.

export type CauseType =
  | 'FieldValueRequired'
  | 'FieldValueInvalid'
  | 'FieldValueNotSupported'
  | 'FieldValueDuplicate'
  | 'FieldValueForbidden'
  | 'FieldValueTooLong'
  | 'FieldValueTypeInvalid'
  | 'FieldValueNotFound';

/** metav1.StatusCause: its Go field `Type` is `reason` on the wire. */
export interface StatusCause {
  reason?: CauseType | string;
  message?: string;
  field?: string;
}

export type StatusReason =
  | 'BadRequest'
  | 'Unauthorized'
  | 'Forbidden'
  | 'NotFound'
  | 'AlreadyExists'
  | 'Conflict'
  | 'Gone'
  | 'Expired'
  | 'Invalid'
  | 'MethodNotAllowed'
  | 'NotAcceptable'
  | 'RequestEntityTooLarge'
  | 'UnsupportedMediaType'
  | 'TooManyRequests'
  | 'InternalError'
  | 'ServiceUnavailable'
  | 'Timeout';

export interface Status {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, unknown>;
  status: 'Failure' | 'Success';
  message?: string;
  reason?: StatusReason;
  details?: { name?: string; group?: string; kind?: string; uid?: string; causes?: StatusCause[]; retryAfterSeconds?: number };
  code: number;
}

/** A Kubernetes API error: thrown by the core, turned into a Status response by the HTTP layer. */
export class ApiError extends Error {
  constructor(readonly status: Status) {
    super(status.message ?? status.reason ?? 'error');
    this.name = 'ApiError';
  }
  get code(): number {
    return this.status.code;
  }
  get reason(): StatusReason | undefined {
    return this.status.reason;
  }
}

function failure(code: number, reason: StatusReason, message: string, details?: Status['details']): ApiError {
  const status: Status = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
  if (details) status.details = details;
  return new ApiError(status);
}

/** `deployments.apps` for a grouped resource, `pods` for a core one. */
export function qualifiedResource(group: string, resource: string): string {
  return group ? `${resource}.${group}` : resource;
}

/** One field error, as Kubernetes' field.Error renders it. */
export interface FieldError {
  type: CauseType;
  field: string;
  /** The offending value (rendered into the message for Invalid / NotSupported / Duplicate). */
  value?: unknown;
  detail?: string;
}

export const fieldErrors = {
  required: (field: string, detail = ''): FieldError => ({ type: 'FieldValueRequired', field, detail }),
  invalid: (field: string, value: unknown, detail: string): FieldError => ({ type: 'FieldValueInvalid', field, value, detail }),
  notSupported: (field: string, value: unknown, supported: string[]): FieldError => ({
    type: 'FieldValueNotSupported',
    field,
    value,
    detail: `supported values: ${supported.map((s) => JSON.stringify(s)).join(', ')}`,
  }),
  duplicate: (field: string, value: unknown): FieldError => ({ type: 'FieldValueDuplicate', field, value }),
  forbidden: (field: string, detail: string): FieldError => ({ type: 'FieldValueForbidden', field, detail }),
  tooLong: (field: string, value: unknown, max: number): FieldError => ({
    type: 'FieldValueTooLong',
    field,
    value,
    detail: `must have at most ${max} bytes`,
  }),
};

function renderValue(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (v === undefined) return 'null';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/** The message of one field error without its field path: `Invalid value: -1: must be ...`. */
export function fieldErrorBody(e: FieldError): string {
  const detail = e.detail ? `: ${e.detail}` : '';
  switch (e.type) {
    case 'FieldValueRequired':
      return `Required value${detail}`;
    case 'FieldValueInvalid':
      return `Invalid value: ${renderValue(e.value)}${detail}`;
    case 'FieldValueNotSupported':
      return `Unsupported value: ${renderValue(e.value)}${detail}`;
    case 'FieldValueDuplicate':
      return `Duplicate value: ${renderValue(e.value)}`;
    case 'FieldValueForbidden':
      return `Forbidden${detail}`;
    case 'FieldValueTooLong':
      return `Too long${detail}`;
    default:
      return `${e.type}${detail}`;
  }
}

export const errors = {
  badRequest: (message: string) => failure(400, 'BadRequest', message),
  unauthorized: () => failure(401, 'Unauthorized', 'Unauthorized'),
  forbidden: (group: string, resource: string, name: string, why: string) =>
    failure(403, 'Forbidden', `${qualifiedResource(group, resource)} "${name}" is forbidden: ${why}`, { name, group, kind: resource }),
  notFound: (group: string, resource: string, name: string) =>
    failure(404, 'NotFound', `${qualifiedResource(group, resource)} "${name}" not found`, { name, group, kind: resource }),
  /** A path that names no resource the server knows. */
  notFoundPath: () => failure(404, 'NotFound', 'the server could not find the requested resource', {}),
  alreadyExists: (group: string, resource: string, name: string) =>
    failure(409, 'AlreadyExists', `${qualifiedResource(group, resource)} "${name}" already exists`, { name, group, kind: resource }),
  conflict: (group: string, resource: string, name: string, why = 'the object has been modified; please apply your changes to the latest version and try again') =>
    failure(409, 'Conflict', `Operation cannot be fulfilled on ${qualifiedResource(group, resource)} "${name}": ${why}`, {
      name,
      group,
      kind: resource,
    }),
  /** 410 Expired: a resourceVersion or continue token older than the kept history. */
  expired: (message: string) => failure(410, 'Expired', message),
  /** 422 Invalid, one cause per field error. `kind` is the object's Kind (`Deployment`). */
  invalid: (group: string, kind: string, name: string, errs: FieldError[]) => {
    const causes: StatusCause[] = errs.map((e) => ({ reason: e.type, message: fieldErrorBody(e), field: e.field }));
    const rendered = errs.map((e) => `${e.field}: ${fieldErrorBody(e)}`);
    const list = rendered.length === 1 ? rendered[0]! : `[${rendered.join(', ')}]`;
    return failure(422, 'Invalid', `${qualifiedResource(group, kind)} "${name}" is invalid: ${list}`, { name, group, kind, causes });
  },
  /** 422 without field causes (a patch that cannot be applied). */
  unprocessable: (message: string) => failure(422, 'Invalid', message),
  methodNotAllowed: (method: string) => failure(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource (${method})`),
  notAcceptable: (message: string) => failure(406, 'NotAcceptable', message),
  tooLarge: (message = 'the request is too large') => failure(413, 'RequestEntityTooLarge', message),
  unsupportedMediaType: (type: string) => failure(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml (got ${type})`),
  tooManyRequests: (message: string) => failure(429, 'TooManyRequests', message, { retryAfterSeconds: 1 }),
  internal: (message: string) => failure(500, 'InternalError', `Internal error occurred: ${message}`),
  unavailable: (message: string) => failure(503, 'ServiceUnavailable', message),
  timeout: (message: string) => failure(504, 'Timeout', message),
};

/** A Success Status (deletecollection of nothing, delete of kinds that answer with a Status). */
export function successStatus(details?: Status['details']): Status {
  const s: Status = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 200 };
  if (details) s.details = details;
  return s;
}

export function isApiError(e: unknown): e is ApiError {
  return e instanceof ApiError;
}

export function isObject(v: unknown): v is Record<string, any> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * A deep copy of plain JSON, equal to `JSON.parse(JSON.stringify(v))` (undefined members dropped,
 * undefined array items and non-finite numbers become null) and four times faster on objects.
 */
export function clone<T>(v: T): T {
  return v === undefined ? v : (cloneJson(v) as T);
}

function cloneJson(v: unknown): unknown {
  if (typeof v !== 'object' || v === null) {
    if (typeof v !== 'number') return v;
    return Number.isFinite(v) ? v + 0 : null; // JSON has no -0, NaN or Infinity
  }
  if (Array.isArray(v)) {
    const n = v.length;
    const out = new Array<unknown>(n);
    for (let i = 0; i < n; i++) {
      const x: unknown = v[i];
      out[i] = x === undefined || typeof x === 'function' || typeof x === 'symbol' ? null : cloneJson(x);
    }
    return out;
  }
  // Dates, typed arrays and the like: whatever JSON makes of them.
  if (Object.getPrototypeOf(v) !== Object.prototype && Object.getPrototypeOf(v) !== null) return JSON.parse(JSON.stringify(v));
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(v)) {
    const x: unknown = (v as Record<string, unknown>)[k];
    if (x === undefined || typeof x === 'function' || typeof x === 'symbol') continue;
    // An own "__proto__" (JSON.parse makes one) stays data, never the prototype.
    if (k === '__proto__') Object.defineProperty(out, k, { value: cloneJson(x), enumerable: true, writable: true, configurable: true });
    else out[k] = cloneJson(x);
  }
  return out;
}

/** Structural equality of plain JSON (key order ignored). */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== 'object') return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!deepEqual(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const ka = Object.keys(a as object).filter((k) => (a as any)[k] !== undefined);
  const kb = Object.keys(b as object).filter((k) => (b as any)[k] !== undefined);
  if (ka.length !== kb.length) return false;
  for (const k of ka) if (!deepEqual((a as any)[k], (b as any)[k])) return false;
  return true;
}
