/** Runs one of `tools/*.mjs` as its own process and returns how it ended (for the tools' tests). */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface ToolRun {
  code: number;
  stdout: string;
  stderr: string;
}

export function runTool(name: string, args: string[], timeoutMs = 60_000): Promise<ToolRun> {
  const file = fileURLToPath(new URL(`../tools/${name}`, import.meta.url));
  return new Promise((resolve) => {
    execFile(process.execPath, [file, ...args], { timeout: timeoutMs }, (err, stdout, stderr) =>
      resolve({ code: err === null ? 0 : Number(err.code ?? 1), stdout, stderr }),
    );
  });
}
