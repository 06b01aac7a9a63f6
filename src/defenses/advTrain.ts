import type * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { pgd } from '../attacks/pgd.js';
import { InvalidArgumentError } from '../errors.js';
import { assertBoolean, assertFunction, assertKnownKeys, assertNumber, assertOptionsObject, describeValue } from '../internal/validate.js';
import type { BatchInput, ClipRange, LossFn, MemoryOptions, ModelFn } from '../types.js';
import {
  LOOP_KEYS, lossOrDefault, meanLoss, planLoop, runTraining, type TrainingLoopOptions,
  type TrainingReport,
} from './trainingLoop.js';
import { entryAsync } from '../internal/scope.js';

/**
 * A custom adversarial generator for {@link advTrain}: returns the images to train on for a batch
 * (a new tensor the loop disposes), or null to train on the clean batch. The model it receives
 * runs in inference mode; `seed` is a fresh seed from the loop's generator, one per batch: with
 * `microBatch` the generator is called once per micro-batch, with that micro-batch's images and
 * labels and the batch's seed.
 * @category Defenses
 */
export type AdversarialGenerator = (model: ModelFn, images: tf.Tensor4D, labels: tf.Tensor, seed: number) => tf.Tensor4D | null;

/**
 * Options of {@link advTrain}: the loop's options plus the PGD of standard adversarial training.
 * @category Defenses
 */
export interface AdvTrainOptions extends TrainingLoopOptions {
  /**
   * The PGD budget ε of every training batch, in the units of the images. Required unless a
   * `generator` is given (the paper's standard AT, as far as it can be inferred: 4/255, paper.md §6.1).
   */
  epsilon?: number;
  /**
   * PGD steps T per batch (paper's standard AT: 4).
   * @defaultValue 10
   */
  steps?: number;
  /**
   * PGD step α (paper's standard AT: 1/255).
   * @defaultValue 2.5 * epsilon / steps
   */
  stepSize?: number;
  /**
   * Start PGD from a uniform random point of the ε-ball.
   * @defaultValue true
   */
  randomStart?: boolean;
  /**
   * The per-sample training loss on logits (its batch mean is minimised), e.g. {@link focalLoss}.
   * @defaultValue the task's loss (softmax cross-entropy, or mean sigmoid BCE for multi-label)
   */
  loss?: LossFn;
  /**
   * The per-sample loss PGD ascends.
   * @defaultValue the task's loss
   */
  attackLoss?: LossFn;
  /**
   * Replaces the PGD of standard adversarial training with any generator (then `epsilon`,
   * `steps`, `stepSize`, `randomStart` and `attackLoss` must be left out).
   * @defaultValue undefined (PGD)
   */
  generator?: AdversarialGenerator;
}

const PGD_KEYS = ['epsilon', 'steps', 'stepSize', 'randomStart', 'attackLoss'] as const;
const KEYS = [...LOOP_KEYS, ...PGD_KEYS, 'loss', 'generator'];

