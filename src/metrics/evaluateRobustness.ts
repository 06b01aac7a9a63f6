import * as tf from '@tensorflow/tfjs-core';
import { fgsm, type FgsmOptions } from '../attacks/fgsm.js';
import { pgdAsync, type PgdOptions } from '../attacks/pgd.js';
import { AbortError, InvalidArgumentError, NonFiniteError, PerturbationBudgetError } from '../errors.js';
import { assertModelInput, toModelFn } from '../model.js';
import { mapInChunks, MEMORY_KEYS, readMemoryOptions } from '../internal/memory.js';
import { createRng, drawSeed } from '../internal/random.js';
import { entryAsync, reattribute, type TensorBag } from '../internal/scope.js';
import {
  assertBoolean, assertFunction, assertImages, assertKnownKeys, assertNumber, assertOneOf, assertOptionalNumber, assertOptionsObject, assertSignal, assertTensor, describeValue,
} from '../internal/validate.js';
import { looksLikeProbabilities, warnOnce } from '../internal/warnings.js';
import { assertBatchInput } from '../internal/batches.js';
import { assertShard, releaseShardBatch, shardBatches, type ShardCounter } from '../internal/shard.js';
import type { BatchInput, MemoryOptions, Model, ModelFn, Progress, Shard, Task } from '../types.js';
import { labelCooccurrence } from '../analysis/labelCooccurrence.js';
import { accuracy } from './accuracy.js';
import { foolingRate } from './foolingRate.js';
import { classProbabilities, labelProbabilities } from './labels.js';
import { rocAuc } from './rocAuc.js';

/**
 * An attack of {@link evaluateRobustness}: a built-in one (`attack: 'fgsm' | 'pgd'` with its
 * options, ε taken from `epsilons`) or any function `run(model, images, labels, epsilon)` returning
 * new adversarial images (e.g. a trained GAP generator). The task is passed to built-in attacks.
 * Every output is checked: NaN/Infinity throws {@link NonFiniteError}, a perturbation larger than ε in
 * the attack's norm throws {@link PerturbationBudgetError}.
 * @category Metrics
 */
export type RobustnessAttack =
  | {
      /** The row label; unique among the attacks. */
      readonly name: string;
      /** The built-in FGSM. */
      readonly attack: 'fgsm';
      /** The budgets ε to run. */
      readonly epsilons: readonly number[];
      /** FGSM's other options (norm, clip, loss, targeted). */
      readonly options?: Omit<FgsmOptions, 'epsilon' | 'task'>;
    }
  | {
      /** The row label; unique among the attacks. */
      readonly name: string;
      /** The built-in PGD. */
      readonly attack: 'pgd';
      /** The budgets ε to run. */
      readonly epsilons: readonly number[];
      /** PGD's other options (steps, stepSize, restarts, clip, seed, ...). */
      readonly options?: Omit<PgdOptions, 'epsilon' | 'task'>;
    }
  | {
      /** The row label; unique among the attacks. */
      readonly name: string;
      /** Returns adversarial images `[B, H, W, C]` owned by the caller (they are disposed after use). */
      readonly run: (model: ModelFn, images: tf.Tensor4D, labels: tf.Tensor, epsilon: number) => tf.Tensor4D | Promise<tf.Tensor4D>;
      /** The budgets to run; omitted: one run, reported with ε = NaN (and no budget check). */
      readonly epsilons?: readonly number[];
      /**
       * The norm the budget is checked in.
       * @defaultValue 'linf'
       */
      readonly norm?: 'linf' | 'l2';
    };

/**
 * Options of {@link evaluateRobustness}.
 * @category Metrics
 */
