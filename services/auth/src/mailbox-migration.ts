/**
 * Moves display mailboxes from the legacy, ambiguous consumer name `display_<tenant>_<display>`
 * to the injective `mailbox_<len>_<tenant>_<display>` (contracts `displayConsumerName`), without
 * losing a backlog and without redelivering what the display already acknowledged.
 *
 * A consumer cannot be renamed, so the new one is created to resume where the old one stands:
 *   `deliver_policy: by_start_sequence`, `opt_start_seq` = the old consumer's ack floor + 1,
 * same filter subjects and limits, owner metadata plus where it came from. Everything at or below
 * the ack floor was acknowledged; everything above it that was never delivered is the backlog,
 * which the new consumer delivers. Messages above the floor that were delivered and not yet
 * acknowledged (in flight) are redelivered by the new consumer — they were never acknowledged, so
 * that is the at-least-once contract (the SDK drops a duplicate by deliveryId `ORDERS:<seq>`,
 * which is the same on both consumers). What the floor cannot say is which in-flight messages
 * above it were acknowledged out of order; so a consumer with anything in flight
 * (`num_ack_pending` > 0) or with a pull waiting (an edge bound to it) is left for later
 * (`busy`) unless `force` is given, and then at most `max_ack_pending` acknowledged messages
 * may come again. Without in flight messages the floor is exact and nothing is redelivered.
 *
 * Legacy names exist only on the pre-partition `ORDERS` stream (`LEGACY_ORDERS_STREAM`), whose
 * subjects have no vp token: the renamed consumer keeps the legacy filter subjects, and
 * `topology repartition` moves it to its partition stream like every other mailbox there (it runs
 * this migration first). Without a legacy stream there is nothing to do.
 *
 * Ownership of a legacy consumer is proven by its own display subject among its filter
 * subjects (`orders.<tenant>.<store>.display.<id>`), whose legacy name must be the consumer's,
 * and every other filter subject must be of the same tenant and store. A legacy name two live
 * registry records claim (the cross-tenant collision of issue 12) is `contested` and left for an
 * operator. Steps are idempotent: created-not-deleted is finished by the next run, and two
 * runners at once agree through the create (same config or "exists") and the delete.
 */
import { DeliverPolicy, JetStreamApiCodes, JetStreamApiError, type ConsumerConfig, type ConsumerInfo, type JetStreamManager } from '@nats-io/jetstream';
import {
  DISPLAY_CONSUMER_METADATA,
  LEGACY_DISPLAY_CONSUMER_PREFIX,
  displayConsumerName,
  legacyDisplayConsumerName,
  legacyDisplayConsumerSplits,
  parseLegacyOrderSubject,
} from '@orderwire/contracts';
import { LEGACY_ORDERS_STREAM, displayConsumerConfig, displayConsumerOwner } from '@orderwire/platform';
import type { Logger } from 'pino';
import type { DisplayStore } from './stores/display-store.js';

export type MailboxMigrationOutcome =
  /** New consumer created at the old ack floor + 1, old one deleted. */
  | 'migrated'
  /** An earlier run created the new consumer; this one deleted the old. */
  | 'completed'
  /** Messages in flight or an edge bound: left on the legacy name for a later run. */
  | 'busy'
  /** Two live displays claim this legacy name: left for an operator. */
  | 'contested'
  /** Its filter subjects do not prove one display owns it: not touched. */
  | 'unowned'
  /** The new name is taken by a consumer that was not migrated from this one: both left. */
  | 'conflict'
  /** JetStream or the registry failed for this consumer (logged); retried by the next run. */
  | 'failed';

export interface MailboxMigrationResult {
  consumer: string;
  outcome: MailboxMigrationOutcome;
  tenant?: string;
  displayId?: string;
  newName?: string;
  /** First stream sequence the new consumer delivers. */
  startSeq?: number;
  /** Messages in flight on the old consumer when it was moved (force), redelivered by the new one. */
  inFlight?: number;
  reason?: string;
}

export interface MailboxMigrationDeps {
  jsm: JetStreamManager;
  displays: DisplayStore;
  logger: Logger;
  /** @default LEGACY_ORDERS_STREAM */
  stream?: string;
}

export interface MailboxMigrationOptions {
  /** Move consumers with messages in flight too (they are redelivered). */
  force?: boolean;
  /** Report what would happen, change nothing. */
  dryRun?: boolean;
}

function isNotFound(err: unknown): boolean {
  return err instanceof JetStreamApiError && (err.code === JetStreamApiCodes.ConsumerNotFound || err.code === JetStreamApiCodes.StreamNotFound);
}

