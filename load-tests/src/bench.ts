#!/usr/bin/env node
/**
 * `npm run bench -- [options]`: the Orderwire load harness. Prints a table (or the JSON with
 * `--json`), writes JSON with `--out`, exits 1 when anything was lost (or the run failed), 2 on a usage error.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { USAGE, parseBenchArgs, type BenchOptions } from './args.js';
import { isBenchError } from './errors.js';
import { formatCapacityResult, formatResult } from './report.js';
import { resolveOut } from './out-path.js';
import { runBench, runCapacityBench } from './run.js';

export { resolveOut };

async function main(argv: readonly string[]): Promise<number> {
  let options: BenchOptions;
  try {
    options = parseBenchArgs(argv);
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n\n${USAGE}\n`);
    return 2;
  }
  if (options.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const log = (line: string): void => {
    process.stderr.write(`[bench] ${line}\n`);
  };
  try {
    const context = { log, command: `npm run bench -- ${argv.join(' ')}`.trim() };
    const result = options.mode === 'ingest-capacity' ? await runCapacityBench(options, context) : await runBench(options, context);
    if (options.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    else process.stdout.write(`${'kind' in result ? formatCapacityResult(result) : formatResult(result)}\n`);
    if (options.out !== undefined) {
      const file = resolveOut(options.out);
      await mkdir(dirname(file), { recursive: true });
      await writeFile(file, `${JSON.stringify(result, null, 2)}\n`);
      log(`result written to ${file}`);
    }
    return result.ok ? 0 : 1;
  } catch (err) {
    const code = isBenchError(err) ? `${err.code}: ` : '';
    process.stderr.write(`[bench] run failed: ${code}${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return 1;
  }
}

// Run only as the entry point, so tests can import resolveOut.
if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  let exiting = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (exiting) process.exit(130);
    exiting = true;
    process.stderr.write(`[bench] ${signal}: stopping (children are cleaned up on exit)\n`);
    process.exit(130);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`${String(err)}\n`);
      process.exit(1);
    },
  );
}