export interface EvaluateRobustnessOptions extends MemoryOptions {
  /**
   * The task: it picks the label format, the accuracy (argmax or thresholded per label), the AUC
   * scores (softmax or sigmoid) and the loss of the built-in attacks.
   * @defaultValue 'single-label'
   */
  task?: Task;
  /**
   * Multi-label decision threshold on sigmoid probabilities (paper: 0.5, or 0.7 in one script).
   * @defaultValue 0.5
   */
  threshold?: number;
  /**
   * The AUC averaging (see {@link RocAucOptions}).
   * @defaultValue 'macro'
   */
  aucAverage?: 'macro' | 'micro' | 'weighted';
  /**
   * Seed from which one seed is drawn per PGD row (attack and ε) that has none of its own, in row
   * order. Every batch of a row uses that row's seed, and PGD draws one random-start pattern per
   * restart scaled by each image's ε, so an image's random start (and result) is the same whatever
   * batch or shard it is in.
   * @defaultValue drawn at random
   */
  seed?: number;
  /**
   * Evaluate only one shard of the data: the images at positions p with p mod count = index (see
   * {@link Shard}). The report then holds this shard's metrics and per-sample records; merge the
   * shards' reports with {@link mergeShards} to get the whole data set's report, equal bit for bit
   * to an unsharded run. Custom `run` attacks must be batch-independent for that (built-in ones are);
   * PGD with `clip: 'batch'` (the paper's batch-global range) is refused, as it depends on the batch.
   * @defaultValue the whole data set
   */
  shard?: Shard;
  /**
   * Dispose each batch's tensors after use. By default the rule of {@link BatchInput}: false for an
   * array (the caller keeps it), true for an iterable or a factory (a stream hands over fresh
   * tensors, as in tfjs `fitDataset`).
   * @defaultValue Array.isArray(data) ? false : true
   */
  disposeBatches?: boolean;
  /**
   * Cancels the evaluation with an {@link AbortError}, between batches and between the steps of a
   * built-in PGD run.
   * @defaultValue none
   */
  signal?: AbortSignal;
  /**
   * Called after every batch (phase `'batch'`; `total` is NaN for a stream of unknown length).
   * @defaultValue none
   */
  onProgress?: (progress: Progress) => void;
}

/**
 * One row of the robustness table: an attack at one ε.
 * @category Metrics
 */
export interface RobustnessRow {
  /** The attack's name. */
  attack: string;
  /** The budget ε (NaN for a custom attack without epsilons). */
  epsilon: number;
  /** Accuracy on the adversarial images (robust accuracy). */
  accuracy: number;
  /** ROC AUC on the adversarial images. */
  auc: number;
  /** Clean accuracy minus robust accuracy. */
  accuracyDrop: number;
  /** Fraction of predictions changed by the attack (§5a). */
  foolingRate: number;
  /** Mean over images of max |δ|. */
  meanLinf: number;
  /** Largest max |δ| of any image (compare with ε). */
  maxLinf: number;
  /** Mean over images of ‖δ‖₂. */
  meanL2: number;
  /** Multi-label only: the label co-occurrence of the adversarial predictions (see {@link RobustnessReport.cooccurrence}). */
  cooccurrence?: number[][];
}

/**
 * The per-sample records of a {@link RobustnessReport}, from which every metric is computed (and
 * recomputed by {@link mergeShards} over all shards): plain JSON-compatible numbers.
 * @category Metrics
 */
