/**
 * Deployment policies over rendered objects. Every problem names the object that breaks the rule
 * (`Kind/name`), so a failing test points at the manifest to fix.
 */
import { parseDuration, parseSize } from '@orderwire/platform';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IPodTemplateSpec } from 'kubernetes-models/v1/PodTemplateSpec';
import type { IProbe } from 'kubernetes-models/v1/Probe';
import type { IService } from 'kubernetes-models/v1/Service';
import type { INetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import type { IPodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import type { IHorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import type { IIngress } from 'kubernetes-models/networking.k8s.io/v1/Ingress';
import type { IServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor';
import { ORDERWIRE_SERVICES, processConfigVars, serviceConfigVars, validateProcessEnv, type ConfigProcess, type OrderwireService } from './config-specs.js';
import type { K8sObject } from './render.js';
import { objectName } from './render.js';
import type { Problem } from './schema.js';

// ---------------------------------------------------------------------------------------------
// Reading the rendered objects

interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

export interface Workload {
  object: K8sObject;
  name: string;
  template: IPodTemplateSpec;
  /** Long-running (Deployment, StatefulSet, DaemonSet), as opposed to a Job's or CronJob's run-to-completion pod. */
  longRunning: boolean;
}

const WORKLOAD_KINDS: Record<string, boolean> = { Deployment: true, StatefulSet: true, DaemonSet: true, Job: false, CronJob: false };

export function workloads(objects: readonly K8sObject[]): Workload[] {
  const out: Workload[] = [];
  for (const o of objects) {
    const longRunning = WORKLOAD_KINDS[o.kind];
    if (longRunning === undefined) continue;
    // A CronJob's pod template sits one level deeper, in its Job template.
    const spec = o.spec as { template?: IPodTemplateSpec; jobTemplate?: { spec?: { template?: IPodTemplateSpec } } } | undefined;
    const template = spec?.template ?? spec?.jobTemplate?.spec?.template;
    if (template === undefined) continue;
    out.push({ object: o, name: objectName(o), template, longRunning });
  }
  return out;
}

function podLabels(w: Workload): Record<string, string> {
  return w.template.metadata?.labels ?? {};
}

/** The Orderwire service a workload runs, by its `app.kubernetes.io/name` label. */
export function serviceOf(w: Workload): OrderwireService | undefined {
  const name = podLabels(w)['app.kubernetes.io/name'];
  return ORDERWIRE_SERVICES.find((s) => s === name);
}

/** The CLI `orderwire-auth topology apply`: the one owner of the JetStream topology. */
const TOPOLOGY_APPLY_COMMAND = ['orderwire-auth', 'topology', 'apply'];

/**
 * The Orderwire process a container runs, whose configuration spec its environment must fit:
 * `topology apply` when that is its command, else the service of the workload for a container
 * that runs the image's entrypoint. Undefined for anything else (NATS, Redis, exporters, k6).
 */
export function processOf(w: Workload, c: IContainer): ConfigProcess | undefined {
  const command = [...(c.command ?? []), ...(c.args ?? [])];
  if (command.length === TOPOLOGY_APPLY_COMMAND.length && command.every((x, i) => x === TOPOLOGY_APPLY_COMMAND[i])) return 'topology-apply';
  const service = serviceOf(w);
  if (service === undefined || c.command !== undefined || !new RegExp(`(^|/)orderwire/${service}[:@]`).test(c.image ?? '')) return undefined;
  return service;
}

function containers(w: Workload): { c: IContainer; init: boolean }[] {
  const spec = w.template.spec;
  return [...(spec?.initContainers ?? []).map((c) => ({ c, init: true })), ...(spec?.containers ?? []).map((c) => ({ c, init: false }))];
}

/** Kubernetes label-selector semantics (an empty selector selects everything). */
export function selects(selector: LabelSelector | undefined, labels: Record<string, string>): boolean {
  if (selector === undefined) return false;
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, e.key);
    const value = labels[e.key];
    const inValues = value !== undefined && (e.values ?? []).includes(value);
    if (e.operator === 'In' && !inValues) return false;
    if (e.operator === 'NotIn' && inValues) return false;
    if (e.operator === 'Exists' && !has) return false;
    if (e.operator === 'DoesNotExist' && has) return false;
  }
  return true;
}

function ofKind<T>(objects: readonly K8sObject[], kind: string): (K8sObject & T)[] {
  return objects.filter((o) => o.kind === kind) as (K8sObject & T)[];
}

function configMapData(objects: readonly K8sObject[], name: string): Record<string, string> | undefined {
  const cm = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === name) as { data?: Record<string, string> } | undefined;
  return cm?.data;
}

/** How a container gets one environment variable. */
interface EnvSource {
  value?: string;
  from: 'configMap' | 'literal' | 'secret' | 'field' | 'other';
}

/** Every variable a container's environment has (envFrom ConfigMaps, then env), by name. */
export function containerEnv(objects: readonly K8sObject[], c: IContainer): Map<string, EnvSource> {
  const env = new Map<string, EnvSource>();
  for (const from of c.envFrom ?? []) {
    const name = from.configMapRef?.name;
    if (name === undefined) continue;
    for (const [k, v] of Object.entries(configMapData(objects, name) ?? {})) env.set(k, { value: v, from: 'configMap' });
  }
  for (const e of c.env ?? []) {
    if (e.value !== undefined) env.set(e.name, { value: e.value, from: 'literal' });
    else if (e.valueFrom?.secretKeyRef !== undefined) env.set(e.name, { from: 'secret' });
    else if (e.valueFrom?.fieldRef !== undefined) env.set(e.name, { from: 'field' });
    else if (e.valueFrom?.configMapKeyRef !== undefined) {
      const ref = e.valueFrom.configMapKeyRef;
      const value = configMapData(objects, ref.name ?? '')?.[ref.key];
      // The kubelet leaves an optional reference to an absent key unset (the default applies).
      if (value === undefined && ref.optional === true) continue;
      env.set(e.name, { value, from: 'configMap' });
    } else env.set(e.name, { from: 'other' });
  }
  return env;
}

/** The value a service runs with: the manifest's, else the default its spec declares. */
function effectiveValue(service: OrderwireService, env: Map<string, EnvSource>, name: string): string | undefined {
  return env.get(name)?.value ?? serviceConfigVars(service).find((v) => v.env === name)?.default;
}

function containerPort(c: IContainer, port: number | string | undefined): number | undefined {
  if (typeof port === 'number') return (c.ports ?? []).some((p) => p.containerPort === port) ? port : undefined;
  return (c.ports ?? []).find((p) => p.name === port)?.containerPort;
}

function podPorts(w: Workload): Set<number> {
  return new Set((w.template.spec?.containers ?? []).flatMap((c) => (c.ports ?? []).map((p) => p.containerPort)));
}

// ---------------------------------------------------------------------------------------------
// Policies

/** Readiness and liveness everywhere; the services also a startup probe on their own endpoints. */
export function probeProblems(objects: readonly K8sObject[]): Problem[] {
  const problems: Problem[] = [];
  for (const w of workloads(objects).filter((x) => x.longRunning)) {
    const service = serviceOf(w);
    for (const { c, init } of containers(w)) {
      if (init) continue;
      const where = `${w.name} container ${c.name}`;
      if (c.readinessProbe === undefined) problems.push({ object: w.name, message: `${where} has no readinessProbe` });
      if (c.livenessProbe === undefined) problems.push({ object: w.name, message: `${where} has no livenessProbe` });
      if (service === undefined) continue;
      if (c.startupProbe === undefined) problems.push({ object: w.name, message: `${where} has no startupProbe` });
      const expect: [string, IProbe | undefined, string][] = [
        ['startupProbe', c.startupProbe, '/healthz'],
        ['livenessProbe', c.livenessProbe, '/healthz'],
        ['readinessProbe', c.readinessProbe, '/readyz'],
      ];
      for (const [kind, probe, path] of expect) {
        if (probe === undefined) continue;
        if (probe.httpGet?.path !== path) problems.push({ object: w.name, message: `${where} ${kind} must GET ${path} (has ${probe.httpGet?.path ?? 'no httpGet'})` });
      }
    }
  }
  return problems;
}

const QUANTITY_RE = /^(\d+(?:\.\d+)?)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$/;
const QUANTITY_UNITS: Record<string, number> = { '': 1, m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40 };

/** A Kubernetes quantity as a number (cores or bytes); undefined when it is not one. */
export function parseQuantity(q: string | number | undefined): number | undefined {
  if (typeof q === 'number') return q;
  if (q === undefined) return undefined;
  const m = QUANTITY_RE.exec(q);
  return m === null ? undefined : Number(m[1]) * QUANTITY_UNITS[m[2] ?? '']!;
}

/** Requests (CPU, memory) and limits (CPU, memory) on every container, requests within limits. */
export function resourceProblems(objects: readonly K8sObject[]): Problem[] {
  const problems: Problem[] = [];
  for (const w of workloads(objects)) {
    for (const { c } of containers(w)) {
      const where = `${w.name} container ${c.name}`;
      for (const kind of ['requests', 'limits'] as const) {
        for (const r of ['cpu', 'memory']) {
          if (c.resources?.[kind]?.[r] === undefined) problems.push({ object: w.name, message: `${where} has no ${kind}.${r}` });
        }
      }
      for (const r of ['cpu', 'memory']) {
        const req = parseQuantity(c.resources?.requests?.[r]);
        const lim = parseQuantity(c.resources?.limits?.[r]);
        if (req !== undefined && lim !== undefined && req > lim) problems.push({ object: w.name, message: `${where} requests more ${r} than its limit` });
      }
    }
  }
  return problems;
}

/**
 * Images of Go programs that do real work (nats-server, its exporter, k6). Go before 1.25 sizes
 * its scheduler (GOMAXPROCS) by the node's CPUs, not the container's CPU limit, so a 2-CPU
 * nats-server on a 32-core node runs 32 Ps against a 2-CPU CFS quota and is throttled in 100 ms
 * slices. nats-box is left out: it is a shell for the runbook's commands.
 */
export const GO_SERVER_IMAGES = [/(^|\/)nats:/, /(^|\/)prometheus-nats-exporter:/, /(^|\/)k6:/];

/** Every container of a Go server image takes GOMAXPROCS from its own limits.cpu, in whole cores. */
export function goRuntimeProblems(objects: readonly K8sObject[]): Problem[] {
  const problems: Problem[] = [];
  for (const w of workloads(objects)) {
    for (const { c } of containers(w)) {
      const image = c.image ?? '';
      if (!GO_SERVER_IMAGES.some((re) => re.test(image))) continue;
      const ref = c.env?.find((e) => e.name === 'GOMAXPROCS')?.valueFrom?.resourceFieldRef;
      const ok =
        ref !== undefined &&
        ref.resource === 'limits.cpu' &&
        (ref.containerName === undefined || ref.containerName === c.name) &&
        parseQuantity(ref.divisor ?? '1') === 1;
      if (!ok) problems.push({ object: w.name, message: `${w.name} container ${c.name} runs Go (${image.split('@')[0]}) without GOMAXPROCS from its own limits.cpu` });
    }
  }
  return problems;
}

/** runAsNonRoot, RuntimeDefault seccomp, read-only root, no escalation, every capability dropped. */
export function securityProblems(objects: readonly K8sObject[]): Problem[] {
  const problems: Problem[] = [];
  for (const w of workloads(objects)) {
    const pod = w.template.spec?.securityContext;
    const spec = w.template.spec;
    if (spec?.hostNetwork === true || spec?.hostPID === true || spec?.hostIPC === true) problems.push({ object: w.name, message: `${w.name} shares a host namespace` });
    for (const { c } of containers(w)) {
      const s = c.securityContext;
      const where = `${w.name} container ${c.name}`;
      if ((s?.runAsNonRoot ?? pod?.runAsNonRoot) !== true) problems.push({ object: w.name, message: `${where} may run as root (runAsNonRoot)` });
      if ((s?.seccompProfile?.type ?? pod?.seccompProfile?.type) !== 'RuntimeDefault') problems.push({ object: w.name, message: `${where} has no RuntimeDefault seccomp profile` });
      if (s?.allowPrivilegeEscalation !== false) problems.push({ object: w.name, message: `${where} allows privilege escalation` });
      if (s?.privileged === true) problems.push({ object: w.name, message: `${where} is privileged` });
      if (s?.readOnlyRootFilesystem !== true) problems.push({ object: w.name, message: `${where} has a writable root filesystem` });
      if (!(s?.capabilities?.drop ?? []).includes('ALL')) problems.push({ object: w.name, message: `${where} does not drop ALL capabilities` });
      if ((s?.capabilities?.add ?? []).length > 0) problems.push({ object: w.name, message: `${where} adds capabilities` });
      if (serviceOf(w) !== undefined) {
        const tmp = (c.volumeMounts ?? []).find((m) => m.mountPath === '/tmp');
        const volume = spec?.volumes?.find((v) => v.name === tmp?.name);
        if (volume?.emptyDir === undefined) problems.push({ object: w.name, message: `${where} has no emptyDir at /tmp (its root filesystem is read-only)` });
      }
    }
  }
  return problems;
}

/** Every long-running workload is selected by exactly one PodDisruptionBudget. */
export function pdbProblems(objects: readonly K8sObject[]): Problem[] {
  const pdbs = ofKind<IPodDisruptionBudget>(objects, 'PodDisruptionBudget');
  const problems: Problem[] = [];
  for (const w of workloads(objects).filter((x) => x.longRunning)) {
    const matching = pdbs.filter((p) => selects(p.spec?.selector, podLabels(w)));
    if (matching.length !== 1) {
      problems.push({ object: w.name, message: `${w.name} is selected by ${matching.length} PodDisruptionBudgets (${matching.map(objectName).join(', ') || 'none'}), want exactly 1` });
    }
  }
  for (const p of pdbs) {
    if (!workloads(objects).some((w) => selects(p.spec?.selector, podLabels(w)))) {
      problems.push({ object: objectName(p), message: `${objectName(p)} selects no workload` });
    }
  }
  return problems;
}

function isDefaultDeny(p: INetworkPolicy): boolean {
  const s = p.spec;
  const types = s?.policyTypes ?? [];
  const empty = Object.keys(s?.podSelector?.matchLabels ?? {}).length === 0 && (s?.podSelector?.matchExpressions ?? []).length === 0;
  return empty && types.includes('Ingress') && types.includes('Egress') && (s?.ingress ?? []).length === 0 && (s?.egress ?? []).length === 0;
}

/**
 * Default deny covers every pod, every pod has its own allow policy, every port a policy lets in
 * is one its pods listen on, and every in-namespace egress port is one its target pods listen on.
 */
export function networkPolicyProblems(objects: readonly K8sObject[]): Problem[] {
  const policies = ofKind<INetworkPolicy>(objects, 'NetworkPolicy');
  const ws = workloads(objects);
  const problems: Problem[] = [];
  if (!policies.some(isDefaultDeny)) problems.push({ object: '(namespace)', message: 'no default-deny NetworkPolicy (empty podSelector, Ingress and Egress, no rules)' });
  for (const w of ws) {
    const own = policies.filter((p) => !isDefaultDeny(p) && Object.keys(p.spec?.podSelector?.matchLabels ?? {}).length + (p.spec?.podSelector?.matchExpressions ?? []).length > 0 && selects(p.spec?.podSelector as LabelSelector, podLabels(w)));
    if (own.length === 0) problems.push({ object: w.name, message: `${w.name} has no NetworkPolicy of its own (only the namespace-wide ones)` });
  }
  for (const p of policies) {
    const selected = ws.filter((w) => selects(p.spec?.podSelector as LabelSelector, podLabels(w)));
    if (selected.length === 0) {
      problems.push({ object: objectName(p), message: `${objectName(p)} selects no pod` });
      continue;
    }
    for (const rule of p.spec?.ingress ?? []) {
      for (const port of rule.ports ?? []) {
        if (typeof port.port !== 'number') continue;
        for (const w of selected) {
          if (!podPorts(w).has(port.port)) problems.push({ object: objectName(p), message: `${objectName(p)} admits port ${port.port}, on which ${w.name} does not listen` });
        }
      }
    }
    for (const rule of p.spec?.egress ?? []) {
      for (const peer of rule.to ?? []) {
        if (peer.podSelector === undefined || peer.namespaceSelector !== undefined) continue;
        const targets = ws.filter((w) => selects(peer.podSelector as LabelSelector, podLabels(w)));
        if (targets.length === 0) problems.push({ object: objectName(p), message: `${objectName(p)} allows egress to pods nothing runs` });
        for (const port of rule.ports ?? []) {
          if (typeof port.port !== 'number') continue;
          for (const t of targets) {
            if (!podPorts(t).has(port.port)) problems.push({ object: objectName(p), message: `${objectName(p)} allows egress to ${t.name} on port ${port.port}, where it does not listen` });
          }
        }
      }
    }
  }
  return problems;
}

const DIGEST_RE = /@sha256:[0-9a-f]{64}$/;

/** Every image names an exact version: a digest, or a tag that is not `latest`. */
export function imageProblems(objects: readonly K8sObject[]): Problem[] {
  const problems: Problem[] = [];
  for (const w of workloads(objects)) {
    for (const { c } of containers(w)) {
      const image = c.image ?? '';
      if (DIGEST_RE.test(image)) continue;
      const lastPart = image.split('/').pop() ?? '';
      const tag = lastPart.includes(':') ? lastPart.split(':').pop() : undefined;
      if (tag === undefined || tag === '' || tag === 'latest') {
        problems.push({ object: w.name, message: `${w.name} container ${c.name} image ${JSON.stringify(image)} is not pinned (no tag, or :latest)` });
      }
    }
  }
  return problems;
}

/** The NATS server image is the version CI tests against. */
export function natsImageProblems(objects: readonly K8sObject[], testedVersion: string): Problem[] {
  const sts = workloads(objects).find((w) => w.object.kind === 'StatefulSet' && w.object.metadata.name === 'nats');
  if (sts === undefined) return [{ object: 'StatefulSet/nats', message: 'missing' }];
  const image = sts.template.spec?.containers.find((c) => c.name === 'nats')?.image ?? '';
  const want = new RegExp(`^nats:${testedVersion.replace(/\./g, '\\.')}-alpine(@sha256:[0-9a-f]{64})?$`);
  return want.test(image) ? [] : [{ object: sts.name, message: `nats image ${image} is not nats:${testedVersion}-alpine, the version CI tests against` }];
}

/**
 * Ports agree everywhere: each service's `http` container port is its PORT (or the spec's
 * default) and `admin` its ADMIN_PORT; probes use them; every Service targetPort resolves; the
 * Services' ports equal the containers'; ServiceMonitors and the Ingress name existing ports; a
 * URL in the configuration that names a Service uses one of its ports.
 */
export function portProblems(objects: readonly K8sObject[]): Problem[] {
  const problems: Problem[] = [];
  const services = ofKind<IService>(objects, 'Service');
  const ws = workloads(objects);
  for (const w of ws) {
    const service = serviceOf(w);
    for (const { c, init } of containers(w)) {
      const env = containerEnv(objects, c);
      if (service !== undefined && !init) {
        const port = Number(effectiveValue(service, env, 'PORT'));
        if (containerPort(c, 'http') !== port) problems.push({ object: w.name, message: `${w.name} container port http is ${containerPort(c, 'http') ?? 'missing'}, PORT is ${port}` });
        const admin = env.get('ADMIN_PORT')?.value;
        if (admin !== undefined && containerPort(c, 'admin') !== Number(admin)) problems.push({ object: w.name, message: `${w.name} container port admin is ${containerPort(c, 'admin') ?? 'missing'}, ADMIN_PORT is ${admin}` });
      }
      for (const [kind, probe] of [['startupProbe', c.startupProbe], ['readinessProbe', c.readinessProbe], ['livenessProbe', c.livenessProbe]] as const) {
        const p = probe?.httpGet?.port ?? probe?.tcpSocket?.port;
        if (p !== undefined && containerPort(c, p) === undefined) problems.push({ object: w.name, message: `${w.name} container ${c.name} ${kind} uses port ${p}, which the container does not declare` });
        if (service !== undefined && probe?.httpGet !== undefined && containerPort(c, p) !== containerPort(c, 'http')) {
          problems.push({ object: w.name, message: `${w.name} ${kind} is not on the public port (http)` });
        }
      }
      for (const [name, source] of env) {
        if (source.value === undefined || !/^[a-z]+:\/\//.test(source.value)) continue;
        let url: URL;
        try {
          url = new URL(source.value.split(',')[0]!);
        } catch {
          continue;
        }
        const target = services.find((s) => s.metadata.name === url.hostname);
        if (target === undefined) continue;
        const port = Number(url.port);
        if (!(target.spec?.ports ?? []).some((sp) => sp.port === port)) problems.push({ object: w.name, message: `${w.name} ${name} points at ${url.host}, but Service/${target.metadata.name} has no port ${port}` });
      }
    }
  }
  for (const s of services) {
    const backends = ws.filter((w) => selects({ matchLabels: s.spec?.selector }, podLabels(w)));
    if (backends.length === 0) {
      problems.push({ object: objectName(s), message: `${objectName(s)} selects no pod` });
      continue;
    }
    for (const sp of s.spec?.ports ?? []) {
      for (const w of backends) {
        const resolved = (w.template.spec?.containers ?? []).map((c) => containerPort(c, sp.targetPort ?? sp.port)).find((x) => x !== undefined);
        if (resolved === undefined) problems.push({ object: objectName(s), message: `${objectName(s)} port ${sp.name ?? sp.port} targets ${String(sp.targetPort)}, which ${w.name} does not declare` });
        else if (resolved !== sp.port) problems.push({ object: objectName(s), message: `${objectName(s)} port ${sp.port} forwards to ${resolved}: keep them equal (URLs in the configuration use one number)` });
      }
    }
  }
  for (const m of ofKind<IServiceMonitor>(objects, 'ServiceMonitor')) {
    const selected = services.filter((s) => selects(m.spec.selector, s.metadata.labels ?? {}));
    if (selected.length === 0) problems.push({ object: objectName(m), message: `${objectName(m)} selects no Service` });
    for (const e of m.spec.endpoints ?? []) {
      for (const s of selected) {
        if (!(s.spec?.ports ?? []).some((p) => p.name === e.port)) problems.push({ object: objectName(m), message: `${objectName(m)} scrapes port ${String(e.port)}, which ${objectName(s)} does not have` });
      }
    }
  }
  for (const ing of ofKind<IIngress>(objects, 'Ingress')) {
    for (const rule of ing.spec?.rules ?? []) {
      for (const path of rule.http?.paths ?? []) {
        const b = path.backend.service;
        const s = services.find((x) => x.metadata.name === b?.name);
        const ok = s !== undefined && (s.spec?.ports ?? []).some((p) => (b?.port?.name !== undefined ? p.name === b.port.name : p.port === b?.port?.number));
        if (!ok) problems.push({ object: objectName(ing), message: `${objectName(ing)} path ${path.path ?? '/'} goes to a Service port that does not exist (${b?.name ?? '?'}:${b?.port?.name ?? b?.port?.number ?? '?'})` });
      }
    }
  }
  return problems;
}

/**
 * Every variable an Orderwire container gets is one the configuration spec of the process it
 * runs declares (read from the built code: a service's spec, or for `topology apply` auth's
 * TOPOLOGY_APPLY_SPEC plus TOPOLOGY_CONFIG_SPEC), every required one is set, and none is a bare
 * literal in the pod spec (values come from ConfigMaps and Secrets; a literal may only compose
 * them, like REDIS_URL). Accepted besides: a Secret-sourced variable that only feeds `$(NAME)`
 * expansion in another variable of the same container (REDIS_PASSWORD into REDIS_URL). An
 * init container of an Orderwire image that runs no known process is a problem of its own.
 */
export function envProblems(objects: readonly K8sObject[]): Problem[] {
  const problems: Problem[] = [];
  for (const w of workloads(objects)) {
    if (serviceOf(w) === undefined) continue;
    for (const { c } of containers(w)) {
      const proc = processOf(w, c);
      if (proc === undefined) {
        if (c.image?.startsWith('orderwire/') === true) problems.push({ object: w.name, message: `${w.name} container ${c.name} runs ${JSON.stringify([...(c.command ?? []), ...(c.args ?? [])])}, no process with a known configuration spec` });
        continue;
      }
      const declared = processConfigVars(proc);
      const names = new Set(declared.map((v) => v.env));
      const env = containerEnv(objects, c);
      const literals = (c.env ?? []).map((e) => e.value ?? '').join('\n');
      for (const [name, source] of env) {
        if (names.has(name)) continue;
        if (source.from === 'secret' && literals.includes(`$(${name})`)) continue;
        problems.push({ object: w.name, message: `${w.name} container ${c.name} sets ${name}, which ${proc}'s configuration spec does not declare` });
      }
      for (const v of declared) {
        if (v.required && !env.has(v.env)) problems.push({ object: w.name, message: `${w.name} container ${c.name} does not set ${v.env}, which ${proc} requires` });
      }
      // Configuration lives in ConfigMaps and Secrets; a literal in the pod spec only composes them.
      for (const e of c.env ?? []) {
        if (e.value !== undefined && !/\$\([A-Za-z_][A-Za-z0-9_]*\)/.test(e.value)) {
          problems.push({ object: w.name, message: `${w.name} container ${c.name} sets ${e.name} as a literal: put it in its ConfigMap` });
        }
      }
    }
  }
  return problems;
}

/** What a value from outside the render stands for when the service's loader checks the rest. */
const PLACEHOLDERS: Record<EnvSource['from'], string> = {
  secret: 'value-from-a-secret',
  field: 'value-from-the-pod',
  configMap: '',
  literal: '',
  other: 'value-from-elsewhere',
};

/**
 * Every value a manifest gives an Orderwire process passes that process's own configuration
 * loader (types, ranges, patterns, URL protocols; `topology apply`'s cross-checks too). Secret and pod-field values are placeholders (they are not in
 * the render); `$(NAME)` references are expanded as the kubelet does.
 */
export function envValueProblems(objects: readonly K8sObject[]): Problem[] {
  const requests: { process: ConfigProcess; env: Record<string, string>; where: string; object: string }[] = [];
  for (const w of workloads(objects)) {
    for (const { c } of containers(w)) {
      const proc = processOf(w, c);
      if (proc === undefined) continue;
      const env: Record<string, string> = {};
      for (const [name, source] of containerEnv(objects, c)) env[name] = source.value ?? PLACEHOLDERS[source.from];
      for (const [name, value] of Object.entries(env)) env[name] = value.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, ref: string) => env[ref] ?? m);
      requests.push({ process: proc, env, where: `${w.name} container ${c.name}`, object: w.name });
    }
  }
  const results = validateProcessEnv(requests);
  return requests.flatMap((r, i) => (results[i] ?? []).map((p) => ({ object: r.object, message: `${r.where}: ${p.env} ${p.reason}` })));
}

