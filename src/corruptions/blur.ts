/**
 * The five blur corruptions of ImageNet-C (paper.md §9.1). Pixel-valued parameters are multiplied
 * by `ctx.pixelScale` (1 = the paper's values, meant for 224-px images).
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import { level, type CorruptionFn } from './context.js';
import { applySeparable, clippedZoomMatrix, filter2d, foldIndex, gaussianBlur } from './linear.js';
import { motionBlur as motionBlurTaps } from './motionBlur.js';

/** gaussian_blur σ per severity. */
export const GAUSSIAN_BLUR = [1, 2, 3, 4, 6] as const;
/** glass_blur (σ, max_delta, iterations) per severity. */
export const GLASS_BLUR = [[0.7, 1, 2], [0.9, 2, 1], [1, 2, 3], [1.1, 3, 2], [1.5, 4, 2]] as const;
/** defocus_blur (radius, alias σ) per severity. */
export const DEFOCUS_BLUR = [[3, 0.1], [4, 0.5], [6, 0.5], [8, 0.5], [10, 0.5]] as const;
/** motion_blur (radius, σ) per severity; the angle is U(−45°, 45°) per image. */
export const MOTION_BLUR = [[10, 3], [15, 5], [15, 8], [15, 12], [20, 15]] as const;
/**
 * zoom_blur factors per severity: 1 + k·step for k = 0…count−1, exactly the values of numpy's
 * `arange(1, 1.11, .01)`, `(1, 1.16, .01)`, `(1, 1.21, .02)`, `(1, 1.26, .02)`, `(1, 1.31, .03)`.
 */
export const ZOOM_BLUR = [[0.01, 12], [0.01, 16], [0.02, 11], [0.02, 13], [0.03, 11]] as const;

/** gaussian_blur: skimage `gaussian(σ)`, edge replication, truncate 4. */
export const gaussianBlurCorruption: CorruptionFn = (x, s, ctx) =>
  tf.tidy(() => tf.clipByValue(gaussianBlur(x, level(GAUSSIAN_BLUR, s) * ctx.pixelScale), 0, 1));

/**
 * Local pixel shuffling as ImageNet-C's glass_blur loop: for `iterations` passes, rows h from
 * H − δ down to δ + 1 and columns likewise, swap pixel (h, w) with (h + dy, w + dx), dx, dy ~ U{−δ…δ−1}.
 */
function shuffle(values: Float32Array, n: number, h: number, w: number, c: number, delta: number, iterations: number, next: (lo: number, hi: number) => number): void {
  for (let b = 0; b < n; b++) {
    const base = b * h * w * c;
    for (let it = 0; it < iterations; it++) {
      for (let y = h - delta; y > delta; y--) {
        for (let x = w - delta; x > delta; x--) {
          const dx = next(-delta, delta - 1);
          const dy = next(-delta, delta - 1);
          const yy = foldIndex(y + dy, h, 'edge');
          const xx = foldIndex(x + dx, w, 'edge');
          const yc = Math.min(y, h - 1);
          const xc = Math.min(x, w - 1);
          for (let k = 0; k < c; k++) {
            const p = base + (yc * w + xc) * c + k;
            const q = base + (yy * w + xx) * c + k;
            const t = values[p]!;
            values[p] = values[q]!;
            values[q] = t;
          }
        }
      }
    }
  }
}

/** glass_blur: blur, shuffle neighbouring pixels, blur again (no 8-bit rounding in between). */
export const glassBlur: CorruptionFn = (x, s, ctx) => {
  const [sigma, maxDelta, iterations] = level(GLASS_BLUR, s);
  const delta = Math.max(1, Math.round(maxDelta * ctx.pixelScale));
  const blurred = gaussianBlur(x, sigma * ctx.pixelScale);
  const values = Float32Array.from(blurred.dataSync());
  blurred.dispose();
  const [n, h, w, c] = x.shape;
  shuffle(values, n, h, w, c, delta, iterations, (lo, hi) => ctx.rng.nextInt(lo, hi));
  return tf.tidy(() => tf.clipByValue(gaussianBlur(tf.tensor4d(values, x.shape), sigma * ctx.pixelScale), 0, 1));
};

