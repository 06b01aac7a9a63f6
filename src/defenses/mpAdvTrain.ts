import type { LayersModel } from '@tensorflow/tfjs-layers';
import { InvalidArgumentError } from '../errors.js';
import { assertBoolean, assertImageValues, assertKnownKeys, assertNumber, assertOptionsObject } from '../internal/validate.js';
import { sampleSlice } from '../internal/memory.js';
import { innerPgd } from './innerPgd.js';
import type { ClipRange, LossFn, BatchInput } from '../types.js';
import {
  channelScaleOption, LOOP_KEYS, lossOrDefault, meanLoss, planLoop, rangeOption, runTraining, type TrainingLoopOptions,
  type TrainingReport,
} from './trainingLoop.js';
import { entryAsync } from '../internal/scope.js';

/**
 * Options of {@link mpAdvTrain}: the loop's options plus the MPAdvT draws.
 * @category Defenses
 */
export interface MpAdvTrainOptions extends TrainingLoopOptions {
  /**
   * The budget: `[a, b]` draws ε ~ U(a, b) per adversarial batch; a number fixes it. Required
   * (the paper: [0.01, 0.04] in normalised units, see {@link mpAdvTrainPaperPreset}).
   */
  epsilon: number | readonly [number, number];
  /**
   * PGD steps: `[lo, hi]` draws T uniformly from the integers lo..hi per adversarial batch; a number fixes it.
   * @defaultValue [1, 9]
   */
  steps?: number | readonly [number, number];
  /**
   * PGD step α.
   * @defaultValue 1 / 255
   */
  stepSize?: number;
  /**
   * The probability that a batch is trained clean instead of adversarial.
   * @defaultValue 0.5
   */
  cleanProbability?: number;
  /**
   * Start PGD from a uniform random point of the ε-ball, U(−ε, ε).
   * @defaultValue true
   */
  randomStart?: boolean;
  /**
   * The per-sample training loss on logits (its batch mean is minimised): the paper uses
   * {@link focalLoss} (γ = 2) on ISIC, cross-entropy with `l1: 0.01` on Messidor, BCE on ChestX-ray14.
   * @defaultValue the task's loss
   */
  loss?: LossFn;
  /**
   * The per-sample loss PGD ascends.
   * @defaultValue the task's loss
   */
  attackLoss?: LossFn;
  /**
   * Per-channel factors s_c on ε and α: channel c gets the budget s_c·ε and the step s_c·α. With
   * images normalised by a per-channel std σ_c and ε a pixel budget, pass s_c = 1/σ_c: the budget
   * in pixels is then exactly ε on every channel (one ε/min σ would give up to σ_max/σ_min times
   * more on the other channels: 1.6× on ISIC).
   * @defaultValue undefined (ε and α on every channel)
   */
  channelScale?: readonly number[];
  /**
   * Reproduce the authors' PGD (libadver, paper.md §4.1): the random start x + U(−ε, ε) is drawn
   * per value and the first gradient is taken at it before any projection or clip, and the images
   * are not required to lie inside `clip` (their code clips whatever it is given). Off, the start is
   * projected and clipped first and images outside `clip` are refused.
   * @defaultValue false
   */
  paperQuirks?: boolean;
}

/**
 * The MPAdvT settings of the authors' code (paper.md §6.1): ε ~ U(0.01, 0.04), T ~ U{1..9},
 * α = 1/255, half the batches clean, random start U(−ε, ε) per value taken unclipped
 * (`paperQuirks`), and the batch-global clip. These ε are in normalised-input units: the preset
 * reproduces the code when the images given to {@link mpAdvTrain} are the normalised tensors (model
 * without its own normalisation); `clip: 'batch'` is the code's batch-min/max quirk (§4.1). The
 * per-data-set loss, optimizer and schedule are in {@link mpAdvTrainPreset}.
 * @category Defenses
 */
export const mpAdvTrainPaperPreset: Readonly<{
  /** ε ~ U(0.01, 0.04), normalised units. */
  epsilon: readonly [number, number];
  /** T ~ U{1..9}. */
  steps: readonly [number, number];
  /** α = 1/255. */
  stepSize: number;
  /** Probability of a clean batch (½). */
  cleanProbability: number;
  /** PGD random start U(−ε, ε). */
  randomStart: boolean;
  /** The batch's global min/max. */
  clip: ClipRange;
  /** The authors' unclipped per-value start. */
  paperQuirks: boolean;
}> = Object.freeze({ epsilon: [0.01, 0.04] as const, steps: [1, 9] as const, stepSize: 1 / 255, cleanProbability: 0.5, randomStart: true, clip: 'batch' as const, paperQuirks: true });

const KEYS = [...LOOP_KEYS, 'epsilon', 'steps', 'stepSize', 'cleanProbability', 'randomStart', 'loss', 'attackLoss', 'channelScale', 'paperQuirks'];

