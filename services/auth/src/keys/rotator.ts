/**
 * Scheduled key rotation. Every replica runs this loop; only the holder of the
 * `auth.key-rotation` lease rotates, and the rotation itself is a CAS write, so a stale
 * leader can at worst lose the race, never corrupt the keyring.
 */
import type { Logger } from '@orderwire/platform';
import type { KeyManager } from './key-manager.js';
import type { Lease } from './lease.js';

/** KV key of the rotation lease in `ow_leases`. */
export const ROTATION_LEASE_KEY = 'auth.key-rotation';

export interface KeyRotator {
  start(): void;
  /** Stops the loop, waits for a running tick, and releases the lease. */
  stop(): Promise<void>;
  /** One check: acquire/renew the lease and rotate if due. Exposed for tests and the loop. */
  tick(): Promise<void>;
  isLeader(): boolean;
}

export interface KeyRotatorOptions {
  keys: KeyManager;
  lease: Lease;
  leaseTtlMs: number;
  intervalMs: number;
  checkMs: number;
  logger: Logger;
}

export function createKeyRotator(options: KeyRotatorOptions): KeyRotator {
  const { keys, lease, logger } = options;
  // Renew well inside the lease so a busy event loop does not lose it.
  const periodMs = Math.max(50, Math.min(options.checkMs, Math.floor(options.leaseTtlMs / 3)));
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = true;
  let leader = false;

  async function tick(): Promise<void> {
    const wasLeader = leader;
    leader = await lease.tryAcquire();
    if (leader !== wasLeader) logger.info({ leader }, leader ? 'key rotation lease acquired' : 'key rotation lease lost');
    if (!leader || Date.now() >= lease.heldUntil()) return;
    const rotated = await keys.rotateIfDue(options.intervalMs);
    if (rotated !== undefined) {
      logger.info({ generation: rotated.generation, current: rotated.current.kid, next: rotated.next.kid }, 'signing key rotated');
    }
  }

  function schedule(): void {
    if (stopped) return;
    timer = setTimeout(() => {
      running = tick()
        .catch((err: unknown) => logger.error({ err }, 'key rotation check failed'))
        .finally(() => {
          running = undefined;
          schedule();
        });
    }, periodMs);
    timer.unref();
  }

  return {
    start() {
      if (!stopped) return;
      stopped = false;
      running = tick()
        .catch((err: unknown) => logger.error({ err }, 'key rotation check failed'))
        .finally(() => {
          running = undefined;
          schedule();
        });
    },
    async stop() {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
      await running;
      if (leader) {
        leader = false;
        await lease.release();
      }
    },
    tick,
    isLeader() {
      return leader;
    },
  };
}
