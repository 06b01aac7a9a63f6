import * as tf from '@tensorflow/tfjs-core';
import { InvalidArgumentError } from '../errors.js';
import { createRng, drawSeed } from '../internal/random.js';
import { assertBoolean, assertImages, assertKnownKeys, assertNumber, assertOptionalNumber, assertOptionsObject } from '../internal/validate.js';
import { entry } from '../internal/scope.js';

/**
 * A preprocessing pipeline, applied in this fixed order (torchvision's transforms of the paper,
 * paper.md §2): ratioCenterCrop → resize | resizeShorter → centerCrop | randomCrop → rotate90 →
 * rotation → horizontalFlip → verticalFlip. Values stay in [0, 1]: mean/std normalisation belongs
 * in the model (see {@link PaperPreset.normalization}). Every field is optional.
 * @category Data
 */
export interface PreprocessSpec {
  /** Centre square crop of side ratio·min(H, W) (the paper's RatioCenterCrop(0.8)). */
  readonly ratioCenterCrop?: number;
  /** Resize to size×size (bilinear), or to [height, width]. */
  readonly resize?: number | readonly [number, number];
  /** Resize so that the shorter side has this length, keeping the aspect ratio (torchvision's Resize(int)). */
  readonly resizeShorter?: number;
  /** Centre crop to size×size. */
  readonly centerCrop?: number;
  /** Crop size×size at a random position (uniform per image). */
  readonly randomCrop?: number;
  /** Rotate by a random multiple of 90° (square images only). */
  readonly rotate90?: boolean;
  /** Rotate by an angle uniform in [−rotation, rotation] degrees (bilinear, black fill). */
  readonly rotation?: number;
  /** Mirror left-right with probability ½. */
  readonly horizontalFlip?: boolean;
  /** Mirror top-bottom with probability ½. */
  readonly verticalFlip?: boolean;
}

/**
 * A paper data set's preprocessing: the training and the test pipelines and the mean/std the
 * model normalises with.
 * @category Data
 */
export interface PaperPreset {
  /** The training pipeline (with augmentation). */
  readonly train: PreprocessSpec;
  /** The test/attack pipeline (deterministic). */
  readonly test: PreprocessSpec;
  /** Per-channel mean and std, to build into the model (e.g. `denseNet121({ normalization })`). */
  readonly normalization: {
    /** Per-channel mean. */ readonly mean: readonly number[];
    /** Per-channel standard deviation. */ readonly std: readonly number[]
  };
}

/**
 * The paper's preprocessing presets (paper.md §2): ISIC 2016 (RatioCenterCrop(0.8), resize 256,
 * crop 224; training adds a random crop, 90° rotations and flips; ISIC mean/std), Messidor (resize
 * 299; training adds ±20° rotations and flips; the CIFAR-10 mean/std the authors reused) and
 * ChestX-ray14 (resize the shorter side to 256, centre crop 224, no augmentation; ImageNet mean/std).
 * @category Data
 */
export const PAPER_PRESETS: Readonly<Record<'isic2016' | 'messidor' | 'chestXray14', PaperPreset>> = {
  isic2016: {
    test: { ratioCenterCrop: 0.8, resize: 256, centerCrop: 224 },
    train: { ratioCenterCrop: 0.8, resize: 256, randomCrop: 224, rotate90: true, horizontalFlip: true, verticalFlip: true },
    normalization: { mean: [0.7012, 0.5517, 0.4875], std: [0.0942, 0.1331, 0.1521] },
  },
  messidor: {
    test: { resize: 299 },
    train: { resize: 299, rotation: 20, horizontalFlip: true, verticalFlip: true },
    normalization: { mean: [0.4914, 0.4822, 0.4465], std: [0.2023, 0.1994, 0.201] },
  },
  chestXray14: {
    test: { resizeShorter: 256, centerCrop: 224 },
    train: { resizeShorter: 256, centerCrop: 224 },
    normalization: { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] },
  },
};

const SPEC_KEYS = ['ratioCenterCrop', 'resize', 'resizeShorter', 'centerCrop', 'randomCrop', 'rotate90', 'rotation', 'horizontalFlip', 'verticalFlip'];

/** Validates a {@link PreprocessSpec} (all fields optional). */
export function assertPreprocessSpec(fn: string, argument: string, spec: unknown): PreprocessSpec {
  const s = assertOptionsObject(fn, spec);
  assertKnownKeys(fn, s, SPEC_KEYS, argument);
  assertOptionalNumber(fn, `${argument}.ratioCenterCrop`, s.ratioCenterCrop, { min: 0, minExclusive: true, max: 1 });
  if (Array.isArray(s.resize)) {
    if (s.resize.length !== 2) throw new InvalidArgumentError(fn, `${argument}.resize`, 'a size or [height, width]', `an array of length ${s.resize.length}`);
    s.resize.forEach((v, i) => assertNumber(fn, `${argument}.resize[${i}]`, v, { min: 1, integer: true }));
  } else {
    assertOptionalNumber(fn, `${argument}.resize`, s.resize, { min: 1, integer: true });
  }
  if (s.resize !== undefined && s.resizeShorter !== undefined) throw new InvalidArgumentError(fn, argument, 'a spec with resize or resizeShorter, not both', 'both');
  if (s.centerCrop !== undefined && s.randomCrop !== undefined) throw new InvalidArgumentError(fn, argument, 'a spec with centerCrop or randomCrop, not both', 'both');
  for (const k of ['resizeShorter', 'centerCrop', 'randomCrop']) assertOptionalNumber(fn, `${argument}.${k}`, s[k], { min: 1, integer: true });
  assertOptionalNumber(fn, `${argument}.rotation`, s.rotation, { min: 0, max: 180 });
  for (const k of ['rotate90', 'horizontalFlip', 'verticalFlip']) assertBoolean(fn, `${argument}.${k}`, s[k]);
  return s as PreprocessSpec;
}

