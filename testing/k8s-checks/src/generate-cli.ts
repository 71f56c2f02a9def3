#!/usr/bin/env node
/** Writes every generated Kubernetes file (see generate.ts); `--check` only reports stale ones. */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generatedFiles } from './generate.js';
import { REPO_ROOT } from './paths.js';

const check = process.argv.includes('--check');
let stale = 0;
for (const file of generatedFiles()) {
  const target = join(REPO_ROOT, file.path);
  let current: string | undefined;
  try {
    current = readFileSync(target, 'utf8');
  } catch {
    current = undefined;
  }
  if (current === file.content) continue;
  stale++;
  if (check) console.error(`stale: ${file.path}`);
  else {
    writeFileSync(target, file.content);
    console.log(`wrote ${file.path}`);
  }
}
if (check && stale > 0) process.exit(1);
console.log(stale === 0 ? 'generated files are up to date' : `${stale} file(s) ${check ? 'stale' : 'written'}`);
