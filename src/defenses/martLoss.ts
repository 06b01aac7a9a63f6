import * as tf from '@tensorflow/tfjs-core';
import type { Task } from '../types.js';
import { bernoulliKl, categoricalKl, labelRows, logSigmoidPair } from './divergence.js';
import { pairedLossArgs } from './pairedLossArgs.js';
import { InvalidArgumentError } from '../errors.js';
import { assertOneOf } from '../internal/validate.js';
import { entry } from '../internal/scope.js';

/**
 * Options of {@link martLoss}.
 * @category Defenses
 */
export interface MartLossOptions {
  /**
   * The weight β of the misclassification-aware KL term. The paper uses 6 on ISIC 2016 and 8 on
   * Messidor (paper.md §6.2); MART's reference code uses 6.
   * @defaultValue 6
   */
  beta?: number;
  /**
   * `'single-label'`: MART over softmax classes. `'multi-label'`: the per-label Bernoulli MART
   * described in {@link martLoss}.
   * @defaultValue 'single-label'
   */
  task?: Task;
  /**
   * `'mean'`: the batch mean, a scalar (MART's objective). `'none'`: one value per image `[N]`.
   * @defaultValue 'mean'
   */
  reduction?: 'mean' | 'none';
  /**
   * `'exact'`: the formula, computed stably (log-sum-exp, log-softmax). `'reference'`: MART's
   * code as written (Wang et al.'s `mart_loss`, copied by the paper's authors):
   * −log(1.0001 − p_ŷ(x') + 1e-12) for the margin term, KL with log(p(x') + 1e-12), and the weight
   * (1.0000001 − p_y(x)); it caps the margin term at −log(1e-4) for saturated outputs.
   * Single-label only (the code has no multi-label MART).
   * @defaultValue 'exact'
   */
  form?: 'exact' | 'reference';
}

/**
 * The MART objective (Wang et al., ICLR 2020), used by MAAdvT (paper.md §6.2). With p = softmax,
 * x the clean and x' the adversarial image, per image:
 *
 * ℓ = BCE(p(x'), y) + β · KL(p(x) ‖ p(x')) · (1 − p_y(x)),
 * BCE(p(x'), y) = −log p_y(x') − log(1 − max_{k≠y} p_k(x')).
 *
 * The margin term is computed exactly as log(1 − p_ŷ) = logΣ_{j≠ŷ} e^{z_j} − logΣ_j e^{z_j}
 * (ŷ the most likely wrong class), and the KL from log-softmax, so p = 1 in float32 gives finite
 * values. MART's reference code instead writes log(1.0001 − p_ŷ + 1e-12), log(p' + 1e-12) and
 * (1.0000001 − p_y): the results agree to about 1e-4 except for saturated outputs, where that code
 * caps the margin term at −log(1e-4) ≈ 9.21; `form: 'reference'` computes exactly that code (the
 * MAAdvT paper preset uses it). As in that code, p(x) is not detached: the weight
 * (1 − p_y(x)) and the KL pass gradients to the clean logits.
 *
 * **Multi-label** (no library defines it; ours): each label k is a Bernoulli variable with
 * s_k = σ(z_k) on x and s'_k = σ(z'_k) on x', and q_k = y_k s_k + (1 − y_k)(1 − s_k) is the clean
 * probability of the true value. Per image,
 *
 * ℓ = (1/C) Σ_k [ 2·BCE(s'_k, y_k) + β · KL(Bern(s_k) ‖ Bern(s'_k)) · (1 − q_k) ],
 * BCE(s', y) = −y log s' − (1 − y) log(1 − s'),
 * KL(Bern(s) ‖ Bern(s')) = s log(s/s') + (1 − s) log((1 − s)/(1 − s')).
 *
 * The factor 2 is MART's boosted term for a binary variable: the only wrong value is the other
 * one, so −log(1 − max_{k≠y} p_k) = −log p_y and BCE doubles. With it, multi-label MART on one
 * label with logit z equals single-label MART on the two logits [0, z].
 *
 * @param cleanLogits - the model's logits on the clean images, `[N, C]`.
 * @param advLogits - the model's logits on the adversarial images, `[N, C]`.
 * @param labels - class indices `[N]` or one-hot `[N, C]` (single-label); multi-hot `[N, C]` (multi-label).
 * @param options - see {@link MartLossOptions}; unknown keys are rejected.
 * @returns a scalar (reduction `'mean'`) or `[N]` (`'none'`), a new tensor owned by the caller.
 * @throws {InvalidArgumentError} for mismatched shapes, a negative or non-finite β, `form: 'reference'`
 *   with multi-label or an unknown option.
 *
 * @example
 * ```ts
 * const loss = martLoss(tf.tensor2d([[2, 0]]), tf.tensor2d([[0.5, 0]]), tf.tensor1d([0], 'int32'), { beta: 6 });
 * ```
 * @category Defenses
 */
