import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { once } from 'node:events';
import { connect as connectTls } from 'node:tls';
import type { AddressInfo, Server } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import { parse } from 'yaml';
import { makeCertificate } from '../certs.ts';
import { ROOT, configYaml, request, site, startProxy, tmpDir } from '../helpers.ts';
import {
  CHART,
  findKind,
  helm,
  parseManifests,
  podContainers,
  render,
  renderNotes,
} from './manifests.ts';
import type { K8sObject } from './manifests.ts';
import { validateObject } from './schema-validate.ts';

const ALL_FEATURES = join(CHART, 'ci', 'all-features-values.yaml');

/** The security and wiring every rendering must have, whatever the values. */
function assertSecurePod(objects: K8sObject[]): void {
  const [deployment] = findKind(objects, 'Deployment');
  assert.ok(deployment, 'a Deployment');
  const pod = deployment.spec.template.spec;
  assert.equal(pod.securityContext.runAsNonRoot, true);
  assert.equal(pod.securityContext.seccompProfile.type, 'RuntimeDefault');
  for (const c of podContainers(deployment)) {
    const sc = c.securityContext;
    assert.equal(sc.runAsNonRoot, true, `${c.name}: runAsNonRoot`);
    assert.equal(sc.allowPrivilegeEscalation, false, `${c.name}: allowPrivilegeEscalation`);
    assert.equal(sc.readOnlyRootFilesystem, true, `${c.name}: readOnlyRootFilesystem`);
    assert.deepEqual(sc.capabilities.drop, ['ALL'], `${c.name}: drop ALL`);
    assert.equal(sc.seccompProfile.type, 'RuntimeDefault', `${c.name}: seccomp`);
    assert.ok(sc.runAsUser > 0, `${c.name}: numeric non-root uid`);
  }
  const uids = new Set(podContainers(deployment).map((c) => c.securityContext.runAsUser));
  assert.equal(uids.size, 1, 'the proxy and the sidecar run as the same uid');
  const run = pod.volumes.find((v: { name: string }) => v.name === 'run');
  assert.equal(run.emptyDir.medium, 'Memory');
  const byName = Object.fromEntries(podContainers(deployment).map((c) => [c.name, c]));
  for (const name of ['proxy', 'admin']) {
    const c = byName[name];
    assert.ok(c, `container ${name}`);
    assert.ok(
      c.volumeMounts.some(
        (m: { name: string; mountPath: string }) =>
          m.name === 'run' && m.mountPath === '/run/reverse-proxy',
      ),
      `${name} mounts the shared socket volume`,
    );
    assert.equal(c.livenessProbe.httpGet.path, '/livez', `${name}: liveness`);
    assert.equal(c.readinessProbe.httpGet.path, '/readyz', `${name}: readiness`);
    assert.ok(c.startupProbe, `${name}: startup probe`);
  }
  assert.ok(byName.proxy.args.includes('--allow-wildcard-bind'), 'the kubelet reaches the pod IP');
  assert.ok(
    byName.admin.args.includes('--allow-wildcard-bind'),
    'the sidecar validates with the same flag as the proxy, or it rejects every config',
  );
  const annotations = deployment.spec.template.metadata.annotations ?? {};
  assert.ok(
    !Object.keys(annotations).some((k) => k.startsWith('checksum/')),
    'no checksum annotation: a routing change must not roll the pods',
  );
  assert.equal(
    findKind(objects, 'ClusterRole').length + findKind(objects, 'ClusterRoleBinding').length,
    0,
  );
  for (const obj of objects) validateObject(obj);
}

/** The Service clients reach (the other one is the metrics Service). */
function trafficService(objects: K8sObject[]): K8sObject | undefined {
  return findKind(objects, 'Service').find((svc) => !svc.metadata.name.endsWith('-metrics'));
}

