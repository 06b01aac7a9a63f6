import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { AbortError, InvalidArgumentError, MemoryBudgetError } from '../errors.js';
import { resolveSeed } from '../internal/gradientAttack.js';
import { applyGradientsBounded, assertUpdateFits, chunkRanges, planChunks, readMemoryOptions, sampleSlice } from '../internal/memory.js';
import { createRng } from '../internal/random.js';
import {
  assertBoolean, assertFunction, assertImages, assertKnownKeys, assertNumber, assertOneOf, assertOptionalNumber,
  assertOptionsObject, assertSignal, describeValue,
} from '../internal/validate.js';
import { toModelFn } from '../model.js';
import { assertBatchInput } from '../internal/batches.js';
import type { BatchInput, CheckpointStore, MemoryOptions, Model, ModelFn, Progress, Task } from '../types.js';
import { assertState, restore, savedTensor, snapshot, type GapEpochStats, type GapSavedTensor, type TrainGapState } from './gapCheckpoint.js';
import {
  assertGenerator, assertGeneratorShapes, checkGeneratorOutput, composeAdversarial, composeAdversarialPaper, gapClipBounds, parseScaling,
  preTanhModel, scalePerturbation, universalNoise, type GapScaling, type GapScalingOptions,
} from './gapCommon.js';
import { iterate, validateBatch, type GapBatch } from './gapData.js';
import { gapDropoutLayers } from './gapLayers.js';
import { buildTargets, checkObjectiveLogits, foolingCounts, labelAccuracyCounts, objectiveLoss, parseObjective, type GapObjective, type ObjectivePlan } from './gapObjective.js';
import { entryAsync } from '../internal/scope.js';
import { leanVariableGrads } from '../internal/leanGradients.js';

/**
 * Options of {@link trainGap}.
 * @category Attacks
 */
