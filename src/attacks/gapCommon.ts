/**
 * What gap() and trainGap() share: option parsing (magnitude, pixel mean/std, clip), the generator
 * checks, GAP's `_normalize_and_scale` (paper.md §4.2) and the composition of the adversarial image.
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { InvalidArgumentError } from '../errors.js';
import { assertClip, assertNumber, describeValue } from '../internal/validate.js';
import type { ClipRange } from '../types.js';

/** The clip choices of GAP: a {@link ClipRange}, or the per-channel range of the clean batch. */
export type GapClip = ClipRange | 'batch-per-channel';

/**
 * The pixel-space scaling options {@link gap} and {@link trainGap} share: the budget, the model's
 * normalisation, the centre of "no perturbation" and the clip (paper.md §4.2). Use the same values
 * for `gap` as for the `trainGap` run that produced the generator.
 * @category Attacks
 */
export interface GapScalingOptions {
  /** m, the L∞ budget in 0–255 pixel units: ‖δ_c‖∞ ≤ m/255 per image and channel in pixels. Required. */
  magnitude: number;
  /**
   * Per-channel mean μ of the model's normalisation (model units = (pixel − μ)/σ), one number or one
   * per channel. The default says the images are pixels in [0, 1].
   * @defaultValue 0
   */
  mean?: number | readonly number[];
  /**
   * Per-channel std σ of the model's normalisation.
   * @defaultValue 1
   */
  std?: number | readonly number[];
  /**
   * κ, the value of u = (G(x) + 1)/2 that means "no perturbation": d_c = (u_c − κ_c)/σ_c before the
   * L∞ scaling. The official GAP code and the paper use the normalisation mean (`'mean'`), which
   * with pixel inputs (μ = 0) would allow only brightening; the default 0.5 centres the perturbation.
   * One number, one per channel, or `'mean'`.
   * @defaultValue 0.5
   */
  center?: number | readonly number[] | 'mean';
  /**
   * Where x + δ is clipped: a {@link ClipRange} in model units, or `'batch-per-channel'`, the
   * per-channel min/max of the clean batch (paper.md §4.2, the paper's and the official code).
   * @defaultValue the valid pixel range [0, 1] per channel, in model units
   */
  clip?: GapClip;
}

/** Validated pixel-space settings. */
export interface GapScaling {
  /** m, the L∞ budget in 0–255 pixel units. */
  magnitude: number;
  /** Per-channel mean μ_c (model units = (pixel − μ)/σ). */
  mean: number[];
  /** Per-channel std σ_c. */
  std: number[];
  /** Per-channel centre κ_c: the value of u = (G + 1)/2 that means no perturbation. */
  center: number[];
  /** The resolved clip: fixed per-channel bounds, a batch mode, or null. */
  clip: { min: number[]; max: number[] } | 'batch' | 'batch-per-channel' | null;
}

/** A generator as GAP uses it: a tf.LayersModel (apply, trainable weights, get/setWeights). */
export function assertGenerator(fn: string, generator: unknown): tfl.LayersModel {
  const g = generator as tfl.LayersModel;
  const ok = typeof g === 'object' && g !== null && typeof g.apply === 'function' && Array.isArray(g.trainableWeights) && typeof g.getWeights === 'function' && typeof g.setWeights === 'function' && Array.isArray(g.inputs) && Array.isArray(g.outputs);
  if (!ok) throw new InvalidArgumentError(fn, 'generator', 'a tf.LayersModel (e.g. from gapUnet or gapResnet)', describeValue(generator));
  if (g.inputs.length !== 1 || g.outputs.length !== 1) {
    throw new InvalidArgumentError(fn, 'generator', 'a model with one input and one output', `${g.inputs.length} inputs and ${g.outputs.length} outputs`);
  }
  return g;
}

/** Checks the generator's declared input and output shapes against images `[H, W, C]`. */
export function assertGeneratorShapes(fn: string, generator: tfl.LayersModel, imageShape: readonly number[]): void {
  const [h, w, c] = imageShape;
  const fits = (shape: readonly (number | null)[], channels: number | null): boolean =>
    shape.length === 4 && [h, w, channels].every((d: number | null | undefined, i: number) => d == null || shape[i + 1] == null || shape[i + 1] === d);
  const inShape = generator.inputs[0]!.shape;
  const outShape = generator.outputs[0]!.shape;
  if (!fits(inShape, null)) throw new InvalidArgumentError(fn, 'generator', `a generator taking [N, ${h}, ${w}, C] images`, `input shape [${inShape.join(',')}]`);
  if (!fits(outShape, c!)) throw new InvalidArgumentError(fn, 'generator', `a generator whose output matches the images [N, ${h}, ${w}, ${c}]`, `output shape [${outShape.join(',')}]`);
}