describe('helm chart', () => {
  it('passes helm lint --strict with the default values and with every feature on', () => {
    for (const flags of [[], ['-f', ALL_FEATURES]]) {
      const result = helm(['lint', '--strict', CHART, ...flags]);
      assert.equal(result.code, 0, result.stdout + result.stderr);
    }
  });

  it('renders valid, secure objects with the default values', () => {
    const objects = render();
    assertSecurePod(objects);
    assert.deepEqual(objects.map((o) => o.kind).sort(), [
      'ConfigMap',
      'ConfigMap',
      'Deployment',
      'Lease',
      'Pod',
      'PodDisruptionBudget',
      'Role',
      'RoleBinding',
      'Service',
      'Service',
      'ServiceAccount',
    ]);
  });

  it('defaults to the image the documented `docker build` makes, IfNotPresent, and pins a digest', () => {
    const images = (objects: K8sObject[]) =>
      new Set(
        [
          ...findKind(objects, 'Deployment').flatMap(podContainers),
          ...findKind(objects, 'Pod').flatMap((p) => p.spec.containers),
        ].map((c) => `${c.image} ${c.imagePullPolicy}`),
      );
    const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
    const image = `reverse-proxy:${version}`;
    assert.deepEqual([...images(render([], '1.28.5'))], [`${image} IfNotPresent`]);
    assert.match(
      readFileSync(join(ROOT, 'Dockerfile'), 'utf8'),
      new RegExp(`ARG VERSION=${version}\n`),
    );
    // The build and the load the docs give are for exactly that image.
    for (const doc of ['README.md', join('docs', 'operations.md')]) {
      const text = readFileSync(join(ROOT, doc), 'utf8');
      assert.ok(text.includes(`docker build -t ${image} .`), `${doc}: the build command`);
      assert.ok(text.includes(`kind load docker-image ${image}`), `${doc}: loading it into kind`);
    }
    const digest = `sha256:${'0123456789abcdef'.repeat(4)}`;
    const pinned = ['--set', `image.digest=${digest}`, '--set', 'image.repository=r.example/rp'];
    assert.deepEqual([...images(render(pinned))], [`r.example/rp@${digest} IfNotPresent`]);
    assert.deepEqual(
      [...images(render([...pinned, '--set', 'image.tag=1.2.3']))],
      [`r.example/rp:1.2.3@${digest} IfNotPresent`],
    );
    const bad = helm(['template', 'rp', CHART, '--set', 'image.digest=latest']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /image\.digest/);
  });

  it('probes with sane defaults (readiness: 3 failures, timeouts set) that values override', () => {
    const probes = (flags: string[]) => {
      const [deployment] = findKind(render(flags), 'Deployment');
      const byName = Object.fromEntries(
        podContainers(deployment as K8sObject).map((c) => [c.name, c]),
      );
      return {
        proxy: [byName.proxy.startupProbe, byName.proxy.livenessProbe, byName.proxy.readinessProbe],
        admin: [byName.admin.startupProbe, byName.admin.livenessProbe, byName.admin.readinessProbe],
      };
    };
    const defaults = probes([]);
    const [, , readiness] = defaults.proxy;
    assert.deepEqual(readiness, {
      httpGet: { path: '/readyz', port: 'health' },
      periodSeconds: 2,
      timeoutSeconds: 2,
      failureThreshold: 3,
      successThreshold: 1,
    });
    for (const probe of [...defaults.proxy, ...defaults.admin]) {
      assert.ok(probe.timeoutSeconds >= 2, `timeoutSeconds set: ${JSON.stringify(probe)}`);
      assert.ok(probe.failureThreshold >= 3, `not out on one slow probe: ${JSON.stringify(probe)}`);
    }
    const tuned = probes([
      '--set',
      'proxy.probes.readiness.failureThreshold=6',
      '--set',
      'proxy.probes.liveness.initialDelaySeconds=15',
      '--set',
      'sidecar.probes.startup.failureThreshold=300',
      '--set',
      'sidecar.probes.readiness.timeoutSeconds=4',
    ]);
    assert.equal(tuned.proxy[2].failureThreshold, 6);
    assert.equal(tuned.proxy[2].periodSeconds, 2, 'the other timings keep their defaults');
    assert.equal(tuned.proxy[1].initialDelaySeconds, 15);
    assert.deepEqual(tuned.proxy[1].httpGet, { path: '/livez', port: 'health' });
    assert.equal(tuned.admin[0].failureThreshold, 300);
    assert.deepEqual(tuned.admin[0].httpGet, { path: '/readyz', port: 'sidecar-health' });
    assert.equal(tuned.admin[2].timeoutSeconds, 4);
    // Kubernetes refuses these, so the chart does first; and the endpoints stay the chart's.
    const refused: [string, RegExp][] = [
      ['proxy.probes.liveness.successThreshold=2', /successThreshold/],
      ['proxy.probes.readiness.periodSeconds=0', /periodSeconds/],
      ['sidecar.probes.startup.httpGet.path=/x', /Additional property httpGet/],
      ['proxy.probes.ready.periodSeconds=1', /Additional property ready/],
    ];
    for (const [flag, pattern] of refused) {
      const result = helm(['template', 'rp', CHART, '--set', flag]);
      assert.notEqual(result.code, 0, flag);
      assert.match(result.stderr, pattern, flag);
    }
  });

  it('wires extraEnv, extraVolumes and extraVolumeMounts into every container that reads config files, and priorityClassName', () => {
    for (const kubeVersion of ['1.30.0', '1.28.5']) {
      const objects = render(['-f', ALL_FEATURES], kubeVersion);
      assertSecurePod(objects);
      const [deployment] = findKind(objects, 'Deployment');
      const spec = deployment?.spec.template.spec;
      assert.equal(spec.priorityClassName, 'edge-critical');
      assert.deepEqual(
        spec.volumes.find((v: { name: string }) => v.name === 'upstream-ca'),
        { name: 'upstream-ca', configMap: { name: 'upstream-ca' } },
      );
      for (const c of podContainers(deployment as K8sObject)) {
        // The sidecar and the seed container validate configs that may name these files.
        assert.ok(
          c.volumeMounts.some(
            (m: { name: string; mountPath: string }) =>
              m.name === 'upstream-ca' && m.mountPath === '/etc/reverse-proxy/ca',
          ),
          `${c.name} mounts upstream-ca`,
        );
        if (c.name === 'seed-config') continue;
        assert.ok(
          c.env.some(
            (e: { name: string; value?: string }) =>
              e.name === 'NODE_EXTRA_CA_CERTS' && e.value === '/etc/reverse-proxy/ca/ca.crt',
          ),
          `${c.name} gets extraEnv`,
        );
      }
    }
    const refused: [string, RegExp][] = [
      ['extraVolumes[0].name=run', /extraVolumes\.0\.name/],
      ['extraVolumes[0].name=tls-0', /extraVolumes\.0\.name/],
      ['extraVolumeMounts[0].name=ca', /mountPath/],
      ['extraEnv[0].value=x', /name/],
    ];
    for (const [flag, pattern] of refused) {
      const result = helm(['template', 'rp', CHART, '--set', flag]);
      assert.notEqual(result.code, 0, flag);
      assert.match(result.stderr, pattern, flag);
    }
  });

  it('makes an https upstream behind a private CA work through extraEnv NODE_EXTRA_CA_CERTS', async () => {
    // The recipe in values.yaml and the operations guide, run for real: the CA file where the
    // mount puts it, the variable as the chart renders it, a proxy and an https upstream.
    const [deployment] = findKind(render(['-f', ALL_FEATURES]), 'Deployment');
    const proxy = podContainers(deployment as K8sObject).find((c) => c.name === 'proxy');
    const rendered = proxy.env.find((e: { name: string }) => e.name === 'NODE_EXTRA_CA_CERTS');
    const { dir, cleanup } = await tmpDir('rp-chart-ca-');
    const pair = makeCertificate(dir, 'upstream', ['localhost']);
    const upstream = createHttpsServer(
      { cert: readFileSync(pair.certFile), key: readFileSync(pair.keyFile) },
      (_req, res) => res.writeHead(200).end('private upstream'),
    );
    // Both address families: `localhost` may resolve to ::1 first.
    await new Promise<void>((resolve) => upstream.listen(0, resolve));
    const { port } = upstream.address() as AddressInfo;
    const configPath = join(dir, 'proxy.yaml');
    writeFileSync(
      configPath,
      configYaml(site('api', ['api.example.com'], [['/', `https://localhost:${port}`]])),
    );
    const caFile = String(rendered.value).replace('/etc/reverse-proxy/ca/ca.crt', pair.certFile);
    const through = async (env: NodeJS.ProcessEnv) => {
      const proxyProcess = await startProxy(configPath, [], { env });
      try {
        return await request(proxyProcess.url, { host: 'api.example.com' });
      } finally {
        await proxyProcess.stop();
      }
    };
    try {
      const env = { ...process.env };
      delete env.NODE_EXTRA_CA_CERTS;
      const trusted = await through({ ...env, [rendered.name]: caFile });
      assert.equal(trusted.status, 200, trusted.body);
      assert.equal(trusted.body, 'private upstream');
      const untrusted = await through(env);
      assert.equal(untrusted.status, 502, 'without the CA the upstream is not trusted');
    } finally {
      upstream.close();
      await cleanup();
    }
  });

  it('keeps health and metrics off the traffic Service: a ClusterIP metrics Service, which the ServiceMonitor selects', () => {
    const objects = render(['-f', ALL_FEATURES]);
    assert.equal(findKind(render(), 'Service')[0]?.spec.externalTrafficPolicy, undefined);
    const services = Object.fromEntries(
      findKind(objects, 'Service').map((svc) => [svc.metadata.name, svc]),
    );
    const traffic = services['rp-reverse-proxy'];
    const metrics = services['rp-reverse-proxy-metrics'];
    assert.ok(traffic && metrics, Object.keys(services).join(', '));
    const ports = (svc: K8sObject) => svc.spec.ports.map((p: { name: string }) => p.name);
    assert.equal(traffic.spec.type, 'LoadBalancer');
    assert.equal(traffic.spec.externalTrafficPolicy, 'Local', 'client addresses kept');
    assert.deepEqual(traffic.spec.loadBalancerSourceRanges, ['203.0.113.0/24', '2001:db8::/32']);
    assert.equal(metrics.spec.externalTrafficPolicy, undefined);
    assert.deepEqual(ports(traffic), ['http', 'https'], 'nothing but traffic is published');
    assert.equal(metrics.spec.type, 'ClusterIP');
    assert.deepEqual(ports(metrics), ['health', 'sidecar-health']);
    assert.deepEqual(metrics.spec.selector, traffic.spec.selector, 'the same pods');
    const [monitor] = findKind(objects, 'ServiceMonitor');
    const selects = (svc: K8sObject) =>
      Object.entries(monitor?.spec.selector.matchLabels as Record<string, string>).every(
        ([k, v]) => svc.metadata.labels?.[k] === v,
      );
    assert.ok(selects(metrics), 'the ServiceMonitor scrapes the metrics Service');
    assert.ok(!selects(traffic), 'and not the traffic Service, which has no such ports');
    assert.deepEqual(
      monitor?.spec.endpoints.map((e: { port: string }) => e.port),
      ['health', 'sidecar-health'],
    );
    // The helm test reaches /readyz of both containers through the metrics Service.
    const [testPod] = findKind(objects, 'Pod');
    const script = String(testPod?.spec.containers[0].args[0]);
    assert.match(script, /const base = 'http:\/\/rp-reverse-proxy-metrics';/);
    assert.match(script, /\$\{base\}:9900\/readyz[\s\S]*\$\{base\}:9901\/readyz/);
    assert.match(renderNotes(), /on the ClusterIP Service rp-reverse-proxy-metrics/);
  });

  it('renders valid, secure objects with every optional feature on', () => {
    const objects = render(['-f', ALL_FEATURES]);
    assertSecurePod(objects);
    for (const kind of ['HorizontalPodAutoscaler', 'NetworkPolicy', 'ServiceMonitor']) {
      assert.equal(findKind(objects, kind).length, 1, kind);
    }
    const [deployment] = findKind(objects, 'Deployment');
    assert.equal(deployment?.spec.replicas, undefined, 'the HPA owns the replica count');
    const env = podContainers(deployment as K8sObject).flatMap((c) => c.env ?? []);
    assert.ok(
      env.some(
        (e: { name: string; valueFrom?: unknown }) =>
          e.name === 'ADMIN_SOCKET_TOKEN' && e.valueFrom,
      ),
    );
    const [policy] = findKind(objects, 'NetworkPolicy');
    const ports = policy?.spec.ingress.flatMap((rule: { ports: { port: string }[] }) =>
      rule.ports.map((p) => p.port),
    );
    // Only these ports come in (https twice: from httpFrom, and from the helm test pod).
    assert.deepEqual([...new Set(ports)].sort(), ['health', 'http', 'https', 'sidecar-health']);
  });

  it('scopes RBAC to its own objects by name: the ConfigMap, Events, the rollout Lease and last good ConfigMap', () => {
    const objects = render();
    const [role] = findKind(objects, 'Role');
    const configMaps = findKind(objects, 'ConfigMap').map((c) => c.metadata.name);
    const [lease] = findKind(objects, 'Lease');
    const watched = configMaps.find((n: string) => n.endsWith('-config'));
    const lastGood = configMaps.find((n: string) => n.endsWith('-last-good'));
    assert.ok(watched && lastGood && lease, `objects: ${configMaps.join(', ')}`);
    assert.equal(lease.apiVersion, 'coordination.k8s.io/v1');
    assert.equal(lease.spec, undefined, 'the sidecars fill it; Helm leaves it alone on upgrade');
    const lastGoodObject = findKind(objects, 'ConfigMap').find((c) => c.metadata.name === lastGood);
    assert.equal(lastGoodObject?.data, undefined);
    assert.deepEqual(role?.rules, [
      {
        apiGroups: [''],
        resources: ['configmaps'],
        resourceNames: [watched],
        verbs: ['get', 'list', 'watch'],
      },
      { apiGroups: [''], resources: ['events'], verbs: ['create'] },
      {
        apiGroups: ['coordination.k8s.io'],
        resources: ['leases'],
        resourceNames: [lease.metadata.name],
        verbs: ['get', 'update'],
      },
      {
        apiGroups: [''],
        resources: ['configmaps'],
        resourceNames: [lastGood],
        verbs: ['get', 'update'],
      },
    ]);
    const admin = (rendered: K8sObject[]) =>
      podContainers(findKind(rendered, 'Deployment')[0] as K8sObject).find(
        (c) => c.name === 'admin',
      );
    const args = admin(objects).args;
    assert.ok(args.includes(`--rollout-lease=${lease.metadata.name}`));
    assert.ok(args.includes(`--last-good-configmap=${lastGood}`));
    assert.ok(args.includes('--guard=on'));
    assert.ok(args.includes('--bake-ms=120000'));

    const off = render(['--set', 'sidecar.guard.enabled=false']);
    assert.equal(findKind(off, 'Lease').length, 0);
    assert.equal(findKind(off, 'Role')[0]?.rules.length, 2, 'guard off: v1 RBAC only');
    const offArgs = admin(off).args;
    assert.ok(offArgs.includes('--guard=off'));
    assert.ok(!offArgs.some((a: string) => a.startsWith('--rollout-lease')));

    const volume = render(['--set', 'sidecar.mode=volume']);
    assert.equal(findKind(volume, 'Role').length, 0, 'volume mode needs no API access');
    assert.equal(findKind(volume, 'Lease').length, 0, 'volume mode bakes each pod alone');
    const [deployment] = findKind(volume, 'Deployment');
    assert.equal(deployment?.spec.template.spec.automountServiceAccountToken, false);
    const volumeArgs = admin(volume).args;
    assert.ok(volumeArgs.includes('--guard=on'));
  });

  it('runs as many workers as the container has CPU (limit, else request), never "auto"', () => {
    const workersOf = (flags: string[]) => {
      const [deployment] = findKind(render(flags), 'Deployment');
      assert.ok(deployment);
      const proxy = podContainers(deployment).find((c) => c.name === 'proxy');
      return (proxy.args as string[]).find((a) => a.startsWith('--workers='));
    };
    assert.equal(workersOf([]), '--workers=1', 'the default request, 100m');
    const memory = ['--set', 'proxy.resources.limits.memory=1Gi'];
    assert.equal(
      workersOf(['--set', 'proxy.resources.limits.cpu=1500m', ...memory]),
      '--workers=2',
    );
    assert.equal(workersOf(['--set', 'proxy.resources.limits.cpu=3', ...memory]), '--workers=3');
    assert.equal(
      workersOf([
        '--set',
        'proxy.resources.requests.cpu=2',
        '--set',
        'proxy.resources.limits=null',
      ]),
      '--workers=2',
    );
    assert.equal(workersOf(['--set', 'proxy.workers=4', ...memory]), '--workers=4');
    assert.throws(() => render(['--set', 'proxy.workers=0']), /workers/);
    // Two workers in the default 256Mi would be OOM-killed under load: refused with the figure.
    assert.throws(
      () => render(['--set', 'proxy.resources.limits.cpu=2']),
      /proxy\.resources\.limits\.memory \(256Mi\) is below what 2 workers need: about 288Mi/,
    );
    assert.equal(
      workersOf([
        '--set',
        'proxy.resources.limits.cpu=2',
        '--set',
        'proxy.resources.limits.memory=300Mi',
      ]),
      '--workers=2',
    );
  });

  it('puts the sidecar in initContainers with restartPolicy Always from Kubernetes 1.29', () => {
    const [native] = findKind(render([], '1.29.0'), 'Deployment');
    const admin = native?.spec.template.spec.initContainers.find(
      (c: { name: string }) => c.name === 'admin',
    );
    assert.equal(admin?.restartPolicy, 'Always');
    assert.deepEqual(
      native?.spec.template.spec.containers.map((c: { name: string }) => c.name),
      ['proxy'],
    );
  });

  it('falls back to a second container and a seeding init container before 1.29', () => {
    const objects = render([], '1.28.5');
    assertSecurePod(objects);
    const [deployment] = findKind(objects, 'Deployment');
    const spec = deployment?.spec.template.spec;
    assert.deepEqual(
      spec.containers.map((c: { name: string }) => c.name),
      ['proxy', 'admin'],
    );
    assert.deepEqual(
      spec.initContainers.map((c: { name: string }) => c.name),
      ['seed-config'],
    );
    assert.equal(spec.containers[1].restartPolicy, undefined);
  });

  it('renders a routing config the proxy itself accepts', async () => {
    const { checkConfigBytes } = await import('../../src/config/check.ts');
    // The TLS Secret's files, where the pod has them, are a real pair made here: the check
    // reads them. Only the mount path is rewritten.
    const { dir, cleanup } = await tmpDir('rp-chart-tls-');
    const pair = makeCertificate(dir, 'tls', ['api.example.com']);
    const tls13 = ['-f', ALL_FEATURES, '--set', 'tls.minVersion=TLSv1.3'];
    for (const flags of [[], ['-f', ALL_FEATURES], tls13]) {
      const [configMap] = findKind(render(flags), 'ConfigMap');
      const text = String(configMap?.data['proxy.yaml'])
        .replace('/etc/reverse-proxy/tls/tls.crt', pair.certFile)
        .replace('/etc/reverse-proxy/tls/tls.key', pair.keyFile);
      const config = checkConfigBytes(Buffer.from(text), 'configmap', {
        allowWildcardBind: true,
      });
      assert.equal(config.admin.socket, '/run/reverse-proxy/private/admin.sock');
      assert.ok(config.shutdown.drain_delay_ms + config.shutdown.grace_period_ms < 30_000);
      const trusted = flags.length === 0 ? [] : ['10.0.0.0/8', 'fd00::/8'];
      assert.deepEqual(config.trusted_proxies, trusted);
      const tlsListeners = config.listeners.filter((l) => l.tls === true);
      assert.deepEqual(
        tlsListeners.map((l) => l.address),
        flags.length === 0 ? [] : ['0.0.0.0:8443'],
      );
      // tls.minVersion lands in the proxy's own `tls.min_version` (TLSv1.2 unless set).
      if (flags.length > 0) {
        assert.equal(config.tls.min_version, flags === tls13 ? 'TLSv1.3' : 'TLSv1.2');
        assert.match(text, flags === tls13 ? /min_version: TLSv1\.3\n/ : /min_version: TLSv1\.2\n/);
      }
    }
    await cleanup();
  });

  it('mounts the TLS Secret read-only at one path in every container, 0440 with fsGroup', () => {
    for (const kubeVersion of ['1.30.0', '1.28.5']) {
      const objects = render(['-f', ALL_FEATURES], kubeVersion);
      assertSecurePod(objects);
      const [deployment] = findKind(objects, 'Deployment');
      const spec = deployment?.spec.template.spec;
      const volume = spec.volumes.find((v: { name: string }) => v.name === 'tls');
      assert.deepEqual(volume.secret, { secretName: 'reverse-proxy-tls', defaultMode: 0o440 });
      assert.equal(spec.securityContext.fsGroup, spec.securityContext.runAsGroup);
      const containers = podContainers(deployment as K8sObject);
      // The seed container (before 1.29) validates the config, which reads the certificates.
      const readers =
        kubeVersion === '1.28.5' ? ['proxy', 'admin', 'seed-config'] : ['proxy', 'admin'];
      assert.deepEqual(
        containers
          .filter((c) =>
            (c.volumeMounts ?? []).some(
              (m: { name: string; mountPath: string; readOnly?: boolean }) =>
                m.name === 'tls' && m.mountPath === '/etc/reverse-proxy/tls' && m.readOnly === true,
            ),
          )
          .map((c) => c.name)
          .sort(),
        readers.sort(),
      );
      const admin = containers.find((c) => c.name === 'admin');
      assert.ok(admin.args.includes('--tls-dir=/etc/reverse-proxy/tls'), 'the sidecar watches it');
      const proxy = containers.find((c) => c.name === 'proxy');
      assert.ok(
        proxy.ports.some(
          (p: { name: string; containerPort: number }) =>
            p.name === 'https' && p.containerPort === 8443,
        ),
      );
      const service = trafficService(objects);
      assert.deepEqual(
        service?.spec.ports.find((p: { name: string }) => p.name === 'https'),
        { name: 'https', port: 443, targetPort: 'https', protocol: 'TCP' },
      );
      const [configMap] = findKind(objects, 'ConfigMap');
      assert.match(
        String(configMap?.data['proxy.yaml']),
        /cert_file: \/etc\/reverse-proxy\/tls\/tls\.crt\n\s+key_file: \/etc\/reverse-proxy\/tls\/tls\.key/,
      );
    }
    // Off by default: no mount, no port, no flag.
    const [deployment] = findKind(render(), 'Deployment');
    const text = JSON.stringify(deployment);
    assert.ok(!text.includes('/etc/reverse-proxy/tls') && !text.includes('--tls-dir'));
    const service = trafficService(render());
    assert.ok(!service?.spec.ports.some((p: { name: string }) => p.name === 'https'));
  });

  it('mounts several TLS Secrets, each at its own directory, and the proxy serves each by SNI', async () => {
    const flags = ['--set', 'tls.enabled=true', '--set', 'tls.secrets={api-tls,www-tls}'];
    for (const kubeVersion of ['1.30.0', '1.28.5']) {
      const objects = render(flags, kubeVersion);
      assertSecurePod(objects);
      const [deployment] = findKind(objects, 'Deployment');
      const spec = deployment?.spec.template.spec;
      assert.deepEqual(
        spec.volumes.filter((v: { name: string }) => v.name.startsWith('tls')),
        [
          { name: 'tls-0', secret: { secretName: 'api-tls', defaultMode: 0o440 } },
          { name: 'tls-1', secret: { secretName: 'www-tls', defaultMode: 0o440 } },
        ],
      );
      for (const c of podContainers(deployment as K8sObject)) {
        assert.deepEqual(
          c.volumeMounts.filter((m: { name: string }) => m.name.startsWith('tls')),
          [
            { name: 'tls-0', mountPath: '/etc/reverse-proxy/tls/api-tls', readOnly: true },
            { name: 'tls-1', mountPath: '/etc/reverse-proxy/tls/www-tls', readOnly: true },
          ],
          c.name,
        );
      }
      const admin = podContainers(deployment as K8sObject).find((c) => c.name === 'admin');
      assert.deepEqual(
        admin.args.filter((a: string) => a.startsWith('--tls-dir=')),
        ['--tls-dir=/etc/reverse-proxy/tls/api-tls', '--tls-dir=/etc/reverse-proxy/tls/www-tls'],
        'the sidecar watches every Secret for renewals',
      );
    }
    // The rendered config, run: Secret directories made here, listeners on port 0.
    const { dir, cleanup } = await tmpDir('rp-chart-sni-');
    for (const [secret, name] of [
      ['api-tls', 'api.example.com'],
      ['www-tls', 'www.example.com'],
    ] as const) {
      mkdirSync(join(dir, secret));
      makeCertificate(join(dir, secret), 'tls', [name]);
    }
    const [configMap] = findKind(render(flags), 'ConfigMap');
    const text = String(configMap?.data['proxy.yaml'])
      .replaceAll('/etc/reverse-proxy/tls/', `${dir}/`)
      .replace(/0\.0\.0\.0:\d+/g, '127.0.0.1:0')
      .replace(/socket: \S+/, "socket: ''");
    const configPath = join(dir, 'proxy.yaml');
    writeFileSync(configPath, text);
    const proxy = await startProxy(configPath, ['--allow-wildcard-bind']);
    try {
      const started = proxy.logs.find((l) => l.msg === 'proxy started');
      const tlsAddress = (started?.listeners as string[])[1] as string;
      const tlsPort = Number(tlsAddress.slice(tlsAddress.lastIndexOf(':') + 1));
      const served = async (servername?: string) => {
        const socket = connectTls({
          host: '127.0.0.1',
          port: tlsPort,
          rejectUnauthorized: false,
          ...(servername === undefined ? {} : { servername }),
        });
        await once(socket, 'secureConnect');
        const names = socket.getPeerCertificate().subjectaltname;
        socket.destroy();
        return names;
      };
      assert.equal(await served('api.example.com'), 'DNS:api.example.com');
      assert.equal(await served('www.example.com'), 'DNS:www.example.com');
      assert.equal(await served(), 'DNS:api.example.com', 'no SNI: the first Secret');
    } finally {
      await proxy.stop();
      await cleanup();
    }
    const both = helm(['template', 'rp', CHART, ...flags, '--set', 'tls.secretName=edge-tls']);
    assert.notEqual(both.code, 0);
    assert.match(
      both.stderr,
      /tls\.secretName \(one Secret\) or tls\.secrets \(several\), not both/,
    );
  });

  it('makes the helm test pod check HTTPS only when TLS is on, and the check works', async () => {
    const testPod = (flags: string[]) => {
      const [pod] = findKind(render(flags), 'Pod');
      assert.ok(pod, 'the helm test pod');
      const [container] = pod.spec.containers;
      assert.deepEqual(container.command, ['node', '-e']);
      // PodSecurity "restricted", like the chart's own containers.
      assert.equal(pod.spec.securityContext.runAsNonRoot, true);
      assert.equal(pod.spec.securityContext.seccompProfile.type, 'RuntimeDefault');
      assert.equal(container.securityContext.allowPrivilegeEscalation, false);
      assert.deepEqual(container.securityContext.capabilities.drop, ['ALL']);
      return String(container.args[0]);
    };
    const plain = testPod([]);
    assert.ok(!plain.includes('https'), 'no HTTPS check without TLS');
    assert.match(testPod(['-f', ALL_FEATURES]), /https:\/\/rp-reverse-proxy:443\//);
    // With httpFrom set, the NetworkPolicy still lets the test pod reach the HTTPS port.
    const [policy] = findKind(render(['-f', ALL_FEATURES]), 'NetworkPolicy');
    assert.ok(
      policy?.spec.ingress.some(
        (rule: { ports: { port: string }[]; from: { podSelector?: unknown }[] }) =>
          rule.ports.some((p) => p.port === 'https') &&
          rule.from.some((f) =>
            isDeepStrictEqual(f.podSelector, {
              matchLabels: {
                'app.kubernetes.io/component': 'helm-test',
                'app.kubernetes.io/instance': 'rp',
              },
            }),
          ),
      ),
      'the helm test pod may reach https',
    );

    // The rendered HTTPS check itself, run by node as in the pod, against a real TLS server
    // on port 0 (standing in for the Service): a 404 passes, a server that is not TLS fails.
    const { dir, cleanup } = await tmpDir('rp-chart-helm-test-');
    const pair = makeCertificate(dir, 'tls', ['api.example.com']);
    const tlsServer = createHttpsServer(
      { cert: readFileSync(pair.certFile), key: readFileSync(pair.keyFile) },
      (_req, res) => res.writeHead(404).end('no route'),
    );
    const plainServer = createHttpServer((_req, res) => res.writeHead(404).end());
    const runCheck = async (server: Server) => {
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const { port } = server.address() as AddressInfo;
      const script = testPod([
        '-f',
        ALL_FEATURES,
        '--set',
        'fullnameOverride=localhost',
        '--set',
        `service.httpsPort=${port}`,
      ]);
      // Only the HTTPS part: the readiness checks before it need the pod's fixed ports.
      const https = script.slice(script.indexOf('// Any HTTP status'));
      assert.match(https, /https:\/\/localhost:\d+\//);
      return new Promise<{ code: number | null; out: string }>((resolve) => {
        execFile(process.execPath, ['-e', https], { timeout: 20_000 }, (err, stdout, stderr) =>
          resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr }),
        );
      });
    };
    try {
      const ok = await runCheck(tlsServer);
      assert.equal(ok.code, 0, ok.out);
      assert.match(ok.out, / 404 TLSv1\.[23]/);
      const notTls = await runCheck(plainServer);
      assert.notEqual(notTls.code, 0, notTls.out);
      assert.match(notTls.out, /failed:/);
    } finally {
      tlsServer.close();
      plainServer.close();
      await cleanup();
    }
  });

  it('mounts the htpasswd Secret read-only where the proxy, the sidecar and the seed read it, and a basic_auth config renders that the proxy accepts', async () => {
    const { dir, cleanup } = await tmpDir('rp-chart-auth-');
    try {
      const values = join(dir, 'values.yaml');
      const realm = { realm: 'api users', htpasswd_file: '/etc/reverse-proxy/auth/htpasswd' };
      const admins = { realm: 'admins', htpasswd_file: '/etc/reverse-proxy/auth/admins' };
      writeFileSync(
        values,
        JSON.stringify({
          auth: { htpasswdSecret: 'api-htpasswd' },
          config: {
            sites: [
              {
                name: 'api',
                hosts: ['api.example.com'],
                access: { basic_auth: realm },
                routes: [
                  { path: '/', upstream: 'http://api.default.svc.cluster.local:8080' },
                  {
                    path: '/admin/',
                    upstream: 'http://api.default.svc.cluster.local:8080',
                    access: { allow: ['10.0.0.0/8'], basic_auth: admins },
                  },
                ],
              },
            ],
          },
        }),
      );
      for (const kubeVersion of ['1.30.0', '1.28.5']) {
        const objects = render(['-f', values], kubeVersion);
        assertSecurePod(objects);
        const [deployment] = findKind(objects, 'Deployment');
        const spec = deployment?.spec.template.spec;
        assert.deepEqual(spec.volumes.find((v: { name: string }) => v.name === 'auth').secret, {
          secretName: 'api-htpasswd',
          defaultMode: 0o440,
        });
        assert.equal(
          spec.securityContext.fsGroup,
          spec.securityContext.runAsGroup,
          'group-readable',
        );
        const containers = podContainers(deployment as K8sObject);
        const readers =
          kubeVersion === '1.28.5' ? ['admin', 'proxy', 'seed-config'] : ['admin', 'proxy'];
        assert.deepEqual(
          containers
            .filter((c) =>
              (c.volumeMounts ?? []).some(
                (m: { name: string; mountPath: string; readOnly?: boolean }) =>
                  m.name === 'auth' &&
                  m.mountPath === '/etc/reverse-proxy/auth' &&
                  m.readOnly === true,
              ),
            )
            .map((c) => c.name)
            .sort(),
          readers,
        );
        const admin = containers.find((c) => c.name === 'admin');
        assert.ok(
          admin.args.includes('--tls-dir=/etc/reverse-proxy/auth'),
          'the sidecar watches it',
        );
        // The rendered config, with the Secret's files where the test has them, is one the
        // proxy accepts: the check reads the htpasswd files.
        const [configMap] = findKind(objects, 'ConfigMap');
        const text = String(configMap?.data['proxy.yaml']);
        assert.match(text, /htpasswd_file: \/etc\/reverse-proxy\/auth\/htpasswd/);
        writeFileSync(join(dir, 'htpasswd'), `alice:$2y$05$${'a'.repeat(53)}\n`);
        writeFileSync(join(dir, 'admins'), `bob:$2y$05$${'b'.repeat(53)}\n`);
        const { checkConfig } = await import('../../src/config/check.ts');
        const checked = checkConfig(
          Buffer.from(text.replaceAll('/etc/reverse-proxy/auth/', `${dir}/`)),
          'configmap',
          { allowWildcardBind: true },
        );
        assert.deepEqual([...checked.htpasswd.files.keys()], [`${dir}/htpasswd`, `${dir}/admins`]);
      }
    } finally {
      await cleanup();
    }
    // Off by default: no volume, no mount, no watch, and no fsGroup without TLS either.
    const [deployment] = findKind(render(), 'Deployment');
    const text = JSON.stringify(deployment);
    assert.ok(!text.includes('/etc/reverse-proxy/auth') && !text.includes('"auth"'));
    assert.equal(deployment?.spec.template.spec.securityContext.fsGroup, undefined);
    for (const [flags, pattern] of [
      [['--set', 'auth.htpasswdSecret=Not_A_Name'], /htpasswdSecret/],
      [['--set', 'extraVolumes[0].name=auth'], /extraVolumes\.0\.name/],
      [
        [
          '--set-json',
          'config.sites=[{"name":"a","hosts":["a"],"access":{"basic_auth":{"realm":"a"}},"routes":[{"path":"/","upstream":"http://a:1"}]}]',
        ],
        /htpasswd_file/,
      ],
    ] as [string[], RegExp][]) {
      const result = helm(['template', 'rp', CHART, ...flags]);
      assert.notEqual(result.code, 0, `${flags.join(' ')} must fail`);
      assert.match(result.stderr, pattern, flags.join(' '));
    }
  });

  it('accepts the route keys of several upstreams and route rules, and refuses mixing upstream and upstreams', async () => {
    const { dir, cleanup } = await tmpDir('rp-chart-routes-');
    try {
      const pool = {
        path: '/v1/',
        upstreams: [
          { url: 'http://api-a.default.svc.cluster.local:8080', weight: 2 },
          { url: 'http://api-b.default.svc.cluster.local:8080' },
        ],
        balance: 'least_request',
        health_check: {
          path: '/healthz',
          interval_ms: 5000,
          timeout_ms: 1000,
          healthy_threshold: 2,
          unhealthy_threshold: 3,
        },
        passive_health: { consecutive_failures: 5, ejection_ms: 30000 },
        timeouts: { connect_ms: 5000, response_ms: 30000, idle_ms: 60000 },
        retries: { attempts: 2, budget_percent: 20 },
        strip_prefix: true,
        request_headers: { set: { 'X-Env': 'prod' }, add: { Via: 'rp' }, remove: ['X-Debug'] },
        response_headers: {
          set: { 'Strict-Transport-Security': 'max-age=63072000' },
          remove: ['X-Powered-By'],
        },
      };
      const single = { path: '/', upstream: 'http://api.default.svc.cluster.local:8080' };
      const values = (routes: object[]) => {
        const file = join(dir, `values-${Math.random().toString(36).slice(2)}.yaml`);
        // JSON is YAML: helm reads it as a values file.
        writeFileSync(
          file,
          JSON.stringify({
            config: { sites: [{ name: 'api', hosts: ['api.example.com'], routes }] },
          }),
        );
        return ['-f', file];
      };
      const [configMap] = findKind(render(values([single, pool])), 'ConfigMap');
      const config = parse(String(configMap?.data['proxy.yaml'])) as {
        sites: { routes: object[] }[];
      };
      assert.deepEqual(config.sites[0]?.routes, [single, pool], 'rendered as given');
      // And the proxy itself takes the rendered config, with the keys as written.
      const { checkConfigBytes } = await import('../../src/config/check.ts');
      const checked = checkConfigBytes(Buffer.from(String(configMap?.data['proxy.yaml'])), 'cm', {
        allowWildcardBind: true,
      });
      const route = checked.sites[0]?.routes.find((r) => r.path === '/v1/');
      assert.equal(route?.balance, 'least_request');
      assert.deepEqual(route?.retries, { attempts: 2, budget_percent: 20 });
      assert.equal(route?.strip_prefix, true);
      assert.deepEqual(
        route?.upstreams?.map((u) => u.weight),
        [2, 1],
      );

      const ONE_OF = /routes\.0: Must validate one and only one schema \(oneOf\)/;
      const refused: [object, RegExp][] = [
        [{ ...pool, upstream: single.upstream }, ONE_OF],
        [{ path: '/x/' }, ONE_OF],
        [{ ...pool, balance: 'fastest' }, /balance/],
        [{ ...pool, retries: { attempts: 2, budget_percent: 101 } }, /budget_percent/],
        [{ ...pool, timeouts: { connect_ms: 0 } }, /connect_ms/],
        [{ ...pool, upstreams: [{ url: 'http://a:1', weight: 0 }] }, /weight/],
        [{ ...pool, strip_prefix: 'yes' }, /strip_prefix/],
        [{ ...pool, request_headers: { set: { 'Bad Name': 'x' } } }, /Property name of "Bad Name"/],
        [{ ...pool, response_headers: { replace: { A: 'b' } } }, /replace/],
      ];
      for (const [route, pattern] of refused) {
        const result = helm(['template', 'rp', CHART, ...values([route])]);
        assert.notEqual(result.code, 0, `${JSON.stringify(route)} must be refused`);
        assert.match(result.stderr, pattern, JSON.stringify(route));
      }
    } finally {
      await cleanup();
    }
  });

  it('takes the proxy config keys the chart does not own (trusted_proxies, client, upstream_pool) and refuses the ones it does', async () => {
    const { checkConfigBytes } = await import('../../src/config/check.ts');
    const { dir, cleanup } = await tmpDir('rp-chart-config-');
    try {
      const file = join(dir, 'values.yaml');
      const config = {
        trusted_proxies: ['10.0.0.0/8', '2001:db8::/32'],
        client: {
          header_timeout_ms: 10000,
          body_idle_timeout_ms: 30000,
          body_min_rate_bytes_per_s: 0,
          request_timeout_ms: 0,
          keepalive_timeout_ms: 65000,
        },
        upstream_pool: { max_connections: 256, max_queued: 0 },
      };
      writeFileSync(file, JSON.stringify({ config }));
      const [configMap] = findKind(render(['-f', file]), 'ConfigMap');
      const checked = checkConfigBytes(Buffer.from(String(configMap?.data['proxy.yaml'])), 'cm', {
        allowWildcardBind: true,
      });
      assert.deepEqual(checked.trusted_proxies, config.trusted_proxies);
      assert.deepEqual(checked.client, config.client);
      assert.deepEqual(checked.upstream_pool, config.upstream_pool);
      assert.equal(checked.health.address, '0.0.0.0:9900', 'the chart keeps its own keys');
      // The older name still works.
      const [older] = findKind(render(['--set', 'proxy.trustedProxies={10.0.0.0/8}']), 'ConfigMap');
      assert.match(String(older?.data['proxy.yaml']), /trusted_proxies:\n\s+- 10\.0\.0\.0\/8\n/);

      const refused: [string[], RegExp][] = [
        [['--set', 'config.listeners[0].address=0.0.0.0:80'], /Additional property listeners/],
        [['--set', 'config.admin.socket='], /Additional property admin/],
        [['--set', 'config.client.header_timeout_ms=999'], /header_timeout_ms/],
        [['--set', 'config.client.request_timeout_ms=500'], /request_timeout_ms/],
        [['--set', 'config.client.keepalive=1'], /Additional property keepalive/],
        [['--set', 'config.upstream_pool.max_connections=0'], /max_connections/],
        [['--set', 'config.trusted_proxies={everyone}'], /trusted_proxies\.0/],
        [
          [
            '--set',
            'config.trusted_proxies={10.0.0.0/8}',
            '--set',
            'proxy.trustedProxies={10.0.0.0/8}',
          ],
          /set config\.trusted_proxies or proxy\.trustedProxies \(its older name\), not both/,
        ],
      ];
      for (const [flags, pattern] of refused) {
        const result = helm(['template', 'rp', CHART, ...flags]);
        assert.notEqual(result.code, 0, flags.join(' '));
        assert.match(result.stderr, pattern, flags.join(' '));
      }
    } finally {
      await cleanup();
    }
  });

  it("says Helm owns its ConfigMap, and with config.existingConfigMap watches the operator's instead of rendering one", () => {
    assert.match(
      renderNotes(),
      /which Helm owns: change\n`config` in your values and run `helm upgrade`/,
    );
    assert.match(
      renderNotes(),
      /the next\n`helm upgrade` puts the values' version back; to own the ConfigMap yourself, set\nconfig\.existingConfigMap/,
    );
    const [chartMap] = findKind(render(), 'ConfigMap');
    assert.equal(chartMap?.metadata.name, 'rp-reverse-proxy-config');
    for (const [mode, kubeVersion] of [
      ['api', '1.30.0'],
      ['volume', '1.30.0'],
      ['api', '1.28.5'],
    ] as const) {
      const flags = [
        '--set',
        'config.existingConfigMap=edge-routes',
        '--set',
        `sidecar.mode=${mode}`,
      ];
      const objects = render(flags, kubeVersion);
      assertSecurePod(objects);
      assert.deepEqual(
        findKind(objects, 'ConfigMap').map((c) => c.metadata.name),
        mode === 'api' ? ['rp-reverse-proxy-last-good'] : [],
        "no config ConfigMap of the chart's: helm upgrade has nothing to write back",
      );
      const [deployment] = findKind(objects, 'Deployment');
      const admin = podContainers(deployment as K8sObject).find((c) => c.name === 'admin');
      const volume = deployment?.spec.template.spec.volumes.find(
        (v: { name: string }) => v.name === 'configmap',
      );
      if (mode === 'api') {
        assert.ok(admin.args.includes('--configmap=edge-routes'), `${mode} ${kubeVersion}`);
        const [role] = findKind(objects, 'Role');
        assert.deepEqual(role?.rules[0].resourceNames, ['edge-routes'], 'RBAC follows the name');
      }
      if (mode === 'volume' || kubeVersion === '1.28.5') {
        assert.equal(volume?.configMap.name, 'edge-routes', `${mode} ${kubeVersion}`);
      }
    }
    const notes = renderNotes(['--set', 'config.existingConfigMap=edge-routes']);
    assert.match(
      notes,
      /your ConfigMap edge-routes \(key proxy\.yaml, config\.existingConfigMap\):\nHelm neither writes nor reverts it/,
    );
    assert.match(notes, /kubectl -n web edit configmap edge-routes/);
    // Values the chart would render into a ConfigMap it no longer renders are refused.
    const ignored = helm([
      'template',
      'rp',
      CHART,
      '--set',
      'config.existingConfigMap=edge-routes',
      '--set',
      'config.upstream_pool.max_connections=10',
    ]);
    assert.notEqual(ignored.code, 0);
    assert.match(
      ignored.stderr,
      /config\.upstream_pool is set, but config\.existingConfigMap \(edge-routes\) replaces the chart's ConfigMap/,
    );
    const drain = helm([
      'template',
      'rp',
      CHART,
      '--set',
      'config.existingConfigMap=edge-routes',
      '--set',
      'proxy.gracePeriodSeconds=40',
    ]);
    assert.match(drain.stderr, /must be below terminationGracePeriodSeconds/, 'still checked');
  });

  it('rejects unknown keys, wrong types and a drain longer than the grace period', () => {
    const cases: [string[], RegExp][] = [
      [['--set', 'replicaCout=3'], /Additional property replicaCout is not allowed/],
      [['--set', 'replicaCount=many'], /replicaCount.*(Invalid type|integer)/],
      [['--set', 'sidecar.mode=poll'], /sidecar\.mode/],
      [['--set', 'proxy.gracePeriodSeconds=40'], /must be below terminationGracePeriodSeconds/],
      [['--set', 'tls.enabled=true'], /secretName/],
      [['--set', 'tls.minVersion=TLSv1.1'], /minVersion.*(must be one of|TLSv1\.2)/],
      [
        ['--set', 'service.externalTrafficPolicy=Local'],
        /externalTrafficPolicy needs service\.type NodePort or LoadBalancer/,
      ],
      [
        [
          '--set',
          'service.type=NodePort',
          '--set',
          'service.loadBalancerSourceRanges={10.0.0.0/8}',
        ],
        /loadBalancerSourceRanges needs service\.type LoadBalancer/,
      ],
      [['--set', 'service.externalTrafficPolicy=local'], /externalTrafficPolicy/],
      [['--set', 'service.loadBalancerSourceRanges={anywhere}'], /loadBalancerSourceRanges\.0/],
    ];
    for (const [flags, pattern] of cases) {
      const result = helm(['template', 'rp', CHART, ...flags]);
      assert.notEqual(result.code, 0, `${flags.join(' ')} must fail`);
      assert.match(result.stderr, pattern);
    }
  });
});

