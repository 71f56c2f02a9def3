#!/usr/bin/env node
/**
 * `npm run chaos -- [options]`: the chaos suite on a 3-node JetStream cluster (issue 18). Prints
 * a table, writes JSON with `--json [file]`, exits 1 when any case lost an order, showed one
 * twice or failed its own check, 2 on a usage error.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findRepoRoot, BINARY_ENV } from '@orderwire/test-harness';
import { resolveOut } from './out-path.js';
import { allCases, quickCase } from './chaos/cases.js';
import { cleanupHost, hostFaultsUnavailable } from './chaos/host-ops.js';
import { formatTable, type ChaosReport } from './chaos/report.js';
import { DEFAULT_LOAD, natsServerVersion, runCase, type CaseResult, type ChaosLoad } from './chaos/run-case.js';
import { isBenchError } from './errors.js';

export const CHAOS_USAGE = `usage: npm run chaos -- [options]

  --cases LIST        case ids or slugs, comma-separated (default: all): ${allCases()
    .map((c) => c.id)
    .join(',')}
  --nats latest       run against the newest nats-server (npm run tools -- --with-nats-latest);
                      default: the repository's (.tools/bin)
  --rate M            orders per second (default ${DEFAULT_LOAD.rate})
  --displays N        displays (default ${DEFAULT_LOAD.displays}, ${DEFAULT_LOAD.fanout} per station)
  --json [FILE]       JSON result on stdout (or to FILE; results/x.json lands in load-tests/results/)
  --list              the cases and exit
  --help`;

export interface ChaosOptions {
  cases: string[] | undefined;
  nats: 'default' | 'latest';
  load: ChaosLoad;
  json: string | true | undefined;
  list: boolean;
  help: boolean;
}

export function parseChaosArgs(argv: readonly string[]): ChaosOptions {
  const o: ChaosOptions = { cases: undefined, nats: 'default', load: { ...DEFAULT_LOAD }, json: undefined, list: false, help: false };
  const positive = (flag: string, v: string | undefined): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`${flag} needs a positive number, got ${v ?? 'nothing'}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    switch (a) {
      case '--cases':
        o.cases = (argv[++i] ?? '').split(',').filter((x) => x !== '');
        if (o.cases.length === 0) throw new Error('--cases needs a list');
        break;
      case '--nats': {
        const v = argv[++i];
        if (v !== 'latest' && v !== 'default') throw new Error(`--nats takes latest or default, got ${v ?? 'nothing'}`);
        o.nats = v;
        break;
      }
      case '--rate':
        o.load.rate = positive(a, argv[++i]);
        break;
      case '--displays':
        o.load.displays = Math.round(positive(a, argv[++i]));
        break;
      case '--json': {
        const next = argv[i + 1];
        if (next !== undefined && !next.startsWith('--')) {
          o.json = next;
          i++;
        } else o.json = true;
        break;
      }
      case '--list':
        o.list = true;
        break;
      case '--help':
      case '-h':
        o.help = true;
        break;
      default:
        throw new Error(`unknown option ${a}`);
    }
  }
  const known = [...allCases(), quickCase()];
  for (const id of o.cases ?? []) {
    if (!known.some((c) => c.id === id || c.slug === id)) throw new Error(`unknown case ${id} (known: ${known.map((c) => `${c.id} ${c.slug}`).join(', ')})`);
  }
  return o;
}

/** Where `npm run tools -- --with-nats-latest` puts the newest nats-server. */
export function latestNatsBinary(root: string): string {
  return join(root, '.tools', 'nats-latest', 'bin', 'nats-server');
}

async function main(argv: readonly string[]): Promise<number> {
  let options: ChaosOptions;
  try {
    options = parseChaosArgs(argv);
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n\n${CHAOS_USAGE}\n`);
    return 2;
  }
  if (options.help) {
    process.stdout.write(`${CHAOS_USAGE}\n`);
    return 0;
  }
  const selected =
    options.cases === undefined ? allCases() : [...allCases(), quickCase()].filter((c) => options.cases?.includes(c.id) === true || options.cases?.includes(c.slug) === true);
  if (options.list) {
    process.stdout.write(`${selected.map((c) => `${c.id.padEnd(3)} ${c.slug.padEnd(24)} ${c.title}`).join('\n')}\n`);
    return 0;
  }
  if (options.nats === 'latest') {
    const root = findRepoRoot(dirname(fileURLToPath(import.meta.url))) ?? process.cwd();
    process.env[BINARY_ENV['nats-server']] = latestNatsBinary(root);
  }
  const log = (line: string): void => {
    process.stderr.write(`[chaos] ${line}\n`);
  };
  const noRoot = hostFaultsUnavailable();
  const report: ChaosReport = {
    version: 1,
    startedAt: new Date().toISOString(),
    command: `npm run chaos -- ${argv.join(' ')}`.trim(),
    natsVersion: natsServerVersion(),
    load: options.load,
    machine: { cpus: cpus().length, loadAverage1m: loadavg()[0] ?? 0 },
    cases: [],
    skipped: [],
    ok: true,
  };
  log(`nats-server ${report.natsVersion}; ${selected.length} case(s)`);
  for (const c of selected) {
    if (c.needsRoot === true && noRoot !== undefined) {
      report.skipped.push({ id: c.id, reason: noRoot });
      log(`skipping ${c.id} ${c.slug}: ${noRoot}`);
      continue;
    }
    log(`case ${c.id} ${c.slug}: ${c.title}`);
    let result: CaseResult;
    try {
      result = await runCase(c, options.load, log);
    } catch (err) {
      const code = isBenchError(err) ? `${err.code}: ` : '';
      log(`case ${c.id} could not run: ${code}${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      report.skipped.push({ id: c.id, reason: `run failed: ${code}${err instanceof Error ? err.message.split('\n')[0] : String(err)}` });
      report.ok = false;
      continue;
    } finally {
      cleanupHost();
    }
    report.cases.push(result);
    if (!result.ok) report.ok = false;
    log(`case ${c.id}: ${result.ok ? 'ok' : `FAILED — ${result.failures.join('; ')}`}`);
  }
  report.machine.loadAverage1m = loadavg()[0] ?? 0;
  if (options.json === true) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  else {
    process.stdout.write(`${formatTable(report)}\n`);
    if (options.json !== undefined) {
      const file = resolveOut(options.json);
      await mkdir(dirname(file), { recursive: true });
      await writeFile(file, `${JSON.stringify(report, null, 2)}\n`);
      log(`result written to ${file}`);
    }
  }
  return report.ok ? 0 : 1;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      cleanupHost();
      process.stderr.write(`${String(err)}\n`);
      process.exit(1);
    },
  );
}
