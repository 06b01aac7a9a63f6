import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { InvalidArgumentError } from '../errors.js';
import { assertBoolean, assertImages, assertImageValues, assertKnownKeys, assertNumber, assertOptionsObject, describeValue } from '../internal/validate.js';
import {
  assertGenerator, assertGeneratorShapes, checkGeneratorOutput, composeAdversarial, fixedClip, gapClipBounds, parseScaling,
  scalePerturbation, universalNoise, type GapScalingOptions,
} from './gapCommon.js';

/**
 * Options of {@link gap}.
 * @category Attacks
 */
export interface GapOptions extends GapScalingOptions {
  /**
   * Universal mode: apply the one perturbation the generator makes from its fixed noise input
   * (`report.noiseSeed` of {@link trainGap}, required then) to every image.
   * @defaultValue false
   */
  universal?: boolean;
  /** The noise seed of a universal generator (`report.noiseSeed`). */
  noiseSeed?: number;
}

/**
 * The result of {@link gap}: two new tensors, both owned by the caller.
 * @category Attacks
 */
export interface GapResult {
  /** The adversarial images x' = clip(x + δ), `[N, H, W, C]`. */
  images: tf.Tensor4D;
  /**
   * The scaled perturbation δ before clipping, `[N, H, W, C]` in model units, with
   * ‖δ_c‖∞ ≤ m/(255·σ_c) per image and channel (identical rows in universal mode).
   */
  perturbation: tf.Tensor4D;
}

const KEYS = ['magnitude', 'mean', 'std', 'center', 'clip', 'universal', 'noiseSeed'] as const;

/**
 * Applies a trained GAP generator (paper.md §4.2) to new images: δ = scale(G(x)) (or scale(G(z))
 * for the fixed noise z of a universal generator), with GAP's `_normalize_and_scale`
 * u = (G + 1)/2, d_c = (u_c − μ_c)/σ_c, δ_c = d_c · min(1, (m/(255·σ_c))/‖d_c‖∞) per image and
 * channel, then x' = clip(x + δ). The generator runs in inference mode (batch-norm moving
 * statistics, no dropout); `images` are borrowed, never mutated.
 *
 * (The paper's test code left its generator in training mode, i.e. batch statistics of the test
 * batch; this function does not.)
 *
 * @param generator - a `tf.LayersModel` from images to `[N, H, W, C]` in [−1, 1], trained by {@link trainGap}.
 * @param images - NHWC float32 `[N, H, W, C]` in model units, inside `options.clip`.
 * @param options - see {@link GapOptions}; unknown keys are rejected.
 * @returns `{ images, perturbation }`, two new `[N, H, W, C]` tensors owned by the caller.
 * @throws {InvalidArgumentError} for a generator whose input or output does not match the images,
 *   a magnitude outside (0, 255], mean/std of the wrong length or a non-positive std, images
 *   outside the clip range, a missing `noiseSeed` in universal mode, or an unknown option.
 *
 * @example
 * ```ts
 * const { images: adv, perturbation } = gap(generator, images, { magnitude: 48 });
 * const fooled = top1(model, adv, labels) < top1(model, images, labels);
 * tf.dispose([adv, perturbation]);
 * ```
 * @category Attacks
 */
export function gap(generator: tfl.LayersModel, images: tf.Tensor4D, options: GapOptions): GapResult {
  const fn = 'gap';
  const o = assertOptionsObject(fn, options);
  assertKnownKeys(fn, o, KEYS);
  const gen = assertGenerator(fn, generator);
  const x = assertImages(fn, 'images', images);
  const shape = x.shape.slice(1) as [number, number, number];
  assertGeneratorShapes(fn, gen, shape);
  const scaling = parseScaling(fn, o, shape[2]);
  const universal = assertBoolean(fn, 'options.universal', o.universal) ?? false;
  let noiseSeed: number | undefined;
  if (universal) {
    if (o.noiseSeed === undefined) throw new InvalidArgumentError(fn, 'options.noiseSeed', 'the noise seed of the universal generator (trainGap report.noiseSeed)', 'undefined');
    noiseSeed = assertNumber(fn, 'options.noiseSeed', o.noiseSeed, { integer: true, min: 0 });
  } else if (o.noiseSeed !== undefined) {
    throw new InvalidArgumentError(fn, 'options.noiseSeed', 'undefined unless universal is true', describeValue(o.noiseSeed));
  }
  assertImageValues(fn, 'images', x, fixedClip(scaling));

  return tf.tidy(() => {
    const input = universal ? universalNoise(shape, noiseSeed!, scaling) : x;
    const raw = checkGeneratorOutput(fn, gen.apply(input, { training: false }), input.shape[0], shape);
    const delta = scalePerturbation(raw, scaling);
    const bounds = gapClipBounds(scaling, x);
    const adv = composeAdversarial(x, raw, delta, bounds, false);
    return { images: adv, perturbation: tf.broadcastTo(delta, x.shape) as tf.Tensor4D };
  });
}