/** Seconds of a preStop `sleep` (0 without one). */
function preStopSeconds(c: IContainer): number {
  return c.lifecycle?.preStop?.sleep?.seconds ?? 0;
}

/** nats.conf of a render (the nats-config ConfigMap, whatever its hash suffix). */
export function natsConf(objects: readonly K8sObject[]): string | undefined {
  const cm = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name.startsWith('nats-config')) as { data?: Record<string, string> } | undefined;
  return cm?.data?.['nats.conf'];
}

function confDurationMs(conf: string, key: string): number | undefined {
  const m = new RegExp(`^\\s*${key}:\\s*(\\S+)\\s*$`, 'm').exec(conf);
  return m === null ? undefined : parseDuration(m[1]!);
}

/**
 * terminationGracePeriodSeconds outlasts what a pod does on termination: a service's preStop
 * pause + SHUTDOWN_GRACE (the edge's drain); NATS's lame-duck grace period + duration.
 */
export function graceProblems(objects: readonly K8sObject[]): Problem[] {
  const problems: Problem[] = [];
  for (const w of workloads(objects).filter((x) => x.longRunning)) {
    const grace = w.template.spec?.terminationGracePeriodSeconds ?? 30;
    const service = serviceOf(w);
    if (service !== undefined) {
      for (const { c, init } of containers(w)) {
        if (init) continue;
        const env = containerEnv(objects, c);
        const shutdown = parseDuration(effectiveValue(service, env, 'SHUTDOWN_GRACE') ?? '');
        if (shutdown === undefined) {
          problems.push({ object: w.name, message: `${w.name}: SHUTDOWN_GRACE is not a duration` });
          continue;
        }
        const needed = preStopSeconds(c) + shutdown / 1000;
        if (grace <= needed) problems.push({ object: w.name, message: `${w.name} terminationGracePeriodSeconds ${grace} must exceed preStop ${preStopSeconds(c)} s + SHUTDOWN_GRACE ${shutdown / 1000} s` });
      }
    }
    if (w.object.kind === 'StatefulSet' && w.object.metadata.name === 'nats') {
      const conf = natsConf(objects) ?? '';
      const ld = (confDurationMs(conf, 'lame_duck_duration') ?? 120_000) + (confDurationMs(conf, 'lame_duck_grace_period') ?? 10_000);
      if (grace * 1000 <= ld) problems.push({ object: w.name, message: `${w.name} terminationGracePeriodSeconds ${grace} must exceed the lame-duck grace period + duration (${ld / 1000} s)` });
    }
  }
  return problems;
}

