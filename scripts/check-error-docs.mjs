#!/usr/bin/env node
// Keeps every error catalogue and the docs in step, both ways (as fastify's
// test/internals/errors.test.js does for its catalogue):
//   - every code of every catalogue has a row in the table of the doc CATALOGUES names for it
//     (`| \`CODE\` | …`), with the code's HTTP status in a cell when the catalogue has statuses
//     and the doc's table has a status column;
//   - every `ORDERWIRE_ERR_*` code any Markdown file of the repository mentions exists in some
//     catalogue (a prefix such as `ORDERWIRE_ERR_INGEST_*` must match at least one code).
// Reads the catalogues from each package's built dist/ (run `npm run build` first; `npm test`
// builds before it runs the scripts' tests). Node built-ins only.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { REPO_ROOT } from './lib/repo.mjs';

/**
 * Every error catalogue: where it is built, what it exports, and the doc whose table lists it.
 * `status: true` = the table has a status column that must match the catalogue's status.
 */
export const CATALOGUES = [
  { module: 'services/auth/dist/errors.js', export: 'AUTH_ERRORS', doc: 'docs/auth.md', status: true },
  { module: 'services/ingest/dist/errors.js', export: 'INGEST_ERRORS', doc: 'docs/api.md', status: true },
  { module: 'services/dlq/dist/errors.js', export: 'DLQ_ERRORS', doc: 'docs/dlq.md', status: true },
  { module: 'services/webhooks/dist/errors.js', export: 'WEBHOOKS_ERRORS', doc: 'docs/webhooks.md', status: true },
  { module: 'services/edge/dist/errors.js', export: 'EDGE_ERRORS', doc: 'services/edge/README.md', status: false },
  { module: 'shared/platform/dist/errors.js', export: 'PLATFORM_ERRORS', doc: 'shared/platform/README.md', status: true },
  { module: 'shared/token-verifier/dist/errors.js', export: 'TOKEN_ERRORS', doc: 'docs/api.md', status: true },
  { module: 'shared/display-sdk/dist/errors.js', export: 'SDK_ERRORS', doc: 'shared/display-sdk/README.md', status: false },
  { module: 'testing/test-harness/dist/errors.js', export: 'HarnessErrorCode', doc: 'testing/test-harness/README.md', status: false },
  { module: 'testing/observability-checks/dist/errors.js', export: 'CheckErrorCode', doc: 'testing/observability-checks/README.md', status: false },
];

const CODE_PREFIX = 'ORDERWIRE_ERR_';
const MENTION_RE = /ORDERWIRE_ERR_[A-Z0-9_]*\*?/g;

/**
 * The codes of one catalogue export, with their HTTP status when it has one. Three shapes exist:
 * `defineErrors` (`codes` + `catalog`), a record keyed by code (`{ CODE: { status, … } }` or
 * `{ CODE: 'message' }`), and a name → code map (`{ PortInUse: 'ORDERWIRE_ERR_…' }`).
 */
export function catalogueCodes(value) {
  if (Array.isArray(value?.codes) && value.catalog) return value.codes.map((code) => ({ code, status: value.catalog[code].status }));
  const entries = Object.entries(value ?? {});
  if (entries.length > 0 && entries.every(([, v]) => typeof v === 'string' && v.startsWith(CODE_PREFIX))) {
    return entries.map(([, code]) => ({ code, status: undefined }));
  }
  return entries.map(([code, spec]) => ({ code, status: typeof spec === 'object' && spec !== null ? spec.status : undefined }));
}

/** The cells of the Markdown table row documenting `code` (first cell is the backticked code), or undefined. */
export function docRow(markdown, code) {
  for (const line of markdown.split('\n')) {
    const cells = line.trim().split('|').slice(1, -1).map((c) => c.trim());
    if (cells[0] === `\`${code}\``) return cells;
  }
  return undefined;
}

/** Every `ORDERWIRE_ERR_*` token in `markdown` (prefix mentions end in `_` or `*`). */
export function mentionedCodes(markdown) {
  return [...new Set(markdown.match(MENTION_RE) ?? [])];
}

/**
 * Checks catalogues against docs. `catalogues`: [{ name, doc, status, codes: [{ code, status }] }];
 * `readDoc(path)`: the doc's text; `markdownFiles`: [{ path, text }] to scan for stale mentions.
 * Returns the problems found, one sentence each.
 */
export function checkErrorDocs(catalogues, readDoc, markdownFiles) {
  const problems = [];
  const known = new Set();
  for (const cat of catalogues) {
    const doc = readDoc(cat.doc);
    for (const { code, status } of cat.codes) {
      known.add(code);
      const row = docRow(doc, code);
      if (row === undefined) problems.push(`${cat.name}: ${code} has no row in ${cat.doc}`);
      else if (cat.status && status !== undefined && !row.includes(String(status))) {
        problems.push(`${cat.name}: the row of ${code} in ${cat.doc} does not give its status ${status}`);
      }
    }
  }
  for (const { path, text } of markdownFiles) {
    for (const mention of mentionedCodes(text)) {
      const prefix = mention.endsWith('*') ? mention.slice(0, -1) : mention.endsWith('_') ? mention : undefined;
      const exists = prefix === undefined ? known.has(mention) : [...known].some((c) => c.startsWith(prefix));
      if (!exists) problems.push(`${path}: mentions ${mention}, which no catalogue defines`);
    }
  }
  return problems;
}

/** The repository's catalogues, loaded from the built packages. */
export async function loadCatalogues(root = REPO_ROOT) {
  const out = [];
  for (const c of CATALOGUES) {
    const file = join(root, c.module);
    if (!existsSync(file)) throw new Error(`${c.module} is not built; run \`npm run build\` first`);
    const mod = await import(pathToFileURL(file).href);
    if (mod[c.export] === undefined) throw new Error(`${c.module} does not export ${c.export}`);
    out.push({ name: c.export, doc: c.doc, status: c.status, codes: catalogueCodes(mod[c.export]) });
  }
  return out;
}

/** Tracked Markdown files (and new ones not yet committed), without node_modules. */
export function repoMarkdown(root = REPO_ROOT) {
  const listed = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '*.md'], { cwd: root, encoding: 'utf8' });
  return listed
    .split('\n')
    .filter((p) => p !== '' && !p.includes('node_modules/') && existsSync(join(root, p)))
    .map((path) => ({ path, text: readFileSync(join(root, path), 'utf8') }));
}

export async function checkRepoErrorDocs(root = REPO_ROOT) {
  const catalogues = await loadCatalogues(root);
  return checkErrorDocs(catalogues, (doc) => readFileSync(join(root, doc), 'utf8'), repoMarkdown(root));
}

async function main() {
  const problems = await checkRepoErrorDocs();
  for (const p of problems) console.error(`[error-docs] ✗ ${p}`);
  if (problems.length) {
    console.error(`[error-docs] ${problems.length} problem(s); see CATALOGUES in scripts/check-error-docs.mjs`);
    process.exit(1);
  }
  console.log(`[error-docs] every code documented, no stale code (${CATALOGUES.length} catalogues)`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
