/**
 * The five blur corruptions of ImageNet-C (paper.md §9.1). Pixel-valued parameters are multiplied
 * by `ctx.pixelScale` (1 = the paper's values, meant for 224-px images).
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import { nativeKernels } from '../backend/kernels/native.js';
import { level, type CorruptionFn } from './context.js';
import { foldIndex, gaussianKernel, gaussianMatrix, type BorderMode } from './linear.js';
import { correlate2dFft } from './fft.js';
import { correlate2dFftNativeTensor } from './fftNative.js';
import { diskRuns, diskSums } from './diskSums.js';
import { motionBlurValues } from './motionBlur.js';
import { clip01, correlate2d, separable, symmetricSeparable, shapeOf, tensorOf, inputValues, valuesOf, type BatchShape } from './planes.js';

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

/** The largest Gaussian radius applied by tap sums rather than matrix products. */
const SYMMETRIC_RADIUS = 16;

/** Gaussian blur of an NHWC batch (σ in pixels, both axes; scipy `gaussian_filter` semantics). */
export function gaussianBlurValues(src: Float32Array, s: BatchShape, sigma: number, mode: BorderMode = 'edge', truncate = 4): Float32Array {
  const kernel = gaussianKernel(sigma, truncate);
  // tap sums up to 33 taps (σ = 4 at truncate 4), matrix products for the wider ones (measured)
  if (kernel.length <= 2 * SYMMETRIC_RADIUS + 1) return symmetricSeparable(src, s, kernel, mode);
  return separable(src, s, gaussianMatrix(s.h, sigma, mode, truncate), gaussianMatrix(s.w, sigma, mode, truncate));
}

/** gaussian_blur: skimage `gaussian(σ)`, edge replication, truncate 4. */
export const gaussianBlurCorruption: CorruptionFn = (x, s, ctx) => {
  const shape = shapeOf(x);
  return tensorOf(clip01(gaussianBlurValues(inputValues(x, ctx), shape, level(GAUSSIAN_BLUR, s) * ctx.pixelScale)), shape);
};

/**
 * Local pixel shuffling as ImageNet-C's glass_blur loop: for `iterations` passes, rows h from
 * H − δ down to δ + 1 and columns w likewise, dx, dy ~ U{−δ…δ−1} (dx drawn first), and the
 * reference's `x[h, w], x[h', w'] = x[h', w'], x[h, w]`. On H×W×3 numpy arrays the right-hand side
 * holds views, so this is not a swap: pixel (h, w) takes the value of (h + dy, w + dx), which keeps
 * its own. Indices are clamped to the image (only reachable when δ ≥ H/2 on tiny images).
 */
export function glassShuffle(values: Float32Array, s: BatchShape, delta: number, iterations: number, next: (lo: number, hi: number) => number): void {
  const { n, h, w, c } = s;
  for (let b = 0; b < n; b++) {
    const base = b * h * w * c;
    for (let it = 0; it < iterations; it++) {
      for (let y = h - delta; y > delta; y--) {
        for (let x = w - delta; x > delta; x--) {
          const dx = next(-delta, delta - 1);
          const dy = next(-delta, delta - 1);
          const yy = foldIndex(y + dy, h, 'edge');
          const xx = foldIndex(x + dx, w, 'edge');
          const p = base + (Math.min(y, h - 1) * w + Math.min(x, w - 1)) * c;
          const q = base + (yy * w + xx) * c;
          for (let k = 0; k < c; k++) values[p + k] = values[q + k]!;
        }
      }
    }
  }
}

/** glass_blur: blur, shuffle neighbouring pixels, blur again (no 8-bit rounding in between). */
export const glassBlur: CorruptionFn = (x, s, ctx) => {
  const [sigma, maxDelta, iterations] = level(GLASS_BLUR, s);
  const delta = Math.max(1, Math.round(maxDelta * ctx.pixelScale));
  const shape = shapeOf(x);
  const values = gaussianBlurValues(inputValues(x, ctx), shape, sigma * ctx.pixelScale);
  glassShuffle(values, shape, delta, iterations, (lo, hi) => ctx.rng.nextInt(lo, hi));
  return tensorOf(clip01(gaussianBlurValues(values, shape, sigma * ctx.pixelScale)), shape);
};

