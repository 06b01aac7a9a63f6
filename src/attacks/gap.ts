import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { InvalidArgumentError, MemoryBudgetError } from '../errors.js';
import { asMemoryBudgetError, MEMORY_KEYS, planChunks, readMemoryOptions, sampleSlice } from '../internal/memory.js';
import { entry } from '../internal/scope.js';
import { createRng } from '../internal/random.js';
import { assertBoolean, assertImages, assertImageValues, assertKnownKeys, assertNumber, assertOptionalNumber, assertOptionsObject, describeValue } from '../internal/validate.js';
import {
  assertGenerator, assertGeneratorShapes, checkGeneratorOutput, composeAdversarial, fixedClip, gapClipBounds, parseScaling,
  scalePerturbation, universalNoise, type GapScalingOptions,
} from './gapCommon.js';
import { gapDropoutLayers } from './gapLayers.js';
import type { MemoryOptions } from '../types.js';

/**
 * Options of {@link gap}.
 * @category Attacks
 */
export interface GapOptions extends GapScalingOptions, MemoryOptions {
  /**
   * Universal mode: apply the one perturbation the generator makes from its fixed noise input
   * (`report.noiseSeed` of {@link trainGap}, required then) to every image.
   * @defaultValue false
   */
  universal?: boolean;
  /** The noise seed of a universal generator (`report.noiseSeed`). */
  noiseSeed?: number;
  /**
   * Images per generator call (see {@link MemoryOptions}). Chunks change nothing: in inference mode each
   * image's result is independent of the others, so the result is bit for bit the unchunked one.
   * @defaultValue as many as fit in `memoryBudget`
   */
  batchSize?: number;
  /**
   * Bytes a generator call may use (see {@link MemoryOptions}): the chunk size comes from core's memory
   * model, the generator's peak measured on 1 and, when needed, 2 images (cached per generator and
   * image size). In training mode the batch is the unit, and one that does not fit throws.
   * @defaultValue memoryStatus().availableBytes (unbounded where unknown: WebGL, WebGPU, browsers)
   */
  memoryBudget?: number;
  /**
   * Run the generator in training mode, as the authors' test code does (their `generate` never calls
   * `.eval()`): batch-norm statistics of this batch and active dropout. The batch is then the unit
   * (no chunks), and the generator's moving statistics are restored afterwards (gap never mutates it).
   * @defaultValue false (inference mode: moving statistics, no dropout)
   */
  training?: boolean;
  /**
   * Seed of the dropout masks in training mode.
   * @defaultValue 0
   */
  seed?: number;
}

/**
 * The result of {@link gap}: two new tensors, both owned by the caller.
 * @category Attacks
 */
export interface GapResult {
  /** The adversarial images x' = clip(x + δ), `[N, H, W, C]`. */
  images: tf.Tensor4D;
  /**
   * The scaled perturbation δ before clipping, `[N, H, W, C]` in model units, with
   * ‖δ_c‖∞ ≤ m/(255·σ_c) per image and channel (identical rows in universal mode).
   */
  perturbation: tf.Tensor4D;
}

const KEYS = ['magnitude', 'mean', 'std', 'center', 'clip', 'universal', 'noiseSeed', 'training', 'seed', ...MEMORY_KEYS] as const;

/**
 * Applies a trained GAP generator (paper.md §4.2) to new images: δ = scale(G(x)) (or scale(G(z))
 * for the fixed noise z of a universal generator), with GAP's `_normalize_and_scale`
 * u = (G + 1)/2, d_c = (u_c − μ_c)/σ_c, δ_c = d_c · min(1, (m/(255·σ_c))/‖d_c‖∞) per image and
 * channel, then x' = clip(x + δ). The generator runs in inference mode (batch-norm moving
 * statistics, no dropout) unless `training` is set (the paper's test code left its generator in
 * training mode: batch statistics of the test batch, active dropout). In inference mode the batch is
 * split into chunks that fit `memoryBudget` (or of `batchSize`), with the same result bit for bit;
 * a `'batch-per-channel'` clip is taken over the whole batch. `images` are borrowed, never mutated.
 * On any error every tensor made is freed.
 *
 * @param generator - a `tf.LayersModel` from images to `[N, H, W, C]` in [−1, 1], trained by {@link trainGap}.
 * @param images - NHWC float32 `[N, H, W, C]` in model units, inside `options.clip`.
 * @param options - see {@link GapOptions}; unknown keys are rejected.
 * @returns `{ images, perturbation }`, two new `[N, H, W, C]` tensors owned by the caller.
 * @throws {InvalidArgumentError} for a generator whose input or output does not match the images,
 *   a magnitude outside (0, 255], mean/std of the wrong length or a non-positive std, images
 *   outside the clip range, a missing `noiseSeed` in universal mode, `batchSize` with `training`,
 *   or an unknown option.
 * @throws {MemoryBudgetError} when one image (in training mode: the batch; with `batchSize` and
 *   `memoryBudget`: `batchSize` images) does not fit in the memory budget.
 *
 * @example
 * ```ts
 * const { images: adv, perturbation } = gap(generator, images, { magnitude: 48 });
 * const fooled = top1(model, adv, labels) < top1(model, images, labels);
 * tf.dispose([adv, perturbation]);
 * ```
 * @category Attacks
 */
