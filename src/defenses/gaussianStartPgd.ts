/**
 * The inner maximisation of MART and TRADES: L∞ PGD from a Gaussian start x + σ·N(0, I) (σ = 0.001
 * in both reference codes) instead of `pgd`'s uniform start, with every iterate projected on the
 * ε-ball around the ORIGINAL images x and clipped to the valid range. `pgd` projects around the
 * images it is given, so starting it from x + σ·N would centre the ball on the noisy start; this
 * helper keeps the ball where MART and TRADES put it. Validation is the callers' (the training loop
 * validated the batch and the options once).
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import { totalLoss } from '../internal/loss.js';
import { clipBounds, clipTo, perSample, projectLinf } from '../internal/project.js';
import type { ClipRange, ModelFn } from '../types.js';

/** Settings of {@link gaussianStartPgd}. */
export interface GaussianStartPgdSettings {
  epsilon: number;
  stepSize: number;
  steps: number;
  /** σ of the Gaussian start. */
  startStd: number;
  clip: ClipRange;
  seed: number;
}

/**
 * x'⁰ = clip(Π_{B(x,ε)}(x + σ·N(0, I))); x'ᵗ⁺¹ = clip(Π_{B(x,ε)}(x'ᵗ + α·sign ∇ Σ_i loss_i(f(x'ᵗ)))).
 * @param objective - per-sample (or summed) loss of the logits, ascended.
 * @returns a new tensor owned by the caller.
 */
export function gaussianStartPgd(model: ModelFn, images: tf.Tensor4D, objective: (logits: tf.Tensor2D) => tf.Tensor, s: GaussianStartPgdSettings): tf.Tensor4D {
  const eps = perSample(new Array<number>(images.shape[0]).fill(s.epsilon));
  const bounds = clipBounds(s.clip, images);
  try {
    const gradient = tf.grad((x: tf.Tensor) => totalLoss(objective(model(x as tf.Tensor4D))));
    let adv = tf.tidy(() => {
      const noise = tf.mul(s.startStd, tf.randomNormal(images.shape, 0, 1, 'float32', s.seed));
      return clipTo(projectLinf(tf.add(images, noise) as tf.Tensor4D, images, eps), bounds);
    });
    for (let t = 0; t < s.steps; t++) {
      const next = tf.tidy(() => {
        const g = gradient(adv);
        // sign(g) from comparisons: the wasm Sign kernel (tfjs 4.22) returns 0 for |g| <= ~1e-7,
        // which stalls the attack on confident models.
        const step = tf.mul(s.stepSize, tf.sub(tf.cast(tf.greater(g, 0), 'float32'), tf.cast(tf.less(g, 0), 'float32')));
        return clipTo(projectLinf(tf.add(adv, step) as tf.Tensor4D, images, eps), bounds);
      });
      adv.dispose();
      adv = next;
    }
    return adv;
  } finally {
    eps.dispose();
    if (bounds) tf.dispose([bounds.lower, bounds.upper]);
  }
}
