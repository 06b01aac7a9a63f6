import * as tf from '@tensorflow/tfjs-core';
import { AbortError, InvalidArgumentError } from '../errors.js';
import { mapInChunks, MEMORY_KEYS, readMemoryOptions } from '../internal/memory.js';
import { createRng, drawSeed } from '../internal/random.js';
import { entryAsync, reattribute } from '../internal/scope.js';
import { assertKnownKeys, assertNumber, assertOneOf, assertOptionalNumber, assertOptionsObject, describeValue } from '../internal/validate.js';
import { toModelFn } from '../model.js';
import type { MemoryOptions, Model, Progress, Task, BatchInput } from '../types.js';
import { checkCorruptionImages } from './corrupt.js';
import { batchesOf, checkData, checkJobOptions, progressOf } from './evaluationData.js';
import { flipProbability } from './flipProbability.js';
import { NOISE_PERTURBATIONS, PERTURBATION_TYPES, checkDifficulty, checkPerturbationType, perturbationSequence, type Difficulty, type PerturbationType } from './perturbationSequence.js';

/**
 * Options of {@link evaluatePerturbations}.
 * @category Corruptions
 */
export interface EvaluatePerturbationsOptions extends MemoryOptions {
  /**
   * The task: single-label predictions are the argmax, multi-label ones sigmoid > threshold.
   * @defaultValue 'single-label'
   */
  task?: Task;
  /**
   * The perturbation types to evaluate, in table order.
   * @defaultValue all 14 {@link PERTURBATION_TYPES}
   */
  types?: readonly PerturbationType[];
  /** Frames per sequence (see {@link PerturbationSequenceOptions}). @defaultValue 10 */
  frames?: number;
  /** Frame indexing (see {@link PerturbationSequenceOptions}). @defaultValue 'centered' */
  indexing?: 'centered' | 'paper';
  /** Fill of the geometric types (see {@link PerturbationSequenceOptions}). @defaultValue 'zeros' */
  fill?: 'zeros' | 'reflect' | 'edge';
  /**
   * Multi-label FP normalisation (see {@link FlipProbabilityOptions}).
   * @defaultValue 'mean'
   */
  multiLabel?: 'mean' | 'paper';
  /** Multi-label threshold on sigmoid(logit). @defaultValue 0.5 */
  threshold?: number;
  /**
   * ImageNet-P's difficulty 1, 2 or 3: the noise level of the noise types' frames (see
   * {@link PerturbationSequenceOptions}) and the frame distance of the other types' flip
   * probability (see {@link FlipProbabilityOptions}); frames must number at least difficulty + 1.
   * @defaultValue 1
   */
  difficulty?: Difficulty;
  /** The seed of the sequences. @defaultValue drawn at random (reported in the table) */
  seed?: number;
  /** See {@link CorruptOptions}. @defaultValue undefined: the paper's pixel values */
  referenceSize?: number;
  /** Cancels the evaluation between batches with an {@link AbortError}. @defaultValue undefined */
  signal?: AbortSignal;
  /** Called after every batch (phase `'batch'`; total is NaN for a stream). @defaultValue undefined */
  onProgress?: (progress: Progress) => void;
}

/**
 * One row of a {@link PerturbationTable}.
 * @category Corruptions
 */
export interface PerturbationTableRow {
  /** The perturbation type. */
  readonly type: PerturbationType;
  /** The frame each frame was compared with (frame 1 for noise types). */
  readonly reference: 'first' | 'previous';
  /** The flip probability over all sequences of this type. */
  readonly flipProbability: number;
}

/**
 * The result of {@link evaluatePerturbations}: a plain, JSON-serialisable table.
 * @category Corruptions
 */
export interface PerturbationTable {
  /** The task of the predictions. */
  readonly task: Task;
  /** The seed of the sequences. */
  readonly seed: number;
  /** Sequences per type (one per image). */
  readonly sequences: number;
  /** Frames per sequence. */
  readonly frames: number;
  /** The frame indexing used. */
  readonly indexing: 'centered' | 'paper';
  /** The multi-label normalisation used (`'mean'` for single-label). */
  readonly multiLabel: 'mean' | 'paper';
  /** ImageNet-P's difficulty used. */
  readonly difficulty: Difficulty;
  /** One row per type, in the requested order. */
  readonly rows: readonly PerturbationTableRow[];
  /** The mean flip probability over the types (ImageNet-P's mFP without AlexNet normalisation). */
  readonly meanFlipProbability: number;
}

const KEYS = ['task', 'types', 'frames', 'indexing', 'fill', 'multiLabel', 'threshold', 'difficulty', 'seed', 'referenceSize', 'signal', 'onProgress', ...MEMORY_KEYS] as const;

/**
 * Evaluates a model on the journal version's Benchmark-P (paper.md §9.2–9.3): for every test image
 * and perturbation type, builds a sequence with {@link perturbationSequence}, predicts every frame
 * and reports the {@link flipProbability} per type. Labels are not used (FP measures stability,
 * not accuracy). The model runs in inference mode, one frame of a batch at a time.
 *
 * @param model - a {@link ModelFn} returning logits, or a single-output `tf.LayersModel`.
 * @param data - test batches (any {@link BatchInput} form: array batches are borrowed, streamed ones disposed after use); read once. Labels may be any tensor.
 * @param options - see {@link EvaluatePerturbationsOptions}; unknown keys are rejected.
 * @returns a plain {@link PerturbationTable} (no tensors).
 * @throws {InvalidArgumentError} for a bad model, data, images, type or option.
 * @throws {AbortError} when `options.signal` is aborted.
 *
 * @example
 * ```ts
 * const table = await evaluatePerturbations(model, [{ images, labels }], { types: ['rotate'], seed: 1 });
 * console.log(table.rows[0].flipProbability);
 * ```
 * @category Corruptions
 */
