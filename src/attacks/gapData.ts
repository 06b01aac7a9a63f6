/**
 * GAP training data: the batch types, their checks, and one epoch's iteration with its ownership rule.
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import { InvalidArgumentError } from '../errors.js';
import { assertImageValues, assertImages, assertLabelsShape, describeValue } from '../internal/validate.js';
import { fixedClip, type GapScaling } from './gapCommon.js';

/** What a batch is checked against. */
export interface BatchPlan {
  shape: [number, number, number];
  scaling: GapScaling;
}

/**
 * One batch of GAP training data. Labels are optional: only the `'untargeted'` objective uses them
 * (class indices `[N]` or one-hot `[N, C]`); every other objective derives its targets from the
 * frozen model's clean predictions.
 * @category Attacks
 */
export interface GapBatch {
  /** NHWC float32 images `[N, H, W, C]` in model units. */
  images: tf.Tensor4D;
  /** Optional true labels. */
  labels?: tf.Tensor;
}

/**
 * Training data for {@link trainGap}, with its ownership rule:
 * - an array of batches: borrowed; trainGap never disposes them (the caller does, after the call);
 * - a factory of async iterables (called once per epoch): each batch it yields is fresh and
 *   trainGap disposes it after its step (as tfjs-layers `fitDataset` does), also on abort or error.
 * @category Attacks
 */
export type GapData = readonly GapBatch[] | (() => AsyncIterable<GapBatch>);

export function validateBatch(fn: string, at: string, batch: unknown, plan: BatchPlan): GapBatch {
  if (typeof batch !== 'object' || batch === null || !('images' in batch)) throw new InvalidArgumentError(fn, at, 'a batch { images, labels? }', describeValue(batch));
  const b = batch as GapBatch;
  const images = assertImages(fn, `${at}.images`, b.images);
  if (images.shape.slice(1).join(',') !== plan.shape.join(',')) throw new InvalidArgumentError(fn, `${at}.images`, `images [N, ${plan.shape.join(', ')}] (the generator's shape)`, `shape [${images.shape.join(',')}]`);
  if (b.labels !== undefined) assertLabelsShape(fn, `${at}.labels`, b.labels, images.shape[0], 'single-label');
  assertImageValues(fn, `${at}.images`, images, fixedClip(plan.scaling));
  return b;
}

export async function* iterate(fn: string, data: GapData, batches: readonly GapBatch[] | null, max: number, plan: BatchPlan): AsyncGenerator<{ batch: GapBatch; owned: boolean }> {
  if (batches) {
    for (let i = 0; i < Math.min(batches.length, max); i++) yield { batch: batches[i]!, owned: false };
    return;
  }
  let i = 0;
  for await (const raw of (data as () => AsyncIterable<GapBatch>)()) {
    try {
      validateBatch(fn, `data batch ${i}`, raw, plan);
    } catch (err) {
      const b = raw as Partial<GapBatch> | null;
      tf.dispose([b?.images, b?.labels].filter((t): t is tf.Tensor => t instanceof tf.Tensor));
      throw err;
    }
    yield { batch: raw, owned: true };
    if (++i >= max) return;
  }
}

