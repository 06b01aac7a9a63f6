/**
 * Divergences between the model's outputs on clean and adversarial images, shared by the MART and
 * TRADES objectives. All are computed from log-softmax / log-sigmoid of the logits, so saturated
 * probabilities (p = 0 or 1 in float32) give finite values and gradients.
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';

/** Per-sample KL(softmax(clean) ‖ softmax(adv)) = Σ_k p_k (log p_k − log p'_k), `[N]`. */
export function categoricalKl(cleanLogits: tf.Tensor2D, advLogits: tf.Tensor2D): tf.Tensor1D {
  return tf.tidy(() => {
    const logP = tf.logSoftmax(cleanLogits);
    const logQ = tf.logSoftmax(advLogits);
    return tf.sum(tf.mul(tf.exp(logP), tf.sub(logP, logQ)), 1) as tf.Tensor1D;
  });
}

/** log σ(z) and log(1 − σ(z)), both finite for any finite z. */
export function logSigmoidPair(logits: tf.Tensor): [tf.Tensor, tf.Tensor] {
  return [tf.neg(tf.softplus(tf.neg(logits))), tf.neg(tf.softplus(logits))];
}

/**
 * Per-label Bernoulli KL(σ(clean) ‖ σ(adv)) = s (log s − log s') + (1 − s)(log(1 − s) − log(1 − s')),
 * `[N, C]` (not reduced).
 */
export function bernoulliKl(cleanLogits: tf.Tensor2D, advLogits: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const [logS, log1mS] = logSigmoidPair(cleanLogits);
    const [logT, log1mT] = logSigmoidPair(advLogits);
    return tf.add(tf.mul(tf.exp(logS), tf.sub(logS, logT)), tf.mul(tf.exp(log1mS), tf.sub(log1mS, log1mT))) as tf.Tensor2D;
  });
}

/** Labels as float rows `[N, C]`: one-hot from indices, or the given rows cast to float32. */
export function labelRows(labels: tf.Tensor, classes: number): tf.Tensor2D {
  return tf.tidy(() => (labels.rank === 1 ? tf.cast(tf.oneHot(tf.cast(labels, 'int32'), classes), 'float32') : tf.cast(labels, 'float32')) as tf.Tensor2D);
}
