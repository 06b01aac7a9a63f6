/**
 * The paper's defense settings per data set, as the authors' code runs them ('paper') or with its
 * threat-model quirks corrected ('corrected'), for the CLI and for scripts.
 */
import * as tf from '@tensorflow/tfjs-core';
import { PAPER_PRESETS } from '../data/preprocess.js';
import { InvalidArgumentError } from '../errors.js';
import { assertKnownKeys, assertNumber, assertOneOf, assertOptionsObject, describeValue } from '../internal/validate.js';
import type { MaAdvTrainOptions } from './maAdvTrain.js';
import type { MpAdvTrainOptions } from './mpAdvTrain.js';
import { focalLoss } from './taskLosses.js';

/**
 * A data set of the paper, named as in `PAPER_PRESETS`.
 * @category Defenses
 */
export type PaperDataset = 'isic2016' | 'messidor' | 'chestXray14';

/**
 * Options of {@link mpAdvTrainPreset} and {@link maAdvTrainPreset}.
 * @category Defenses
 */
export interface DefensePresetOptions {
  /**
   * `'paper'`: the authors' code, quirks included (budgets in normalised units, MPAdvT's
   * batch-global clip, MART's clip of normalised tensors to [0, 1]). `'corrected'`: the same
   * schedule with a valid threat model: the pixel budget `epsilon` on every channel (ε/σ_c in
   * normalised units through `channelScale`) and the valid normalised range per channel as the clip.
   * @defaultValue 'paper'
   */
  variant?: 'paper' | 'corrected';
  /**
   * The evaluated pixel budget ε (e.g. 4/255): required for `'corrected'`, refused for `'paper'`
   * (whose budgets are fixed by the code).
   */
  epsilon?: number;
  /**
   * The per-channel mean and std the training images were normalised with.
   * @defaultValue the data set's (`PAPER_PRESETS[dataset].normalization`)
   */
  normalization?: {
    /** Per-channel mean. */ readonly mean: readonly number[];
    /** Per-channel standard deviation. */ readonly std: readonly number[]
  };
}

/**
 * A defense preset: the options to spread into the call, the code's optimizer and batch size, and
 * notes that state what it reproduces and where it deviates. The images must be the normalised
 * tensors (the model without its own normalisation), in both variants.
 * @category Defenses
 */
export interface DefensePreset<O> {
  /** The data set. */
  readonly dataset: PaperDataset;
  /** The variant. */
  readonly variant: 'paper' | 'corrected';
  /**
   * Options for the defense (budget, steps, clip, loss, penalties, schedule, epochs, task). Add
   * `optimizer: preset.createOptimizer()` and your own seed, validation, checkpoint, output index and
   * micro-batch.
   */
  readonly options: Readonly<Omit<O, 'optimizer'>>;
  /**
   * Makes the code's optimizer; the caller owns it (`dispose()` it after training: that frees all it
   * holds, slots included, also the learning-rate scalar tfjs' own Momentum `dispose()` forgets).
   */
  createOptimizer(): tf.Optimizer;
  /** The code's batch size (reach it with `microBatch` when it does not fit in memory). */
  readonly batchSize: number;
  /** What the preset reproduces and every deliberate deviation, one sentence each. */
  readonly notes: readonly string[];
}

const FN_MP = 'mpAdvTrainPreset';
const FN_MA = 'maAdvTrainPreset';
const DATASETS: readonly PaperDataset[] = ['isic2016', 'messidor', 'chestXray14'];

interface Resolved { variant: 'paper' | 'corrected'; epsilon: number | undefined; mean: readonly number[]; std: readonly number[] }