export interface TrainGapOptions extends GapScalingOptions {
  /**
   * Epochs in total (a resumed run continues up to this count).
   * @defaultValue 10
   */
  epochs?: number;
  /**
   * At most this many batches per epoch (the paper's `MaxIter` = 100 for ISIC and Messidor).
   * @defaultValue Infinity
   */
  maxBatchesPerEpoch?: number;
  /**
   * Universal GAP: the generator maps one fixed noise pattern (drawn from `report.noiseSeed`) to one
   * perturbation added to every image. Pass `noiseSeed` to {@link gap} to apply it.
   * @defaultValue false (image-dependent, the paper's variant)
   */
  universal?: boolean;
  /**
   * The task, which picks the objectives allowed and the default.
   * @defaultValue 'single-label'
   */
  task?: Task;
  /**
   * What the generator is trained toward, see {@link GapObjective}.
   * @defaultValue 'least-likely' (single-label), 'flip' (multi-label)
   */
  objective?: GapObjective;
  /** For `objective: 'targeted'`: a class index (single-label) or a multi-hot array (multi-label). */
  target?: number | readonly number[];
  /**
   * Multi-label decision threshold on sigmoid probabilities.
   * @defaultValue 0.5
   */
  threshold?: number;
  /**
   * Descend log(mean loss), as the official GAP code does; the paper's code descends the mean loss.
   * @defaultValue false
   */
  logLoss?: boolean;
  /**
   * The gradient the generator gets:
   * - `'exact'`: the gradient of the loss through GAP's scaling (its norm detached, as in the
   *   official GAP code) and through the clip (clipped pixels pass none).
   * - `'paper'`: what the authors' code computes. Their scaling and clamp write to `tensor.data` in
   *   place, so autograd passes ∂L/∂x′ straight through both, and the in-place writes overwrite the
   *   output tanh saved for its backward: the generator's pre-tanh output z gets ∂L/∂x′ · (1 − δ²),
   *   with the scaled perturbation δ in place of tanh(z). Needs a generator whose output layer is a
   *   tanh Activation (gapUnet, gapResnet).
   * @defaultValue 'exact'
   */
  gradient?: 'exact' | 'paper';
  /**
   * Which weights the generator ends with: those after the last epoch, or those after the epoch with
   * the lowest training accuracy (the accuracy of the classifier on the epoch's adversarial images
   * against the batches' labels; multi-label: the mean per-label accuracy at `threshold`), as the
   * authors' scripts keep. `'lowest-accuracy'` needs labels in every batch; ties keep the earlier epoch.
   * @defaultValue 'last'
   */
  keep?: 'last' | 'lowest-accuracy';
  /**
   * Split each batch into micro-batches of at most this many images and accumulate their gradients
   * (each weighted by its share of the batch) into one Adam step, so the batch size the optimiser sees
   * can exceed what fits in memory at once. Without batch norm in the generator the step equals the
   * full-batch step to float rounding (dropout masks are drawn per micro-batch). With batch norm see
   * `generatorBatchNorm`. Not with `logLoss` (the log of a mean does not split). With `memoryBudget`
   * too, it is checked against the budget.
   * @defaultValue the whole batch, or the largest micro-batch that fits in `memoryBudget`
   */
  microBatch?: number;
  /**
   * Bytes a generator update may use (see {@link MemoryOptions}): without `microBatch`, a batch that
   * does not fit is split into the largest micro-batches that do, from core's memory model (the
   * update's peak measured on 1 and, when needed, 2 images, cached per classifier, generator and image
   * size). Throws a {@link MemoryBudgetError} when one image does not fit (or, with `logLoss`, the batch).
   * @defaultValue memoryStatus().availableBytes (unbounded where unknown: WebGL, WebGPU, browsers)
   */
  memoryBudget?: number;
  /**
   * What the generator's batch norms normalise with during training:
   * - `'batch'`: the statistics of the images in the call, as PyTorch's training mode does. With
   *   micro-batches these are each micro-batch's statistics (noisier than the batch's: the step is
   *   no longer the full-batch step), and the moving statistics are updated once per micro-batch.
   * - `'moving'`: the moving statistics, which stay as they are (dropout stays active): every image is
   *   independent of the others, so micro-batching is exact; for fine-tuning a generator whose moving
   *   statistics are already meaningful, not for a fresh one (whose are 0 and 1).
   * @defaultValue 'batch'
   */
  generatorBatchNorm?: 'batch' | 'moving';
  /**
   * Adam learning rate.
   * @defaultValue 2e-4
   */
  learningRate?: number;
  /**
   * Adam β₁ (the paper's final code 0.9; an earlier notebook and pix2pix 0.5).
   * @defaultValue 0.9
   */
  beta1?: number;
  /**
   * Adam β₂.
   * @defaultValue 0.999
   */
  beta2?: number;
  /**
   * Seed of the dropout masks and of the universal noise (the generator's initial weights come
   * from its builder's seed). Ignored when resuming: the checkpoint's seed and state continue.
   * @defaultValue drawn at random and returned as `report.seed`
   */
  seed?: number;
  /** Cancels training between steps; finished epochs stay in the checkpoint. */
  signal?: AbortSignal;
  /** Called after every step (`phase: 'step'`; `total` is NaN for an iterable source) and every epoch (`phase: 'epoch'`, with loss, foolingRate and flipRate). */
  onProgress?: (progress: Progress) => void;
  /** Saves after each epoch and resumes from its last state (see {@link TrainGapState}). */
  checkpoint?: CheckpointStore<TrainGapState>;
}

/**
 * What {@link trainGap} returns.
 * @category Attacks
 */
export interface TrainGapReport {
  /** The seed of the run (drawn when none was given), to replay it. */
  seed: number;
  /** Universal mode: the seed of the fixed noise input, to pass to {@link gap}; null otherwise. */
  noiseSeed: number | null;
  /** Every epoch's statistics, including those restored from a checkpoint. */
  epochs: GapEpochStats[];
  /** Epochs restored from the checkpoint (0 for a fresh run). */
  resumedFrom: number;
  /** The epoch whose weights the generator ends with (the last, or the lowest-accuracy one with `keep`). */
  selectedEpoch: number;
}

