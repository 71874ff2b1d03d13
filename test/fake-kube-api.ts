import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { matchesLabels, parseLabelSelector } from './label-selector.ts';
import type { Requirement } from './label-selector.ts';

/** The verbs the fake tells apart, as RBAC names them. */
export type Verb = 'list' | 'watch' | 'get' | 'create' | 'update' | 'patch';
/** The resources the fake serves. */
export type Resource = 'configmaps' | 'events' | 'leases' | 'endpointslices';

/** What the fake answered, for assertions on how the client behaved. */
export interface RecordedRequest {
  readonly verb: Verb | 'other';
  /** Undefined for a path the fake does not serve. */
  readonly resource?: Resource;
  /** The object's name for get, update and patch (and create, once the body is read). */
  readonly name?: string;
  readonly method: string;
  readonly path: string;
  readonly query: Readonly<Record<string, string>>;
  readonly status: number;
}

/** A posted core/v1 Event, as the client sent it. */
export interface RecordedEvent {
  readonly type: string;
  readonly reason: string;
  readonly message: string;
  readonly involvedObject: { kind?: string; name?: string; namespace?: string; uid?: string };
  readonly [field: string]: unknown;
}

export interface ObjectMeta {
  name: string;
  namespace: string;
  uid: string;
  resourceVersion: string;
  /** metav1.Time: RFC 3339, whole seconds, UTC. */
  creationTimestamp: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface ConfigMapObject {
  apiVersion: 'v1';
  kind: 'ConfigMap';
  metadata: ObjectMeta;
  data: Record<string, string>;
}

/**
 * The spec of a coordination.k8s.io/v1 Lease as the server stores and returns it: acquireTime
 * and renewTime are metav1.MicroTime, always `YYYY-MM-DDTHH:MM:SS.ffffffZ` (six digits, UTC).
 */
export interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
  preferredHolder?: string;
  strategy?: string;
}

export interface LeaseObject {
  apiVersion: 'coordination.k8s.io/v1';
  kind: 'Lease';
  metadata: ObjectMeta;
  spec: LeaseSpec;
}

/** What setLease takes: times as a Date or a MicroTime string. */
export type LeaseSpecInput = Omit<LeaseSpec, 'acquireTime' | 'renewTime'> & {
  acquireTime?: string | Date;
  renewTime?: string | Date;
};

/** A discovery.k8s.io/v1 endpoint, as a test hands it to setEndpointSlice. */
export interface SliceEndpoint {
  addresses: string[];
  conditions?: { ready?: boolean; serving?: boolean; terminating?: boolean };
  nodeName?: string;
  targetRef?: { kind: string; name: string; namespace?: string };
}

export interface SlicePort {
  name?: string;
  port?: number;
  protocol?: string;
  appProtocol?: string;
}

export interface EndpointSliceObject {
  apiVersion: 'discovery.k8s.io/v1';
  kind: 'EndpointSlice';
  metadata: ObjectMeta;
  addressType: 'IPv4' | 'IPv6' | 'FQDN';
  /** null when empty, as the real server writes it (a Service scaled to zero). */
  endpoints: SliceEndpoint[] | null;
  ports: SlicePort[] | null;
}

/** What setEndpointSlice takes: the Service's name becomes the kubernetes.io/service-name label. */
export interface EndpointSliceInput {
  readonly service: string;
  readonly addressType?: 'IPv4' | 'IPv6' | 'FQDN';
  readonly endpoints: SliceEndpoint[];
  readonly ports: SlicePort[];
  /** Extra labels (the service-name label is always set from `service`). */
  readonly labels?: Record<string, string>;
}

type Watched = ConfigMapObject | EndpointSliceObject;

interface HistoryEntry {
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED';
  readonly object: Watched;
  readonly rv: number;
  /** A MODIFIED object as it was: a watch it leaves by its labels gets DELETED, one it enters ADDED. */
  readonly previous?: Watched;
}

interface OpenWatch {
  readonly kind: Watched['kind'];
  readonly namespace: string;
  readonly name: string | undefined;
  readonly labels: readonly Requirement[];
  readonly res: http.ServerResponse;
}

