/**
 * The one training loop behind advTrain, mpAdvTrain, maAdvTrain and trades: batches, optimizer
 * steps, progress, abort, checkpoint/resume and per-epoch robust validation with best-weight
 * selection. Each defense plugs in a {@link TrainingMethod}: how a batch's adversarial images are
 * made (model in inference mode) and which objective the update minimises (model in training mode).
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { pgd } from '../attacks/pgd.js';
import { nextTick } from '../internal/drive.js';
import { AbortError, FormatError, InvalidArgumentError } from '../errors.js';
import { taskLoss } from '../internal/loss.js';
import { mapInChunks, readMemoryOptions, type MemoryOptions } from '../internal/memory.js';
import { createRng, drawSeed, type Rng } from '../internal/random.js';
import {
  assertBoolean, assertClip, assertFunction, assertImages, assertLabelsShape, assertNumber, assertOneOf,
  assertOptionalNumber, assertSignal, describeValue,
} from '../internal/validate.js';
import { assertBatchInput, iterateBatches } from '../internal/batches.js';
import type { Batch, BatchInput, CheckpointStore, ClipRange, LossFn, ModelFn, Progress, Task } from '../types.js';
import {
  assertOptimizer, optimizerConfig, restoreModel, restoreOptimizer, snapshotModel, snapshotOptimizer, type SavedTensor,
} from './trainingState.js';
import {
  applyTraining, assertFiniteWeights, batchNormLayers, planMicroBatch, trainingStep, type StepSetup, type TrainingMethod,
} from './trainingStep.js';
import { reattribute, releaseStaleTape } from '../internal/scope.js';

/**
 * Per-epoch evaluation under PGD on a held-out validation split, used to select the best weights.
 * Never pass the test split here (the paper's code selects on the test set, paper.md §6.1).
 * @category Defenses
 */
export interface ValidationOptions {
  /** Validation images `[N, H, W, C]`; borrowed. */
  images: tf.Tensor4D;
  /** Their labels, in the training task's format; borrowed. */
  labels: tf.Tensor;
  /** The PGD budget ε of the evaluation attack (the paper: 2/255 on ISIC, 4/255 on Messidor and ChestX-ray14). */
  epsilon: number;
  /**
   * PGD steps of the evaluation attack.
   * @defaultValue 10
   */
  steps?: number;
  /**
   * PGD step α.
   * @defaultValue 2.5 * epsilon / steps
   */
  stepSize?: number;
  /**
   * Random start of the evaluation attack.
   * @defaultValue true
   */
  randomStart?: boolean;
  /**
   * Images per evaluation chunk.
   * @defaultValue 32
   */
  batchSize?: number;
  /**
   * Seed of the evaluation attack, the same every epoch so that epochs are compared on equal terms.
   * @defaultValue the training seed
   */
  seed?: number;
  /**
   * Multi-label only: the probability above which a label counts as predicted.
   * @defaultValue 0.5
   */
  threshold?: number;
}

/**
 * Options every training loop accepts.
 * @category Defenses
 */