export interface RobustnessSamples {
  /** The kind of evaluation. */
  readonly kind: 'robustness';
  /** What the metrics depend on besides the records. */
  readonly settings: {
    /** See {@link EvaluateRobustnessOptions.task}. */
    readonly task: Task;
    /** See {@link EvaluateRobustnessOptions.threshold}. */
    readonly threshold: number;
    /** See {@link EvaluateRobustnessOptions.aucAverage}. */
    readonly aucAverage: 'macro' | 'micro' | 'weighted';
    /** The evaluation's seed. */
    readonly seed: number;
    /** The attacks as JSON (a custom attack's function as `run: 'custom'`). */
    readonly attacks: readonly unknown[];
    /** One entry per row: attack, ε and the PGD seed used (null for other attacks). */
    readonly rows: readonly {
      /** The attack's name. */
      readonly attack: string;
      /** The row's ε. */
      readonly epsilon: number;
      /** The PGD seed of the row (null for other attacks). */
      readonly seed: number | null;
    }[];
  };
  /** Images in the whole data set (all shards). */
  readonly total: number;
  /** The data-set position of each evaluated image, ascending. */
  readonly positions: readonly number[];
  /** Each image's label row: `[k]` for a class index, else the one-hot or multi-hot row. */
  readonly labels: readonly (readonly number[])[];
  /** Each image's clean logits. */
  readonly clean: readonly (readonly number[])[];
  /** Per row, each image's adversarial logits. */
  readonly adversarial: readonly (readonly (readonly number[])[])[];
  /** Per row, each image's max |δ|. */
  readonly linf: readonly (readonly number[])[];
  /** Per row, each image's ‖δ‖₂. */
  readonly l2: readonly (readonly number[])[];
}

/**
 * The result of {@link evaluateRobustness}.
 * @category Metrics
 */
export interface RobustnessReport {
  /** Metrics on the clean images. */
  clean: {
    /** Clean accuracy. */
    accuracy: number;
    /** Clean ROC AUC. */
    auc: number;
  };
  /** One row per attack and ε, in the order given. */
  rows: RobustnessRow[];
  /** Number of images evaluated. */
  n: number;
  /** The seed used, to replay the PGD random starts. */
  seed: number;
  /** The shard evaluated (`{ index: 0, count: 1 }` for the whole data set or a merged report). */
  shard: Shard;
  /**
   * Multi-label only: label co-occurrence matrices (paper.md §5d, {@link labelCooccurrence}) of the
   * ground truth and of the clean predictions (sigmoid > threshold); each row holds its adversarial one.
   */
  cooccurrence?: {
    /** Of the ground-truth labels. */
    truth: number[][];
    /** Of the clean predictions. */
    clean: number[][];
  };
  /** The per-sample records every metric above is computed from. */
  samples: RobustnessSamples;
}

const KEYS = ['task', 'threshold', 'aucAverage', 'seed', 'shard', 'disposeBatches', 'signal', 'onProgress', ...MEMORY_KEYS] as const;

interface Run { attack: RobustnessAttack; index: number; epsilon: number; seed: number | undefined; logits: number[][]; linf: number[]; l2: number[] }

/**
 * Clean versus adversarial metrics for every attack and ε (paper.md §5a's tables): accuracy, AUC,
 * fooling rate and the achieved perturbation norms, streamed batch by batch (only logits and norms
 * are kept, never images). The model runs in inference mode; built-in attacks are {@link fgsm} and
 * {@link pgd}, called with `task` and, for PGD without its own seed, a fresh seed per batch drawn
 * from `seed`.
 *
 * @param model - a {@link ModelFn} returning logits or a single-output `tf.LayersModel`.
 * @param data - {@link Batch} batches in any {@link BatchInput} form, read once (a factory is called
 *   with epoch 0); see `disposeBatches`.
 * @param attacks - the attacks to run (see {@link RobustnessAttack}); names must be distinct.
 * @param options - see {@link EvaluateRobustnessOptions}.
 * @returns the clean metrics, one row per attack and ε, the image count and the seed.
 * @throws {InvalidArgumentError} for an empty or malformed attack list, no batches, bad options,
 *   or (from the attacks) bad images or labels.
 * @throws {AbortError} when `signal` fires.
 *
 * @example
 * ```ts
 * const report = await evaluateRobustness(model, [{ images, labels }], [
 *   { name: 'FGSM', attack: 'fgsm', epsilons: [2 / 255, 8 / 255] },
 *   { name: 'PGD-10', attack: 'pgd', epsilons: [8 / 255], options: { steps: 10 } },
 * ], { seed: 1 });
 * console.table(report.rows);
 * ```
 * @category Metrics
 */
