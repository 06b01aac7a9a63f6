/**
 * Bilinear resampling of an NHWC batch at arbitrary (fractional) coordinates, with the border
 * rules of {@link BorderMode}: the building block of the elastic transform and of the geometric
 * perturbation sequences (translate, rotate, scale, shear, tilt).
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BorderMode } from './linear.js';

/** Folds integer-valued float indices into [0, n) (tensor version of `foldIndex`). */
function foldTensor(i: tf.Tensor, n: number, mode: BorderMode): tf.Tensor {
  if (mode === 'edge' || mode === 'zeros' || n === 1) return tf.clipByValue(i, 0, n - 1);
  if (mode === 'symmetric') {
    const m = tf.mod(i, 2 * n);
    return tf.where(tf.greaterEqual(m, n), tf.sub(2 * n - 1, m), m);
  }
  const m = tf.mod(i, 2 * n - 2);
  return tf.where(tf.greaterEqual(m, n), tf.sub(2 * n - 2, m), m);
}

/**
 * Samples `images` at rows `ys` and columns `xs` (both `[N, H', W']`, in pixel units, pixel
 * centres at integers) with bilinear interpolation.
 * @returns `[N, H', W', C]`, owned by the caller.
 */
export function sampleBilinear(images: tf.Tensor4D, ys: tf.Tensor3D, xs: tf.Tensor3D, mode: BorderMode): tf.Tensor4D {
  return tf.tidy(() => {
    const [n, h, w, c] = images.shape;
    const [, ho, wo] = ys.shape;
    const flat = tf.reshape(images, [n * h * w, c]);
    const base = tf.reshape(tf.mul(tf.range(0, n, 1, 'float32'), h * w), [n, 1, 1]);
    const y0 = tf.floor(ys);
    const x0 = tf.floor(xs);
    const fy = tf.sub(ys, y0);
    const fx = tf.sub(xs, x0);
    let out: tf.Tensor | null = null;
    for (const dy of [0, 1]) {
      for (const dx of [0, 1]) {
        const iy = dy ? tf.add(y0, 1) : y0;
        const ix = dx ? tf.add(x0, 1) : x0;
        let weight = tf.mul(dy ? fy : tf.sub(1, fy), dx ? fx : tf.sub(1, fx));
        if (mode === 'zeros') {
          const inside = tf.logicalAnd(tf.logicalAnd(tf.greaterEqual(iy, 0), tf.lessEqual(iy, h - 1)), tf.logicalAnd(tf.greaterEqual(ix, 0), tf.lessEqual(ix, w - 1)));
          weight = tf.mul(weight, tf.cast(inside, 'float32'));
        }
        const index = tf.cast(tf.add(base, tf.add(tf.mul(foldTensor(iy, h, mode), w), foldTensor(ix, w, mode))), 'int32');
        const values = tf.reshape(tf.gather(flat, tf.reshape(index, [-1])), [n, ho, wo, c]);
        const term = tf.mul(values, tf.expandDims(weight, 3));
        out = out === null ? term : tf.add(out, term);
      }
    }
    return out as tf.Tensor4D;
  });
}

/**
 * A projective map of output pixel (x, y) to the source pixel it reads: src = H·[x, y, 1] (the
 * inverse of the forward warp), given as 9 row-major numbers. Affine maps have a last row 0 0 1.
 */
export type Homography = readonly number[];

/** Source coordinates `[N, H, W]` of every output pixel, one homography per image. */
export function homographyGrid(n: number, h: number, w: number, maps: readonly Homography[]): { ys: tf.Tensor3D; xs: tf.Tensor3D } {
  const ys = new Float32Array(n * h * w);
  const xs = new Float32Array(n * h * w);
  for (let b = 0; b < n; b++) {
    const m = maps[b]!;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const zq = m[6]! * x + m[7]! * y + m[8]!;
        const at = (b * h + y) * w + x;
        xs[at] = (m[0]! * x + m[1]! * y + m[2]!) / zq;
        ys[at] = (m[3]! * x + m[4]! * y + m[5]!) / zq;
      }
    }
  }
  return { ys: tf.tensor3d(ys, [n, h, w]), xs: tf.tensor3d(xs, [n, h, w]) };
}

/** Warps each image by its source map (inverse homography) with bilinear sampling. */
export function warp(images: tf.Tensor4D, maps: readonly Homography[], mode: BorderMode): tf.Tensor4D {
  return tf.tidy(() => {
    const [n, h, w] = images.shape;
    const { ys, xs } = homographyGrid(n, h, w, maps);
    return sampleBilinear(images, ys, xs, mode);
  });
}

/** Inverse of a 3×3 row-major matrix. */
export function invert3(m: readonly number[]): number[] {
  const [a, b, c, d, e, f, g, h, i] = m as [number, number, number, number, number, number, number, number, number];
  const A = e * i - f * h;
  const B = -(d * i - f * g);
  const C = d * h - e * g;
  const det = a * A + b * B + c * C;
  return [A / det, -(b * i - c * h) / det, (b * f - c * e) / det, B / det, (a * i - c * g) / det, -(a * f - c * d) / det, C / det, -(a * h - b * g) / det, (a * e - b * d) / det];
}