describe('k8s/ plain manifests', () => {
  it('are exactly the chart rendered with deploy/k8s/values.yaml (scripts/render-k8s.sh)', () => {
    const committed = readFileSync(join(ROOT, 'k8s', 'reverse-proxy.yaml'), 'utf8');
    const fresh = helm([
      'template',
      'reverse-proxy',
      CHART,
      '--namespace',
      'reverse-proxy',
      '--kube-version',
      '1.30.0',
      '--no-hooks',
      '-f',
      join(ROOT, 'deploy', 'k8s', 'values.yaml'),
    ]);
    assert.equal(fresh.code, 0, fresh.stderr);
    const strip = (text: string) =>
      text
        .split('\n')
        .filter(
          (l) =>
            !/^\s*(helm\.sh\/chart|app\.kubernetes\.io\/managed-by):/.test(l) &&
            !l.startsWith('# '),
        )
        .join('\n')
        .trim();
    assert.equal(
      strip(committed),
      strip(fresh.stdout),
      'k8s/ drifted from the chart: run scripts/render-k8s.sh',
    );
  });

  it('hold only manifests, none naming a namespace, so `kubectl apply -n NS -f k8s/` works in any NS', () => {
    // kubectl apply -f DIR reads every .yaml, .yml and .json file in it as manifests.
    const files = readdirSync(join(ROOT, 'k8s')).filter((f) => /\.(ya?ml|json)$/.test(f));
    assert.deepEqual(files, ['reverse-proxy.yaml']);
    const objects = parseManifests(readFileSync(join(ROOT, 'k8s', 'reverse-proxy.yaml'), 'utf8'));
    for (const obj of objects) {
      assert.ok(obj.apiVersion && obj.kind, `${JSON.stringify(obj).slice(0, 80)}: a manifest`);
      assert.equal(obj.metadata.namespace, undefined, `${obj.kind} ${obj.metadata.name}`);
    }
    const [binding] = findKind(objects, 'RoleBinding');
    // An unqualified ServiceAccount in a RoleBinding is the binding's own namespace's.
    assert.deepEqual(binding?.subjects, [{ kind: 'ServiceAccount', name: 'reverse-proxy' }]);
    const text = readFileSync(join(ROOT, 'k8s', 'reverse-proxy.yaml'), 'utf8');
    assert.doesNotMatch(text, /^\s*(- )?namespace:|--namespace/m, 'no namespace anywhere');
  });

  it('are valid and as secure as the chart', () => {
    const objects = parseManifests(readFileSync(join(ROOT, 'k8s', 'reverse-proxy.yaml'), 'utf8'));
    assertSecurePod(objects);
    assert.equal(findKind(objects, 'Pod').length, 0, 'no helm test hook in plain manifests');
  });
});