function resolve(fn: string, dataset: unknown, options: unknown): Resolved & { dataset: PaperDataset } {
  const d = assertOneOf<PaperDataset>(fn, 'dataset', dataset, DATASETS);
  if (d === undefined) throw new InvalidArgumentError(fn, 'dataset', `one of ${DATASETS.map((x) => `'${x}'`).join(', ')}`, 'undefined');
  const o = assertOptionsObject(fn, options);
  assertKnownKeys(fn, o, ['variant', 'epsilon', 'normalization']);
  const variant = assertOneOf(fn, 'options.variant', o.variant, ['paper', 'corrected'] as const) ?? 'paper';
  let epsilon: number | undefined;
  if (variant === 'paper' && o.epsilon !== undefined) {
    throw new InvalidArgumentError(fn, 'options.epsilon', "left out for variant 'paper' (the code fixes its budgets; use variant 'corrected' for a pixel budget)", describeValue(o.epsilon));
  }
  if (variant === 'corrected') {
    if (o.epsilon === undefined) throw new InvalidArgumentError(fn, 'options.epsilon', "the evaluated pixel budget (e.g. 4 / 255) for variant 'corrected'", 'undefined');
    epsilon = assertNumber(fn, 'options.epsilon', o.epsilon, { min: 0, minExclusive: true });
  }
  const fallback = PAPER_PRESETS[d].normalization;
  let { mean, std } = fallback;
  if (o.normalization !== undefined) {
    const n = o.normalization as Record<string, unknown>;
    if (typeof n !== 'object' || n === null || !Array.isArray(n.mean) || !Array.isArray(n.std) || n.mean.length === 0 || n.mean.length !== n.std.length) {
      throw new InvalidArgumentError(fn, 'options.normalization', '{ mean: number[], std: number[] } of one length per channel', describeValue(o.normalization));
    }
    assertKnownKeys(fn, n, ['mean', 'std'], 'options.normalization');
    n.mean.forEach((v: unknown, i: number) => assertNumber(fn, `options.normalization.mean[${i}]`, v));
    n.std.forEach((v: unknown, i: number) => assertNumber(fn, `options.normalization.std[${i}]`, v, { min: 0, minExclusive: true }));
    mean = n.mean as number[];
    std = n.std as number[];
  }
  return { dataset: d, variant, epsilon, mean, std };
}

/** The valid range of normalised images, per channel: [(0 − μ_c)/σ_c, (1 − μ_c)/σ_c]. */
function normalisedRange(mean: readonly number[], std: readonly number[]): { min: number[]; max: number[] } {
  return { min: mean.map((m, c) => -m / std[c]!), max: mean.map((m, c) => (1 - m) / std[c]!) };
}

/** PyTorch SGD(lr, momentum 0.9, nesterov, weight_decay via the loop's `weightDecay`). */
const nesterov = (lr: number) => (): tf.Optimizer => {
  const optimizer = tf.train.momentum(lr, 0.9, true);
  // tfjs 4.22's MomentumOptimizer.dispose() frees its momentum and slots but not the learning-rate
  // scalar of its SGD base class (one tensor per optimizer, on every run): free it too.
  const dispose = optimizer.dispose.bind(optimizer);
  optimizer.dispose = () => {
    dispose();
    (optimizer as unknown as { c?: tf.Tensor }).c?.dispose();
  };
  return optimizer;
};
/** PyTorch Adam(lr, betas (0.9, 0.999), eps 1e-8). */
const adam = (lr: number) => (): tf.Optimizer => tf.train.adam(lr, 0.9, 0.999, 1e-8);

/**
 * MPAdvT (paper.md §6.1) as the authors' `Melanoma|Messidor|ChestX-Ray/defense/adversarial_training.py` runs it on a data set:
 * ε ~ U(0.01, 0.04) and α = 1/255 in normalised units, T ~ U{1..9}, half the batches clean, the
 * batch-global clip, the unclipped uniform start, and the data set's loss, optimizer and schedule
 * (ISIC: focal loss γ = 2, SGD 1e-3 Nesterov, weight decay 1e-4, ×0.1 every 10 epochs with the
 * scheduler stepped before each epoch; Messidor: cross-entropy + 0.01·Σ|θ|, SGD 1e-3 Nesterov,
 * weight decay 1e-3; ChestX-ray14: BCE, Adam 2e-3; 30 epochs, batch 16).
 *
 * `variant: 'corrected'` keeps the schedule and draws ε ~ U(ε/2, 2ε) with α = 1/255 in PIXEL
 * units, applied per channel as ε/σ_c and α/σ_c (`channelScale`), clipped to the valid normalised
 * range of each channel: the pixel budget then never exceeds 2ε on any channel (a single ε/min σ
 * would give up to σ_max/σ_min more, 1.6× on ISIC).
 *
 * @param dataset - `'isic2016'`, `'messidor'` or `'chestXray14'`.
 * @param options - see {@link DefensePresetOptions}.
 * @returns a {@link DefensePreset} for {@link mpAdvTrain}; `createOptimizer()` makes a new optimizer the caller disposes.
 * @throws {InvalidArgumentError} for an unknown data set, variant or option, a missing or invalid
 *   `epsilon` for `'corrected'`, an `epsilon` for `'paper'`, or a malformed normalization.
 *
 * @example
 * ```ts
 * const preset = mpAdvTrainPreset('messidor', { variant: 'corrected', epsilon: 4 / 255 });
 * const optimizer = preset.createOptimizer();
 * await mpAdvTrain(net, normalisedBatches, { ...preset.options, optimizer, seed: 1, microBatch: 4 });
 * optimizer.dispose();
 * ```
 * @category Defenses
 */