/** An autoscaled Deployment exists and leaves its replica count to the HPA. */
export function hpaProblems(objects: readonly K8sObject[]): Problem[] {
  const problems: Problem[] = [];
  for (const h of ofKind<IHorizontalPodAutoscaler>(objects, 'HorizontalPodAutoscaler')) {
    const ref = h.spec?.scaleTargetRef;
    const target = objects.find((o) => o.kind === ref?.kind && o.metadata.name === ref?.name);
    if (target === undefined) {
      problems.push({ object: objectName(h), message: `${objectName(h)} scales ${ref?.kind ?? '?'}/${ref?.name ?? '?'}, which is not rendered` });
      continue;
    }
    if ((target.spec as { replicas?: number } | undefined)?.replicas !== undefined) {
      problems.push({ object: objectName(target), message: `${objectName(target)} sets replicas although ${objectName(h)} owns the count (every apply would reset it)` });
    }
    if ((h.spec?.minReplicas ?? 1) > (h.spec?.maxReplicas ?? 0)) problems.push({ object: objectName(h), message: `${objectName(h)} minReplicas > maxReplicas` });
  }
  return problems;
}

/**
 * JetStream durability: streams have no more replicas than NATS nodes, the routes list every node;
 * in production 3 nodes, JETSTREAM_REPLICAS=3 and `sync_interval: always`.
 */
