/**
 * The README is the reference for operators: it must list every variable (its error codes are
 * checked with every other catalogue by scripts/check-error-docs.mjs).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { EDGE_CONFIG_SPEC } from '../src/config.js';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

describe('README', () => {
  it('documents every environment variable', () => {
    const missing = Object.values(EDGE_CONFIG_SPEC)
      .map((v) => v.env)
      .filter((env) => !readme.includes(`\`${env}\``));
    expect(missing).toEqual([]);
  });
});
