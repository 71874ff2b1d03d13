import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

/** What the fake answered, for assertions on how the client behaved. */
export interface RecordedRequest {
  readonly verb: 'list' | 'watch' | 'create' | 'other';
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

interface ConfigMapObject {
  apiVersion: 'v1';
  kind: 'ConfigMap';
  metadata: { name: string; namespace: string; uid: string; resourceVersion: string };
  data: Record<string, string>;
}

interface HistoryEntry {
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED';
  readonly object: ConfigMapObject;
  readonly rv: number;
}

interface OpenWatch {
  readonly namespace: string;
  readonly name: string | undefined;
  readonly res: http.ServerResponse;
}

export interface FakeKubeApi {
  readonly url: string;
  readonly token: string;
  readonly requests: RecordedRequest[];
  readonly events: RecordedEvent[];
  /** Creates or modifies a ConfigMap; open watches get ADDED or MODIFIED. */
  setConfigMap(namespace: string, name: string, data: Record<string, string>): void;
  deleteConfigMap(namespace: string, name: string): void;
  /**
   * Expires every resourceVersion seen so far, like an etcd compaction: open watches get an
   * ERROR event with a 410 Status and are closed; a watch resuming from an older version gets
   * the same ERROR (mode 'event') or an HTTP 410 (mode 'http'). A fresh list works.
   */
  compact(mode?: 'event' | 'http'): void;
  /** Destroys the connections of open watches without a word (a load balancer's idle cut). */
  dropWatches(): void;
  /** The next `times` requests with this verb get 403 Forbidden with a Status body. */
  forbid(verb: 'list' | 'watch' | 'create', times: number): void;
  /** While on, such requests are accepted and never answered (a silent stall). */
  stall(verbs: { list?: boolean; watch?: boolean }): void;
  openWatches(): number;
  /** Writes a kubeconfig for this server (plain http, bearer token) and returns its path. */
  writeKubeconfig(dir: string, namespace?: string): Promise<string>;
  close(): Promise<void>;
}

/**
 * A Kubernetes API server at the HTTP protocol level, enough for @kubernetes/client-node's
 * list, watch and Event calls on ConfigMaps: one global resourceVersion counter, a change
 * history to resume watches from, fieldSelector=metadata.name=NAME, bearer-token auth, and
 * knobs for the failures a real cluster produces.
 */
export async function startFakeKubeApi(token = 'fake-token'): Promise<FakeKubeApi> {
  let rv = 100;
  let compactedRv = 0;
  let compactMode: 'event' | 'http' = 'event';
  let uidCounter = 0;
  const stalled = { list: false, watch: false };
  const objects = new Map<string, ConfigMapObject>();
  const history: HistoryEntry[] = [];
  const watches = new Set<OpenWatch>();
  const stalledResponses = new Set<http.ServerResponse>();
  const forbidden = { list: 0, watch: 0, create: 0 };
  const requests: RecordedRequest[] = [];
  const events: RecordedEvent[] = [];
  const keyOf = (namespace: string, name: string) => `${namespace}/${name}`;

  const sendJson = (res: http.ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const statusBody = (code: number, reason: string, message: string) => ({
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    code,
  });
  const writeEvent = (res: http.ServerResponse, type: string, object: unknown) => {
    res.write(`${JSON.stringify({ type, object })}\n`);
  };
  const matches = (watch: OpenWatch, object: ConfigMapObject) =>
    watch.namespace === object.metadata.namespace &&
    (watch.name === undefined || watch.name === object.metadata.name);
  const publish = (entry: HistoryEntry) => {
    history.push(entry);
    for (const watch of watches)
      if (matches(watch, entry.object)) {
        writeEvent(watch.res, entry.type, entry.object);
      }
  };

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://fake');
    const query = Object.fromEntries(url.searchParams);
    const isWatch = query.watch === 'true' || query.watch === '1';
    const listMatch = /^\/api\/v1\/namespaces\/([^/]+)\/configmaps$/.exec(url.pathname);
    const eventsMatch = /^\/api\/v1\/namespaces\/([^/]+)\/events$/.exec(url.pathname);
    const verb: RecordedRequest['verb'] =
      listMatch && req.method === 'GET'
        ? isWatch
          ? 'watch'
          : 'list'
        : eventsMatch && req.method === 'POST'
          ? 'create'
          : 'other';
    const record = (status: number) =>
      requests.push({ verb, method: req.method ?? '', path: url.pathname, query, status });

    if (req.headers.authorization !== `Bearer ${token}`) {
      record(401);
      return sendJson(res, 401, statusBody(401, 'Unauthorized', 'Unauthorized'));
    }
    if (verb !== 'other' && forbidden[verb] > 0) {
      forbidden[verb]--;
      record(403);
      const namespace = (listMatch ?? eventsMatch)?.[1] ?? '';
      const resource = verb === 'create' ? 'events' : 'configmaps';
      return sendJson(
        res,
        403,
        statusBody(
          403,
          'Forbidden',
          `${resource} is forbidden: User "system:serviceaccount:${namespace}:reverse-proxy" ` +
            `cannot ${verb} resource "${resource}" in API group "" in the namespace "${namespace}"`,
        ),
      );
    }
    if (verb === 'create' && eventsMatch) {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = JSON.parse(Buffer.concat(chunks).toString()) as RecordedEvent & {
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
    if (listMatch === null || req.method !== 'GET') {
      record(404);
      return sendJson(
        res,
        404,
        statusBody(404, 'NotFound', 'the server could not find the requested resource'),
      );
    }
    const namespace = decodeURIComponent(listMatch[1] ?? '');
    const selector = query.fieldSelector ?? '';
    const nameMatch = /^metadata\.name=(.+)$/.exec(selector);
    const name = nameMatch?.[1];
    if (selector !== '' && name === undefined) {
      record(400);
      return sendJson(
        res,
        400,
        statusBody(400, 'BadRequest', `unsupported fieldSelector ${selector}`),
      );
    }
    const current = () =>
      [...objects.values()].filter(
        (o) =>
          o.metadata.namespace === namespace && (name === undefined || o.metadata.name === name),
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
        kind: 'ConfigMapList',
        apiVersion: 'v1',
        metadata: { resourceVersion: String(rv) },
        items: current(),
      });
    }

    const from =
      query.resourceVersion === undefined || query.resourceVersion === ''
        ? undefined
        : Number(query.resourceVersion);
    if (from !== undefined && from < compactedRv && compactMode === 'http') {
      record(410);
      return sendJson(
        res,
        410,
        statusBody(410, 'Expired', `too old resource version: ${from} (${compactedRv})`),
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
    const watch: OpenWatch = { namespace, name, res };
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
    setConfigMap(namespace, name, data) {
      const key = keyOf(namespace, name);
      const existing = objects.get(key);
      const object: ConfigMapObject = {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: {
          name,
          namespace,
          uid: existing?.metadata.uid ?? `uid-${++uidCounter}`,
          resourceVersion: String(++rv),
        },
        data: { ...data },
      };
      objects.set(key, object);
      publish({ type: existing === undefined ? 'ADDED' : 'MODIFIED', object, rv });
    },
    deleteConfigMap(namespace, name) {
      const key = keyOf(namespace, name);
      const existing = objects.get(key);
      if (existing === undefined) return;
      objects.delete(key);
      const object = {
        ...existing,
        metadata: { ...existing.metadata, resourceVersion: String(++rv) },
      };
      publish({ type: 'DELETED', object, rv });
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
    forbid(verb, times) {
      forbidden[verb] = times;
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
