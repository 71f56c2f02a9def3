/**
 * What registering and enrolling a display costs in NATS requests — the figure that bounds how
 * fast a fleet enrolls (issue 14: auth and nats-server CPU per display). Every JetStream API
 * request, KV write and audit append auth makes is seen by a spy subscription and named by kind.
 */
import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { connect } from '@nats-io/transport-node';
import { AUDIT_SUBJECT_PREFIX, displayConsumerName } from '@orderwire/contracts';
import { displayConsumerConfig, orderStreamFor } from '@orderwire/platform';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientToken, decodeJwt, enroll, makeClient, newDisplayId, registerDisplay, startAuth, startInfra, type Infra, type TestAuth } from './helpers.js';

let infra: Infra;
let t: TestAuth;
let spy: NatsConnection;
let opToken: string;
let tenant: string;
const seen: string[] = [];

/** `$JS.API.STREAM.MSG.GET.KV_ow_displays` → `get ow_displays` (a KV read from the leader); `$KV.ow_enrollments.…` → `write ow_enrollments`; `$JS.API.CONSUMER.INFO.…` → `CONSUMER.INFO`. */
function kind(subject: string): string {
  const t = subject.split('.');
  if (subject.startsWith('$KV.')) return `write ${t[1]}`;
  if (subject.startsWith(`${AUDIT_SUBJECT_PREFIX}.`)) return `audit ${t[t.length - 1]}`;
  if (subject.startsWith('$JS.API.STREAM.MSG.GET.') || subject.startsWith('$JS.API.DIRECT.GET.')) return `get ${t[5]!.replace(/^KV_/, '')}`;
  if (subject.startsWith('$JS.API.STREAM.INFO.')) return `STREAM.INFO ${t[4]!.replace(/^KV_/, '')}`;
  if (subject.startsWith('$JS.API.CONSUMER.DURABLE.')) return `CONSUMER.DURABLE.${t[4]}`;
  return t.slice(2, 4).join('.');
}

/** The requests seen since the last call, sorted. */
async function requests(): Promise<string[]> {
  await t.nc.flush();
  await spy.flush();
  await new Promise((r) => setTimeout(r, 100));
  return seen.splice(0).sort();
}

beforeAll(async () => {
  infra = await startInfra();
  t = await startAuth(infra);
  const operator = await makeClient(t, ['displays:manage']);
  tenant = operator.tenant;
  opToken = await clientToken(t, operator);
  spy = await connect({ servers: infra.nats.url, name: 'request-spy' });
  for (const subject of ['$JS.API.>', '$KV.>', `${AUDIT_SUBJECT_PREFIX}.>`]) spy.subscribe(subject, {
      callback: (_e, m) => {
        seen.push(kind(m.subject));
      },
    });
  await spy.flush();
  await requests();
});

afterAll(async () => {
  await spy?.close();
  await t?.close();
  await infra?.dispose();
});

describe('NATS requests per display', () => {
  it('a new display: registration makes 8 requests (one consumer create, no info, no tenant read), enrollment 8 (no family listing); the mailbox is as declared before the code exists', async () => {
    const displayId = newDisplayId();
    const reg = await registerDisplay(t, opToken, { displayId });
    expect(reg.statusCode).toBe(201);
    expect(await requests()).toEqual(
      [
        'get ow_clients', // the operator's client record (revocation)
        'get ow_displays', // exists? (its tenant's display quota is watched, not read)
        'STREAM.NAMES', // the partition stream of its store
        'CONSUMER.DURABLE.CREATE', // the mailbox
        'write ow_displays', // the registry record
        'write ow_enrollments', // code → display
        'write ow_enrollments', // the display's code
        'audit display_registered',
      ].sort(),
    );
    const jsm = await jetstreamManager(t.nc);
    const stream = await orderStreamFor(jsm, tenant, 'store-1');
    const mailbox = await jsm.consumers.info(stream!, displayConsumerName(tenant, displayId));
    const declared = displayConsumerConfig(
      { tenant, store: 'store-1', displayId, stations: ['grill', 'bar'] },
      { ackWaitMs: t.config.consumer.ackWaitMs, maxAckPending: t.config.consumer.maxAckPending, maxDeliver: t.config.consumer.maxDeliver },
    );
    expect(mailbox.config).toMatchObject(declared);
    await requests();

    const en = await enroll(t, reg.json.enrollmentCode as string);
    expect(en.statusCode).toBe(200);
    expect(decodeJwt(en.json.accessToken as string).sub).toBe(displayId);
    expect(await requests()).toEqual(
      [
        'get ow_enrollments', // code → display
        'get ow_enrollments', // the display's code
        'get ow_displays', // the display
        'write ow_enrollments', // code used (CAS)
        // (no STREAM.INFO listing earlier families: its first code says it has none)
        'write ow_refresh_tokens', // family index
        'write ow_refresh_tokens', // family
        'write ow_displays', // enrolled (CAS from the record read above)
        'audit enrolled',
      ].sort(),
    );
  });

  it('re-registering a live display still checks for a legacy mailbox and the existing one, and enrolling again supersedes the first family', async () => {
    const displayId = newDisplayId();
    const first = await registerDisplay(t, opToken, { displayId });
    expect((await enroll(t, first.json.enrollmentCode as string)).statusCode).toBe(200);
    await requests();

    const again = await registerDisplay(t, opToken, { displayId, stations: ['grill'] }, '?reissue=true');
    expect(again.statusCode).toBe(201);
    expect(await requests()).toEqual(
      [
        'get ow_clients',
        'get ow_displays',
        'CONSUMER.INFO', // a legacy-named mailbox? (none: the legacy stream does not exist)
        'STREAM.NAMES',
        'CONSUMER.INFO', // the existing mailbox
        'CONSUMER.INFO', // the library's update reads it first
        'CONSUMER.DURABLE.CREATE', // … and updates its filter subjects
        'write ow_displays',
        'get ow_enrollments', // the earlier code, whose lookup record is removed
        'write ow_enrollments',
        'write ow_enrollments',
        'write ow_enrollments', // that removal
        'audit display_registered',
      ].sort(),
    );

    const en = await enroll(t, again.json.enrollmentCode as string);
    expect(en.statusCode).toBe(200);
    const seenNow = await requests();
    // A reissued code lists the display's families; the first is revoked: read, CAS, announced (a plain publish, not counted), audited.
    expect(seenNow.filter((k) => k.startsWith('STREAM.INFO'))).toEqual(['STREAM.INFO ow_refresh_tokens']);
    expect(seenNow.filter((k) => k === 'get ow_refresh_tokens' || k === 'audit revoked')).toEqual(['audit revoked', 'get ow_refresh_tokens']);
    expect(seenNow.filter((k) => k === 'write ow_refresh_tokens')).toHaveLength(3);
  });
});