export function jetstreamProblems(objects: readonly K8sObject[], production: boolean): Problem[] {
  const problems: Problem[] = [];
  const sts = objects.find((o) => o.kind === 'StatefulSet' && o.metadata.name === 'nats');
  const nodes = (sts?.spec as { replicas?: number } | undefined)?.replicas ?? 1;
  const replicas = Number(configMapData(objects, 'orderwire-topology')?.JETSTREAM_REPLICAS ?? '1');
  const conf = natsConf(objects);
  if (sts === undefined || conf === undefined) return [{ object: 'StatefulSet/nats', message: 'the NATS StatefulSet or its nats-config ConfigMap is missing' }];
  if (replicas > nodes) problems.push({ object: 'ConfigMap/orderwire-topology', message: `JETSTREAM_REPLICAS=${replicas} but NATS runs ${nodes} node(s)` });
  const routes = conf.match(/nats:\/\/nats-\d+\.nats-headless:6222/g) ?? [];
  if (nodes > 1 && routes.length !== nodes) problems.push({ object: objectName(sts), message: `nats.conf routes list ${routes.length} node(s), the StatefulSet runs ${nodes}` });
  if (production) {
    if (nodes !== 3) problems.push({ object: objectName(sts), message: `production NATS runs ${nodes} node(s), want 3` });
    if (replicas !== 3) problems.push({ object: 'ConfigMap/orderwire-topology', message: `production JETSTREAM_REPLICAS is ${replicas}, want 3` });
    const js = /(?:^|\n)\s*jetstream\s*\{([^}]*)\}/.exec(conf)?.[1] ?? '';
    if (!/^\s*sync_interval:\s*always\s*$/m.test(js)) problems.push({ object: 'ConfigMap/nats-config', message: 'production nats.conf lacks `sync_interval: always` in its jetstream block' });
    if (!/^\s*include\s+\.\/auth\/auth\.conf\s*$/m.test(conf)) problems.push({ object: 'ConfigMap/nats-config', message: 'production nats.conf does not include ./auth/auth.conf (NATS identities)' });
  }
  return problems;
}