const KEYS = [
  'magnitude', 'epochs', 'maxBatchesPerEpoch', 'universal', 'task', 'objective', 'target', 'threshold', 'logLoss', 'mean', 'std', 'center', 'clip',
  'gradient', 'keep', 'microBatch', 'memoryBudget', 'generatorBatchNorm', 'learningRate', 'beta1', 'beta2', 'seed', 'signal', 'onProgress', 'checkpoint',
] as const;

interface Plan {
  /** The classifier as given (its identity keys the memory measurements). */
  model: Model;
  modelFn: ModelFn;
  generator: tfl.LayersModel;
  /** The generator up to its output tanh (gradient 'paper'), else null. */
  preTanh: tfl.LayersModel | null;
  shape: [number, number, number];
  scaling: GapScaling;
  objective: ObjectivePlan;
  universal: boolean;
  /** The given micro-batch, or undefined (the whole batch, or what fits in `memory.memoryBudget`). */
  microBatch: number | undefined;
  memory: MemoryOptions;
  /** Batch norms on their moving statistics (dropout kept active). */
  movingNorms: boolean;
  varList: tf.Variable[];
}

/** The options every GAP step needs, validated (shared by trainGap and gapStepGradients). */
function parseStepOptions(fn: string, o: Record<string, unknown>, channels: number): Pick<Plan, 'scaling' | 'objective' | 'universal' | 'microBatch' | 'memory' | 'movingNorms'> & { gradient: 'exact' | 'paper' } {
  const objective = parseObjective(fn, o);
  const scaling = parseScaling(fn, o, channels);
  const universal = assertBoolean(fn, 'options.universal', o.universal) ?? false;
  const gradient = assertOneOf(fn, 'options.gradient', o.gradient, ['exact', 'paper'] as const) ?? 'exact';
  const microBatch = assertOptionalNumber(fn, 'options.microBatch', o.microBatch, { integer: true, min: 1 });
  if (microBatch !== undefined && objective.logLoss) throw new InvalidArgumentError(fn, 'options.microBatch', 'undefined with logLoss: true (the log of the mean loss does not split into micro-batches)', String(microBatch));
  const memory: MemoryOptions = o.memoryBudget === undefined ? {} : { memoryBudget: readMemoryOptions(fn, { memoryBudget: o.memoryBudget }).memoryBudget! };
  const movingNorms = (assertOneOf(fn, 'options.generatorBatchNorm', o.generatorBatchNorm, ['batch', 'moving'] as const) ?? 'batch') === 'moving';
  return { objective, scaling, universal, gradient, microBatch, memory, movingNorms };
}