export async function evaluateRobustness(model: Model, data: BatchInput, attacks: readonly RobustnessAttack[], options: EvaluateRobustnessOptions = {}): Promise<RobustnessReport> {
  const fn = 'evaluateRobustness';
  return entryAsync(fn, (bag) => evaluate(fn, bag, model, data, attacks, options));
}

async function evaluate(fn: string, bag: TensorBag, model: Model, data: BatchInput, attacks: readonly RobustnessAttack[], options: EvaluateRobustnessOptions): Promise<RobustnessReport> {
  const o = assertOptionsObject(fn, options);
  assertKnownKeys(fn, o, KEYS);
  const modelFn = toModelFn(model, fn);
  assertBatchInput(fn, 'data', data);
  validateAttacks(fn, attacks);
  const task = assertOneOf<Task>(fn, 'options.task', o.task, ['single-label', 'multi-label']) ?? 'single-label';
  const threshold = o.threshold === undefined ? 0.5 : assertNumber(fn, 'options.threshold', o.threshold, { min: 0, max: 1 });
  const aucAverage = assertOneOf(fn, 'options.aucAverage', o.aucAverage, ['macro', 'micro', 'weighted'] as const) ?? 'macro';
  const seed = assertOptionalNumber(fn, 'options.seed', o.seed, { integer: true, min: 0 }) ?? drawSeed();
  const shard = assertShard(fn, 'options.shard', o.shard);
  const disposeOption = assertBoolean(fn, 'options.disposeBatches', o.disposeBatches);
  const signal = assertSignal(fn, 'options.signal', o.signal);
  assertFunction(fn, 'options.onProgress', o.onProgress);
  const onProgress = o.onProgress as ((p: Progress) => void) | undefined;
  const memory = readMemoryOptions(fn, o);
  if (shard.count > 1) {
    attacks.forEach((a, i) => {
      if (!('run' in a) && a.options?.clip === 'batch') {
        throw new InvalidArgumentError(fn, `attacks[${i}].options.clip`, "a fixed range when options.shard is given ('batch' clips to each batch's min and max, so a shard could not reproduce the unsharded run)", "'batch'");
      }
    });
  }
  const rng = createRng(seed);

  // One PGD seed per row, drawn in row order: every batch (and shard) of a row uses it.
  const runs: Run[] = [];
  attacks.forEach((attack, index) => {
    const eps = attack.epsilons ?? [Number.NaN];
    for (const epsilon of eps) {
      const pgdSeed = 'run' in attack || attack.attack !== 'pgd' ? undefined : (attack.options?.seed ?? rng.nextSeed());
      runs.push({ attack, index, epsilon, seed: pgdSeed, logits: [], linf: [], l2: [] });
    }
  });
  const cleanLogits: number[][] = [];
  const labelRows: number[][] = [];
  const positions: number[] = [];
  let classes = -1;
  let labelCols = -1;
  let batches = 0;
  const total = Array.isArray(data) ? data.length : Number.NaN;
  const t0 = Date.now();
  const checkAbort = (): void => {
    if (signal?.aborted) throw new AbortError('evaluateRobustness was aborted');
  };
  checkAbort();
  const forward = (x: tf.Tensor4D): tf.Tensor2D => mapInChunks(fn, x, memory, { model, kind: 'forward' }, (chunk) => modelFn(chunk));
  const check = (batch: unknown, b: number): { images: tf.Tensor4D; labels: tf.Tensor } => {
    const bt = batch as { images?: unknown; labels?: unknown } | null;
    if (typeof bt !== 'object' || bt === null || !(bt.images instanceof tf.Tensor) || !(bt.labels instanceof tf.Tensor)) {
      throw new InvalidArgumentError(fn, `data[${b}]`, 'a batch { images: Tensor4D, labels: Tensor }', describeValue(batch));
    }
    const labels = assertTensor(fn, `data[${b}].labels`, bt.labels, [1, 2], 'labels [N] (class indices) or [N, C]');
    const images = assertImages(fn, `data[${b}].images`, bt.images);
    assertModelInput(fn, `data[${b}].images`, model, images);
    const bn = images.shape[0];
    if (labels.shape[0] !== bn) throw new InvalidArgumentError(fn, `data[${b}].labels`, `one label row per image (${bn})`, `shape [${labels.shape.join(',')}]`);
    const cols = labels.rank === 1 ? 1 : labels.shape[1]!;
    if (labelCols === -1) labelCols = cols;
    else if (labelCols !== cols) throw new InvalidArgumentError(fn, `data[${b}].labels`, `labels with ${labelCols} column(s) like the first batch`, `shape [${labels.shape.join(',')}]`);
    return { images, labels };
  };
  const counter: ShardCounter = { total: 0, batches: 0 };

  for await (const part of shardBatches(fn, data, shard, { check, ...(disposeOption === undefined ? {} : { dispose: disposeOption }) }, counter)) {
    try {
      const { images, where } = part;
      const labels = part.labels!;
      const bn = images.shape[0];
      const logits = tf.tidy(() => forward(images));
      const c = logits.shape[1];
      const values = logits.dataSync();
      logits.dispose();
      if (classes === -1) {
        classes = c;
        warnIfProbabilities(fn, values, c, task);
      } else if (classes !== c) throw new InvalidArgumentError(fn, 'model', `the same number of logits for every batch (${classes})`, `${c} in ${where}`);
      for (const v of values) {
        if (!Number.isFinite(v)) throw new NonFiniteError(fn, 'logits', `the model returned NaN or Infinity on the clean images of ${where}`);
      }
      for (let i = 0; i < bn; i++) cleanLogits.push(Array.from(values.subarray(i * c, (i + 1) * c)));
      const lab = labels.dataSync();
      const cols = labels.rank === 1 ? 1 : labels.shape[1]!;
      for (let i = 0; i < bn; i++) labelRows.push(Array.from(lab.subarray(i * cols, (i + 1) * cols)));
      for (const run of runs) {
        checkAbort();
        const context = `attack '${run.attack.name}'${Number.isNaN(run.epsilon) ? '' : ` at ε = ${run.epsilon}`} on ${where}`;
        const argumentMap = { images: `${where}.images`, labels: `${where}.labels`, model: 'model', options: `attacks[${run.index}].options` };
        let adv: tf.Tensor4D;
        try {
          adv = bag.own(await runAttack(run, model, modelFn, images, labels, task, memory, signal));
        } catch (err) {
          throw reattribute(err, fn, argumentMap, context);
        }
        try {
          const stats = tf.tidy(() => {
            const advLogits = forward(adv);
            const delta = tf.reshape(tf.sub(adv, images), [bn, -1]);
            const bad = tf.sum(tf.cast(tf.logicalNot(tf.isFinite(delta)), 'float32'), 1);
            const safe = tf.where(tf.isFinite(delta), delta, tf.zerosLike(delta));
            return tf.concat([tf.reshape(advLogits, [-1]), tf.max(tf.abs(safe), 1), tf.sqrt(tf.sum(tf.square(safe), 1)), bad]);
          });
          const v = stats.dataSync();
          stats.dispose();
          checkOutput(fn, run, v, bn, c, part.positions, where);
          for (let i = 0; i < bn; i++) {
            run.logits.push(Array.from(v.subarray(i * c, (i + 1) * c)));
            run.linf.push(v[bn * c + i]!);
            run.l2.push(v[bn * c + bn + i]!);
          }
        } finally {
          bag.free(adv);
        }
      }
      positions.push(...part.positions);
      batches++;
      const done = part.read;
      const elapsedSeconds = (Date.now() - t0) / 1000;
      onProgress?.({ phase: 'batch', done, total, elapsedSeconds, etaSeconds: Number.isNaN(total) ? Number.NaN : (elapsedSeconds / done) * (total - done) });
    } finally {
      releaseShardBatch(part);
    }
  }
  if (counter.total === 0) throw new InvalidArgumentError(fn, 'data', 'at least one batch', 'no batches');

  const samples: RobustnessSamples = {
    kind: 'robustness',
    settings: { task, threshold, aucAverage, seed, attacks: describeAttacks(attacks), rows: runs.map((r) => ({ attack: r.attack.name, epsilon: r.epsilon, seed: r.seed ?? null })) },
    total: counter.total,
    positions,
    labels: labelRows,
    clean: cleanLogits,
    adversarial: runs.map((r) => r.logits),
    linf: runs.map((r) => r.linf),
    l2: runs.map((r) => r.l2),
  };
  return summarizeRobustness(samples, shard);
}

