import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { assertBoolean, assertImageValues, assertKnownKeys, assertNumber, assertOptionsObject } from '../internal/validate.js';
import { sampleSlice } from '../internal/memory.js';
import type { ClipRange, LossFn, BatchInput } from '../types.js';
import { innerPgd } from './innerPgd.js';
import { martLoss } from './martLoss.js';
import {
  channelScaleOption, LOOP_KEYS, lossOrDefault, planLoop, rangeOption, runTraining, type TrainingLoopOptions,
  type TrainingReport,
} from './trainingLoop.js';
import { InvalidArgumentError } from '../errors.js';
import { entryAsync } from '../internal/scope.js';

/**
 * Options of {@link maAdvTrain}: the loop's options plus MART's inner attack and β.
 * @category Defenses
 */
export interface MaAdvTrainOptions extends TrainingLoopOptions {
  /** The L∞ budget ε of the inner attack, in the units of the images. Required (no default). */
  epsilon: number;
  /**
   * Inner PGD steps: a number, or `[lo, hi]` to draw T uniformly from lo..hi per batch (the
   * paper's Messidor setting [1, 9]).
   * @defaultValue 10
   */
  steps?: number | readonly [number, number];
  /**
   * Inner PGD step α (MART's 0.007 for ε = 0.031).
   * @defaultValue epsilon / 4
   */
  stepSize?: number;
  /**
   * β, the weight of the misclassification-aware KL term (see {@link martLoss}).
   * @defaultValue 6
   */
  beta?: number;
  /**
   * σ of the Gaussian start x + σ·N(0, I) of the inner attack.
   * @defaultValue 0.001
   */
  startStd?: number;
  /**
   * The per-sample loss the inner attack ascends.
   * @defaultValue the task's loss (cross-entropy, or mean sigmoid BCE for multi-label)
   */
  attackLoss?: LossFn;
  /**
   * Per-channel factors s_c on ε and α (channel c: s_c·ε, s_c·α). With images normalised by a
   * per-channel std σ_c and ε a pixel budget, pass s_c = 1/σ_c so that the pixel budget is exactly ε
   * on every channel.
   * @defaultValue undefined (ε and α on every channel)
   */
  channelScale?: readonly number[];
  /**
   * Reproduce MART's `mart_loss` as the paper's code runs it (paper.md §6.2): the first gradient is
   * taken at the Gaussian start x + σ·N(0, I) before any clip, the images need not lie inside
   * `clip` (the code clips normalised tensors to [0, 1]: this is what lets the paper presets run),
   * and the objective is {@link martLoss} with `form: 'reference'` (the code's 1.0001 / 1e-12 /
   * 1.0000001 constants). Single-label only. Off, the start is clipped, images outside `clip` are
   * refused and the loss is exact.
   * @defaultValue false
   */
  paperQuirks?: boolean;
}

/**
 * The fields of a MAAdvT preset shared by the paper's data sets (normalised-input units).
 * @category Defenses
 */
export interface MaAdvTrainPreset {
  /** Inner-attack budget ε. */
  epsilon: number;
  /** Inner-attack step α. */
  stepSize: number;
  /** β of the KL term. */
  beta: number;
  /** Clip range of the inner attack. */
  clip: ClipRange;
  /** MART's code as written (see {@link MaAdvTrainOptions.paperQuirks}). */
  paperQuirks: boolean;
}

/**
 * The MAAdvT settings of the paper's code (paper.md §6.2), for ISIC 2016 and Messidor. ε, α and the
 * clip are in normalised-input units: with normalised tensors as images (model without its own
 * normalisation) and `clip: [0, 1]` these reproduce the code's quirk of clipping normalised tensors
 * to [0, 1], which moves every below-mean value to the mean and lets x' leave the ε-ball.
 * `paperQuirks: true` is what allows images outside the clip range, and also takes the first
 * gradient at the unclipped Gaussian start and uses the code's loss constants, as `mart_loss` does.
 * That is the code's behaviour, not a valid threat model: {@link maAdvTrainPreset} with
 * `variant: 'corrected'` gives the valid normalised range and a per-channel pixel budget. The
 * per-data-set optimizer and schedule are in {@link maAdvTrainPreset}.
 * @category Defenses
 */
export const maAdvTrainPaperPresets: Readonly<{
  /** ISIC 2016 / AttnVGG: ε 0.031, T 4, α 0.007, β 6. */
  isic: Readonly<MaAdvTrainPreset & {
    /** Inner PGD steps. */ steps: number
  }>;
  /** Messidor / Inception-v3: ε 4/255, T ~ U{1..9}, α 0.007, β 8. */
  messidor: Readonly<MaAdvTrainPreset & {
    /** Inner PGD steps, drawn per batch. */ steps: readonly [number, number]
  }>;
}> = Object.freeze({
  isic: Object.freeze({ epsilon: 0.031, steps: 4, stepSize: 0.007, beta: 6, clip: [0, 1] as const, paperQuirks: true }),
  messidor: Object.freeze({ epsilon: 4 / 255, steps: [1, 9] as const, stepSize: 0.007, beta: 8, clip: [0, 1] as const, paperQuirks: true }),
});

const KEYS = [...LOOP_KEYS, 'epsilon', 'steps', 'stepSize', 'beta', 'startStd', 'attackLoss', 'channelScale', 'paperQuirks'];

