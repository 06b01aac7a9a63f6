import type * as tf from '@tensorflow/tfjs-core';
import { COMMON_KEYS, planAttack, runAttack } from '../internal/gradientAttack.js';
import { entry } from '../internal/scope.js';
import type { ClipRange, LossFn, MemoryOptions, Model, Task } from '../types.js';

/**
 * Options of {@link fgsm}.
 * @category Attacks
 */
export interface FgsmOptions extends MemoryOptions {
  /** The budget, in the units of `images`: one number, or one per image. Required (no default). */
  epsilon: number | readonly number[];
  /**
   * The threat model: `'linf'` steps ε·sign(∇) (Goodfellow et al. 2015); `'l2'` steps ε·∇/‖∇‖₂
   * (the fast gradient method).
   * @defaultValue 'linf'
   */
  norm?: 'linf' | 'l2';
  /**
   * When true, `labels` are the targets and the loss is descended.
   * @defaultValue false
   */
  targeted?: boolean;
  /**
   * The valid range the result is clipped to (see {@link ClipRange}).
   * @defaultValue [0, 1]
   */
  clip?: ClipRange;
  /**
   * The task, which picks the label format and the default loss.
   * @defaultValue 'single-label'
   */
  task?: Task;
  /**
   * A region of interest (a lesion, the lungs): a 0/1 tensor `[N or 1, H, W, 1 or C]` that is 1 where
   * the image may change. The perturbation is exactly 0 outside it (ε is 0 there); a first dimension of
   * 1 applies one mask to every image, a last dimension of 1 to every channel. Borrowed, never disposed.
   * @defaultValue the whole image
   */
  mask?: tf.Tensor4D;
  /**
   * A per-sample loss on logits replacing the task's default (softmax cross-entropy, or mean sigmoid
   * binary cross-entropy for multi-label).
   * @defaultValue the task's loss
   */
  loss?: LossFn;
}

const KEYS = [...COMMON_KEYS] as const;

/**
 * Fast Gradient Sign Method (Goodfellow et al., ICLR 2015) and its L2 variant: one step of size ε
 * along the steepest-ascent direction of the loss, then clipped to the valid range:
 * x' = clip(x + ε·sign(∇ₓL(f(x), y))) for L∞, x' = clip(x + ε·∇ₓL/‖∇ₓL‖₂) for L2.
 * Where a sample's gradient is exactly 0 it is left unchanged.
 *
 * The model runs in inference mode; `images` and `labels` are borrowed, never mutated. A large batch
 * runs in chunks that fit in memory (see {@link MemoryOptions}); the result equals the unchunked one.
 * On any error every tensor made is freed.
 *
 * @param model - a {@link ModelFn} returning logits, or a single-output `tf.LayersModel`.
 * @param images - NHWC float32 `[N, H, W, C]`, inside `options.clip`.
 * @param labels - the true labels (the targets when `targeted`): class indices `[N]` or one-hot
 *   `[N, C]` for single-label, multi-hot `[N, C]` for multi-label.
 * @param options - see {@link FgsmOptions}; unknown keys are rejected.
 * @returns the adversarial images `[N, H, W, C]`, a new tensor owned by the caller.
 * @throws {InvalidArgumentError} for a wrong rank, dtype, label count or format, images whose shape
 *   differs from the LayersModel's input, a negative or NaN ε, NaN images or images outside the clip
 *   range, or an unknown option key (the message names the option for ART/torchattacks names like `eps`).
 * @throws {NonFiniteError} when the model's logits, the loss or the gradient hold NaN or Infinity.
 * @throws {MemoryBudgetError} when one image's gradient does not fit in the memory budget.
 *
 * @example
 * ```ts
 * const model = (x: tf.Tensor4D) => tf.matMul(x.reshape([x.shape[0], -1]), weights) as tf.Tensor2D;
 * const adv = fgsm(model, images, tf.tensor1d([0, 2], 'int32'), { epsilon: 8 / 255 });
 * adv.dispose();
 * ```
 * @category Attacks
 */
export function fgsm(model: Model, images: tf.Tensor4D, labels: tf.Tensor, options: FgsmOptions): tf.Tensor4D {
  return entry('fgsm', () => {
    const { plan, images: x } = planAttack('fgsm', model, images, labels, options, KEYS, (_o, epsilon) => ({
      stepSize: epsilon,
      steps: 1,
      randomStart: false,
      restarts: 1,
      seed: 0,
    }));
    return runAttack(x, plan);
  });
}
