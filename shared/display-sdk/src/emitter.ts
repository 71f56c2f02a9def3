/**
 * A minimal typed event hub (no `node:events`, so the SDK runs in browsers unchanged).
 * A listener that throws or rejects cannot break the SDK's state machine: the failure is
 * reported on the `error` event instead (or on the console when nobody listens for errors).
 */
import { DisplaySdkError, describeError } from './errors.js';

type AnyListener = (...args: never[]) => unknown;
export type EventArgs<F> = F extends (...args: infer A) => unknown ? A : never;

export interface Subscribable<E extends { [K in keyof E]: AnyListener }> {
  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof E>(event: K, listener: E[K]): () => void;
  off<K extends keyof E>(event: K, listener: E[K]): void;
}

export class EventHub<E extends { [K in keyof E]: AnyListener } & { error: (err: DisplaySdkError) => void }>
  implements Subscribable<E>
{
  private readonly map = new Map<keyof E, Set<AnyListener>>();

  on<K extends keyof E>(event: K, listener: E[K]): () => void {
    let set = this.map.get(event);
    if (set === undefined) {
      set = new Set();
      this.map.set(event, set);
    }
    set.add(listener);
    return () => this.off(event, listener);
  }

  off<K extends keyof E>(event: K, listener: E[K]): void {
    this.map.get(event)?.delete(listener);
  }

  listeners<K extends keyof E>(event: K): E[K][] {
    return [...(this.map.get(event) ?? [])] as E[K][];
  }

  emit<K extends keyof E>(event: K, ...args: EventArgs<E[K]>): void {
    for (const listener of this.listeners(event)) {
      try {
        const result = (listener as (...a: EventArgs<E[K]>) => unknown)(...args);
        if (isThenable(result)) {
          result.then(undefined, (err: unknown) => this.listenerFailed(String(event), err));
        }
      } catch (err) {
        this.listenerFailed(String(event), err);
      }
    }
  }

  private listenerFailed(event: string, err: unknown): void {
    const wrapped = new DisplaySdkError(
      'ORDERWIRE_ERR_SDK_LISTENER_FAILED',
      { event, reason: describeError(err) },
      { cause: err },
    );
    // An error listener that throws must not recurse forever.
    if (event === 'error') reportUnhandled(wrapped);
    else this.emitError(wrapped);
  }

  emitError(err: DisplaySdkError): void {
    const listeners = [...(this.map.get('error') ?? [])] as ((err: DisplaySdkError) => unknown)[];
    if (listeners.length === 0) {
      reportUnhandled(err);
      return;
    }
    for (const listener of listeners) {
      try {
        const result = listener(err);
        if (isThenable(result)) result.then(undefined, (e: unknown) => this.listenerFailed('error', e));
      } catch (e) {
        this.listenerFailed('error', e);
      }
    }
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function'
  );
}

/** Last resort for errors nobody subscribed to: never drop them silently. Messages carry no tokens. */
function reportUnhandled(err: DisplaySdkError): void {
  console.error(`[orderwire/display-sdk] ${err.code}: ${err.message}`);
}
