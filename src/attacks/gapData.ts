/**
 * GAP training data: the batch types, their checks, and one epoch's iteration with its ownership rule.
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import { InvalidArgumentError } from '../errors.js';
import { iterateBatches } from '../internal/batches.js';
import { assertImageValues, assertImages, assertLabelsShape, describeValue } from '../internal/validate.js';
import type { BatchInput, Task } from '../types.js';
import { fixedClip, type GapScaling } from './gapCommon.js';

/** What a batch is checked against. */
export interface BatchPlan {
  shape: [number, number, number];
  scaling: GapScaling;
  /** The task the labels are checked against. */
  task: Task;
  /** Every batch must have labels (trainGap's keep: 'lowest-accuracy'). */
  needLabels: boolean;
}

/**
 * One batch of GAP training data: a {@link Batch} whose labels are optional. Only the
 * `'untargeted'` objective uses labels (class indices `[N]` or one-hot `[N, C]`); every other
 * objective derives its targets from the frozen model's clean predictions. {@link trainGap} takes
 * a `BatchInput<GapBatch>`, so a {@link Batch} source works as is.
 * @category Attacks
 */
export interface GapBatch {
  /** NHWC float32 images `[N, H, W, C]` in model units. */
  images: tf.Tensor4D;
  /** Optional true labels. */
  labels?: tf.Tensor;
}

export function validateBatch(fn: string, at: string, batch: unknown, plan: BatchPlan): GapBatch {
  if (typeof batch !== 'object' || batch === null || !('images' in batch)) throw new InvalidArgumentError(fn, at, 'a batch { images, labels? }', describeValue(batch));
  const b = batch as GapBatch;
  const images = assertImages(fn, `${at}.images`, b.images);
  if (images.shape.slice(1).join(',') !== plan.shape.join(',')) throw new InvalidArgumentError(fn, `${at}.images`, `images [N, ${plan.shape.join(', ')}] (the generator's shape)`, `shape [${images.shape.join(',')}]`);
  if (b.labels === undefined && plan.needLabels) throw new InvalidArgumentError(fn, `${at}.labels`, "labels (keep: 'lowest-accuracy' selects on the accuracy against them)", 'undefined');
  if (b.labels !== undefined) assertLabelsShape(fn, `${at}.labels`, b.labels, images.shape[0], plan.task);
  assertImageValues(fn, `${at}.images`, images, fixedClip(plan.scaling));
  return b;
}

/**
 * One epoch of GAP training data, at most `max` batches, each checked; `owned` batches (from an
 * iterable or a factory) are the consumer's to dispose. A streamed batch that fails its check is
 * disposed here before the error propagates.
 */
export async function* iterate(fn: string, data: BatchInput<GapBatch>, epoch: number, max: number, plan: BatchPlan): AsyncGenerator<{ batch: GapBatch; owned: boolean }> {
  let i = 0;
  for await (const { batch, owned } of iterateBatches(fn, 'data', data, epoch)) {
    if (owned) {
      try {
        validateBatch(fn, `data batch ${i}`, batch, plan);
      } catch (err) {
        const b = batch as Partial<GapBatch> | null;
        tf.dispose([b?.images, b?.labels].filter((t): t is tf.Tensor => t instanceof tf.Tensor));
        throw err;
      }
    }
    yield { batch, owned };
    if (++i >= max) return;
  }
}
