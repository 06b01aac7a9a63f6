import type * as tf from '@tensorflow/tfjs-core';
import { InvalidArgumentError } from '../errors.js';
import { createRng, drawSeed } from '../internal/random.js';
import { assertImageValues, assertImages, assertKnownKeys, assertNumber, assertOneOf, assertOptionalNumber, assertOptionsObject } from '../internal/validate.js';
import { CORRUPTION_TYPES, CORRUPTIONS, type CorruptionType, type Severity } from './corruptionTypes.js';
import { entry } from '../internal/scope.js';
import { valuesOf } from './planes.js';

/**
 * Options of {@link corrupt}.
 * @category Corruptions
 */
export interface CorruptOptions {
  /** The severity, 1 (mild) to 5 (strong). Required. */
  severity: Severity;
  /**
   * The seed of every random draw (noise, angles, textures, displacement fields). The same seed,
   * images and options give the same result on every backend.
   * @defaultValue drawn at random
   */
  seed?: number;
  /**
   * The image side the pixel-valued parameters were written for. ImageNet-C's blur σ, kernel radii,
   * glass-blur shifts and snow-streak lengths are in pixels of 224-px images; with `referenceSize:
   * 224` they are scaled by min(H, W)/224, so a 28-px image looks corrupted as a 224-px one would.
   * Relative parameters (zooms, pixelate, fog, frost, elastic) never need it.
   * @defaultValue undefined: the paper's pixel values as they are (exact at 224 px)
   */
  referenceSize?: number;
}

const KEYS = ['severity', 'seed', 'referenceSize'] as const;

/** Validates the common corruption arguments; returns the pixel scale. @internal */
export function checkCorruptionImages(fn: string, images: unknown): tf.Tensor4D {
  const x = assertImages(fn, 'images', images);
  const c = x.shape[3];
  if (c !== 1 && c !== 3) throw new InvalidArgumentError(fn, 'images', 'NHWC images with 1 (grey) or 3 (RGB) channels', `shape [${x.shape.join(',')}]`);
  assertImageValues(fn, 'images', x, [0, 1]);
  return x;
}

/**
 * {@link checkCorruptionImages} on values read once: the shape checks, then one pass over the
 * values for NaN/Infinity and the [0, 1] range (the same errors as `assertImageValues`, without
 * its tensor reductions). @returns the tensor and its values (read-only). @internal
 */
export function checkCorruptionValues(fn: string, images: unknown): { x: tf.Tensor4D; values: Float32Array } {
  const x = assertImages(fn, 'images', images);
  const c = x.shape[3];
  if (c !== 1 && c !== 3) throw new InvalidArgumentError(fn, 'images', 'NHWC images with 1 (grey) or 3 (RGB) channels', `shape [${x.shape.join(',')}]`);
  const values = valuesOf(x);
  const tol = 1e-6;
  // the common case in one compare per value (NaN fails both comparisons); the statistics and
  // messages below only where some value is out of range
  let inRange = true;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!(v >= -tol && v <= 1 + tol)) {
      inRange = false;
      break;
    }
  }
  if (inRange) return { x, values };
  // Math.min/max (NaN propagates): a NaN or an infinity leaves lo or hi non-finite
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < values.length; i++) {
    lo = Math.min(lo, values[i]!);
    hi = Math.max(hi, values[i]!);
  }
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) {
    let bad = 0;
    for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i]!)) bad++;
    throw new InvalidArgumentError(fn, 'images', 'finite values (no NaN or Infinity)', `${bad} non-finite values`);
  }
  if (lo < -tol || hi > 1 + tol) {
    // the first channel out of range, as the per-channel check reports it
    for (let k = 0; k < c; k++) {
      let mn = Infinity;
      let mx = -Infinity;
      for (let i = k; i < values.length; i += c) {
        mn = Math.min(mn, values[i]!);
        mx = Math.max(mx, values[i]!);
      }
      if (mn < -tol || mx > 1 + tol) throw new InvalidArgumentError(fn, 'images', `values inside the clip range [0, 1] (channel ${k}); pass a matching options.clip, or clip: null`, `values in [${mn}, ${mx}]`);
    }
  }
  return { x, values };
}

/** Validates a corruption type name. @internal */
export function checkCorruptionType(fn: string, argument: string, type: unknown): CorruptionType {
  if (type === undefined) throw new InvalidArgumentError(fn, argument, `one of ${CORRUPTION_TYPES.map((t) => `'${t}'`).join(', ')}`, 'undefined');
  return assertOneOf(fn, argument, type, CORRUPTION_TYPES)!;
}

/** Validates a severity. @internal */
export function checkSeverity(fn: string, argument: string, value: unknown): Severity {
  return assertNumber(fn, argument, value, { integer: true, min: 1, max: 5 }) as Severity;
}

/** The pixel scale of `referenceSize` for these images. @internal */
export function pixelScaleOf(fn: string, argument: string, referenceSize: unknown, images: tf.Tensor4D): number {
  const ref = assertOptionalNumber(fn, argument, referenceSize, { min: 0, minExclusive: true });
  return ref === undefined ? 1 : Math.min(images.shape[1], images.shape[2]) / ref;
}

