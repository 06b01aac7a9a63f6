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
import { inputGradient } from '../internal/inputGradient.js';
import { withInputGradientOnly } from '../internal/inputGradientOnly.js';
import { totalLoss } from '../internal/loss.js';
import { planChunks, runInChunks, sampleSlice, type MemoryOptions } from '../internal/memory.js';
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
  /**
   * Chunks of the attack (core's memory model, see {@link planChunks}): the batch runs in chunks of
   * `batchSize` or as many images as fit in `memoryBudget`, with the same result. Undefined: one chunk.
   */
  memory?: MemoryOptions;
  /** The function named by a {@link MemoryBudgetError}. */
  fn?: string;
}

/** The objective of {@link innerPgd}: per-sample (or summed) loss of the logits of rows [start, start + count) of the images. */
export type InnerObjective = (logits: tf.Tensor2D, start: number, count: number) => tf.Tensor;

/**
 * x'⁰ = clip(Π_{B(x,ε)}(start)), x'ᵗ⁺¹ = clip(Π_{B(x,ε)}(x'ᵗ + α·sign ∇ Σ_i objective_i(f(x'ᵗ)))), in
 * chunks that fit in memory when `s.memory` is given (each chunk draws the rows of the start noise the
 * whole batch would, so chunks change nothing).
 * @param objective - per-sample (or summed) loss of the logits, ascended; it is told which rows it sees.
 * @returns a new tensor owned by the caller.
 */
export function innerPgd(model: ModelFn, images: tf.Tensor4D, objective: InnerObjective, s: InnerPgdSettings): tf.Tensor4D {
  const n = images.shape[0];
  if (s.memory === undefined) return attack(model, images, objective, s);
  const fn = s.fn ?? 'innerPgd';
  const probe = (k: number): void => {
    const x = sampleSlice(images, 0, k);
    // The logits' sum stands in for the objective ([N]-sized work next to the model): a custom loss is called by the attack only.
    const { loss, grad } = withInputGradientOnly(() => inputGradient((v) => ({ loss: tf.sum(model(v as tf.Tensor4D)) }), x));
    tf.dispose([loss, grad]);
  };
  const plan = planChunks(fn, n, s.memory, { model, kind: 'inner-pgd', sampleShape: images.shape.slice(1) }, probe, 2 * (images.size / n) * 4);
  if (plan.size >= n) return attack(model, images, objective, s);
  // The paper's batch-global clip is the whole batch's range, whatever the chunk.
  const clip: ClipRange = s.clip === 'batch' ? tf.tidy(() => [tf.min(images).dataSync()[0]!, tf.max(images).dataSync()[0]!] as [number, number]) : s.clip;
  const batch = s.batch ?? { size: n, offset: 0 };
  return runInChunks(fn, n, plan, (start, count) => tf.tidy(() => attack(model, sampleSlice(images, start, count), (logits) => objective(logits, start, count), {
    ...s, clip, batch: { size: batch.size, offset: batch.offset + start },
  })));
}


/** The attack on one chunk (all of `images`); `objective` sees the chunk's logits. */
function attack(model: ModelFn, images: tf.Tensor4D, objective: (logits: tf.Tensor2D, start: number, count: number) => tf.Tensor, s: InnerPgdSettings): tf.Tensor4D {
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
    const gradient = (x: tf.Tensor): tf.Tensor => {
      const { loss, grad } = inputGradient((v) => ({ loss: totalLoss(objective(model(v as tf.Tensor4D), 0, n)) }), x);
      loss.dispose();
      return grad;
    };
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
    try {
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
    } catch (err) {
      // A step that throws (a failed allocation, a non-finite check) must not leave the current
      // iterate behind: the unchunked path runs outside any tidy (the training step's generate).
      adv.dispose();
      throw err;
    }
    return adv;
  } finally {
    tf.dispose(keep);
  }
}