/**
 * The report of per-sample records: every metric computed from `samples` alone (the unsharded run,
 * a shard, and {@link mergeShards} over all shards all go through here).
 * @internal
 */
export function summarizeRobustness(samples: RobustnessSamples, shard: Shard): RobustnessReport {
  const { task, threshold, aucAverage, seed } = samples.settings;
  const n = samples.positions.length;
  const flat = (rows: readonly (readonly number[])[]): number[] => {
    const out: number[] = [];
    for (const r of rows) for (const v of r) out.push(v);
    return out;
  };
  const rowsOf = (f: (i: number) => Omit<RobustnessRow, 'attack' | 'epsilon'>): RobustnessRow[] =>
    samples.settings.rows.map((r, i) => ({ attack: r.attack, epsilon: r.epsilon, ...f(i) }));
  if (n === 0) {
    const nan = Number.NaN;
    return { clean: { accuracy: nan, auc: nan }, rows: rowsOf(() => ({ accuracy: nan, auc: nan, accuracyDrop: nan, foolingRate: nan, meanLinf: nan, maxLinf: nan, meanL2: nan })), n, seed, shard, samples };
  }
  const classes = samples.clean[0]!.length;
  const labelCols = samples.labels[0]!.length;
  const labelsMat = { data: flat(samples.labels), shape: [n, labelCols] as [number, number] };
  const probabilities = (logits: number[]): { data: Float64Array; shape: [number, number] } => {
    const mat = { data: Float64Array.from(logits), rows: n, cols: classes };
    return { data: task === 'multi-label' ? labelProbabilities(mat, 'logits') : classProbabilities(mat, 'logits'), shape: [n, classes] };
  };
  const metricOptions = { task, threshold, from: 'logits' as const };
  const cleanFlat = flat(samples.clean);
  const cleanMat = { data: cleanFlat, shape: [n, classes] as [number, number] };
  const cleanAcc = accuracy(cleanMat, labelsMat, metricOptions);
  const cleanProb = probabilities(cleanFlat);
  const cleanAuc = rocAuc(cleanProb, labelsMat, { average: aucAverage, task });
  const multi = task === 'multi-label';
  const rows = rowsOf((i) => {
    const advFlat = flat(samples.adversarial[i]!);
    const advMat = { data: advFlat, shape: [n, classes] as [number, number] };
    const acc = accuracy(advMat, labelsMat, metricOptions);
    const advProb = probabilities(advFlat);
    const linf = samples.linf[i]!;
    const l2 = samples.l2[i]!;
    return {
      accuracy: acc,
      auc: rocAuc(advProb, labelsMat, { average: aucAverage, task }),
      accuracyDrop: cleanAcc - acc,
      foolingRate: foolingRate(cleanMat, advMat, metricOptions),
      meanLinf: linf.reduce((a, b) => a + b, 0) / n,
      maxLinf: linf.reduce((a, b) => Math.max(a, b), 0),
      meanL2: l2.reduce((a, b) => a + b, 0) / n,
      ...(multi ? { cooccurrence: labelCooccurrence(advProb, { threshold }) } : {}),
    };
  });
  const report: RobustnessReport = { clean: { accuracy: cleanAcc, auc: cleanAuc }, rows, n, seed, shard, samples };
  if (multi) report.cooccurrence = { truth: labelCooccurrence(labelsMat), clean: labelCooccurrence(cleanProb, { threshold }) };
  return report;
}

