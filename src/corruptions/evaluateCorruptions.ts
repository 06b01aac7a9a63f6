import * as tf from '@tensorflow/tfjs-core';
import { AbortError, InvalidArgumentError } from '../errors.js';
import { mapInChunks, MEMORY_KEYS, readMemoryOptions } from '../internal/memory.js';
import { createRng, drawSeed } from '../internal/random.js';
import { entryAsync } from '../internal/scope.js';
import { assertKnownKeys, assertLabelsShape, assertNumber, assertOneOf, assertOptionalNumber, assertOptionsObject, describeValue } from '../internal/validate.js';
import { toModelFn } from '../model.js';
import type { Model, ModelFn, MemoryOptions, Progress, Task, BatchInput } from '../types.js';
import { checkCorruptionImages, checkCorruptionType, checkSeverity, pixelScaleOf } from './corrupt.js';
import { CORRUPTION_TYPES, CORRUPTIONS, SEVERITIES, corruptionCategory, type CorruptionCategory, type CorruptionType, type Severity } from './corruptionTypes.js';
import { batchesOf, checkData, checkJobOptions, progressOf } from './evaluationData.js';

/**
 * Options of {@link evaluateCorruptions}.
 * @category Corruptions
 */
export interface EvaluateCorruptionsOptions extends MemoryOptions {
  /**
   * The task, which picks how labels are read and how accuracy is counted.
   * @defaultValue 'single-label'
   */
  task?: Task;
  /**
   * The corruption types to evaluate, in table order.
   * @defaultValue all 18 {@link CORRUPTION_TYPES}
   */
  types?: readonly CorruptionType[];
  /**
   * The severities to evaluate.
   * @defaultValue [1, 2, 3, 4, 5]
   */
  severities?: readonly Severity[];
  /**
   * The seed of all corruptions; each batch, type and severity gets its own seed drawn from it, in
   * order, so the same data in the same batches replays the same table.
   * @defaultValue drawn at random (reported in the table)
   */
  seed?: number;
  /**
   * The image side the paper's pixel-valued parameters are meant for (see {@link CorruptOptions}).
   * @defaultValue undefined: the paper's pixel values
   */
  referenceSize?: number;
  /**
   * Multi-label only: a finding counts as predicted when sigmoid(logit) > threshold.
   * @defaultValue 0.5
   */
  threshold?: number;
  /** Cancels the evaluation between batches with an {@link AbortError}. @defaultValue undefined */
  signal?: AbortSignal;
  /** Called after every batch (phase `'batch'`; total is NaN for a stream). @defaultValue undefined */
  onProgress?: (progress: Progress) => void;
}

/**
 * One cell of a {@link CorruptionTable}.
 * @category Corruptions
 */
export interface CorruptionTableRow {
  /** The corruption type. */
  readonly type: CorruptionType;
  /** Its family. */
  readonly category: CorruptionCategory;
  /** The severity, 1…5. */
  readonly severity: Severity;
  /** Accuracy on the corrupted images (per finding for multi-label). */
  readonly accuracy: number;
  /** 1 − accuracy. */
  readonly error: number;
}

/**
 * The summary of one corruption type over the evaluated severities.
 * @category Corruptions
 */
export interface CorruptionTypeSummary {
  /** The corruption type. */
  readonly type: CorruptionType;
  /** Its family. */
  readonly category: CorruptionCategory;
  /** Mean accuracy over the severities. */
  readonly meanAccuracy: number;
  /** Mean error over the severities (ImageNet-C's unnormalised corruption error). */
  readonly meanError: number;
  /** meanError − clean error (ImageNet-C's relative corruption error, unnormalised). */
  readonly relativeError: number;
  /**
   * The area under the error-versus-severity curve, trapezoids normalised by (severities − 1), as
   * the authors' `auc(errs)` helper (paper.md §9.3); equal to the error for one severity.
   */
  readonly errorAuc: number;
}

/**
 * The result of {@link evaluateCorruptions}: a plain, JSON-serialisable table.
 * @category Corruptions
 */
