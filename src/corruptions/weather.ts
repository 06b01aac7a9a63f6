/**
 * The weather corruptions of ImageNet-C (paper.md §9.1): snow, frost, fog and brightness.
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Rng } from '../internal/random.js';
import { shiftValue } from './color.js';
import { level, type CorruptionFn } from './context.js';
import { FROST_TINT, frostTexture } from './frostTexture.js';
import { LUMA, clippedZoomMatrix } from './linear.js';
import { motionBlurValues } from './motionBlur.js';
import { clip01, separable, shapeOf, tensorOf, inputValues, type BatchShape } from './planes.js';
import { cropField, nextPowerOfTwo, plasmaFractal } from './randomFields.js';
import { randomNormalValues } from './seededDraws.js';

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

/**
 * The still snow layer `[N, H, W, 1]`: N(loc, scale) (tf.randomNormal's draw, see seededDraws.ts), clipped zoom,
 * zeroed below the threshold, clipped to [0, 1].
 */
export function snowLayerValues(n: number, h: number, w: number, loc: number, scale: number, zoom: number, threshold: number, rng: Rng): Float32Array {
  const values = randomNormalValues(n * h * w, loc, scale, rng.nextSeed());
  const layer = separable(values, { n, h, w, c: 1 }, clippedZoomMatrix(h, zoom), clippedZoomMatrix(w, zoom));
  for (let i = 0; i < layer.length; i++) if (layer[i]! < threshold) layer[i] = 0;
  return clip01(layer);
}

/**
 * ImageNet-C's snow blend, clip(mix·x + (1 − mix)·max(x, 1.5·grey + 0.5) + layer + rot180(layer)),
 * grey = Rec. 601 luma (the image itself when it has one channel), one layer `[N, H, W, 1]` per image.
 */
export function snowCompositeValues(src: Float32Array, s: BatchShape, layer: Float32Array, mix: number): Float32Array {
  const { n, h, w, c } = s;
  const out = new Float32Array(src.length);
  const hw = h * w;
  const keep = 1 - mix;
  if (c === 3) {
    for (let b = 0; b < n; b++) {
      const base = b * hw;
      for (let p = 0; p < hw; p++) {
        const i = (base + p) * 3;
        const r = src[i]!;
        const g = src[i + 1]!;
        const bl = src[i + 2]!;
        const white = 1.5 * (LUMA[0] * r + LUMA[1] * g + LUMA[2] * bl) + 0.5;
        const flake = layer[base + p]! + layer[base + hw - 1 - p]!;
        const z0 = mix * r + keep * (r > white ? r : white) + flake;
        const z1 = mix * g + keep * (g > white ? g : white) + flake;
        const z2 = mix * bl + keep * (bl > white ? bl : white) + flake;
        out[i] = z0 < 0 ? 0 : z0 > 1 ? 1 : z0;
        out[i + 1] = z1 < 0 ? 0 : z1 > 1 ? 1 : z1;
        out[i + 2] = z2 < 0 ? 0 : z2 > 1 ? 1 : z2;
      }
    }
    return out;
  }
  for (let b = 0; b < n; b++) {
    for (let p = 0; p < hw; p++) {
      const i = (b * hw + p) * c;
      const grey = c === 3 ? LUMA[0] * src[i]! + LUMA[1] * src[i + 1]! + LUMA[2] * src[i + 2]! : src[i]!;
      const flake = layer[b * hw + p]! + layer[b * hw + hw - 1 - p]!;
      const white = 1.5 * grey + 0.5;
      for (let k = 0; k < c; k++) {
        const v = src[i + k]!;
        const z = mix * v + (1 - mix) * (v > white ? v : white) + flake;
        out[i + k] = z < 0 ? 0 : z > 1 ? 1 : z;
      }
    }
  }
  return out;
}

/** snow: a falling-snow layer (motion-blurred along a random direction) over a whitened image. */
export const snow: CorruptionFn = (x, s, ctx) => {
  const [loc, scale, zoom, threshold, radius, sigma, mix] = level(SNOW, s);
  const shape = shapeOf(x);
  const { n, h, w } = shape;
  const still = snowLayerValues(n, h, w, loc, scale, zoom, threshold, ctx.rng);
  const angles = Array.from({ length: n }, () => ctx.rng.uniform(-135, -45));
  const moving = motionBlurValues(still, { n, h, w, c: 1 }, radius * ctx.pixelScale, sigma * ctx.pixelScale, angles);
  return tensorOf(snowCompositeValues(inputValues(x, ctx), shape, moving, mix), shape);
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

/** frost: clip(a·x + b·frost) with a procedural frost texture (see `frostTexture`), blended in one pass. */
export const frost: CorruptionFn = (x, s, ctx) => {
  const [a, b] = level(FROST, s);
  const shape = shapeOf(x);
  const { n, h, w, c } = shape;
  const src = inputValues(x, ctx);
  const out = new Float32Array(src.length);
  const tint = c === 3 ? FROST_TINT.map((t) => Math.fround(t)) : [1];
  const hw = h * w;
  for (let i = 0; i < n; i++) {
    const texture = frostTexture(ctx.rng, h, w);
    for (let p = 0; p < hw; p++) {
      const v = texture[p]!;
      for (let k = 0; k < c; k++) {
        const at = (i * hw + p) * c + k;
        // the layer value as frostLayer stores it (float32 texture × tint), then the blend
        const z = a * src[at]! + b * Math.fround(v * tint[k]!);
        out[at] = z < 0 ? 0 : z > 1 ? 1 : z;
      }
    }
  }
  return tensorOf(out, shape);
};

/** fog: clip((x + a·plasma)·m/(m + a)), m = the image's maximum, plasma of wibble decay d. */
export const fog: CorruptionFn = (x, s, ctx) => {
  const [a, decay] = level(FOG, s);
  const shape = shapeOf(x);
  const { n, h, w, c } = shape;
  const size = nextPowerOfTwo(Math.max(h, w));
  const src = inputValues(x, ctx);
  const out = new Float32Array(src.length);
  const per = h * w * c;
  for (let b = 0; b < n; b++) {
    const plasma = cropField(plasmaFractal(ctx.rng, size, decay), size, h, w);
    let m = 0;
    for (let i = b * per; i < (b + 1) * per; i++) m = Math.max(m, src[i]!);
    const scale = m / (m + a);
    if (c === 3) {
      for (let p = 0; p < h * w; p++) {
        const haze = a * plasma[p]!;
        const i = b * per + p * 3;
        const v0 = (src[i]! + haze) * scale;
        const v1 = (src[i + 1]! + haze) * scale;
        const v2 = (src[i + 2]! + haze) * scale;
        out[i] = v0 < 0 ? 0 : v0 > 1 ? 1 : v0;
        out[i + 1] = v1 < 0 ? 0 : v1 > 1 ? 1 : v1;
        out[i + 2] = v2 < 0 ? 0 : v2 > 1 ? 1 : v2;
      }
      continue;
    }
    for (let p = 0; p < h * w; p++) {
      const haze = a * plasma[p]!;
      for (let k = 0; k < c; k++) {
        const i = b * per + p * c + k;
        const v = (src[i]! + haze) * scale;
        out[i] = v < 0 ? 0 : v > 1 ? 1 : v;
      }
    }
  }
  return tensorOf(out, shape);
};

/** brightness: V ← clip(V + c) in HSV. */
export const brightness: CorruptionFn = (x, s, ctx) => shiftValue(x, level(BRIGHTNESS, s), ctx.values);