export interface TrainingLoopOptions {
  /**
   * The optimizer. When omitted, `tf.train.adam(0.001)` is created and disposed by the loop. A
   * given optimizer stays the caller's (its slot variables are not disposed).
   * @defaultValue tf.train.adam(0.001)
   */
  optimizer?: tf.Optimizer;
  /**
   * Number of epochs (passes over the batch source), counted from 0 including resumed ones.
   * @defaultValue 10
   */
  epochs?: number;
  /**
   * The task: picks the label format and the default losses.
   * @defaultValue 'single-label'
   */
  task?: Task;
  /**
   * Which output holds the logits, for models with several outputs (AttnVGG returns `[logits, a1, a2]`).
   * @defaultValue 0
   */
  output?: number;
  /**
   * The valid input range adversarial images are clipped to (see {@link ClipRange}).
   * @defaultValue [0, 1]
   */
  clip?: ClipRange;
  /**
   * L1 weight penalty λ: adds λ·Σ|θ| over the trainable weights (Messidor: 0.01, paper.md §6.1).
   * @defaultValue 0
   */
  l1?: number;
  /**
   * Coupled weight decay w: adds (w/2)·Σθ² over the trainable weights, whose gradient w·θ is
   * PyTorch's `weight_decay` for SGD and Adam (paper: 1e-4 on ISIC, 1e-3 on Messidor).
   * @defaultValue 0
   */
  weightDecay?: number;
  /**
   * The learning rate of each epoch, set on the optimizer at the start of the epoch (as the
   * paper's LambdaLR, stepped at the start of each epoch). Without it the optimizer's own rate is
   * kept. It is called for every epoch before the first step, to refuse a non-finite or
   * non-positive rate up front.
   * @defaultValue undefined
   */
  learningRate?: (epoch: number) => number;
  /**
   * Per-epoch robust validation and best-weight selection (see {@link ValidationOptions}).
   * @defaultValue undefined (no validation)
   */
  validation?: ValidationOptions;
  /**
   * With validation: put the weights of the best epoch (highest robust accuracy) back into the
   * model at the end. Otherwise the model keeps the last epoch's weights.
   * @defaultValue true
   */
  restoreBest?: boolean;
  /**
   * Where to save state after every epoch (and every `checkpointEvery` batches) and on abort, and
   * to resume from (see {@link TrainingCheckpoint}). The optimizer must then be one whose whole
   * state can be saved: SGD, Momentum, Adam, Adagrad, Adadelta or RMSProp (Adamax and custom
   * classes are refused).
   * @defaultValue undefined (no checkpoints)
   */
  checkpoint?: CheckpointStore<TrainingCheckpoint>;
  /**
   * Also save a checkpoint after every this many batches within an epoch, so that a killed process
   * loses at most that many batches. Resuming mid-epoch needs a source that yields the same
   * batches for the same epoch (an array, or a seeded factory).
   * @defaultValue undefined (after every epoch only)
   */
  checkpointEvery?: number;
  /**
   * Resume from `checkpoint.load()` when it returns a state. Set false to start afresh (the next
   * save overwrites the old state).
   * @defaultValue true
   */
  resume?: boolean;
  /**
   * Cancels the run between batches with an {@link AbortError}, after saving a checkpoint.
   * @defaultValue undefined
   */
  signal?: AbortSignal;
  /**
   * Called after every batch (`phase: 'batch'`, done/total within the epoch) and every epoch
   * (`phase: 'epoch'`), with the estimated time left for the whole run.
   * @defaultValue undefined
   */
  onProgress?: (progress: Progress) => void;
  /**
   * Seed of the loop's own randomness (coin flips, drawn ε and steps, attack seeds). Without it a
   * seed is drawn and returned as `report.seed`.
   * @defaultValue drawn at random
   */
  seed?: number;
  /**
   * Images per micro-batch: each batch is split into micro-batches that make their adversarial
   * images and their gradients one after the other, and the summed gradient takes one optimizer
   * step, so a large effective batch trains in the memory of a small one. Without batch norm this
   * equals the whole-batch step up to float rounding; with batch norm see `batchNorm`. The draws
   * (coin, ε, T, attack seed) are made once per batch, and start noise is drawn for the whole batch
   * and sliced, so the adversarial images are those of the whole batch too. With `memoryBudget` too,
   * it is checked against the budget ({@link MemoryBudgetError} when it does not fit).
   * @defaultValue the largest that fits in `memoryBudget` (the whole batch when it fits)
   */
  microBatch?: number;
  /**
   * Bytes of tensor memory a training step may use (see {@link MemoryOptions}): without `microBatch`
   * the micro-batch is the largest that fits, from core's memory model (the update's peak measured
   * on 1 and, when needed, 2 images, cached per model), and the inner attack runs in chunks that fit
   * too. Throws a {@link MemoryBudgetError} when one image does not fit.
   * @defaultValue memoryStatus().availableBytes (unbounded where unknown: WebGL, WebGPU, browsers)
   */
  memoryBudget?: number;
  /**
   * Images the inner attack (PGD, or the MART/TRADES/MPAdvT attack) processes at once, as `pgd`'s
   * `batchSize`: its chunks, within a micro-batch; the result does not depend on it. (The update's
   * split is `microBatch`.)
   * @defaultValue as many as fit in `memoryBudget`
   */
  batchSize?: number;
  /**
   * What batch norm does in the update when batches are split (`microBatch`, `memoryBudget`):
   * `'micro'`: each micro-batch is normalised with its own statistics, and the running mean and
   * variance are updated once per micro-batch (per forward pass: twice for MART and TRADES, which
   * run the clean and the adversarial images), as PyTorch gradient accumulation does, so small
   * micro-batches give noisier statistics than the whole batch. `'frozen'`: batch-norm layers run
   * in inference mode during the update (normalised with the running statistics, which stay as
   * they are; γ and β still train), so the result no longer depends on the micro-batch size: the
   * usual choice for fine-tuning a pretrained network at small micro-batches. Other layers
   * (dropout) stay in training mode. Applies to unsplit batches too.
   * @defaultValue 'micro'
   */
  batchNorm?: 'micro' | 'frozen';
}

/**
 * What the loop saves: everything needed to continue the run as if it had not stopped.
 * @category Defenses
 */
