// Reading vitest's JSON report for the `npm test` summary.

/** Longest failure text the summary shows per file; the package log has the whole message. */
export const FAILURE_TEXT_MAX = 400;

// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;]*m/g;

/**
 * Why a test file of a vitest JSON report failed, for the one summary line CI readers see first:
 * the first failed test and the head of its error (what happened, not only which assertion), or
 * the file's own error (a failed hook, an import error) when no test failed.
 */
export function fileFailureReason(fileResult) {
  const failed = (fileResult.assertionResults ?? []).find((a) => a.status === 'failed');
  if (failed === undefined) return firstLine(fileResult.message) || fileResult.status;
  const text = firstLine(failed.failureMessages?.[0]);
  return text ? `✗ ${failed.fullName}: ${text}` : `✗ ${failed.fullName}`;
}

/** The first non-empty line, without colours, cut at FAILURE_TEXT_MAX characters. */
function firstLine(text) {
  if (typeof text !== 'string') return '';
  const line = text.replace(ANSI, '').split('\n').find((l) => l.trim() !== '') ?? '';
  const trimmed = line.trim();
  return trimmed.length > FAILURE_TEXT_MAX ? `${trimmed.slice(0, FAILURE_TEXT_MAX)}…` : trimmed;
}
