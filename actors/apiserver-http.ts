/**
 * The Kubernetes REST surface over HTTP: authentication, routing, content negotiation (JSON,
 * YAML bodies; Table and PartialObjectMetadata answers), discovery, OpenAPI, watch streams.
 * Every failure answers with a Status object; nothing a request carries can crash the server.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import { parse as parseYaml } from 'yaml';
import { openApiV3Doc, openApiV3Index } from '../api/openapi.js';
import { applyPatch, patchTypeOf } from '../api/patch.js';
import { decodeProtobufObject } from '../api/protobuf.js';
import { apiGroupDoc, apiGroupListDoc, apiResourceListDoc, apiVersionsDoc, groupVersion, lookupResource, resourceKey, type ResourceInfo } from '../api/registry.js';
import { parseFieldSelector, parseLabelSelector } from '../api/selectors.js';
import { toTable } from '../api/tables.js';
import { ApiError, errors, isObject, type KubeList, type KubeObject, type Status } from '../api/types.js';
import type { EventType, WatchCache, Watcher } from './apiserver-cache.js';
import type { ApiCore, DeleteOptions, FieldValidation, ListOptions } from './apiserver-core.js';
import { KubeletGateway } from './kubelet-gateway.js';

export interface HttpLimits {
  /** Request bodies above this get 413 (Kubernetes' limit is 3 MiB). */
  maxBodyBytes: number;
  /** A watch whose unsent output exceeds this is closed (the client re-watches). */
  maxWatchBufferBytes: number;
  /** Open watches above this get 429. */
  maxWatches: number;
  /** BOOKMARK period for watches that allow them. */
  bookmarkIntervalMs: number;
  /** Watch duration when the client names no timeoutSeconds. */
  defaultWatchTimeoutMs: number;
}

export const DEFAULT_LIMITS: HttpLimits = {
  maxBodyBytes: 3 * 1024 * 1024,
  maxWatchBufferBytes: 16 * 1024 * 1024,
  maxWatches: 10_000,
  bookmarkIntervalMs: 10_000,
  defaultWatchTimeoutMs: 30 * 60 * 1000,
};

export interface HttpDeps {
  core: ApiCore;
  cache: WatchCache;
  token: string;
  /** host:port clients reach the server at. */
  serverAddress: () => string;
  wallNow: () => number;
  ready: () => boolean;
  /** Resolves once the watch cache has caught up with the store's current revision (bounded). */
  waitFresh: () => Promise<void>;
  setTimer: (ms: number, fn: () => void) => number;
  cancelTimer: (id: number) => void;
  log: { warn: (obj: object, msg: string) => void; error: (obj: object, msg: string) => void };
  limits?: Partial<HttpLimits>;
  /** Proxies `pods/{name}/log` to the kubelets and serves metrics.k8s.io from them (absent: neither is served). */
  kubelets?: KubeletGateway;
}

export const VERSION_INFO = {
  major: '1',
  minor: '32',
  gitVersion: 'v1.32.0-actorkube',
  gitCommit: '0000000000000000000000000000000000000000',
  gitTreeState: 'clean',
  buildDate: '2025-01-01T00:00:00Z',
  goVersion: 'go1.23.0',
  compiler: 'gc',
  platform: 'linux/amd64',
};

type Accept = { kind: 'json' } | { kind: 'table'; version: 'v1' | 'v1beta1' } | { kind: 'partial'; version: 'v1' | 'v1beta1' };

/** The first representation in the Accept header we can produce. */
export function negotiate(header: string | undefined): Accept {
  if (!header) return { kind: 'json' };
  for (const range of header.split(',')) {
    const [type, ...paramParts] = range.split(';').map((s) => s.trim());
    const params: Record<string, string> = {};
    for (const p of paramParts) {
      const i = p.indexOf('=');
      if (i > 0) params[p.slice(0, i).trim().toLowerCase()] = p.slice(i + 1).trim();
    }
    const t = (type ?? '').toLowerCase();
    if (t !== 'application/json' && t !== '*/*' && t !== 'application/*') continue;
    const as = params.as;
    if (!as) return { kind: 'json' };
    if (params.g !== 'meta.k8s.io' || (params.v !== 'v1' && params.v !== 'v1beta1')) continue;
    if (as === 'Table') return { kind: 'table', version: params.v };
    if (as === 'PartialObjectMetadata' || as === 'PartialObjectMetadataList') return { kind: 'partial', version: params.v };
  }
  return { kind: 'json' };
}

