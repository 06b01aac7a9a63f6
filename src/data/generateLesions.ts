import * as tf from '@tensorflow/tfjs-core';
import { createRng, drawSeed } from '../internal/random.js';
import { assertKnownKeys, assertNumber, assertOptionalNumber, assertOptionsObject } from '../internal/validate.js';
import { mixSeed, type LabeledImages } from './batchesFromTensors.js';
import { clamp01, inside, mix3, valueNoise } from './render.js';
import { entry } from '../internal/scope.js';

/**
 * Options of {@link generateLesions}.
 * @category Data
 */
export interface GenerateLesionsOptions {
  /** How many images to make. Required. */
  count: number;
  /**
   * Side of the square images in pixels (16 to 256).
   * @defaultValue 28
   */
  size?: number;
  /**
   * Seed of the set: image i depends only on (seed, i), so a larger `count` extends a smaller one.
   * Use different seeds for the training and the test set.
   * @defaultValue drawn at random
   */
  seed?: number;
  /**
   * Probability that an image is malignant.
   * @defaultValue 0.5
   */
  malignantFraction?: number;
}

/**
 * The result of {@link generateLesions}.
 * @category Data
 */
export interface GeneratedLesions extends LabeledImages {
  /** The seed used (drawn when none was given), to regenerate the set. */
  readonly seed: number;
}

const SKIN_LIGHT = [0.93, 0.8, 0.7];
const SKIN_DARK = [0.72, 0.53, 0.41];
const BROWN_LIGHT = [0.62, 0.43, 0.3];
const BROWN_DARK = [0.38, 0.24, 0.16];
const VARIEGATION = [
  [0.12, 0.08, 0.08], // black
  [0.42, 0.48, 0.6], // blue-gray (regression)
  [0.66, 0.28, 0.26], // red
  [0.82, 0.68, 0.58], // white-tan (scar-like)
];

function renderLesion(out: Float32Array, offset: number, size: number, malignant: boolean, seed: number): void {
  const rng = createRng(seed);
  const tone = rng.next();
  const skin = mix3(SKIN_LIGHT, SKIN_DARK, tone);
  const skinNoise = valueNoise(rng, 4);
  const fine = valueNoise(rng, 9);
  const cx = 0.5 + rng.uniform(-0.08, 0.08);
  const cy = 0.5 + rng.uniform(-0.08, 0.08);
  const radius = rng.uniform(0.17, 0.3);
  const aspect = rng.uniform(0.8, 1.2);
  const rot = rng.uniform(0, Math.PI);
  // Border: r(φ) = R (1 + Σ A_k cos(kφ + p_k)). Benign: an almost smooth ellipse; malignant: an
  // irregular, asymmetric border (the B of the ABCD rule) and several colours (the C).
  const harmonics: Array<[number, number, number]> = [];
  const irregularity = malignant ? rng.uniform(0.14, 0.3) : rng.uniform(0, 0.06);
  for (let k = 2; k <= 7; k++) {
    harmonics.push([k, irregularity * rng.uniform(0.3, 1) / Math.sqrt(k - 1), rng.uniform(0, 2 * Math.PI)]);
  }
  const base = mix3(BROWN_LIGHT, BROWN_DARK, rng.next());
  const blobs: Array<{ x: number; y: number; r: number; color: readonly number[] }> = [];
  const nBlobs = malignant ? rng.nextInt(2, 3) : 0;
  for (let b = 0; b < nBlobs; b++) {
    const a = rng.uniform(0, 2 * Math.PI);
    const d = rng.uniform(0, 0.6) * radius;
    blobs.push({ x: cx + d * Math.cos(a), y: cy + d * Math.sin(a), r: rng.uniform(0.3, 0.55) * radius, color: VARIEGATION[rng.nextInt(0, VARIEGATION.length - 1)]! });
  }
  const hairs: Array<[number, number, number, number]> = [];
  const nHairs = rng.next() < 0.3 ? rng.nextInt(1, 2) : 0;
  for (let h = 0; h < nHairs; h++) {
    const a = rng.uniform(0, Math.PI);
    hairs.push([Math.cos(a), Math.sin(a), rng.uniform(-0.4, 0.4), rng.uniform(-0.5, 0.5)]);
  }
  const edge = (malignant ? rng.uniform(0.01, 0.03) : 0.012) + 0.5 / size;
  const cosR = Math.cos(rot);
  const sinR = Math.sin(rot);
  for (let py = 0; py < size; py++) {
    for (let px = 0; px < size; px++) {
      const u = (px + 0.5) / size;
      const v = (py + 0.5) / size;
      const sn = skinNoise(u, v) * 0.035 + fine(u, v) * 0.015;
      let c = [skin[0] + sn, skin[1] + sn, skin[2] + sn];
      // lesion
      const dx = u - cx;
      const dy = v - cy;
      const ex = (dx * cosR + dy * sinR) / aspect;
      const ey = (-dx * sinR + dy * cosR) * aspect;
      const rho = Math.hypot(ex, ey);
      const phi = Math.atan2(ey, ex);
      let border = 1;
      for (const [k, amp, ph] of harmonics) border += amp * Math.cos(k * phi + ph);
      const w = inside(rho - radius * border, edge);
      if (w > 0) {
        // darker toward the centre, with a little texture
        let lc = mix3(base, BROWN_DARK, 0.35 * (1 - Math.min(1, rho / radius)));
        for (const b of blobs) {
          const bw = inside(Math.hypot(u - b.x, v - b.y) - b.r, b.r * 0.5);
          if (bw > 0) lc = mix3(lc, b.color, 0.85 * bw);
        }
        const t = fine(u * 1.7, v * 1.7) * 0.04;
        c = mix3(c, [lc[0] + t, lc[1] + t, lc[2] + t], w);
      }
      for (const [hx, hy, off, bend] of hairs) {
        const d = Math.abs((u - 0.5) * -hy + (v - 0.5) * hx - off - bend * ((u - 0.5) * hx + (v - 0.5) * hy) ** 2);
        const hw = inside(d - 0.006, 0.5 / size);
        if (hw > 0) c = mix3(c, [0.2, 0.14, 0.1], 0.8 * hw);
      }
      // dermoscope vignette
      const r2 = (u - 0.5) ** 2 + (v - 0.5) ** 2;
      const vig = 1 - 0.5 * Math.max(0, r2 - 0.2);
      const o = offset + (py * size + px) * 3;
      out[o] = clamp01(c[0]! * vig);
      out[o + 1] = clamp01(c[1]! * vig);
      out[o + 2] = clamp01(c[2]! * vig);
    }
  }
}