export interface TrainingCheckpoint {
  /** Format tag, `'medrobust.training/1'`. */
  readonly format: 'medrobust.training/1';
  /** The defense that saved it (`'advTrain'`, `'mpAdvTrain'`, ...). */
  readonly method: string;
  /** The run's seed. */
  readonly seed: number;
  /** The epoch to continue (0-based). */
  readonly epoch: number;
  /** Batches of that epoch already done (0 after a finished epoch). */
  readonly batch: number;
  /** The state of the loop's random generator. */
  readonly rngState: number;
  /** Every model weight, in `model.weights` order. */
  readonly weights: readonly SavedTensor[];
  /** The optimizer's class name, e.g. `'Adam'`. */
  readonly optimizerClass: string;
  /** The optimizer's state (`optimizer.getWeights()`). */
  readonly optimizerWeights: readonly SavedTensor[];
  /**
   * Adam's running powers β₁ᵗ and β₂ᵗ as float32 values (tfjs keeps them outside `getWeights` and
   * would recompute them as powers, which differ in the last bits: a resumed run would drift).
   * Absent for other optimizers.
   */
  readonly adamPowers?: readonly [number, number];
  /** The optimizer's configuration apart from its learning rate (`getConfig()`), checked on resume. */
  readonly optimizerConfig?: Readonly<Record<string, number | boolean | string | null>>;
  /** The best validation epoch so far, with its score and weights, or null. */
  readonly best: {
    /** The best epoch so far. */ readonly epoch: number;
    /** Its validation score. */ readonly score: number;
    /** Its weights. */ readonly weights: readonly SavedTensor[]
  } | null;
  /** The finished epochs' records. */
  readonly history: readonly EpochRecord[];
  /** Sums over the unfinished epoch's done batches. */
  readonly partial: {
    /** Sum of batch losses in the unfinished epoch. */ readonly lossSum: number;
    /** Batches finished in it. */ readonly batches: number;
    /** How many of them were adversarial. */ readonly adversarialBatches: number
  };
}

/**
 * One finished epoch.
 * @category Defenses
 */
export interface EpochRecord {
  /** The epoch (0-based). */
  readonly epoch: number;
  /** The mean training objective over the epoch's batches (penalties included). */
  readonly loss: number;
  /** Batches in the epoch. */
  readonly batches: number;
  /** Batches trained on adversarial images (MPAdvT trains the rest clean). */
  readonly adversarialBatches: number;
  /** Accuracy on the validation split, clean and under the validation PGD, when validating. */
  readonly validation?: {
    /** Clean validation accuracy. */ readonly clean: number;
    /** Validation accuracy under the validation PGD. */ readonly robust: number
  };
}

/**
 * What a training run returns. The model's weights have been updated in place.
 * @category Defenses
 */
export interface TrainingReport {
  /** The defense, e.g. `'maAdvTrain'`. */
  readonly method: string;
  /** The seed of the run (the given one, the resumed one, or the drawn one). */
  readonly seed: number;
  /** Epochs finished in total, including resumed ones. */
  readonly epochs: number;
  /** Where this call resumed from, or null for a fresh start. */
  readonly resumedFrom: {
    /** Epoch the run resumed in. */ readonly epoch: number;
    /** Batch index within it. */ readonly batch: number
  } | null;
  /** One record per finished epoch. */
  readonly history: readonly EpochRecord[];
  /** The epoch with the highest robust validation accuracy, or null without validation. */
  readonly bestEpoch: number | null;
  /** That accuracy, or null. */
  readonly bestScore: number | null;
  /** Whether the model now holds the best epoch's weights (otherwise the last epoch's). */
  readonly restoredBest: boolean;
  /**
   * The largest micro-batch this call trained with (the given `microBatch`, or the one chosen from
   * `memoryBudget`, at most the batch), or null when no batch was trained (a finished run resumed).
   */
  readonly microBatch: number | null;
}

export type { ChunkContext, TrainingMethod } from './trainingStep.js';

/** Option keys of {@link TrainingLoopOptions}. */
export const LOOP_KEYS = [
  'optimizer', 'epochs', 'task', 'output', 'clip', 'l1', 'weightDecay', 'learningRate', 'validation', 'restoreBest',
  'checkpoint', 'checkpointEvery', 'resume', 'signal', 'onProgress', 'seed', 'microBatch', 'memoryBudget', 'batchSize', 'batchNorm',
] as const;

const VALIDATION_KEYS = ['images', 'labels', 'epsilon', 'steps', 'stepSize', 'randomStart', 'batchSize', 'seed', 'threshold'];

/** Validated loop settings. */
export interface LoopPlan {
  readonly fn: string;
  readonly model: LayersModel;
  readonly classes: number;
  readonly task: Task;
  readonly clip: ClipRange;
  readonly output: number;
  readonly epochs: number;
  readonly l1: number;
  readonly weightDecay: number;
  readonly optimizer: tf.Optimizer | undefined;
  readonly learningRate: ((epoch: number) => number) | undefined;
  readonly validation: Required<Omit<ValidationOptions, 'seed'>> & { seed: number | undefined } | undefined;
  readonly restoreBest: boolean;
  readonly checkpoint: CheckpointStore<TrainingCheckpoint> | undefined;
  readonly checkpointEvery: number | undefined;
  readonly resume: boolean;
  readonly microBatch: number | undefined;
  /** `batchSize` and `memoryBudget` as given. */
  readonly memory: MemoryOptions;
  readonly batchNorm: 'micro' | 'frozen';
  readonly signal: AbortSignal | undefined;
  readonly onProgress: ((p: Progress) => void) | undefined;
  readonly seed: number | undefined;
  /** The model's input shape without the batch axis (null where free). */
  readonly inputShape: readonly (number | null)[];
}

function isLayersModel(model: unknown): model is LayersModel {
  const m = model as LayersModel;
  return typeof model === 'object' && model !== null && typeof m.apply === 'function' && Array.isArray(m.weights) && Array.isArray(m.trainableWeights) && typeof m.setWeights === 'function';
}