export function martLoss(cleanLogits: tf.Tensor2D, advLogits: tf.Tensor2D, labels: tf.Tensor, options: MartLossOptions = {}): tf.Tensor {
  return entry('martLoss', () => {
    const { beta, task, reduction, clean, adv, options: o } = pairedLossArgs('martLoss', cleanLogits, advLogits, labels, options, ['form']);
    const form = assertOneOf('martLoss', 'options.form', o.form, ['exact', 'reference'] as const) ?? 'exact';
    if (form === 'reference' && task === 'multi-label') {
      throw new InvalidArgumentError('martLoss', 'options.form', "'exact' for task 'multi-label' (MART's code defines only single-label MART)", "'reference'");
    }
    return tf.tidy(() => {
      const perSample = task === 'multi-label' ? martMulti(clean, adv, labels, beta) : form === 'reference' ? martReference(clean, adv, labels, beta) : martSingle(clean, adv, labels, beta);
      return reduction === 'mean' ? tf.mean(perSample) : perSample;
    });
  });
}

/** Single-label MART per image `[N]`. */
function martSingle(clean: tf.Tensor2D, adv: tf.Tensor2D, labels: tf.Tensor, beta: number): tf.Tensor1D {
  const classes = clean.shape[1];
  const target = labelRows(labels, classes);
  const isTrue = tf.greater(target, 0.5);
  const logQ = tf.logSoftmax(adv);
  const ce = tf.neg(tf.sum(tf.mul(target, logQ), 1));
  // ŷ: the most likely wrong class under the adversarial logits (a constant: argMax has no gradient).
  const wrong = tf.argMax(tf.where(isTrue, tf.fill(adv.shape, -Infinity), adv), 1);
  const isWrongTop = tf.cast(tf.oneHot(wrong, classes), 'bool');
  const rest = tf.logSumExp(tf.where(isWrongTop, tf.fill(adv.shape, -1e30), adv), 1);
  const log1mTop = tf.sub(rest, tf.logSumExp(adv, 1));
  const boosted = tf.sub(ce, log1mTop);
  const pTrue = tf.sum(tf.mul(target, tf.softmax(clean)), 1);
  const robust = tf.mul(categoricalKl(clean, adv), tf.sub(1, pTrue));
  return tf.add(boosted, tf.mul(beta, robust)) as tf.Tensor1D;
}

/**
 * Single-label MART per image `[N]` with the constants of MART's code: CE(z', y)
 * − log(1.0001 − p'_ŷ + 1e-12) + β·Σ_k p_k (log p_k − log(p'_k + 1e-12))·(1.0000001 − p_y).
 */
function martReference(clean: tf.Tensor2D, adv: tf.Tensor2D, labels: tf.Tensor, beta: number): tf.Tensor1D {
  const classes = clean.shape[1];
  const target = labelRows(labels, classes);
  const isTrue = tf.greater(target, 0.5);
  const ce = tf.neg(tf.sum(tf.mul(target, tf.logSoftmax(adv)), 1));
  const q = tf.softmax(adv);
  const wrong = tf.argMax(tf.where(isTrue, tf.fill(adv.shape, -Infinity), adv), 1);
  const qWrong = tf.sum(tf.mul(tf.oneHot(wrong, classes), q), 1);
  const margin = tf.neg(tf.log(tf.add(tf.sub(1.0001, qWrong), 1e-12)));
  const p = tf.softmax(clean);
  // torch's KLDivLoss: p·log p (0 where p = 0) − p·log(q + 1e-12); the floor only matters where p·log p ≈ 0.
  const pLogP = tf.mul(p, tf.log(tf.maximum(p, 1e-30)));
  const kl = tf.sum(tf.sub(pLogP, tf.mul(p, tf.log(tf.add(q, 1e-12)))), 1);
  const pTrue = tf.sum(tf.mul(target, p), 1);
  return tf.add(tf.add(ce, margin), tf.mul(beta, tf.mul(kl, tf.sub(1.0000001, pTrue)))) as tf.Tensor1D;
}

/** Multi-label (per-label Bernoulli) MART per image `[N]`. */
function martMulti(clean: tf.Tensor2D, adv: tf.Tensor2D, labels: tf.Tensor, beta: number): tf.Tensor1D {
  const y = tf.cast(labels, 'float32');
  const [logT, log1mT] = logSigmoidPair(adv);
  const bce = tf.neg(tf.add(tf.mul(y, logT), tf.mul(tf.sub(1, y), log1mT)));
  const s = tf.sigmoid(clean);
  const qTrue = tf.add(tf.mul(y, s), tf.mul(tf.sub(1, y), tf.sub(1, s)));
  const robust = tf.mul(bernoulliKl(clean, adv), tf.sub(1, qTrue));
  return tf.mean(tf.add(tf.mul(2, bce), tf.mul(beta, robust)), 1) as tf.Tensor1D;
}