/** A nats-server size (`12GiB`, `8G`): K/M/G/T are powers of 1000, Ki/Mi/Gi/Ti of 1024, as the server reads them. */
export function parseNatsSize(text: string): number | undefined {
  const m = /^(\d+)\s*([KMGT])?(I?B?)$/i.exec(text.trim());
  if (m === null) return undefined;
  const exp = m[2] === undefined ? 0 : 'KMGT'.indexOf(m[2].toUpperCase()) + 1;
  return Number(m[1]) * (m[3]?.toUpperCase().startsWith('I') === true ? 1024 : 1000) ** exp;
}

/** 1.25 — the volume holds max_file_store plus room for compaction and the Raft logs. */
const NATS_VOLUME_HEADROOM = 1.25;

/**
 * The NATS disk fits the topology: nats-server reserves every stream's and bucket's max_bytes
 * against its `max_file_store` at creation (a stream that does not fit is refused, and the
 * topology apply fails), so the sum of the JETSTREAM_*_MAX_BYTES the topology-apply container
 * runs with (values of its manifest, else the spec's defaults) must fit max_file_store, and the
 * volume must hold max_file_store plus headroom.
 */
export function natsStorageProblems(objects: readonly K8sObject[]): Problem[] {
  const conf = natsConf(objects) ?? '';
  const js = /(?:^|\n)\s*jetstream\s*\{([^}]*)\}/.exec(conf)?.[1] ?? '';
  const maxFileStore = parseNatsSize(/^\s*max_file_store:\s*(\S+)\s*$/m.exec(js)?.[1] ?? '');
  if (maxFileStore === undefined) return [{ object: 'ConfigMap/nats-config', message: 'nats.conf sets no max_file_store in its jetstream block (the volume would be the limit)' }];
  const problems: Problem[] = [];
  const sts = workloads(objects).find((w) => w.object.kind === 'StatefulSet' && w.object.metadata.name === 'nats');
  const claims = (sts?.object.spec as { volumeClaimTemplates?: { metadata?: { name?: string }; spec?: { resources?: { requests?: Record<string, string> } } }[] } | undefined)?.volumeClaimTemplates;
  const volume = parseQuantity(claims?.find((c) => c.metadata?.name === 'data')?.spec?.resources?.requests?.storage);
  if (volume === undefined) problems.push({ object: 'StatefulSet/nats', message: 'StatefulSet/nats has no data volumeClaimTemplate with a storage request' });
  else if (volume < maxFileStore * NATS_VOLUME_HEADROOM) {
    problems.push({ object: 'StatefulSet/nats', message: `StatefulSet/nats volume ${volume} B is smaller than max_file_store ${maxFileStore} B + ${(NATS_VOLUME_HEADROOM - 1) * 100} %` });
  }
  const applier = workloads(objects).flatMap((w) => containers(w).filter(({ c }) => processOf(w, c) === 'topology-apply').map(({ c }) => ({ w, c })));
  if (applier.length === 0) return [...problems, { object: '(render)', message: 'no container runs orderwire-auth topology apply' }];
  for (const { w, c } of applier) {
    const env = containerEnv(objects, c);
    let sum = 0;
    for (const v of processConfigVars('topology-apply').filter((x) => x.env.startsWith('JETSTREAM_') && x.env.endsWith('_MAX_BYTES'))) {
      const bytes = parseSize(env.get(v.env)?.value ?? v.default ?? '');
      if (bytes === undefined) problems.push({ object: w.name, message: `${w.name} container ${c.name}: ${v.env} is not a size` });
      else sum += bytes;
    }
    if (sum > maxFileStore) problems.push({ object: w.name, message: `${w.name} container ${c.name}: the JETSTREAM_*_MAX_BYTES add up to ${sum} B, more than the NATS max_file_store ${maxFileStore} B` });
  }
  return problems;
}

