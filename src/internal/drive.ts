/**
 * Running a step generator: to completion in one go (a synchronous attack), or awaiting the event loop
 * between steps so that an AbortSignal can stop it and progress can be reported (an async attack).
 * The generators yield `{ done, total }` after every step and free what they hold when stopped.
 * @internal
 */
import { AbortError } from '../errors.js';
import type { Progress } from '../types.js';

/** A step of a long computation. */
export interface Tick {
  done: number;
  total: number;
}

/** Runs `g` to completion and returns its result. */
export function drain<T>(g: Generator<Tick, T>): T {
  let r = g.next();
  while (!r.done) r = g.next();
  return r.value;
}

/**
 * Runs `g`, awaiting the event loop after every step: stops with {@link AbortError} when `signal`
 * fires (the generator is closed, so it frees its tensors) and reports `onProgress` (phase `'step'`).
 */
export async function driveAsync<T>(fn: string, g: Generator<Tick, T>, signal: AbortSignal | undefined, onProgress: ((p: Progress) => void) | undefined): Promise<T> {
  const t0 = Date.now();
  try {
    if (signal?.aborted) throw new AbortError(`${fn} was aborted`);
    let r = g.next();
    while (!r.done) {
      const { done, total } = r.value;
      if (onProgress) {
        const elapsedSeconds = (Date.now() - t0) / 1000;
        onProgress({ phase: 'step', done, total, elapsedSeconds, etaSeconds: (elapsedSeconds / done) * (total - done) });
      }
      await nextTick();
      if (signal?.aborted) throw new AbortError(`${fn} was aborted after ${done} of ${total} steps`);
      r = g.next();
    }
    return r.value;
  } finally {
    g.return(undefined as never);
  }
}

/** Yields to the event loop (so that timers, I/O and abort events run between steps). */
export function nextTick(): Promise<void> {
  return new Promise((resolve) => {
    if (typeof setImmediate === 'function') setImmediate(resolve);
    else setTimeout(resolve, 0);
  });
}
