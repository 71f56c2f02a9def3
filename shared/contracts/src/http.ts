/**
 * The one HTTP error shape of every Orderwire service (OAuth endpoints excepted: they answer with
 * RFC 6749 error bodies).
 */
export interface ErrorBody {
  error: {
    /** Stable machine-readable code, `ORDERWIRE_ERR_<AREA>_<WHAT>`. */
    code: string;
    message: string;
    details?: unknown;
  };
}
