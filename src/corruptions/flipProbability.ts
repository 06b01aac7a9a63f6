import * as tf from '@tensorflow/tfjs-core';
import { InvalidArgumentError } from '../errors.js';
import { assertKnownKeys, assertNumber, assertOneOf, assertOptionsObject, describeValue } from '../internal/validate.js';
import type { Task } from '../types.js';
import { NOISE_PERTURBATIONS, PERTURBATION_TYPES, checkDifficulty, type Difficulty, type PerturbationType } from './perturbationSequence.js';
import { entry } from '../internal/scope.js';

/**
 * Options of {@link flipProbability}.
 * @category Corruptions
 */
export interface FlipProbabilityOptions {
  /**
   * The task: single-label predictions are class indices, multi-label ones are 0/1 per finding.
   * @defaultValue 'single-label'
   */
  task?: Task;
  /**
   * The perturbation type of the sequences, which picks the reference frame: frame 1 for the
   * noise types (gaussian_noise, shot_noise, speckle_noise), the previous frame otherwise.
   * @defaultValue undefined (then `reference` decides; without it, the previous frame)
   */
  type?: PerturbationType;
  /**
   * The reference frame, overriding the rule of `type`: `'first'` compares every frame j ≥ 2 with
   * frame 1, `'previous'` with frame j − 1.
   * @defaultValue from `type`; `'previous'` without one
   */
  reference?: 'first' | 'previous';
  /**
   * Multi-label only. `'mean'` averages the flips over the n − 1 compared frames and the K labels,
   * so FP is a probability in [0, 1], comparable across sequence lengths and with single-label FP,
   * and uses the reference rule above. `'paper'` is the paper's `test0.py`: always frame 1, and the
   * sum over frames is not divided by n − 1 (FP = Σ_v Σ_j Σ_k flips / (m·K), up to n − 1).
   * @defaultValue 'mean'
   */
  multiLabel?: 'mean' | 'paper';
  /**
   * Multi-label logits only: a finding is predicted when sigmoid(logit) > threshold.
   * @defaultValue 0.5
   */
  threshold?: number;
  /**
   * ImageNet-P's difficulty (`test.py --difficulty`). With the previous-frame reference, difficulty
   * d compares frames d apart: for each offset i < d the subsequence i, i + d, i + 2d, … is compared
   * frame by frame, and FP averages all those comparisons (so frames must number at least d + 1).
   * With the first-frame reference (the noise types) it changes nothing here: ImageNet-P's harder
   * noise difficulties are stronger noise, made by {@link perturbationSequence}'s `difficulty`.
   * @defaultValue 1
   */
  difficulty?: Difficulty;
}

const KEYS = ['task', 'type', 'reference', 'multiLabel', 'threshold', 'difficulty'] as const;

/**
 * Hard predictions per sequence and frame: `[m][n]` class indices or `[m][n][K]` 0/1 flags.
 * @category Corruptions
 */
export type SequencePredictions = readonly (readonly number[])[] | readonly (readonly (readonly number[])[])[];

/** Turns logits `[m, n, C]` into hard predictions. */
function hardPredictions(fn: string, logits: tf.Tensor, task: Task, threshold: number): number[][] | number[][][] {
  if (logits.rank !== 3) throw new InvalidArgumentError(fn, 'predictions', 'logits of shape [sequences, frames, classes]', `shape [${logits.shape.join(',')}]`);
  if (task === 'single-label') return tf.tidy(() => tf.argMax(logits, 2).arraySync() as number[][]);
  const cut = Math.log(threshold / (1 - threshold));
  return tf.tidy(() => tf.cast(tf.greater(logits, cut), 'int32').arraySync() as number[][][]);
}