/**
 * ImageNet-C's `disk(radius, alias_blur)`: the indicator of X² + Y² ≤ r² on a grid of half-width
 * max(8, r) (scaled), normalised, then smoothed by a 3×3 (r ≤ 8) or 5×5 Gaussian of σ = alias
 * (cv2.GaussianBlur, reflect-101 borders).
 */
export function diskKernel(radius: number, alias: number, pixelScale: number): { kernel: Float32Array; size: number } {
  const small = radius <= 8 * pixelScale;
  const half = small ? Math.ceil(8 * pixelScale) : Math.ceil(radius);
  const size = 2 * half + 1;
  const disk = new Float64Array(size * size);
  let sum = 0;
  for (let y = -half; y <= half; y++)
    for (let x = -half; x <= half; x++)
      if (x * x + y * y <= radius * radius) {
        disk[(y + half) * size + x + half] = 1;
        sum += 1;
      }
  if (sum === 0) {
    disk[half * size + half] = 1;
    sum = 1;
  }
  for (let i = 0; i < disk.length; i++) disk[i]! /= sum;
  const ks = small ? 3 : 5;
  const g = new Float64Array(ks);
  let gs = 0;
  for (let i = 0; i < ks; i++) {
    const d = i - (ks - 1) / 2;
    g[i] = Math.exp(-(d * d) / (2 * alias * alias));
    gs += g[i]!;
  }
  for (let i = 0; i < ks; i++) g[i]! /= gs;
  const r = (ks - 1) / 2;
  const tmp = new Float64Array(size * size);
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++) {
      let v = 0;
      for (let i = 0; i < ks; i++) v += g[i]! * disk[y * size + foldIndex(x + i - r, size, 'reflect')]!;
      tmp[y * size + x] = v;
    }
  const kernel = new Float32Array(size * size);
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++) {
      let v = 0;
      for (let i = 0; i < ks; i++) v += g[i]! * tmp[foldIndex(y + i - r, size, 'reflect') * size + x]!;
      kernel[y * size + x] = v;
    }
  return { kernel, size };
}

/** defocus_blur: correlation with the anti-aliased disk, reflect-101 borders (cv2.filter2D). */
export const defocusBlur: CorruptionFn = (x, s, ctx) => {
  const [radius, alias] = level(DEFOCUS_BLUR, s);
  const { kernel, size } = diskKernel(radius * ctx.pixelScale, alias, ctx.pixelScale);
  return tf.tidy(() => tf.clipByValue(filter2d(x, kernel, size, size, 'reflect'), 0, 1));
};

/** motion_blur: ImageMagick motion blur with a random angle U(−45°, 45°) per image. */
export const motionBlurCorruption: CorruptionFn = (x, s, ctx) => {
  const [radius, sigma] = level(MOTION_BLUR, s);
  const angles = Array.from({ length: x.shape[0] }, () => ctx.rng.uniform(-45, 45));
  return tf.tidy(() => tf.clipByValue(motionBlurTaps(x, radius * ctx.pixelScale, sigma * ctx.pixelScale, angles), 0, 1));
};

/** The mean of the image and its clipped zooms by each factor (ImageNet-C zoom_blur and ImageNet-P zoom frames). */
export function zoomAverage(x: tf.Tensor4D, factors: readonly number[]): tf.Tensor4D {
  return tf.tidy(() => {
    const [, h, w] = x.shape;
    let acc: tf.Tensor4D = x;
    for (const z of factors) {
      const zoomed = applySeparable(x, clippedZoomMatrix(h, z), clippedZoomMatrix(w, z));
      acc = tf.add(acc, zoomed);
    }
    return tf.clipByValue(tf.div(acc, factors.length + 1), 0, 1) as tf.Tensor4D;
  });
}

/** zoom_blur: (x + Σ_z clipped_zoom(x, z)) / (count + 1). */
export const zoomBlur: CorruptionFn = (x, s) => {
  const [step, count] = level(ZOOM_BLUR, s);
  return zoomAverage(x, Array.from({ length: count }, (_, k) => 1 + k * step));
};
