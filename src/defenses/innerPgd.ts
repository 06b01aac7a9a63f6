/**
 * The inner maximisation of the defenses that do not use `pgd` itself: MART and TRADES (a Gaussian
 * start x + σ·N(0, I)) and MPAdvT (a uniform start x + U(−ε, ε), drawn per value as the authors'
 * libadver does). Every iterate is projected on the ε-ball around the ORIGINAL images x (`pgd`
 * projects around the images it is given, so starting it from a noisy x would move the ball) and
 * clipped to the valid range. ε and α may be scaled per channel (ε/σ_c for a pixel budget on
 * normalised images). The start noise is drawn for the whole batch and sliced, so a micro-batch
 * gets exactly the rows the whole batch would. Validation is the callers' (the training loop
 * validated the batch and the options once).
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import { withInputGradientOnly } from '../internal/inputGradientOnly.js';
import { totalLoss } from '../internal/loss.js';
import { clipBounds, clipTo, projectLinf } from '../internal/project.js';
import type { ClipRange, ModelFn } from '../types.js';

/** Settings of {@link innerPgd}. */
export interface InnerPgdSettings {
  /** The L∞ budget ε (times `channelScale[c]` on channel c). */
  epsilon: number;
  /** The step α (times `channelScale[c]` on channel c). */
  stepSize: number;
  steps: number;
  /** Per-channel factors on ε and α, or null for none. */
  channelScale: readonly number[] | null;
  /** `'gaussian'`: x + σ·N(0, I); `'uniform'`: x + U(−ε, ε) per value; `'none'`: x. */
  start: 'gaussian' | 'uniform' | 'none';
  /** σ of the Gaussian start. */
  startStd: number;
  /**
   * Project and clip the start before the first gradient. false: take the first gradient at the raw
   * start, as MART's and libadver's code do (it matters when the images lie outside `clip`).
   */
  clipStart: boolean;
  /** The valid range (`'batch'`: the min/max of the given images). */
  clip: ClipRange;
  /** Seed of the start noise. */
  seed: number;
  /** The whole batch these images belong to: its size and their first row (default: the images are the batch). */
  batch?: { size: number; offset: number };
}

/**
 * x'⁰ = clip(Π_{B(x,ε)}(start)), x'ᵗ⁺¹ = clip(Π_{B(x,ε)}(x'ᵗ + α·sign ∇ Σ_i objective_i(f(x'ᵗ)))).
 * @param objective - per-sample (or summed) loss of the logits, ascended.
 * @returns a new tensor owned by the caller.
 */
export function innerPgd(model: ModelFn, images: tf.Tensor4D, objective: (logits: tf.Tensor2D) => tf.Tensor, s: InnerPgdSettings): tf.Tensor4D {
  const [n, h, w, c] = images.shape;
  const keep: tf.Tensor[] = [];
  try {
    const scale = s.channelScale === null ? null : tf.tensor4d(s.channelScale as number[], [1, 1, 1, c]);
    if (scale) keep.push(scale);
    const eps = scale ? tf.mul(scale, s.epsilon) as tf.Tensor4D : tf.fill([n, 1, 1, 1], s.epsilon) as tf.Tensor4D;
    keep.push(eps);
    const alpha: tf.Tensor | number = scale ? tf.mul(scale, s.stepSize) : s.stepSize;
    if (alpha instanceof tf.Tensor) keep.push(alpha);
    const bounds = clipBounds(s.clip, images);
    if (bounds) keep.push(bounds.lower, bounds.upper);
    const gradient = tf.grad((x: tf.Tensor) => totalLoss(objective(model(x as tf.Tensor4D))));
    const batch = s.batch ?? { size: n, offset: 0 };
    const noise = (draw: (shape: [number, number, number, number]) => tf.Tensor): tf.Tensor => {
      const full = draw([batch.size, h, w, c]);
      return batch.size === n && batch.offset === 0 ? full : tf.slice(full, [batch.offset, 0, 0, 0], [n, -1, -1, -1]);
    };
    let adv = tf.tidy(() => {
      let start: tf.Tensor4D;
      if (s.start === 'gaussian') start = tf.add(images, tf.mul(s.startStd, noise((shape) => tf.randomNormal(shape, 0, 1, 'float32', s.seed)))) as tf.Tensor4D;
      else if (s.start === 'uniform') start = tf.add(images, tf.mul(eps, noise((shape) => tf.randomUniform(shape, -1, 1, 'float32', s.seed)))) as tf.Tensor4D;
      else start = tf.clone(images);
      return s.clipStart ? clipTo(projectLinf(start, images, eps), bounds) : start;
    });
    for (let t = 0; t < s.steps; t++) {
      const next = tf.tidy(() => {
        const g = withInputGradientOnly(() => gradient(adv));
        // sign(g) from comparisons: the wasm Sign kernel (tfjs 4.22) returns 0 for |g| <= ~1e-7,
        // which stalls the attack on confident models.
        const step = tf.mul(alpha, tf.sub(tf.cast(tf.greater(g, 0), 'float32'), tf.cast(tf.less(g, 0), 'float32')));
        return clipTo(projectLinf(tf.add(adv, step) as tf.Tensor4D, images, eps), bounds);
      });
      adv.dispose();
      adv = next;
    }
    return adv;
  } finally {
    tf.dispose(keep);
  }
}
