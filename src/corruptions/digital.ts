/**
 * The digital corruptions of ImageNet-C (paper.md §9.1): contrast, saturate, JPEG, pixelate and
 * the elastic transform.
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import { scaleSaturation } from './color.js';
import { level, type CorruptionFn } from './context.js';
import { jpegRoundTrip } from './jpeg.js';
import { boxResizeMatrix, gaussianMatrix } from './linear.js';
import { bilinearValues, clip01, separable, shapeOf, tensorOf, inputValues } from './planes.js';
import { homographyCoordinates, invert3 } from './sample.js';
import { randomUniformValues } from './seededDraws.js';

/** contrast factor per severity. */
export const CONTRAST = [0.4, 0.3, 0.2, 0.1, 0.05] as const;
/** saturate (scale, offset) of S in HSV per severity. */
export const SATURATE = [[0.3, 0], [0.1, 0], [2, 0], [5, 0.1], [20, 0.2]] as const;
/** JPEG quality per severity. */
export const JPEG_QUALITY = [25, 18, 15, 10, 7] as const;
/** pixelate: relative size of the down-sampled image per severity. */
export const PIXELATE = [0.6, 0.5, 0.4, 0.3, 0.25] as const;
/**
 * elastic_transform (α, σ, affine jitter) per severity, as multiples of S = 244·side/224 (ImageNet-C
 * writes them as multiples of 244 for 224-px images: "244 should have been 224").
 */
export const ELASTIC = [[2, 0.7, 0.1], [2, 0.08, 0.2], [0.05, 0.01, 0.02], [0.07, 0.01, 0.02], [0.12, 0.01, 0.02]] as const;

/** contrast: (x − mean)·c + mean, the mean per image and channel. */
export const contrast: CorruptionFn = (x, s, ctx) => {
  const factor = level(CONTRAST, s);
  const shape = shapeOf(x);
  const { n, h, w, c } = shape;
  const src = inputValues(x, ctx);
  const out = new Float32Array(src.length);
  const per = h * w * c;
  const means = new Float64Array(c);
  for (let b = 0; b < n; b++) {
    means.fill(0);
    const end = (b + 1) * per;
    if (c === 3) {
      let m0 = 0;
      let m1 = 0;
      let m2 = 0;
      for (let i = b * per; i < end; i += 3) {
        m0 += src[i]!;
        m1 += src[i + 1]!;
        m2 += src[i + 2]!;
      }
      means[0] = m0;
      means[1] = m1;
      means[2] = m2;
    } else for (let i = b * per; i < end; i += c) for (let k = 0; k < c; k++) means[k] = means[k]! + src[i + k]!;
    for (let k = 0; k < c; k++) means[k] = means[k]! / (h * w);
    for (let k = 0; k < c; k++) {
      const mean = means[k]!;
      for (let i = b * per + k; i < end; i += c) {
        const v = (src[i]! - mean) * factor + mean;
        out[i] = v < 0 ? 0 : v > 1 ? 1 : v;
      }
    }
  }
  return tensorOf(out, shape);
};

/** saturate: S ← clip(S·a + b) in HSV. */
export const saturate: CorruptionFn = (x, s, ctx) => {
  const [a, b] = level(SATURATE, s);
  return scaleSaturation(x, a, b, ctx.values);
};

/** jpeg_compression: libjpeg's baseline round trip (ISLOW DCT, 4:2:0) at the severity's quality. */
export const jpegCompression: CorruptionFn = (x, s, ctx) => jpegRoundTrip(x, level(JPEG_QUALITY, s), ctx.values);

/** pixelate: PIL BOX resize to ⌊c·H⌋ × ⌊c·W⌋ and BOX resize back. */
export const pixelate: CorruptionFn = (x, s, ctx) => {
  const c = level(PIXELATE, s);
  const shape = shapeOf(x);
  const { h, w } = shape;
  const hs = Math.max(1, Math.floor(h * c));
  const ws = Math.max(1, Math.floor(w * c));
  const small = separable(inputValues(x, ctx), shape, boxResizeMatrix(h, hs), boxResizeMatrix(w, ws));
  // no clip: box averages (non-negative weights summing to 1) of values in [0, 1] stay there
  return tensorOf(separable(small, { ...shape, h: hs, w: ws }, boxResizeMatrix(hs, h), boxResizeMatrix(ws, w)), shape);
};

/**
 * elastic_transform: a random affine warp (three points around the centre moved by U(−a, a);
 * bilinear, reflect-101 borders as cv2.warpAffine), then a displacement field (uniform noise
 * smoothed by a Gaussian of σ, truncate 3, times α) sampled bilinearly with symmetric borders
 * (scipy map_coordinates, mode 'reflect').
 */
export const elasticTransform: CorruptionFn = (x, s, ctx) => {
  const shape = shapeOf(x);
  const { n, h, w } = shape;
  const unit = (244 * Math.min(h, w)) / 224;
  const [alphaK, sigmaK, affineK] = level(ELASTIC, s);
  const alpha = alphaK * unit;
  const sigma = sigmaK * unit;
  const jitter = affineK * unit;
  const cx = Math.floor(w / 2);
  const cy = Math.floor(h / 2);
  const sq = Math.floor(Math.min(h, w) / 3);
  const from = [[cx + sq, cy + sq], [cx + sq, cy - sq], [cx - sq, cy - sq]] as const;
  const pinv = invert3(from.flatMap(([px, py]) => [px, py, 1]));
  const maps = Array.from({ length: n }, () => {
    const to = from.map(([px, py]) => [px + ctx.rng.uniform(-jitter, jitter), py + ctx.rng.uniform(-jitter, jitter)] as const);
    const solve = (k: 0 | 1) => [0, 1, 2].map((r) => pinv[r * 3]! * to[0]![k] + pinv[r * 3 + 1]! * to[1]![k] + pinv[r * 3 + 2]! * to[2]![k]);
    const forward = [...solve(0), ...solve(1), 0, 0, 1];
    return invert3(forward);
  });
  const seedX = ctx.rng.nextSeed();
  const seedY = ctx.rng.nextSeed();
  const grid = homographyCoordinates(n, h, w, maps);
  const affine = bilinearValues(inputValues(x, ctx), shape, grid.ys, grid.xs, h, w, 'reflect');
  const fieldShape = { n, h, w, c: 1 };
  const mh = gaussianMatrix(h, sigma, 'symmetric', 3);
  const mw = gaussianMatrix(w, sigma, 'symmetric', 3);
  const field = (seed: number): Float32Array => {
    const smooth = separable(randomUniformValues(n * h * w, -1, 1, seed), fieldShape, mh, mw);
    for (let i = 0; i < smooth.length; i++) smooth[i] = smooth[i]! * alpha;
    return smooth;
  };
  const dx = field(seedX);
  const dy = field(seedY);
  const ys = new Float32Array(n * h * w);
  const xs = new Float32Array(n * h * w);
  for (let b = 0; b < n; b++)
    for (let y = 0; y < h; y++)
      for (let xx = 0; xx < w; xx++) {
        const i = (b * h + y) * w + xx;
        ys[i] = y + dy[i]!;
        xs[i] = xx + dx[i]!;
      }
  return tensorOf(clip01(bilinearValues(affine, shape, ys, xs, h, w, 'symmetric')), shape);
};
