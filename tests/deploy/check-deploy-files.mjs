// Static checks of deploy/: every file a Dockerfile copies from the build context exists and is not excluded by the
// Dockerfile's own .dockerignore, the final stage runs as a non-root user without build tools, and
// docker-compose.yml refers only to files, services and a build that exist. Prints the command-line flags that
// docker-compose.yml passes to each Tessera program ("FLAGS program --a --b") for the caller to check against
// the program's --help.
//
// Usage: node check-deploy-files.mjs REPO_ROOT
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';

const root = process.argv[2];
const deploy = path.join(root, 'deploy');
const failures = [];
const fail = (message) => failures.push(message);

// Instructions of a Dockerfile: comments dropped, continuation lines joined.
function instructions(text) {
  const result = [];
  let current = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (current === '' && (line === '' || line.startsWith('#'))) continue;
    if (current !== '' && line.startsWith('#')) continue;
    current += (current ? ' ' : '') + line.replace(/\\$/, '').trim();
    if (!line.endsWith('\\')) {
      const [keyword, ...rest] = current.split(/\s+/);
      result.push({ keyword: keyword.toUpperCase(), args: rest, text: current });
      current = '';
    }
  }
  return result;
}

// Patterns of a .dockerignore that excludes everything ('*') and re-includes entries ('!path').
function ignoredBy(ignoreFile) {
  if (!fs.existsSync(ignoreFile)) return () => false;
  const lines = fs.readFileSync(ignoreFile, 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  if (!lines.includes('*')) {
    fail(`${path.basename(ignoreFile)}: expected an allow-list ('*' then '!path' entries)`);
    return () => false;
  }
  const allowed = lines.filter((l) => l.startsWith('!')).map((l) => l.slice(1).replace(/\/$/, ''));
  return (source) => !allowed.some((a) => source === a || source.startsWith(`${a}/`));
}

const dockerfiles = fs.readdirSync(deploy).filter((f) => /^Dockerfile(\.[a-z0-9]+)?$/.test(f));
if (dockerfiles.length < 2) fail(`expected a CPU and a CUDA Dockerfile in deploy/, found ${dockerfiles.join(', ')}`);
for (const name of dockerfiles) {
  const file = path.join(deploy, name);
  const steps = instructions(fs.readFileSync(file, 'utf8'));
  const ignored = ignoredBy(`${file}.dockerignore`);
  const stages = [];
  let copies = 0;
  for (const step of steps) {
    if (step.keyword === 'FROM') stages.push({ base: step.args[0], steps: [] });
    if (stages.length > 0) stages[stages.length - 1].steps.push(step);
    if (step.keyword !== 'COPY' && step.keyword !== 'ADD') continue;
    const args = step.args.filter((a) => !a.startsWith('--'));
    if (step.args.some((a) => a.startsWith('--from='))) continue;  // from another stage or image
    for (const source of args.slice(0, -1)) {
      copies++;
      if (!fs.existsSync(path.join(root, source))) fail(`${name}: COPY source ${source} does not exist`);
      else if (ignored(source.replace(/\/$/, ''))) fail(`${name}: COPY source ${source} is excluded by ${name}.dockerignore`);
    }
  }
  if (stages.length < 2) fail(`${name}: not a multi-stage build`);
  const final = stages[stages.length - 1] || { steps: [] };
  const users = final.steps.filter((s) => s.keyword === 'USER');
  const user = users.length > 0 ? users[users.length - 1].args[0] : 'root';
  if (/^(root|0)(:|$)/.test(user)) fail(`${name}: the final stage runs as root`);
  for (const step of final.steps.filter((s) => s.keyword === 'RUN')) {
    if (/\b(build-essential|cmake|ninja-build|g\+\+|gcc|[a-z0-9.+-]+-dev)\b/.test(step.text)) {
      fail(`${name}: the final stage installs build tools: ${step.text}`);
    }
  }
  console.log(`${name}: ${stages.length} stages, ${copies} files or folders copied from the context, final user ${user}`);
}

const compose = parse(fs.readFileSync(path.join(deploy, 'docker-compose.yml'), 'utf8'));
const services = compose.services || {};
for (const required of ['worker', 'router', 'gateway', 'prometheus', 'grafana']) {
  if (!services[required]) fail(`docker-compose.yml: no ${required} service`);
}
for (const [serviceName, service] of Object.entries(services)) {
  for (const dependency of Object.keys(Array.isArray(service.depends_on)
    ? Object.fromEntries(service.depends_on.map((d) => [d, 1])) : service.depends_on || {})) {
    if (!services[dependency]) fail(`docker-compose.yml: ${serviceName} depends on unknown service ${dependency}`);
  }
  for (const volume of service.volumes || []) {
    const source = String(volume).split(':')[0];
    if (source.startsWith('.') && !fs.existsSync(path.join(deploy, source))) {
      fail(`docker-compose.yml: ${serviceName} mounts ${source}, which does not exist`);
    } else if (!source.startsWith('.') && !source.startsWith('/') &&
               !Object.prototype.hasOwnProperty.call(compose.volumes || {}, source)) {
      fail(`docker-compose.yml: ${serviceName} uses undeclared volume ${source}`);
    }
  }
  if (service.build) {
    const context = path.join(deploy, service.build.context || '.');
    if (!fs.existsSync(path.join(context, service.build.dockerfile || 'Dockerfile'))) {
      fail(`docker-compose.yml: ${serviceName} builds from a missing Dockerfile`);
    }
  }
  if (service.image && !/:[A-Za-z0-9._-]+$/.test(service.image)) fail(`docker-compose.yml: ${serviceName} image has no tag`);
  const command = Array.isArray(service.command) ? service.command.map(String) : [];
  if (command.length > 0 && /^tessera(-worker|-router|-gateway)?$/.test(command[0])) {
    const program = command[0] === 'tessera' ? `tessera ${command[1]}` : command[0];
    console.log(`FLAGS ${program.replace(' ', '/')} ${command.filter((a) => a.startsWith('--')).join(' ')}`);
  }
}
const images = new Set(Object.values(services).filter((s) => s.build).map((s) => s.image));
for (const [serviceName, service] of Object.entries(services)) {
  if (/^tessera:/.test(service.image || '') && !images.has(service.image)) {
    fail(`docker-compose.yml: ${serviceName} uses ${service.image}, which no service builds`);
  }
}

for (const f of failures) console.log(`FAIL ${f}`);
console.log(`${dockerfiles.length} Dockerfiles and docker-compose.yml checked, ${failures.length} problem(s)`);
process.exit(failures.length > 0 ? 1 : 0);
