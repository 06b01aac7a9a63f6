import * as tf from '@tensorflow/tfjs-core';
import { InvalidArgumentError } from '../errors.js';
import { createRng, drawSeed } from '../internal/random.js';
import { assertBoolean, assertImages, assertKnownKeys, assertNumber, assertOptionalNumber, assertOptionsObject, describeValue } from '../internal/validate.js';
import type { Batch, Task } from '../types.js';

/**
 * A stream of batches, the input of every training loop and of dataset-wide evaluation. It is an
 * async iterable: each `for await` pass is one epoch and yields fresh {@link Batch} tensors, which
 * the consumer disposes. The sources medrobust builds ({@link batchesFromTensors}, the folder and
 * MedMNIST loaders of `medrobust/node`) can be iterated again for the next epoch; with shuffling,
 * pass k uses its own permutation derived from the seed and k, and they are {@link EpochBatchSource}s:
 * called with an epoch, they give that epoch's order whatever came before. Any async generator of batches is a
 * valid BatchSource too (it then supports a single pass). Every BatchSource is a {@link BatchInput}:
 * pass it directly to the training loops and evaluations.
 *
 * @example
 * ```ts
 * for await (const { images, labels } of source) {
 *   try { step(images, labels); } finally { tf.dispose([images, labels]); }
 * }
 * ```
 * @category Data
 */
export type BatchSource = AsyncIterable<Batch>;

/**
 * A {@link BatchSource} that is also a factory `(epoch) => BatchSource`: called with an epoch (what
 * the training loops, trainGap and the evaluations do with any function they are given), the order of
 * that epoch depends only on the seed and the epoch, so a run resumed in epoch e, in a new process,
 * sees exactly the batches an uninterrupted run sees there. Iterated directly (`for await`), each pass
 * counts as the next epoch, starting at 0, as before.
 *
 * @example
 * ```ts
 * const source = batchesFromTensors(images, labels, { batchSize: 16, shuffle: true, seed: 2 });
 * for await (const batch of source(3)) tf.dispose([batch.images, batch.labels]); // epoch 3's order, always
 * ```
 * @category Data
 */
export type EpochBatchSource = BatchSource & ((epoch: number) => BatchSource);

/**
 * Builds an {@link EpochBatchSource} from the pass of one epoch (a fresh async generator per call).
 * @internal
 */
export function epochSource(fn: string, pass: (epoch: number) => AsyncGenerator<Batch>): EpochBatchSource {
  let next = 0;
  const source = ((epoch: number): BatchSource => {
    if (!Number.isSafeInteger(epoch) || epoch < 0) throw new InvalidArgumentError(fn, 'epoch', 'a whole number >= 0 (the epoch whose order to give)', describeValue(epoch));
    return { [Symbol.asyncIterator]: () => pass(epoch) };
  }) as EpochBatchSource;
  Object.defineProperty(source, Symbol.asyncIterator, { value: () => pass(next++), enumerable: false });
  return source;
}

/**
 * Images with their labels and what the labels mean: what the MedMNIST loader and the generated
 * demo sets return. The caller owns (and disposes) both tensors.
 * @category Data
 */
export interface LabeledImages {
  /** NHWC float32 images `[N, H, W, C]` with values in [0, 1]. */
  readonly images: tf.Tensor4D;
  /** Class indices int32 `[N]` (single-label) or multi-hot float32 `[N, K]` (multi-label). */
  readonly labels: tf.Tensor;
  /** Whether an image has one class or any subset of the K findings. */
  readonly task: Task;
  /** The name of each class or finding, in label order. */
  readonly classNames: readonly string[];
}

/**
 * Options of {@link batchesFromTensors}.
 * @category Data
 */
export interface BatchesFromTensorsOptions {
  /**
   * Images per batch.
   * @defaultValue 32
   */
  batchSize?: number;
  /**
   * Visit the images in a fresh random order on every pass.
   * @defaultValue false
   */
  shuffle?: boolean;
  /**
   * The seed of the shuffling: epoch k (or the k-th plain pass) uses a permutation derived from (seed, k).
   * @defaultValue drawn at random
   */
  seed?: number;
  /**
   * Skip the last batch of a pass when it is smaller than `batchSize`.
   * @defaultValue false
   */
  dropRemainder?: boolean;
}

