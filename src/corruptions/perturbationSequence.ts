import * as tf from '@tensorflow/tfjs-core';
import { InvalidArgumentError } from '../errors.js';
import { createRng, drawSeed, type Rng } from '../internal/random.js';
import { assertKnownKeys, assertNumber, assertOneOf, assertOptionalNumber, assertOptionsObject } from '../internal/validate.js';
import { shiftValue } from './color.js';
import { checkCorruptionImages, pixelScaleOf } from './corrupt.js';
import { gaussianBlurValues } from './blur.js';
import { luma, type BorderMode } from './linear.js';
import { motionBlur, motionBlurValues } from './motionBlur.js';
import { clip01, shapeOf, tensorOf, valuesOf } from './planes.js';
import { addGaussianNoise, addPoissonNoise, addSpeckleNoise } from './noise.js';
import { invert3, warp, type Homography } from './sample.js';
import { LIQUID_RGB, flowLayer, liquidLayer, liquidMask } from './spatter.js';
import { snowCompositeValues, snowLayerValues } from './weather.js';
import { entry } from '../internal/scope.js';

/**
 * The 14 perturbation types of the journal version's Benchmark-P (paper.md §9.2), in the order
 * of the paper's `make_robustness_p.py`.
 * @category Corruptions
 */
export const PERTURBATION_TYPES = [
  'gaussian_noise',
  'shot_noise',
  'motion_blur',
  'zoom_blur',
  'snow',
  'brightness',
  'translate',
  'rotate',
  'tilt',
  'scale',
  'speckle_noise',
  'gaussian_blur',
  'spatter',
  'shear',
] as const;

/**
 * One of the {@link PERTURBATION_TYPES}.
 * @category Corruptions
 */
export type PerturbationType = (typeof PERTURBATION_TYPES)[number];

/**
 * The noise types, whose frames are independent draws around the clean first frame; flip
 * probability compares them with frame 1 instead of the previous frame (paper.md §9.3).
 * @category Corruptions
 */
export const NOISE_PERTURBATIONS: readonly PerturbationType[] = ['gaussian_noise', 'shot_noise', 'speckle_noise'];

/**
 * An ImageNet-P difficulty: 1 (the paper's), 2 or 3.
 * @category Corruptions
 */
export type Difficulty = 1 | 2 | 3;

/** Validates a difficulty (1, 2 or 3). @internal */
export function checkDifficulty(fn: string, argument: string, value: unknown): Difficulty {
  return value === undefined ? 1 : (assertNumber(fn, argument, value, { integer: true, min: 1, max: 3 }) as Difficulty);
}

/**
 * Options of {@link perturbationSequence}.
 * @category Corruptions
 */
export interface PerturbationSequenceOptions {
  /**
   * Frames per sequence, T ≥ 2 (the paper: 10; ImageNet-P: 31).
   * @defaultValue 10
   */
  frames?: number;
  /**
   * How frame t = 0…T−1 maps to ImageNet-P's frame index i in the parameter formulas.
   * - `'centered'`: i = i₀ + t − (T−1)/2, where i₀ is the index at which the parameter is neutral
   *   (rotate, shear, tilt, brightness: 15; translate: 20; scale: 24, i.e. 100%; motion_blur: 30,
   *   angle 0°; snow: 15, falling straight down). The sequence then sweeps symmetrically around
   *   the clean image with ImageNet-P's step per frame (rotate: −4.5°…+4.5°).
   * - `'paper'`: i = t, the paper's code, which kept ImageNet-P's formulas for 31 (or 41) frames
   *   but made only 10, so ranges are one-sided (rotate −15°…−6°, translate −20…−11 px,
   *   scale 40%…62.5%) and never contain the clean image.
   * Types whose sweep starts at the clean image (noise, zoom_blur, gaussian_blur, spatter) are the
   * same in both.
   * @defaultValue 'centered'
   */
  indexing?: 'centered' | 'paper';
  /**
   * What the geometric types (translate, rotate, tilt, scale, shear) show where the warped image
   * does not reach: `'zeros'` (black, as PIL/cv2 fill), `'reflect'` or `'edge'`. The paper warps
   * a 256-px image and crops the central 224 px, so small moves reveal real image content; pass
   * larger images and crop afterwards to reproduce that.
   * @defaultValue 'zeros'
   */
  fill?: 'zeros' | 'reflect' | 'edge';
  /**
   * The seed of the random draws (noise, the snow layer, the liquid layer).
   * @defaultValue drawn at random
   */
  seed?: number;
  /**
   * The image side the pixel-valued parameters (motion-blur radius, translation, blur σ, liquid
   * smoothing) were written for; they are scaled by min(H, W)/referenceSize. See {@link CorruptOptions}.
   * @defaultValue undefined: the paper's pixel values (exact at 224 px)
   */
  referenceSize?: number;
  /**
   * ImageNet-P's difficulty. For the noise types it is the noise level of the frames, as
   * ImageNet-P's `gaussian_noise_2`/`_3` etc.: gaussian_noise σ = 0.03, 0.05, 0.08; shot_noise
   * λ = 300, 120, 60; speckle_noise σ = 0.05, 0.10, 0.15. The other types' frames do not change:
   * their difficulty is the frame distance of the flip probability (see {@link FlipProbabilityOptions}).
   * @defaultValue 1
   */
  difficulty?: Difficulty;
}