/** Checks an actual generator output against the images (for generators with free dimensions). */
export function checkGeneratorOutput(fn: string, out: unknown, rows: number, imageShape: readonly number[]): tf.Tensor4D {
  const expected = [rows, ...imageShape];
  if (!(out instanceof tf.Tensor) || (out as tf.Tensor).rank !== 4 || (out as tf.Tensor).shape.some((d: number, i: number) => d !== expected[i])) {
    throw new InvalidArgumentError(fn, 'generator', `a generator returning [${expected.join(',')}]`, describeValue(out));
  }
  return out as tf.Tensor4D;
}

function perChannel(fn: string, argument: string, value: unknown, channels: number, fallback: number, positive: boolean): number[] {
  const c = positive ? { min: 0, minExclusive: true } : {};
  if (value === undefined) return new Array<number>(channels).fill(fallback);
  if (Array.isArray(value)) {
    if (value.length !== channels) throw new InvalidArgumentError(fn, argument, `a number or ${channels} numbers (one per channel)`, describeValue(value));
    return value.map((v, i) => assertNumber(fn, `${argument}[${i}]`, v, c));
  }
  return new Array<number>(channels).fill(assertNumber(fn, argument, value, c));
}

/**
 * Parses `magnitude`, `mean`, `std` and `clip`. The default clip is the valid pixel range [0, 1]
 * expressed in model units: [(0 − μ_c)/σ_c, (1 − μ_c)/σ_c] per channel.
 */
export function parseScaling(fn: string, o: Record<string, unknown>, channels: number): GapScaling {
  if (o.magnitude === undefined) throw new InvalidArgumentError(fn, 'options.magnitude', 'a finite number > 0 in 0–255 pixel units (it has no default: the budget is the experiment)', 'undefined');
  const magnitude = assertNumber(fn, 'options.magnitude', o.magnitude, { min: 0, minExclusive: true, max: 255 });
  const mean = perChannel(fn, 'options.mean', o.mean, channels, 0, false);
  const std = perChannel(fn, 'options.std', o.std, channels, 1, true);
  const center = o.center === 'mean' ? [...mean] : perChannel(fn, 'options.center', o.center, channels, 0.5, false);
  const raw = o.clip as GapClip | undefined;
  let clip: GapScaling['clip'];
  if (raw === undefined) {
    clip = { min: mean.map((m, i) => (0 - m) / std[i]!), max: mean.map((m, i) => (1 - m) / std[i]!) };
  } else if (raw === 'batch-per-channel' || raw === 'batch' || raw === null) {
    clip = raw;
  } else {
    assertClip(fn, 'options.clip', raw, channels);
    clip = Array.isArray(raw) ? { min: new Array<number>(channels).fill((raw as readonly number[])[0]!), max: new Array<number>(channels).fill((raw as readonly number[])[1]!) } : { min: [...(raw as { min: readonly number[] }).min], max: [...(raw as { max: readonly number[] }).max] };
  }
  return { magnitude, mean, std, center, clip };
}

/** The clip range to check clean images against (fixed bounds only). */
export function fixedClip(scaling: GapScaling): ClipRange | undefined {
  return typeof scaling.clip === 'object' && scaling.clip !== null ? scaling.clip : undefined;
}

/** Identity forward, zero gradient (PyTorch's `.detach()`). */
const stopGradient = tf.customGrad((...args: unknown[]) => {
  const x = args[0] as tf.Tensor;
  return { value: tf.clone(x), gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy) };
}) as unknown as <T extends tf.Tensor>(x: T) => T;

/**
 * GAP's `_normalize_and_scale` (paper.md §4.2): u = (G + 1)/2, d_c = (u_c − κ_c)/σ_c (κ = μ in GAP), then per image
 * and channel δ_c = d_c · min(1, (m/(255·σ_c)) / ‖d_c‖∞), the norm detached as in the official code.
 * So ‖δ_c‖∞ ≤ m/255 in pixel units. `raw` is the tanh output `[N, H, W, C]`.
 */
export function scalePerturbation(raw: tf.Tensor4D, s: GapScaling): tf.Tensor4D {
  return tf.tidy(() => {
    const center = tf.tensor1d(s.center);
    const std = tf.tensor1d(s.std);
    const d = tf.div(tf.sub(tf.mul(tf.add(raw, 1), 0.5), center), std);
    const norm = stopGradient(tf.max(tf.abs(d), [1, 2], true));
    const bound = tf.reshape(tf.div(s.magnitude / 255, std), [1, 1, 1, -1]);
    const factor = tf.minimum(1, tf.div(bound, tf.maximum(norm, 1e-12)));
    return tf.mul(d, factor) as tf.Tensor4D;
  });
}

