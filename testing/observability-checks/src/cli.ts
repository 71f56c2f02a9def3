#!/usr/bin/env node
/**
 * `node dist/cli.js check --metrics-url http://127.0.0.1:3002/metrics ...` — see CLI_USAGE.
 */
import { runCli } from './cli-run.js';

const code = await runCli(process.argv.slice(2), {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
});
process.exitCode = code;
