import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { AUTH_CONFIG_SPEC } from '../src/config.js';
import { AUDIT_EVENTS } from '../src/audit.js';

const doc = readFileSync(new URL('../../../docs/auth.md', import.meta.url), 'utf8');

describe('docs/auth.md', () => {
  it('documents every configuration variable', () => {
    for (const spec of Object.values(AUTH_CONFIG_SPEC)) expect(doc, spec.env).toContain(`\`${spec.env}\``);
  });

  it('names every audit event', () => {
    for (const event of AUDIT_EVENTS) expect(doc, event).toContain(`\`${event}\``);
  });
});