/**
 * Trains a GAP generator (Poursaeed et al., CVPR 2018; the paper's second attack, paper.md §4.2)
 * against a frozen classifier f: for each batch, δ = scale(G(x)) (or G(z) for one fixed noise z in
 * universal mode) with GAP's per-image, per-channel L∞ scaling to m/255 in pixel units, x' = clip(x + δ),
 * and one Adam step on the generator's weights only, descending the objective's loss on f(x')
 * (default: CE toward the clean least-likely class; multi-label: BCE toward the flipped clean decisions).
 *
 * The classifier runs in inference mode and its weights are never updated (the optimizer's var list
 * is the generator's trainable weights); the generator runs in training mode (batch statistics,
 * dropout) and its weights and batch-norm statistics are updated in place. Data ownership: the one
 * rule of {@link BatchInput} (array batches borrowed; streamed or factory batches disposed by trainGap
 * after their step, also on abort or error).
 *
 * The authors' training (docs/guides/paper-presets.md): normalised batches with `mean`, `std`,
 * `center: 'mean'`, `clip: 'batch-per-channel'`, `gradient: 'paper'`, `keep: 'lowest-accuracy'` and
 * `maxBatchesPerEpoch: 101`, with `gapUnet({ preset: 'isic' | 'messidor' })`. For batches that do not fit
 * in memory at once, `microBatch` accumulates gradients (see `generatorBatchNorm` for batch norms).
 *
 * @param model - the frozen classifier: a {@link ModelFn} returning logits or a single-output LayersModel.
 * @param generator - a `tf.LayersModel` from images to `[N, H, W, C]` in [−1, 1] (tanh), e.g. {@link gapUnet}; trained in place.
 * @param data - {@link GapBatch} batches in any {@link BatchInput} form: an array, an (async) iterable
 *   (re-iterable for several epochs), or a factory `(epoch) => iterable`.
 * @param options - see {@link TrainGapOptions}; unknown keys are rejected.
 * @returns a report with each epoch's loss, fooling rate and training accuracy, the epoch kept and the seed (no tensors).
 * @throws {InvalidArgumentError} for a generator whose input or output does not match the images,
 *   a magnitude outside (0, 255], mismatched batch shapes or labels, an objective the task does not
 *   allow, a missing or out-of-range target, a batch without labels with `keep: 'lowest-accuracy'`,
 *   `gradient: 'paper'` with a generator whose output layer is not a tanh Activation, `microBatch`
 *   with `logLoss`, or an unknown option (before any tensor is made; batches from an iterable are
 *   checked as they arrive).
 * @throws {AbortError} when `signal` aborts; finished epochs are in the checkpoint.
 * @throws {FormatError} when the checkpoint does not fit the generator.
 *
 * @example
 * ```ts
 * const generator = gapUnet({ inputShape: [8, 8, 1], preset: 'small', ngf: 4, seed: 3 });
 * const report = await trainGap(model, generator, [{ images }], { magnitude: 48, epochs: 40, learningRate: 0.01, seed: 1 });
 * const { images: adv, perturbation } = gap(generator, images, { magnitude: 48 });
 * ```
 * @category Attacks
 */