export interface FakeKubeApi {
  readonly url: string;
  readonly token: string;
  readonly requests: RecordedRequest[];
  readonly events: RecordedEvent[];
  /**
   * Creates or modifies a ConfigMap; open watches get ADDED or MODIFIED. Annotations left
   * undefined keep the ones the ConfigMap has (an edit of its data only).
   */
  setConfigMap(
    namespace: string,
    name: string,
    data: Record<string, string>,
    annotations?: Record<string, string>,
  ): void;
  deleteConfigMap(namespace: string, name: string): void;
  /**
   * Creates or replaces an EndpointSlice (labelled kubernetes.io/service-name=SERVICE); open
   * watches whose label selector matches get ADDED or MODIFIED.
   */
  setEndpointSlice(namespace: string, name: string, slice: EndpointSliceInput): void;
  /** Deletes an EndpointSlice; matching watches get DELETED. */
  deleteEndpointSlice(namespace: string, name: string): void;
  /** A copy of the stored ConfigMap, as a GET would return it; undefined if absent. */
  getConfigMap(namespace: string, name: string): ConfigMapObject | undefined;
  /**
   * Creates or replaces a Lease the way the Helm chart pre-creates it (a new resourceVersion
   * either way) and returns a copy of it. Times may be Dates or MicroTime strings; a string in
   * another format throws, as the real server would refuse it.
   */
  setLease(
    namespace: string,
    name: string,
    spec?: LeaseSpecInput,
    annotations?: Record<string, string>,
  ): LeaseObject;
  /** A copy of the stored Lease, as a GET would return it; undefined if absent. */
  getLease(namespace: string, name: string): LeaseObject | undefined;
  /**
   * Expires every resourceVersion seen so far, like an etcd compaction: open watches get an
   * ERROR event with a 410 Status and are closed; a watch resuming from an older version gets
   * the same ERROR (mode 'event') or an HTTP 410 (mode 'http'). A fresh list works.
   */
  compact(mode?: 'event' | 'http'): void;
  /** Destroys the connections of open watches without a word (a load balancer's idle cut). */
  dropWatches(): void;
  /**
   * The next `times` requests with this verb (on this resource, or on any when it is left out)
   * get 403 Forbidden with a Status body, as RBAC would answer. Setting it again replaces the
   * count for that verb and resource; times 0 clears it.
   */
  forbid(verb: Verb, times: number, resource?: Resource): void;
  /** While on, such requests are accepted and never answered (a silent stall). */
  stall(verbs: { list?: boolean; watch?: boolean }): void;
  openWatches(): number;
  /** Writes a kubeconfig for this server (plain http, bearer token) and returns its path. */
  writeKubeconfig(dir: string, namespace?: string): Promise<string>;
  close(): Promise<void>;
}

const API_GROUP: Record<Resource, string> = {
  configmaps: '',
  events: '',
  leases: 'coordination.k8s.io',
  endpointslices: 'discovery.k8s.io',
};
/** How the server names a resource in messages: `leases.coordination.k8s.io`, `configmaps`. */
const qualified = (resource: Resource) =>
  API_GROUP[resource] === '' ? resource : `${resource}.${API_GROUP[resource]}`;

const RFC3339_MICRO = '2006-01-02T15:04:05.000000Z07:00';
const MICRO_TIME = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\.(\d{6})(Z|[+-]\d{2}:\d{2})$/;

/**
 * metav1.MicroTime as the API server parses it: Go's time.Parse with RFC3339Micro, which wants
 * exactly six fractional digits (a Date's toISOString(), with three, is refused), and written
 * back in UTC. Returns the canonical string, or an error message worded like the server's.
 */
function parseMicroTime(value: unknown): { time: string } | { error: string } {
  if (typeof value !== 'string') return { error: `expected a string, got ${typeof value}` };
  const m = MICRO_TIME.exec(value);
  const seconds = m === null ? Number.NaN : Date.parse(`${m[1]}${m[3]}`);
  if (m === null || Number.isNaN(seconds)) {
    return { error: `parsing time ${JSON.stringify(value)} as ${JSON.stringify(RFC3339_MICRO)}` };
  }
  return { time: `${new Date(seconds).toISOString().slice(0, 19)}.${m[2]}Z` };
}

/** A Date as MicroTime (what client-node's V1MicroTime.toISOString() sends). */
const microTimeOf = (date: Date) => `${date.toISOString().slice(0, -1)}000Z`;
/** metav1.Time: whole seconds. */
const timeNow = () => `${new Date().toISOString().slice(0, 19)}Z`;

/** RFC 7386 JSON merge patch. */
function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const result: Record<string, unknown> =
    target !== null && typeof target === 'object' && !Array.isArray(target)
      ? { ...(target as Record<string, unknown>) }
      : {};
  for (const [key, value] of Object.entries(patch as Record<string, unknown>)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key], value);
  }
  return result;
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

/** A map of strings, or undefined when empty (the server omits empty maps). */
function stringMap(value: unknown, field: string): Record<string, string> | undefined | Error {
  if (value === undefined || value === null) return undefined;
  if (!isRecord(value)) return new Error(`${field}: expected an object`);
  for (const [k, v] of Object.entries(value))
    if (typeof v !== 'string') return new Error(`${field}.${k}: expected a string`);
  return Object.keys(value).length === 0 ? undefined : { ...(value as Record<string, string>) };
}

