/** The README is the reference for operators: it must list every error code and variable. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { EDGE_CONFIG_SPEC } from '../src/config.js';
import { EDGE_ERRORS } from '../src/errors.js';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

describe('README', () => {
  it('documents every error code', () => {
    const missing = EDGE_ERRORS.codes.filter((c) => !readme.includes(`\`${c}\``));
    expect(missing).toEqual([]);
  });
  it('documents every environment variable', () => {
    const missing = Object.values(EDGE_CONFIG_SPEC)
      .map((v) => v.env)
      .filter((env) => !readme.includes(`\`${env}\``));
    expect(missing).toEqual([]);
  });
});