export async function trainGap(model: Model, generator: tfl.LayersModel, data: BatchInput<GapBatch>, options: TrainGapOptions): Promise<TrainGapReport> {
  return entryAsync('trainGap', async () => {
    const fn = 'trainGap';
    const o = assertOptionsObject(fn, options);
    assertKnownKeys(fn, o, KEYS);
    const modelFn = toModelFn(model, fn);
    const gen = assertGenerator(fn, generator);
    const outShape = gen.outputs[0]!.shape;
    const channels = outShape[3];
    if (typeof channels !== 'number') throw new InvalidArgumentError(fn, 'generator', 'a generator with a fixed number of output channels', `output shape [${outShape.join(',')}]`);
    const { objective, scaling, universal, gradient, microBatch, memory, movingNorms } = parseStepOptions(fn, o, channels);
    const keep = assertOneOf(fn, 'options.keep', o.keep, ['last', 'lowest-accuracy'] as const) ?? 'last';
    const epochs = o.epochs === undefined ? 10 : assertNumber(fn, 'options.epochs', o.epochs, { integer: true, min: 1 });
    const maxBatches = o.maxBatchesPerEpoch === undefined || o.maxBatchesPerEpoch === Infinity ? Infinity : assertNumber(fn, 'options.maxBatchesPerEpoch', o.maxBatchesPerEpoch, { integer: true, min: 1 });
    const lr = o.learningRate === undefined ? 2e-4 : assertNumber(fn, 'options.learningRate', o.learningRate, { min: 0, minExclusive: true });
    const beta1 = o.beta1 === undefined ? 0.9 : assertNumber(fn, 'options.beta1', o.beta1, { min: 0, max: 1, maxExclusive: true });
    const beta2 = o.beta2 === undefined ? 0.999 : assertNumber(fn, 'options.beta2', o.beta2, { min: 0, max: 1, maxExclusive: true });
    const signal = assertSignal(fn, 'options.signal', o.signal);
    assertFunction(fn, 'options.onProgress', o.onProgress);
    const onProgress = o.onProgress as TrainGapOptions['onProgress'];
    const store = o.checkpoint as CheckpointStore<TrainGapState> | undefined;
    if (store !== undefined && (typeof store !== 'object' || store === null || typeof store.save !== 'function' || typeof store.load !== 'function')) {
      throw new InvalidArgumentError(fn, 'options.checkpoint', 'a CheckpointStore { save(state), load() }', describeValue(store));
    }
    let seed = resolveSeed(fn, o.seed);

    let shape: [number, number, number];
    let batches: readonly GapBatch[] | null = null;
    if (Array.isArray(data)) {
      if (data.length === 0) throw new InvalidArgumentError(fn, 'data', 'a non-empty array of batches', 'an empty array');
      const first = data[0] as GapBatch;
      const img = assertImages(fn, 'data[0].images', first?.images);
      shape = img.shape.slice(1) as [number, number, number];
      assertGeneratorShapes(fn, gen, shape);
      data.forEach((b, i) => validateBatch(fn, `data[${i}]`, b, { shape, scaling, task: objective.task, needLabels: keep === 'lowest-accuracy' }));
      batches = data;
    } else {
      assertBatchInput(fn, 'data', data);
      const inShape = gen.inputs[0]!.shape;
      if (inShape.slice(1, 3).some((d) => typeof d !== 'number')) throw new InvalidArgumentError(fn, 'generator', 'a generator with a fixed input size when data is an iterable or a factory', `input shape [${inShape.join(',')}]`);
      shape = [inShape[1] as number, inShape[2] as number, channels];
      assertGeneratorShapes(fn, gen, shape);
    }
    if (universal && (gen.inputs[0]!.shape[3] ?? channels) !== channels) {
      throw new InvalidArgumentError(fn, 'generator', `a generator taking [1, ${shape.join(', ')}] noise in universal mode`, `input shape [${gen.inputs[0]!.shape.join(',')}]`);
    }
    const varList = gen.trainableWeights.map((w) => w.read() as tf.Variable);
    if (varList.length === 0) throw new InvalidArgumentError(fn, 'generator', 'a generator with trainable weights', 'no trainable weights');
    const preTanh = gradient === 'paper' ? preTanhModel(fn, gen) : null;
    const plan: Plan = { model, modelFn, generator: gen, preTanh, shape, scaling, objective, universal, microBatch, memory, movingNorms, varList };
    const dataPlan = { shape, scaling, task: objective.task, needLabels: keep === 'lowest-accuracy' };

    const state = store ? await store.load() : undefined;
    const restored = state === undefined ? undefined : assertState(state, gen);
    const optimizer = tf.train.adam(lr, beta1, beta2, 1e-8);
    const dropouts = gapDropoutLayers(gen);
    let noise: tf.Tensor4D | null = null;
    let best: { epoch: number; accuracy: number; weights: tf.Tensor[]; saved: GapSavedTensor[] | null } | null = null;
    try {
      if (restored) {
        await restore(restored, gen, optimizer);
        seed = restored.seed;
        if (restored.best) best = { epoch: restored.best.epoch, accuracy: restored.best.accuracy, weights: restored.best.generator.map((t) => tf.tensor(t.values, t.shape, t.dtype)), saved: restored.best.generator };
      }
      const rng = createRng(restored ? restored.rngState : seed);
      const noiseSeed = restored ? restored.noiseSeed : universal ? rng.nextSeed() : null;
      if (universal && noiseSeed === null) throw new InvalidArgumentError(fn, 'options.universal', 'the mode the checkpoint was trained in (image-dependent)', 'true');
      noise = universal ? universalNoise(shape, noiseSeed!, scaling) : null;
      dropouts.forEach((d) => { d.seedSource = () => rng.nextSeed(); d.alwaysActive = movingNorms; });
      const history: GapEpochStats[] = restored ? [...restored.history] : [];
      const start = restored ? restored.epochsDone : 0;
      const t0 = Date.now();
      let stepsDone = 0;
      const stepsPerEpoch = batches ? Math.min(batches.length, maxBatches) : NaN;
      const progress = (phase: string, done: number, total: number, perUnit: number, metrics?: Record<string, number>): void => {
        if (!onProgress) return;
        const elapsedSeconds = (Date.now() - t0) / 1000;
        onProgress({ phase, done, total, elapsedSeconds, etaSeconds: done > 0 ? (total - done) * perUnit : NaN, ...(metrics ? { metrics } : {}) });
      };
      for (let epoch = start; epoch < epochs; epoch++) {
        const e0 = Date.now();
        let lossSum = 0; let fooled = 0; let flipped = 0; let images = 0; let count = 0; let labelsSeen = 0; let correct = 0; let judged = 0;
        for await (const { batch, owned } of iterate(fn, data, epoch, maxBatches, dataPlan)) {
          try {
            if (signal?.aborted) throw new AbortError(`trainGap aborted in epoch ${epoch}`);
            const micro = planMicroBatch(fn, plan, batch, noise, dropouts, optimizer);
            const r = step(fn, plan, batch, noise, micro, (grads) => applyGradientsBounded(optimizer, grads));
            lossSum += r.loss; fooled += r.fooled; flipped += r.flipped; correct += r.correct; judged += r.judged;
            images += batch.images.shape[0]; labelsSeen += r.labels; count++;
          } finally {
            if (owned) tf.dispose([batch.images, ...(batch.labels ? [batch.labels] : [])]);
          }
          stepsDone++;
          const elapsed = (Date.now() - t0) / 1000;
          progress('step', stepsDone, (epochs - start) * stepsPerEpoch, elapsed / stepsDone);
        }
        if (count === 0) throw new InvalidArgumentError(fn, 'data', 'a source that yields at least one batch per epoch', 'no batches');
        const accuracy = judged > 0 ? correct / judged : null;
        const stats: GapEpochStats = { epoch, loss: lossSum / count, foolingRate: fooled / images, flipRate: labelsSeen > 0 ? flipped / labelsSeen : 0, accuracy, images, batches: count, seconds: (Date.now() - e0) / 1000 };
        history.push(stats);
        if (keep === 'lowest-accuracy' && (best === null || accuracy! < best.accuracy)) {
          tf.dispose(best?.weights ?? []);
          best = { epoch, accuracy: accuracy!, weights: gen.getWeights().map((w) => tf.clone(w)), saved: null };
        }
        if (store) {
          const snap = await snapshot(gen, optimizer);
          if (best && best.saved === null) best.saved = await Promise.all(best.weights.map((w, i) => savedTensor(gen.weights[i]!.name, w)));
          await store.save({ format: 'medrobust-gap/1', epochsDone: epoch + 1, seed, rngState: rng.state(), noiseSeed, ...snap, history: [...history], ...(best ? { best: { epoch: best.epoch, accuracy: best.accuracy, generator: best.saved! } } : {}) });
        }
        progress('epoch', epoch + 1 - start, epochs - start, (Date.now() - t0) / 1000 / (epoch + 1 - start), { loss: stats.loss, foolingRate: stats.foolingRate, flipRate: stats.flipRate });
        if (signal?.aborted && epoch + 1 < epochs) throw new AbortError(`trainGap aborted after epoch ${epoch}`);
      }
      if (best) gen.setWeights(best.weights);
      return { seed, noiseSeed, epochs: history, resumedFrom: start, selectedEpoch: best ? best.epoch : epochs - 1 };
    } finally {
      dropouts.forEach((d) => { d.seedSource = null; d.alwaysActive = false; });
      noise?.dispose();
      tf.dispose(best?.weights ?? []);
      optimizer.dispose();
    }
  });
}