export async function evaluatePerturbations(model: Model, data: BatchInput, options: EvaluatePerturbationsOptions = {}): Promise<PerturbationTable> {
  return entryAsync('evaluatePerturbations', () => perturbationTable(model, data, options));
}

async function perturbationTable(model: Model, data: BatchInput, options: EvaluatePerturbationsOptions): Promise<PerturbationTable> {
  const fn = 'evaluatePerturbations';
  const modelFn = toModelFn(model, fn);
  checkData(fn, data);
  const o = assertOptionsObject(fn, options);
  assertKnownKeys(fn, o, KEYS);
  const task = assertOneOf(fn, 'options.task', o.task, ['single-label', 'multi-label'] as const) ?? 'single-label';
  let types: PerturbationType[] = [...PERTURBATION_TYPES];
  if (o.types !== undefined) {
    if (!Array.isArray(o.types) || o.types.length === 0) throw new InvalidArgumentError(fn, 'options.types', 'a non-empty array of perturbation types', describeValue(o.types));
    types = o.types.map((t, i) => checkPerturbationType(fn, `options.types[${i}]`, t));
  }
  const difficulty = checkDifficulty(fn, 'options.difficulty', o.difficulty);
  const frames = o.frames === undefined ? 10 : assertNumber(fn, 'options.frames', o.frames, { integer: true, min: difficulty + 1 });
  const indexing = assertOneOf(fn, 'options.indexing', o.indexing, ['centered', 'paper'] as const) ?? 'centered';
  const fill = assertOneOf(fn, 'options.fill', o.fill, ['zeros', 'reflect', 'edge'] as const) ?? 'zeros';
  const multiLabel = assertOneOf(fn, 'options.multiLabel', o.multiLabel, ['mean', 'paper'] as const) ?? 'mean';
  const threshold = o.threshold === undefined ? 0.5 : assertNumber(fn, 'options.threshold', o.threshold, { min: 0, max: 1, minExclusive: true, maxExclusive: true });
  const seed = assertOptionalNumber(fn, 'options.seed', o.seed, { integer: true, min: 0 }) ?? drawSeed();
  const referenceSize = assertOptionalNumber(fn, 'options.referenceSize', o.referenceSize, { min: 0, minExclusive: true });
  const { signal, onProgress } = checkJobOptions(fn, o);
  const memory = readMemoryOptions(fn, o);
  const total = Array.isArray(data) ? data.length : Number.NaN;
  const rng = createRng(seed);
  const predictions = new Map<PerturbationType, (number[] | number[][])[]>(types.map((t) => [t, []]));
  const cut = Math.log(threshold / (1 - threshold));
  let sequences = 0;
  const started = Date.now();
  for await (const { batch, owned, index } of batchesOf(fn, data)) {
    try {
      if (signal?.aborted) throw new AbortError(`${fn}: aborted before batch ${index}`);
      const b = batch as { images?: unknown } | null;
      if (b === null || typeof b !== 'object') throw new InvalidArgumentError(fn, `data[${index}]`, 'a { images, labels } batch', describeValue(batch));
      const x = checkCorruptionImages(fn, b.images);
      const [n, h, w, c] = x.shape;
      sequences += n;
      for (const type of types) {
        let seq: tf.Tensor5D;
        try {
          seq = perturbationSequence(x, type, { frames, indexing, fill, difficulty, seed: rng.nextSeed(), ...(referenceSize === undefined ? {} : { referenceSize }) });
        } catch (err) {
          throw reattribute(err, fn, { images: `data[${index}].images` }, `perturbation '${type}' on data[${index}]`);
        }
        try {
          const perImage: (number[] | number[][])[] = Array.from({ length: n }, () => []);
          for (let t = 0; t < frames; t++) {
            const hard = tf.tidy(() => {
              const frame = tf.reshape(tf.slice(seq, [0, t, 0, 0, 0], [n, 1, h, w, c]), [n, h, w, c]) as tf.Tensor4D;
              const logits = mapInChunks(fn, frame, memory, { model, kind: 'forward' }, modelFn);
              return task === 'single-label' ? (tf.argMax(logits, 1).arraySync() as number[]) : (tf.cast(tf.greater(logits, cut), 'int32').arraySync() as number[][]);
            });
            hard.forEach((p, i) => (perImage[i] as unknown[]).push(p));
          }
          predictions.get(type)!.push(...perImage);
        } finally {
          seq.dispose();
        }
      }
      onProgress?.(progressOf('batch', index + 1, total, started));
    } finally {
      if (owned) tf.dispose([(batch as { images?: tf.Tensor })?.images, (batch as { labels?: tf.Tensor })?.labels].filter((t): t is tf.Tensor => t instanceof tf.Tensor));
    }
  }
  const rows: PerturbationTableRow[] = types.map((type) => ({
    type,
    reference: task === 'multi-label' && multiLabel === 'paper' ? 'first' : NOISE_PERTURBATIONS.includes(type) ? 'first' : 'previous',
    flipProbability: flipProbability(predictions.get(type)! as number[][], { task, type, multiLabel, difficulty }),
  }));
  return {
    task,
    seed,
    sequences,
    frames,
    indexing,
    multiLabel,
    difficulty,
    rows,
    meanFlipProbability: rows.reduce((a, r) => a + r.flipProbability, 0) / rows.length,
  };
}
