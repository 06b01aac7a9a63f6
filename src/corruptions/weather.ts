/**
 * The weather corruptions of ImageNet-C (paper.md §9.1): snow, frost, fog and brightness.
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Rng } from '../internal/random.js';
import { shiftValue } from './color.js';
import { level, type CorruptionFn } from './context.js';
import { FROST_TINT, frostTexture } from './frostTexture.js';
import { applySeparable, clippedZoomMatrix, luma } from './linear.js';
import { motionBlur } from './motionBlur.js';
import { cropField, nextPowerOfTwo, plasmaFractal } from './randomFields.js';

/**
 * snow (loc, scale, zoom, threshold, blur radius, blur σ, mix) per severity: the layer is
 * N(loc, scale) zoomed by `zoom`, zeroed below `threshold`, motion-blurred at U(−135°, −45°).
 */
export const SNOW = [
  [0.1, 0.3, 3, 0.5, 10, 4, 0.8],
  [0.2, 0.3, 2, 0.5, 12, 4, 0.7],
  [0.55, 0.3, 4, 0.9, 12, 8, 0.7],
  [0.55, 0.3, 4.5, 0.85, 12, 8, 0.65],
  [0.55, 0.3, 2.5, 0.85, 12, 12, 0.55],
] as const;
/** frost (image weight, frost weight) per severity. */
export const FROST = [[1, 0.4], [0.8, 0.6], [0.7, 0.7], [0.65, 0.7], [0.6, 0.75]] as const;
/** fog (strength, wibble decay of the plasma fractal) per severity. */
export const FOG = [[1.5, 2], [2, 2], [2.5, 1.7], [2.5, 1.5], [3, 1.4]] as const;
/** brightness: shift of V in HSV per severity. */
export const BRIGHTNESS = [0.1, 0.2, 0.3, 0.4, 0.5] as const;

/** The still snow layer `[N, H, W, 1]`: N(loc, scale), clipped zoom, zeroed below the threshold, clipped to [0, 1]. */
export function snowLayer(n: number, h: number, w: number, loc: number, scale: number, zoom: number, threshold: number, rng: Rng): tf.Tensor4D {
  return tf.tidy(() => {
    const noise = tf.randomNormal([n, h, w, 1], loc, scale, 'float32', rng.nextSeed()) as tf.Tensor4D;
    const zoomed = applySeparable(noise, clippedZoomMatrix(h, zoom), clippedZoomMatrix(w, zoom));
    return tf.clipByValue(tf.where(tf.less(zoomed, threshold), tf.zerosLike(zoomed), zoomed), 0, 1) as tf.Tensor4D;
  });
}

/** ImageNet-C's snow blend: mix·x + (1 − mix)·max(x, 1.5·grey + 0.5), plus the layer and its 180° rotation. */
export function snowComposite(x: tf.Tensor4D, layer: tf.Tensor4D, mix: number): tf.Tensor4D {
  return tf.tidy(() => {
    const whitened = tf.maximum(x, tf.add(tf.mul(luma(x), 1.5), 0.5));
    const base = tf.add(tf.mul(x, mix), tf.mul(whitened, 1 - mix));
    return tf.clipByValue(tf.add(tf.add(base, layer), tf.reverse(layer, [1, 2])), 0, 1) as tf.Tensor4D;
  });
}

/** snow: a falling-snow layer (blurred along a random direction) over a whitened image. */
export const snow: CorruptionFn = (x, s, ctx) => {
  const [loc, scale, zoom, threshold, radius, sigma, mix] = level(SNOW, s);
  const [n, h, w] = x.shape;
  const still = snowLayer(n, h, w, loc, scale, zoom, threshold, ctx.rng);
  const angles = Array.from({ length: n }, () => ctx.rng.uniform(-135, -45));
  return tf.tidy(() => {
    const moving = motionBlur(still, radius * ctx.pixelScale, sigma * ctx.pixelScale, angles);
    still.dispose();
    return snowComposite(x, moving, mix);
  });
};

/** One procedural frost texture per image `[N, H, W, C]` (tinted for colour images). */
export function frostLayer(n: number, h: number, w: number, c: number, rng: Rng): tf.Tensor4D {
  const values = new Float32Array(n * h * w);
  for (let b = 0; b < n; b++) values.set(frostTexture(rng, h, w), b * h * w);
  return tf.tidy(() => {
    const t = tf.tensor4d(values, [n, h, w, 1]);
    return (c === 3 ? tf.mul(t, tf.tensor1d([...FROST_TINT])) : t) as tf.Tensor4D;
  });
}

/** frost: clip(a·x + b·frost) with a procedural frost texture (see `frostTexture`). */
export const frost: CorruptionFn = (x, s, ctx) => {
  const [a, b] = level(FROST, s);
  const [n, h, w, c] = x.shape;
  const layer = frostLayer(n, h, w, c, ctx.rng);
  return tf.tidy(() => {
    const out = tf.clipByValue(tf.add(tf.mul(x, a), tf.mul(layer, b)), 0, 1) as tf.Tensor4D;
    layer.dispose();
    return out;
  });
};

/** fog: clip((x + a·plasma)·m/(m + a)), m = the image's maximum, plasma of wibble decay d. */
export const fog: CorruptionFn = (x, s, ctx) => {
  const [a, decay] = level(FOG, s);
  const [n, h, w] = x.shape;
  const size = nextPowerOfTwo(Math.max(h, w));
  const values = new Float32Array(n * h * w);
  for (let b = 0; b < n; b++) values.set(cropField(plasmaFractal(ctx.rng, size, decay), size, h, w), b * h * w);
  return tf.tidy(() => {
    const plasma = tf.tensor4d(values, [n, h, w, 1]);
    const m = tf.max(x, [1, 2, 3], true);
    return tf.clipByValue(tf.div(tf.mul(tf.add(x, tf.mul(plasma, a)), m), tf.add(m, a)), 0, 1) as tf.Tensor4D;
  });
};

/** brightness: V ← clip(V + c) in HSV. */
export const brightness: CorruptionFn = (x, s) => shiftValue(x, level(BRIGHTNESS, s));