/** Validates the model, the batch source and the loop options (no tensor is allocated). */
export function planLoop(fn: string, model: unknown, data: unknown, o: Record<string, unknown>): LoopPlan {
  if (!isLayersModel(model)) throw new InvalidArgumentError(fn, 'model', 'a tf.LayersModel (defenses train its weights)', describeValue(model));
  const output = o.output === undefined ? 0 : assertNumber(fn, 'options.output', o.output, { integer: true, min: 0 });
  const outputs = (model as unknown as { outputs?: { shape: (number | null)[] }[] }).outputs ?? [];
  const out = outputs[output];
  if (out === undefined) throw new InvalidArgumentError(fn, 'options.output', `an output index below ${outputs.length}`, String(output));
  if (out.shape.length !== 2 || typeof out.shape[1] !== 'number') {
    throw new InvalidArgumentError(fn, 'model', 'a model whose selected output is logits [N, C]', `an output of shape [${out.shape.join(',')}]`);
  }
  const classes = out.shape[1];
  const task = assertOneOf<Task>(fn, 'options.task', o.task, ['single-label', 'multi-label']) ?? 'single-label';
  if (task === 'single-label' && classes < 2) throw new InvalidArgumentError(fn, 'model', "at least 2 logits for task 'single-label'", `${classes} logit`);
  const clip = (o.clip === undefined ? [0, 1] : o.clip) as ClipRange;
  const inputShape = (model as unknown as { inputs?: { shape: (number | null)[] }[] }).inputs?.[0]?.shape;
  const channels = typeof inputShape?.[3] === 'number' ? inputShape[3] : 1;
  assertClip(fn, 'options.clip', clip, channels);
  const epochs = o.epochs === undefined ? 10 : assertNumber(fn, 'options.epochs', o.epochs, { integer: true, min: 1 });
  const l1 = o.l1 === undefined ? 0 : assertNumber(fn, 'options.l1', o.l1, { min: 0 });
  const weightDecay = o.weightDecay === undefined ? 0 : assertNumber(fn, 'options.weightDecay', o.weightDecay, { min: 0 });
  const optimizer = o.optimizer;
  // tfjs' Optimizer[Symbol.hasInstance] reads `.minimize` of its operand: null must not reach it
  if (optimizer !== undefined && (typeof optimizer !== 'object' || optimizer === null || !(optimizer instanceof tf.Optimizer))) throw new InvalidArgumentError(fn, 'options.optimizer', 'a tf.Optimizer (e.g. tf.train.adam(1e-3))', describeValue(optimizer));
  assertFunction(fn, 'options.learningRate', o.learningRate);
  assertFunction(fn, 'options.onProgress', o.onProgress);
  const signal = assertSignal(fn, 'options.signal', o.signal);
  const restoreBest = assertBoolean(fn, 'options.restoreBest', o.restoreBest) ?? true;
  const resume = assertBoolean(fn, 'options.resume', o.resume) ?? true;
  const checkpoint = o.checkpoint as CheckpointStore<TrainingCheckpoint> | undefined;
  if (checkpoint !== undefined && (typeof checkpoint !== 'object' || checkpoint === null || typeof checkpoint.save !== 'function' || typeof checkpoint.load !== 'function')) {
    throw new InvalidArgumentError(fn, 'options.checkpoint', 'a CheckpointStore { save(state), load() }', describeValue(checkpoint));
  }
  const checkpointEvery = assertOptionalNumber(fn, 'options.checkpointEvery', o.checkpointEvery, { integer: true, min: 1 });
  if (checkpointEvery !== undefined && checkpoint === undefined) throw new InvalidArgumentError(fn, 'options.checkpointEvery', 'given together with options.checkpoint', String(checkpointEvery));
  if (optimizer !== undefined) assertOptimizer(fn, optimizer as tf.Optimizer, checkpoint !== undefined);
  const learningRate = o.learningRate as LoopPlan['learningRate'];
  // A schedule is checked for every epoch before the first step (a NaN rate trains NaN weights).
  if (learningRate) for (let e = 0; e < epochs; e++) assertNumber(fn, `options.learningRate(${e})`, learningRate(e), { min: 0, minExclusive: true });
  if (learningRate && optimizer !== undefined && !hasLearningRate(optimizer as tf.Optimizer)) {
    throw new InvalidArgumentError(fn, 'options.learningRate', 'used with an optimizer that has a learning rate', (optimizer as tf.Optimizer).getClassName());
  }
  const seed = assertOptionalNumber(fn, 'options.seed', o.seed, { integer: true, min: 0 });
  const microBatch = assertOptionalNumber(fn, 'options.microBatch', o.microBatch, { integer: true, min: 1 });
  const memory = readMemoryOptions(fn, o);
  const batchNorm = assertOneOf(fn, 'options.batchNorm', o.batchNorm, ['micro', 'frozen'] as const) ?? 'micro';
  const validation = o.validation === undefined ? undefined : planValidation(fn, o.validation, task, classes);
  const shape = inputShape?.slice(1) ?? [];
  checkSource(fn, data, task, classes, shape);
  return {
    fn, model, classes, task, clip, output, epochs, l1, weightDecay, optimizer: optimizer as tf.Optimizer | undefined,
    learningRate, validation, restoreBest, checkpoint, checkpointEvery, resume, microBatch, memory, batchNorm, signal,
    onProgress: o.onProgress as LoopPlan['onProgress'], seed, inputShape: shape,
  };
}