class BodyTooLarge extends Error {}

function readBody(req: IncomingMessage, max: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > max) return Promise.reject(new BodyTooLarge());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    req.on('data', (c: Buffer) => {
      if (done) return;
      size += c.length;
      if (size > max) {
        done = true;
        reject(new BodyTooLarge());
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (!done) {
        done = true;
        resolve(Buffer.concat(chunks));
      }
    });
    req.on('error', (e) => {
      if (!done) {
        done = true;
        reject(e);
      }
    });
  });
}

/** Decodes a request body (JSON, or YAML where the type says so). Throws 400/415. */
function decodeBody(buf: Buffer, contentType: string | undefined): unknown {
  const type = (contentType ?? 'application/json').split(';')[0]!.trim().toLowerCase();
  if (type === 'application/vnd.kubernetes.protobuf') return decodeProtobufObject(buf);
  const text = buf.toString('utf8');
  if (!text.trim()) throw errors.badRequest('the request body is empty');
  const yaml = type === 'application/yaml' || type === 'application/apply-patch+yaml' || type === 'text/yaml';
  if (!yaml && !type.endsWith('json') && type !== '*/*' && type !== '') throw errors.unsupportedMediaType(type);
  try {
    if (yaml) return parseYaml(text, { maxAliasCount: 100 });
    return JSON.parse(text);
  } catch (err) {
    const msg = (err as Error).message.split('\n')[0];
    throw errors.badRequest(yaml ? `error converting YAML to JSON: ${msg}` : `error decoding request body: invalid JSON: ${msg}`);
  }
}

function send(res: ServerResponse, code: number, body: unknown, warnings: string[] = []): void {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify(body);
  const headers: Record<string, string | string[]> = {
    'Content-Type': 'application/json',
    'Content-Length': String(Buffer.byteLength(text)),
    'Cache-Control': 'no-cache, private',
  };
  if (warnings.length) headers.Warning = warnings.map((w) => `299 - ${JSON.stringify(w)}`);
  res.writeHead(code, headers);
  res.end(text);
}

function sendStatus(res: ServerResponse, s: Status): void {
  send(res, s.code, s);
}