/** Mixes a seed and a pass index into a new 32-bit seed (so pass k does not depend on passes before it). */
export function mixSeed(seed: number, k: number): number {
  let h = (seed ^ Math.imul(k + 1, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

/** A seeded Fisher-Yates permutation of 0..n-1. */
export function permutation(n: number, seed: number): Int32Array {
  const rng = createRng(seed);
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    const t = p[i]!;
    p[i] = p[j]!;
    p[j] = t;
  }
  return p;
}

/**
 * A {@link BatchSource} over tensors already in memory (a generated set, a MedMNIST split).
 * The tensors are borrowed: keep them alive while iterating and dispose them afterwards; each
 * yielded batch is a fresh slice that the consumer disposes. The source is an {@link EpochBatchSource}:
 * the training loops call it with the epoch, so the shuffled order of an epoch depends only on
 * (seed, epoch) and a resumed run trains on the same batches as an uninterrupted one.
 *
 * @param images - NHWC float32 `[N, H, W, C]`.
 * @param labels - any tensor whose first dimension is N (class indices or multi-hot rows).
 * @param options - see {@link BatchesFromTensorsOptions}.
 * @returns a re-iterable source, also callable with an epoch; each pass yields ⌈N / batchSize⌉ batches
 *   (⌊N / batchSize⌋ with `dropRemainder`).
 * @throws {InvalidArgumentError} for a wrong rank or dtype, mismatched counts, a batch size that is
 *   not a positive integer, or an unknown option.
 *
 * @example
 * ```ts
 * const demo = generateLesions({ count: 64, seed: 1 });
 * for await (const batch of batchesFromTensors(demo.images, demo.labels, { batchSize: 16, shuffle: true, seed: 2 })) {
 *   tf.dispose([batch.images, batch.labels]);
 * }
 * tf.dispose([demo.images, demo.labels]);
 * ```
 * @category Data
 */
export function batchesFromTensors(images: tf.Tensor4D, labels: tf.Tensor, options: BatchesFromTensorsOptions = {}): EpochBatchSource {
  const fn = 'batchesFromTensors';
  const x = assertImages(fn, 'images', images);
  if (!(labels instanceof tf.Tensor)) throw new InvalidArgumentError(fn, 'labels', 'a tensor', describeValue(labels));
  if (labels.isDisposed) throw new InvalidArgumentError(fn, 'labels', 'a live tensor', 'a disposed tensor');
  const n = x.shape[0];
  if (labels.rank === 0 || labels.shape[0] !== n) throw new InvalidArgumentError(fn, 'labels', `a tensor with first dimension ${n} (one row per image)`, `shape [${labels.shape.join(',')}]`);
  const o = assertOptionsObject(fn, options);
  assertKnownKeys(fn, o, ['batchSize', 'shuffle', 'seed', 'dropRemainder']);
  const batchSize = assertNumber(fn, 'options.batchSize', o.batchSize ?? 32, { min: 1, integer: true });
  const shuffle = assertBoolean(fn, 'options.shuffle', o.shuffle) ?? false;
  const seed = assertOptionalNumber(fn, 'options.seed', o.seed, { integer: true }) ?? drawSeed();
  const dropRemainder = assertBoolean(fn, 'options.dropRemainder', o.dropRemainder) ?? false;
  return epochSource(fn, async function* (epoch) {
    const order = shuffle ? permutation(n, mixSeed(seed, epoch)) : undefined;
    for (let start = 0; start < n; start += batchSize) {
      const size = Math.min(batchSize, n - start);
      if (size < batchSize && dropRemainder) break;
      if (x.isDisposed || labels.isDisposed) throw new InvalidArgumentError(fn, 'images', 'tensors kept alive while the source is iterated', 'a disposed tensor');
      const batch = tf.tidy(() => {
        if (!order) {
          return { images: tf.slice(x, [start, 0, 0, 0], [size, -1, -1, -1]), labels: tf.slice(labels, start, size) };
        }
        const idx = tf.tensor1d(order.subarray(start, start + size), 'int32');
        return { images: tf.gather(x, idx), labels: tf.gather(labels, idx) };
      });
      yield batch;
    }
  });
}