export interface CorruptionTable {
  /** The task the accuracies were computed for. */
  readonly task: Task;
  /** The seed of the corruptions (replays the table with the same batches). */
  readonly seed: number;
  /** Images evaluated. */
  readonly images: number;
  /** The severities evaluated. */
  readonly severities: readonly Severity[];
  /** Accuracy and error on the clean images. */
  readonly clean: {
    /** Clean accuracy. */ readonly accuracy: number;
    /** 1 − accuracy. */ readonly error: number
  };
  /** One row per type and severity, types in the requested order, severities ascending. */
  readonly rows: readonly CorruptionTableRow[];
  /** One summary per type. */
  readonly byType: readonly CorruptionTypeSummary[];
  /** Mean over types of the mean error (mCE without AlexNet normalisation). */
  readonly meanError: number;
  /** Mean over types of the mean accuracy. */
  readonly meanAccuracy: number;
  /** Mean over types of the relative error. */
  readonly meanRelativeError: number;
}

const KEYS = ['task', 'types', 'severities', 'seed', 'referenceSize', 'threshold', 'signal', 'onProgress', ...MEMORY_KEYS] as const;

/** Correct decisions and decisions made on one batch. @internal */
export function countCorrect(fn: string, model: ModelFn, images: tf.Tensor4D, labels: tf.Tensor, task: Task, threshold: number): [number, number] {
  return tf.tidy(() => {
    const logits = model(images);
    const [n, k] = logits.shape;
    if (labels.rank === 2 && labels.shape[1] !== k) {
      throw new InvalidArgumentError(fn, 'labels', `[${n}, ${k}] to match the model's ${k} outputs`, `shape [${labels.shape.join(',')}]`);
    }
    if (task === 'single-label') {
      const truth = labels.rank === 2 ? tf.argMax(labels, 1) : tf.cast(labels, 'int32');
      return [tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), truth), 'float32')).dataSync()[0]!, n];
    }
    const cut = Math.log(threshold / (1 - threshold));
    const predicted = tf.greater(logits, cut);
    const truth = tf.greater(labels, 0.5);
    return [tf.sum(tf.cast(tf.equal(predicted, truth), 'float32')).dataSync()[0]!, n * k];
  });
}

function listOption<T>(fn: string, argument: string, value: unknown, check: (a: string, v: unknown) => T, fallback: readonly T[]): T[] {
  if (value === undefined) return [...fallback];
  if (!Array.isArray(value) || value.length === 0) throw new InvalidArgumentError(fn, argument, 'a non-empty array', describeValue(value));
  const out = value.map((v, i) => check(`${argument}[${i}]`, v));
  if (new Set(out).size !== out.length) throw new InvalidArgumentError(fn, argument, 'an array without repeated entries', describeValue(value));
  return out;
}

/**
 * Evaluates a model on the journal version's Benchmark-C (paper.md §9.1): accuracy and error on
 * the clean test images and on every corruption type at every severity, corrupted on the fly
 * batch by batch with {@link corrupt} (the paper stores them as JPEG files; here nothing is
 * written). Single-label accuracy is top-1; multi-label accuracy is the fraction of correct
 * per-finding decisions (sigmoid > threshold).
 *
 * Per type: mean error over severities (ImageNet-C's corruption error, here without the AlexNet
 * normalisation, for which no medical baseline exists), relative error (minus the clean error)
 * and the authors' `auc` of the error curve. The model runs in inference mode.
 *
 * @param model - a {@link ModelFn} returning logits, or a single-output `tf.LayersModel`.
 * @param data - test batches (any {@link BatchInput} form: array batches are borrowed, streamed ones disposed after use); read once.
 * @param options - see {@link EvaluateCorruptionsOptions}; unknown keys are rejected.
 * @returns a plain {@link CorruptionTable} (no tensors).
 * @throws {InvalidArgumentError} for a bad model, data, batch (images not in [0, 1], labels not
 *   matching the task or the batch), type, severity or option.
 * @throws {AbortError} when `options.signal` is aborted.
 *
 * @example
 * ```ts
 * const table = await evaluateCorruptions(model, [{ images, labels }], { types: ['fog', 'contrast'], seed: 1 });
 * console.log(table.clean.accuracy, table.byType[0].meanError);
 * ```
 * @category Corruptions
 */
export async function evaluateCorruptions(model: Model, data: BatchInput, options: EvaluateCorruptionsOptions = {}): Promise<CorruptionTable> {
  return entryAsync('evaluateCorruptions', () => corruptionTable(model, data, options));
}

