/**
 * The new-order chime: two short WebAudio beeps, no audio file. Browsers start an AudioContext
 * suspended until the page has had a user gesture; `unlock()` runs on the first click or key
 * (a kiosk can start Chromium with --autoplay-policy=no-user-gesture-required instead).
 * Muting persists in storage.
 */
import type { StorageLike } from './tickets.js';

export const MUTE_KEY = 'orderwire.display.muted';
/** 880 Hz (A5): audible over a kitchen hood. */
const BEEP_HZ = 880;
const BEEP_S = 0.12;
const GAP_S = 0.08;

export interface Chime {
  readonly muted: boolean;
  setMuted(muted: boolean): void;
  unlock(): void;
  play(): void;
}

export function createChime(storage: StorageLike): Chime {
  let muted = storage.getItem(MUTE_KEY) === '1';
  let ctx: AudioContext | undefined;
  const context = (): AudioContext | undefined => {
    if (ctx === undefined && typeof AudioContext === 'function') ctx = new AudioContext();
    return ctx;
  };
  return {
    get muted() {
      return muted;
    },
    setMuted(value) {
      muted = value;
      storage.setItem(MUTE_KEY, value ? '1' : '0');
    },
    unlock() {
      const c = context();
      if (c?.state === 'suspended') c.resume().catch(() => undefined);
    },
    play() {
      if (muted) return;
      const c = context();
      if (c === undefined || c.state !== 'running') return;
      const start = c.currentTime;
      for (const at of [start, start + BEEP_S + GAP_S]) {
        const osc = c.createOscillator();
        const gain = c.createGain();
        osc.frequency.value = BEEP_HZ;
        gain.gain.setValueAtTime(0.25, at);
        gain.gain.exponentialRampToValueAtTime(0.001, at + BEEP_S);
        osc.connect(gain).connect(c.destination);
        osc.start(at);
        osc.stop(at + BEEP_S);
      }
    },
  };
}