/** The attacks as JSON, for the records' settings (functions are not serialisable: `run: 'custom'`). */
function describeAttacks(attacks: readonly RobustnessAttack[]): unknown[] {
  const plain = (value: unknown): unknown => {
    if (typeof value === 'function') return '[function]';
    if (Array.isArray(value)) return value.map(plain);
    if (ArrayBuffer.isView(value)) return Array.from(value as unknown as ArrayLike<number>);
    if (value instanceof tf.Tensor) return `[tensor ${value.dtype} ${value.shape.join('x')}]`;
    if (typeof value === 'object' && value !== null) {
      return Object.fromEntries(Object.entries(value).filter(([k, v]) => v !== undefined && k !== 'signal' && k !== 'onProgress').map(([k, v]) => [k, plain(v)]));
    }
    return value;
  };
  return attacks.map((a) => ('run' in a ? { name: a.name, run: 'custom', epsilons: a.epsilons ?? null, norm: a.norm ?? 'linf' } : plain(a)));
}

/** Warns once when the clean outputs look like probabilities (all in [0, 1], rows summing to 1 for single-label). */
function warnIfProbabilities(fn: string, values: ArrayLike<number>, c: number, task: Task): void {
  if (looksLikeProbabilities(values, c, task)) {
    warnOnce('MEDROBUST_PROBABILITIES', `${fn}: the model's outputs all lie in [0, 1]${task === 'single-label' ? ' and sum to 1 per image' : ''}: they look like probabilities, but attacks and metrics expect logits. Remove the final activation, or wrap the model to return logits.`);
  }
}

