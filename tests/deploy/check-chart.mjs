// Checks that a rendered Tessera chart hangs together the way a cluster needs it to, beyond per-object schemas:
// selectors reach pods, ports and config keys referenced exist, the router's discovery name is the headless
// Service of every worker StatefulSet, GPUs match the tensor-parallel size, pods are hardened and probed, and
// termination leaves time to drain.
//
// Usage: node check-chart.mjs RENDERED.yaml [--namespace NS] [--existing-secret NAME]
//          [--statefulsets N] [--gpus STATEFULSET_SUFFIX=N]... [--kinds K,K] [--absent-kinds K,K] [--print-flags FILE]
// Prints one line per failed check and exits 1 when any fails. --print-flags writes "PROGRAM --flag..." lines, one
// per container running a Tessera program, for the caller to check against the programs' --help.
import fs from 'node:fs';
import { parseAllDocuments } from 'yaml';

const args = process.argv.slice(2);
const file = args.shift();
const options = { namespace: 'default', gpus: [], kinds: [], absentKinds: [] };
while (args.length > 0) {
  const flag = args.shift();
  const value = args.shift();
  if (flag === '--namespace') options.namespace = value;
  else if (flag === '--existing-secret') options.existingSecret = value;
  else if (flag === '--statefulsets') options.statefulSets = Number(value);
  else if (flag === '--gpus') options.gpus.push(value.split('='));
  else if (flag === '--kinds') options.kinds.push(...value.split(','));
  else if (flag === '--absent-kinds') options.absentKinds.push(...value.split(','));
  else if (flag === '--print-flags') options.printFlags = value;
  else {
    console.error(`unknown flag ${flag}`);
    process.exit(2);
  }
}

const docs = parseAllDocuments(fs.readFileSync(file, 'utf8')).map((d) => d.toJS()).filter(Boolean);
const failures = [];
const fail = (message) => failures.push(message);
const ofKind = (kind) => docs.filter((d) => d.kind === kind);
const name = (d) => `${d.kind}/${d.metadata.name}`;
const workloads = docs.filter((d) => d.kind === 'Deployment' || d.kind === 'StatefulSet');
const matches = (selector, labels) => Object.entries(selector || {}).every(([k, v]) => labels[k] === v);
const configMaps = new Map(ofKind('ConfigMap').map((c) => [c.metadata.name, c.data || {}]));
const secrets = new Map(ofKind('Secret').map((s) => [s.metadata.name, { ...(s.data || {}), ...(s.stringData || {}) }]));
const argValue = (container, flag) => {
  const i = (container.args || []).indexOf(flag);
  return i >= 0 ? String(container.args[i + 1]) : undefined;
};

// Resolves $(VAR) in an argument from the container's env (literal values and ConfigMap keys).
function resolve(container, text) {
  return text.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (whole, variable) => {
    const env = (container.env || []).find((e) => e.name === variable);
    if (!env) return whole;
    if (env.value !== undefined) return env.value;
    const ref = env.valueFrom && env.valueFrom.configMapKeyRef;
    if (ref && configMaps.has(ref.name)) return configMaps.get(ref.name)[ref.key] ?? whole;
    return whole;
  });
}

for (const kind of options.kinds) if (ofKind(kind).length === 0) fail(`no ${kind} rendered`);
for (const kind of options.absentKinds) if (ofKind(kind).length > 0) fail(`${kind} rendered but not expected`);
if (options.statefulSets !== undefined && ofKind('StatefulSet').length !== options.statefulSets) {
  fail(`${ofKind('StatefulSet').length} StatefulSets, expected ${options.statefulSets}`);
}

