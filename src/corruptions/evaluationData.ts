import type * as tf from '@tensorflow/tfjs-core';
import { InvalidArgumentError } from '../errors.js';
import { assertFunction, assertSignal, describeValue } from '../internal/validate.js';
import type { Progress } from '../types.js';

/**
 * One batch of test images with their labels, as the benchmark evaluations read them.
 * @category Corruptions
 */
export interface EvaluationBatch {
  /** NHWC float32 images `[B, H, W, C]` in [0, 1], C = 1 or 3. */
  readonly images: tf.Tensor4D;
  /** Class indices `[B]` or one-hot `[B, K]` (single-label), multi-hot `[B, K]` (multi-label). */
  readonly labels: tf.Tensor;
}

/**
 * The test data of a benchmark evaluation, read once, batch by batch:
 * - an array of batches: borrowed, never disposed;
 * - an iterable or async iterable (a generator, a `BatchSource`): each yielded batch is disposed
 *   after use (design rule 6), so a stream never holds more than one batch.
 * @category Corruptions
 */
export type EvaluationData = readonly EvaluationBatch[] | Iterable<EvaluationBatch> | AsyncIterable<EvaluationBatch>;

/** Validates the data argument (not its batches) before any work. @internal */
export function checkData(fn: string, data: unknown): void {
  const ok = data !== null && typeof data === 'object' && (Array.isArray(data) || Symbol.iterator in data || Symbol.asyncIterator in data);
  if (!ok) throw new InvalidArgumentError(fn, 'data', 'an array, iterable or async iterable of { images, labels } batches', describeValue(data));
  if (Array.isArray(data) && data.length === 0) throw new InvalidArgumentError(fn, 'data', 'at least one batch', 'an empty array');
}

/** Validates the progress and cancellation options shared by the evaluations. @internal */
export function checkJobOptions(fn: string, o: Record<string, unknown>): { signal: AbortSignal | undefined; onProgress: ((p: Progress) => void) | undefined } {
  const signal = assertSignal(fn, 'options.signal', o.signal);
  assertFunction(fn, 'options.onProgress', o.onProgress);
  return { signal, onProgress: o.onProgress as ((p: Progress) => void) | undefined };
}

/**
 * Yields each batch with a flag saying whether the consumer must dispose it (true for streamed
 * batches). @internal
 */
export async function* batchesOf(fn: string, data: EvaluationData): AsyncGenerator<{ batch: unknown; owned: boolean; index: number }> {
  let index = 0;
  if (Array.isArray(data)) {
    for (const batch of data as readonly unknown[]) yield { batch, owned: false, index: index++ };
    return;
  }
  for await (const batch of data as AsyncIterable<unknown>) yield { batch, owned: true, index: index++ };
  if (index === 0) throw new InvalidArgumentError(fn, 'data', 'at least one batch', 'an empty stream');
}

/** Builds a Progress record. @internal */
export function progressOf(phase: string, done: number, total: number, started: number, metrics?: Record<string, number>): Progress {
  const elapsedSeconds = (Date.now() - started) / 1000;
  const etaSeconds = done > 0 && Number.isFinite(total) ? (elapsedSeconds / done) * (total - done) : Number.NaN;
  return { phase, done, total, elapsedSeconds, etaSeconds, ...(metrics ? { metrics } : {}) };
}
