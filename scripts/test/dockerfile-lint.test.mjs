// The images' Dockerfiles pass the offline lint (dockerfile-utils + our rules), and each rule
// catches what it is for.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { lintDockerfile } from '../lib/dockerfile-lint.mjs';
import { REPO_ROOT } from '../lib/repo.mjs';

const DIGEST = 'sha256:' + 'a'.repeat(64);
const GOOD = `ARG BASE=node:24-slim@${DIGEST}
FROM \${BASE} AS build
RUN echo build
FROM \${BASE}
ENV NODE_ENV=production
COPY --from=build /x /app
USER 10001:10001
ENTRYPOINT ["node", "/app/main.mjs"]
`;
const rules = (text) => lintDockerfile(text).map((p) => p.rule);

test('every Dockerfile under deploy/ is clean', () => {
  const dir = join(REPO_ROOT, 'deploy', 'docker');
  const files = readdirSync(dir).filter((f) => f === 'Dockerfile' || f.endsWith('.Dockerfile'));
  assert.ok(files.length > 0, 'a Dockerfile in deploy/docker');
  for (const f of files) {
    const problems = lintDockerfile(readFileSync(join(dir, f), 'utf8'));
    assert.deepEqual(problems, [], `${f}:\n${problems.map((p) => `  line ${p.line} [${p.rule}] ${p.message}`).join('\n')}`);
  }
});

test('a well-formed sample is clean', () => {
  assert.deepEqual(lintDockerfile(GOOD), []);
});

test('a base without a digest is refused, after ARG expansion', () => {
  assert.deepEqual(rules(GOOD.replace(`@${DIGEST}`, '')), ['pinned-base', 'pinned-base']);
  assert.deepEqual(rules(GOOD.replace('FROM ${BASE}\n', 'FROM node:24-slim\n')), ['pinned-base']);
});

test('a root, named or missing USER is refused', () => {
  assert.deepEqual(rules(GOOD.replace('USER 10001:10001', 'USER 0:0')), ['non-root-user']);
  assert.deepEqual(rules(GOOD.replace('USER 10001:10001', 'USER node')), ['non-root-user']);
  assert.deepEqual(rules(GOOD.replace('USER 10001:10001\n', '')), ['non-root-user']);
});

test('ADD of a URL is refused', () => {
  assert.deepEqual(rules(GOOD.replace('RUN echo build', 'ADD https://example.com/x.tgz /x')), ['no-add-url']);
});

test('shell-form ENTRYPOINT or CMD is refused', () => {
  assert.deepEqual(rules(GOOD.replace('ENTRYPOINT ["node", "/app/main.mjs"]', 'ENTRYPOINT node /app/main.mjs')), ['exec-form']);
  assert.deepEqual(rules(`${GOOD}CMD node x\n`), ['exec-form']);
});

test('NODE_ENV=production is required in the final stage', () => {
  assert.deepEqual(rules(GOOD.replace('ENV NODE_ENV=production\n', '')), ['node-env']);
});

test('syntax errors from dockerfile-utils are reported', () => {
  assert.ok(rules(GOOD.replace('ENTRYPOINT', 'ENTRYPIONT')).includes('syntax'));
});
