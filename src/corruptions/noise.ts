/**
 * The four noise corruptions of ImageNet-C (paper.md §9.1), on NHWC batches in [0, 1], and the
 * noise primitives the perturbation sequences reuse (§9.2).
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Rng } from '../internal/random.js';
import { level, type CorruptionFn } from './context.js';
import { poisson } from './randomFields.js';
import { randomNormalValues, randomUniformValues } from './seededDraws.js';

/**
 * clip(x + N(0, σ²)), one fresh draw per value: tf.randomNormal's values for the seed (drawn on a
 * plain array, see seededDraws.ts) added with one float32 rounding, as tf.add does.
 * `values`: x's values when already read.
 */
export function addGaussianNoise(x: tf.Tensor4D, sigma: number, rng: Rng, values?: Float32Array): tf.Tensor4D {
  const noise = randomNormalValues(x.size, 0, sigma, rng.nextSeed());
  const src = values ?? (x.dataSync() as Float32Array);
  for (let i = 0; i < noise.length; i++) {
    const v = Math.fround(src[i]! + noise[i]!);
    noise[i] = v < 0 ? 0 : v > 1 ? 1 : v;
  }
  return tf.tensor4d(noise, x.shape);
}

/** clip(Poisson(λ·x)/λ): photon-counting noise with λ photons at full intensity (JS sampler). */
export function addPoissonNoise(x: tf.Tensor4D, lambda: number, rng: Rng, values?: Float32Array): tf.Tensor4D {
  const src = values ?? x.dataSync();
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = Math.min(1, Math.max(0, poisson(rng, src[i]! * lambda) / lambda));
  return tf.tensor4d(out, x.shape);
}

/** clip(x + x·N(0, σ²)): multiplicative (speckle) noise (float32 product and sum, as tf.mul and tf.add). */
export function addSpeckleNoise(x: tf.Tensor4D, sigma: number, rng: Rng, values?: Float32Array): tf.Tensor4D {
  const noise = randomNormalValues(x.size, 0, sigma, rng.nextSeed());
  const src = values ?? (x.dataSync() as Float32Array);
  for (let i = 0; i < noise.length; i++) {
    const v = Math.fround(src[i]! + Math.fround(src[i]! * noise[i]!));
    noise[i] = v < 0 ? 0 : v > 1 ? 1 : v;
  }
  return tf.tensor4d(noise, x.shape);
}

/**
 * Salt and pepper on a fraction `amount` of the values (each value independently, half salt): the
 * seeded uniform draw (tf.randomUniform's values), then one loop (six full-size tensor ops before).
 */
export function addImpulseNoise(x: tf.Tensor4D, amount: number, rng: Rng, values?: Float32Array): tf.Tensor4D {
  const u = randomUniformValues(x.size, 0, 1, rng.nextSeed());
  const src = values ?? (x.dataSync() as Float32Array);
  // the thresholds as tf.less compares them (float32)
  const pepper = Math.fround(amount / 2);
  const salt = Math.fround(amount);
  for (let i = 0; i < u.length; i++) u[i] = u[i]! < pepper ? 0 : u[i]! < salt ? 1 : src[i]!;
  return tf.tensor4d(u, x.shape);
}

/** ImageNet-C gaussian_noise σ per severity. */
export const GAUSSIAN_NOISE = [0.08, 0.12, 0.18, 0.26, 0.38] as const;
/** ImageNet-C shot_noise λ per severity. */
export const SHOT_NOISE = [60, 25, 12, 5, 3] as const;
/** ImageNet-C impulse_noise amount per severity. */
export const IMPULSE_NOISE = [0.03, 0.06, 0.09, 0.17, 0.27] as const;
/** ImageNet-C speckle_noise σ per severity. */
export const SPECKLE_NOISE = [0.15, 0.2, 0.35, 0.45, 0.6] as const;

/** gaussian_noise: clip(x + N(0, σ²)). */
export const gaussianNoise: CorruptionFn = (x, s, ctx) => addGaussianNoise(x, level(GAUSSIAN_NOISE, s), ctx.rng, ctx.values);
/** shot_noise: clip(Poisson(λx)/λ). */
export const shotNoise: CorruptionFn = (x, s, ctx) => addPoissonNoise(x, level(SHOT_NOISE, s), ctx.rng, ctx.values);
/** impulse_noise: salt and pepper. */
export const impulseNoise: CorruptionFn = (x, s, ctx) => addImpulseNoise(x, level(IMPULSE_NOISE, s), ctx.rng, ctx.values);
/** speckle_noise: clip(x + x·N(0, σ²)). */
export const speckleNoise: CorruptionFn = (x, s, ctx) => addSpeckleNoise(x, level(SPECKLE_NOISE, s), ctx.rng, ctx.values);
