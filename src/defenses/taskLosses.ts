/**
 * The task losses of the paper's three diagnostic models (paper.md §6.1): focal loss (ISIC 2016),
 * cross-entropy plus an L1 weight penalty (Messidor) and binary cross-entropy (ChestX-ray14).
 */
import * as tf from '@tensorflow/tfjs-core';
import { InvalidArgumentError } from '../errors.js';
import { addAll, sigmoidBinaryCrossEntropy, softmaxCrossEntropy } from '../internal/loss.js';
import {
  assertKnownKeys, assertLabelsShape, assertNumber, assertOneOf, assertOptionsObject, assertTensor, describeValue,
} from '../internal/validate.js';
import type { Task } from '../types.js';
import { entry } from '../internal/scope.js';

/** Checks logits `[N, C]` and labels of the task against them (shapes only, no data read). */
export function assertLogitsAndLabels(fn: string, logits: unknown, labels: unknown, task: Task, logitsName = 'logits'): tf.Tensor2D {
  const z = assertTensor(fn, logitsName, logits, [2], 'logits of shape [N, C]') as tf.Tensor2D;
  if (z.dtype !== 'float32') throw new InvalidArgumentError(fn, logitsName, 'a float32 tensor', `dtype ${z.dtype}`);
  const y = assertLabelsShape(fn, 'labels', labels, z.shape[0], task);
  if (y.rank === 2 && y.shape[1] !== z.shape[1]) {
    throw new InvalidArgumentError(fn, 'labels', `a [${z.shape[0]}, ${z.shape[1]}] tensor to match ${logitsName}`, `shape [${y.shape.join(',')}]`);
  }
  if (task === 'single-label' && z.shape[1] < 2) {
    throw new InvalidArgumentError(fn, logitsName, "at least 2 logits for task 'single-label'", `${z.shape[1]} logit`);
  }
  return z;
}

/**
 * Per-sample softmax cross-entropy from logits: −log softmax(z)_y (−Σ_k y_k log softmax(z)_k for
 * one-hot or probability rows). The Messidor model's loss (paper.md §6.1), to be combined with
 * {@link l1Penalty} (`l1: 0.01` in the training options).
 *
 * @param logits - `[N, C]` float32.
 * @param labels - class indices `[N]` or one-hot rows `[N, C]`.
 * @returns `[N]`, a new tensor owned by the caller.
 * @throws {InvalidArgumentError} when the shapes do not match or there are fewer than 2 logits.
 *
 * @example
 * ```ts
 * const loss = crossEntropy(tf.tensor2d([[2, 0]]), tf.tensor1d([0], 'int32')); // [log(1 + e^-2)]
 * ```
 * @category Defenses
 */
export function crossEntropy(logits: tf.Tensor2D, labels: tf.Tensor): tf.Tensor1D {
  return entry('crossEntropy', () => {
    const z = assertLogitsAndLabels('crossEntropy', logits, labels, 'single-label');
    return softmaxCrossEntropy(z, labels);
  });
}

/**
 * Per-sample sigmoid binary cross-entropy from logits, averaged over the C labels (the ChestX-ray14
 * loss, paper.md §6.1): mean_k −[y_k log σ(z_k) + (1 − y_k) log(1 − σ(z_k))], computed in the
 * stable form max(z, 0) − z·y + log(1 + e^{−|z|}).
 *
 * @param logits - `[N, C]` float32.
 * @param labels - multi-hot `[N, C]` in [0, 1].
 * @returns `[N]`, a new tensor owned by the caller.
 * @throws {InvalidArgumentError} when the shapes do not match.
 *
 * @example
 * ```ts
 * const loss = binaryCrossEntropy(tf.tensor2d([[0, 0]]), tf.tensor2d([[1, 0]])); // [log 2]
 * ```
 * @category Defenses
 */
export function binaryCrossEntropy(logits: tf.Tensor2D, labels: tf.Tensor): tf.Tensor1D {
  return entry('binaryCrossEntropy', () => {
    const z = assertLogitsAndLabels('binaryCrossEntropy', logits, labels, 'multi-label');
    return sigmoidBinaryCrossEntropy(z, labels);
  });
}

/**
 * Options of {@link focalLoss}.
 * @category Defenses
 */
export interface FocalLossOptions {
  /**
   * The focusing parameter γ (0 gives cross-entropy). The paper's ISIC model uses 2.
   * @defaultValue 2
   */
  gamma?: number;
  /**
   * The task: softmax focal loss over classes, or sigmoid focal loss per label (averaged over labels).
   * @defaultValue 'single-label'
   */
  task?: Task;
}