/**
 * Checks an attack's output (one read per batch): finite values, and every perturbation within ε in
 * the attack's norm (float32 rounding allowed: 1e-5 relative plus 1e-6 absolute).
 */
function checkOutput(fn: string, run: Run, v: ArrayLike<number>, bn: number, c: number, positions: readonly number[], where: string): void {
  const a = run.attack;
  const base = bn * c;
  for (let i = 0; i < bn; i++) {
    const bad = v[base + 2 * bn + i]!;
    if (bad > 0) throw new NonFiniteError(fn, `the adversarial images of attack '${a.name}'`, `${bad} values of image ${i} of ${where} (image ${positions[i]}) are NaN or Infinity${Number.isNaN(run.epsilon) ? '' : ` at ε = ${run.epsilon}`}`);
  }
  for (let i = 0; i < bn * c; i++) {
    if (!Number.isFinite(v[i]!)) throw new NonFiniteError(fn, 'logits', `the model returned NaN or Infinity on the adversarial images of attack '${a.name}' (${where})`);
  }
  if (Number.isNaN(run.epsilon)) return;
  const norm = 'run' in a ? (a.norm ?? 'linf') : (a.options?.norm ?? 'linf');
  const tolerance = run.epsilon * 1e-5 + 1e-6;
  for (let i = 0; i < bn; i++) {
    const achieved = v[base + (norm === 'linf' ? 0 : bn) + i]!;
    if (achieved > run.epsilon + tolerance) throw new PerturbationBudgetError(fn, a.name, run.epsilon, norm, achieved, positions[i]!);
  }
}