/**
 * Standard PGD adversarial training (Madry et al., ICLR 2018), and the training loop every defense
 * here is built on: min_θ E_{(x,y)} L(f_θ(PGD_{ε,α,T}(x, y)), y), every batch adversarial.
 *
 * For each batch the adversarial images are made with the model in inference mode
 * (`apply(x, {training: false})`), then the update runs in training mode
 * (`apply(x, {training: true})`) on them. **It mutates the model's weights** (and batch-norm
 * statistics) in place; with `validation` the model ends with the weights of the epoch with the
 * highest robust validation accuracy (`restoreBest`).
 *
 * The loop: `epochs` passes over `data`; the optimizer (Adam 1e-3 by default); `l1` and
 * `weightDecay` penalties; a per-epoch `learningRate`; `onProgress` after every batch and epoch
 * with an ETA; `signal` to abort between batches (an {@link AbortError}, after saving a
 * checkpoint); `checkpoint` saves weights, optimizer state (Adam's β-powers included), epoch,
 * batch, RNG state, best validation score and weights after every epoch (and every
 * `checkpointEvery` batches), and a later call resumes from it: an interrupted (aborted, or killed)
 * and resumed seeded run ends with the same weights bit for bit as an uninterrupted one, for every
 * optimizer a checkpoint accepts (with an array source, or a factory that yields the same batches
 * for the same epoch). Without a checkpoint an abort leaves the model with the weights of the last
 * finished batch. A batch that does not fit in `memoryBudget` (by default what the backend can hold,
 * see {@link memoryStatus}), or a given `microBatch`, splits into micro-batches whose gradients are
 * summed into one step (see `batchNorm` for what that does to batch norm); PGD runs in chunks of
 * `batchSize` or of what fits, as {@link pgd} does.
 *
 * Every step checks, with one reduction, that the loss, the gradients, the weights and the
 * adversarial images are finite, and throws a {@link NonFiniteError} naming what and where before
 * applying a non-finite update (a NaN that a ReLU hides from the loss included). Errors raised by
 * the functions the loop calls (pgd, the losses, a generator) name `advTrain` and keep the
 * original as `cause`.
 *
 * @param model - a single-output `tf.LayersModel` returning logits (see `options.output` otherwise); trained in place.
 * @param data - the training batches, see {@link BatchInput}: an array (borrowed), or an (async) iterable or a factory `(epoch) => iterable` whose batches the loop disposes.
 * @param options - see {@link AdvTrainOptions}; unknown keys are rejected.
 * @returns a {@link TrainingReport} (seed, per-epoch loss and validation accuracies, best epoch).
 * @throws {InvalidArgumentError} for a model that is not a LayersModel, an empty or malformed
 *   batch source, labels that do not fit the model's outputs, a missing or invalid ε, or an unknown option.
 * @throws {AbortError} when `signal` aborts.
 * @throws {FormatError} when the checkpoint belongs to another model, method or optimizer.
 * @throws {NonFiniteError} when a loss, gradient, weight or adversarial image is NaN or infinite.
 * @throws {MemoryBudgetError} when the memory budget cannot hold a step on one image (or on `microBatch` images).
 *
 * @example
 * ```ts
 * const report = await advTrain(model, [{ images, labels }], {
 *   epsilon: 4 / 255, steps: 4, stepSize: 1 / 255, epochs: 30, optimizer: tf.train.adam(2e-3), seed: 1,
 *   validation: { images: valImages, labels: valLabels, epsilon: 4 / 255, steps: 4, stepSize: 1 / 255 },
 * });
 * ```
 * @category Defenses
 */
export async function advTrain(model: LayersModel, data: BatchInput, options: AdvTrainOptions): Promise<TrainingReport> {
  return entryAsync('advTrain', async () => {
    const fn = 'advTrain';
    const o = assertOptionsObject(fn, options);
    assertKnownKeys(fn, o, KEYS);
    const plan = planLoop(fn, model, data, o);
    const loss = lossOrDefault(fn, 'options.loss', o.loss, plan.task);
    assertFunction(fn, 'options.generator', o.generator);
    let generate: (inference: ModelFn, images: tf.Tensor4D, labels: tf.Tensor, seed: number, clip: ClipRange, memory: MemoryOptions) => tf.Tensor4D | null;
    if (o.generator !== undefined) {
      const both = PGD_KEYS.find((k) => o[k] !== undefined);
      if (both) throw new InvalidArgumentError(fn, `options.${both}`, 'left out when options.generator is given', describeValue(o[both]));
      const custom = o.generator as AdversarialGenerator;
      generate = (inference, images, labels, seed) => custom(inference, images, labels, seed);
    } else {
      if (o.epsilon === undefined) throw new InvalidArgumentError(fn, 'options.epsilon', 'a finite number >= 0 (it has no default: the budget is the experiment)', 'undefined');
      const epsilon = assertNumber(fn, 'options.epsilon', o.epsilon, { min: 0 });
      const steps = o.steps === undefined ? 10 : assertNumber(fn, 'options.steps', o.steps, { integer: true, min: 1 });
      const stepSize = o.stepSize === undefined ? (2.5 * epsilon) / steps : assertNumber(fn, 'options.stepSize', o.stepSize, { min: 0, minExclusive: true });
      const randomStart = assertBoolean(fn, 'options.randomStart', o.randomStart) ?? true;
      const attackLoss = lossOrDefault(fn, 'options.attackLoss', o.attackLoss, plan.task);
      generate = (inference, images, labels, seed, clip, memory) =>
        pgd(inference, images, labels, { epsilon, steps, stepSize, randomStart, clip, task: plan.task, loss: attackLoss, seed, ...memory });
    }
    return runTraining(plan, data, {
      // One seed per batch: pgd's random start is one pattern per call, so every micro-batch of a
      // split batch gets the rows the whole batch would.
      draw: (rng) => rng.nextSeed(),
      generate: ({ inference, images, labels, clip, memory }, seed: number) => generate(inference, images, labels, seed, clip, memory),
      objective: (train, images, adv, labels) => meanLoss(loss(train(adv ?? images), labels)),
    }, fn);
  });
}
