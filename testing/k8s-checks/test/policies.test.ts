import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import {
  REPO_ROOT,
  allPolicyProblems,
  committedSecretProblems,
  envProblems,
  envValueProblems,
  goRuntimeProblems,
  graceProblems,
  hpaProblems,
  imageProblems,
  jetstreamProblems,
  natsStorageProblems,
  natsMemoryProblems,
  parseGoMemLimit,
  parseNatsSize,
  natsImageProblems,
  networkPolicyProblems,
  pdbProblems,
  portProblems,
  probeProblems,
  resourceProblems,
  securityProblems,
  type K8sObject,
} from '../src/index.js';
import { CI_NATS_VERSION_RE, find, podSpec, rendered, withLoadTest } from './renders.js';

const ciNatsVersion = CI_NATS_VERSION_RE.exec(readFileSync(join(REPO_ROOT, '.github', 'workflows', 'ci.yml'), 'utf8'))?.[1] ?? 'missing';

describe('every policy holds for every overlay (with the load test applied next to it)', () => {
  test.each([
    ['production', true],
    ['dev', false],
    ['base', true],
  ] as const)('%s', (name, production) => {
    expect(allPolicyProblems(withLoadTest(name), { production, natsVersion: ciNatsVersion })).toEqual([]);
  });

  test('the NATS image is the version CI tests against', () => {
    expect(ciNatsVersion).toMatch(/^2\.\d+\.\d+$/);
    expect(natsImageProblems(rendered('production'), ciNatsVersion)).toEqual([]);
    expect(natsImageProblems(rendered('production'), '2.9.0')[0]?.object).toBe('StatefulSet/nats');
  });
});

/** A container's GOMAXPROCS resourceFieldRef, to mutate. */
function gomaxprocsRef(c: { env?: { name: string; valueFrom?: unknown }[] }): { resource: string; divisor?: string } {
  const ref = (c.env?.find((e) => e.name === 'GOMAXPROCS')?.valueFrom as { resourceFieldRef?: { resource: string; divisor?: string } } | undefined)?.resourceFieldRef;
  if (ref === undefined) throw new Error('no GOMAXPROCS resourceFieldRef');
  return ref;
}

/** The production render with the load test, and one mutation applied. */
function mutated(mutate: (objects: K8sObject[]) => void): K8sObject[] {
  const objects = withLoadTest('production');
  mutate(objects);
  return objects;
}