const KEYS = ['frames', 'indexing', 'fill', 'seed', 'referenceSize', 'difficulty'] as const;

/** ImageNet-P's noise levels per difficulty 1, 2, 3 (make_imagenet_p.py's `_2` and `_3` sets). */
export const NOISE_DIFFICULTY = {
  gaussian_noise: [0.03, 0.05, 0.08],
  shot_noise: [300, 120, 60],
  speckle_noise: [0.05, 0.1, 0.15],
} as const;

/** The neutral index i₀ of each type for 'centered' indexing (null: the sweep starts at t = 0). */
const ANCHOR: Record<PerturbationType, number | null> = {
  gaussian_noise: null,
  shot_noise: null,
  motion_blur: 30,
  zoom_blur: null,
  snow: 15,
  brightness: 15,
  translate: 20,
  rotate: 15,
  tilt: 15,
  scale: 24,
  speckle_noise: null,
  gaussian_blur: null,
  spatter: null,
  shear: 15,
};

const RAD = Math.PI / 180;

/**
 * The source map of torchvision's (0.2-era) `affine` about the image centre: a pixel p of the
 * output reads c + A⁻¹(p − c − t), with A = s·[[cos a, −sin(a+φ)], [sin a, cos(a+φ)]].
 */
function affineSource(h: number, w: number, angle: number, tx: number, ty: number, scale: number, shear: number): Homography {
  const a = angle * RAD;
  const s = shear * RAD;
  const k = 1 / (scale * Math.cos(s));
  const m = [Math.cos(a + s) * k, Math.sin(a + s) * k, -Math.sin(a) * k, Math.cos(a) * k];
  const cx = (w - 1) / 2;
  const cy = (h - 1) / 2;
  const ox = -cx - tx;
  const oy = -cy - ty;
  return [m[0]!, m[1]!, m[0]! * ox + m[1]! * oy + cx, m[2]!, m[3]!, m[2]! * ox + m[3]! * oy + cy, 0, 0, 1];
}

/** ImageNet-P's tilt: the source map of the perspective P2·T·RX(θ)·RY(φ)·P1 with f = √(w² + h²). */
function tiltSource(h: number, w: number, degrees: number): Homography {
  const t = degrees * RAD;
  const f = Math.sqrt(w * w + h * h);
  const mul = (a: number[][], b: number[][]) => a.map((row) => b[0]!.map((_, j) => row.reduce((acc, v, k) => acc + v * b[k]![j]!, 0)));
  const P1 = [[1, 0, -w / 2], [0, 1, -h / 2], [0, 0, 1], [0, 0, 1]];
  const RX = [[1, 0, 0, 0], [0, Math.cos(t), -Math.sin(t), 0], [0, Math.sin(t), Math.cos(t), 0], [0, 0, 0, 1]];
  const RY = [[Math.cos(t), 0, -Math.sin(t), 0], [0, 1, 0, 0], [Math.sin(t), 0, Math.cos(t), 0], [0, 0, 0, 1]];
  const T = [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, f], [0, 0, 0, 1]];
  const P2 = [[f, 0, w / 2, 0], [0, f, h / 2, 0], [0, 0, 1, 0]];
  const forward = mul(mul(mul(mul(P2, T), RX), RY), P1);
  return invert3(forward.flat());
}

function geometric(x: tf.Tensor4D, map: Homography, fill: BorderMode): tf.Tensor4D {
  return warp(x, new Array<Homography>(x.shape[0]).fill(map), fill);
}

/** Builds frame t (parameter index i) of a sequence. */
type FrameFn = (t: number, i: number) => tf.Tensor4D;

/** A frame builder, and what it holds between frames (freed once the sequence is built). */
interface FrameMaker {
  frame: FrameFn;
  dispose(): void;
}

const nothing = (): void => undefined;