interface StepResult { loss: number; fooled: number; flipped: number; labels: number; correct: number; judged: number }

const rows = <T extends tf.Tensor>(t: T, start: number, size: number, n: number): T => (size === n ? t : (tf.slice(t, [start], [size]) as T));

/**
 * The micro-batch of a batch, from core's memory model ({@link planChunks}): the given `microBatch`
 * (checked against an explicit budget), or the largest that fits in `memoryBudget` (default
 * {@link memoryStatus}). The probe is one update on the first 1 (or 2) images whose gradients are
 * dropped: the generator's batch-norm statistics are restored and its dropout draws no seed from the
 * run's generator, so a probe changes no result.
 */
function planMicroBatch(fn: string, plan: Plan, batch: GapBatch, noise: tf.Tensor4D | null, dropouts: ReturnType<typeof gapDropoutLayers>, optimizer: tf.Optimizer): number {
  const n = batch.images.shape[0];
  const options: MemoryOptions = { ...plan.memory, ...(plan.microBatch === undefined ? {} : { batchSize: plan.microBatch }) };
  const gradientBytes = plan.varList.reduce((sum, v) => sum + 4 * v.size, 0);
  const probe = (k: number): void => {
    const stats = plan.generator.weights.filter((w) => !w.trainable);
    const saved = stats.map((w) => tf.clone(w.read()));
    const seeds = dropouts.map((d) => d.seedSource);
    dropouts.forEach((d) => { d.seedSource = null; });
    try {
      const sub: GapBatch = { images: sampleSlice(batch.images, 0, k), ...(batch.labels ? { labels: sampleSlice(batch.labels, 0, k) } : {}) };
      step(fn, plan, sub, noise, k, () => undefined);
    } finally {
      dropouts.forEach((d, i) => { d.seedSource = seeds[i]!; });
      stats.forEach((w, i) => w.write(saved[i]!));
      tf.dispose(saved);
    }
  };
  const kind = `gap-train:${plan.generator.name}:${plan.preTanh ? 'paper' : 'exact'}:${plan.movingNorms ? 'moving' : 'batch'}:${plan.universal}`;
  const chunks = planChunks(fn, n, options, { model: plan.model, kind, sampleShape: batch.images.shape.slice(1) }, probe, 0, gradientBytes);
  assertUpdateFits(fn, optimizer, plan.varList, chunks.budgetBytes);
  if (chunks.size < n && plan.objective.logLoss) {
    const need = chunks.step ? chunks.step.fixedBytes + chunks.step.perSampleBytes * n + gradientBytes : Number.NaN;
    throw new MemoryBudgetError(fn, n, need, chunks.budgetBytes, `logLoss: true needs the whole batch at once (the log of a mean does not split), and ${chunks.size} images fit: pass smaller batches or raise options.memoryBudget`);
  }
  return chunks.size;
}

