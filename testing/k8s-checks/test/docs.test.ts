import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { ALERTMANAGER_SECRETS_SECRET, REPO_ROOT, referencedSecrets } from '../src/index.js';
import { rendered, withLoadTest } from './renders.js';

const deployDoc = readFileSync(join(REPO_ROOT, 'docs', 'deploy.md'), 'utf8');

/** Secret names created by a `kubectl … create secret …` command in the doc (loops expanded). */
function documentedSecrets(): Set<string> {
  const names = new Set<string>();
  for (const m of deployDoc.matchAll(/create secret (?:generic|tls) "?([a-z0-9$-]+)"?/g)) names.add(m[1]!);
  // `for s in auth ingest …; do … "orderwire-nats-$s"`
  for (const loop of deployDoc.matchAll(/for s in ([a-z ]+);\s*do\s*\n?.*?create secret generic "([a-z-]+)\$s"/g)) {
    for (const s of loop[1]!.trim().split(/\s+/)) names.add(`${loop[2]!}${s}`);
  }
  return names;
}

describe('docs/deploy.md', () => {
  test('documents how to create every Secret the production render and the load test reference', () => {
    const referenced = [...referencedSecrets(withLoadTest('production')), ALERTMANAGER_SECRETS_SECRET].sort();
    const documented = documentedSecrets();
    expect(referenced.filter((name) => !documented.has(name))).toEqual([]);
    expect(referenced.length).toBeGreaterThan(5);
  });

  test('the dev overlay references no Secret it does not generate, besides the optional NATS identities', () => {
    const objects = rendered('dev');
    const generated = new Set(objects.filter((o) => o.kind === 'Secret').map((o) => o.metadata.name));
    const missing = [...referencedSecrets(objects)].filter((n) => !generated.has(n) && !n.startsWith('orderwire-nats-') && n !== 'orderwire-tls');
    expect(missing).toEqual([]);
  });

  test('links the runbook and the images and identities guide', () => {
    expect(deployDoc).toContain('(runbook.md)');
    expect(deployDoc).toContain('(deploy-images-and-identities.md)');
  });
});
