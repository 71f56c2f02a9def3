/**
 * docs/api.md is the human reference: it must list every error code a client of ingest can see
 * and every configuration variable.
 */
import { readFileSync } from 'node:fs';
import { TOKEN_ERROR_CODES } from '@orderwire/token-verifier';
import { describe, expect, it } from 'vitest';
import { CONFIG_SPEC } from '../src/config.js';
import { INGEST_ERRORS } from '../src/errors.js';

const doc = readFileSync(new URL('../../../docs/api.md', import.meta.url), 'utf8');

describe('docs/api.md', () => {
  it('lists every ingest error code with its status', () => {
    for (const code of INGEST_ERRORS.codes) {
      const row = doc.split('\n').find((l) => l.startsWith(`| \`${code}\``));
      expect(row, code).toBeDefined();
      expect(row).toContain(`| ${INGEST_ERRORS.catalog[code].status} |`);
    }
  });

  it('lists the token and HTTP-base codes a client can receive', () => {
    for (const code of [
      ...TOKEN_ERROR_CODES,
      'ORDERWIRE_ERR_PAYLOAD_TOO_LARGE',
      'ORDERWIRE_ERR_BAD_REQUEST',
      'ORDERWIRE_ERR_UNSUPPORTED_MEDIA_TYPE',
      'ORDERWIRE_ERR_NOT_FOUND',
      'ORDERWIRE_ERR_INTERNAL',
    ]) {
      expect(doc, code).toContain(`\`${code}\``);
    }
  });

  it('documents every INGEST_* variable', () => {
    for (const spec of Object.values(CONFIG_SPEC)) {
      if (spec.env.startsWith('INGEST_')) expect(doc, spec.env).toContain(`| \`${spec.env}\` |`);
    }
  });
});