export function mpAdvTrainPreset(dataset: PaperDataset, options: DefensePresetOptions = {}): DefensePreset<MpAdvTrainOptions> {
  const r = resolve(FN_MP, dataset, options);
  const threat: Pick<MpAdvTrainOptions, 'epsilon'> & Partial<MpAdvTrainOptions> = r.variant === 'paper'
    ? { epsilon: [0.01, 0.04], stepSize: 1 / 255, clip: 'batch', paperQuirks: true }
    : { epsilon: [r.epsilon! / 2, 2 * r.epsilon!], stepSize: 1 / 255, channelScale: r.std.map((s) => 1 / s), clip: normalisedRange(r.mean, r.std), paperQuirks: false };
  const common = { ...threat, steps: [1, 9] as const, cleanProbability: 0.5, randomStart: true, epochs: 30 };
  const threatNotes = r.variant === 'paper'
    ? ['ε ~ U(0.01, 0.04) and α = 1/255 are in normalised units, and PGD clips to the batch\'s global min/max, as the code does.',
      'The random start U(−ε, ε) is drawn per value and the first gradient is taken at it unclipped (libadver).']
    : [`ε ~ U(${fmt(r.epsilon! / 2)}, ${fmt(2 * r.epsilon!)}) and α = 1/255 in pixels, per channel as ε/σ_c (the code draws U(0.01, 0.04) in normalised units).`,
      'Adversarial images are clipped to the valid normalised range of each channel, not to the batch\'s min/max; the start is clipped too.'];
  const shared = [
    'Model selection uses your held-out `validation` split; the code selects on the test set.',
    'Each PGD batch is made in inference mode and the update runs in training mode; the Messidor script\'s missing train() and zero_grad() are not reproduced.',
  ];
  if (r.dataset === 'isic2016') {
    return preset(r, { ...common, loss: (z, y) => focalLoss(z, y, { gamma: 2 }), weightDecay: 1e-4, learningRate: (e: number) => 1e-3 * 0.1 ** Math.floor((e + 1) / 10) }, nesterov(1e-3), 16,
      [...threatNotes, 'Focal loss γ = 2; SGD lr 1e-3, momentum 0.9, Nesterov, weight decay 1e-4; LambdaLR ×0.1 per 10 epochs stepped before each epoch, so the rate drops after epochs 9 and 19.', ...shared]);
  }
  if (r.dataset === 'messidor') {
    return preset(r, { ...common, l1: 0.01, weightDecay: 1e-3 }, nesterov(1e-3), 16,
      [...threatNotes, 'Cross-entropy + 0.01·Σ|θ| over all parameters; SGD lr 1e-3, momentum 0.9, Nesterov, weight decay 1e-3.', ...shared]);
  }
  return preset(r, { ...common, task: 'multi-label' }, adam(2e-3), 16,
    [...threatNotes, 'Binary cross-entropy averaged over the 14 findings; Adam lr 2e-3, betas (0.9, 0.999), eps 1e-8.', ...shared]);
}

/**
 * MAAdvT = MART (paper.md §6.2) as the authors' `Melanoma|Messidor/defense/train_mart.py` runs it: ISIC 2016
 * ε 0.031, T 4, α 0.007, β 6, SGD 0.01 Nesterov with weight decay 1e-4, 20 epochs of batch 8;
 * Messidor ε 4/255, T ~ U{1..9}, α 0.007, β 8, SGD 0.1 Nesterov with weight decay 1e-3, 50
 * epochs of batch 2. Budgets are in normalised units and the inner attack clips the normalised
 * tensors to [0, 1], with `paperQuirks` (MART's code as written). The code has no MAAdvT for
 * ChestX-ray14, so that data set has only the corrected variant (multi-label MART, ours).
 *
 * `variant: 'corrected'`: the pixel budget `epsilon` per channel (ε/σ_c through `channelScale`),
 * α = ε/4, the clip to the valid normalised range, the clipped start and the exact loss, with the
 * data set's T, β (8 on Messidor, 6 elsewhere), optimizer and epochs (ChestX-ray14: MART's T 10,
 * Adam 2e-3 as the paper's ChestX-ray14 MPAdvT, 30 epochs of 16).
 *
 * @param dataset - `'isic2016'`, `'messidor'` or `'chestXray14'`.
 * @param options - see {@link DefensePresetOptions}.
 * @returns a {@link DefensePreset} for {@link maAdvTrain}; `createOptimizer()` makes a new optimizer the caller disposes.
 * @throws {InvalidArgumentError} for an unknown data set, variant or option, a missing or invalid
 *   `epsilon` for `'corrected'`, an `epsilon` for `'paper'`, `'paper'` on ChestX-ray14, or a
 *   malformed normalization.
 *
 * @example
 * ```ts
 * const preset = maAdvTrainPreset('isic2016');
 * const optimizer = preset.createOptimizer();
 * await maAdvTrain(net, normalisedBatches, { ...preset.options, optimizer, seed: 1 });
 * optimizer.dispose();
 * ```
 * @category Defenses
 */