/** Go's `GOMEMLIMIT` (runtime/debug): a byte count with an optional B, KiB, MiB, GiB or TiB suffix. */
export function parseGoMemLimit(text: string): number | undefined {
  const m = /^(\d+)(B|KiB|MiB|GiB|TiB)?$/.exec(text.trim());
  if (m === null) return undefined;
  return Number(m[1]) * 1024 ** ['B', 'KiB', 'MiB', 'GiB', 'TiB'].indexOf(m[2] ?? 'B');
}

/**
 * What nats-server's memory must hold, measured (docs/benchmarks.md rounds 13 and 14, nats-server
 * 2.10.27): every subject a stream holds costs up to ~200 bytes of live heap on every node that
 * stores it (the stream's subject tree, ~100, and its block's, which nats-server drops 2 minutes
 * after the block's last use and rebuilds on a read: the peak is every block read at once), and a RECEIPTS message averages ~380 bytes, so a full
 * RECEIPTS keeps ~0.53 bytes of heap per byte of its max_bytes (2 GiB: ~1.1 GB); 10,000 display
 * consumers and the rest keep ~450 MB (round 12).
 */
export const NATS_HEAP_BYTES_PER_SUBJECT = 200;
export const RECEIPTS_BYTES_PER_MESSAGE = 380;
export const NATS_LIVE_HEAP_10K_DISPLAYS = 450 * 2 ** 20;
/** 1.15 — the container limit leaves room above GOMEMLIMIT for what Go does not count (stacks, the OS's). */
const NATS_MEMORY_LIMIT_HEADROOM = 1.15;