function hasLearningRate(optimizer: tf.Optimizer): boolean {
  const o = optimizer as unknown as { setLearningRate?: unknown; learningRate?: unknown };
  return typeof o.setLearningRate === 'function' || typeof o.learningRate === 'number';
}

function planValidation(fn: string, raw: unknown, task: Task, classes: number): LoopPlan['validation'] {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new InvalidArgumentError(fn, 'options.validation', 'an object { images, labels, epsilon, ... }', describeValue(raw));
  const v = raw as Record<string, unknown>;
  for (const key of Object.keys(v)) {
    if (!VALIDATION_KEYS.includes(key)) throw new InvalidArgumentError(fn, `options.validation.${key}`, `one of the known options (${VALIDATION_KEYS.join(', ')})`, `an unknown option '${key}'`);
  }
  const images = assertImages(fn, 'options.validation.images', v.images);
  const labels = assertLabelsShape(fn, 'options.validation.labels', v.labels, images.shape[0], task);
  checkLabelValues(fn, 'options.validation.labels', labels, task, classes);
  const epsilon = assertNumber(fn, 'options.validation.epsilon', v.epsilon, { min: 0 });
  const steps = v.steps === undefined ? 10 : assertNumber(fn, 'options.validation.steps', v.steps, { integer: true, min: 1 });
  const stepSize = v.stepSize === undefined ? (2.5 * epsilon) / steps : assertNumber(fn, 'options.validation.stepSize', v.stepSize, { min: 0, minExclusive: true });
  const randomStart = assertBoolean(fn, 'options.validation.randomStart', v.randomStart) ?? true;
  const batchSize = v.batchSize === undefined ? 32 : assertNumber(fn, 'options.validation.batchSize', v.batchSize, { integer: true, min: 1 });
  const seed = assertOptionalNumber(fn, 'options.validation.seed', v.seed, { integer: true, min: 0 });
  const threshold = v.threshold === undefined ? 0.5 : assertNumber(fn, 'options.validation.threshold', v.threshold, { min: 0, max: 1, minExclusive: true, maxExclusive: true });
  return { images, labels, epsilon, steps, stepSize, randomStart, batchSize, seed, threshold };
}

function checkSource(fn: string, data: unknown, task: Task, classes: number, inputShape: readonly (number | null)[]): void {
  assertBatchInput(fn, 'data', data);
  if (!Array.isArray(data)) return;
  if (data.length === 0) throw new InvalidArgumentError(fn, 'data', 'a non-empty array of { images, labels } batches', 'an empty array');
  data.forEach((b, i) => checkBatch(fn, `data[${i}]`, b, task, classes, inputShape));
}

/** Shapes and label values of one batch (one small read of the labels). */
export function checkBatch(fn: string, where: string, batch: unknown, task: Task, classes: number, inputShape: readonly (number | null)[]): Batch {
  if (typeof batch !== 'object' || batch === null) throw new InvalidArgumentError(fn, where, 'a batch { images, labels }', describeValue(batch));
  const b = batch as Record<string, unknown>;
  const images = assertImages(fn, `${where}.images`, b.images);
  if (inputShape.length === 3 && inputShape.some((d, i) => d !== null && d !== images.shape[i + 1])) {
    throw new InvalidArgumentError(fn, `${where}.images`, `images of shape [N, ${inputShape.map((d) => d ?? '?').join(', ')}] to match the model's input`, `shape [${images.shape.join(',')}]`);
  }
  const labels = assertLabelsShape(fn, `${where}.labels`, b.labels, images.shape[0], task);
  checkLabelValues(fn, `${where}.labels`, labels, task, classes);
  return { images, labels };
}

function checkLabelValues(fn: string, where: string, labels: tf.Tensor, task: Task, classes: number): void {
  if (labels.rank === 2 && labels.shape[1] !== classes) {
    throw new InvalidArgumentError(fn, where, `a [N, ${classes}] tensor to match the model's ${classes} logits`, `shape [${labels.shape.join(',')}]`);
  }
  const values = labels.dataSync();
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    const ok = labels.rank === 1 ? Number.isInteger(v) && v >= 0 && v < classes : v >= 0 && v <= 1;
    if (!ok) {
      const expected = labels.rank === 1 ? `class indices in [0, ${classes - 1}]` : task === 'multi-label' ? 'multi-hot values in [0, 1]' : 'one-hot values in [0, 1]';
      throw new InvalidArgumentError(fn, `${where}[${i}]`, expected, describeValue(v));
    }
  }
}

/** Picks the selected output of the model. */
function pick(out: unknown, index: number): tf.Tensor2D {
  return (Array.isArray(out) ? out[index] : out) as tf.Tensor2D;
}


