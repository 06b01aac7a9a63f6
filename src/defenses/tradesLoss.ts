import * as tf from '@tensorflow/tfjs-core';
import { sigmoidBinaryCrossEntropy, softmaxCrossEntropy } from '../internal/loss.js';
import type { Task } from '../types.js';
import { bernoulliKl, categoricalKl } from './divergence.js';
import { pairedLossArgs } from './pairedLossArgs.js';
import { entry } from '../internal/scope.js';

/**
 * Options of {@link tradesLoss}.
 * @category Defenses
 */
export interface TradesLossOptions {
  /**
   * The trade-off β between accuracy and robustness (TRADES' 1/λ); the reference code uses 6.
   * @defaultValue 6
   */
  beta?: number;
  /**
   * `'single-label'`: softmax cross-entropy and categorical KL. `'multi-label'`: mean sigmoid BCE
   * and the mean per-label Bernoulli KL.
   * @defaultValue 'single-label'
   */
  task?: Task;
  /**
   * `'mean'`: the batch mean, a scalar. `'none'`: one value per image `[N]`.
   * @defaultValue 'mean'
   */
  reduction?: 'mean' | 'none';
}

/**
 * The TRADES objective (Zhang et al., ICML 2019), a baseline next to the paper's defenses. Per image,
 *
 * ℓ = CE(p(x), y) + β · KL(p(x) ‖ p(x')),
 *
 * the natural loss on the clean image plus the divergence of the adversarial output from the clean
 * one. Multi-label: ℓ = (1/C) Σ_k [BCE(s_k, y_k) + β · KL(Bern(s_k) ‖ Bern(s'_k))] with s = σ(z)
 * on x and s' = σ(z') on x'. KL from log-softmax / log-sigmoid, so saturated outputs stay finite.
 *
 * @param cleanLogits - the model's logits on the clean images, `[N, C]`.
 * @param advLogits - the model's logits on the adversarial images, `[N, C]`.
 * @param labels - class indices `[N]` or one-hot `[N, C]` (single-label); multi-hot `[N, C]` (multi-label).
 * @param options - see {@link TradesLossOptions}; unknown keys are rejected.
 * @returns a scalar (reduction `'mean'`) or `[N]` (`'none'`), a new tensor owned by the caller.
 * @throws {InvalidArgumentError} for mismatched shapes, a negative or non-finite β or an unknown option.
 *
 * @example
 * ```ts
 * const loss = tradesLoss(tf.tensor2d([[2, 0]]), tf.tensor2d([[0.5, 0]]), tf.tensor1d([0], 'int32'), { beta: 6 });
 * ```
 * @category Defenses
 */
export function tradesLoss(cleanLogits: tf.Tensor2D, advLogits: tf.Tensor2D, labels: tf.Tensor, options: TradesLossOptions = {}): tf.Tensor {
  return entry('tradesLoss', () => {
    const { beta, task, reduction, clean, adv } = pairedLossArgs('tradesLoss', cleanLogits, advLogits, labels, options);
    return tf.tidy(() => {
      const perSample =
        task === 'single-label'
          ? tf.add(softmaxCrossEntropy(clean, labels), tf.mul(beta, categoricalKl(clean, adv)))
          : tf.add(sigmoidBinaryCrossEntropy(clean, labels), tf.mul(beta, tf.mean(bernoulliKl(clean, adv), 1)));
      return reduction === 'mean' ? tf.mean(perSample) : perSample;
    });
  });
}
