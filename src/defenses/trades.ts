import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { assertImageValues, assertKnownKeys, assertNumber, assertOptionsObject } from '../internal/validate.js';
import { mapInChunks, sampleSlice } from '../internal/memory.js';
import { bernoulliKl, categoricalKl } from './divergence.js';
import { innerPgd } from './innerPgd.js';
import { innerOptions } from './maAdvTrain.js';
import type { BatchInput } from '../types.js';
import { channelScaleOption, LOOP_KEYS, planLoop, runTraining, type TrainingLoopOptions, type TrainingReport } from './trainingLoop.js';
import { tradesLoss } from './tradesLoss.js';
import { entryAsync } from '../internal/scope.js';

/**
 * Options of {@link trades}: the loop's options plus TRADES' inner attack and β.
 * @category Defenses
 */
export interface TradesOptions extends TrainingLoopOptions {
  /** The L∞ budget ε of the inner attack, in the units of the images. Required (no default). */
  epsilon: number;
  /**
   * Inner attack steps: a number, or `[lo, hi]` to draw T uniformly from lo..hi per batch.
   * @defaultValue 10
   */
  steps?: number | readonly [number, number];
  /**
   * Inner attack step α (TRADES' 0.007 for ε = 0.031).
   * @defaultValue epsilon / 4
   */
  stepSize?: number;
  /**
   * β, the weight of the robustness term (see {@link tradesLoss}).
   * @defaultValue 6
   */
  beta?: number;
  /**
   * σ of the Gaussian start x + σ·N(0, I) of the inner attack.
   * @defaultValue 0.001
   */
  startStd?: number;
  /**
   * Per-channel factors s_c on ε and α (channel c: s_c·ε, s_c·α); 1/σ_c makes ε a pixel budget on
   * images normalised by σ_c.
   * @defaultValue undefined (ε and α on every channel)
   */
  channelScale?: readonly number[];
}

const KEYS = [...LOOP_KEYS, 'epsilon', 'steps', 'stepSize', 'beta', 'startStd', 'channelScale'];

/**
 * TRADES (Zhang et al., ICML 2019), a baseline for the paper's defenses. Per batch, the inner attack
 * (model in inference mode) maximises the divergence from the clean output, without labels:
 *
 * x'⁰ = x + σ·N(0, I),  x'ᵗ⁺¹ = clip(Π_{B∞(x,ε)}(x'ᵗ + α·sign ∇ KL(p(x) ‖ p(x'ᵗ)))),
 *
 * with p(x) fixed; then the model (training mode) minimises {@link tradesLoss}:
 * CE(p(x), y) + β·KL(p(x) ‖ p(x')), batch mean. Multi-label uses sigmoid BCE and the mean
 * per-label Bernoulli KL in both places. **It mutates the model's weights.** Every loop option of
 * {@link advTrain} applies.
 *
 * @param model - a `tf.LayersModel` returning logits; trained in place.
 * @param data - the training batches, see {@link BatchInput}: an array (borrowed), or an (async) iterable or a factory `(epoch) => iterable` whose batches the loop disposes.
 * @param options - see {@link TradesOptions}; unknown keys are rejected.
 * @returns a {@link TrainingReport}.
 * @throws {InvalidArgumentError} for an invalid ε, steps, step, β, σ, model, batch source, images
 *   outside the clip range or an unknown option.
 * @throws {AbortError} when `signal` aborts.
 * @throws {FormatError} when the checkpoint belongs to another model, method or optimizer.
 * @throws {NonFiniteError} when a loss, gradient, weight or adversarial image is NaN or infinite.
 * @throws {MemoryBudgetError} when the memory budget cannot hold a step on one image (or on `microBatch` images).
 *
 * @example
 * ```ts
 * const report = await trades(model, batches, { epsilon: 8 / 255, steps: 10, beta: 6, epochs: 20, seed: 1 });
 * ```
 * @category Defenses
 */
export async function trades(model: LayersModel, data: BatchInput, options: TradesOptions): Promise<TrainingReport> {
  return entryAsync('trades', async () => {
    const fn = 'trades';
    const o = assertOptionsObject(fn, options);
    assertKnownKeys(fn, o, KEYS);
    const plan = planLoop(fn, model, data, o);
    const inner = innerOptions(fn, o);
    const beta = o.beta === undefined ? 6 : assertNumber(fn, 'options.beta', o.beta, { min: 0 });
    const multi = plan.task === 'multi-label';
    const channelScale = channelScaleOption(fn, o.channelScale, plan.inputShape[2] ?? 1);
    return runTraining(plan, data, {
      draw: (rng) => ({ steps: inner.steps[0] === inner.steps[1] ? inner.steps[0] : rng.nextInt(inner.steps[0], inner.steps[1]), seed: rng.nextSeed() }),
      generate: ({ inference, images, clip, batch, memory }, d: { steps: number; seed: number }) => {
        assertImageValues(fn, 'images', images, clip);
        const clean = mapInChunks(fn, images, memory, { model: inference, kind: 'forward' }, inference);
        try {
          const divergence = (logits: tf.Tensor2D, start: number, count: number): tf.Tensor => {
            const target = sampleSlice(clean, start, count);
            return multi ? tf.mean(bernoulliKl(target, logits), 1) : categoricalKl(target, logits);
          };
          return innerPgd(inference, images, divergence, { ...inner, steps: d.steps, channelScale, start: 'gaussian', clipStart: true, clip, seed: d.seed, batch, memory, fn });
        } finally {
          clean.dispose();
        }
      },
      objective: (train, images, adv, labels) => tradesLoss(train(images), train(adv!), labels, { beta, task: plan.task }) as tf.Scalar,
    }, fn);
  });
}