async function runAttack(run: Run, model: Model, modelFn: ModelFn, images: tf.Tensor4D, labels: tf.Tensor, task: Task, memory: MemoryOptions, signal: AbortSignal | undefined): Promise<tf.Tensor4D> {
  const a = run.attack;
  if ('run' in a) {
    const adv = await a.run(modelFn, images, labels, run.epsilon);
    if (!(adv instanceof tf.Tensor) || adv.rank !== 4 || adv.shape.some((d, i) => d !== images.shape[i])) {
      if (adv instanceof tf.Tensor) adv.dispose();
      throw new InvalidArgumentError('evaluateRobustness', `attacks[${run.index}].run`, `a function returning adversarial images of shape [${images.shape.join(',')}]`, `a function that returned ${describeValue(adv)}`);
    }
    if (adv === images) throw new InvalidArgumentError('evaluateRobustness', `attacks[${run.index}].run`, 'a function returning new adversarial images (tf.clone(images) for none)', 'the clean images themselves');
    return adv;
  }
  if (a.attack === 'fgsm') return fgsm(model, images, labels, { ...memory, ...a.options, epsilon: run.epsilon, task });
  const opts = a.options ?? {};
  return pgdAsync(model, images, labels, { ...memory, ...opts, epsilon: run.epsilon, task, seed: run.seed!, ...(signal ? { signal } : {}) });
}

function validateAttacks(fn: string, attacks: unknown): void {
  if (!Array.isArray(attacks) || attacks.length === 0) throw new InvalidArgumentError(fn, 'attacks', 'a non-empty array of attacks', describeValue(attacks));
  const names = new Set<string>();
  attacks.forEach((a: unknown, i) => {
    const arg = `attacks[${i}]`;
    if (typeof a !== 'object' || a === null) throw new InvalidArgumentError(fn, arg, "{ name, attack: 'fgsm' | 'pgd', epsilons, options? } or { name, run, epsilons? }", describeValue(a));
    const r = a as Record<string, unknown>;
    if (typeof r.name !== 'string' || r.name.length === 0) throw new InvalidArgumentError(fn, `${arg}.name`, 'a non-empty string', describeValue(r.name));
    if (names.has(r.name)) throw new InvalidArgumentError(fn, `${arg}.name`, 'a name no other attack uses', JSON.stringify(r.name));
    names.add(r.name);
    if ('run' in r) {
      assertKnownKeys(fn, r, ['name', 'run', 'epsilons', 'norm'], arg);
      if (typeof r.run !== 'function') throw new InvalidArgumentError(fn, `${arg}.run`, 'a function (model, images, labels, epsilon) => adversarial images', describeValue(r.run));
      if (r.epsilons !== undefined) checkEpsilons(fn, `${arg}.epsilons`, r.epsilons);
      assertOneOf(fn, `${arg}.norm`, r.norm, ['linf', 'l2'] as const);
      return;
    }
    assertKnownKeys(fn, r, ['name', 'attack', 'epsilons', 'options'], arg);
    assertOneOf(fn, `${arg}.attack`, r.attack, ['fgsm', 'pgd'] as const);
    if (r.attack === undefined) throw new InvalidArgumentError(fn, `${arg}.attack`, "'fgsm' or 'pgd' (or give a run function)", 'undefined');
    checkEpsilons(fn, `${arg}.epsilons`, r.epsilons);
    if (r.options !== undefined) {
      const opts = assertOptionsObject(fn, r.options);
      if ('epsilon' in opts || 'task' in opts) throw new InvalidArgumentError(fn, `${arg}.options`, 'attack options without epsilon and task (they come from epsilons and options.task)', `an object with keys {${Object.keys(opts).join(', ')}}`);
    }
  });
}

function checkEpsilons(fn: string, arg: string, value: unknown): void {
  if (!Array.isArray(value) || value.length === 0) throw new InvalidArgumentError(fn, arg, 'a non-empty array of budgets ε ≥ 0', describeValue(value));
  value.forEach((e, i) => assertNumber(fn, `${arg}[${i}]`, e, { min: 0 }));
}