export function maAdvTrainPreset(dataset: PaperDataset, options: DefensePresetOptions = {}): DefensePreset<MaAdvTrainOptions> {
  const r = resolve(FN_MA, dataset, options);
  if (r.dataset === 'chestXray14' && r.variant === 'paper') {
    throw new InvalidArgumentError(FN_MA, 'options.variant', "'corrected' for 'chestXray14' (the authors' code has no MAAdvT for ChestX-ray14)", "'paper'");
  }
  const beta = r.dataset === 'messidor' ? 8 : 6;
  const steps: number | readonly [number, number] = r.dataset === 'isic2016' ? 4 : r.dataset === 'messidor' ? [1, 9] : 10;
  const paperEpsilon = r.dataset === 'messidor' ? 4 / 255 : 0.031;
  const threat: Pick<MaAdvTrainOptions, 'epsilon'> & Partial<MaAdvTrainOptions> = r.variant === 'paper'
    ? { epsilon: paperEpsilon, stepSize: 0.007, clip: [0, 1], paperQuirks: true }
    : { epsilon: r.epsilon!, stepSize: r.epsilon! / 4, channelScale: r.std.map((s) => 1 / s), clip: normalisedRange(r.mean, r.std), paperQuirks: false };
  const threatNotes = r.variant === 'paper'
    ? [`ε ${r.dataset === 'messidor' ? '4/255' : '0.031'} and α 0.007 in normalised units; the inner attack clips normalised tensors to [0, 1] (below-mean values go to the mean), as mart_loss does.`,
      'mart_loss as written: first gradient at the unclipped Gaussian start, loss with its 1.0001 / 1e-12 / 1.0000001 constants.']
    : [`ε = ${fmt(r.epsilon!)} in pixels, per channel as ε/σ_c, α = ε/4; clipped to the valid normalised range; exact MART loss.`];
  const notes = [...threatNotes, `β = ${beta}; T = ${Array.isArray(steps) ? 'U{1..9} per batch' : steps}.`];
  const common = { ...threat, steps, beta, startStd: 0.001 };
  if (r.dataset === 'isic2016') {
    return preset(r, { ...common, weightDecay: 1e-4, epochs: 20 }, nesterov(0.01), 8,
      [...notes, 'SGD lr 0.01, momentum 0.9, Nesterov, weight decay 1e-4, constant (the code\'s LambdaLR is never stepped); the code keeps the last epoch.']);
  }
  if (r.dataset === 'messidor') {
    return preset(r, { ...common, weightDecay: 1e-3, epochs: 50 }, nesterov(0.1), 2,
      [...notes, 'SGD lr 0.1, momentum 0.9, Nesterov, weight decay 1e-3; the code selects the best robust test accuracy, here your validation split.']);
  }
  return preset(r, { ...common, task: 'multi-label', epochs: 30 }, adam(2e-3), 16,
    [...notes, 'No code exists for ChestX-ray14: multi-label MART (ours), MART\'s T = 10, Adam 2e-3 as the paper\'s ChestX-ray14 MPAdvT.']);
}

function fmt(v: number): string {
  return `${(v * 255).toFixed(3).replace(/\.?0+$/, '')}/255`;
}

function preset<O>(r: Resolved & { dataset: PaperDataset }, options: Omit<O, 'optimizer'>, createOptimizer: () => tf.Optimizer, batchSize: number, notes: string[]): DefensePreset<O> {
  return Object.freeze({ dataset: r.dataset, variant: r.variant, options: Object.freeze(options), createOptimizer, batchSize, notes: Object.freeze(notes) });
}
