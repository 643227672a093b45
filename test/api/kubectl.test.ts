// The real kubectl binary against the API server on the replicated store.
import { execFile, spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, startCluster, until, type TestCluster } from './harness.js';

const KUBECTL = process.env.KUBECTL ?? '/usr/bin/kubectl';
const haveKubectl = existsSync(KUBECTL);
if (!haveKubectl) console.warn(`skipping kubectl end-to-end tests: ${KUBECTL} not found (set KUBECTL to point at a kubectl 1.32 binary)`);

let c: TestCluster;

function kubectl(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(KUBECTL, args, { env: { ...process.env, KUBECONFIG: c.kubeconfig, ...env }, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

async function ok(args: string[], env: Record<string, string> = {}): Promise<string> {
  const r = await kubectl(args, env);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

const MANIFEST = (replicas: number, image: string, env: string) => `
apiVersion: v1
kind: Namespace
metadata:
  name: shop
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  labels: {app: web, tier: front}
spec:
  replicas: ${replicas}
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: nginx
        image: ${image}
        ports:
        - containerPort: 80
        env:
        - {name: MODE, value: "${env}"}
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
spec:
  selector: {app: web}
  ports:
  - port: 80
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: shop
  labels: {app: web}
data:
  color: blue
`;

describe.skipIf(!haveKubectl)('kubectl 1.32', () => {
  let manifest: string;

  beforeAll(async () => {
    c = await startCluster();
    manifest = join(c.dir, 'shop.yaml');
  });

  afterAll(async () => {
    await c?.stop();
  });

  it('reports the server version', async () => {
    expect(await ok(['version'])).toMatch(/Server Version: v1\.32/);
  });

  it('applies a multi-document manifest (with default validation)', async () => {
    writeFileSync(manifest, MANIFEST(2, 'nginx:1.25', 'a'));
    const out = await ok(['apply', '-f', manifest]);
    expect(out.trim().split('\n')).toEqual(['namespace/shop created', 'deployment.apps/web created', 'service/web created', 'configmap/settings created']);
  });

  it('gets tables, YAML, JSON and label-selected lists', async () => {
    const table = await ok(['get', 'deployments', '-n', 'shop']);
    expect(table).toMatch(/^NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE\n/);
    expect(table).toMatch(/\nweb\s+0\/2\s+0\s+0\s+\d+s\n/);
    const svc = await ok(['get', 'svc', 'web', '-n', 'shop']);
    expect(svc).toMatch(/^NAME\s+TYPE\s+CLUSTER-IP\s+EXTERNAL-IP\s+PORT\(S\)\s+AGE\n/);
    expect(svc).toMatch(/web\s+ClusterIP\s+10\.\d+\.\d+\.\d+\s+<none>\s+80\/TCP/);
    const yaml = await ok(['get', 'deploy', 'web', '-n', 'shop', '-o', 'yaml']);
    expect(yaml).toMatch(/kind: Deployment/);
    expect(yaml).toMatch(/maxSurge: 25%/);
    const json = JSON.parse(await ok(['get', 'cm', 'settings', '-n', 'shop', '-o', 'json']));
    expect(json.data).toEqual({ color: 'blue' });
    const byLabel = await ok(['get', 'deploy,cm', '-n', 'shop', '-l', 'app=web', '-o', 'name']);
    expect(byLabel.trim().split('\n').sort()).toEqual(['configmap/settings', 'deployment.apps/web']);
    expect((await ok(['get', 'deploy', '-A', '-l', 'tier=front', '--no-headers'])).trim()).toMatch(/^shop\s+web\s+0\/2/);
    const wide = await ok(['get', 'deploy', 'web', '-n', 'shop', '-o', 'wide']);
    expect(wide).toMatch(/CONTAINERS\s+IMAGES\s+SELECTOR/);
    expect(wide).toMatch(/nginx\s+nginx:1\.25\s+app=web/);
  });

  it('patches, edits and scales', async () => {
    await ok(['patch', 'deploy', 'web', '-n', 'shop', '-p', '{"spec":{"template":{"spec":{"containers":[{"name":"nginx","image":"nginx:1.26"}]}}}}']);
    await ok(['patch', 'deploy', 'web', '-n', 'shop', '--type=json', '-p', '[{"op":"add","path":"/metadata/labels/patched","value":"yes"}]']);
    await ok(['label', 'cm', 'settings', '-n', 'shop', 'edited=no']);
    await ok(['edit', 'cm', 'settings', '-n', 'shop'], { KUBE_EDITOR: 'sed -i s/color:\\ blue/color:\\ green/' });
    expect(await ok(['scale', 'deploy/web', '-n', 'shop', '--replicas=4'])).toMatch(/deployment.apps\/web scaled/);
    const d = JSON.parse(await ok(['get', 'deploy', 'web', '-n', 'shop', '-o', 'json']));
    expect(d.spec.replicas).toBe(4);
    expect(d.spec.template.spec.containers[0].image).toBe('nginx:1.26');
    expect(d.spec.template.spec.containers[0].env).toEqual([{ name: 'MODE', value: 'a' }]);
    expect(d.metadata.labels.patched).toBe('yes');
    expect(d.metadata.generation).toBe(3);
    expect(JSON.parse(await ok(['get', 'cm', 'settings', '-n', 'shop', '-o', 'json'])).data.color).toBe('green');
  });

  it('re-applies with a three-way merge', async () => {
    writeFileSync(manifest, MANIFEST(3, 'nginx:1.27', 'b'));
    const out = await ok(['apply', '-f', manifest]);
    expect(out).toMatch(/deployment.apps\/web configured/);
    expect(out).toMatch(/namespace\/shop unchanged/);
    const d = JSON.parse(await ok(['get', 'deploy', 'web', '-n', 'shop', '-o', 'json']));
    expect(d.spec.replicas).toBe(3);
    expect(d.spec.template.spec.containers[0].image).toBe('nginx:1.27');
    expect(d.spec.template.spec.containers[0].env).toEqual([{ name: 'MODE', value: 'b' }]);
    // The label added outside the manifest survives the merge.
    expect(d.metadata.labels.patched).toBe('yes');
    const again = await ok(['apply', '-f', manifest]);
    expect(again).toMatch(/deployment.apps\/web unchanged/);
  });

  it('watches with get -w (one-row tables per event)', async () => {
    const child = spawn(KUBECTL, ['get', 'cm', 'settings', '-n', 'shop', '-w'], { env: { ...process.env, KUBECONFIG: c.kubeconfig } });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    try {
      await until(() => /^NAME\s+DATA\s+AGE\n/.test(out) && /\nsettings\s+1\s+/.test(out), 10_000, 'the first rows');
      await ok(['label', 'cm', 'settings', '-n', 'shop', 'watched=yes']);
      await until(() => out.split('\n').filter((l) => l.startsWith('settings')).length >= 2, 10_000, 'the watched change');
    } finally {
      child.kill();
    }
  });

  it('rejects invalid manifests with readable messages', async () => {
    const bad = join(c.dir, 'bad.yaml');
    writeFileSync(
      bad,
      `apiVersion: apps/v1
kind: Deployment
metadata:
  name: Bad_Name
  namespace: shop
spec:
  replicas: -1
  selector:
    matchLabels: {app: one}
  template:
    metadata:
      labels: {app: two}
    spec:
      containers:
      - name: c
`,
    );
    const r = await kubectl(['apply', '-f', bad]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/The Deployment "Bad_Name" is invalid/);
    expect(r.stderr).toMatch(/spec\.replicas: Invalid value: -1: must be greater than or equal to 0/);
    expect(r.stderr).toMatch(/spec\.template\.spec\.containers\[0\]\.image: Required value/);
    const unknown = join(c.dir, 'unknown.yaml');
    writeFileSync(unknown, 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: typo\n  namespace: shop\ndatta:\n  a: b\n');
    const u = await kubectl(['apply', '-f', unknown]);
    expect(u.code).not.toBe(0);
    expect(u.stderr).toMatch(/unknown field "datta"/);
    const missing = await kubectl(['get', 'deploy', 'nope', '-n', 'shop']);
    expect(missing.stderr).toMatch(/deployments.apps "nope" not found/);
  });

  it('creates objects with the create generators (protobuf bodies)', async () => {
    await ok(['create', 'namespace', 'gen']);
    await ok(['create', 'configmap', 'c1', '-n', 'gen', '--from-literal=a=b']);
    await ok(['create', 'secret', 'generic', 's1', '-n', 'gen', '--from-literal=user=admin']);
    await ok(['create', 'deployment', 'd1', '-n', 'gen', '--image=nginx:1.25', '--port=80', '--replicas=2']);
    await ok(['create', 'job', 'j1', '-n', 'gen', '--image=busybox', '--', 'echo', 'hi']);
    await ok(['create', 'service', 'clusterip', 'svc1', '-n', 'gen', '--tcp=80:8080']);
    const d = JSON.parse(await ok(['get', 'deploy', 'd1', '-n', 'gen', '-o', 'json']));
    expect(d.spec.replicas).toBe(2);
    expect(d.spec.template.spec.containers[0]).toMatchObject({ name: 'nginx', image: 'nginx:1.25', ports: [{ containerPort: 80, protocol: 'TCP' }] });
    expect(JSON.parse(await ok(['get', 'secret', 's1', '-n', 'gen', '-o', 'json'])).data).toEqual({ user: Buffer.from('admin').toString('base64') });
    const j = JSON.parse(await ok(['get', 'job', 'j1', '-n', 'gen', '-o', 'json']));
    expect(j.spec.template.spec.containers[0].command).toEqual(['echo', 'hi']);
    expect(j.spec.template.spec.restartPolicy).toBe('Never');
    const s = JSON.parse(await ok(['get', 'svc', 'svc1', '-n', 'gen', '-o', 'json']));
    expect(s.spec.ports[0]).toMatchObject({ port: 80, targetPort: 8080, protocol: 'TCP' });
    expect(JSON.parse(await ok(['get', 'cm', 'c1', '-n', 'gen', '-o', 'json'])).data).toEqual({ a: 'b' });
    // kubectl autoscale writes an autoscaling/v1 HorizontalPodAutoscaler (protobuf).
    expect(await ok(['autoscale', 'deployment', 'd1', '-n', 'gen', '--min=2', '--max=5', '--cpu-percent=60'])).toMatch(/horizontalpodautoscaler.autoscaling\/d1 autoscaled/);
    const hpa = JSON.parse(await ok(['get', 'hpa', 'd1', '-n', 'gen', '-o', 'json']));
    expect(hpa.apiVersion).toBe('autoscaling/v2');
    expect(hpa.spec).toMatchObject({ minReplicas: 2, maxReplicas: 5, scaleTargetRef: { kind: 'Deployment', name: 'd1' } });
    expect(hpa.spec.metrics).toEqual([{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 60 } } }]);
    expect(JSON.parse(await ok(['get', 'horizontalpodautoscalers.v1.autoscaling', 'd1', '-n', 'gen', '-o', 'json'])).spec.targetCPUUtilizationPercentage).toBe(60);
  });

  it('creates a Job from a CronJob whose pod template uses most of PodSpec (a protobuf round trip)', async () => {
    const probe = { httpGet: { path: '/healthz', port: 8080, scheme: 'HTTP', httpHeaders: [{ name: 'X-Probe', value: '1' }] }, initialDelaySeconds: 3, periodSeconds: 5, failureThreshold: 2 };
    const cronJob = {
      apiVersion: 'batch/v1',
      kind: 'CronJob',
      metadata: { name: 'rich', namespace: 'gen' },
      spec: {
        schedule: '0 3 * * *',
        jobTemplate: {
          spec: {
            backoffLimit: 0,
            template: {
              metadata: { labels: { app: 'rich' } },
              spec: {
                restartPolicy: 'Never',
                securityContext: { runAsUser: 1000, runAsNonRoot: true, fsGroup: 2000, supplementalGroups: [3000, 3001], seccompProfile: { type: 'RuntimeDefault' } },
                volumes: [
                  { name: 'scratch', emptyDir: { sizeLimit: '1Gi' } },
                  { name: 'conf', configMap: { name: 'c1', items: [{ key: 'a', path: 'a.txt', mode: 0o644 }], optional: false } },
                  { name: 'data', persistentVolumeClaim: { claimName: 'data', readOnly: true } },
                ],
                initContainers: [{ name: 'init', image: 'busybox', command: ['sh', '-c', 'true'] }],
                containers: [
                  {
                    name: 'app',
                    image: 'registry.example/app:1',
                    args: ['--port=8080'],
                    env: [
                      { name: 'MODE', value: 'batch' },
                      { name: 'POD', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                      { name: 'KEY', valueFrom: { secretKeyRef: { name: 's1', key: 'user', optional: true } } },
                    ],
                    envFrom: [{ configMapRef: { name: 'c1' }, prefix: 'CFG_' }],
                    ports: [{ name: 'http', containerPort: 8080 }],
                    resources: { requests: { cpu: '250m', memory: '64Mi' }, limits: { cpu: '1' } },
                    volumeMounts: [{ name: 'scratch', mountPath: '/tmp' }, { name: 'conf', mountPath: '/etc/app', readOnly: true }],
                    livenessProbe: probe,
                    readinessProbe: { tcpSocket: { port: 'http' }, periodSeconds: 2 },
                    startupProbe: { exec: { command: ['cat', '/tmp/ready'] }, failureThreshold: 30 },
                    lifecycle: { preStop: { exec: { command: ['sleep', '1'] } } },
                    securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
                  },
                ],
                nodeSelector: { disk: 'ssd' },
                affinity: {
                  nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'zone', operator: 'In', values: ['a', 'b'] }] }] } },
                  podAntiAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 50, podAffinityTerm: { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: { app: 'rich' } } } }] },
                },
                tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'batch', effect: 'NoSchedule' }, { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 30 }],
                topologySpreadConstraints: [{ maxSkew: 1, topologyKey: 'zone', whenUnsatisfiable: 'ScheduleAnyway', labelSelector: { matchLabels: { app: 'rich' } } }],
                hostAliases: [{ ip: '10.0.0.9', hostnames: ['db.local'] }],
                dnsConfig: { nameservers: ['10.96.0.10'], options: [{ name: 'ndots', value: '2' }] },
                automountServiceAccountToken: false,
                priority: 0,
                enableServiceLinks: false,
              },
            },
          },
        },
      },
    };
    const created = await call(c, 'POST', '/apis/batch/v1/namespaces/gen/cronjobs', cronJob);
    expect(created.status, created.text).toBe(201);
    await ok(['create', 'job', 'rich-now', '-n', 'gen', '--from=cronjob/rich']);
    const job = JSON.parse(await ok(['get', 'job', 'rich-now', '-n', 'gen', '-o', 'json']));
    const stored = created.json().spec.jobTemplate.spec.template.spec;
    expect(job.spec.template.spec).toEqual(stored);
    expect(job.metadata.annotations['cronjob.kubernetes.io/instantiate']).toBe('manual');
    expect(job.metadata.ownerReferences[0]).toMatchObject({ kind: 'CronJob', name: 'rich' });
  });

  it('deletes and waits for the objects to go', async () => {
    expect(await ok(['delete', 'deploy', 'web', '-n', 'shop'])).toMatch(/deployment.apps "web" deleted/);
    expect((await kubectl(['get', 'deploy', 'web', '-n', 'shop'])).code).not.toBe(0);
    const out = await ok(['delete', '-f', manifest, '--ignore-not-found']);
    expect(out).toMatch(/namespace "shop" deleted/);
    expect(await ok(['get', 'ns', '-o', 'name'])).not.toMatch(/namespace\/shop/);
  });
});