async function consumerInfo(jsm: JetStreamManager, stream: string, name: string): Promise<ConsumerInfo | undefined> {
  try {
    return await jsm.consumers.info(stream, name);
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

interface LegacyOwner {
  tenant: string;
  store: string;
  displayId: string;
  stations: string[];
}

/** The display a legacy consumer belongs to, read from its filter subjects; undefined if they do not prove one. */
function legacyOwner(info: ConsumerInfo): LegacyOwner | undefined {
  const cfg = info.config;
  const subjects = cfg.filter_subjects ?? (cfg.filter_subject === undefined ? [] : [cfg.filter_subject]);
  const parsed = subjects.map((s) => parseLegacyOrderSubject(s));
  const own = parsed.filter((p) => p?.kind === 'display');
  if (own.length !== 1) return undefined;
  const mine = own[0]!;
  if (mine.kind !== 'display' || legacyDisplayConsumerName(mine.tenant, mine.displayId) !== info.name) return undefined;
  const stations: string[] = [];
  for (const p of parsed) {
    if (p === undefined || p.tenant !== mine.tenant || p.store !== mine.store) return undefined;
    if (p.kind === 'station') stations.push(p.station);
  }
  return { tenant: mine.tenant, store: mine.store, displayId: mine.displayId, stations };
}

/** Whether a live registry record other than `owner` claims the legacy name. */
async function contested(displays: DisplayStore, name: string, owner: LegacyOwner): Promise<boolean> {
  for (const split of legacyDisplayConsumerSplits(name)) {
    if (split.tenant === owner.tenant && split.displayId === owner.displayId) continue;
    const rec = await displays.get(split.tenant, split.displayId);
    if (rec !== undefined && rec.value.status !== 'decommissioned') return true;
  }
  return false;
}

/** The new consumer for a legacy one: same filters and limits, resuming at `startSeq`. */
function migratedConfig(legacy: ConsumerInfo, owner: LegacyOwner, startSeq: number): Partial<ConsumerConfig> {
  const base = displayConsumerConfig(owner);
  const old = legacy.config;
  return {
    ...base,
    // The legacy stream's messages carry the legacy subjects.
    filter_subjects: old.filter_subjects ?? (old.filter_subject === undefined ? [] : [old.filter_subject]),
    deliver_policy: DeliverPolicy.StartSequence,
    opt_start_seq: startSeq,
    ack_wait: old.ack_wait ?? base.ack_wait,
    max_ack_pending: old.max_ack_pending ?? base.max_ack_pending,
    max_deliver: old.max_deliver ?? base.max_deliver,
    ...(old.backoff !== undefined && old.backoff.length > 0 ? { backoff: old.backoff } : {}),
    metadata: {
      ...base.metadata,
      [DISPLAY_CONSUMER_METADATA.migratedFrom]: legacy.name,
      [DISPLAY_CONSUMER_METADATA.migratedAtSeq]: String(startSeq),
    },
  };
}

/** Migrates one legacy consumer (by its info). */
export async function migrateLegacyMailbox(
  deps: MailboxMigrationDeps,
  legacy: ConsumerInfo,
  options: MailboxMigrationOptions = {},
): Promise<MailboxMigrationResult> {
  const { jsm, logger } = deps;
  const stream = deps.stream ?? LEGACY_ORDERS_STREAM;
  const name = legacy.name;
  const owner = legacyOwner(legacy);
  if (owner === undefined) return { consumer: name, outcome: 'unowned', reason: 'filter subjects do not name exactly one display of this name' };
  const { tenant, displayId } = owner;
  const newName = displayConsumerName(tenant, displayId);
  const base = { consumer: name, tenant, displayId, newName };
  if (await contested(deps.displays, name, owner)) {
    logger.warn({ consumer: name, tenant, displayId }, 'legacy mailbox name is claimed by more than one live display; not migrated');
    return { ...base, outcome: 'contested', reason: 'more than one live display maps to this legacy name' };
  }

  const existing = await consumerInfo(jsm, stream, newName);
  if (existing !== undefined) {
    const who = displayConsumerOwner(existing);
    const from = existing.config.metadata?.[DISPLAY_CONSUMER_METADATA.migratedFrom];
    if (who?.tenant !== tenant || who.displayId !== displayId || from !== name) {
      return { ...base, outcome: 'conflict', reason: `${newName} exists and was not migrated from ${name}` };
    }
    if (!options.dryRun) {
      await deleteIfPresent(jsm, stream, name);
      await recordNewName(deps, tenant, displayId, name, newName);
    }
    logger.info({ ...base }, 'legacy mailbox migration completed');
    return { ...base, outcome: 'completed', startSeq: existing.config.opt_start_seq };
  }

  const inFlight = legacy.num_ack_pending;
  if ((inFlight > 0 || legacy.num_waiting > 0) && options.force !== true) {
    return { ...base, outcome: 'busy', inFlight, reason: `${inFlight} in flight, ${legacy.num_waiting} pull(s) waiting` };
  }
  // With nothing in flight the ack floor is the last delivered message; with `force` it is the
  // first unacknowledged one, so nothing unacknowledged is skipped either way.
  const startSeq = legacy.ack_floor.stream_seq + 1;
  if (options.dryRun) return { ...base, outcome: 'migrated', startSeq, inFlight };

  try {
    await jsm.consumers.add(stream, migratedConfig(legacy, owner, startSeq));
  } catch (err) {
    // Another runner created it first (with another floor): it is the migration now.
    const raced = await consumerInfo(jsm, stream, newName);
    if (raced?.config.metadata?.[DISPLAY_CONSUMER_METADATA.migratedFrom] !== name) throw err;
  }
  await deleteIfPresent(jsm, stream, name);
  await recordNewName(deps, tenant, displayId, name, newName);
  logger.info({ ...base, startSeq, inFlight }, 'legacy mailbox migrated');
  return { ...base, outcome: 'migrated', startSeq, inFlight };
}

/** The registry record names its mailbox; point it at the new consumer. */
async function recordNewName(deps: MailboxMigrationDeps, tenant: string, displayId: string, from: string, to: string): Promise<void> {
  await deps.displays.mutate(tenant, displayId, (rec) => (rec.consumer === from ? { ...rec, consumer: to } : undefined));
}

async function deleteIfPresent(jsm: JetStreamManager, stream: string, name: string): Promise<void> {
  try {
    await jsm.consumers.delete(stream, name);
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}

/** Migrates every legacy display consumer of the stream. */
export async function migrateLegacyMailboxes(deps: MailboxMigrationDeps, options: MailboxMigrationOptions = {}): Promise<MailboxMigrationResult[]> {
  const stream = deps.stream ?? LEGACY_ORDERS_STREAM;
  const legacy: ConsumerInfo[] = [];
  try {
    for await (const info of deps.jsm.consumers.list(stream)) if (info.name.startsWith(LEGACY_DISPLAY_CONSUMER_PREFIX)) legacy.push(info);
  } catch (err) {
    // No legacy stream (a system created partitioned, or one whose legacy stream is gone): nothing to migrate.
    if (isNotFound(err)) return [];
    throw err;
  }
  const out: MailboxMigrationResult[] = [];
  for (const info of legacy) {
    try {
      out.push(await migrateLegacyMailbox(deps, info, options));
    } catch (err) {
      // One consumer failing must not stop the others.
      deps.logger.error({ err, consumer: info.name }, 'legacy mailbox migration failed for this consumer');
      out.push({ consumer: info.name, outcome: 'failed', reason: err instanceof Error ? err.message : String(err) });
    }
  }
  return out;
}

/** Migrates the legacy mailbox of one display, if it has one (before it is registered again). */
export async function migrateDisplayMailbox(
  deps: MailboxMigrationDeps,
  tenant: string,
  displayId: string,
  options: MailboxMigrationOptions = {},
): Promise<MailboxMigrationResult | undefined> {
  const info = await consumerInfo(deps.jsm, deps.stream ?? LEGACY_ORDERS_STREAM, legacyDisplayConsumerName(tenant, displayId));
  if (info === undefined) return undefined;
  const owner = legacyOwner(info);
  // The legacy name may be another display's (the collision): only ever migrate our own.
  if (owner?.tenant !== tenant || owner.displayId !== displayId) return undefined;
  return migrateLegacyMailbox(deps, info, options);
}

/** Count per outcome, for logs and the CLI. */
export function summarizeMigration(results: readonly MailboxMigrationResult[]): Partial<Record<MailboxMigrationOutcome, number>> {
  const out: Partial<Record<MailboxMigrationOutcome, number>> = {};
  for (const r of results) out[r.outcome] = (out[r.outcome] ?? 0) + 1;
  return out;
}

/** 60 s between runs while some legacy mailbox is busy. */
export const MAILBOX_MIGRATION_RETRY_MS = 60_000;

/**
 * Runs the migration at start-up, then again every `retryMs` while a legacy mailbox is busy
 * (in flight, or an edge bound to it), until none is left. Returns a stop function.
 */
export function startMailboxMigration(deps: MailboxMigrationDeps, retryMs = MAILBOX_MIGRATION_RETRY_MS): { stop(): void; done: Promise<void> } {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));
  const run = (): void => {
    migrateLegacyMailboxes(deps).then(
      (results) => {
        const summary = summarizeMigration(results);
        if (results.length > 0) deps.logger.info({ summary }, 'legacy mailbox migration run');
        if (stopped || (summary.busy === undefined && summary.failed === undefined)) {
          resolveDone();
          return;
        }
        timer = setTimeout(run, retryMs);
      },
      (err: unknown) => {
        deps.logger.error({ err }, 'legacy mailbox migration failed; retrying');
        if (stopped) resolveDone();
        else timer = setTimeout(run, retryMs);
      },
    );
  };
  run();
  return {
    stop() {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
      resolveDone();
    },
    done,
  };
}

/**
 * Deletes the legacy-named mailbox of one display (decommission before migration); only when its
 * filter subjects prove it is this display's — the legacy name may be another tenant's mailbox.
 */
export async function deleteLegacyMailbox(deps: MailboxMigrationDeps, tenant: string, displayId: string): Promise<boolean> {
  const stream = deps.stream ?? LEGACY_ORDERS_STREAM;
  const name = legacyDisplayConsumerName(tenant, displayId);
  const info = await consumerInfo(deps.jsm, stream, name);
  if (info === undefined) return false;
  const owner = legacyOwner(info);
  if (owner?.tenant !== tenant || owner.displayId !== displayId) {
    deps.logger.warn({ consumer: name, tenant, displayId }, 'legacy mailbox name belongs to another display; not deleted');
    return false;
  }
  await deleteIfPresent(deps.jsm, stream, name);
  return true;
}