/**
 * Applies one of the 18 common corruptions of the journal version's Benchmark-C (paper.md §9.1;
 * Hendrycks & Dietterich, ICLR 2019, "ImageNet-C") at a severity from 1 to 5, with ImageNet-C's
 * parameters:
 * - noise: gaussian_noise clip(x + N(0, σ²)), σ = .08….38; shot_noise Poisson(λx)/λ, λ = 60…3;
 *   impulse_noise salt and pepper on .03….27 of the values; speckle_noise clip(x + x·N(0, σ²)),
 *   σ = .15….6;
 * - blur: gaussian_blur σ = 1…6; glass_blur (blur, local pixel shuffle as the reference's loop
 *   does it, blur); defocus_blur (anti-aliased disk, radius 3…10); motion_blur (ImageMagick's
 *   line kernel, radius 10…20, random angle ±45°, reading along the angle as ImageMagick does);
 *   zoom_blur (mean of central zooms up to 1.11…1.30);
 * - weather: snow (ImageNet-C's recipe, motion-blurred snow layer); frost (a procedural frost
 *   texture instead of the photographs, see below); fog (plasma fractal by diamond-square);
 *   brightness (V + .1….5 in HSV);
 * - digital: contrast ×.4….05 around the mean; saturate (S·a + b in HSV); jpeg_compression
 *   (libjpeg's baseline round trip at quality 25…7 as Pillow runs it: integer DCT, IJG tables,
 *   4:2:0 chroma; bit-exact with Pillow 9 / libjpeg-turbo 2.1); pixelate (PIL BOX down to
 *   .6….25 and back); elastic_transform (random affine plus smoothed displacement field).
 *
 * Differences from ImageNet-C, all deliberate: no 8-bit rounding between steps (only JPEG works
 * on 8-bit values; the reference floors glass_blur's first blur and rounds the snow layer to 8
 * bits, and Pillow rounds pixelate's passes, so those three differ by up to one grey level); frost
 * uses a generated texture (haze from a plasma fractal plus branching ice needles, tinted
 * blue-white) because image files cannot ship with the library. On 1-channel (grey) images the
 * HSV-based corruptions treat the image as grey RGB and return its luma: brightness is
 * clip(x + c), saturate is the identity at severities 1–3 and (by skimage's hue-0 rule for grey
 * pixels) a darkening by 7% and 14% at 4 and 5; snow uses the image itself as grey level; frost
 * is untinted; JPEG codes a greyscale JPEG. docs/guides/corruptions.md lists each corruption's
 * measured parity with a numpy/OpenCV port of imagecorruptions.
 *
 * Severity is monotone for most types, but not all, as in ImageNet-C: saturate desaturates at
 * 1–2 and oversaturates at 3–5, elastic_transform uses large affine jitter at 1–2 and a
 * local displacement field at 3–5, snow at 3 (fewer, larger flakes: threshold .9) can be
 * closer to the clean image than at 2, and glass_blur at 2 (one pass of ±2 px) and 4 (two passes
 * of ±3 px) can be closer than at 1 (two passes of ±1 px) and 3 (three passes of ±2 px).
 *
 * @param images - NHWC float32 `[N, H, W, C]` in [0, 1] with C = 1 or 3, any size (the paper
 *   uses 224×224). Borrowed: never disposed nor modified.
 * @param type - one of {@link CORRUPTION_TYPES}.
 * @param options - see {@link CorruptOptions}; `severity` is required, unknown keys are rejected.
 * @returns the corrupted images `[N, H, W, C]` in [0, 1], a new tensor owned by the caller.
 * @throws {InvalidArgumentError} for images that are not rank-4 float32 with 1 or 3 channels or
 *   have values outside [0, 1] or NaN, an unknown type, a severity outside 1…5 or not an integer,
 *   a bad seed or referenceSize, or an unknown option.
 *
 * @example
 * ```ts
 * const foggy = corrupt(images, 'fog', { severity: 3, seed: 1 }); // same shape, values in [0, 1]
 * const predicted = tf.argMax(model(foggy), 1);
 * foggy.dispose();
 * ```
 * @category Corruptions
 */
export function corrupt(images: tf.Tensor4D, type: CorruptionType, options: CorruptOptions): tf.Tensor4D {
  return entry('corrupt', () => {
    const fn = 'corrupt';
    const { x, values } = checkCorruptionValues(fn, images);
    const kind = checkCorruptionType(fn, 'type', type);
    if (options === undefined) throw new InvalidArgumentError(fn, 'options', 'an options object with a severity from 1 to 5', 'undefined');
    const o = assertOptionsObject(fn, options);
    assertKnownKeys(fn, o, KEYS);
    const severity = checkSeverity(fn, 'options.severity', o.severity);
    const seed = assertOptionalNumber(fn, 'options.seed', o.seed, { integer: true, min: 0 }) ?? drawSeed();
    const pixelScale = pixelScaleOf(fn, 'options.referenceSize', o.referenceSize, x);
    return CORRUPTIONS[kind](x, severity, { rng: createRng(seed), pixelScale, values });
  });
}