function setLearningRate(fn: string, optimizer: tf.Optimizer, lr: number): void {
  assertNumber(fn, 'options.learningRate(epoch)', lr, { min: 0, minExclusive: true });
  const o = optimizer as unknown as { setLearningRate?: (lr: number) => void; learningRate?: number };
  if (typeof o.setLearningRate === 'function') o.setLearningRate(lr);
  else if (typeof o.learningRate === 'number') o.learningRate = lr;
  else throw new InvalidArgumentError(fn, 'options.learningRate', 'used with an optimizer that has a learning rate', optimizer.getClassName());
}

/** Runs the loop (see TrainingLoopOptions); mutates the model's weights. */
export async function runTraining<D>(plan: LoopPlan, data: BatchInput, method: TrainingMethod<D>, name: string): Promise<TrainingReport> {
  const { fn, model, task, clip, output, epochs, l1, weightDecay, validation, signal, onProgress, checkpoint } = plan;
  const ownOptimizer = plan.optimizer === undefined;
  const optimizer = plan.optimizer ?? tf.train.adam(0.001);
  const inference: ModelFn = (x) => pick(model.apply(x, { training: false }), output);
  // Training mode, with dead layer outputs freed as the forward pass goes (same values).
  const train: ModelFn = (x) => pick(applyTraining(model, x), output);
  const bn = batchNormLayers(model);
  const started = Date.now();
  try {
    const saved = checkpoint && plan.resume ? await checkpoint.load() : undefined;
    if (saved !== undefined) await restoreState(fn, name, model, optimizer, saved);
    const seed = saved?.seed ?? plan.seed ?? drawSeed();
    const rng = createRng(saved?.rngState ?? seed);
    const history: EpochRecord[] = saved ? [...saved.history] : [];
    let best = saved?.best ?? null;
    const resumedFrom = saved ? { epoch: saved.epoch, batch: saved.batch } : null;
    let startBatch = saved?.batch ?? 0;
    let partial = saved?.partial ?? { lossSum: 0, batches: 0, adversarialBatches: 0 };
    let batchesPerEpoch = Array.isArray(data) ? data.length : NaN;
    let batchesThisCall = 0;
    let largestMicroBatch = 0;
    const remainingBatches = (epoch: number, batch: number): number => (epochs - epoch) * batchesPerEpoch - batch;

    const snapshot = async (epoch: number, batch: number): Promise<TrainingCheckpoint> => {
      const opt = await snapshotOptimizer(optimizer);
      return {
        format: 'medrobust.training/1', method: name, seed, epoch, batch, rngState: rng.state(),
        weights: await snapshotModel(model), optimizerClass: optimizer.getClassName(),
        optimizerWeights: opt.weights, ...(opt.adamPowers ? { adamPowers: opt.adamPowers } : {}), optimizerConfig: optimizerConfig(optimizer),
        best, history: [...history], partial: { ...partial },
      };
    };

    for (let epoch = saved?.epoch ?? 0; epoch < epochs; epoch++) {
      if (plan.learningRate) setLearningRate(fn, optimizer, plan.learningRate(epoch));
      const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
      const setup: StepSetup = { fn, model, vars, optimizer, method: method as TrainingMethod, inference, train, task, clip, l1, weightDecay, batchNorm: plan.batchNorm, memory: plan.memory };
      let batch = 0;
      for await (const { batch: raw, owned } of iterateBatches<unknown>(fn, 'data', data, epoch)) {
        try {
          if (batch < startBatch) continue; // resuming mid-epoch: these batches were done before the stop
          if (signal?.aborted) {
            if (checkpoint) await checkpoint.save(await snapshot(epoch, batch));
            throw new AbortError(`${fn}: aborted at epoch ${epoch}, batch ${batch}${checkpoint ? ' (checkpoint saved; call again to resume)' : ''}`);
          }
          const { images, labels } = owned ? checkBatch(fn, `data(${epoch}) batch ${batch}`, raw, task, plan.classes, plan.inputShape) : (raw as Batch);
          const microBatch = planMicroBatch(setup, bn, images, labels, plan.microBatch, plan.memory);
          largestMicroBatch = Math.max(largestMicroBatch, microBatch);
          const draw = method.draw(rng);
          const result = await trainingStep(setup, bn, images, labels, draw, microBatch, `epoch ${epoch}, batch ${batch}`);
          partial = {
            lossSum: partial.lossSum + result.loss, batches: partial.batches + 1,
            adversarialBatches: partial.adversarialBatches + (result.adversarial ? 1 : 0),
          };
        } finally {
          if (owned) tf.dispose([(raw as Batch | null)?.images, (raw as Batch | null)?.labels].filter((t) => t instanceof tf.Tensor));
          batch++;
        }
        batchesThisCall++;
        if (plan.checkpointEvery !== undefined && batch % plan.checkpointEvery === 0) {
          await assertFiniteWeights(fn, vars, `epoch ${epoch}, batch ${batch - 1}`);
          await checkpoint!.save(await snapshot(epoch, batch));
        }
        if (onProgress) {
          const elapsed = (Date.now() - started) / 1000;
          onProgress({
            phase: 'batch', done: batch, total: batchesPerEpoch, elapsedSeconds: elapsed,
            etaSeconds: Number.isFinite(batchesPerEpoch) ? (elapsed / batchesThisCall) * remainingBatches(epoch, batch) : NaN,
            metrics: { epoch },
          });
        }
        await nextTick();
      }
      if (batch === 0) throw new InvalidArgumentError(fn, 'data', 'a source that yields at least one batch per epoch', `no batches in epoch ${epoch}`);
      await assertFiniteWeights(fn, vars, `epoch ${epoch}`);
      batchesPerEpoch = batch;
      startBatch = 0;
      const epochLoss = partial.lossSum / partial.batches;
      let record: EpochRecord = { epoch, loss: epochLoss, batches: partial.batches, adversarialBatches: partial.adversarialBatches };
      if (validation) {
        let result: { clean: number; robust: number };
        try {
          result = await evaluate(plan, inference, validation.seed ?? seed, signal);
        } catch (err) {
          releaseStaleTape();
          throw reattribute(err, fn, {}, `validation after epoch ${epoch}`);
        }
        record = { ...record, validation: result };
        if (best === null || result.robust > best.score) best = { epoch, score: result.robust, weights: await snapshotModel(model) };
      }
      history.push(record);
      partial = { lossSum: 0, batches: 0, adversarialBatches: 0 };
      if (checkpoint) await checkpoint.save(await snapshot(epoch + 1, 0));
      if (onProgress) {
        const elapsed = (Date.now() - started) / 1000;
        const doneEpochs = epoch + 1 - (resumedFrom?.epoch ?? 0);
        onProgress({
          phase: 'epoch', done: epoch + 1, total: epochs, elapsedSeconds: elapsed, etaSeconds: (elapsed / doneEpochs) * (epochs - epoch - 1),
          metrics: { loss: epochLoss, ...(record.validation ? { cleanAccuracy: record.validation.clean, robustAccuracy: record.validation.robust } : {}) },
        });
      }
    }
    const restoredBest = validation !== undefined && plan.restoreBest && best !== null;
    if (restoredBest) restoreModel(fn, model, best!.weights, 'the best weights');
    return {
      method: name, seed, epochs: history.length, resumedFrom, history,
      bestEpoch: best?.epoch ?? null, bestScore: best?.score ?? null, restoredBest,
      microBatch: largestMicroBatch > 0 ? largestMicroBatch : null,
    };
  } finally {
    if (ownOptimizer) optimizer.dispose();
  }
}

