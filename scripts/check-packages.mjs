#!/usr/bin/env node
// Lint and typecheck of workspace packages: the same checks as each package's own `lint`
// (`eslint <dirs>`) and `typecheck` (`tsc -p <tsconfig> --noEmit`, one or more) scripts, run the
// way `npm test` can afford on 2 cores.
//
// Why not `turbo run lint typecheck`: that starts one tsc and one eslint process per package
// (30 processes), and each builds its own TypeScript program from scratch, parsing the same
// ~100k lines of declarations (@types/node, fastify, ...) every time; the type-aware lint then
// builds the program a second time. Here one worker process per core takes packages from a
// queue (largest first); for each package it builds the program of each tsconfig once, reports
// tsc's diagnostics from it, then hands the same programs to type-aware ESLint (typescript-eslint's
// `parserOptions.programs`), and the parsed files are shared between the packages a worker checks
// when their compiler options are the same (as TypeScript's language service shares them between
// projects). What is checked does not change: the file lists come from the packages' own scripts
// and tsconfigs, the ESLint configuration is eslint.config.js. A script this runner cannot read
// (not the plain shapes above) is run as it is (`npm run <script>` in the package).
//
//   node scripts/check-packages.mjs [--jobs N] [--report <file.jsonl>] [package name or folder ...]
//
// Prints each package's problems as tsc and eslint would (stylish); one line per check; exits 1
// when any check fails. --report appends one JSON line per finished check
// ({ package, task: 'lint' | 'typecheck', ok, ms, reason? }) for scripts/test.mjs.
import { fork, spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readWorkspace } from './check-deps.mjs';
import { REPO_ROOT } from './lib/repo.mjs';

const P = '[check]';
export const TASKS = ['typecheck', 'lint'];
/** Workers at most: each holds a few programs (~0.5–1 GB); more than 4 gains nothing here. */
const MAX_JOBS = 4;

/**
 * What a package's `typecheck` and `lint` scripts check, read from the scripts themselves:
 * `{ typecheck: { tsconfigs } | { run } | null, lint: { targets } | { run } | null }`.
 * `tsconfigs` are `tsc -p <file> --noEmit` commands joined by `&&`; `targets` are the plain
 * paths of `eslint <path> ...`. Anything else (flags, other tools) is `{ run: script }`: run as is.
 */
export function readCheckScripts(scripts = {}) {
  const typecheck = (() => {
    const s = scripts.typecheck;
    if (s === undefined) return null;
    const tsconfigs = [];
    for (const part of s.split('&&').map((x) => x.trim())) {
      const m = /^tsc -p (\S+) --noEmit$/.exec(part);
      if (!m) return { run: s };
      tsconfigs.push(m[1]);
    }
    return { tsconfigs };
  })();
  const lint = (() => {
    const s = scripts.lint;
    if (s === undefined) return null;
    const m = /^eslint((?: [\w./@-]+)+)$/.exec(s.trim());
    if (!m) return { run: s };
    const targets = m[1].trim().split(/ +/);
    return targets.some((t) => t.startsWith('-')) ? { run: s } : { targets };
  })();
  return { typecheck, lint };
}

/** Number of files under a package's lint targets: the queue's size estimate (largest first). */
function sizeOf(dir, targets) {
  let n = 0;
  const walk = (p) => {
    if (!existsSync(p)) return;
    if (statSync(p).isFile()) return void n++;
    for (const e of readdirSync(p, { withFileTypes: true })) {
      if (e.name === 'node_modules' || e.name === 'dist') continue;
      walk(join(p, e.name));
    }
  };
  for (const t of targets) walk(join(dir, t));
  return n;
}

// ─── Worker: checks one package at a time ───────────────────────────────────────────────────────

/**
 * Compiler options that do not change how a file parses or binds: programs whose other options
 * are equal share their parsed files.
 */
const NOT_PARSE_RELEVANT = new Set(['configFilePath', 'pathsBasePath', 'outDir', 'rootDir', 'noEmit', 'tsBuildInfoFile', 'declarationDir', 'configFile']);