/**
 * Focal loss (Lin et al., ICCV 2017), the ISIC 2016 model's training loss (paper.md §6.1, γ = 2):
 * single-label −(1 − p_y)^γ · log p_y with p = softmax(z); multi-label
 * mean_k −[y_k (1 − s_k)^γ log s_k + (1 − y_k) s_k^γ log(1 − s_k)] with s = σ(z). Logs are taken as
 * log-softmax / log-sigmoid, so confident logits give finite values and gradients.
 *
 * @param logits - `[N, C]` float32.
 * @param labels - class indices `[N]` or one-hot `[N, C]` (single-label); multi-hot `[N, C]` (multi-label).
 * @param options - see {@link FocalLossOptions}; unknown keys are rejected.
 * @returns `[N]`, a new tensor owned by the caller. Take its mean for the paper's `reduction='mean'`.
 * @throws {InvalidArgumentError} for a negative or non-finite γ, mismatched shapes or an unknown option.
 *
 * @example
 * ```ts
 * const report = await advTrain(model, batches, { epsilon: 4 / 255, loss: (z, y) => focalLoss(z, y, { gamma: 2 }) });
 * ```
 * @category Defenses
 */
export function focalLoss(logits: tf.Tensor2D, labels: tf.Tensor, options: FocalLossOptions = {}): tf.Tensor1D {
  return entry('focalLoss', () => {
    const fn = 'focalLoss';
    const o = assertOptionsObject(fn, options);
    assertKnownKeys(fn, o, ['gamma', 'task']);
    const gamma = o.gamma === undefined ? 2 : assertNumber(fn, 'options.gamma', o.gamma, { min: 0 });
    const task = assertOneOf<Task>(fn, 'options.task', o.task, ['single-label', 'multi-label']) ?? 'single-label';
    const z = assertLogitsAndLabels(fn, logits, labels, task);
    return tf.tidy(() => {
      if (task === 'single-label') {
        const target = labels.rank === 1 ? tf.oneHot(tf.cast(labels, 'int32'), z.shape[1]) : tf.cast(labels, 'float32');
        const logP = tf.sum(tf.mul(tf.cast(target, 'float32'), tf.logSoftmax(z)), 1);
        const weight = tf.pow(tf.maximum(tf.sub(1, tf.exp(logP)), 0), gamma);
        return tf.neg(tf.mul(weight, logP)) as tf.Tensor1D;
      }
      const y = tf.cast(labels, 'float32');
      const logS = tf.neg(tf.softplus(tf.neg(z)));
      const log1mS = tf.neg(tf.softplus(z));
      const pos = tf.mul(tf.mul(y, tf.pow(tf.exp(log1mS), gamma)), logS);
      const neg = tf.mul(tf.mul(tf.sub(1, y), tf.pow(tf.exp(logS), gamma)), log1mS);
      return tf.neg(tf.mean(tf.add(pos, neg), 1)) as tf.Tensor1D;
    });
  });
}

/**
 * The L1 weight penalty λ·Σ|θ| over the given weights (the Messidor model adds 0.01·Σ|θ| over all
 * parameters to its cross-entropy, paper.md §6.1). The training loops take it as `l1: λ`.
 *
 * @param weights - the tensors θ (e.g. `model.trainableWeights.map((w) => w.read())`); borrowed.
 * @param lambda - the factor λ ≥ 0.
 * @returns a scalar, a new tensor owned by the caller.
 * @throws {InvalidArgumentError} when `weights` is not an array of tensors or λ is negative or not finite.
 *
 * @example
 * ```ts
 * const penalty = l1Penalty([tf.tensor1d([1, -2])], 0.01); // 0.03
 * ```
 * @category Defenses
 */
export function l1Penalty(weights: readonly tf.Tensor[], lambda: number): tf.Scalar {
  return entry('l1Penalty', () => {
    const fn = 'l1Penalty';
    if (!Array.isArray(weights)) throw new InvalidArgumentError(fn, 'weights', 'an array of tensors', describeValue(weights));
    weights.forEach((w, i) => assertTensor(fn, `weights[${i}]`, w, [0, 1, 2, 3, 4, 5, 6], 'a tensor'));
    assertNumber(fn, 'lambda', lambda, { min: 0 });
    return tf.tidy(() => {
      if (weights.length === 0) return tf.scalar(0);
      return tf.mul(lambda, addAll(weights.map((w) => tf.sum(tf.abs(w))))) as tf.Scalar;
    });
  });
}
