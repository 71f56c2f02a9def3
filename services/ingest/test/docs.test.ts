/**
 * docs/api.md is the human reference: it must list the HTTP-base codes a client of ingest can see
 * and every configuration variable. Ingest's own catalogue and the token codes are checked with
 * every other catalogue, both ways, by scripts/check-error-docs.mjs.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CONFIG_SPEC } from '../src/config.js';

const doc = readFileSync(new URL('../../../docs/api.md', import.meta.url), 'utf8');

describe('docs/api.md', () => {
  it('lists the HTTP-base codes a client can receive', () => {
    for (const code of [
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