/**
 * MAAdvT, Misclassification-Aware Adversarial Training = MART (Wang et al., ICLR 2020; paper.md
 * §6.2). Per batch, the inner attack (model in inference mode) is
 *
 * x'⁰ = x + σ·N(0, I),  x'ᵗ⁺¹ = clip(Π_{B∞(x,ε)}(x'ᵗ + α·sign ∇ CE(f(x'ᵗ), y))),
 *
 * with the ball around the original x and the clip to `options.clip` (the valid range, [0, 1] by
 * default); then the model (training mode) minimises {@link martLoss}:
 * BCE(p(x'), y) + β·KL(p(x) ‖ p(x'))·(1 − p_y(x)), batch mean. With `task: 'multi-label'` both the
 * inner attack (sigmoid BCE) and the objective (per-label Bernoulli MART, formula in
 * {@link martLoss}) are multi-label. `channelScale` gives a per-channel budget (ε/σ_c for a pixel
 * budget on normalised images); `paperQuirks` runs MART's code as the paper's authors did (see
 * {@link maAdvTrainPaperPresets}). **It mutates the model's weights.** Every loop option of
 * {@link advTrain} applies (micro-batches: the Gaussian start is drawn for the whole batch).
 *
 * @param model - a `tf.LayersModel` returning logits; trained in place.
 * @param data - the training batches, see {@link BatchInput}: an array (borrowed), or an (async) iterable or a factory `(epoch) => iterable` whose batches the loop disposes.
 * @param options - see {@link MaAdvTrainOptions}; unknown keys are rejected.
 * @returns a {@link TrainingReport}.
 * @throws {InvalidArgumentError} for an invalid ε, steps, step, β, σ, channel scale, model, batch
 *   source, images outside the clip range (without `paperQuirks`) or an unknown option.
 * @throws {AbortError} when `signal` aborts.
 * @throws {FormatError} when the checkpoint belongs to another model, method or optimizer.
 * @throws {NonFiniteError} when a loss, gradient, weight or adversarial image is NaN or infinite.
 * @throws {MemoryBudgetError} when the memory budget cannot hold a step on one image (or on `microBatch` images).
 *
 * @example
 * ```ts
 * const report = await maAdvTrain(model, batches, { epsilon: 8 / 255, steps: 10, beta: 6, epochs: 20, seed: 1 });
 * ```
 * @category Defenses
 */
export async function maAdvTrain(model: LayersModel, data: BatchInput, options: MaAdvTrainOptions): Promise<TrainingReport> {
  return entryAsync('maAdvTrain', async () => {
    const fn = 'maAdvTrain';
    const o = assertOptionsObject(fn, options);
    assertKnownKeys(fn, o, KEYS);
    const plan = planLoop(fn, model, data, o);
    const inner = innerOptions(fn, o);
    const beta = o.beta === undefined ? 6 : assertNumber(fn, 'options.beta', o.beta, { min: 0 });
    const attackLoss = lossOrDefault(fn, 'options.attackLoss', o.attackLoss, plan.task);
    const channelScale = channelScaleOption(fn, o.channelScale, plan.inputShape[2] ?? 1);
    const paperQuirks = assertBoolean(fn, 'options.paperQuirks', o.paperQuirks) ?? false;
    if (paperQuirks && plan.task === 'multi-label') throw new InvalidArgumentError(fn, 'options.paperQuirks', "false for task 'multi-label' (MART's code has no multi-label MART)", 'true');
    const form = paperQuirks ? 'reference' : 'exact';
    return runTraining(plan, data, {
      draw: (rng) => ({ steps: inner.steps[0] === inner.steps[1] ? inner.steps[0] : rng.nextInt(inner.steps[0], inner.steps[1]), seed: rng.nextSeed() }),
      generate: ({ inference, images, labels, clip, batch, memory }, d: { steps: number; seed: number }) => {
        assertImageValues(fn, 'images', images, paperQuirks ? null : clip);
        return innerPgd(inference, images, (logits, start, count) => attackLoss(logits, sampleSlice(labels, start, count)), {
          ...inner, steps: d.steps, channelScale, start: 'gaussian', clipStart: !paperQuirks, clip, seed: d.seed, batch, memory, fn,
        });
      },
      objective: (train, images, adv, labels) => martLoss(train(images), train(adv!), labels, { beta, task: plan.task, form }) as tf.Scalar,
    }, fn);
  });
}

/** Validates the inner attack of MART and TRADES: ε, steps, α (default ε/4), σ. */
export function innerOptions(fn: string, o: Record<string, unknown>): { epsilon: number; steps: [number, number]; stepSize: number; startStd: number } {
  if (o.epsilon === undefined) throw new InvalidArgumentError(fn, 'options.epsilon', 'a finite number >= 0 (it has no default: the budget is the experiment)', 'undefined');
  const epsilon = assertNumber(fn, 'options.epsilon', o.epsilon, { min: 0 });
  const steps = o.steps === undefined ? ([10, 10] as [number, number]) : rangeOption(fn, 'options.steps', o.steps, { integer: true, min: 1 });
  const stepSize = o.stepSize === undefined ? epsilon / 4 : assertNumber(fn, 'options.stepSize', o.stepSize, { min: 0, minExclusive: true });
  const startStd = o.startStd === undefined ? 0.001 : assertNumber(fn, 'options.startStd', o.startStd, { min: 0 });
  return { epsilon, steps, stepSize, startStd };
}