function sendText(res: ServerResponse, code: number, text: string): void {
  if (res.headersSent) return;
  res.writeHead(code, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': String(Buffer.byteLength(text)) });
  res.end(text);
}

/** Whether an Authorization header carries the cluster's bearer token. */
export function bearerMatches(header: string | undefined, token: string): boolean {
  return tokenMatches(header, token);
}

function tokenMatches(header: string | undefined, token: string): boolean {
  if (!header || !header.startsWith('Bearer ')) return false;
  const given = Buffer.from(header.slice('Bearer '.length).trim());
  const want = Buffer.from(token);
  return given.length === want.length && timingSafeEqual(given, want);
}

interface Route {
  r: ResourceInfo;
  namespace?: string;
  name?: string;
  sub?: string;
}

/** Parses `/api/v1/...` and `/apis/<group>/<version>/...` resource paths. */
export function parseResourcePath(path: string): Route | 'discovery' | null {
  let segs: string[];
  try {
    segs = path.split('/').filter(Boolean).map(decodeURIComponent);
  } catch {
    return null; // malformed percent-encoding names nothing
  }
  let group: string;
  let version: string;
  let rest: string[];
  if (segs[0] === 'api' && segs.length >= 2) {
    group = '';
    version = segs[1]!;
    rest = segs.slice(2);
  } else if (segs[0] === 'apis' && segs.length >= 3) {
    group = segs[1]!;
    version = segs[2]!;
    rest = segs.slice(3);
  } else return null;
  if (rest.length === 0) return 'discovery';
  let namespace: string | undefined;
  let parts = rest;
  const nsItself = rest[0] === 'namespaces' && (rest.length <= 2 || (rest.length === 3 && (rest[2] === 'status' || rest[2] === 'finalize')));
  if (rest[0] === 'namespaces' && !nsItself) {
    namespace = rest[1]!;
    parts = rest.slice(2);
  }
  if (parts.length > 3) return null;
  const r = lookupResource(group, version, parts[0]!);
  if (!r) return null;
  if (namespace !== undefined && !r.namespaced) return null;
  const route: Route = { r };
  if (namespace !== undefined) route.namespace = namespace;
  if (parts[1] !== undefined) route.name = parts[1];
  if (parts[2] !== undefined) route.sub = parts[2];
  return route;
}

function boolParam(q: URLSearchParams, name: string): boolean {
  const v = q.get(name);
  return v === 'true' || v === '1';
}

function fieldValidation(q: URLSearchParams): FieldValidation {
  const v = q.get('fieldValidation');
  if (v === null || v === '') return 'Warn';
  if (v === 'Ignore' || v === 'Warn' || v === 'Strict') return v;
  throw errors.badRequest(`fieldValidation must be one of "Ignore", "Warn" or "Strict", got ${JSON.stringify(v)}`);
}

function dryRun(q: URLSearchParams): boolean {
  const v = q.getAll('dryRun');
  for (const x of v) if (x !== 'All') throw errors.badRequest(`invalid dry run option: ${JSON.stringify(x)}; only "All" is supported`);
  return v.length > 0;
}

function intParam(q: URLSearchParams, name: string): number | undefined {
  const v = q.get(name);
  if (v === null || v === '') return undefined;
  if (!/^-?\d+$/.test(v)) throw errors.badRequest(`invalid ${name}: ${JSON.stringify(v)}`);
  return Number(v);
}

function listOptions(q: URLSearchParams): ListOptions {
  const o: ListOptions = {};
  const ls = q.get('labelSelector');
  const fs = q.get('fieldSelector');
  const limit = intParam(q, 'limit');
  const cont = q.get('continue');
  const rv = q.get('resourceVersion');
  const rvm = q.get('resourceVersionMatch');
  if (ls) o.labelSelector = ls;
  if (fs) o.fieldSelector = fs;
  if (limit !== undefined) o.limit = limit;
  if (cont) o.continue = cont;
  if (rv !== null) o.resourceVersion = rv;
  if (rvm) o.resourceVersionMatch = rvm;
  return o;
}

function deleteOptions(q: URLSearchParams, body: unknown): DeleteOptions {
  const o: DeleteOptions = {};
  const b = isObject(body) ? body : {};
  const policy = q.get('propagationPolicy') ?? b.propagationPolicy;
  if (policy !== undefined && policy !== null) {
    if (policy !== 'Background' && policy !== 'Foreground' && policy !== 'Orphan') {
      throw errors.invalid('', 'DeleteOptions', '', [{ type: 'FieldValueNotSupported', field: 'propagationPolicy', value: policy, detail: 'supported values: "Foreground", "Background", "Orphan", nil' }]);
    }
    o.propagationPolicy = policy;
  }
  const grace = intParam(q, 'gracePeriodSeconds') ?? (typeof b.gracePeriodSeconds === 'number' ? b.gracePeriodSeconds : undefined);
  if (grace !== undefined) o.gracePeriodSeconds = Math.max(0, grace);
  const orphan = q.get('orphanDependents') ?? b.orphanDependents;
  if (orphan !== undefined && orphan !== null) o.orphanDependents = orphan === true || orphan === 'true';
  if (isObject(b.preconditions)) o.preconditions = b.preconditions;
  if (dryRun(q) || (Array.isArray(b.dryRun) && b.dryRun.includes('All'))) o.dryRun = true;
  return o;
}

export function createHandler(deps: HttpDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const limits: HttpLimits = { ...DEFAULT_LIMITS, ...(deps.limits ?? {}) };
  let openWatches = 0;

  /** Renders an object or list the way the client asked for. */
  function represent(r: ResourceInfo, value: KubeObject | KubeList, accept: Accept, q: URLSearchParams): unknown {
    const isList = Array.isArray((value as KubeList).items);
    if (accept.kind === 'table') {
      const include = (q.get('includeObject') as 'None' | 'Metadata' | 'Object' | null) ?? 'Metadata';
      const items = isList ? (value as KubeList).items : [value as KubeObject];
      const meta: Record<string, unknown> = isList ? { ...(value as KubeList).metadata } : { resourceVersion: (value as KubeObject).metadata.resourceVersion };
      return toTable(r.kind, items, meta, { includeObject: include, version: accept.version, nowMs: deps.wallNow() });
    }
    if (accept.kind === 'partial') {
      const api = `meta.k8s.io/${accept.version}`;
      const partial = (o: KubeObject) => ({ kind: 'PartialObjectMetadata', apiVersion: api, metadata: o.metadata });
      if (isList) return { kind: 'PartialObjectMetadataList', apiVersion: api, metadata: (value as KubeList).metadata, items: (value as KubeList).items.map(partial) };
      return partial(value as KubeObject);
    }
    return value;
  }

  async function serveWatch(
    req: IncomingMessage,
    res: ServerResponse,
    route: Route,
    q: URLSearchParams,
    accept: Accept,
    convert: (o: KubeObject) => KubeObject = (o) => o,
    apiVersion = groupVersion(route.r),
  ): Promise<void> {
    const { r } = route;
    const labels = parseLabelSelector(q.get('labelSelector'));
    const fields = parseFieldSelector(q.get('fieldSelector'), r.kind);
    if (route.name) fields.push({ field: 'metadata.name', op: '=', value: route.name });
    if (openWatches >= limits.maxWatches) throw errors.tooManyRequests('too many open watches');
    if (!deps.ready()) throw errors.unavailable('the watch cache is not ready yet');
    const rvParam = q.get('resourceVersion') ?? '';
    const sendInitial = q.get('sendInitialEvents') === 'true';
    const bookmarks = boolParam(q, 'allowWatchBookmarks');
    const timeoutSeconds = intParam(q, 'timeoutSeconds');
    let fromRev: number | 'now';
    let initial: boolean;
    if (rvParam === '' || rvParam === '0') {
      // Unset means "from the current state": make sure the cache has caught up with the store.
      if (rvParam === '') await deps.waitFresh();
      fromRev = 'now';
      initial = q.get('sendInitialEvents') !== 'false';
    } else {
      if (!/^\d+$/.test(rvParam)) throw errors.badRequest(`invalid resourceVersion: ${JSON.stringify(rvParam)}`);
      fromRev = Number(rvParam);
      initial = sendInitial;
    }
    let lastRev = fromRev === 'now' ? deps.cache.revision : fromRev;
    let closed = false;
    const timers: number[] = [];
    const asTable = accept.kind === 'table';
    const write = (type: string, object: unknown): boolean => {
      if (closed) return false;
      if (res.writableLength > limits.maxWatchBufferBytes) return false;
      res.write(JSON.stringify({ type, object }) + '\n');
      return true;
    };
    const shape = (o: KubeObject): unknown => (asTable ? toTable(r.kind, [o], { resourceVersion: o.metadata.resourceVersion }, { includeObject: (q.get('includeObject') as 'Metadata') ?? 'Metadata', version: accept.kind === 'table' ? accept.version : 'v1', nowMs: deps.wallNow() }) : accept.kind === 'partial' ? { kind: 'PartialObjectMetadata', apiVersion: `meta.k8s.io/${accept.version}`, metadata: o.metadata } : convert(o));
    const finish = () => {
      if (closed) return;
      closed = true;
      openWatches--;
      for (const t of timers) deps.cancelTimer(t);
      deps.cache.unwatch(watcher);
      if (!res.writableEnded) res.end();
    };
    const watcher: Watcher = {
      rkey: resourceKey(r),
      ...(route.namespace ? { namespace: route.namespace } : {}),
      labels,
      fields,
      deliver(type: EventType, obj: KubeObject, rev: number) {
        if (rev > lastRev) lastRev = rev;
        return write(type, shape(obj));
      },
      close() {
        finish();
      },
    };
    res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private', 'Transfer-Encoding': 'chunked' });
    res.flushHeaders();
    openWatches++;
    // The response's close means the client went away (the request's fires once it is read).
    res.on('close', finish);
    try {
      deps.cache.watch(watcher, fromRev, initial);
    } catch (err) {
      if (err instanceof ApiError) write('ERROR', err.status);
      finish();
      return;
    }
    if (closed) return;
    const bookmark = (initialEnd: boolean) => {
      const rv = String(Math.max(deps.cache.revision, lastRev));
      const metadata: Record<string, unknown> = { resourceVersion: rv };
      if (initialEnd) metadata.annotations = { 'k8s.io/initial-events-end': 'true' };
      if (!write('BOOKMARK', { kind: r.kind, apiVersion, metadata })) finish();
    };
    if (sendInitial && bookmarks) bookmark(true);
    if (bookmarks) {
      const tick = () => {
        if (closed) return;
        bookmark(false);
        timers.push(deps.setTimer(limits.bookmarkIntervalMs, tick));
      };
      timers.push(deps.setTimer(limits.bookmarkIntervalMs, tick));
    }
    const timeoutMs = timeoutSeconds !== undefined && timeoutSeconds > 0 ? timeoutSeconds * 1000 : limits.defaultWatchTimeoutMs;
    timers.push(deps.setTimer(timeoutMs, finish));
  }

  /** GET pods/{name}/log: asks the kubelet of the pod's node; with follow, streams what comes. */
  async function serveLogs(req: IncomingMessage, res: ServerResponse, r: ResourceInfo, ns: string, name: string, q: URLSearchParams): Promise<void> {
    if (req.method !== 'GET') throw errors.methodNotAllowed(req.method ?? '');
    const pod = await deps.core.get(r, ns, name);
    const { text, stream } = await deps.kubelets!.logs(pod, q);
    if (!stream) return sendText(res, 200, text);
    res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-cache, private', 'Transfer-Encoding': 'chunked' });
    if (text) res.write(text);
    else res.flushHeaders();
    res.on('close', () => stream.stop());
    stream.onData((t) => {
      if (res.writableEnded) return;
      if (res.writableLength > limits.maxWatchBufferBytes) {
        stream.stop();
        res.end();
        return;
      }
      res.write(t);
    });
    stream.onEnd(() => {
      if (!res.writableEnded) res.end();
    });
  }

  /**
   * A version served beside the stored one (autoscaling/v1 HPAs): requests convert in, answers
   * convert out; the core only ever sees the stored version.
   */
  async function serveConverted(req: IncomingMessage, res: ServerResponse, route: Route, q: URLSearchParams, accept: Accept): Promise<void> {
    const conv = route.r.conversion!;
    const external = groupVersion(route.r);
    const stored: Route = { ...route, r: conv.storage };
    const { name, sub } = route;
    const ns = route.namespace ?? '';
    const method = req.method ?? 'GET';
    if (sub !== undefined && sub !== 'status') throw errors.notFoundPath();
    const out = (v: KubeObject | KubeList): unknown => {
      if (accept.kind === 'table' || accept.kind === 'partial') return v;
      if (Array.isArray((v as KubeList).items)) return { ...v, apiVersion: external, items: (v as KubeList).items.map((o) => conv.toExternal(o)) };
      return (v as KubeObject).kind === 'Status' ? v : conv.toExternal(v as KubeObject);
    };
    const incoming = (b: unknown): unknown => (isObject(b) && (b.apiVersion === undefined || b.apiVersion === external) ? conv.toInternal(b as KubeObject) : b);
    const body = async (): Promise<unknown> => incoming(decodeBody(await readBody(req, limits.maxBodyBytes), req.headers['content-type']));
    const core = deps.core;
    const r = conv.storage;
    const subOpt = sub === 'status' ? { sub: 'status' as const } : {};
    switch (method) {
      case 'GET': {
        if (name === undefined) {
          if (boolParam(q, 'watch')) return serveWatch(req, res, stored, q, accept, (o) => conv.toExternal(o), external);
          const list = await core.list(r, route.namespace, listOptions(q));
          return send(res, 200, represent(r, out(list) as KubeList, accept, q));
        }
        const rv = q.get('resourceVersion');
        const o = await core.get(r, ns, name, rv !== null ? { resourceVersion: rv } : {});
        return send(res, 200, represent(r, out(o) as KubeObject, accept, q));
      }
      case 'POST': {
        if (name !== undefined) throw errors.methodNotAllowed(method);
        const result = await core.create(r, ns, await body(), { dryRun: dryRun(q), fieldValidation: fieldValidation(q) });
        return send(res, result.code, out(result.value), result.warnings);
      }
      case 'PUT': {
        if (name === undefined) throw errors.methodNotAllowed(method);
        const result = await core.update(r, ns, name, await body(), { dryRun: dryRun(q), fieldValidation: fieldValidation(q), ...subOpt });
        return send(res, result.code, out(result.value), result.warnings);
      }
      case 'PATCH': {
        if (name === undefined) throw errors.methodNotAllowed(method);
        const type = patchTypeOf(req.headers['content-type']);
        if (!type || type === 'apply') throw errors.unsupportedMediaType(String(req.headers['content-type'] ?? 'none'));
        const patch = decodeBody(await readBody(req, limits.maxBodyBytes), req.headers['content-type']);
        // The patch applies to the object as this version shows it; the result is written back
        // with the read's resourceVersion, and a lost race reads again.
        for (let attempt = 0; ; attempt++) {
          const cur = await core.get(r, ns, name);
          const patched = applyPatch(type, conv.toExternal(cur), patch);
          if (!isObject(patched)) throw errors.unprocessable('the patch does not produce an object');
          try {
            const result = await core.update(r, ns, name, conv.toInternal(patched as KubeObject), { dryRun: dryRun(q), fieldValidation: fieldValidation(q), ...subOpt });
            return send(res, result.code, out(result.value), result.warnings);
          } catch (err) {
            const patchedRv = (patched as KubeObject).metadata?.resourceVersion;
            const raced = err instanceof ApiError && err.code === 409 && patchedRv === cur.metadata.resourceVersion;
            if (!raced || attempt >= 4) throw err;
          }
        }
      }
      case 'DELETE':
        return serveResource(req, res, stored, q, accept);
      default:
        throw errors.methodNotAllowed(method);
    }
  }

  async function serveResource(req: IncomingMessage, res: ServerResponse, route: Route, q: URLSearchParams, accept: Accept): Promise<void> {
    if (route.r.conversion) return serveConverted(req, res, route, q, accept);
    const { r, name, sub } = route;
    const ns = route.namespace ?? '';
    const method = req.method ?? 'GET';
    if (r.namespaced && name !== undefined && route.namespace === undefined) throw errors.notFoundPath();
    if (sub === 'log' && r.kind === 'Pod' && name !== undefined && deps.kubelets) return serveLogs(req, res, r, ns, name, q);
    if (sub === 'exec' && r.kind === 'Pod' && name !== undefined) throw errors.badRequest('Upgrade request required');
    if (sub !== undefined && !(r.subresources as string[]).includes(sub)) throw errors.notFoundPath();
    const body = async (): Promise<unknown> => decodeBody(await readBody(req, limits.maxBodyBytes), req.headers['content-type']);
    const core = deps.core;
    switch (method) {
      case 'GET': {
        if (name === undefined) {
          if (boolParam(q, 'watch')) return serveWatch(req, res, route, q, accept);
          const list = await core.list(r, route.namespace, listOptions(q));
          return send(res, 200, represent(r, list, accept, q));
        }
        if (sub === 'scale') return send(res, 200, await core.getScale(r, ns, name));
        if (sub === 'binding' || sub === 'eviction') throw errors.methodNotAllowed(method);
        const rv = q.get('resourceVersion');
        const o = await core.get(r, ns, name, rv !== null ? { resourceVersion: rv } : {});
        return send(res, 200, represent(r, o, accept, q));
      }
      case 'POST': {
        if (name !== undefined) {
          if (sub === 'binding') {
            const s = await core.bind(r, ns, name, await body(), { dryRun: dryRun(q) });
            return send(res, 201, s);
          }
          if (sub === 'eviction') {
            const eviction = await body();
            const opts = deleteOptions(q, isObject(eviction) ? eviction.deleteOptions : undefined);
            return send(res, 201, await core.evict(r, ns, name, eviction, opts));
          }
          throw errors.methodNotAllowed(method);
        }
        const result = await core.create(r, ns, await body(), { dryRun: dryRun(q), fieldValidation: fieldValidation(q) });
        return send(res, result.code, result.value, result.warnings);
      }
      case 'PUT': {
        if (name === undefined || sub === 'binding' || sub === 'eviction') throw errors.methodNotAllowed(method);
        if (sub === 'scale') return send(res, 200, await core.updateScale(r, ns, name, await body(), { dryRun: dryRun(q) }));
        const result = await core.update(r, ns, name, await body(), { dryRun: dryRun(q), fieldValidation: fieldValidation(q), ...(sub === 'status' ? { sub: 'status' as const } : {}) });
        return send(res, result.code, result.value, result.warnings);
      }
      case 'PATCH': {
        if (name === undefined || sub === 'binding' || sub === 'eviction') throw errors.methodNotAllowed(method);
        const type = patchTypeOf(req.headers['content-type']);
        if (!type) throw errors.unsupportedMediaType(String(req.headers['content-type'] ?? 'none'));
        const patch = await body();
        if (sub === 'scale') return send(res, 200, await core.patchScale(r, ns, name, type, patch, { dryRun: dryRun(q) }));
        const result = await core.patch(r, ns, name, type, patch, { dryRun: dryRun(q), fieldValidation: fieldValidation(q), ...(sub === 'status' ? { sub: 'status' as const } : {}) });
        return send(res, result.code, result.value, result.warnings);
      }
      case 'DELETE': {
        const raw = await readBody(req, limits.maxBodyBytes);
        const delBody = raw.toString('utf8').trim() ? decodeBody(raw, req.headers['content-type']) : {};
        const opts = deleteOptions(q, delBody);
        if (name === undefined) {
          const list = await core.deleteCollection(r, route.namespace, listOptions(q), opts);
          return send(res, 200, list);
        }
        if (sub !== undefined) throw errors.methodNotAllowed(method);
        const result = await core.delete(r, ns, name, opts);
        const pending = result.value.kind !== 'Status' && Boolean((result.value as KubeObject).metadata?.deletionTimestamp) && result.code === 200;
        return send(res, pending && !opts.dryRun ? 202 : 200, result.value);
      }
      default:
        throw errors.methodNotAllowed(method);
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://localhost');
    const path = url.pathname.length > 1 ? url.pathname.replace(/\/+$/, '') : url.pathname;
    const q = url.searchParams;
    switch (path) {
      case '/healthz':
      case '/livez':
        return sendText(res, 200, 'ok');
      case '/readyz':
        return deps.ready() ? sendText(res, 200, 'ok') : sendText(res, 500, '[-]watch-cache failed: not ready\nreadyz check failed');
      case '/version':
        return send(res, 200, VERSION_INFO);
    }
    if (!tokenMatches(req.headers.authorization, deps.token)) throw errors.unauthorized();
    if (path === '/api') return send(res, 200, apiVersionsDoc(deps.serverAddress()));
    if (path === '/apis') return send(res, 200, deps.kubelets ? KubeletGateway.withMetricsGroup(apiGroupListDoc()) : apiGroupListDoc());
    if (path === '/openapi/v3') return send(res, 200, openApiV3Index());
    if (path.startsWith('/openapi/v3/')) {
      const doc = openApiV3Doc(path.slice('/openapi/v3/'.length));
      if (!doc) throw errors.notFoundPath();
      return send(res, 200, doc);
    }
    const segs = path.split('/').filter(Boolean);
    if (deps.kubelets && KubeletGateway.isMetricsPath(segs)) {
      if (req.method !== 'GET') throw errors.methodNotAllowed(req.method ?? '');
      return send(res, 200, await deps.kubelets.serveMetrics(segs, q, deps.core));
    }
    if (segs[0] === 'apis' && segs.length === 2) {
      const g = apiGroupDoc(segs[1]!);
      if (!g) throw errors.notFoundPath();
      return send(res, 200, g);
    }
    const route = parseResourcePath(path);
    if (route === 'discovery') {
      const doc = segs[0] === 'api' ? apiResourceListDoc('', segs[1]!) : apiResourceListDoc(segs[1]!, segs[2]!);
      if (!doc) throw errors.notFoundPath();
      return send(res, 200, doc);
    }
    if (!route) throw errors.notFoundPath();
    return serveResource(req, res, route, q, negotiate(req.headers.accept));
  }

  return (req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (err instanceof BodyTooLarge) {
        // Answer, then drain what the client still sends (bounded) and close the connection.
        if (!res.headersSent) res.setHeader('Connection', 'close');
        sendStatus(res, errors.tooLarge(`the request body is larger than ${limits.maxBodyBytes} bytes`).status);
        let drained = 0;
        req.on('data', (c: Buffer) => {
          drained += c.length;
          if (drained > 4 * limits.maxBodyBytes) req.destroy();
        });
        req.resume();
        return;
      }
      if (err instanceof ApiError) {
        if (err.code >= 500) deps.log.warn({ err: err.message, path: req.url, method: req.method }, 'request failed');
        if (res.headersSent) {
          if (!res.writableEnded) res.end();
          return;
        }
        return sendStatus(res, err.status);
      }
      deps.log.error({ err, path: req.url, method: req.method }, 'request handler failed');
      if (res.headersSent) {
        if (!res.writableEnded) res.end();
        return;
      }
      sendStatus(res, errors.internal((err as Error)?.message ?? String(err)).status);
    });
  };
}