function framesOf(type: PerturbationType, x: tf.Tensor4D, rng: Rng, pixelScale: number, fill: BorderMode, difficulty: Difficulty): FrameMaker {
  const make = (frame: FrameFn): FrameMaker => ({ frame, dispose: nothing });
  const [n, h, w, c] = x.shape;
  switch (type) {
    case 'gaussian_noise':
      return make((t) => (t === 0 ? tf.clone(x) : addGaussianNoise(x, NOISE_DIFFICULTY.gaussian_noise[difficulty - 1]!, rng)));
    case 'shot_noise':
      return make((t) => (t === 0 ? tf.clone(x) : addPoissonNoise(x, NOISE_DIFFICULTY.shot_noise[difficulty - 1]!, rng)));
    case 'speckle_noise':
      return make((t) => (t === 0 ? tf.clone(x) : addSpeckleNoise(x, NOISE_DIFFICULTY.speckle_noise[difficulty - 1]!, rng)));
    case 'motion_blur':
      return make((_t, i) => tf.tidy(() => tf.clipByValue(motionBlur(x, 10 * pixelScale, 3 * pixelScale, new Array<number>(n).fill((i - 30) * 4)), 0, 1) as tf.Tensor4D));
    case 'zoom_blur': {
      // running sum of the zooms 1 + 0.004k, k = 0…t (frames are built in order)
      let sum: tf.Tensor4D = tf.clone(x);
      return {
        frame: (t) => {
          if (t > 0) {
            const next = tf.tidy(() => tf.add(sum, geometric(x, affineSource(h, w, 0, 0, 0, 1 + 0.004 * t, 0), 'edge')) as tf.Tensor4D);
            sum.dispose();
            sum = next;
          }
          return tf.tidy(() => tf.clipByValue(tf.div(sum, t + 1), 0, 1) as tf.Tensor4D);
        },
        dispose: () => sum.dispose(),
      };
    }
    case 'snow': {
      const still = snowLayerValues(n, h, w, 0.05, 0.3, 3, 0.5, rng);
      const shape = shapeOf(x);
      const values = valuesOf(x);
      return make((_t, i) => {
        const moving = motionBlurValues(still, { n, h, w, c: 1 }, 14 * pixelScale, 4 * pixelScale, new Array<number>(n).fill(4 * i - 150));
        return tensorOf(snowCompositeValues(values, shape, moving, 0.85), shape);
      });
    }
    case 'brightness':
      return make((_t, i) => shiftValue(x, ((i - 15) * 2) / 100));
    case 'translate':
      return make((_t, i) => geometric(x, affineSource(h, w, 0, (i - 20) * pixelScale, 0, 1, 0), fill));
    case 'rotate':
      return make((_t, i) => geometric(x, affineSource(h, w, i - 15, 0, 0, 1, 0), fill));
    case 'tilt':
      return make((_t, i) => geometric(x, tiltSource(h, w, i - 15), fill));
    case 'scale':
      return make((_t, i) => geometric(x, affineSource(h, w, 0, 0, 0, (i * 2.5 + 40) / 100, 0), fill));
    case 'shear':
      return make((_t, i) => geometric(x, affineSource(h, w, 0, 0, 0, 1, i - 15), fill));
    case 'gaussian_blur':
      return make((_t, i) => tensorOf(clip01(gaussianBlurValues(valuesOf(x), shapeOf(x), (0.25 + 0.035 * i) * pixelScale, 'edge', 6)), shapeOf(x)));
    case 'spatter': {
      let layers = Array.from({ length: n }, () => liquidLayer(rng, h, w, pixelScale));
      return make(() => {
        const masks = new Float32Array(n * h * w);
        layers.forEach((layer, b) => masks.set(liquidMask(layer, h, w), b * h * w));
        layers = layers.map((layer) => flowLayer(layer, h, w));
        return tf.tidy(() => {
          const mask = tf.tensor4d(masks, [n, h, w, 1]);
          const colour = c === 3 ? tf.tensor1d([...LIQUID_RGB]) : tf.squeeze(luma(tf.reshape(tf.tensor1d([...LIQUID_RGB]), [1, 1, 1, 3])), [0, 1, 2]);
          return tf.clipByValue(tf.add(x, tf.mul(mask, colour)), 0, 1) as tf.Tensor4D;
        });
      });
    }
  }
}


