/**
 * Bilinear resampling of an NHWC batch at arbitrary (fractional) coordinates, with the border
 * rules of {@link BorderMode}: the building block of the elastic transform and of the geometric
 * perturbation sequences (translate, rotate, scale, shear, tilt).
 * @internal
 */
import type * as tf from '@tensorflow/tfjs-core';
import type { BorderMode } from './linear.js';
import { bilinearValues, shapeOf, tensorOf, valuesOf } from './planes.js';

/**
 * A projective map of output pixel (x, y) to the source pixel it reads: src = H·[x, y, 1] (the
 * inverse of the forward warp), given as 9 row-major numbers. Affine maps have a last row 0 0 1.
 */
export type Homography = readonly number[];

/** Source coordinates `[N, H, W]` of every output pixel, one homography per image. */
export function homographyCoordinates(n: number, h: number, w: number, maps: readonly Homography[]): { ys: Float32Array; xs: Float32Array } {
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
  return { ys, xs };
}

/** Warps each image by its source map (inverse homography) with bilinear sampling. */
export function warp(images: tf.Tensor4D, maps: readonly Homography[], mode: BorderMode): tf.Tensor4D {
  const s = shapeOf(images);
  const { ys, xs } = homographyCoordinates(s.n, s.h, s.w, maps);
  return tensorOf(bilinearValues(valuesOf(images), s, ys, xs, s.h, s.w, mode), s);
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
