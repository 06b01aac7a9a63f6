import type * as tf from '@tensorflow/tfjs-core';

/**
 * A differentiable classifier: NHWC float32 images in, logits `[N, C]` out (never probabilities).
 * Mean/std normalisation belongs inside this function, so that ε is in the units of `images`.
 *
 * @example
 * ```ts
 * const mean = tf.tensor1d([0.485, 0.456, 0.406]);
 * const std = tf.tensor1d([0.229, 0.224, 0.225]);
 * const model: ModelFn = (images) => net.apply(images.sub(mean).div(std)) as tf.Tensor2D;
 * ```
 * @category Core
 */
export type ModelFn = (images: tf.Tensor4D) => tf.Tensor2D;

/**
 * Anything medrobust accepts as a model: a {@link ModelFn} or a `tf.LayersModel` (duck-typed: an
 * object with `apply` and `predict`), which is then called with `training: false` (inference mode).
 * A model with several outputs must be wrapped with {@link selectOutput}.
 * @category Core
 */
export type Model = ModelFn | LayersModelLike;

/**
 * The part of a `tf.LayersModel` medrobust uses; any LayersModel satisfies it.
 * @category Core
 */
export interface LayersModelLike {
  /** Runs the model symbolically or eagerly (tfjs-layers `apply`). */
  apply(inputs: tf.Tensor | tf.Tensor[], kwargs?: { training?: boolean }): unknown;
  /** tfjs-layers `predict`, used only to recognise a LayersModel. */
  predict(x: tf.Tensor | tf.Tensor[], args?: unknown): unknown;
}

/**
 * The classification task.
 * - `'single-label'`: one class per image; labels are class indices `[N]` or one-hot rows `[N, C]`;
 *   softmax cross-entropy on the logits.
 * - `'multi-label'`: any subset of C findings per image; labels are multi-hot `[N, C]` in [0, 1];
 *   sigmoid binary cross-entropy on the logits, averaged over the C labels.
 * @category Core
 */
export type Task = 'single-label' | 'multi-label';

/**
 * A per-sample loss on logits: returns `[N]` (one value per image) or a scalar. Attacks ascend the
 * sum over the batch (descend it when targeted), so per-sample values keep every image's gradient
 * independent of the batch it is in.
 * @category Core
 */
export type LossFn = (logits: tf.Tensor2D, labels: tf.Tensor) => tf.Tensor;

/**
 * The valid input range that adversarial images are clipped to.
 * - `[min, max]`: one range for every value (e.g. `[0, 1]` for pixels).
 * - `{ min: number[], max: number[] }`: one range per channel (e.g. the normalised range of each
 *   RGB channel when ε is in normalised units).
 * - `'batch'`: the paper's quirk (paper.md §4.1): the global min and max of the clean batch.
 *   Results then depend on the batch; use it only for paper-faithful presets.
 * - `null`: no clipping.
 * @category Core
 */
export type ClipRange = readonly [number, number] | {
  /** Lower bound per channel. */ readonly min: readonly number[];
  /** Upper bound per channel. */ readonly max: readonly number[]
} | 'batch' | null;

/**
 * Progress of a long job, given to `onProgress` callbacks.
 * @category Core
 */
export interface Progress {
  /** What is running, e.g. `'epoch'` or `'iteration'`. */
  readonly phase: string;
  /** Units finished so far. */
  readonly done: number;
  /** Units in total. */
  readonly total: number;
  /** Seconds since the job started. */
  readonly elapsedSeconds: number;
  /** Estimated seconds left, from the mean time per finished unit (NaN before the first unit). */
  readonly etaSeconds: number;
  /** Job-specific figures (loss, accuracy, ...). */
  readonly metrics?: Readonly<Record<string, number>>;
}

/**
 * Where a long job keeps its checkpoint. `save` must write atomically (see `fileCheckpoint` for a
 * Node implementation); `load` returns `undefined` when there is nothing to resume from.
 * @category Core
 */