/**
 * Generated dermoscopy-like images, the embedded single-label demo set: a textured skin
 * background with one pigmented lesion. Benign lesions are near-elliptical and of one brown;
 * malignant ones have an irregular, asymmetric border and several colours (black, blue-gray, red,
 * white), in the spirit of the ABCD rule. Hairs and vignetting appear in both classes. Pure
 * TypeScript, deterministic from the seed (no tfjs random ops), and learnable by a small CNN.
 *
 * @param options - see {@link GenerateLesionsOptions}.
 * @returns float32 images `[count, size, size, 3]` in [0, 1], int32 labels `[count]`
 *   (0 = benign, 1 = malignant), task 'single-label', classNames ['benign', 'malignant'], and the
 *   seed; the caller owns the tensors.
 * @throws {InvalidArgumentError} for a count that is not a positive integer, a size outside
 *   [16, 256], a fraction outside [0, 1] or an unknown option.
 *
 * @example
 * ```ts
 * const train = generateLesions({ count: 512, seed: 1 });
 * const test = generateLesions({ count: 256, seed: 2 });
 * ```
 * @category Data
 */
export function generateLesions(options: GenerateLesionsOptions): GeneratedLesions {
  return entry('generateLesions', () => {
    const fn = 'generateLesions';
    const o = assertOptionsObject(fn, options);
    assertKnownKeys(fn, o, ['count', 'size', 'seed', 'malignantFraction']);
    const count = assertNumber(fn, 'options.count', o.count, { min: 1, integer: true });
    const size = assertNumber(fn, 'options.size', o.size ?? 28, { min: 16, max: 256, integer: true });
    const seed = (assertOptionalNumber(fn, 'options.seed', o.seed, { integer: true }) ?? drawSeed()) >>> 0;
    const fraction = assertNumber(fn, 'options.malignantFraction', o.malignantFraction ?? 0.5, { min: 0, max: 1 });
    const pixels = new Float32Array(count * size * size * 3);
    const labels = new Int32Array(count);
    for (let i = 0; i < count; i++) {
      const s = mixSeed(seed, i);
      const malignant = createRng(s ^ 0x5bd1e995).next() < fraction;
      labels[i] = malignant ? 1 : 0;
      renderLesion(pixels, i * size * size * 3, size, malignant, s);
    }
    return {
      images: tf.tensor4d(pixels, [count, size, size, 3], 'float32'),
      labels: tf.tensor1d(labels, 'int32'),
      task: 'single-label',
      classNames: ['benign', 'malignant'],
      seed,
    };
  });
}
