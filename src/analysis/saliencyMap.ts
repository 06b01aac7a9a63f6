import * as tf from '@tensorflow/tfjs-core';
import { InvalidArgumentError } from '../errors.js';
import { assertModelInput, toModelFn } from '../model.js';
import { inputGradient } from '../internal/inputGradient.js';
import { withInputGradientOnly } from '../internal/inputGradientOnly.js';
import { MEMORY_KEYS, planChunks, readMemoryOptions, runInChunks, sampleSlice } from '../internal/memory.js';
import { entry } from '../internal/scope.js';
import { assertBoolean, assertImages, assertKnownKeys, assertNumber, assertOptionsObject, assertPerSample } from '../internal/validate.js';
import type { MemoryOptions, Model } from '../types.js';

/**
 * Options of {@link saliencyMap}.
 * @category Analysis
 */
export interface SaliencyMapOptions extends MemoryOptions {
  /**
   * The logit to explain: one class index, or one per image. The paper uses class 1 (malignant).
   * Required.
   */
  classIndex: number | readonly number[];
  /**
   * Values above this percentile of each map are clipped to it before normalising (numpy's linear
   * percentile).
   * @defaultValue 99
   */
  percentile?: number;
  /**
   * Return 1 − map, as the paper displays it (dark = salient).
   * @defaultValue false
   */
  invert?: boolean;
}

/**
 * Vanilla-gradient saliency (Simonyan et al. 2014) as the paper's code computes it (§5b): the
 * gradient of the chosen logit with respect to the input, |∂z_k/∂x| summed over channels, clipped
 * at the 99th percentile, min-max normalised to [0, 1] per image. Colour it with
 * {@link jetColormap} or show it as grey levels. The model runs in inference mode.
 *
 * @param model - a {@link ModelFn} returning logits or a single-output `tf.LayersModel`.
 * @param images - `[N, H, W, C]` float32.
 * @param options - see {@link SaliencyMapOptions}; `classIndex` is required.
 * @returns the maps `[N, H, W]` in [0, 1], owned by the caller.
 * @throws {InvalidArgumentError} for bad images (or a shape the LayersModel does not take), a class
 *   index outside the logits, or bad options.
 * @throws {MemoryBudgetError} when one image's gradient does not fit in the memory budget (a large
 *   batch runs in chunks that fit; see {@link MemoryOptions}).
 *
 * @example
 * ```ts
 * const maps = saliencyMap(model, images, { classIndex: 1 });
 * maps.dispose();
 * ```
 * @category Analysis
 */
export function saliencyMap(model: Model, images: tf.Tensor4D, options: SaliencyMapOptions): tf.Tensor3D {
  return entry('saliencyMap', () => saliency(model, images, options));
}

function saliency(model: Model, images: tf.Tensor4D, options: SaliencyMapOptions): tf.Tensor3D {
  const fn = 'saliencyMap';
  const o = assertOptionsObject(fn, options);
  assertKnownKeys(fn, o, ['classIndex', 'percentile', 'invert', ...MEMORY_KEYS]);
  const modelFn = toModelFn(model, fn);
  const x = assertImages(fn, 'images', images);
  assertModelInput(fn, 'images', model, x);
  const [n, h, w] = x.shape;
  if (o.classIndex === undefined) throw new InvalidArgumentError(fn, 'options.classIndex', 'a class index or one per image (it has no default)', 'undefined');
  const classes = assertPerSample(fn, 'options.classIndex', o.classIndex, n, { integer: true, min: 0 });
  const percentile = o.percentile === undefined ? 99 : assertNumber(fn, 'options.percentile', o.percentile, { min: 0, max: 100 });
  const invert = assertBoolean(fn, 'options.invert', o.invert) ?? false;
  const memory = readMemoryOptions(fn, o);
  // |∂z_k/∂x| summed over channels, for samples [start, start + count).
  const gradientMaps = (start: number, count: number): tf.Tensor3D => tf.tidy(() => {
    const mask = tf.tensor1d(classes.slice(start, start + count), 'int32');
    const { grad } = withInputGradientOnly(() => inputGradient((input) => {
      const logits = modelFn(input as tf.Tensor4D);
      const c = logits.shape[1];
      const bad = classes.find((k) => k >= c);
      if (bad !== undefined) throw new InvalidArgumentError(fn, 'options.classIndex', `a class index below the model's ${c} logits`, String(bad));
      return { loss: tf.sum(tf.mul(logits, tf.oneHot(mask, c))) as tf.Scalar };
    }, sampleSlice(x, start, count)));
    return tf.sum(tf.abs(grad), 3) as tf.Tensor3D;
  });
  const plan = planChunks(fn, n, memory, { model, kind: 'input-gradient', sampleShape: x.shape.slice(1) }, (k) => gradientMaps(0, k), h * w * 4);
  const sal = runInChunks(fn, n, plan, gradientMaps);
  const v = Float32Array.from(sal.dataSync());
  sal.dispose();
  const px = h * w;
  const sorted = new Float32Array(px);
  for (let i = 0; i < n; i++) {
    const m = v.subarray(i * px, (i + 1) * px);
    sorted.set(m);
    sorted.sort();
    const pos = (percentile / 100) * (px - 1);
    const lo = Math.floor(pos);
    const cap = sorted[lo]! + (pos - lo) * ((sorted[Math.min(lo + 1, px - 1)]! - sorted[lo]!));
    let mn = Infinity;
    let mx = -Infinity;
    for (let p = 0; p < px; p++) {
      const c = Math.min(m[p]!, cap);
      m[p] = c;
      if (c < mn) mn = c;
      if (c > mx) mx = c;
    }
    const range = mx - mn;
    for (let p = 0; p < px; p++) {
      const u = range > 0 ? (m[p]! - mn) / range : 0;
      m[p] = invert ? 1 - u : u;
    }
  }
  return tf.tensor3d(v, [n, h, w]);
}
