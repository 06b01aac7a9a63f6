import { InvalidArgumentError } from '../errors.js';
import { assertBatchInput, iterateBatches } from '../internal/batches.js';
import { assertFunction, assertSignal } from '../internal/validate.js';
import type { BatchInput, Progress } from '../types.js';

/** Validates the data argument (not its batches) before any work. @internal */
export function checkData(fn: string, data: unknown): void {
  assertBatchInput(fn, 'data', data);
  if (Array.isArray(data) && data.length === 0) throw new InvalidArgumentError(fn, 'data', 'at least one batch', 'an empty array');
}

/** Validates the progress and cancellation options shared by the evaluations. @internal */
export function checkJobOptions(fn: string, o: Record<string, unknown>): { signal: AbortSignal | undefined; onProgress: ((p: Progress) => void) | undefined } {
  const signal = assertSignal(fn, 'options.signal', o.signal);
  assertFunction(fn, 'options.onProgress', o.onProgress);
  return { signal, onProgress: o.onProgress as ((p: Progress) => void) | undefined };
}

/**
 * Yields each batch (read once: a factory is called with epoch 0) with a flag saying whether the
 * consumer must dispose it (the {@link BatchInput} rule). @internal
 */
export async function* batchesOf(fn: string, data: BatchInput): AsyncGenerator<{ batch: unknown; owned: boolean; index: number }> {
  let index = 0;
  for await (const { batch, owned } of iterateBatches<unknown>(fn, 'data', data, 0)) yield { batch, owned, index: index++ };
  if (index === 0) throw new InvalidArgumentError(fn, 'data', 'at least one batch', 'an empty stream');
}

/** Builds a Progress record. @internal */
export function progressOf(phase: string, done: number, total: number, started: number, metrics?: Record<string, number>): Progress {
  const elapsedSeconds = (Date.now() - started) / 1000;
  const etaSeconds = done > 0 && Number.isFinite(total) ? (elapsedSeconds / done) * (total - done) : Number.NaN;
  return { phase, done, total, elapsedSeconds, etaSeconds, ...(metrics ? { metrics } : {}) };
}
