/**
 * Error catalogue of the observability checks. Every error this package throws is a
 * {@link CheckError} with one of these stable codes.
 */
export const CheckErrorCode = {
  /** A PromQL expression could not be tokenised (unterminated string, unbalanced brackets). */
  PromqlSyntax: 'ORDERWIRE_ERR_OBSCHECK_PROMQL_SYNTAX',
  /** A dashboard file is not valid JSON or not a dashboard. */
  DashboardInvalid: 'ORDERWIRE_ERR_OBSCHECK_DASHBOARD_INVALID',
  /** A rule file is not valid YAML or not a Prometheus rule file. */
  RulesInvalid: 'ORDERWIRE_ERR_OBSCHECK_RULES_INVALID',
  /** A directory or file the check needs does not exist. */
  NotFound: 'ORDERWIRE_ERR_OBSCHECK_NOT_FOUND',
  /** promtool / amtool could not be found. */
  ToolNotFound: 'ORDERWIRE_ERR_OBSCHECK_TOOL_NOT_FOUND',
  /** A /metrics endpoint could not be scraped. */
  ScrapeFailed: 'ORDERWIRE_ERR_OBSCHECK_SCRAPE_FAILED',
  /** Bad command line. */
  Usage: 'ORDERWIRE_ERR_OBSCHECK_USAGE',
} as const;

export type CheckErrorCode = (typeof CheckErrorCode)[keyof typeof CheckErrorCode];

export class CheckError extends Error {
  override readonly name = 'CheckError';
  readonly code: CheckErrorCode;

  constructor(code: CheckErrorCode, message: string, options?: { cause?: unknown }) {
    super(`${code}: ${message}`, options);
    this.code = code;
  }
}
