import type * as tf from '@tensorflow/tfjs-core';
import { COMMON_KEYS, intOption, planAttack, resolveSeed, runGradientAttack } from '../internal/gradientAttack.js';
import { assertBoolean, assertPerSample } from '../internal/validate.js';
import type { ClipRange, LossFn, Model, Task } from '../types.js';

/**
 * Options of {@link pgd}.
 * @category Attacks
 */
export interface PgdOptions {
  /** The budget, in the units of `images`: one number, or one per image. Required (no default). */
  epsilon: number | readonly number[];
  /**
   * The threat model: `'linf'` (Madry et al.) or `'l2'` (steps along ∇/‖∇‖₂, projection on the L2 ball).
   * @defaultValue 'linf'
   */
  norm?: 'linf' | 'l2';
  /**
   * The step α: one number or one per image. The default is Madry's 2.5·ε/steps (ε/4 at 10 steps,
   * torchattacks' 2/255 for 8/255), enough to cross the ball from any start.
   * @defaultValue 2.5 * epsilon / steps
   */
  stepSize?: number | readonly number[];
  /**
   * Number of gradient steps T.
   * @defaultValue 10
   */
  steps?: number;
  /**
   * Start from a uniform random point in the ε-ball (U(−ε, ε) for L∞, uniform in the ball for L2).
   * One pattern is drawn per restart and scaled by each image's ε, so an image's result does not
   * depend on the batch it is in.
   * @defaultValue true
   */
  randomStart?: boolean;
  /**
   * Runs of the attack from fresh random starts; each image keeps its worst case (the highest
   * loss; the lowest when targeted).
   * @defaultValue 1
   */
  restarts?: number;
  /**
   * When true, `labels` are the targets and the loss is descended.
   * @defaultValue false
   */
  targeted?: boolean;
  /**
   * The valid range every iterate is clipped to (see {@link ClipRange}).
   * @defaultValue [0, 1]
   */
  clip?: ClipRange;
  /**
   * The seed of the random start. Without one, a seed is drawn (results then differ per call).
   * @defaultValue drawn at random
   */
  seed?: number;
  /**
   * The task, which picks the label format and the default loss.
   * @defaultValue 'single-label'
   */
  task?: Task;
  /**
   * A per-sample loss on logits replacing the task's default.
   * @defaultValue the task's loss
   */
  loss?: LossFn;
}

const KEYS = [...COMMON_KEYS, 'stepSize', 'steps', 'randomStart', 'restarts', 'seed'] as const;

/**
 * Projected Gradient Descent (Madry et al., ICLR 2018), the paper's first attack (paper.md §4.1):
 * x⁰ = x + U(−ε, ε);  xᵗ⁺¹ = Π_{B(x, ε) ∩ clip}(xᵗ + α·sign(∇ₓL(f(xᵗ), y)))  (L∞; L2 steps along
 * ∇/‖∇‖₂ and projects on the L2 ball). Untargeted PGD ascends the loss of the true labels; targeted
 * PGD descends the loss of the target labels — e.g. all-zeros multi-hot targets with
 * `task: 'multi-label'` make an X-ray "look healthy" (paper.md §4.1).
 *
 * The paper's code applies ε in normalised units and clips to the batch's min/max: use
 * `clip: 'batch'` and a ModelFn without normalisation for that preset. By default ε is in the units
 * of `images` and the clip range is [0, 1].
 *
 * The model runs in inference mode; `images` and `labels` are borrowed, never mutated. Per-sample
 * losses are summed, so each image's gradient does not depend on the rest of the batch.
 *
 * @param model - a {@link ModelFn} returning logits, or a single-output `tf.LayersModel`.
 * @param images - NHWC float32 `[N, H, W, C]`, inside `options.clip`.
 * @param labels - the true labels (the targets when `targeted`): class indices `[N]` or one-hot
 *   `[N, C]` for single-label, multi-hot `[N, C]` for multi-label.
 * @param options - see {@link PgdOptions}; unknown keys are rejected.
 * @returns the adversarial images `[N, H, W, C]`, a new tensor owned by the caller, with
 *   ‖x' − x‖ ≤ ε per image and inside the clip range.
 * @throws {InvalidArgumentError} for a wrong rank, dtype, label count or format, a negative or
 *   NaN ε, a non-positive step, NaN images or images outside the clip range, or an unknown option.
 *
 * @example
 * ```ts
 * const adv = pgd(model, images, labels, { epsilon: 8 / 255, steps: 10, seed: 1 });
 * const robust = accuracy(model(adv), labels);
 * adv.dispose();
 * ```
 * @category Attacks
 */
export function pgd(model: Model, images: tf.Tensor4D, labels: tf.Tensor, options: PgdOptions): tf.Tensor4D {
  const { plan, images: x } = planAttack('pgd', model, images, labels, options, KEYS, (o, epsilon, n) => {
    const steps = intOption('pgd', o, 'steps', 10);
    const stepSize = o.stepSize === undefined ? epsilon.map((e) => (2.5 * e) / steps) : assertPerSample('pgd', 'options.stepSize', o.stepSize, n, { min: 0, minExclusive: true });
    return {
      steps,
      stepSize,
      randomStart: assertBoolean('pgd', 'options.randomStart', o.randomStart) ?? true,
      restarts: intOption('pgd', o, 'restarts', 1),
      seed: resolveSeed('pgd', o.seed),
    };
  });
  return runGradientAttack(x, plan);
}
