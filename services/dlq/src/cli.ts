#!/usr/bin/env node
/**
 * SRE command line for the DLQ, shipped in the service image: `kubectl exec deploy/dlq -- node
 * dist/cli.js list --tenant acme`. It talks to NATS directly with the pod's NATS_URL (an operator
 * tool: no client token needed, `--tenant` says whose entries) and runs the same operations as
 * the HTTP API, so replays and discards are audited the same way, with actor
 * `{ type: 'operator', id: $DLQ_CLI_ACTOR | $USER | 'cli' }`.
 *
 * Output is a table by default and JSON with `--json` (errors go to stderr, as JSON with --json).
 * Exit codes: 0 done, 1 the operation failed, 2 usage error.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { isValidId } from '@orderwire/contracts';
import {
  closeNats,
  connectNats,
  createLogger,
  createMetrics,
  errorBody,
  isOrderwireError,
  natsIdentityOptions,
  packageVersion,
  type Logger,
  type NatsConnection,
} from '@orderwire/platform';
import { pino } from 'pino';
import { createDlqCore, type AppConfig, type DlqCore } from './app.js';
import { loadCliConfig, type CliConfig } from './config.js';
import { isEntryId, tenantFilter, viewOf, type Actor, type EntrySummary, type EntryView } from './entry.js';
import { DLQ_ERRORS } from './errors.js';
import type { BulkReplayResult, ReplayResult } from './operations.js';
import { MAX_PAGE_LIMIT, parseFilter, parsePageRequest, type EntryFilter } from './query.js';

/** 30 s for the CLI's read of the tenant's entries. */
const CLI_INDEX_SYNC_TIMEOUT_MS = 30_000;
/** 10 000 entries printed by `list --all` before it stops (use filters or paging beyond). */
const LIST_ALL_MAX = 10_000;
/** Detail column width in tables. */
const DETAIL_WIDTH = 40;

const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

export const USAGE = `Usage: node dist/cli.js <command> --tenant <tenant> [options]

Commands:
  list                     list entries, newest first
  show <id>                one entry with its failures and original message
  replay <id>              replay one entry to its display
  replay --all | <filters> replay every matching entry (status open unless --status discarded)
  discard <id> --reason <text>   discard an open entry

Filters (list, replay):
  --store <id> --display <id> --order <orderId> --reason max_deliveries|rejected|terminated
  --status open|replayed|discarded --from <RFC 3339> --to <RFC 3339>

Options:
  --tenant <id>     whose entries (required)
  --json            JSON output instead of a table
  --limit <n>       list: page size (1-${MAX_PAGE_LIMIT}, default 50)
  --cursor <c>      list: continue after a previous page
  --all             list: follow every page; replay: no filter needed
  --dry-run         replay: show what would be replayed
  --max <n>         replay: at most n entries (default DLQ_REPLAY_MAX)
  --note <text>     replay: note recorded in the audit event

Environment: NATS_URL, DLQ_NATS_TIMEOUT, DLQ_REPLAY_MAX, DLQ_CLI_ACTOR, LOG_LEVEL (stderr).`;

const OPTIONS = {
  tenant: { type: 'string' },
  json: { type: 'boolean' },
  store: { type: 'string' },
  display: { type: 'string' },
  order: { type: 'string' },
  reason: { type: 'string' },
  status: { type: 'string' },
  from: { type: 'string' },
  to: { type: 'string' },
  limit: { type: 'string' },
  cursor: { type: 'string' },
  all: { type: 'boolean' },
  'dry-run': { type: 'boolean' },
  max: { type: 'string' },
  note: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];

function usage(reason: string): Error {
  return DLQ_ERRORS.create('ORDERWIRE_ERR_DLQ_CLI_USAGE', { reason });
}

function filterFrom(v: Values, statuses?: readonly ('open' | 'replayed' | 'discarded')[]): EntryFilter {
  return parseFilter(
    { storeId: v.store, displayId: v.display, orderId: v.order, reason: v.reason, status: v.status, from: v.from, to: v.to },
    statuses === undefined ? {} : { statuses },
  );
}

function hasFilter(f: EntryFilter): boolean {
  return Object.keys(f).length > 0;
}

function cell(value: string | number | null | undefined, width?: number): string {
  const s = value === null || value === undefined ? '-' : String(value);
  return width !== undefined && s.length > width ? `${s.slice(0, width - 1)}…` : s;
}

function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

function entryRows(items: readonly EntrySummary[]): string {
  return table(
    ['ID', 'STATUS', 'REASON', 'STORE', 'DISPLAY', 'ORDER', 'FIRST FAILED', 'FAILS', 'DELIVERIES', 'DETAIL'],
    items.map((e) => [
      e.id,
      e.status,
      e.reason,
      cell(e.storeId),
      e.displayId,
      cell(e.orderId),
      e.firstFailedAt,
      String(e.failureCount),
      String(e.deliveryCount),
      cell(e.detail, DETAIL_WIDTH),
    ]),
  );
}