/**
 * ImageNet-C's `disk(radius, alias_blur)`: the indicator of X² + Y² ≤ r² on a grid of half-width
 * max(8, r) (scaled), normalised, then smoothed by a 3×3 (r ≤ 8) or 5×5 Gaussian of σ = alias
 * (cv2.GaussianBlur, reflect-101 borders).
 */
export function diskKernel(radius: number, alias: number, pixelScale: number): { kernel: Float32Array; size: number } {
  const { kernel, size } = diskKernel64(radius, alias, pixelScale);
  return { kernel: Float32Array.from(kernel), size };
}

/** {@link diskKernel} before its values are rounded to float32. */
export function diskKernel64(radius: number, alias: number, pixelScale: number): { kernel: Float64Array; size: number } {
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
  const kernel = new Float64Array(size * size);
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++) {
      let v = 0;
      for (let i = 0; i < ks; i++) v += g[i]! * tmp[foldIndex(y + i - r, size, 'reflect') * size + x]!;
      kernel[y * size + x] = v;
    }
  return { kernel, size };
}

/**
 * defocus_blur: correlation with the anti-aliased disk, reflect-101 borders (cv2.filter2D). Where the
 * smoothed disk lies inside its kernel grid (severities 1–3 at 224 px) the kernel is exactly the
 * Gaussian-smoothed disk, summed as row runs of prefix sums (diskSums.ts); otherwise the kernel's
 * entries are summed directly (up to {@link FFT_TAPS} of them) or through the FFT. On the wasm backend
 * with medrobust's kernel module the FFT runs there (fftNative.ts, bit-identical to the JavaScript FFT)
 * and takes over from the row runs and direct sums from smaller disks on ({@link NATIVE_ROW_RUNS},
 * {@link NATIVE_FFT_TAPS}).
 */
export const defocusBlur: CorruptionFn = (x, s, ctx) => {
  const [radius, alias] = level(DEFOCUS_BLUR, s);
  const shape = shapeOf(x);
  const backend = tf.backend();
  const native = nativeKernels(backend);
  const runs = diskRuns(radius * ctx.pixelScale, alias, ctx.pixelScale);
  // two reads per disk row against the FFT's fixed cost: rows up to ROW_RUNS (on 224-px images 13 rows
  // took 0.65x the FFT's CPU, 17 about as much)
  if (runs.inside && runs.halfWidths.length <= (native ? NATIVE_ROW_RUNS : ROW_RUNS)) return tensorOf(diskSums(inputValues(x, ctx), shape, runs, 'reflect'), shape);
  const { kernel, size } = diskKernel(radius * ctx.pixelScale, alias, ctx.pixelScale);
  let largest = 0;
  for (const v of kernel) largest = Math.max(largest, v);
  const taps = kernel.reduce((count, v) => count + (v > 1e-10 * largest ? 1 : 0), 0);
  // direct sums for small disks, the FFT for large ones (the crossing point measured on 224-px images)
  if (taps <= (native ? NATIVE_FFT_TAPS : FFT_TAPS)) return tensorOf(clip01(correlate2d(inputValues(x, ctx), shape, kernel, size, size, 'reflect')), shape);
  const fast = native && correlate2dFftNativeTensor(native, backend, x, ctx.values, kernel, size, size, 'reflect', true);
  return fast || tensorOf(correlate2dFft(inputValues(x, ctx), shape, kernel, size, size, 'reflect', true), shape);
};

/** Kernels with more taps than this are applied through the FFT. */
const FFT_TAPS = 48;

/** Disks of up to this many rows are summed as row runs when their kernel allows it. */
const ROW_RUNS = 17;

/**
 * {@link ROW_RUNS} where the FFT runs on the wasm kernel module (2.5× the JavaScript FFT's speed). Measured,
 * CPU ms for 8 RGB images, wasm, 1 thread: at 224 px the disk of severity 1 (7 rows) took 18.7 as row runs
 * against 13.8–16.2 for the FFT at any severity; at 64 px disks of 1–3 rows took 1.0–1.6 against 2.1–2.8.
 */
const NATIVE_ROW_RUNS = 5;

/**
 * {@link FFT_TAPS} where the FFT runs on the wasm kernel module. Measured on 8 RGB images of 32 px: 9 taps took
 * 0.33–0.38 ms directly against 0.41 for the FFT, 21 and 25 taps 0.49–0.68 against 0.41–0.46 (at 64 px,
 * 45–49 taps: 3.9–4.5 against 2.3).
 */
