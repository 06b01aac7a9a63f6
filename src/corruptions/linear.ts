/**
 * Separable linear operators on NHWC batches, written as matrices that act along the height or
 * the width axis: blurs with any border rule, PIL-style box resizing and scipy-style zooms. They
 * are applied by `separable` (planes.ts): tap loops when sparse, matrix products when wide.
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';

/** How a filter or sampler sees pixels outside the image. */
export type BorderMode =
  /** cv2 BORDER_REFLECT_101 / scipy 'mirror': d c b | a b c d | c b a. */
  | 'reflect'
  /** scipy 'reflect' / numpy 'symmetric': c b a | a b c d | d c b. */
  | 'symmetric'
  /** Repeat the edge pixel (scipy 'nearest', skimage's default for `gaussian`). */
  | 'edge'
  /** Zeros outside the image. */
  | 'zeros';

/** A dense row-major matrix `[rows, cols]`. */
export interface AxisMatrix {
  readonly rows: number;
  readonly cols: number;
  readonly values: Float32Array;
}

/** Folds an integer index into [0, n) by the border rule; −1 means "outside" (zeros). */
export function foldIndex(i: number, n: number, mode: BorderMode): number {
  if (i >= 0 && i < n) return i;
  if (mode === 'zeros') return -1;
  if (mode === 'edge' || n === 1) return i < 0 ? 0 : n - 1;
  if (mode === 'symmetric') {
    const p = 2 * n;
    const m = ((i % p) + p) % p;
    return m < n ? m : p - 1 - m;
  }
  const p = 2 * n - 2;
  const m = ((i % p) + p) % p;
  return m < n ? m : p - m;
}

/**
 * The matrix of a 1-D correlation with an odd-length kernel centred on each output pixel:
 * out[i] = Σ_k kernel[k]·in[fold(i + k − r)], r = (len − 1)/2.
 */
export function correlationMatrix(n: number, kernel: ArrayLike<number>, mode: BorderMode, origin = (kernel.length - 1) / 2): AxisMatrix {
  const values = new Float32Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < kernel.length; k++) {
      const j = foldIndex(i + k - origin, n, mode);
      if (j >= 0) values[i * n + j] = values[i * n + j]! + kernel[k]!;
    }
  }
  return { rows: n, cols: n, values };
}

/**
 * A normalised 1-D Gaussian with scipy's support: radius = ⌊truncate·σ + ½⌋.
 * σ ≤ 0 gives the identity kernel [1].
 */
export function gaussianKernel(sigma: number, truncate = 4): Float32Array {
  if (!(sigma > 0)) return Float32Array.of(1);
  const radius = Math.max(0, Math.floor(truncate * sigma + 0.5));
  const k = new Float32Array(2 * radius + 1);
  let sum = 0;
  for (let i = -radius; i <= radius; i++) {
    const v = Math.exp(-(i * i) / (2 * sigma * sigma));
    k[i + radius] = v;
    sum += v;
  }
  for (let i = 0; i < k.length; i++) k[i]! /= sum;
  return k;
}

/** Gaussian blur along one axis of length n (skimage/scipy `gaussian_filter` semantics). */
export function gaussianMatrix(n: number, sigma: number, mode: BorderMode = 'edge', truncate = 4): AxisMatrix {
  return correlationMatrix(n, gaussianKernel(sigma, truncate), mode);
}

/**
 * PIL's `Image.resize(..., BOX)` along one axis: each output pixel averages the input pixels whose
 * centres fall in its footprint (support ½ × scale), as Pillow's resampling code computes it.
 */
export function boxResizeMatrix(inSize: number, outSize: number): AxisMatrix {
  const values = new Float32Array(outSize * inSize);
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = 0.5 * filterScale;
  for (let i = 0; i < outSize; i++) {
    const center = (i + 0.5) * scale;
    const lo = Math.max(Math.trunc(center - support + 0.5), 0);
    const hi = Math.min(Math.trunc(center + support + 0.5), inSize);
    let sum = 0;
    for (let x = lo; x < hi; x++) {
      const t = (x - center + 0.5) / filterScale;
      const w = t > -0.5 && t <= 0.5 ? 1 : 0;
      values[i * inSize + x] = w;
      sum += w;
    }
    if (sum === 0) {
      values[i * inSize + Math.min(inSize - 1, Math.max(0, Math.floor(center)))] = 1;
      sum = 1;
    }
    for (let x = lo; x < hi; x++) values[i * inSize + x]! /= sum;
  }
  return { rows: outSize, cols: inSize, values };
}

/**
 * ImageNet-C's `clipped_zoom` along one axis: crop the central ⌈n/z⌉ pixels, zoom them by z with
 * linear interpolation (scipy `zoom`, order 1, corners aligned), and keep the central n pixels.
 */
export function clippedZoomMatrix(n: number, zoom: number): AxisMatrix {
  const values = new Float32Array(n * n);
  const crop = Math.ceil(n / zoom);
  const top = Math.floor((n - crop) / 2);
  const out = Math.round(crop * zoom);
  const trim = Math.floor((out - n) / 2);
  for (let i = 0; i < n; i++) {
    const o = i + trim;
    const s = out > 1 ? (o * (crop - 1)) / (out - 1) : 0;
    const s0 = Math.min(Math.floor(s), crop - 1);
    const f = s - s0;
    values[i * n + top + s0] = values[i * n + top + s0]! + 1 - f;
    if (f > 0 && s0 + 1 < crop) values[i * n + top + s0 + 1] = values[i * n + top + s0 + 1]! + f;
  }
  return { rows: n, cols: n, values };
}

/** Rec. 601 luma weights (cv2 RGB2GRAY, JPEG's Y). */
export const LUMA = [0.299, 0.587, 0.114] as const;

/** Luma of an RGB batch `[N, H, W, 1]`; a 1-channel batch is its own luma (a clone). */
export function luma(x: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => (x.shape[3] === 1 ? tf.clone(x) : (tf.sum(tf.mul(x, tf.tensor1d([...LUMA])), 3, true) as tf.Tensor4D)));
}
