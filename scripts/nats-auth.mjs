#!/usr/bin/env node
// Writes the nats-server authorization for Orderwire from the ONE declaration of permissions
// (shared/platform/src/nats-permissions.ts):
//   <out>/auth.conf          the `authorization { users: [...] }` block: one NKEY user per identity
//   <out>/<identity>.seed    that identity's NKEY seed (mode 0600), for NATS_NKEY_SEED_FILE
// Seeds already in <out> are kept, so after a change to the declaration only auth.conf changes
// (roll the NATS servers' config; the services keep their Secrets). `--rotate` makes new seeds.
// Needs the platform package built (`npm run build`, or `npx turbo run build --filter=@orderwire/platform`).
//
// Usage: node scripts/nats-auth.mjs --out <dir> [--rotate] [--identities auth,ingest,...]
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const USAGE = 'usage: node scripts/nats-auth.mjs --out <dir> [--rotate] [--identities auth,ingest,edge,dlq,topology]';

let args;
try {
  args = parseArgs({
    options: {
      out: { type: 'string' },
      rotate: { type: 'boolean', default: false },
      identities: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  }).values;
} catch (err) {
  console.error(`nats-auth: ${err instanceof Error ? err.message : String(err)}\n${USAGE}`);
  process.exit(2);
}
if (args.help) {
  console.log(USAGE);
  process.exit(0);
}
if (args.out === undefined) {
  console.error(`nats-auth: --out is required\n${USAGE}`);
  process.exit(2);
}

let platform;
try {
  platform = await import('@orderwire/platform');
} catch (err) {
  console.error(`nats-auth: cannot load @orderwire/platform (build it first: npx turbo run build --filter=@orderwire/platform): ${String(err)}`);
  process.exit(1);
}
const { NATS_IDENTITIES, createNatsIdentityKey, natsIdentityKeyFromSeed, renderNatsAuthorization } = platform;

const wanted = args.identities === undefined ? [...NATS_IDENTITIES] : args.identities.split(',').map((s) => s.trim()).filter(Boolean);
const unknown = wanted.filter((i) => !NATS_IDENTITIES.includes(i));
if (unknown.length > 0) {
  console.error(`nats-auth: unknown identities ${unknown.join(', ')} (known: ${NATS_IDENTITIES.join(', ')})`);
  process.exit(2);
}

const out = resolve(args.out);
mkdirSync(out, { recursive: true, mode: 0o700 });
const keys = wanted.map((identity) => {
  const file = join(out, `${identity}.seed`);
  if (!args.rotate && existsSync(file)) return { key: natsIdentityKeyFromSeed(identity, readFileSync(file, 'utf8')), kept: true };
  const key = createNatsIdentityKey(identity);
  writeFileSync(file, `${key.seed}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return { key, kept: false };
});
writeFileSync(join(out, 'auth.conf'), renderNatsAuthorization(keys.map((k) => k.key)), { mode: 0o600 });
for (const { key, kept } of keys) {
  console.log(`${key.identity.padEnd(9)} ${key.publicKey}  ${join(out, `${key.identity}.seed`)} (${kept ? 'kept' : 'new'})`);
}
console.log(`wrote ${join(out, 'auth.conf')}`);