/**
 * Builds the perturbation sequences of the journal version's Benchmark-P (paper.md §9.2;
 * Hendrycks & Dietterich's ImageNet-P with 10 frames instead of 31): for every image, T frames
 * whose perturbation changes a little from one frame to the next. Frame formulas, with frame
 * index i (see `indexing`):
 * - gaussian_noise: frame 0 clean, then clip(x + 0.03·N(0, 1)), fresh noise per frame;
 * - shot_noise: frame 0 clean, then Poisson(300x)/300; speckle_noise: frame 0 clean, then
 *   clip(x + x·N(0, 0.05²)) (at `difficulty` 2 and 3: σ 0.05 and 0.08, λ 120 and 60, σ 0.10 and
 *   0.15, ImageNet-P's harder noise sets);
 * - motion_blur: radius 10, σ 3, angle (i − 30)·4°; gaussian_blur: σ = 0.25 + 0.035i
 *   (truncate 6); zoom_blur: frame i is the mean of zooms by 1 + 0.004k, k = 0…i;
 * - snow: one fixed snow layer (N(0.05, 0.3), zoom 3, threshold 0.5) blurred along angle
 *   4i − 150° (radius 14, σ 4), over 0.85x + 0.15·max(x, 1.5·grey + 0.5);
 * - brightness: V + (i − 15)·0.02 in HSV;
 * - translate: (i − 20) px to the right; rotate: (i − 15)°; shear: (i − 15)°; scale:
 *   (2.5i + 40)% — torchvision's affine about the centre, bilinear; tilt: ImageNet-P's
 *   perspective with φ = θ = (i − 15)°;
 * - spatter: a liquid layer flowing down the image (see the `spatter` notes in the source).
 *
 * @param images - NHWC float32 `[N, H, W, C]` in [0, 1], C = 1 or 3; borrowed.
 * @param type - one of {@link PERTURBATION_TYPES}.
 * @param options - see {@link PerturbationSequenceOptions}; unknown keys are rejected.
 * @returns the sequences `[N, T, H, W, C]` in [0, 1], a new rank-5 tensor owned by the caller;
 *   `tf.reshape(seq, [N*T, H, W, C])` feeds them to a model in one call.
 * @throws {InvalidArgumentError} for images that are not rank-4 float32 in [0, 1] with 1 or 3
 *   channels, an unknown type, frames < 2 or not an integer, a bad indexing, fill, seed,
 *   referenceSize or difficulty, or an unknown option.
 *
 * @example
 * ```ts
 * const seq = perturbationSequence(images, 'rotate', { frames: 10, seed: 1 }); // [N, 10, H, W, C]
 * const logits = model(tf.reshape(seq, [-1, H, W, C]) as tf.Tensor4D);
 * ```
 * @category Corruptions
 */
export function perturbationSequence(images: tf.Tensor4D, type: PerturbationType, options: PerturbationSequenceOptions = {}): tf.Tensor5D {
  return entry('perturbationSequence', () => {
    const fn = 'perturbationSequence';
    const x = checkCorruptionImages(fn, images);
    const kind = checkPerturbationType(fn, 'type', type);
    const o = assertOptionsObject(fn, options);
    assertKnownKeys(fn, o, KEYS);
    const frames = o.frames === undefined ? 10 : assertNumber(fn, 'options.frames', o.frames, { integer: true, min: 2 });
    const indexing = assertOneOf(fn, 'options.indexing', o.indexing, ['centered', 'paper'] as const) ?? 'centered';
    const fill = assertOneOf(fn, 'options.fill', o.fill, ['zeros', 'reflect', 'edge'] as const) ?? 'zeros';
    const seed = assertOptionalNumber(fn, 'options.seed', o.seed, { integer: true, min: 0 }) ?? drawSeed();
    const pixelScale = pixelScaleOf(fn, 'options.referenceSize', o.referenceSize, x);
    const difficulty = checkDifficulty(fn, 'options.difficulty', o.difficulty);
    const anchor = ANCHOR[kind];
    const index = (t: number) => (indexing === 'centered' && anchor !== null ? anchor + t - (frames - 1) / 2 : t);
    const maker = framesOf(kind, x, createRng(seed), pixelScale, fill, difficulty);
    const out: tf.Tensor4D[] = [];
    try {
      for (let t = 0; t < frames; t++) out.push(maker.frame(t, index(t)));
      return tf.stack(out, 1) as tf.Tensor5D;
    } finally {
      tf.dispose(out);
      maker.dispose();
    }
  });
}

/** Validates a perturbation type name. @internal */
export function checkPerturbationType(fn: string, argument: string, type: unknown): PerturbationType {
  if (type === undefined) throw new InvalidArgumentError(fn, argument, `one of ${PERTURBATION_TYPES.map((t) => `'${t}'`).join(', ')}`, 'undefined');
  return assertOneOf(fn, argument, type, PERTURBATION_TYPES)!;
}