type Stored = ConfigMapObject | LeaseObject;
class HttpError extends Error {
  readonly code: number;
  readonly reason: string;
  readonly details: Record<string, string> | undefined;
  constructor(code: number, reason: string, message: string, details?: Record<string, string>) {
    super(message);
    this.code = code;
    this.reason = reason;
    this.details = details;
  }
}

/**
 * A Kubernetes API server at the HTTP protocol level, enough for @kubernetes/client-node:
 * ConfigMaps (list, watch with fieldSelector=metadata.name=NAME, get, create, update, merge
 * patch), core/v1 Event creates, coordination.k8s.io/v1 Leases (get, list, create, update,
 * merge or JSON patch), and discovery.k8s.io/v1 EndpointSlices (list and watch with a
 * labelSelector, equality or set-based; changed through setEndpointSlice and
 * deleteEndpointSlice, in the same history as ConfigMaps). One global resourceVersion counter; update and patch take the body's
 * metadata.resourceVersion as a precondition (409 Conflict when stale). As each kind's strategy
 * in the real server: a ConfigMap update without a resourceVersion is unconditional and one to
 * an absent ConfigMap is 404, while a Lease update without one is 422 Invalid and one to an
 * absent Lease creates it (201). A no-op update keeps the resourceVersion. A change to a
 * ConfigMap by any route goes into the history watches resume from. Bearer-token auth, and knobs for the failures a real
 * cluster produces.
 */