async function restoreState(fn: string, name: string, model: LayersModel, optimizer: tf.Optimizer, saved: TrainingCheckpoint): Promise<void> {
  if (typeof saved !== 'object' || saved === null || saved.format !== 'medrobust.training/1') {
    throw new FormatError(`${fn}: the checkpoint is not a medrobust training state (format ${describeValue((saved as { format?: unknown } | null)?.format)})`);
  }
  if (saved.method !== name) throw new FormatError(`${fn}: the checkpoint was saved by ${saved.method}, not ${name}; pass resume: false to start afresh`);
  assertCheckpointFields(fn, saved);
  if (saved.optimizerClass !== optimizer.getClassName()) {
    throw new FormatError(`${fn}: the checkpoint holds the state of a ${saved.optimizerClass} optimizer, this run uses ${optimizer.getClassName()}`);
  }
  if (saved.optimizerConfig !== undefined) {
    const now = optimizerConfig(optimizer);
    for (const [key, value] of Object.entries(saved.optimizerConfig)) {
      if (key in now && now[key] !== value) {
        throw new FormatError(`${fn}: the checkpoint's ${saved.optimizerClass} has ${key} ${String(value)}, this run's has ${String(now[key])}; a resumed run must use the same optimizer settings`);
      }
    }
  }
  restoreModel(fn, model, saved.weights, 'the checkpoint');
  await restoreOptimizer(fn, optimizer, saved.optimizerWeights, saved.adamPowers);
}

/** The plain fields of a loaded checkpoint: counters, history, sums and finite weights (a corrupt file must not train on). */
function assertCheckpointFields(fn: string, s: TrainingCheckpoint): void {
  const bad = (what: string): never => { throw new FormatError(`${fn}: the checkpoint is corrupt: ${what}`); };
  const count = (v: unknown): boolean => Number.isInteger(v) && (v as number) >= 0;
  if (!count(s.epoch) || !count(s.batch)) bad(`epoch ${describeValue(s.epoch)}, batch ${describeValue(s.batch)} are not counts`);
  if (!count(s.seed) || !count(s.rngState) || (s.rngState as number) > 0xffffffff) bad('its seed or generator state is not a 32-bit count');
  if (!Array.isArray(s.history) || s.history.length !== s.epoch) bad(`it has ${Array.isArray(s.history) ? s.history.length : 'no'} epoch records for ${s.epoch} finished epochs`);
  s.history.forEach((h, i) => { if (typeof h !== 'object' || h === null || h.epoch !== i || !count(h.batches) || typeof h.loss !== 'number') bad(`epoch record ${i} is malformed`); });
  const p = s.partial;
  if (typeof p !== 'object' || p === null || typeof p.lossSum !== 'number' || !count(p.batches) || !count(p.adversarialBatches) || p.batches !== s.batch) bad('its unfinished-epoch sums are malformed');
  const finite = (list: readonly SavedTensor[] | undefined, what: string): void => {
    if (!Array.isArray(list)) bad(`${what} are missing`);
    for (const t of list!) {
      const values = (t as SavedTensor | undefined)?.values;
      if (!(values instanceof Float32Array || values instanceof Int32Array)) bad(`${what} hold a value that is not a typed array`);
      for (let i = 0; i < values!.length; i++) if (!Number.isFinite(values![i]!)) bad(`${what} '${t.name}' holds ${values![i]}`);
    }
  };
  finite(s.weights, 'weights');
  finite(s.optimizerWeights, 'optimizer weights');
  if (s.best !== null && (typeof s.best !== 'object' || !count(s.best.epoch) || s.best.epoch >= s.epoch || typeof s.best.score !== 'number')) bad('its best epoch is malformed');
  if (s.best !== null) finite(s.best.weights, 'best weights');
}