// --- Pods: hardening, resources, probes, env references.
for (const w of workloads) {
  const pod = w.spec.template.spec;
  const labels = w.spec.template.metadata.labels || {};
  if (!matches(w.spec.selector.matchLabels, labels)) fail(`${name(w)}: selector does not match its pod labels`);
  const podSecurity = pod.securityContext || {};
  if (podSecurity.runAsNonRoot !== true) fail(`${name(w)}: pod securityContext.runAsNonRoot is not true`);
  if (!(podSecurity.runAsUser > 0)) fail(`${name(w)}: pod runs as root (runAsUser ${podSecurity.runAsUser})`);
  if (!(pod.terminationGracePeriodSeconds > 0)) fail(`${name(w)}: no terminationGracePeriodSeconds`);
  for (const c of pod.containers) {
    const drain = Number(argValue(c, '--drain-grace-seconds'));
    if (drain >= 0 && !(pod.terminationGracePeriodSeconds > drain)) {
      fail(`${name(w)}: terminationGracePeriodSeconds ${pod.terminationGracePeriodSeconds} leaves no time after a ${drain} s drain`);
    }
  }
  const volumes = new Map((pod.volumes || []).map((v) => [v.name, v]));
  const containers = [...(pod.initContainers || []).map((c) => [c, true]), ...pod.containers.map((c) => [c, false])];
  for (const [c, isInit] of containers) {
    const where = `${name(w)} container ${c.name}`;
    const sc = c.securityContext || {};
    if (sc.readOnlyRootFilesystem !== true) fail(`${where}: root filesystem is writable`);
    if (sc.allowPrivilegeEscalation !== false) fail(`${where}: allowPrivilegeEscalation is not false`);
    if (!sc.capabilities || !(sc.capabilities.drop || []).includes('ALL')) fail(`${where}: capabilities not dropped`);
    if (!c.resources || !c.resources.requests) fail(`${where}: no resource requests`);
    for (const m of c.volumeMounts || []) if (!volumes.has(m.name)) fail(`${where}: mounts unknown volume ${m.name}`);
    if (!(c.volumeMounts || []).some((m) => m.mountPath === '/tmp')) fail(`${where}: no writable /tmp`);
    for (const e of c.env || []) {
      const cm = e.valueFrom && e.valueFrom.configMapKeyRef;
      if (cm && !(configMaps.has(cm.name) && cm.key in configMaps.get(cm.name))) {
        fail(`${where}: env ${e.name} refers to missing ConfigMap key ${cm.name}/${cm.key}`);
      }
      const sk = e.valueFrom && e.valueFrom.secretKeyRef;
      if (sk && sk.name !== options.existingSecret && !(secrets.has(sk.name) && sk.key in secrets.get(sk.name))) {
        fail(`${where}: env ${e.name} refers to missing Secret key ${sk.name}/${sk.key}`);
      }
    }
    for (const a of c.args || []) {
      for (const [, variable] of String(a).matchAll(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g)) {
        if (!(c.env || []).some((e) => e.name === variable)) fail(`${where}: argument uses undefined $(${variable})`);
      }
    }
    if (isInit) continue;
    const ports = c.ports || [];
    for (const probe of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
      const p = c[probe];
      if (!p) {
        fail(`${where}: no ${probe}`);
        continue;
      }
      if (p.grpc && !ports.some((port) => port.containerPort === p.grpc.port)) {
        fail(`${where}: ${probe} grpc port ${p.grpc.port} is not a container port`);
      }
      if (p.httpGet && !ports.some((port) => port.name === p.httpGet.port || port.containerPort === p.httpGet.port)) {
        fail(`${where}: ${probe} port ${p.httpGet.port} is not a container port`);
      }
    }
  }
}

// --- Services select pods and target ports those pods have.
for (const s of ofKind('Service')) {
  const selected = workloads.filter((w) => matches(s.spec.selector, w.spec.template.metadata.labels || {}));
  if (selected.length === 0) fail(`${name(s)}: selector matches no pods`);
  for (const port of s.spec.ports) {
    for (const w of selected) {
      const has = w.spec.template.spec.containers.some((c) =>
        (c.ports || []).some((p) => p.name === port.targetPort || p.containerPort === port.targetPort));
      if (!has) fail(`${name(s)}: port ${port.name} targets ${port.targetPort}, which ${name(w)} lacks`);
    }
  }
}
const serviceByName = new Map(ofKind('Service').map((s) => [s.metadata.name, s]));