export async function startFakeKubeApi(token = 'fake-token'): Promise<FakeKubeApi> {
  let rv = 100;
  let compactedRv = 0;
  let compactMode: 'event' | 'http' = 'event';
  let uidCounter = 0;
  const stalled = { list: false, watch: false };
  const configMaps = new Map<string, ConfigMapObject>();
  const leases = new Map<string, LeaseObject>();
  const slices = new Map<string, EndpointSliceObject>();
  const history: HistoryEntry[] = [];
  const watches = new Set<OpenWatch>();
  const stalledResponses = new Set<http.ServerResponse>();
  /** Keyed `verb` (any resource) or `verb/resource`. */
  const forbidden = new Map<string, number>();
  const requests: RecordedRequest[] = [];
  const events: RecordedEvent[] = [];
  const keyOf = (namespace: string, name: string) => `${namespace}/${name}`;
  const newUid = () => `uid-${++uidCounter}`;

  const sendJson = (res: http.ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const statusBody = (
    code: number,
    reason: string,
    message: string,
    details?: Record<string, string>,
  ) => ({
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    ...(details === undefined ? {} : { details }),
    code,
  });
  const writeEvent = (res: http.ServerResponse, type: string, object: unknown) => {
    res.write(`${JSON.stringify({ type, object })}\n`);
  };
  const matches = (watch: OpenWatch, object: Watched) =>
    watch.kind === object.kind &&
    watch.namespace === object.metadata.namespace &&
    (watch.name === undefined || watch.name === object.metadata.name) &&
    matchesLabels(watch.labels, object.metadata.labels);
  const publish = (entry: HistoryEntry) => {
    history.push(entry);
    const { previous } = entry;
    for (const watch of watches) {
      const now = matches(watch, entry.object);
      const before = previous !== undefined && matches(watch, previous);
      // As the real server's watch cache does for a label selector: a slice relabelled out of
      // it is DELETED (with its old labels), one relabelled into it is ADDED.
      if (now && entry.type === 'MODIFIED' && previous !== undefined && !before) {
        writeEvent(watch.res, 'ADDED', entry.object);
      } else if (now) writeEvent(watch.res, entry.type, entry.object);
      else if (before) {
        const gone = {
          ...previous,
          metadata: {
            ...previous.metadata,
            resourceVersion: entry.object.metadata.resourceVersion,
          },
        };
        writeEvent(watch.res, 'DELETED', gone);
      }
    }
  };
  const copy = <T>(object: T): T => structuredClone(object);

  /** Stores a ConfigMap (new or replacing one) with a new resourceVersion and publishes it. */
  const storeConfigMap = (object: ConfigMapObject, existed: boolean) => {
    object.metadata.resourceVersion = String(++rv);
    configMaps.set(keyOf(object.metadata.namespace, object.metadata.name), object);
    publish({ type: existed ? 'MODIFIED' : 'ADDED', object: copy(object), rv });
    return copy(object);
  };
  const storeLease = (object: LeaseObject) => {
    object.metadata.resourceVersion = String(++rv);
    leases.set(keyOf(object.metadata.namespace, object.metadata.name), object);
    return copy(object);
  };

  const detailsOf = (resource: Resource, name: string) => ({
    name,
    ...(API_GROUP[resource] === '' ? {} : { group: API_GROUP[resource] }),
    kind: resource,
  });
  const notFound = (resource: Resource, name: string) =>
    new HttpError(
      404,
      'NotFound',
      `${qualified(resource)} "${name}" not found`,
      detailsOf(resource, name),
    );
  const badRequest = (message: string) => new HttpError(400, 'BadRequest', message);
  /** 422 Invalid, worded like apierrors.NewInvalid. */
  const invalid = (resource: Resource, name: string, field: string, why: string) =>
    new HttpError(422, 'Invalid', `${qualified(resource)} "${name}" is invalid: ${field}: ${why}`, {
      ...detailsOf(resource, name),
    });
  const kindOf = (resource: Resource) => (resource === 'leases' ? 'Lease' : 'ConfigMap');

  /**
   * The user-settable part of a ConfigMap or Lease body, validated and normalised as the server
   * decodes it (MicroTime strictly). `base` supplies the server-managed metadata.
   */
  const decodeObject = (
    resource: 'configmaps' | 'leases',
    body: unknown,
    base: ObjectMeta,
  ): Stored => {
    const kind = kindOf(resource);
    const cannot = (why: string) =>
      badRequest(`${kind} in version "v1" cannot be handled as a ${kind}: ${why}`);
    if (!isRecord(body)) throw cannot('expected a JSON object');
    const meta = isRecord(body.metadata) ? body.metadata : {};
    const labels = stringMap(meta.labels, 'metadata.labels');
    const annotations = stringMap(meta.annotations, 'metadata.annotations');
    if (labels instanceof Error) throw cannot(labels.message);
    if (annotations instanceof Error) throw cannot(annotations.message);
    const metadata: ObjectMeta = {
      ...base,
      ...(labels === undefined ? {} : { labels }),
      ...(annotations === undefined ? {} : { annotations }),
    };
    if (resource === 'configmaps') {
      const data = stringMap(body.data, 'data');
      if (data instanceof Error) throw cannot(data.message);
      return { apiVersion: 'v1', kind: 'ConfigMap', metadata, data: data ?? {} };
    }
    const rawSpec = body.spec ?? {};
    if (!isRecord(rawSpec)) throw cannot('spec: expected an object');
    const spec: LeaseSpec = {};
    for (const [field, value] of Object.entries(rawSpec)) {
      if (value === null) continue;
      switch (field) {
        case 'acquireTime':
        case 'renewTime': {
          const parsed = parseMicroTime(value);
          if ('error' in parsed) throw cannot(parsed.error);
          spec[field] = parsed.time;
          break;
        }
        case 'leaseDurationSeconds':
        case 'leaseTransitions':
          if (!Number.isInteger(value)) throw cannot(`spec.${field}: expected an integer`);
          spec[field] = value as number;
          break;
        case 'holderIdentity':
        case 'preferredHolder':
        case 'strategy':
          if (typeof value !== 'string') throw cannot(`spec.${field}: expected a string`);
          spec[field] = value;
          break;
        default: // unknown fields are dropped, as the server does without strict validation
      }
    }
    // ValidateLeaseSpec.
    const leaseInvalid = (field: string, value: number, why: string) =>
      new HttpError(
        422,
        'Invalid',
        `Lease.coordination.k8s.io "${base.name}" is invalid: spec.${field}: Invalid value: ${value}: ${why}`,
        { name: base.name, group: 'coordination.k8s.io', kind: 'Lease' },
      );
    if (spec.leaseDurationSeconds !== undefined && spec.leaseDurationSeconds <= 0)
      throw leaseInvalid(
        'leaseDurationSeconds',
        spec.leaseDurationSeconds,
        'must be greater than 0',
      );
    if (spec.leaseTransitions !== undefined && spec.leaseTransitions < 0)
      throw leaseInvalid(
        'leaseTransitions',
        spec.leaseTransitions,
        'must be greater than or equal to 0',
      );
    return { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata, spec };
  };

  const lookup = (resource: 'configmaps' | 'leases', namespace: string, name: string) =>
    (resource === 'configmaps' ? configMaps : leases).get(keyOf(namespace, name));

  const create = (resource: 'configmaps' | 'leases', namespace: string, body: unknown) => {
    const meta = isRecord(body) && isRecord(body.metadata) ? body.metadata : {};
    const name = typeof meta.name === 'string' ? meta.name : '';
    if (name === '') {
      throw new HttpError(
        422,
        'Invalid',
        `${kindOf(resource)} "" is invalid: metadata.name: Required value: name or generateName is required`,
        { kind: kindOf(resource) },
      );
    }
    if (meta.namespace !== undefined && meta.namespace !== namespace) {
      throw badRequest(
        'the namespace of the provided object does not match the namespace sent on the request',
      );
    }
    if (lookup(resource, namespace, name) !== undefined) {
      throw new HttpError(
        409,
        'AlreadyExists',
        `${qualified(resource)} "${name}" already exists`,
        detailsOf(resource, name),
      );
    }
    const object = decodeObject(resource, body, {
      name,
      namespace,
      uid: newUid(),
      resourceVersion: '',
      creationTimestamp: timeNow(),
    });
    return object.kind === 'ConfigMap' ? storeConfigMap(object, false) : storeLease(object);
  };

  /** PUT semantics: a full replacement, conditional on metadata.resourceVersion when set. */
  const update = (
    resource: 'configmaps' | 'leases',
    namespace: string,
    name: string,
    body: unknown,
  ) => {
    const meta = isRecord(body) && isRecord(body.metadata) ? body.metadata : {};
    // The body is decoded (400 on a malformed MicroTime) before any precondition is checked.
    decodeObject(resource, body, {
      name,
      namespace,
      uid: '',
      resourceVersion: '',
      creationTimestamp: '',
    });
    if (meta.name !== name) {
      throw badRequest(
        `the name of the object (${String(meta.name ?? '')}) does not match the name on the URL (${name})`,
      );
    }
    if (meta.namespace !== undefined && meta.namespace !== namespace) {
      throw badRequest(
        'the namespace of the provided object does not match the namespace sent on the request',
      );
    }
    const existing = lookup(resource, namespace, name);
    if (existing === undefined) {
      // Leases allow create on update (their strategy's AllowCreateOnUpdate); ConfigMaps do not.
      if (resource === 'leases') return { status: 201, object: create(resource, namespace, body) };
      throw notFound(resource, name);
    }
    const conflict = (why: string) =>
      new HttpError(
        409,
        'Conflict',
        `Operation cannot be fulfilled on ${qualified(resource)} "${name}": ${why}`,
        detailsOf(resource, name),
      );
    if (meta.uid !== undefined && meta.uid !== '' && meta.uid !== existing.metadata.uid) {
      throw conflict(
        `Precondition failed: UID in precondition: ${String(meta.uid)}, UID in object meta: ${existing.metadata.uid}`,
      );
    }
    const wanted = meta.resourceVersion;
    if ((wanted === undefined || wanted === '') && resource === 'leases') {
      // ConfigMaps allow an unconditional update (no resourceVersion); Leases do not.
      throw invalid(
        resource,
        name,
        'metadata.resourceVersion',
        'Invalid value: 0: must be specified for an update',
      );
    }
    if (wanted !== undefined && wanted !== '' && wanted !== existing.metadata.resourceVersion) {
      throw conflict(
        'the object has been modified; please apply your changes to the latest version and try again',
      );
    }
    const object = decodeObject(resource, body, {
      name,
      namespace,
      uid: existing.metadata.uid,
      resourceVersion: existing.metadata.resourceVersion,
      creationTimestamp: existing.metadata.creationTimestamp,
    });
    // A no-op update writes nothing: same resourceVersion, no watch event (as etcd3 storage).
    if (isDeepStrictEqual(object, existing)) return { status: 200, object: copy(existing) };
    return {
      status: 200,
      object: object.kind === 'ConfigMap' ? storeConfigMap(object, true) : storeLease(object),
    };
  };

  const readBody = (req: http.IncomingMessage) =>
    new Promise<string>((resolve, reject) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => resolve(Buffer.concat(chunks).toString()));
      req.on('error', reject);
    });
  const parseJson = (text: string): unknown => {
    try {
      return JSON.parse(text) as unknown;
    } catch (error) {
      throw badRequest(`invalid JSON in the request body: ${(error as Error).message}`);
    }
  };

  /** RFC 6902 JSON patch: add, remove, replace and test (what clients send in practice). */
  const jsonPatch = (target: unknown, ops: unknown): unknown => {
    if (!Array.isArray(ops)) throw badRequest('a JSON patch must be an array of operations');
    const doc = { root: copy(target) } as Record<string, unknown>;
    for (const op of ops as unknown[]) {
      if (!isRecord(op) || typeof op.path !== 'string' || typeof op.op !== 'string') {
        throw badRequest('a JSON patch operation needs "op" and "path"');
      }
      const tokens = op.path === '' ? [] : op.path.slice(1).split('/');
      const keys = ['root', ...tokens.map((t) => t.replaceAll('~1', '/').replaceAll('~0', '~'))];
      const last = keys.pop() as string;
      let parent: unknown = doc;
      for (const key of keys) parent = isRecord(parent) ? parent[key] : undefined;
      const invalid = (why: string) => new HttpError(422, 'Invalid', `${op.op} ${op.path}: ${why}`);
      if (!isRecord(parent)) throw invalid('missing path');
      switch (op.op) {
        case 'add':
          parent[last] = copy(op.value);
          break;
        case 'replace':
        case 'remove':
          if (!(last in parent)) throw invalid('missing path');
          if (op.op === 'remove') delete parent[last];
          else parent[last] = copy(op.value);
          break;
        case 'test':
          if (!isDeepStrictEqual(parent[last], op.value)) throw invalid('test failed');
          break;
        default:
          throw invalid('unsupported operation');
      }
    }
    return doc.root;
  };

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://fake');
    const query = Object.fromEntries(url.searchParams);
    const isWatch = query.watch === 'true' || query.watch === '1';
    const route =
      /^\/api\/v1\/namespaces\/([^/]+)\/(configmaps|events)(?:\/([^/]+))?$/.exec(url.pathname) ??
      /^\/apis\/coordination\.k8s\.io\/v1\/namespaces\/([^/]+)\/(leases)(?:\/([^/]+))?$/.exec(
        url.pathname,
      ) ??
      /^\/apis\/discovery\.k8s\.io\/v1\/namespaces\/([^/]+)\/(endpointslices)(?:\/([^/]+))?$/.exec(
        url.pathname,
      );
    const resource = route?.[2] as Resource | undefined;
    const namespace = decodeURIComponent(route?.[1] ?? '');
    const name = route?.[3] === undefined ? undefined : decodeURIComponent(route[3]);
    const verb: RecordedRequest['verb'] =
      route === null || (resource === 'events' && name !== undefined)
        ? 'other'
        : name === undefined
          ? req.method === 'POST'
            ? 'create'
            : req.method === 'GET' && resource !== 'events'
              ? isWatch
                ? 'watch'
                : 'list'
              : 'other'
          : req.method === 'GET'
            ? 'get'
            : req.method === 'PUT'
              ? 'update'
              : req.method === 'PATCH'
                ? 'patch'
                : 'other';
    let recordedName = name;
    const record = (status: number) =>
      requests.push({
        verb,
        ...(resource === undefined ? {} : { resource }),
        ...(recordedName === undefined ? {} : { name: recordedName }),
        method: req.method ?? '',
        path: url.pathname,
        query,
        status,
      });
    const fail = (error: HttpError) => {
      record(error.code);
      sendJson(res, error.code, statusBody(error.code, error.reason, error.message, error.details));
    };

    if (req.headers.authorization !== `Bearer ${token}`) {
      record(401);
      return sendJson(res, 401, statusBody(401, 'Unauthorized', 'Unauthorized'));
    }
    if (verb !== 'other' && resource !== undefined) {
      const key = [`${verb}/${resource}`, verb].find((k) => (forbidden.get(k) ?? 0) > 0);
      if (key !== undefined) {
        forbidden.set(key, (forbidden.get(key) ?? 0) - 1);
        const what = name === undefined ? qualified(resource) : `${qualified(resource)} "${name}"`;
        return fail(
          new HttpError(
            403,
            'Forbidden',
            `${what} is forbidden: User "system:serviceaccount:${namespace}:reverse-proxy" ` +
              `cannot ${verb} resource "${resource}" in API group "${API_GROUP[resource]}" ` +
              `in the namespace "${namespace}"`,
            {
              ...(name === undefined ? {} : { name }),
              ...(API_GROUP[resource] === '' ? {} : { group: API_GROUP[resource] }),
              kind: resource,
            },
          ),
        );
      }
    }
    if (verb === 'create' && resource === 'events') {
      void readBody(req).then((text) => {
        const body = JSON.parse(text) as RecordedEvent & {
          metadata?: Record<string, unknown>;
        };
        events.push(body);
        record(201);
        sendJson(res, 201, {
          ...body,
          metadata: {
            ...body.metadata,
            name: `event-${events.length}`,
            resourceVersion: String(++rv),
          },
        });
      });
      return;
    }
    if (
      verb === 'other' ||
      resource === undefined ||
      resource === 'events' ||
      (resource === 'endpointslices' && verb !== 'list' && verb !== 'watch')
    ) {
      if (route !== null) {
        return fail(
          new HttpError(
            405,
            'MethodNotAllowed',
            'the server does not allow this method on the requested resource',
          ),
        );
      }
      return fail(
        new HttpError(404, 'NotFound', 'the server could not find the requested resource'),
      );
    }
    // (EndpointSlices were answered above unless listed or watched: the checks narrow the type.)
    if (verb === 'get' && resource !== 'endpointslices') {
      const object = lookup(resource, namespace, name ?? '');
      if (object === undefined) return fail(notFound(resource, name ?? ''));
      record(200);
      return sendJson(res, 200, object);
    }
    if (
      (verb === 'create' || verb === 'update' || verb === 'patch') &&
      resource !== 'endpointslices'
    ) {
      const contentType = (req.headers['content-type'] ?? '').split(';')[0]?.trim() ?? '';
      void readBody(req).then((text) => {
        try {
          if (verb === 'create') {
            const body = parseJson(text);
            if (isRecord(body) && isRecord(body.metadata) && typeof body.metadata.name === 'string')
              recordedName = body.metadata.name;
            const created = create(resource, namespace, body);
            record(201);
            return sendJson(res, 201, created);
          }
          if (verb === 'update') {
            const updated = update(resource, namespace, name ?? '', parseJson(text));
            record(updated.status);
            return sendJson(res, updated.status, updated.object);
          }
          const existing = lookup(resource, namespace, name ?? '');
          if (existing === undefined) throw notFound(resource, name ?? '');
          let patched: unknown;
          if (
            contentType === 'application/merge-patch+json' ||
            // For ConfigMaps and Leases (maps and scalars only) a strategic merge is a merge.
            contentType === 'application/strategic-merge-patch+json'
          ) {
            patched = mergePatch(copy(existing), parseJson(text));
          } else if (contentType === 'application/json-patch+json') {
            patched = jsonPatch(existing, parseJson(text));
          } else {
            throw new HttpError(
              415,
              'UnsupportedMediaType',
              `the body of the request was in an unknown format - accepted media types include: ` +
                `application/json-patch+json, application/merge-patch+json, ` +
                `application/strategic-merge-patch+json`,
            );
          }
          // A resourceVersion in the patch is a precondition, checked like an update's.
          const updated = update(resource, namespace, name ?? '', patched);
          record(200);
          return sendJson(res, 200, updated.object);
        } catch (error) {
          if (error instanceof HttpError) return fail(error);
          throw error;
        }
      });
      return;
    }
    if (resource === 'leases') {
      if (isWatch) return fail(badRequest('the fake API does not watch leases'));
      record(200);
      return sendJson(res, 200, {
        kind: 'LeaseList',
        apiVersion: 'coordination.k8s.io/v1',
        metadata: { resourceVersion: String(rv) },
        items: [...leases.values()].filter((o) => o.metadata.namespace === namespace),
      });
    }
    const selector = query.fieldSelector ?? '';
    const nameMatch = /^metadata\.name=(.+)$/.exec(selector);
    const selected = nameMatch?.[1];
    if (selector !== '' && selected === undefined) {
      return fail(badRequest(`unsupported fieldSelector ${selector}`));
    }
    const labels = parseLabelSelector(query.labelSelector ?? '');
    if ('error' in labels) return fail(badRequest(labels.error));
    const isSlices = resource === 'endpointslices';
    const current = (): Watched[] =>
      [...(isSlices ? slices : configMaps).values()].filter(
        (o) =>
          o.metadata.namespace === namespace &&
          (selected === undefined || o.metadata.name === selected) &&
          matchesLabels(labels, o.metadata.labels),
      );

    if ((isWatch && stalled.watch) || (!isWatch && stalled.list)) {
      // Accepted, never answered: no status line, no headers, no events.
      record(0);
      stalledResponses.add(res);
      res.on('close', () => stalledResponses.delete(res));
      return;
    }
    if (!isWatch) {
      record(200);
      return sendJson(res, 200, {
        kind: isSlices ? 'EndpointSliceList' : 'ConfigMapList',
        apiVersion: isSlices ? 'discovery.k8s.io/v1' : 'v1',
        metadata: { resourceVersion: String(rv) },
        items: current(),
      });
    }

    const from =
      query.resourceVersion === undefined || query.resourceVersion === ''
        ? undefined
        : Number(query.resourceVersion);
    if (from !== undefined && from < compactedRv && compactMode === 'http') {
      return fail(
        new HttpError(410, 'Expired', `too old resource version: ${from} (${compactedRv})`),
      );
    }
    record(200);
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    res.flushHeaders();
    if (from !== undefined && from < compactedRv) {
      writeEvent(
        res,
        'ERROR',
        statusBody(410, 'Expired', `too old resource version: ${from} (${compactedRv})`),
      );
      res.end();
      return;
    }
    // No version: the current state as ADDED events first, as the real server does.
    const backlog =
      from === undefined
        ? current().map((object) => ({ type: 'ADDED' as const, object }))
        : history.filter((entry) => entry.rv > from);
    const watch: OpenWatch = {
      kind: isSlices ? 'EndpointSlice' : 'ConfigMap',
      namespace,
      name: selected,
      labels,
      res,
    };
    for (const entry of backlog)
      if (matches(watch, entry.object)) writeEvent(res, entry.type, entry.object);
    watches.add(watch);
    res.on('close', () => watches.delete(watch));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;

  return {
    url,
    token,
    requests,
    events,
    setConfigMap(namespace, name, data, annotations) {
      const existing = configMaps.get(keyOf(namespace, name));
      const kept = annotations === undefined ? existing?.metadata.annotations : annotations;
      const object: ConfigMapObject = {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: {
          name,
          namespace,
          uid: existing?.metadata.uid ?? newUid(),
          resourceVersion: '',
          creationTimestamp: existing?.metadata.creationTimestamp ?? timeNow(),
          ...(existing?.metadata.labels === undefined ? {} : { labels: existing.metadata.labels }),
          ...(kept === undefined || Object.keys(kept).length === 0
            ? {}
            : { annotations: { ...kept } }),
        },
        data: { ...data },
      };
      storeConfigMap(object, existing !== undefined);
    },
    deleteConfigMap(namespace, name) {
      const key = keyOf(namespace, name);
      const existing = configMaps.get(key);
      if (existing === undefined) return;
      configMaps.delete(key);
      const object = {
        ...existing,
        metadata: { ...existing.metadata, resourceVersion: String(++rv) },
      };
      publish({ type: 'DELETED', object, rv });
    },
    setEndpointSlice(namespace, name, input) {
      const existing = slices.get(keyOf(namespace, name));
      const object: EndpointSliceObject = {
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: {
          name,
          namespace,
          uid: existing?.metadata.uid ?? newUid(),
          resourceVersion: String(++rv),
          creationTimestamp: existing?.metadata.creationTimestamp ?? timeNow(),
          labels: {
            ...input.labels,
            'kubernetes.io/service-name': input.service,
            'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io',
          },
        },
        addressType: input.addressType ?? 'IPv4',
        // The shapes the real server returns (checked against kube-apiserver 1.24): empty lists
        // are null, an endpoint without conditions has `{}`, a port without a name has "" and
        // the default protocol.
        endpoints:
          input.endpoints.length === 0
            ? null
            : input.endpoints.map((e) => ({ ...copy(e), conditions: copy(e.conditions ?? {}) })),
        ports:
          input.ports.length === 0
            ? null
            : input.ports.map((p) => ({
                ...copy(p),
                name: p.name ?? '',
                protocol: p.protocol ?? 'TCP',
              })),
      };
      slices.set(keyOf(namespace, name), object);
      publish({
        type: existing === undefined ? 'ADDED' : 'MODIFIED',
        object: copy(object),
        rv,
        ...(existing === undefined ? {} : { previous: copy(existing) }),
      });
    },
    deleteEndpointSlice(namespace, name) {
      const key = keyOf(namespace, name);
      const existing = slices.get(key);
      if (existing === undefined) return;
      slices.delete(key);
      const object = {
        ...copy(existing),
        metadata: { ...existing.metadata, resourceVersion: String(++rv) },
      };
      publish({ type: 'DELETED', object, rv });
    },
    getConfigMap(namespace, name) {
      const object = configMaps.get(keyOf(namespace, name));
      return object === undefined ? undefined : copy(object);
    },
    setLease(namespace, name, spec = {}, annotations = {}) {
      const existing = leases.get(keyOf(namespace, name));
      const wire: Record<string, unknown> = { ...spec };
      for (const field of ['acquireTime', 'renewTime'] as const) {
        const value = spec[field];
        if (value instanceof Date) wire[field] = microTimeOf(value);
      }
      const object = decodeObject(
        'leases',
        { metadata: { annotations }, spec: wire },
        {
          name,
          namespace,
          uid: existing?.metadata.uid ?? newUid(),
          resourceVersion: '',
          creationTimestamp: existing?.metadata.creationTimestamp ?? timeNow(),
        },
      ) as LeaseObject;
      return storeLease(object);
    },
    getLease(namespace, name) {
      const object = leases.get(keyOf(namespace, name));
      return object === undefined ? undefined : copy(object);
    },
    compact(mode = 'event') {
      compactMode = mode;
      // Past the last version anyone has seen: every resume is now too old.
      compactedRv = ++rv;
      history.length = 0;
      if (mode === 'http') return; // open watches live on; the next resume gets the HTTP 410
      for (const watch of watches) {
        writeEvent(
          watch.res,
          'ERROR',
          statusBody(410, 'Expired', `too old resource version (${compactedRv})`),
        );
        watch.res.end();
      }
      watches.clear();
    },
    dropWatches() {
      for (const watch of watches) watch.res.socket?.destroy();
      for (const res of stalledResponses) res.socket?.destroy();
      watches.clear();
      stalledResponses.clear();
    },
    forbid(verb, times, resource) {
      forbidden.set(resource === undefined ? verb : `${verb}/${resource}`, times);
    },
    stall(verbs) {
      Object.assign(stalled, verbs);
    },
    openWatches: () => watches.size + stalledResponses.size,
    async writeKubeconfig(dir, namespace = 'default') {
      const path = join(dir, 'kubeconfig.yaml');
      await writeFile(
        path,
        `apiVersion: v1
kind: Config
clusters:
  - name: fake
    cluster:
      server: ${url}
      # client-node refuses plain http unless TLS verification is explicitly off.
      insecure-skip-tls-verify: true
contexts:
  - name: fake
    context:
      cluster: fake
      user: fake
      namespace: ${namespace}
current-context: fake
users:
  - name: fake
    user:
      token: ${token}
`,
        { mode: 0o600 },
      );
      return path;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