describe('each policy names the object that breaks it', () => {
  test('probes', () => {
    const objects = mutated((o) => delete podSpec(find(o, 'Deployment', 'edge')).containers[0]!.readinessProbe);
    expect(probeProblems(objects)).toEqual([
      { object: 'Deployment/edge', message: 'Deployment/edge container edge has no readinessProbe' },
    ]);
  });

  test('resources', () => {
    const objects = mutated((o) => delete podSpec(find(o, 'StatefulSet', 'nats')).containers[1]!.resources!.limits);
    expect(resourceProblems(objects).map((p) => p.message)).toEqual([
      'StatefulSet/nats container exporter has no limits.cpu',
      'StatefulSet/nats container exporter has no limits.memory',
    ]);
  });

  test('Go servers: GOMAXPROCS from their own CPU limit', () => {
    const missing = mutated((o) => {
      const nats = podSpec(find(o, 'StatefulSet', 'nats')).containers[0]!;
      nats.env = nats.env!.filter((e) => e.name !== 'GOMAXPROCS');
    });
    expect(goRuntimeProblems(missing)).toEqual([
      { object: 'StatefulSet/nats', message: 'StatefulSet/nats container nats runs Go (nats:2.10.27-alpine) without GOMAXPROCS from its own limits.cpu' },
    ]);
    const fromRequests = mutated((o) => {
      const exporter = podSpec(find(o, 'StatefulSet', 'nats')).containers[1]!;
      gomaxprocsRef(exporter).resource = 'requests.cpu';
    });
    expect(goRuntimeProblems(fromRequests).map((p: { message: string }) => p.message)).toEqual([
      'StatefulSet/nats container exporter runs Go (natsio/prometheus-nats-exporter:0.17.3) without GOMAXPROCS from its own limits.cpu',
    ]);
    const milliCores = mutated((o) => {
      const k6 = podSpec(find(o, 'Job', 'k6')).containers[0]!;
      gomaxprocsRef(k6).divisor = '1m';
    });
    expect(goRuntimeProblems(milliCores)).toHaveLength(1);
  });

  test('securityContext', () => {
    const objects = mutated((o) => (podSpec(find(o, 'Deployment', 'ingest')).containers[0]!.securityContext!.readOnlyRootFilesystem = false));
    expect(securityProblems(objects)).toEqual([{ object: 'Deployment/ingest', message: 'Deployment/ingest container ingest has a writable root filesystem' }]);
  });

  test('a PodDisruptionBudget for every workload', () => {
    const objects = mutated((o) => o.splice(o.indexOf(find(o, 'PodDisruptionBudget', 'dlq')), 1));
    expect(pdbProblems(objects)).toEqual([{ object: 'Deployment/dlq', message: 'Deployment/dlq is selected by 0 PodDisruptionBudgets (none), want exactly 1' }]);
  });

  test('NetworkPolicies: every pod covered, every port one a pod listens on', () => {
    const withoutEdge = mutated((o) => o.splice(o.indexOf(find(o, 'NetworkPolicy', 'edge')), 1));
    expect(networkPolicyProblems(withoutEdge)).toEqual([{ object: 'Deployment/edge', message: 'Deployment/edge has no NetworkPolicy of its own (only the namespace-wide ones)' }]);
    const stalePort = mutated((o) => {
      const p = find(o, 'NetworkPolicy', 'redis') as K8sObject & { spec: { ingress: { ports: { port: number }[] }[] } };
      p.spec.ingress[0]!.ports[0]!.port = 6380;
    });
    expect(networkPolicyProblems(stalePort)).toEqual([
      { object: 'NetworkPolicy/redis', message: 'NetworkPolicy/redis admits port 6380, on which Deployment/redis does not listen' },
    ]);
    const staleEgress = mutated((o) => {
      const p = find(o, 'NetworkPolicy', 'dlq') as K8sObject & { spec: { egress: { ports: { port: number }[] }[] } };
      p.spec.egress[1]!.ports[0]!.port = 3002;
    });
    expect(networkPolicyProblems(staleEgress)).toEqual([
      { object: 'NetworkPolicy/dlq', message: 'NetworkPolicy/dlq allows egress to Deployment/auth on port 3002, where it does not listen' },
    ]);
  });

  test('no :latest, no untagged image', () => {
    const objects = mutated((o) => (podSpec(find(o, 'Deployment', 'redis')).containers[0]!.image = 'redis:latest'));
    expect(imageProblems(objects)).toEqual([{ object: 'Deployment/redis', message: 'Deployment/redis container redis image "redis:latest" is not pinned (no tag, or :latest)' }]);
  });

  test('ports agree between container, configuration, probes and Service', () => {
    const objects = mutated((o) => {
      const port = podSpec(find(o, 'Deployment', 'edge')).containers[0]!.ports!.find((p) => p.name === 'http')!;
      port.containerPort = 3005;
    });
    const messages = portProblems(objects).map((p) => `${p.object}: ${p.message}`);
    expect(messages).toContain('Deployment/edge: Deployment/edge container port http is 3005, PORT is 3003');
    expect(messages).toContain('Service/edge: Service/edge port 3003 forwards to 3005: keep them equal (URLs in the configuration use one number)');
  });

  test('a URL in the configuration must use a port its Service has', () => {
    const objects = mutated((o) => ((find(o, 'ConfigMap', 'orderwire-common') as K8sObject & { data: Record<string, string> }).data.AUTH_JWKS_URL = 'http://auth:3009/.well-known/jwks.json'));
    expect(portProblems(objects).map((p) => p.message)).toContain('Deployment/ingest AUTH_JWKS_URL points at auth:3009, but Service/auth has no port 3009');
  });

  test('every variable is declared by the service’s spec, every required one set', () => {
    const objects = mutated((o) => {
      const edge = podSpec(find(o, 'Deployment', 'edge')).containers[0]!;
      edge.env!.push({ name: 'EDGE_ACK_TIMEOUTS', value: '10s' }, { name: 'EDGE_BATCH_MAX', value: '16' });
      const auth = podSpec(find(o, 'Deployment', 'auth'));
      for (const c of [...auth.containers, ...(auth.initContainers ?? [])]) c.env = c.env!.filter((e) => e.name !== 'AUTH_KEK');
    });
    expect(envProblems(objects)).toEqual([
      { object: 'Deployment/auth', message: 'Deployment/auth container auth does not set AUTH_KEK, which auth requires' },
      { object: 'Deployment/edge', message: "Deployment/edge container edge sets EDGE_ACK_TIMEOUTS, which edge's configuration spec does not declare" },
      { object: 'Deployment/edge', message: 'Deployment/edge container edge sets EDGE_ACK_TIMEOUTS as a literal: put it in its ConfigMap' },
      { object: 'Deployment/edge', message: 'Deployment/edge container edge sets EDGE_BATCH_MAX as a literal: put it in its ConfigMap' },
    ]);
  });

  test('every value passes the service’s own configuration loader', () => {
    const objects = mutated((o) => {
      const edge = find(o, 'ConfigMap', 'orderwire-edge') as K8sObject & { data: Record<string, string> };
      edge.data.EDGE_TRANSPORTS = 'websocket,carrier-pigeon';
      const common = find(o, 'ConfigMap', 'orderwire-common') as K8sObject & { data: Record<string, string> };
      common.data.SHUTDOWN_GRACE = '25 seconds';
    });
    const problems = envValueProblems(objects).map((p) => `${p.object}: ${p.message}`);
    expect(problems).toContain('Deployment/edge: Deployment/edge container edge: EDGE_TRANSPORTS items must match /^(websocket|polling)$/; bad: "carrier-pigeon"');
    // SHUTDOWN_GRACE is common: every NATS service container refuses it (topology apply reads none).
    expect(problems.filter((p) => p.includes('SHUTDOWN_GRACE expected a duration'))).toHaveLength(4);
  });

  test('topology apply gets exactly its own spec: auth’s TOPOLOGY_APPLY_SPEC plus every JETSTREAM_* variable', () => {
    const objects = mutated((o) => {
      const init = podSpec(find(o, 'Deployment', 'auth')).initContainers![0]!;
      // auth's server reads the KEK, `topology apply` does not; the display has no topology.
      init.envFrom!.push({ configMapRef: { name: 'orderwire-auth' } });
      const topology = find(o, 'ConfigMap', 'orderwire-topology') as K8sObject & { data: Record<string, string> };
      topology.data.JETSTREAM_KV_LEASES_TTL = '1s';
    });
    expect(envProblems(objects).map((p) => p.message)).toEqual([
      "Deployment/auth container topology-apply sets CORS_ALLOWED_ORIGINS, which topology-apply's configuration spec does not declare",
      "Deployment/auth container topology-apply sets PORT, which topology-apply's configuration spec does not declare",
    ]);
    // Its own loader cross-checks the bucket TTLs against auth's lifetimes.
    expect(envValueProblems(objects).map((p) => p.message).filter((m) => m.includes('topology-apply'))).toEqual([
      expect.stringContaining('Deployment/auth container topology-apply: JETSTREAM_KV_LEASES_TTL'),
    ]);
    // Every service container is held to its own spec: JETSTREAM_REPLICAS is the topology's only.
    const leaked = mutated((o) => ((find(o, 'ConfigMap', 'orderwire-common') as K8sObject & { data: Record<string, string> }).data.JETSTREAM_REPLICAS = '3'));
    expect(envProblems(leaked).map((p) => p.message)).toContain("Deployment/ingest container ingest sets JETSTREAM_REPLICAS, which ingest's configuration spec does not declare");
  });

  test('the NATS volume holds max_file_store, which holds every JETSTREAM_*_MAX_BYTES', () => {
    expect([parseNatsSize('12GiB'), parseNatsSize('8G'), parseNatsSize('1024'), parseNatsSize('lots')]).toEqual([12 * 2 ** 30, 8e9, 1024, undefined]);
    expect(natsStorageProblems(rendered('dev'))).toEqual([]);
    const tooBig = mutated((o) => ((find(o, 'ConfigMap', 'orderwire-topology') as K8sObject & { data: Record<string, string> }).data.JETSTREAM_ORDERS_MAX_BYTES = '6GiB'));
    expect(natsStorageProblems(tooBig)).toEqual([
      { object: 'Deployment/auth', message: `Deployment/auth container topology-apply: the JETSTREAM_*_MAX_BYTES add up to ${13_706_985_472} B, more than the NATS max_file_store ${12 * 2 ** 30} B` },
    ]);
    const small = mutated((o) => {
      const sts = find(o, 'StatefulSet', 'nats').spec as { volumeClaimTemplates: { spec: { resources: { requests: Record<string, string> } } }[] };
      sts.volumeClaimTemplates[0]!.spec.resources.requests.storage = '12Gi';
    });
    expect(natsStorageProblems(small).map((p) => p.object)).toEqual(['StatefulSet/nats']);
  });

  test("nats-server's memory holds a full RECEIPTS and 10,000 displays at its GOGC (docs/adr/0006)", () => {
    expect([parseGoMemLimit('5000MiB'), parseGoMemLimit('2GiB'), parseGoMemLimit('1024'), parseGoMemLimit('2G'), parseGoMemLimit('lots')]).toEqual([
      5000 * 2 ** 20,
      2 * 2 ** 30,
      1024,
      undefined,
      undefined,
    ]);
    expect(natsMemoryProblems(rendered('production'))).toEqual([]);
    expect(natsMemoryProblems(rendered('dev'))).toEqual([]);
    const natsContainer = (o: K8sObject[]) => podSpec(find(o, 'StatefulSet', 'nats')).containers.find((c) => c.name === 'nats')!;
    const setEnv = (o: K8sObject[], name: string, value: string) => (natsContainer(o).env!.find((e) => e.name === name)!.value = value);
    const topology = (o: K8sObject[]) => (find(o, 'ConfigMap', 'orderwire-topology') as K8sObject & { data: Record<string, string> }).data;
    // Round 12's value under the default 2 GiB RECEIPTS: nats-server would live at its limit.
    const round12 = mutated((o) => setEnv(o, 'GOMEMLIMIT', '2500MiB'));
    const problems = natsMemoryProblems(round12);
    expect(problems.map((p) => p.object)).toEqual(['StatefulSet/nats']);
    expect(problems[0]!.message).toMatch(/^StatefulSet\/nats container nats: GOMEMLIMIT 2621440000 B is below \d+ B, the heap of a full RECEIPTS \(2147483648 B, Deployment\/auth\)/);
    // ...which a smaller RECEIPTS fits.
    expect(natsMemoryProblems(mutated((o) => (setEnv(o, 'GOMEMLIMIT', '2500MiB'), (topology(o).JETSTREAM_RECEIPTS_MAX_BYTES = '256MiB'))))).toEqual([]);
    // A larger RECEIPTS does not fit today's.
    expect(natsMemoryProblems(mutated((o) => (topology(o).JETSTREAM_RECEIPTS_MAX_BYTES = '3GiB'))).map((p) => p.object)).toEqual(['StatefulSet/nats']);
    // Collecting less often needs more room.
    expect(natsMemoryProblems(mutated((o) => setEnv(o, 'GOGC', '300'))).map((p) => p.object)).toEqual(['StatefulSet/nats']);
    expect(natsMemoryProblems(mutated((o) => setEnv(o, 'GOGC', 'off')))[0]?.message).toContain('GOGC off');
    // The container limit leaves room above GOMEMLIMIT.
    const tight = mutated((o) => (natsContainer(o).resources!.limits!.memory = '5000Mi'));
    expect(natsMemoryProblems(tight)[0]?.message).toContain('limits.memory');
    expect(natsMemoryProblems(mutated((o) => setEnv(o, 'GOMEMLIMIT', '5 GB')))[0]?.message).toContain('no GOMEMLIMIT Go can read');
  });

  test('a Secret-sourced variable passes only as a $(NAME) source for another variable', () => {
    const objects = mutated((o) => {
      const ingest = podSpec(find(o, 'Deployment', 'ingest')).containers[0]!;
      const url = ingest.env!.find((e) => e.name === 'REDIS_URL')!;
      url.value = 'redis://redis:6379';
    });
    expect(envProblems(objects).map((p) => p.message)).toEqual([
      "Deployment/ingest container ingest sets REDIS_PASSWORD, which ingest's configuration spec does not declare",
      'Deployment/ingest container ingest sets REDIS_URL as a literal: put it in its ConfigMap',
    ]);
  });

  test('the termination grace outlasts the preStop pause plus the edge’s drain (SHUTDOWN_GRACE)', () => {
    const objects = mutated((o) => (podSpec(find(o, 'Deployment', 'edge')).terminationGracePeriodSeconds = 30));
    expect(graceProblems(objects)).toEqual([
      { object: 'Deployment/edge', message: 'Deployment/edge terminationGracePeriodSeconds 30 must exceed preStop 5 s + SHUTDOWN_GRACE 25 s' },
    ]);
    const nats = mutated((o) => (podSpec(find(o, 'StatefulSet', 'nats')).terminationGracePeriodSeconds = 40));
    expect(graceProblems(nats).map((p) => p.object)).toEqual(['StatefulSet/nats']);
  });

  test('an autoscaled Deployment leaves the replica count to its HPA', () => {
    const objects = mutated((o) => ((find(o, 'Deployment', 'edge').spec as Record<string, unknown>).replicas = 2));
    expect(hpaProblems(objects)).toEqual([
      { object: 'Deployment/edge', message: 'Deployment/edge sets replicas although HorizontalPodAutoscaler/edge owns the count (every apply would reset it)' },
    ]);
  });

  test('production: 3 NATS nodes, JETSTREAM_REPLICAS=3, sync_interval: always, identities included', () => {
    const objects = mutated((o) => {
      (find(o, 'ConfigMap', 'orderwire-topology') as K8sObject & { data: Record<string, string> }).data.JETSTREAM_REPLICAS = '1';
      const conf = o.find((x) => x.kind === 'ConfigMap' && x.metadata.name.startsWith('nats-config')) as K8sObject & { data: Record<string, string> };
      conf.data['nats.conf'] = conf.data['nats.conf']!.replace('sync_interval: always', 'sync_interval: 2m');
    });
    expect(jetstreamProblems(objects, true).map((p) => p.message)).toEqual([
      'production JETSTREAM_REPLICAS is 1, want 3',
      'production nats.conf lacks `sync_interval: always` in its jetstream block',
    ]);
    // Dev runs one node: R1 is right there, R3 is not.
    expect(jetstreamProblems(rendered('dev'), false)).toEqual([]);
    const dev = rendered('dev');
    (find(dev, 'ConfigMap', 'orderwire-topology') as K8sObject & { data: Record<string, string> }).data.JETSTREAM_REPLICAS = '3';
    expect(jetstreamProblems(dev, false)).toEqual([{ object: 'ConfigMap/orderwire-topology', message: 'JETSTREAM_REPLICAS=3 but NATS runs 1 node(s)' }]);
  });

  test('production renders no Secret; dev’s throwaway ones are dev only', () => {
    expect(committedSecretProblems(rendered('production'))).toEqual([]);
    expect(committedSecretProblems(rendered('dev')).map((p) => p.object).sort()).toEqual(['Secret/orderwire-auth', 'Secret/orderwire-redis']);
  });
});