/**
 * One generator update: the clean targets, then per micro-batch of `microBatch` images the loss and
 * its gradients (weighted by the micro-batch's share), accumulated and handed to `apply` once.
 * Returns the statistics.
 */
function step(fn: string, plan: Plan, batch: GapBatch, noise: tf.Tensor4D | null, microBatch: number, apply: (grads: tf.NamedTensorMap) => void): StepResult {
  const x = batch.images;
  const n = x.shape[0];
  const { modelFn, generator, preTanh, scaling, objective, shape, varList } = plan;
  const parts = chunkRanges(n, microBatch);
  const clean = parts.length === 1 ? tf.tidy(() => modelFn(x)) : tf.tidy(() => tf.concat(parts.map((p) => modelFn(rows(x, p.start, p.size, n)))) as tf.Tensor2D);
  let targets: tf.Tensor | null = null;
  let bounds: { lower: tf.Tensor; upper: tf.Tensor } | null = null;
  const advLogits: tf.Tensor2D[] = [];
  let sum: tf.NamedTensorMap | null = null;
  let cost: tf.Scalar | null = null;
  try {
    checkObjectiveLogits(fn, objective, clean, batch.labels);
    targets = buildTargets(objective, clean, batch.labels);
    bounds = gapClipBounds(scaling, x);
    for (const p of parts) {
      const { value, grads } = leanVariableGrads(() => {
        const xs = rows(x, p.start, p.size, n);
        const input = noise ?? xs;
        const training = !plan.movingNorms;
        let adv: tf.Tensor4D;
        if (preTanh) {
          const z = checkGeneratorOutput(fn, preTanh.apply(input, { training }), input.shape[0], shape);
          adv = composeAdversarialPaper(xs, z, scaling, bounds);
        } else {
          const raw = checkGeneratorOutput(fn, generator.apply(input, { training }), input.shape[0], shape);
          adv = composeAdversarial(xs, scalePerturbation(raw, scaling), bounds);
        }
        const logits = modelFn(adv);
        advLogits.push(tf.keep(logits));
        const loss = objectiveLoss(objective, logits, rows(targets!, p.start, p.size, n));
        return p.size === n ? loss : (tf.mul(loss, p.size / n) as tf.Scalar);
      }, varList);
      if (sum === null) sum = grads;
      else {
        const prev: tf.NamedTensorMap = sum;
        sum = Object.fromEntries(Object.keys(prev).map((k) => [k, tf.add(prev[k]!, grads[k]!)]));
        tf.dispose([...Object.values(prev), ...Object.values(grads)]);
      }
      const total: tf.Scalar | null = cost;
      cost = total === null ? value : (tf.add(total, value) as tf.Scalar);
      if (total !== null) tf.dispose([total, value]);
    }
    apply(sum!);
    const adv = advLogits.length === 1 ? advLogits[0]! : (tf.concat(advLogits) as tf.Tensor2D);
    const summary = tf.tidy(() => tf.concat([tf.reshape(cost!, [1]), foolingCounts(objective, clean, adv), batch.labels ? labelAccuracyCounts(objective, adv, batch.labels) : tf.zeros([2])]));
    if (adv !== advLogits[0]) adv.dispose();
    const v = summary.dataSync();
    summary.dispose();
    return { loss: v[0]!, fooled: v[1]!, flipped: v[2]!, labels: objective.task === 'multi-label' ? n * clean.shape[1] : 0, correct: v[3]!, judged: v[4]! };
  } finally {
    tf.dispose([clean, ...(targets ? [targets] : []), ...(bounds ? [bounds.lower, bounds.upper] : []), ...advLogits, ...(cost ? [cost] : []), ...(sum ? Object.values(sum) : [])]);
  }
}

