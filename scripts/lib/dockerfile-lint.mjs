// Offline lint of Orderwire's Dockerfiles: dockerfile-utils' validator (syntax, instruction
// arguments) plus the house rules the images rely on:
//   - every FROM is pinned by digest (after expanding the ARGs declared before the first FROM)
//     or names an earlier build stage;
//   - the final stage runs as a numeric, non-root USER (uid and gid), so Kubernetes'
//     runAsNonRoot can check it;
//   - the final stage sets NODE_ENV=production;
//   - no ADD of a URL (unpinned, unverified downloads); COPY for local files;
//   - ENTRYPOINT and CMD in exec form (JSON array), so the process gets SIGTERM itself.
// Returns a list of problems `{ line, rule, message }` (line is 1-based); empty = clean.
import { DockerfileParser } from 'dockerfile-ast';
import { validate } from 'dockerfile-utils';

const DIGEST = /@sha256:[0-9a-f]{64}$/;

function expand(text, vars) {
  return text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (m, a, b) => vars.get(a ?? b) ?? m);
}

export function lintDockerfile(text) {
  const problems = [];
  const add = (instruction, rule, message) => problems.push({ line: (instruction?.getRange().start.line ?? 0) + 1, rule, message });
  for (const d of validate(text)) {
    problems.push({ line: d.range.start.line + 1, rule: 'syntax', message: d.message });
  }
  const dockerfile = DockerfileParser.parse(text);
  const vars = new Map();
  for (const arg of dockerfile.getInitialARGs()) {
    const p = arg.getProperty();
    if (p?.getValue() != null) vars.set(p.getName(), p.getValue());
  }
  const stages = [];
  let current;
  for (const ins of dockerfile.getInstructions()) {
    const keyword = ins.getKeyword();
    if (keyword === 'FROM') {
      const image = expand(ins.getImage() ?? '', vars);
      if (!stages.some((s) => s.name === image) && !DIGEST.test(image)) {
        add(ins, 'pinned-base', `FROM ${image} is not pinned by digest (name:tag@sha256:…)`);
      }
      current = { name: ins.getBuildStage(), from: ins, user: undefined, env: new Map() };
      stages.push(current);
      continue;
    }
    if (current === undefined) continue;
    if (keyword === 'USER') current.user = { ins, value: (ins.getArgumentsContent() ?? '').trim() };
    if (keyword === 'ENV') {
      for (const a of ins.getExpandedArguments()) {
        const [k, ...v] = a.getValue().split('=');
        current.env.set(k, v.join('='));
      }
    }
    if (keyword === 'ADD') {
      const args = ins.getExpandedArguments().map((a) => a.getValue()).filter((v) => !v.startsWith('--'));
      if (args.some((v) => /^(https?|git|ssh):\/\/|^git@/.test(v))) add(ins, 'no-add-url', 'ADD of a URL: download in a RUN with a checksum, or COPY a local file');
    }
    if (keyword === 'ENTRYPOINT' || keyword === 'CMD') {
      const args = (ins.getArgumentsContent() ?? '').trim();
      let ok = false;
      try {
        const parsed = JSON.parse(args);
        ok = Array.isArray(parsed) && parsed.length > 0 && parsed.every((s) => typeof s === 'string');
      } catch {
        ok = false;
      }
      if (!ok) add(ins, 'exec-form', `${keyword} must be in exec form (a JSON array), so the process receives SIGTERM`);
    }
  }
  const last = stages.at(-1);
  if (last === undefined) {
    problems.push({ line: 1, rule: 'syntax', message: 'no FROM' });
    return problems;
  }
  if (last.user === undefined) {
    add(last.from, 'non-root-user', 'the final stage has no USER: it would run as root');
  } else if (!/^[1-9][0-9]*:[0-9]+$/.test(last.user.value)) {
    add(last.user.ins, 'non-root-user', `USER ${last.user.value} must be a numeric, non-root uid:gid (e.g. 10001:10001)`);
  }
  if (last.env.get('NODE_ENV') !== 'production') add(last.from, 'node-env', 'the final stage must set NODE_ENV=production');
  return problems.sort((a, b) => a.line - b.line);
}
