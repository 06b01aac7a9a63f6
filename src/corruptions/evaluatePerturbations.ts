import * as tf from '@tensorflow/tfjs-core';
import { AbortError, InvalidArgumentError } from '../errors.js';
import { mapInChunks, MEMORY_KEYS, readMemoryOptions } from '../internal/memory.js';
import { drawSeed } from '../internal/random.js';
import { entryAsync, reattribute } from '../internal/scope.js';
import { assertShard, releaseShardBatch, sampleSeed, shardBatches, streamId, type ShardCounter } from '../internal/shard.js';
import { assertKnownKeys, assertNumber, assertOneOf, assertOptionalNumber, assertOptionsObject, describeValue } from '../internal/validate.js';
import { toModelFn } from '../model.js';
import type { MemoryOptions, Model, Progress, Shard, Task, BatchInput } from '../types.js';
import { checkCorruptionImages } from './corrupt.js';
import { checkData, checkJobOptions, progressOf } from './evaluationData.js';
import { flipProbability, type SequencePredictions } from './flipProbability.js';
import { MAX_FRAMES, NOISE_PERTURBATIONS, PERTURBATION_TYPES, checkDifficulty, checkPerturbationType, perturbationSequence, type Difficulty, type PerturbationType } from './perturbationSequence.js';

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
  /** Frames per sequence, at most 1000 (see {@link PerturbationSequenceOptions}). @defaultValue 10 */
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
  /**
   * The seed of the sequences. Each image and type gets its own sequence seed, a hash of this seed,
   * the image's position in the data set and the type's name
   * (`sampleSeed(seed, position, streamId(type))`), so an image's sequence is the same whatever its
   * batch, its shard, or the other types evaluated.
   * @defaultValue drawn at random (reported in the table)
   */
  seed?: number;
  /**
   * Evaluate only one shard of the data (see {@link Shard}); merge the shards' tables with
   * {@link mergeShards} to get the table of the whole data set, equal bit for bit to an unsharded run.
   * @defaultValue the whole data set
   */
  shard?: Shard;
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
 * The per-sample records of a {@link PerturbationTable}, from which every figure is computed (and
 * recomputed by {@link mergeShards} over all shards).
 * @category Corruptions
 */
export interface PerturbationSamples {
  /** The kind of evaluation. */
  readonly kind: 'perturbations';
  /** What the figures depend on besides the records. */
  readonly settings: {
    /** The task. */
    readonly task: Task;
    /** The perturbation types, in table order. */
    readonly types: readonly PerturbationType[];
    /** Frames per sequence. */
    readonly frames: number;
    /** The frame indexing. */
    readonly indexing: 'centered' | 'paper';
    /** The fill of the geometric types. */
    readonly fill: 'zeros' | 'reflect' | 'edge';
    /** The multi-label normalisation. */
    readonly multiLabel: 'mean' | 'paper';
    /** The multi-label threshold. */
    readonly threshold: number;
    /** ImageNet-P's difficulty. */
    readonly difficulty: Difficulty;
    /** The seed of the sequences. */
    readonly seed: number;
    /** See {@link EvaluatePerturbationsOptions.referenceSize} (null when unset). */
    readonly referenceSize: number | null;
  };
  /** Images in the whole data set (all shards). */
  readonly total: number;
  /** The data-set position of each evaluated image, ascending. */
  readonly positions: readonly number[];
  /**
   * Per type, each image's hard prediction per frame: class indices `[frames]` (single-label) or
   * 0/1 flags `[frames][K]` (multi-label), see {@link SequencePredictions}.
   */
  readonly predictions: readonly SequencePredictions[];
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
  /** The shard evaluated (`{ index: 0, count: 1 }` for the whole data set or a merged table). */
  readonly shard: Shard;
  /** The per-sample records every figure above is computed from. */
  readonly samples: PerturbationSamples;
}