/**
 * The gradients of one {@link trainGap} step (its first, with the same dropout seeds) without applying
 * them: for the parity tests against the authors' code. The caller disposes the returned tensors.
 * @internal
 */
export function gapStepGradients(model: Model, generator: tfl.LayersModel, batch: GapBatch, options: TrainGapOptions): { grads: tf.NamedTensorMap; loss: number } {
  const fn = 'gapStepGradients';
  const o = assertOptionsObject(fn, options);
  const gen = assertGenerator(fn, generator);
  const shape = batch.images.shape.slice(1) as [number, number, number];
  const parsed = parseStepOptions(fn, o, shape[2]);
  const plan: Plan = { ...parsed, model, modelFn: toModelFn(model, fn), generator: gen, preTanh: parsed.gradient === 'paper' ? preTanhModel(fn, gen) : null, shape, varList: gen.trainableWeights.map((w) => w.read() as tf.Variable) };
  const rng = createRng(resolveSeed(fn, o.seed));
  const dropouts = gapDropoutLayers(gen);
  dropouts.forEach((d) => { d.seedSource = () => rng.nextSeed(); d.alwaysActive = plan.movingNorms; });
  let out: tf.NamedTensorMap = {};
  try {
    const r = step(fn, plan, batch, null, plan.microBatch ?? batch.images.shape[0], (grads) => { out = Object.fromEntries(Object.entries(grads).map(([k, g]) => [k, tf.clone(g)])); });
    return { grads: out, loss: r.loss };
  } finally {
    dropouts.forEach((d) => { d.seedSource = null; d.alwaysActive = false; });
  }
}