/**
 * MPAdvT, Multi-Perturbations Adversarial Training (paper.md §6.1). For each batch (x, y), with
 * probability `cleanProbability` (½) the batch is trained clean; otherwise ε ~ U(a, b) and
 * T ~ U{lo..hi} are drawn and the model is trained on x̃ = PGD_{ε, α, T}(x, y) (random start
 * U(−ε, ε) per value, every iterate projected on the ε-ball around x and clipped). The implied
 * objective:
 *
 * min_θ E_{(x,y)} [ ½·L(f_θ(x), y) + ½·E_{ε∼U(a,b), T∼U{lo..hi}} L(f_θ(PGD_{ε,α,T}(x)), y) ].
 *
 * All draws (coin, ε, T, PGD seed, in that order) come from the loop's seeded generator, once per
 * batch (also when `microBatch` splits it). `channelScale` gives a per-channel budget (ε/σ_c for
 * a pixel budget on normalised images); `paperQuirks` reproduces the authors' unclipped start.
 * Adversarial images are made in inference mode and the update runs in training mode (the paper's
 * Messidor script forgets `train()` and `zero_grad()`; those quirks are not reproduced). **It mutates
 * the model's weights.** Every loop option of {@link advTrain} applies (checkpoint, resume,
 * validation on a held-out split, abort, progress).
 *
 * @param model - a `tf.LayersModel` returning logits; trained in place.
 * @param data - the training batches, see {@link BatchInput}: an array (borrowed), or an (async) iterable or a factory `(epoch) => iterable` whose batches the loop disposes.
 * @param options - see {@link MpAdvTrainOptions}; unknown keys are rejected.
 * @returns a {@link TrainingReport}; `history[e].adversarialBatches` counts the PGD batches.
 * @throws {InvalidArgumentError} for an invalid ε range, steps range, step, probability, channel
 *   scale, model, batch source, images outside the clip range (without `paperQuirks`) or an unknown option.
 * @throws {AbortError} when `signal` aborts.
 * @throws {FormatError} when the checkpoint belongs to another model, method or optimizer.
 * @throws {NonFiniteError} when a loss, gradient, weight or adversarial image is NaN or infinite.
 * @throws {MemoryBudgetError} when the memory budget cannot hold a step on one image (or on `microBatch` images).
 *
 * @example
 * ```ts
 * const report = await mpAdvTrain(model, batches, {
 *   epsilon: [2 / 255, 10 / 255], steps: [1, 9], stepSize: 1 / 255, epochs: 30, seed: 1,
 *   loss: (z, y) => focalLoss(z, y, { gamma: 2 }),
 * });
 * ```
 * @category Defenses
 */
export async function mpAdvTrain(model: LayersModel, data: BatchInput, options: MpAdvTrainOptions): Promise<TrainingReport> {
  return entryAsync('mpAdvTrain', async () => {
    const fn = 'mpAdvTrain';
    const o = assertOptionsObject(fn, options);
    assertKnownKeys(fn, o, KEYS);
    const plan = planLoop(fn, model, data, o);
    if (o.epsilon === undefined) throw new InvalidArgumentError(fn, 'options.epsilon', 'a number or a range [a, b] (it has no default: the budget is the experiment)', 'undefined');
    const [epsLo, epsHi] = rangeOption(fn, 'options.epsilon', o.epsilon, { min: 0 });
    const [stepsLo, stepsHi] = o.steps === undefined ? [1, 9] : rangeOption(fn, 'options.steps', o.steps, { integer: true, min: 1 });
    const stepSize = o.stepSize === undefined ? 1 / 255 : assertNumber(fn, 'options.stepSize', o.stepSize, { min: 0, minExclusive: true });
    const cleanProbability = o.cleanProbability === undefined ? 0.5 : assertNumber(fn, 'options.cleanProbability', o.cleanProbability, { min: 0, max: 1 });
    const randomStart = assertBoolean(fn, 'options.randomStart', o.randomStart) ?? true;
    const loss = lossOrDefault(fn, 'options.loss', o.loss, plan.task);
    const attackLoss = lossOrDefault(fn, 'options.attackLoss', o.attackLoss, plan.task);
    const channelScale = channelScaleOption(fn, o.channelScale, plan.inputShape[2] ?? 1);
    const paperQuirks = assertBoolean(fn, 'options.paperQuirks', o.paperQuirks) ?? false;
    return runTraining(plan, data, {
      draw: (rng) => {
        if (rng.next() < cleanProbability) return null;
        const epsilon = epsLo === epsHi ? epsLo : rng.uniform(epsLo, epsHi);
        const steps = stepsLo === stepsHi ? stepsLo : rng.nextInt(stepsLo, stepsHi);
        return { epsilon, steps, seed: rng.nextSeed() };
      },
      generate: ({ inference, images, labels, clip, batch, memory }, d: { epsilon: number; steps: number; seed: number }) => {
        assertImageValues(fn, 'images', images, paperQuirks ? null : clip);
        return innerPgd(inference, images, (logits, start, count) => attackLoss(logits, sampleSlice(labels, start, count)), {
          epsilon: d.epsilon, stepSize, steps: d.steps, channelScale, start: randomStart ? 'uniform' : 'none', startStd: 0,
          clipStart: !paperQuirks, clip, seed: d.seed, batch, memory, fn,
        });
      },
      objective: (train, images, adv, labels) => meanLoss(loss(train(adv ?? images), labels)),
    }, fn);
  });
}
