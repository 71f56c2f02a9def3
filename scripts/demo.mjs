#!/usr/bin/env node
// "Your first order on a screen" against a running `npm start`: the two steps that need
// credentials, done with the demo clients from .data/dev-credentials.json.
//
//   node scripts/demo.mjs code [displayId]     register (or re-issue) a display, print its enrollment code
//   node scripts/demo.mjs order [orderId]      post a sample order to the demo store and station
//
// The display is `kitchen-1` in store `store-1`, station `grill` (override the id as above).
// Equivalent curl commands are in docs/display-app.md. Node built-ins only.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { REPO_ROOT } from './lib/repo.mjs';
import { callJson } from './lib/http.mjs';

const STORE = 'store-1';
const STATION = 'grill';
const DISPLAY_APP_URL = 'http://127.0.0.1:3005/';
/** 10 s per HTTP call: the stack is local. */

function fail(message) {
  console.error(`[demo] ${message}`);
  process.exit(1);
}

function credentials() {
  const file = join(resolve(process.env.ORDERWIRE_DATA_DIR || join(REPO_ROOT, '.data')), 'dev-credentials.json');
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    fail(`cannot read ${file} (${err.code ?? err.message}): start the stack with \`npm start\` first`);
  }
}

async function call(method, url, options) {
  try {
    return await callJson(method, url, options);
  } catch (err) {
    fail(`${err.message} — is \`npm start\` running?`);
  }
}

async function clientToken(urls, client, scope) {
  const res = await call('POST', `${urls.auth}/v1/oauth/token`, {
    body: { grant_type: 'client_credentials', client_id: client.clientId, client_secret: client.clientSecret, scope },
  });
  if (res.status !== 200) fail(`token for ${scope}: HTTP ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.access_token;
}

async function code(creds, displayId = 'kitchen-1') {
  const token = await clientToken(creds.urls, creds.operator, 'displays:manage');
  const body = { displayId, storeId: STORE, stations: [STATION] };
  let res = await call('POST', `${creds.urls.auth}/v1/displays`, { token, body });
  // Already registered (a second run): a fresh code for the same display.
  if (res.status === 409) res = await call('POST', `${creds.urls.auth}/v1/displays?reissue=true`, { token, body });
  if (res.status !== 201) fail(`register ${displayId}: HTTP ${res.status} ${JSON.stringify(res.body)}`);
  console.log(res.body.enrollmentCode);
  console.error(`[demo] display ${displayId} (store ${STORE}, station ${STATION}): open ${DISPLAY_APP_URL} and enter the code above (valid ${res.body.expiresIn} s)`);
}

async function order(creds, orderId = `demo-${Date.now().toString(36)}`) {
  const token = await clientToken(creds.urls, creds.upstream, 'orders:write');
  const body = {
    orderId,
    storeId: STORE,
    station: STATION,
    createdAt: new Date().toISOString(),
    items: [
      { name: 'Cheeseburger', qty: 2, modifiers: ['no onion'] },
      { name: 'Fries', qty: 1, notes: 'extra crispy' },
    ],
  };
  const res = await call('POST', `${creds.urls.ingest}/v1/orders`, { token, body });
  if (res.status !== 202) fail(`post order: HTTP ${res.status} ${JSON.stringify(res.body)}`);
  console.log(orderId);
  console.error(`[demo] order ${orderId} accepted for ${STORE}/${STATION}: watch ${DISPLAY_APP_URL}`);
}

const [cmd, arg] = process.argv.slice(2);
if (cmd === 'code') await code(credentials(), arg);
else if (cmd === 'order') await order(credentials(), arg);
else fail('usage: node scripts/demo.mjs code [displayId] | order [orderId]');