// --- Discovery: gateway → router Service, router → headless worker Service → every worker StatefulSet.
const fqdn = (service, port) => `${service}.${options.namespace}.svc.cluster.local:${port}`;
const router = ofKind('Deployment').find((d) => d.spec.template.spec.containers[0].name === 'router');
const gateway = ofKind('Deployment').find((d) => d.spec.template.spec.containers[0].name === 'gateway');
const statefulSets = ofKind('StatefulSet');
if (!router || !gateway) {
  fail('the router or gateway Deployment is missing');
} else {
  const routerContainer = router.spec.template.spec.containers[0];
  const gatewayContainer = gateway.spec.template.spec.containers[0];
  const routerService = ofKind('Service').find((s) => matches(s.spec.selector, router.spec.template.metadata.labels));
  const routerPort = routerService && routerService.spec.ports.find((p) => p.name === 'grpc');
  const gatewayTarget = resolve(gatewayContainer, argValue(gatewayContainer, '--router') || '');
  if (!routerService || !routerPort || gatewayTarget !== fqdn(routerService.metadata.name, routerPort.port)) {
    fail(`gateway --router is ${gatewayTarget}, not the router Service's gRPC address`);
  }
  const discovery = resolve(routerContainer, argValue(routerContainer, '--discover-dns') || '');
  const headlessName = discovery.split('.')[0];
  const headless = serviceByName.get(headlessName);
  if (!headless) {
    fail(`router --discover-dns ${discovery} names no rendered Service`);
  } else {
    if (headless.spec.clusterIP !== 'None') fail(`${name(headless)} is not headless`);
    const port = headless.spec.ports.find((p) => p.name === 'grpc');
    if (!port || discovery !== fqdn(headlessName, port.port)) fail(`router --discover-dns ${discovery} is not ${name(headless)}'s gRPC address`);
    for (const sts of statefulSets) {
      if (sts.spec.serviceName !== headlessName) fail(`${name(sts)}: serviceName is not the discovery Service`);
      if (!matches(headless.spec.selector, sts.spec.template.metadata.labels)) fail(`${name(headless)} does not select ${name(sts)}'s pods`);
      const worker = sts.spec.template.spec.containers[0];
      if (port && String(port.targetPort) !== 'grpc' && port.targetPort !== Number(argValue(worker, '--port'))) {
        fail(`${name(headless)} targets a port the worker does not listen on`);
      }
    }
  }
}

// --- Workers: device, GPUs = tensor-parallel size, shared memory, drain time.
for (const sts of statefulSets) {
  const pod = sts.spec.template.spec;
  const worker = pod.containers.find((c) => c.name === 'worker');
  if (!worker) {
    fail(`${name(sts)}: no worker container`);
    continue;
  }
  const limits = (worker.resources && worker.resources.limits) || {};
  const requests = (worker.resources && worker.resources.requests) || {};
  const gpus = Number(limits['nvidia.com/gpu'] || 0);
  const device = argValue(worker, '--device');
  const tp = Number(argValue(worker, '--tensor-parallel-size') || 1);
  if (gpus > 0 && device !== 'cuda') fail(`${name(sts)}: has ${gpus} GPUs but --device ${device}`);
  if (device === 'cuda' && gpus !== tp) fail(`${name(sts)}: ${gpus} GPUs for tensor parallel size ${tp}`);
  if (gpus > 0 && Number(requests['nvidia.com/gpu']) !== gpus) fail(`${name(sts)}: GPU requests differ from limits`);
  const shm = (worker.volumeMounts || []).find((m) => m.mountPath === '/dev/shm');
  const shmVolume = shm && pod.volumes.find((v) => v.name === shm.name);
  if (!shmVolume || !shmVolume.emptyDir || shmVolume.emptyDir.medium !== 'Memory') fail(`${name(sts)}: no memory-backed /dev/shm`);
  const model = (worker.volumeMounts || []).find((m) => m.mountPath === '/models');
  if (!model || !String(argValue(worker, '--model')).startsWith('/models')) fail(`${name(sts)}: --model is not on the model volume`);
  const drain = Number(argValue(worker, '--drain-grace-seconds'));
  if (!(pod.terminationGracePeriodSeconds > drain)) {
    fail(`${name(sts)}: terminationGracePeriodSeconds ${pod.terminationGracePeriodSeconds} leaves no time after a ${drain} s drain`);
  }
  if (!argValue(worker, '--served-model-name')) fail(`${name(sts)}: no --served-model-name`);
}
for (const [suffix, count] of options.gpus) {
  const sts = statefulSets.find((s) => s.metadata.name.endsWith(`-worker-${suffix}`));
  const worker = sts && sts.spec.template.spec.containers[0];
  const gpus = worker && worker.resources.limits && worker.resources.limits['nvidia.com/gpu'];
  if (Number(gpus || 0) !== Number(count)) fail(`worker ${suffix}: ${gpus || 0} GPUs, expected ${count}`);
}