const NATIVE_FFT_TAPS = 16;

/** motion_blur: ImageMagick motion blur with a random angle U(−45°, 45°) per image. */
export const motionBlurCorruption: CorruptionFn = (x, s, ctx) => {
  const [radius, sigma] = level(MOTION_BLUR, s);
  const angles = Array.from({ length: x.shape[0] }, () => ctx.rng.uniform(-45, 45));
  const shape = shapeOf(x);
  // no clip: positive weights summing to 1 keep values of [0, 1] there (the double-precision sum
  // exceeds 1 by at most ~1e-14, which rounds to 1 in float32)
  return tensorOf(motionBlurValues(inputValues(x, ctx), shape, radius * ctx.pixelScale, sigma * ctx.pixelScale, angles), shape);
};

/**
 * ImageNet-C's `clipped_zoom` along one axis of length n as two taps per output: crop the central
 * ⌈n/z⌉ pixels, zoom them by z with linear interpolation (scipy `zoom`, order 1, corners aligned)
 * and keep the central n (the same operator as `clippedZoomMatrix`).
 */
function zoomTaps(n: number, zoom: number): { i0: Int32Array; i1: Int32Array; f: Float64Array } {
  const crop = Math.ceil(n / zoom);
  const top = Math.floor((n - crop) / 2);
  const out = Math.round(crop * zoom);
  const trim = Math.floor((out - n) / 2);
  const i0 = new Int32Array(n);
  const i1 = new Int32Array(n);
  const f = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const s = out > 1 ? ((i + trim) * (crop - 1)) / (out - 1) : 0;
    const s0 = Math.min(Math.floor(s), crop - 1);
    const frac = s - s0;
    i0[i] = top + s0;
    // a zero weight on the second tap where the sample falls on the crop's last pixel
    i1[i] = top + Math.min(s0 + 1, crop - 1);
    f[i] = s0 + 1 < crop ? frac : 0;
  }
  return { i0, i1, f };
}

/** Adds the clipped zoom of every image of `src` by `zoom` (ImageNet-C `clipped_zoom`) to `acc`. */
export function addClippedZoom(acc: Float32Array, src: Float32Array, s: BatchShape, zoom: number): void {
  const { n, h, w, c } = s;
  const rows = zoomTaps(h, zoom);
  const cols = zoomTaps(w, zoom);
  for (let b = 0; b < n; b++) {
    const base = b * h * w * c;
    for (let y = 0; y < h; y++) {
      const fy = rows.f[y]!;
      const r0 = base + rows.i0[y]! * w * c;
      const r1 = base + rows.i1[y]! * w * c;
      const to = base + y * w * c;
      for (let x = 0; x < w; x++) {
        const fx = cols.f[x]!;
        const c0 = cols.i0[x]! * c;
        const c1 = cols.i1[x]! * c;
        for (let k = 0; k < c; k++) {
          const top = (1 - fx) * src[r0 + c0 + k]! + fx * src[r0 + c1 + k]!;
          const bottom = (1 - fx) * src[r1 + c0 + k]! + fx * src[r1 + c1 + k]!;
          acc[to + x * c + k] = acc[to + x * c + k]! + ((1 - fy) * top + fy * bottom);
        }
      }
    }
  }
}

/** The mean of the image and its clipped zooms by each factor (ImageNet-C zoom_blur), clipped to [0, 1]. */
export function zoomAverage(x: tf.Tensor4D, factors: readonly number[], values?: Float32Array): tf.Tensor4D {
  const shape = shapeOf(x);
  const src = values ?? valuesOf(x);
  const acc = Float32Array.from(src);
  for (const z of factors) addClippedZoom(acc, src, shape, z);
  const scale = factors.length + 1;
  for (let i = 0; i < acc.length; i++) acc[i] = acc[i]! / scale;
  return tensorOf(clip01(acc), shape);
}

/** zoom_blur: (x + Σ_z clipped_zoom(x, z)) / (count + 1). */
export const zoomBlur: CorruptionFn = (x, s, ctx) => {
  const [step, count] = level(ZOOM_BLUR, s);
  return zoomAverage(x, Array.from({ length: count }, (_, k) => 1 + k * step), ctx.values);
};