/** Clean and robust accuracy on the validation split, in chunks, with a fixed attack seed. */
async function evaluate(plan: LoopPlan, inference: ModelFn, seed: number, signal: AbortSignal | undefined): Promise<{ clean: number; robust: number }> {
  const v = plan.validation!;
  const n = v.images.shape[0];
  const rng = createRng(seed);
  let clean = 0;
  let robust = 0;
  for (let start = 0; start < n; start += v.batchSize) {
    if (signal?.aborted) throw new AbortError(`${plan.fn}: aborted during validation`);
    const size = Math.min(v.batchSize, n - start);
    const images = tf.slice(v.images, [start, 0, 0, 0], [size, -1, -1, -1]);
    const labels = tf.slice(v.labels, start, size);
    try {
      const adv = pgd(inference, images, labels, {
        epsilon: v.epsilon, steps: v.steps, stepSize: v.stepSize, randomStart: v.randomStart, clip: plan.clip, task: plan.task, seed: rng.nextSeed(), ...plan.memory,
      });
      try {
        const forward = (x: tf.Tensor4D): tf.Tensor2D => mapInChunks(plan.fn, x, plan.memory, { model: inference, kind: 'forward' }, inference);
        const counts = tf.tidy(() => tf.stack([correct(plan.task, forward(images), labels, v.threshold), correct(plan.task, forward(adv), labels, v.threshold)]));
        const [c, r] = await counts.data();
        counts.dispose();
        clean += c!;
        robust += r!;
      } finally {
        adv.dispose();
      }
    } finally {
      images.dispose();
      labels.dispose();
    }
    await nextTick();
  }
  const units = plan.task === 'multi-label' ? n * plan.classes : n;
  return { clean: clean / units, robust: robust / units };
}

/** Correct predictions: top-1 hits (single-label) or correctly thresholded labels (multi-label). */
function correct(task: Task, logits: tf.Tensor2D, labels: tf.Tensor, threshold: number): tf.Scalar {
  if (task === 'multi-label') {
    const predicted = tf.greater(tf.sigmoid(logits), threshold);
    return tf.sum(tf.cast(tf.equal(predicted, tf.greater(labels, 0.5)), 'float32'));
  }
  const truth = labels.rank === 1 ? tf.cast(labels, 'int32') : tf.argMax(labels, 1);
  return tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), truth), 'float32'));
}

/** The mean of a per-sample or scalar loss, for the update. */
export function meanLoss(loss: tf.Tensor): tf.Scalar {
  return (loss.rank === 0 ? loss : tf.mean(loss)) as tf.Scalar;
}

/** The task's default per-sample loss, or the given one. */
export function lossOrDefault(fn: string, argument: string, loss: unknown, task: Task): LossFn {
  assertFunction(fn, argument, loss);
  return (loss as LossFn | undefined) ?? taskLoss(task);
}

/** Validates `number | [lo, hi]` with lo ≤ hi, returning the range. */
export function rangeOption(fn: string, argument: string, value: unknown, c: { integer?: boolean; min: number; minExclusive?: boolean }): [number, number] {
  if (Array.isArray(value)) {
    if (value.length !== 2) throw new InvalidArgumentError(fn, argument, 'a number or a range [min, max]', describeValue(value));
    const lo = assertNumber(fn, `${argument}[0]`, value[0], c);
    const hi = assertNumber(fn, `${argument}[1]`, value[1], c);
    if (lo > hi) throw new InvalidArgumentError(fn, argument, 'a range [min, max] with min <= max', describeValue(value));
    return [lo, hi];
  }
  const v = assertNumber(fn, argument, value, c);
  return [v, v];
}

/** Validates a per-channel scale against the model's channels. */
export function channelScaleOption(fn: string, value: unknown, channels: number): readonly number[] | null {
  if (value === undefined) return null;
  if (!Array.isArray(value) || value.length !== channels) {
    throw new InvalidArgumentError(fn, 'options.channelScale', `an array of ${channels} numbers, one per input channel`, describeValue(value));
  }
  value.forEach((v, i) => assertNumber(fn, `options.channelScale[${i}]`, v, { min: 0, minExclusive: true }));
  return value as readonly number[];
}