export interface CheckpointStore<State> {
  /** Persist the state; resolves once it is safely stored. */
  save(state: State): Promise<void>;
  /** The last saved state, or undefined. */
  load(): Promise<State | undefined>;
}

/**
 * One batch of images with their labels: the unit of every {@link BatchInput}.
 * @category Core
 */
export interface Batch {
  /** NHWC float32 images `[B, H, W, C]`. */
  readonly images: tf.Tensor4D;
  /**
   * Class indices int32 `[B]` or one-hot rows `[B, K]` (single-label), multi-hot float32 `[B, K]`
   * (multi-label).
   */
  readonly labels: tf.Tensor;
}

/**
 * The one way to pass batches to medrobust: training loops (`advTrain`, `mpAdvTrain`,
 * `maAdvTrain`, `trades`), `trainGap`, `evaluateRobustness` and the corruption evaluations all
 * accept it. Four forms, one ownership rule:
 * - `readonly B[]`: an array of batches. **Borrowed**: medrobust never disposes them; the caller
 *   does, after the call. Every epoch visits them in order.
 * - `Iterable<B>` or `AsyncIterable<B>` (a generator, a {@link BatchSource} such as
 *   `batchesFromTensors(...)`): iterated once per epoch. Each yielded batch is **fresh**: the
 *   consumer disposes it after use, also on abort or error (design rule 6, as tfjs-layers
 *   `fitDataset` does). For several epochs it must be re-iterable (each `[Symbol.asyncIterator]()`
 *   call starts a new pass), as the sources of `batchesFromTensors` and `medrobust/node` are; a
 *   one-shot generator supports a single epoch.
 * - `(epoch) => Iterable<B> | AsyncIterable<B>`: a factory called once per epoch with the 0-based
 *   epoch index; its batches are fresh and disposed by the consumer, as above. Shuffling is the
 *   factory's business. Make batches lazily: after an abort or an error the consumer stops asking,
 *   and batches made but never yielded stay the factory's.
 *
 * @example
 * ```ts
 * await advTrain(net, batchesFromTensors(x, y, { batchSize: 32, shuffle: true, seed: 1 }), { epsilon: 4 / 255 });
 * await evaluateRobustness(model, [{ images: xTest, labels: yTest }], attacks); // borrowed
 * ```
 * @typeParam B - the batch type ({@link Batch} unless a consumer needs another, like `GapBatch`).
 * @category Core
 */
export type BatchInput<B = Batch> =
  | readonly B[]
  | Iterable<B>
  | AsyncIterable<B>
  | ((epoch: number) => Iterable<B> | AsyncIterable<B>);

/**
 * The options every batch-taking function accepts to bound its memory.
 * @category Core
 */
export interface MemoryOptions {
  /**
   * At most this many samples at once. The batch is split into chunks of this size; results equal the
   * unchunked ones bit for bit (every sample's computation is independent of the others').
   * @defaultValue as many as fit in `memoryBudget`, measured
   */
  batchSize?: number;
  /**
   * Bytes one step may use. medrobust measures the peak of one step on one (and two) samples for this
   * model and input size (cached), and runs the largest chunk that fits; when one sample does not fit it
   * throws {@link MemoryBudgetError} before running anything large.
   * @defaultValue what the backend can still hold: on wasm the 4 GiB heap less live tensors; on cpu and
   *   tfjs-node the system's free memory; unknown (no limit) on WebGL/WebGPU
   */
  memoryBudget?: number;
}

/**
 * One of `count` deterministic parts of a data set, for evaluations split over processes or machines
 * (`options.shard` of {@link evaluateRobustness}, {@link evaluateCorruptions} and
 * {@link evaluatePerturbations}; merged with {@link mergeShards}). Shard `index` holds the images
 * whose 0-based position p in the data set satisfies p mod count = index (strided, so a stream can be
 * sharded without knowing its length, and the shards stay balanced); any shard can be rerun alone.
 * @category Sharding
 */
export interface Shard {
  /** This shard, 0 ≤ index < count. */
  readonly index: number;
  /** The number of shards. */
  readonly count: number;
}