function settingsKey(options) {
  return JSON.stringify(Object.keys(options).filter((k) => !NOT_PARSE_RELEVANT.has(k)).sort().map((k) => [k, options[k]]));
}

async function worker() {
  const ts = (await import('typescript')).default;
  const { ESLint } = await import('eslint');
  /** Parsed files, shared between this worker's programs with the same settings. */
  const sourceFiles = new Map();
  const formatHost = {
    getCanonicalFileName: (f) => f,
    getCurrentDirectory: () => REPO_ROOT,
    getNewLine: () => '\n',
  };
  const pretty = process.stdout.isTTY === true;

  function createProgram(tsconfigPath) {
    const diagnostics = [];
    const parsed = ts.getParsedCommandLineOfConfigFile(tsconfigPath, { noEmit: true }, {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (d) => diagnostics.push(d),
    });
    if (!parsed) return { program: null, diagnostics };
    const host = ts.createCompilerHost(parsed.options, true);
    const key = settingsKey(parsed.options);
    const read = host.getSourceFile.bind(host);
    host.getSourceFile = (fileName, languageVersionOrOptions, onError, shouldCreate) => {
      const v = languageVersionOrOptions;
      const id = `${key}\0${fileName}\0${typeof v === 'object' ? `${v.languageVersion}/${v.impliedNodeFormat}/${v.jsDocParsingMode}` : v}`;
      let sf = sourceFiles.get(id);
      if (!sf || shouldCreate) {
        sf = read(fileName, languageVersionOrOptions, onError, shouldCreate);
        if (sf) sourceFiles.set(id, sf);
      }
      return sf;
    };
    const program = ts.createProgram({
      rootNames: parsed.fileNames,
      options: parsed.options,
      projectReferences: parsed.projectReferences,
      host,
      configFileParsingDiagnostics: ts.getConfigFileParsingDiagnostics(parsed),
    });
    return { program, diagnostics };
  }

  /** tsc's own order (executeCommandLine → emitFilesAndReportErrors), for `--noEmit`. */
  function tscDiagnostics(program) {
    const all = [...program.getConfigFileParsingDiagnostics()];
    const base = all.length;
    all.push(...program.getSyntacticDiagnostics());
    if (all.length === base) {
      all.push(...program.getOptionsDiagnostics());
      all.push(...program.getGlobalDiagnostics());
      if (all.length === base) all.push(...program.getSemanticDiagnostics());
      const opts = program.getCompilerOptions();
      if (opts.noEmit && (opts.declaration || opts.composite) && all.length === base) all.push(...program.getDeclarationDiagnostics());
    }
    return ts.sortAndDeduplicateDiagnostics(all);
  }

  function runScript(dir, script) {
    const res = spawnSync('npm', ['run', '-s', script], { cwd: dir, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    return { ok: res.status === 0, output: `${res.stdout ?? ''}${res.stderr ?? ''}`, reason: res.status === 0 ? undefined : `exit ${res.status ?? res.signal}` };
  }

  async function check(name, dir) {
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    const plan = readCheckScripts(pkg.scripts);
    const results = [];
    const programs = []; // { tsconfig (absolute), program }
    if (plan.typecheck) {
      const started = Date.now();
      let out;
      if ('run' in plan.typecheck) out = runScript(dir, 'typecheck');
      else {
        const diagnostics = [];
        for (const t of plan.typecheck.tsconfigs) {
          const tsconfig = resolve(dir, t);
          const { program, diagnostics: configErrors } = createProgram(tsconfig);
          diagnostics.push(...configErrors);
          if (program) {
            programs.push({ tsconfig, program });
            diagnostics.push(...tscDiagnostics(program));
          }
        }
        const text = diagnostics.length
          ? pretty
            ? ts.formatDiagnosticsWithColorAndContext(diagnostics, formatHost)
            : ts.formatDiagnostics(diagnostics, formatHost)
          : '';
        out = { ok: diagnostics.length === 0, output: text, reason: diagnostics.length ? `${diagnostics.length} TypeScript error(s)` : undefined };
      }
      results.push({ task: 'typecheck', ms: Date.now() - started, ...out });
    }
    if (plan.lint) {
      const started = Date.now();
      let out;
      if ('run' in plan.lint) out = runScript(dir, 'lint');
      else out = await lint(dir, plan.lint.targets, programs);
      results.push({ task: 'lint', ms: Date.now() - started, ...out });
    }
    return results.map((r) => ({ package: name, ...r }));
  }

  /**
   * ESLint with the typecheck's programs. A TypeScript file gets the program of its nearest
   * tsconfig.json, as the project service (eslint.config.js) would give it; when a linted file's
   * nearest tsconfig is not one of those programs, the package is linted again with the
   * configuration as it is, so the answer never depends on this shortcut.
   */
  async function lint(dir, targets, programs) {
    const files = ['**/*.ts', '**/*.tsx', '**/*.mts', '**/*.cts'];
    // Deeper tsconfigs last: a later config object wins for the files it matches.
    const byDepth = [...programs].sort((a, b) => dirname(a.tsconfig).length - dirname(b.tsconfig).length);
    const overrideConfig = byDepth.map(({ tsconfig, program }) => {
      const base = relative(REPO_ROOT, dirname(tsconfig)).split(sep).join('/');
      return {
        files: files.map((f) => `${base}/${f}`),
        languageOptions: { parserOptions: { projectService: false, project: false, programs: [program] } },
      };
    });
    const paths = targets.map((t) => join(dir, t));
    const nearestTsconfig = (file) => {
      for (let d = dirname(file); d.startsWith(REPO_ROOT); d = dirname(d)) {
        if (existsSync(join(d, 'tsconfig.json'))) return join(d, 'tsconfig.json');
        if (d === REPO_ROOT) break;
      }
      return null;
    };
    const typed = (f) => /\.[mc]?tsx?$/.test(f) && !f.endsWith('.d.ts');
    let eslint = new ESLint({ cwd: REPO_ROOT, overrideConfig: programs.length ? overrideConfig : undefined });
    let results = await eslint.lintFiles(paths);
    const mismatch = programs.length
      ? results.find((r) => {
          if (!typed(r.filePath)) return false;
          const want = nearestTsconfig(r.filePath);
          const got = byDepth.filter((p) => r.filePath.startsWith(dirname(p.tsconfig) + sep)).at(-1);
          return !got || want !== got.tsconfig || !got.program.getSourceFile(r.filePath);
        })
      : undefined;
    let note = '';
    if (mismatch) {
      note = `${P} ${relative(REPO_ROOT, mismatch.filePath)} is not in the typecheck's program of its nearest tsconfig: linted with the project service\n`;
      eslint = new ESLint({ cwd: REPO_ROOT });
      results = await eslint.lintFiles(paths);
    }
    const errors = results.reduce((n, r) => n + r.errorCount, 0);
    const warnings = results.reduce((n, r) => n + r.warningCount, 0);
    const formatter = await eslint.loadFormatter('stylish');
    const text = errors + warnings ? await formatter.format(results) : '';
    return { ok: errors === 0, output: note + text, reason: errors ? `${errors} ESLint error(s)` : undefined };
  }

  process.on('message', (msg) => {
    if (msg?.type === 'stop') return void process.disconnect();
    if (msg?.type !== 'check') return;
    void (async () => {
      let results;
      try {
        results = await check(msg.name, msg.dir);
      } catch (err) {
        results = (msg.tasks ?? TASKS).map((task) => ({ package: msg.name, task, ok: false, ms: 0, output: String(err?.stack ?? err), reason: `crashed: ${String(err?.message ?? err).split('\n')[0]}` }));
      }
      process.send({ type: 'done', results });
    })();
  });
  process.send({ type: 'ready' });
}

// ─── Coordinator ────────────────────────────────────────────────────────────────────────────────

function selectPackages(args) {
  const all = readWorkspace(REPO_ROOT);
  if (!args.length) return all;
  return args.map((a) => {
    const p = all.find((x) => x.name === a || x.dir === resolve(a) || x.rel === a.replace(/\/$/, ''));
    if (p) return p;
    // Any folder with a package.json inside the repository (the runner's own tests use one).
    const dir = resolve(a);
    if (dir.startsWith(REPO_ROOT + sep) && existsSync(join(dir, 'package.json'))) {
      return { name: JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).name ?? relative(REPO_ROOT, dir), dir };
    }
    throw new Error(`${a}: not a workspace package (name or folder)`);
  });
}

async function coordinate({ jobs, report, names }) {
  const queue = selectPackages(names)
    .map((p) => {
      const plan = readCheckScripts(JSON.parse(readFileSync(join(p.dir, 'package.json'), 'utf8')).scripts);
      const tasks = TASKS.filter((t) => plan[t]);
      return { ...p, tasks, size: sizeOf(p.dir, plan.lint?.targets ?? ['src', 'test']) };
    })
    .filter((p) => p.tasks.length)
    .sort((a, b) => b.size - a.size || a.name.localeCompare(b.name));
  const n = Math.max(1, Math.min(jobs, queue.length));
  const all = [];
  const self = fileURLToPath(import.meta.url);
  await Promise.all(
    Array.from({ length: n }, () =>
      new Promise((done, fail) => {
        const child = fork(self, ['--worker'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
        let current = null;
        const next = () => {
          current = queue.shift() ?? null;
          if (current) child.send({ type: 'check', name: current.name, dir: current.dir, tasks: current.tasks });
          else child.send({ type: 'stop' });
        };
        child.on('message', (msg) => {
          if (msg.type === 'ready') return next();
          if (msg.type !== 'done') return;
          for (const r of msg.results) {
            // One write per check, so the two workers' outputs do not interleave.
            const head = `${P} ${r.ok ? '✓' : '✗'} ${r.package}#${r.task} ${(r.ms / 1000).toFixed(1)} s${r.reason ? ` — ${r.reason}` : ''}\n`;
            process.stdout.write(r.output ? `${head}${r.output.replace(/\n?$/, '\n')}` : head);
            const { output: _output, ...entry } = r;
            all.push(entry);
            if (report) appendFileSync(report, `${JSON.stringify(entry)}\n`);
          }
          next();
        });
        child.on('exit', (code, signal) => {
          if (current) {
            // The worker died mid-package (out of memory, killed): its checks fail, the rest go on.
            for (const task of current.tasks) {
              const entry = { package: current.name, task, ok: false, ms: 0, reason: `worker exited (${signal ?? code})` };
              console.error(`${P} ✗ ${current.name}#${task} — ${entry.reason}`);
              all.push(entry);
              if (report) appendFileSync(report, `${JSON.stringify(entry)}\n`);
            }
          }
          done();
        });
        child.on('error', fail);
      }),
    ),
  );
  const failed = all.filter((r) => !r.ok);
  console.log(`${P} ${all.length - failed.length} of ${all.length} checks passed (${n} worker${n > 1 ? 's' : ''})`);
  return failed.length === 0;
}

async function main() {
  const argv = process.argv.slice(2);
  if (argv[0] === '--worker') return worker();
  let jobs = Math.min(availableParallelism(), MAX_JOBS);
  let report = null;
  const names = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--jobs') jobs = Number(argv[++i]);
    else if (argv[i] === '--report') report = argv[++i];
    else if (argv[i] === '--help') {
      console.log('node scripts/check-packages.mjs [--jobs N] [--report <file.jsonl>] [package name or folder ...]');
      return;
    } else names.push(argv[i]);
  }
  if (!Number.isInteger(jobs) || jobs < 1) throw new Error('--jobs takes a whole number >= 1');
  if (report && !isAbsolute(report)) report = resolve(report);
  const ok = await coordinate({ jobs, report, names });
  process.exitCode = ok ? 0 : 1;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