/** Lower and upper clip bounds for a clean batch (broadcastable), or null. */
export function gapClipBounds(s: GapScaling, clean: tf.Tensor4D): { lower: tf.Tensor; upper: tf.Tensor } | null {
  const clip = s.clip;
  if (clip === null) return null;
  return tf.tidy(() => {
    if (clip === 'batch') return { lower: tf.min(clean), upper: tf.max(clean) };
    if (clip === 'batch-per-channel') return { lower: tf.min(clean, [0, 1, 2]), upper: tf.max(clean, [0, 1, 2]) };
    return { lower: tf.tensor1d(clip.min), upper: tf.tensor1d(clip.max) };
  });
}

/** x' = clip(x + δ), differentiated through the clip (pixels the clip moved get no gradient). */
export function composeAdversarial(images: tf.Tensor4D, delta: tf.Tensor4D, bounds: { lower: tf.Tensor; upper: tf.Tensor } | null): tf.Tensor4D {
  return tf.tidy(() => {
    const sum = tf.add(images, delta) as tf.Tensor4D;
    return bounds === null ? sum : (tf.minimum(tf.maximum(sum, bounds.lower), bounds.upper) as tf.Tensor4D);
  });
}

/**
 * The authors' composition from the generator's pre-tanh output z, value and gradient (paper.md §4.2):
 * x' = clip(x + δ) with δ = scale(tanh(z)). Their `_normalize_and_scale` and clamp write to `tensor.data`
 * in place, so autograd sees x' = x + tanh(z) (identity through the scaling and the clip), and their
 * in-place writes overwrite the output tanh saved for its backward pass: the gradient reaching z is
 * ∂L/∂x′ · (1 − δ²), with the scaled δ in place of tanh(z). Summed over the batch when z is one
 * universal pattern `[1, H, W, C]`.
 */
export function composeAdversarialPaper(images: tf.Tensor4D, preTanh: tf.Tensor4D, scaling: GapScaling, bounds: { lower: tf.Tensor; upper: tf.Tensor } | null): tf.Tensor4D {
  const f = tf.customGrad((...args: unknown[]) => {
    const [z, save] = args as [tf.Tensor4D, tf.GradSaveFunc];
    const delta = scalePerturbation(tf.tanh(z), scaling);
    save([delta]);
    return {
      value: composeAdversarial(images, delta, bounds),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const d = saved[0]!;
        const g = tf.mul(dy, tf.sub(1, tf.square(d)));
        return z.shape[0] === dy.shape[0] ? g : tf.sum(g, 0, true);
      },
    };
  }) as unknown as (z: tf.Tensor4D) => tf.Tensor4D;
  return f(preTanh);
}

/**
 * The generator up to its output tanh (same layers, same weights), for {@link composeAdversarialPaper}.
 * Throws unless the generator's output layer is a tanh `Activation` (as in gapUnet and gapResnet).
 */
export function preTanhModel(fn: string, generator: tfl.LayersModel): tfl.LayersModel {
  const last = generator.outputLayers[0]!;
  const config = last.getConfig() as { activation?: string };
  const node = last.inboundNodes[0];
  if (last.getClassName() !== 'Activation' || config.activation !== 'tanh' || !node || node.inputTensors.length !== 1) {
    throw new InvalidArgumentError(fn, 'generator', "a generator whose output layer is a tanh Activation (gapUnet, gapResnet) for gradient 'paper'", `output layer ${last.getClassName()} '${last.name}'`);
  }
  return tfl.model({ inputs: generator.inputs, outputs: node.inputTensors[0]! });
}

/**
 * The fixed generator input of universal GAP: pixel noise U(0, 1) `[1, H, W, C]` from `seed`, in
 * model units ((z − μ)/σ). tf.randomUniform is seeded in JavaScript, so every backend draws the same.
 */
export function universalNoise(shape: readonly [number, number, number], seed: number, s: GapScaling): tf.Tensor4D {
  return tf.tidy(() => {
    const z = tf.randomUniform([1, ...shape], 0, 1, 'float32', seed);
    if (s.mean.length !== shape[2]) return z as tf.Tensor4D;
    return tf.div(tf.sub(z, tf.tensor1d(s.mean)), tf.tensor1d(s.std)) as tf.Tensor4D;
  });
}