export function gap(generator: tfl.LayersModel, images: tf.Tensor4D, options: GapOptions): GapResult {
  const fn = 'gap';
  return entry(fn, () => {
    const o = assertOptionsObject(fn, options);
    assertKnownKeys(fn, o, KEYS);
    const gen = assertGenerator(fn, generator);
    const x = assertImages(fn, 'images', images);
    const shape = x.shape.slice(1) as [number, number, number];
    assertGeneratorShapes(fn, gen, shape);
    const scaling = parseScaling(fn, o, shape[2]);
    const universal = assertBoolean(fn, 'options.universal', o.universal) ?? false;
    let noiseSeed: number | undefined;
    if (universal) {
      if (o.noiseSeed === undefined) throw new InvalidArgumentError(fn, 'options.noiseSeed', 'the noise seed of the universal generator (trainGap report.noiseSeed)', 'undefined');
      noiseSeed = assertNumber(fn, 'options.noiseSeed', o.noiseSeed, { integer: true, min: 0 });
    } else if (o.noiseSeed !== undefined) {
      throw new InvalidArgumentError(fn, 'options.noiseSeed', 'undefined unless universal is true', describeValue(o.noiseSeed));
    }
    const training = assertBoolean(fn, 'options.training', o.training) ?? false;
    const memory = readMemoryOptions(fn, o);
    const seed = assertOptionalNumber(fn, 'options.seed', o.seed, { integer: true, min: 0 }) ?? 0;
    if (training && memory.batchSize !== undefined) throw new InvalidArgumentError(fn, 'options.batchSize', 'undefined when training is true (batch statistics make the batch the unit)', String(memory.batchSize));
    assertImageValues(fn, 'images', x, fixedClip(scaling));
    const n = x.shape[0];
    const bounds = gapClipBounds(scaling, x);
    const dropouts = training ? gapDropoutLayers(gen) : [];
    const moving = training ? movingStatistics(gen) : [];
    // One chunk: the adversarial images and the perturbation of rows [start, start + size).
    const run = (start: number, size: number): { adv: tf.Tensor4D; delta: tf.Tensor4D } => tf.tidy(() => {
      const xs = sampleSlice(x, start, size);
      const input = universal ? universalNoise(shape, noiseSeed!, scaling) : xs;
      const raw = checkGeneratorOutput(fn, gen.apply(input, { training }), input.shape[0], shape);
      const delta = scalePerturbation(raw, scaling);
      return { adv: composeAdversarial(xs, delta, bounds), delta: tf.broadcastTo(delta, xs.shape) as tf.Tensor4D };
    });
    try {
      // The universal generator runs once, on its noise: nothing to chunk.
      const chunks = universal ? { size: n, budgetBytes: Number.POSITIVE_INFINITY } : planChunks(fn, n, memory,
        { model: gen, kind: training ? 'gap-training' : 'gap', sampleShape: shape }, (k) => { const r = run(0, k); tf.dispose([r.adv, r.delta]); }, 4 * (x.size / n) * 4);
      if (training && chunks.size < n) {
        const need = 'step' in chunks && chunks.step ? chunks.step.fixedBytes + chunks.step.perSampleBytes * n : Number.NaN;
        throw new MemoryBudgetError(fn, n, need, chunks.budgetBytes, `in training mode the batch is the unit and ${chunks.size} images fit: pass fewer images at once or raise options.memoryBudget`);
      }
      if (training) {
        const rng = createRng(seed);
        dropouts.forEach((d) => { d.seedSource = () => rng.nextSeed(); });
      }
      const parts: { adv: tf.Tensor4D; delta: tf.Tensor4D }[] = [];
      try {
        for (let start = 0; start < n; start += chunks.size) parts.push(run(start, Math.min(chunks.size, n - start)));
        if (parts.length === 1) return { images: parts[0]!.adv, perturbation: parts[0]!.delta };
        return { images: tf.concat(parts.map((p) => p.adv)) as tf.Tensor4D, perturbation: tf.concat(parts.map((p) => p.delta)) as tf.Tensor4D };
      } catch (err) {
        throw asMemoryBudgetError(fn, chunks, err);
      } finally {
        if (parts.length > 1) tf.dispose(parts.flatMap((p) => [p.adv, p.delta]));
      }
    } finally {
      dropouts.forEach((d) => { d.seedSource = null; });
      moving.forEach(({ variable, saved }) => { variable.assign(saved); saved.dispose(); });
      if (bounds) tf.dispose([bounds.lower, bounds.upper]);
    }
  });
}

/** Copies of the generator's batch-norm moving statistics, to restore after a training-mode pass. */
function movingStatistics(generator: tfl.LayersModel): { variable: tf.Variable; saved: tf.Tensor }[] {
  return generator.weights
    .filter((w) => !w.trainable && /moving_(mean|variance)$/.test(w.originalName))
    .map((w) => { const variable = w.read() as tf.Variable; return { variable, saved: tf.clone(variable) }; });
}
