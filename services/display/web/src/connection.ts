/**
 * Connection truth for the kitchen: what the status element says and when the stale-screen
 * banner shows.
 *
 *   connecting ──connected──▶ connected ──disconnected──▶ reconnecting
 *       │                        ▲                            │
 *       │                        └────────connected───────────┤
 *       └──────── no edge for offlineAfterMs ─────────────────┴──▶ offline (since = when it was lost)
 *
 * "Since" is when the screen last had a connection (or when the page started, if it never had
 * one), so "Offline since 14:02" tells the kitchen how stale the tickets may be.
 */

export type ConnectionState = 'connecting' | 'connected' | 'reconnecting' | 'offline';

export interface ConnectionView {
  state: ConnectionState;
  /** Epoch ms the connection was lost (or the page started); undefined while connected. */
  since: number | undefined;
}

export interface ConnectionTimers {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export class ConnectionTracker {
  private stateValue: ConnectionState = 'connecting';
  private sinceValue: number;
  private timer: unknown;

  constructor(
    private readonly offlineAfterMs: number,
    private readonly onChange: (view: ConnectionView) => void,
    private readonly timers: ConnectionTimers,
  ) {
    this.sinceValue = timers.now();
    this.armOffline();
  }

  get view(): ConnectionView {
    return { state: this.stateValue, since: this.stateValue === 'connected' ? undefined : this.sinceValue };
  }

  connected(): void {
    this.cancel();
    this.set('connected');
  }

  disconnected(): void {
    if (this.stateValue !== 'connected') return;
    this.sinceValue = this.timers.now();
    this.set('reconnecting');
    this.armOffline();
  }

  stop(): void {
    this.cancel();
  }

  private armOffline(): void {
    this.cancel();
    this.timer = this.timers.setTimeout(() => {
      this.timer = undefined;
      if (this.stateValue !== 'connected') this.set('offline');
    }, this.offlineAfterMs);
  }

  private cancel(): void {
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private set(state: ConnectionState): void {
    if (state === this.stateValue) return;
    this.stateValue = state;
    this.onChange(this.view);
  }
}