const KEYS = ['task', 'types', 'frames', 'indexing', 'fill', 'multiLabel', 'threshold', 'difficulty', 'seed', 'shard', 'referenceSize', 'signal', 'onProgress', ...MEMORY_KEYS] as const;

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
  const frames = o.frames === undefined ? 10 : assertNumber(fn, 'options.frames', o.frames, { integer: true, min: difficulty + 1, max: MAX_FRAMES });
  const indexing = assertOneOf(fn, 'options.indexing', o.indexing, ['centered', 'paper'] as const) ?? 'centered';
  const fill = assertOneOf(fn, 'options.fill', o.fill, ['zeros', 'reflect', 'edge'] as const) ?? 'zeros';
  const multiLabel = assertOneOf(fn, 'options.multiLabel', o.multiLabel, ['mean', 'paper'] as const) ?? 'mean';
  const threshold = o.threshold === undefined ? 0.5 : assertNumber(fn, 'options.threshold', o.threshold, { min: 0, max: 1, minExclusive: true, maxExclusive: true });
  const seed = assertOptionalNumber(fn, 'options.seed', o.seed, { integer: true, min: 0 }) ?? drawSeed();
  const referenceSize = assertOptionalNumber(fn, 'options.referenceSize', o.referenceSize, { min: 0, minExclusive: true });
  const shard = assertShard(fn, 'options.shard', o.shard);
  const { signal, onProgress } = checkJobOptions(fn, o);
  const memory = readMemoryOptions(fn, o);
  const total = Array.isArray(data) ? data.length : Number.NaN;
  const predictions = types.map(() => [] as (number[] | number[][])[]);
  const cut = Math.log(threshold / (1 - threshold));
  const positions: number[] = [];
  const started = Date.now();
  const check = (batch: unknown, index: number): { images: tf.Tensor4D } => {
    if (signal?.aborted) throw new AbortError(`${fn}: aborted before batch ${index}`);
    const b = batch as { images?: unknown } | null;
    if (b === null || typeof b !== 'object') throw new InvalidArgumentError(fn, `data[${index}]`, 'a { images, labels } batch', describeValue(batch));
    return { images: checkCorruptionImages(fn, b.images) };
  };
  const counter: ShardCounter = { total: 0, batches: 0 };
  for await (const part of shardBatches(fn, data, shard, { check }, counter)) {
    const singles: tf.Tensor4D[] = [];
    try {
      if (signal?.aborted) throw new AbortError(`${fn}: aborted before ${part.where}`);
      const x = part.images;
      const [n, h, w, c] = x.shape;
      singles.push(...(n === 1 ? [tf.clone(x)] : (tf.split(x, n, 0) as tf.Tensor4D[])));
      types.forEach((type, k) => {
        // One sequence per image, each with its own seed: the result does not depend on the batch.
        const stream = streamId(type);
        const parts: tf.Tensor5D[] = [];
        let seq: tf.Tensor5D;
        try {
          singles.forEach((xi, i) => parts.push(perturbationSequence(xi, type, { frames, indexing, fill, difficulty, seed: sampleSeed(seed, part.positions[i]!, stream), ...(referenceSize === undefined ? {} : { referenceSize }) })));
          seq = parts.length === 1 ? parts[0]! : tf.concat(parts, 0);
        } catch (err) {
          tf.dispose(parts);
          throw reattribute(err, fn, { images: `${part.where}.images` }, `perturbation '${type}' on ${part.where}`);
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
          predictions[k]!.push(...perImage);
        } finally {
          tf.dispose(parts);
          seq.dispose();
        }
      });
      positions.push(...part.positions);
      onProgress?.(progressOf('batch', part.read, total, started));
    } finally {
      tf.dispose(singles);
      releaseShardBatch(part);
    }
  }
  if (counter.batches === 0) throw new InvalidArgumentError(fn, 'data', 'at least one batch', 'an empty stream');
  const samples: PerturbationSamples = {
    kind: 'perturbations',
    settings: { task, types, frames, indexing, fill, multiLabel, threshold, difficulty, seed, referenceSize: referenceSize ?? null },
    total: counter.total,
    positions,
    predictions: predictions as SequencePredictions[],
  };
  return summarizePerturbations(samples, shard);
}

/**
 * The table of per-sample records: every figure computed from `samples` alone (the unsharded run, a
 * shard, and {@link mergeShards} over all shards all go through here).
 * @internal
 */
export function summarizePerturbations(samples: PerturbationSamples, shard: Shard): PerturbationTable {
  const { task, types, frames, indexing, multiLabel, difficulty, seed } = samples.settings;
  const n = samples.positions.length;
  const rows: PerturbationTableRow[] = types.map((type, k) => ({
    type,
    reference: task === 'multi-label' && multiLabel === 'paper' ? 'first' : NOISE_PERTURBATIONS.includes(type) ? 'first' : 'previous',
    flipProbability: n === 0 ? Number.NaN : flipProbability(samples.predictions[k]!, { task, type, multiLabel, difficulty }),
  }));
  return {
    task,
    seed,
    sequences: n,
    frames,
    indexing,
    multiLabel,
    difficulty,
    rows,
    meanFlipProbability: rows.reduce((a, r) => a + r.flipProbability, 0) / rows.length,
    shard,
    samples,
  };
}