function showText(e: EntryView): string {
  const lines = [
    `id:               ${e.id}`,
    `status:           ${e.status} (since ${e.statusChangedAt})`,
    `tenant:           ${e.tenant}`,
    `store:            ${cell(e.storeId)}`,
    `display:          ${e.displayId} (consumer ${e.consumer})`,
    `order:            ${cell(e.orderId)}`,
    `reason:           ${e.reason}${e.detail === undefined ? '' : `: ${e.detail}`}`,
    `deliveries:       ${e.deliveryCount}`,
    `failures:         ${e.failureCount} (first ${e.firstFailedAt}, last ${e.lastFailedAt})`,
    `original:         ${e.originalExpired ? 'EXPIRED before capture' : `${cell(e.subject)} seq ${e.seq}`}`,
    `trace:            ${cell(e.traceId)}`,
    `replays:          ${e.replayCount}${e.lastReplay === undefined ? '' : ` (last: #${e.lastReplay.n} seq ${e.lastReplay.seq} at ${e.lastReplay.at} by ${e.lastReplay.by.type}:${e.lastReplay.by.id})`}`,
  ];
  if (e.discard !== undefined) lines.push(`discarded:        ${e.discard.at} by ${e.discard.by.type}:${e.discard.by.id}: ${e.discard.reason}`);
  lines.push('', table(['SEQ', 'REASON', 'DELIVERIES', 'AT', 'DETAIL'], e.failures.map((f) => [String(f.seq), f.reason, String(f.deliveries), f.at, cell(f.detail, DETAIL_WIDTH)])));
  if (e.original !== null) {
    lines.push('', 'headers:');
    for (const [k, vs] of Object.entries(e.original.headers)) for (const v of vs) lines.push(`  ${k}: ${v}`);
    lines.push('payload:', e.original.payload === null ? `  (base64) ${e.original.payloadBase64}` : JSON.stringify(e.original.payload, null, 2));
  }
  return lines.join('\n');
}

function replayText(r: ReplayResult): string {
  return `replayed ${r.entry.id} to ${r.replay.subject} as seq ${r.replay.seq} (replay #${r.replay.n}${r.replay.duplicate ? ', already published' : ''})`;
}

function bulkText(r: BulkReplayResult): string {
  const head = `${r.dryRun ? 'dry run: would replay' : 'replayed'} ${r.dryRun ? r.selected : r.replayed} of ${r.matched} matching entries${r.truncated ? ` (limited to ${r.selected}; run again for the rest)` : ''}`;
  const rows = r.items.map((i) => [i.id, i.result, i.displayId, cell(i.orderId), String(i.seq), cell(i.replaySeq), cell(i.error?.code)]);
  return rows.length === 0 ? head : `${head}\n${table(['ID', 'RESULT', 'DISPLAY', 'ORDER', 'SEQ', 'REPLAY SEQ', 'ERROR'], rows)}`;
}

function actorOf(config: CliConfig): Actor {
  const user = config.user !== undefined && /^[\x21-\x7e]{1,128}$/.test(config.user) ? config.user : undefined;
  return { type: 'operator', id: config.actor ?? user ?? 'cli' };
}

interface Session {
  core: DlqCore;
  nc: NatsConnection;
  logger: Logger;
  tenant: string;
  indexed: boolean;
}

async function open(config: CliConfig, tenant: string, withIndex: boolean): Promise<Session> {
  const logger = createLogger({
    service: 'dlq-cli',
    version: packageVersion(import.meta.url),
    instance: config.instanceId ?? 'cli',
    level: config.logLevel,
    destination: pino.destination({ dest: 2, sync: true }),
  });
  const nc = await connectNats({
    servers: config.natsUrl,
    name: 'dlq-cli',
    logger,
    timeoutMs: config.natsTimeoutMs,
    ...natsIdentityOptions(config, 'dlq'),
  });
  const appConfig: AppConfig = {
    natsTimeoutMs: config.natsTimeoutMs,
    captureConsumer: 'unused',
    captureBatch: 1,
    captureAckWaitMs: 1_000,
    captureRetryMaxMs: 1_000,
    replayMax: config.replayMax,
    indexSyncTimeoutMs: CLI_INDEX_SYNC_TIMEOUT_MS,
    readBarrierTimeoutMs: config.natsTimeoutMs,
    statsIntervalMs: 60_000,
  };
  try {
    const core = await createDlqCore({
      nc,
      logger,
      metrics: createMetrics({ service: 'dlq-cli', defaultMetrics: false }),
      instance: config.instanceId ?? 'cli',
      config: appConfig,
      indexFilter: tenantFilter(tenant),
    });
    if (withIndex) await core.index.start(CLI_INDEX_SYNC_TIMEOUT_MS);
    return { core, nc, logger, tenant, indexed: withIndex };
  } catch (err) {
    await closeNats(nc, logger);
    throw err;
  }
}

async function close(s: Session): Promise<void> {
  if (s.indexed) await s.core.index.stop();
  await closeNats(s.nc, s.logger);
}

export async function run(argv: readonly string[], out: (text: string) => void, err: (text: string) => void): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true });
  } catch (e) {
    err(`${e instanceof Error ? e.message : String(e)}\n\n${USAGE}`);
    return EXIT.usage;
  }
  const { values: v, positionals } = parsed;
  const [command, ...args] = positionals;
  if (v.help === true || command === undefined || command === 'help') {
    out(USAGE);
    return command === undefined && v.help !== true ? EXIT.usage : EXIT.ok;
  }
  const json = v.json === true;
  const print = (value: unknown, text: () => string) => out(json ? JSON.stringify(value, null, 2) : text());

  let session: Session | undefined;
  try {
    const tenant = v.tenant;
    if (tenant === undefined || !isValidId(tenant)) throw usage('--tenant <id> is required (1-64 of [A-Za-z0-9_-])');
    const id = args[0];
    if (id !== undefined && !isEntryId(id)) throw usage(`${JSON.stringify(id)} is not an entry id (24 lowercase hex characters)`);
    if (args.length > 1) throw usage(`unexpected argument ${JSON.stringify(args[1])}`);
    const config = loadCliConfig();
    const ctx = () => ({ actor: actorOf(config), log: session!.logger });

    switch (command) {
      case 'list': {
        if (id !== undefined) throw usage('list takes no entry id; use show <id>');
        const filter = filterFrom(v);
        const pageReq = parsePageRequest({ limit: v.limit, cursor: v.cursor });
        session = await open(config, tenant, true);
        const items: EntrySummary[] = [];
        let next: string | null = null;
        let req = pageReq;
        for (;;) {
          const p = await session.core.ops.list(tenant, filter, req);
          items.push(...p.items);
          next = p.nextCursor;
          if (v.all !== true || next === null || items.length >= LIST_ALL_MAX) break;
          req = { ...pageReq, cursor: next };
        }
        print({ items, nextCursor: next }, () => `${entryRows(items)}${next === null ? '' : `\n(more: --cursor ${next})`}`);
        return EXIT.ok;
      }
      case 'show': {
        if (id === undefined) throw usage('show needs an entry id');
        session = await open(config, tenant, false);
        const view = viewOf(await session.core.ops.get(tenant, id));
        print(view, () => showText(view));
        return EXIT.ok;
      }
      case 'replay': {
        const note = v.note;
        if (id !== undefined) {
          if (hasFilter(filterFrom(v)) || v.all === true || v['dry-run'] === true) {
            throw usage('replay <id> takes no filters, --all or --dry-run');
          }
          session = await open(config, tenant, false);
          const r = await session.core.ops.replay(tenant, id, { ...ctx(), ...(note === undefined ? {} : { note }) });
          print(r, () => replayText(r));
          return EXIT.ok;
        }
        const filter = filterFrom(v, ['open', 'discarded']);
        if (!hasFilter(filter) && v.all !== true) throw usage('replay needs an entry id, a filter, or --all');
        let max = config.replayMax;
        if (v.max !== undefined) {
          max = /^\d{1,5}$/.test(v.max) ? Number(v.max) : 0;
          if (max < 1 || max > config.replayMax) throw usage(`--max must be an integer from 1 to ${config.replayMax}`);
        }
        session = await open(config, tenant, true);
        const r = await session.core.ops.replayMany(tenant, filter, {
          ...ctx(),
          dryRun: v['dry-run'] === true,
          max,
          ...(note === undefined ? {} : { note }),
        });
        print(r, () => bulkText(r));
        return r.items.some((i) => i.result === 'failed') ? EXIT.failed : EXIT.ok;
      }
      case 'discard': {
        if (id === undefined) throw usage('discard needs an entry id');
        const reason = v.reason?.trim();
        if (reason === undefined || reason.length === 0) throw usage('discard needs --reason <text>');
        session = await open(config, tenant, false);
        const entry = await session.core.ops.discard(tenant, id, reason, ctx());
        print({ entry }, () => `discarded ${entry.id}: ${reason}`);
        return EXIT.ok;
      }
      default:
        throw usage(`unknown command ${JSON.stringify(command)}`);
    }
  } catch (e) {
    const body = errorBody(e);
    if (!isOrderwireError(e)) body.error.message = e instanceof Error ? e.message : String(e);
    err(json ? JSON.stringify(body, null, 2) : `error: ${body.error.code}: ${body.error.message}`);
    if (DLQ_ERRORS.is(e, 'ORDERWIRE_ERR_DLQ_CLI_USAGE')) {
      if (!json) err(`\n${USAGE}`);
      return EXIT.usage;
    }
    return EXIT.failed;
  } finally {
    if (session !== undefined) await close(session);
  }
}

// Run only as the entry point (tests import `run`).
if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === realpathSync(process.argv[1])) {
  run(
    process.argv.slice(2),
    (t) => process.stdout.write(`${t}\n`),
    (t) => process.stderr.write(`${t}\n`),
  )
    .then((code) => {
      process.exitCode = code;
    })
    .catch((e: unknown) => {
      process.stderr.write(`${String(e)}\n`);
      process.exitCode = EXIT.failed;
    });
}