/** The size after the deterministic geometric steps (ratio crop, resize, centre/random crop). */
export function preprocessedSize(spec: PreprocessSpec, h: number, w: number): [number, number] {
  if (spec.ratioCenterCrop !== undefined) h = w = Math.max(1, Math.round(spec.ratioCenterCrop * Math.min(h, w)));
  if (spec.resize !== undefined) [h, w] = typeof spec.resize === 'number' ? [spec.resize, spec.resize] : [spec.resize[0], spec.resize[1]];
  if (spec.resizeShorter !== undefined) {
    const s = spec.resizeShorter;
    [h, w] = h <= w ? [s, Math.floor((s * w) / h)] : [Math.floor((s * h) / w), s];
  }
  const crop = spec.centerCrop ?? spec.randomCrop;
  if (crop !== undefined) [h, w] = [crop, crop];
  return [h, w];
}

/**
 * Options of {@link preprocess}.
 * @category Data
 */
export interface PreprocessOptions {
  /**
   * Seed of the random steps (crop position, rotations, flips), drawn per image.
   * @defaultValue drawn at random
   */
  seed?: number;
}

/**
 * Applies a {@link PreprocessSpec} to a batch of images in memory (tfjs ops; bilinear resizes with
 * half-pixel centres, as PyTorch). Random steps draw their parameters per image from the seed.
 * The Node loaders of `medrobust/node` run the geometric steps in the image decoder instead.
 *
 * @param images - NHWC float32 `[N, H, W, C]` in [0, 1].
 * @param spec - the pipeline, e.g. `PAPER_PRESETS.isic2016.test`.
 * @param options - see {@link PreprocessOptions}.
 * @returns new images `[N, H', W', C]`, owned by the caller; `images` is not disposed.
 * @throws {InvalidArgumentError} for a bad spec, a crop larger than the image, or `rotate90` on
 *   non-square images.
 *
 * @example
 * ```ts
 * const x = preprocess(images, PAPER_PRESETS.isic2016.train, { seed: 3 });
 * ```
 * @category Data
 */
export function preprocess(images: tf.Tensor4D, spec: PreprocessSpec, options: PreprocessOptions = {}): tf.Tensor4D {
  return entry('preprocess', () => {
    const fn = 'preprocess';
    const x = assertImages(fn, 'images', images);
    const s = assertPreprocessSpec(fn, 'spec', spec);
    const o = assertOptionsObject(fn, options);
    assertKnownKeys(fn, o, ['seed']);
    const seed = assertOptionalNumber(fn, 'options.seed', o.seed, { integer: true }) ?? drawSeed();
    const [, h0, w0] = x.shape;
    let [h, w] = preprocessedSize({ ratioCenterCrop: s.ratioCenterCrop, resize: s.resize, resizeShorter: s.resizeShorter }, h0, w0);
    const crop = s.centerCrop ?? s.randomCrop;
    if (crop !== undefined && (crop > h || crop > w)) throw new InvalidArgumentError(fn, 'spec', `a crop no larger than the resized image (${h}×${w})`, `a crop of ${crop}`);
    if (s.rotate90 && crop === undefined && h !== w) throw new InvalidArgumentError(fn, 'spec.rotate90', 'square images (add a crop)', `${h}×${w}`);
    const rng = createRng(seed);
    return tf.tidy(() => {
      let y: tf.Tensor4D = x;
      if (s.ratioCenterCrop !== undefined) {
        const side = Math.max(1, Math.round(s.ratioCenterCrop * Math.min(h0, w0)));
        y = tf.slice(y, [0, Math.floor((h0 - side) / 2), Math.floor((w0 - side) / 2), 0], [-1, side, side, -1]);
      }
      if (s.resize !== undefined || s.resizeShorter !== undefined) y = tf.image.resizeBilinear(y, [h, w], false, true);
      if (s.centerCrop !== undefined) {
        y = tf.slice(y, [0, Math.floor((h - crop!) / 2), Math.floor((w - crop!) / 2), 0], [-1, crop!, crop!, -1]);
        h = w = crop!;
      }
      const perImage = s.randomCrop !== undefined || s.rotate90 || s.rotation || s.horizontalFlip || s.verticalFlip;
      if (!perImage) return y;
      const n = y.shape[0];
      const out: tf.Tensor3D[] = [];
      for (let i = 0; i < n; i++) {
        let img = tf.squeeze(tf.slice(y, [i, 0, 0, 0], [1, -1, -1, -1]), [0]) as tf.Tensor3D;
        if (s.randomCrop !== undefined) {
          const top = rng.nextInt(0, h - s.randomCrop);
          const left = rng.nextInt(0, w - s.randomCrop);
          img = tf.slice(img, [top, left, 0], [s.randomCrop, s.randomCrop, -1]);
        }
        if (s.rotate90) {
          const k = rng.nextInt(0, 3);
          for (let t = 0; t < k; t++) img = tf.reverse(tf.transpose(img, [1, 0, 2]), 1); // 90° clockwise
        }
        if (s.rotation) {
          const angle = (rng.uniform(-s.rotation, s.rotation) * Math.PI) / 180;
          img = tf.squeeze(tf.image.rotateWithOffset(tf.expandDims(img, 0) as tf.Tensor4D, angle, 0), [0]) as tf.Tensor3D;
        }
        if (s.horizontalFlip && rng.next() < 0.5) img = tf.reverse(img, 1);
        if (s.verticalFlip && rng.next() < 0.5) img = tf.reverse(img, 0);
        out.push(img);
      }
      return tf.stack(out) as tf.Tensor4D;
    });
  });
}