// --- Disruption budgets, autoscaler and ingress point at what exists.
for (const pdb of ofKind('PodDisruptionBudget')) {
  const selected = workloads.filter((w) => matches(pdb.spec.selector.matchLabels, w.spec.template.metadata.labels));
  if (selected.length !== 1) fail(`${name(pdb)}: selects ${selected.length} workloads, expected 1`);
}
for (const w of workloads) {
  if (!ofKind('PodDisruptionBudget').some((p) => matches(p.spec.selector.matchLabels, w.spec.template.metadata.labels))) {
    fail(`${name(w)}: no PodDisruptionBudget`);
  }
}
for (const hpa of ofKind('HorizontalPodAutoscaler')) {
  const target = workloads.find((w) => w.kind === hpa.spec.scaleTargetRef.kind && w.metadata.name === hpa.spec.scaleTargetRef.name);
  if (!target) fail(`${name(hpa)}: scale target ${hpa.spec.scaleTargetRef.name} is not rendered`);
  else if (target.spec.replicas !== undefined) fail(`${name(target)}: sets replicas while ${name(hpa)} scales it`);
}
for (const ingress of ofKind('Ingress')) {
  for (const rule of ingress.spec.rules) {
    for (const path of rule.http.paths) {
      const backend = path.backend.service;
      const service = serviceByName.get(backend.name);
      if (!service || !service.spec.ports.some((p) => p.name === backend.port.name || p.port === backend.port.number)) {
        fail(`${name(ingress)}: backend ${backend.name}:${backend.port.name || backend.port.number} does not exist`);
      }
    }
  }
}
for (const monitor of [...ofKind('ServiceMonitor'), ...ofKind('PodMonitor')]) {
  const endpoints = monitor.spec.endpoints || monitor.spec.podMetricsEndpoints;
  const candidates = monitor.kind === 'ServiceMonitor' ? ofKind('Service') : workloads;
  for (const endpoint of endpoints) {
    const served = candidates.some((c) => (c.kind === 'Service'
      ? c.spec.ports.some((p) => p.name === endpoint.port)
      : c.spec.template.spec.containers.some((k) => (k.ports || []).some((p) => p.name === endpoint.port))));
    if (!served) fail(`${name(monitor)}: no target has a port named ${endpoint.port}`);
  }
}

if (options.printFlags) {
  const lines = [];
  for (const w of workloads) {
    for (const c of [...(w.spec.template.spec.initContainers || []), ...w.spec.template.spec.containers]) {
      const command = (c.command || [])[0];
      if (!/^tessera(-worker|-router|-gateway)?$/.test(command || '')) continue;
      const program = command === 'tessera' ? `tessera/${c.args[0]}` : command;
      lines.push(`${program} ${(c.args || []).filter((a) => String(a).startsWith('--')).join(' ')}`);
    }
  }
  fs.writeFileSync(options.printFlags, lines.join('\n') + '\n');
}
for (const f of failures) console.log(`FAIL ${f}`);
console.log(`${docs.length} objects checked, ${failures.length} problem(s)`);
process.exit(failures.length > 0 ? 1 : 0);