async function corruptionTable(model: Model, data: BatchInput, options: EvaluateCorruptionsOptions): Promise<CorruptionTable> {
  const fn = 'evaluateCorruptions';
  const modelFn = toModelFn(model, fn);
  checkData(fn, data);
  const o = assertOptionsObject(fn, options);
  assertKnownKeys(fn, o, KEYS);
  const task = assertOneOf(fn, 'options.task', o.task, ['single-label', 'multi-label'] as const) ?? 'single-label';
  const types = listOption(fn, 'options.types', o.types, (a, v) => checkCorruptionType(fn, a, v), CORRUPTION_TYPES);
  const severities = listOption(fn, 'options.severities', o.severities, (a, v) => checkSeverity(fn, a, v), SEVERITIES).sort((a, b) => a - b);
  const seed = assertOptionalNumber(fn, 'options.seed', o.seed, { integer: true, min: 0 }) ?? drawSeed();
  assertOptionalNumber(fn, 'options.referenceSize', o.referenceSize, { min: 0, minExclusive: true });
  const threshold = o.threshold === undefined ? 0.5 : assertNumber(fn, 'options.threshold', o.threshold, { min: 0, max: 1, minExclusive: true, maxExclusive: true });
  const { signal, onProgress } = checkJobOptions(fn, o);
  const memory = readMemoryOptions(fn, o);
  // Forward passes in chunks that fit (bit for bit the whole batch's logits).
  const forward: ModelFn = (x) => mapInChunks(fn, x, memory, { model, kind: 'forward' }, modelFn);
  const total = Array.isArray(data) ? data.length : Number.NaN;
  const rng = createRng(seed);
  const correct = new Map<string, number>();
  let cleanCorrect = 0;
  let decisions = 0;
  let images = 0;
  const started = Date.now();
  for await (const { batch, owned, index } of batchesOf(fn, data)) {
    try {
      if (signal?.aborted) throw new AbortError(`${fn}: aborted before batch ${index}`);
      const b = batch as { images?: unknown; labels?: unknown } | null;
      if (b === null || typeof b !== 'object') throw new InvalidArgumentError(fn, `data[${index}]`, 'a { images, labels } batch', describeValue(batch));
      const x = checkCorruptionImages(fn, b.images);
      const labels = assertLabelsShape(fn, `data[${index}].labels`, b.labels, x.shape[0], task);
      const pixelScale = pixelScaleOf(fn, 'options.referenceSize', o.referenceSize, x);
      const [ok, count] = countCorrect(fn, forward, x, labels, task, threshold);
      cleanCorrect += ok;
      decisions += count;
      images += x.shape[0];
      for (const type of types) {
        for (const severity of severities) {
          const corrupted = CORRUPTIONS[type](x, severity, { rng: createRng(rng.nextSeed()), pixelScale });
          try {
            const key = `${type}/${severity}`;
            correct.set(key, (correct.get(key) ?? 0) + countCorrect(fn, forward, corrupted, labels, task, threshold)[0]);
          } finally {
            corrupted.dispose();
          }
        }
      }
      onProgress?.(progressOf('batch', index + 1, total, started, { cleanAccuracy: cleanCorrect / decisions }));
    } finally {
      if (owned) tf.dispose([(batch as { images?: tf.Tensor })?.images, (batch as { labels?: tf.Tensor })?.labels].filter((t): t is tf.Tensor => t instanceof tf.Tensor));
    }
  }
  const cleanAccuracy = cleanCorrect / decisions;
  const rows: CorruptionTableRow[] = [];
  const byType: CorruptionTypeSummary[] = [];
  for (const type of types) {
    const errors: number[] = [];
    for (const severity of severities) {
      const accuracy = correct.get(`${type}/${severity}`)! / decisions;
      rows.push({ type, category: corruptionCategory(type), severity, accuracy, error: 1 - accuracy });
      errors.push(1 - accuracy);
    }
    const meanError = errors.reduce((a, e) => a + e, 0) / errors.length;
    let area = 0;
    for (let i = 1; i < errors.length; i++) area += (errors[i]! + errors[i - 1]!) / 2;
    byType.push({
      type,
      category: corruptionCategory(type),
      meanAccuracy: 1 - meanError,
      meanError,
      relativeError: meanError - (1 - cleanAccuracy),
      errorAuc: errors.length > 1 ? area / (errors.length - 1) : errors[0]!,
    });
  }
  const mean = (f: (s: CorruptionTypeSummary) => number) => byType.reduce((a, s) => a + f(s), 0) / byType.length;
  return {
    task,
    seed,
    images,
    severities,
    clean: { accuracy: cleanAccuracy, error: 1 - cleanAccuracy },
    rows,
    byType,
    meanError: mean((s) => s.meanError),
    meanAccuracy: mean((s) => s.meanAccuracy),
    meanRelativeError: mean((s) => s.relativeError),
  };
}