/**
 * nats-server's memory fits a full RECEIPTS: the StatefulSet's `GOMEMLIMIT` holds the live heap
 * estimated above (a full RECEIPTS of the topology's max_bytes and 10,000 displays) times
 * (1 + GOGC/100), the heap Go grows to between collections, and the container's memory limit
 * is above GOMEMLIMIT with headroom. Below that, nats-server lives at GOMEMLIMIT once RECEIPTS
 * is full (hours at 1,000 deliveries/s) and collects without pause: round 13 measured 36–41 % more
 * CPU per delivery and p99 239–273 ms at 10,000 displays.
 */
export function natsMemoryProblems(objects: readonly K8sObject[]): Problem[] {
  const sts = workloads(objects).find((w) => w.object.kind === 'StatefulSet' && w.object.metadata.name === 'nats');
  const nats = sts === undefined ? undefined : containers(sts).find(({ c }) => c.name === 'nats')?.c;
  if (sts === undefined || nats === undefined) return [{ object: 'StatefulSet/nats', message: 'no StatefulSet/nats with a container nats' }];
  const env = (name: string): string | undefined => nats.env?.find((e) => e.name === name)?.value;
  const gomemlimit = parseGoMemLimit(env('GOMEMLIMIT') ?? '');
  if (gomemlimit === undefined) return [{ object: sts.name, message: `${sts.name} container nats sets no GOMEMLIMIT Go can read` }];
  const gogc = Number(env('GOGC') ?? '100');
  if (!Number.isInteger(gogc) || gogc <= 0) return [{ object: sts.name, message: `${sts.name} container nats: GOGC ${env('GOGC')} is not a positive integer (off is not for a server)` }];
  const problems: Problem[] = [];
  const limit = parseQuantity(nats.resources?.limits?.memory);
  if (limit !== undefined && limit < gomemlimit * NATS_MEMORY_LIMIT_HEADROOM) {
    problems.push({ object: sts.name, message: `${sts.name} container nats: limits.memory ${limit} B is not ${NATS_MEMORY_LIMIT_HEADROOM}× GOMEMLIMIT ${gomemlimit} B` });
  }
  const receiptsVar = processConfigVars('topology-apply').find((v) => v.env === 'JETSTREAM_RECEIPTS_MAX_BYTES');
  for (const w of workloads(objects)) {
    for (const { c } of containers(w).filter(({ c }) => processOf(w, c) === 'topology-apply')) {
      const receipts = parseSize(containerEnv(objects, c).get('JETSTREAM_RECEIPTS_MAX_BYTES')?.value ?? receiptsVar?.default ?? '');
      if (receipts === undefined) continue; // natsStorageProblems reports a size it cannot read
      const live = NATS_LIVE_HEAP_10K_DISPLAYS + (receipts / RECEIPTS_BYTES_PER_MESSAGE) * NATS_HEAP_BYTES_PER_SUBJECT;
      const needed = live * (1 + gogc / 100);
      if (gomemlimit < needed) {
        problems.push({
          object: sts.name,
          message:
            `${sts.name} container nats: GOMEMLIMIT ${gomemlimit} B is below ${Math.ceil(needed)} B, the heap of a full RECEIPTS ` +
            `(${receipts} B, ${w.name}) and 10,000 displays at GOGC ${gogc}; raise GOMEMLIMIT and the memory limit, or lower JETSTREAM_RECEIPTS_MAX_BYTES`,
        });
      }
    }
  }
  return problems;
}

