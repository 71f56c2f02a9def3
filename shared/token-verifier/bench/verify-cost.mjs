/**
 * CPU per token at first sight (the verified-token cache off), to size what a synchronous
 * node:crypto verification could save over the verifier's jose path (WebCrypto: the signature
 * math runs on libuv's thread pool, off the event loop). Distinct tokens, 64 in flight, as
 * handshakes arrive on an edge. Prints per token: CPU (user + system, every thread) and the
 * wall time, for
 *   - the verifier as built (jose jwtVerify, JWKS, claims);
 *   - `crypto.verify` of the signature alone on a cached KeyObject, on the event loop: the least a
 *     native path would cost, before its claims checks.
 *   npm run build && node shared/token-verifier/bench/verify-cost.mjs [--tokens 4000] [--rounds 5]
 */
import { KeyObject, verify } from 'node:crypto';
import { parseArgs } from 'node:util';
import { createJwksKey, signJwt, startJwks } from '@orderwire/test-harness';
import { createTokenVerifier } from '../dist/index.js';

const { values } = parseArgs({ options: { tokens: { type: 'string', default: '4000' }, rounds: { type: 'string', default: '5' } } });
const N = Number(values.tokens);
const ROUNDS = Number(values.rounds);
if (!(N > 0 && N <= 100_000 && ROUNDS > 0 && ROUNDS <= 50)) throw new Error('--tokens 1..100000, --rounds 1..50');

const ISSUER = 'orderwire-auth';
const now = () => Math.floor(Date.now() / 1000);
const es = await createJwksKey({ kid: 'es', alg: 'ES256' });
const ed = await createJwksKey({ kid: 'ed', alg: 'EdDSA' });
const jwks = await startJwks({ keys: [es, ed] });
const verifier = createTokenVerifier({ jwksUrl: jwks.url, issuer: ISSUER, audience: 'edge', verifiedTokenCacheSize: 0 });
await verifier.prefetch();

async function tokens(key) {
  const out = [];
  for (let i = 0; i < N; i++) {
    out.push(
      await signJwt(key, { typ: 'display', iss: ISSUER, aud: 'edge', sub: `display-${i}`, tid: 't1', sid: 's1', stn: ['grill'], fam: `f${i}`, jti: `j${i}`, iat: now(), exp: now() + 900 }),
    );
  }
  return out;
}

function nativeSignature(key) {
  const ko = KeyObject.from(key.publicKey);
  const options = key.alg === 'ES256' ? { key: ko, dsaEncoding: 'ieee-p1363' } : ko;
  const hash = key.alg === 'ES256' ? 'sha256' : null;
  return async (token) => {
    const dot = token.lastIndexOf('.');
    if (!verify(hash, Buffer.from(token.slice(0, dot), 'latin1'), options, Buffer.from(token.slice(dot + 1), 'base64url'))) throw new Error('bad signature');
  };
}

async function measure(list, check) {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < list.length; i += 64) await Promise.all(list.slice(i, i + 64).map(check));
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return { cpuUs: (cpu.user + cpu.system) / list.length, wallUs: (wall * 1000) / list.length };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(`node ${process.version}, ${N} distinct tokens per round, ${ROUNDS} rounds, median of rounds`);
for (const key of [es, ed]) {
  const list = await tokens(key);
  const paths = { 'verifier (jose, WebCrypto)': (t) => verifier.verifyDisplayToken(t), 'crypto.verify, signature only': nativeSignature(key) };
  const results = Object.fromEntries(Object.keys(paths).map((p) => [p, []]));
  for (const check of Object.values(paths)) await measure(list.slice(0, 500), check); // warm-up
  for (let r = 0; r < ROUNDS; r++) for (const [p, check] of Object.entries(paths)) results[p].push(await measure(list, check));
  for (const [p, rs] of Object.entries(results)) {
    console.log(`${key.alg.padEnd(6)} ${p.padEnd(30)} cpu ${median(rs.map((x) => x.cpuUs)).toFixed(1).padStart(6)} µs/token   wall ${median(rs.map((x) => x.wallUs)).toFixed(1).padStart(6)} µs/token`);
  }
}
await jwks.dispose();