/**
 * The flip probability of ImageNet-P (Hendrycks & Dietterich 2019), the journal version's
 * robustness metric (paper.md §9.3, `Benchmark/test.py` at difficulty 1): how often the
 * prediction changes along a perturbation sequence.
 *
 * Single-label: FP = (1/m) Σ_v mean_{j=2..n} 1[ŷ(x_j^v) ≠ ŷ(x_ref^v)], ref = frame 1 for the noise
 * types, the previous frame j − 1 otherwise.
 *
 * With `difficulty: d` (ImageNet-P's 2 and 3) the previous-frame comparisons are d frames apart:
 * FP = (1/m) Σ_v mean over i < d and j ≥ 1 of 1[ŷ(x_{i+jd}^v) ≠ ŷ(x_{i+(j−1)d}^v)], as ImageNet-P's
 * `flip_prob`; the noise types keep the first-frame reference (their difficulty is the noise level).
 *
 * Multi-label (K findings, ŷ_k = 1[p_k > threshold]): by default the same average over frames,
 * also averaged over the K labels, FP = (1/m) Σ_v mean_j mean_k 1[ŷ_k(x_j) ≠ ŷ_k(x_ref)], so it is
 * a probability. `multiLabel: 'paper'` reproduces the paper's `test0.py`: reference always frame 1
 * and Σ_v Σ_{j=2..n} Σ_k flips/(m·K), not divided by the number of frames (a quirk: it grows with
 * the sequence length and can exceed 1). The corrected form is the default because only it is a
 * probability and matches the single-label definition when K = 1.
 *
 * @param predictions - logits `[m, n, C]` (a tensor, borrowed; argmax or thresholded sigmoid), or
 *   hard predictions: `[m][n]` class indices (single-label) or `[m][n][K]` 0/1 (multi-label).
 * @param options - see {@link FlipProbabilityOptions}; unknown keys are rejected.
 * @returns FP, a number in [0, 1] (up to n − 1 with `multiLabel: 'paper'`).
 * @throws {InvalidArgumentError} for fewer than one sequence or two frames (d + 1 with the
 *   previous-frame reference at difficulty d), sequences of unequal length, non-integer classes or
 *   non-0/1 flags, a bad option or an unknown one.
 *
 * @example
 * ```ts
 * flipProbability([[0, 0, 1, 1], [2, 2, 2, 2]], { type: 'rotate' }); // (1/3 + 0)/2 = 1/6
 * flipProbability([[0, 0, 1, 1], [2, 2, 2, 2]], { type: 'rotate', difficulty: 2 }); // (2/2 + 0)/2 = 1/2
 * ```
 * @category Corruptions
 */
export function flipProbability(predictions: tf.Tensor | SequencePredictions, options: FlipProbabilityOptions = {}): number {
  return entry('flipProbability', () => {
    const fn = 'flipProbability';
    const o = assertOptionsObject(fn, options);
    assertKnownKeys(fn, o, KEYS);
    const task = assertOneOf(fn, 'options.task', o.task, ['single-label', 'multi-label'] as const) ?? 'single-label';
    const type = assertOneOf(fn, 'options.type', o.type, PERTURBATION_TYPES);
    const reference = assertOneOf(fn, 'options.reference', o.reference, ['first', 'previous'] as const);
    const multiLabel = assertOneOf(fn, 'options.multiLabel', o.multiLabel, ['mean', 'paper'] as const) ?? 'mean';
    const threshold = o.threshold === undefined ? 0.5 : assertNumber(fn, 'options.threshold', o.threshold, { min: 0, max: 1, minExclusive: true, maxExclusive: true });
    const difficulty = checkDifficulty(fn, 'options.difficulty', o.difficulty);
    let preds: unknown = predictions;
    if (predictions instanceof tf.Tensor) {
      if (predictions.isDisposed) throw new InvalidArgumentError(fn, 'predictions', 'a live tensor', 'a disposed tensor');
      preds = hardPredictions(fn, predictions, task, threshold);
    }
    if (!Array.isArray(preds) || preds.length === 0) throw new InvalidArgumentError(fn, 'predictions', 'at least one sequence of predictions', describeValue(preds));
    const seqs = preds as unknown[][];
    const frames = Array.isArray(seqs[0]) ? seqs[0].length : -1;
    const paper = task === 'multi-label' && multiLabel === 'paper';
    const first = paper || (reference ?? (type !== undefined && NOISE_PERTURBATIONS.includes(type) ? 'first' : 'previous')) === 'first';
    const step = first ? 1 : difficulty;
    const needed = step + 1;
    let labels = -1;
    let total = 0;
    seqs.forEach((seq, v) => {
      if (!Array.isArray(seq) || seq.length !== frames || frames < needed) {
        const what = step > 1 ? `a sequence of at least ${needed} frames (difficulty ${step} compares frames ${step} apart)` : 'a sequence of at least 2 frames';
        throw new InvalidArgumentError(fn, `predictions[${v}]`, `${what}, all of the same length${frames >= needed ? ` (${frames})` : ''}`, describeValue(seq));
      }
      const rows = seq.map((p, j) => {
        if (task === 'single-label') {
          if (typeof p !== 'number' || !Number.isInteger(p)) throw new InvalidArgumentError(fn, `predictions[${v}][${j}]`, 'a class index (integer)', describeValue(p));
          return [p];
        }
        if (!Array.isArray(p) || p.length === 0 || (labels >= 0 && p.length !== labels) || p.some((q) => q !== 0 && q !== 1)) {
          throw new InvalidArgumentError(fn, `predictions[${v}][${j}]`, `0/1 flags for ${labels >= 0 ? labels : 'K'} findings`, describeValue(p));
        }
        labels = p.length;
        return p as number[];
      });
      let flips = 0;
      let compared = 0;
      for (let j = first ? 1 : step; j < frames; j++) {
        const ref = rows[first ? 0 : j - step]!;
        const cur = rows[j]!;
        for (let k = 0; k < cur.length; k++) if (cur[k] !== ref[k]) flips += 1;
        compared += 1;
      }
      const k = rows[0]!.length;
      total += paper ? flips / k : flips / (k * compared);
    });
    return total / seqs.length;
  });
}