/** Production commits no Secret: every one is created in the cluster (docs/deploy.md). */
export function committedSecretProblems(objects: readonly K8sObject[]): Problem[] {
  return objects.filter((o) => o.kind === 'Secret').map((o) => ({ object: objectName(o), message: `${objectName(o)} is rendered: production Secrets are created with kubectl, never committed` }));
}

/** Secret names the render references (env, envFrom, volumes, projected volumes, Ingress TLS). */
export function referencedSecrets(objects: readonly K8sObject[]): Set<string> {
  const names = new Set<string>();
  for (const w of workloads(objects)) {
    for (const { c } of containers(w)) {
      for (const e of c.env ?? []) if (e.valueFrom?.secretKeyRef?.name !== undefined) names.add(e.valueFrom.secretKeyRef.name);
      for (const e of c.envFrom ?? []) if (e.secretRef?.name !== undefined) names.add(e.secretRef.name);
    }
    for (const v of w.template.spec?.volumes ?? []) {
      if (v.secret?.secretName !== undefined) names.add(v.secret.secretName);
      for (const s of v.projected?.sources ?? []) if (s.secret?.name !== undefined) names.add(s.secret.name);
    }
  }
  for (const ing of ofKind<IIngress>(objects, 'Ingress')) for (const t of ing.spec?.tls ?? []) if (t.secretName !== undefined) names.add(t.secretName);
  return names;
}

/** Every policy that applies to any render. */
export function allPolicyProblems(objects: readonly K8sObject[], opts: { production: boolean; natsVersion: string }): Problem[] {
  return [
    ...probeProblems(objects),
    ...resourceProblems(objects),
    ...goRuntimeProblems(objects),
    ...securityProblems(objects),
    ...pdbProblems(objects),
    ...networkPolicyProblems(objects),
    ...imageProblems(objects),
    ...natsImageProblems(objects, opts.natsVersion),
    ...portProblems(objects),
    ...envProblems(objects),
    ...envValueProblems(objects),
    ...graceProblems(objects),
    ...hpaProblems(objects),
    ...jetstreamProblems(objects, opts.production),
    ...natsStorageProblems(objects),
    ...natsMemoryProblems(objects),
    ...(opts.production ? committedSecretProblems(objects) : []),
  ];
}
