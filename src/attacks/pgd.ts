import type * as tf from '@tensorflow/tfjs-core';
import {
  assertSyncBudget, COMMON_KEYS, intOption, MAX_ASYNC_RESTARTS, MAX_ASYNC_STEPS, planAttack, resolveSeed, runAttack, runAttackAsync, type ExtraPlan,
} from '../internal/gradientAttack.js';
import { entry, entryAsync } from '../internal/scope.js';
import { assertBoolean, assertFunction, assertPerSample, assertSignal } from '../internal/validate.js';
import type { ClipRange, LossFn, MemoryOptions, Model, Progress, Task } from '../types.js';

/**
 * Options of {@link pgd}.
 * @category Attacks
 */
export interface PgdOptions extends MemoryOptions {
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
   * Number of gradient steps T. The synchronous {@link pgd} accepts steps × restarts ≤ 10000 (it cannot
   * be stopped once started); {@link pgdAsync} up to 1e6 steps.
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
   * Clip the random start to `clip` before the first gradient. `false` takes the first gradient at the
   * raw start x + U(−ε, ε), which may lie outside the clip range, as the paper's code (libadver's
   * ProjectGradientDescent) does; every later iterate is clipped either way. For the paper preset.
   * @defaultValue true
   */
  clipStart?: boolean;
  /**
   * Runs of the attack from fresh random starts. Each image keeps its best run: one that fools the model
   * (changes the prediction; reaches the target when targeted) beats one that does not, as in AutoAttack;
   * among equals the higher loss wins (the lower when targeted). {@link pgdAsync} accepts up to 1e4.
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

/**
 * Options of {@link pgdAsync}: those of {@link pgd}, plus a way to stop and to watch a long run.
 * @category Attacks
 */
export interface PgdAsyncOptions extends PgdOptions {
  /**
   * Stops the attack between two steps with an {@link AbortError}; everything made is freed.
   * @defaultValue none
   */
  signal?: AbortSignal;
  /**
   * Called after every step (phase `'step'`; `total` = chunks × restarts × steps, with an ETA).
   * @defaultValue none
   */
  onProgress?: (progress: Progress) => void;
}

const KEYS = [...COMMON_KEYS, 'stepSize', 'steps', 'randomStart', 'clipStart', 'restarts', 'seed'] as const;
const ASYNC_KEYS = [...KEYS, 'signal', 'onProgress'] as const;

function resolvePgd(fn: string, limits: { steps?: number; restarts?: number }) {
  return (o: Record<string, unknown>, epsilon: number[], n: number): ExtraPlan => {
    const steps = intOption(fn, o, 'steps', 10, 1, limits.steps);
    const stepSize = o.stepSize === undefined ? epsilon.map((e) => (2.5 * e) / steps) : assertPerSample(fn, 'options.stepSize', o.stepSize, n, { min: 0, minExclusive: true });
    const restarts = intOption(fn, o, 'restarts', 1, 1, limits.restarts);
    if (limits.steps === undefined) assertSyncBudget(fn, steps, restarts, 'pgdAsync');
    return {
      steps,
      stepSize,
      randomStart: assertBoolean(fn, 'options.randomStart', o.randomStart) ?? true,
      clipStart: assertBoolean(fn, 'options.clipStart', o.clipStart) ?? true,
      restarts,
      seed: resolveSeed(fn, o.seed),
    };
  };
}

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
 * losses are summed, so each image's gradient does not depend on the rest of the batch, and a large
 * batch runs in chunks that fit in memory (see {@link MemoryOptions}) with the same result. The call is
 * synchronous and bounded (steps × restarts ≤ 10000); for long runs that must be stoppable use
 * {@link pgdAsync}. On any error every tensor made is freed.
 *
 * @param model - a {@link ModelFn} returning logits, or a single-output `tf.LayersModel`.
 * @param images - NHWC float32 `[N, H, W, C]`, inside `options.clip`.
 * @param labels - the true labels (the targets when `targeted`): class indices `[N]` or one-hot
 *   `[N, C]` for single-label, multi-hot `[N, C]` for multi-label.
 * @param options - see {@link PgdOptions}; unknown keys are rejected.
 * @returns the adversarial images `[N, H, W, C]`, a new tensor owned by the caller, with
 *   ‖x' − x‖ ≤ ε per image and inside the clip range.
 * @throws {InvalidArgumentError} for a wrong rank, dtype, label count or format, images whose shape
 *   differs from the LayersModel's input, a negative or NaN ε, a non-positive step, steps × restarts
 *   above 10000, NaN images or images outside the clip range, or an unknown option (ART/torchattacks
 *   names such as `eps`, `alpha`, `nb_iter` are pointed to their medrobust names).
 * @throws {NonFiniteError} when the model's logits, the loss or the gradient hold NaN or Infinity at
 *   any step (checked on the device, read once per chunk).
 * @throws {MemoryBudgetError} when one image's gradient step does not fit in the memory budget.
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
  return entry('pgd', () => {
    const { plan, images: x } = planAttack('pgd', model, images, labels, options, KEYS, resolvePgd('pgd', {}));
    return runAttack(x, plan);
  });
}

/**
 * {@link pgd} for long runs: the same attack, bit for bit the same result, but it yields to the event
 * loop after every step, so that an `AbortSignal` (a Ctrl-C handler, `AbortSignal.timeout(ms)`) can stop
 * it and `onProgress` can report it (ART's `verbose` progress bar, torchattacks' long AutoAttack runs).
 * It accepts up to 1e6 steps and 1e4 restarts. On abort or error every tensor made is freed.
 *
 * @param model - a {@link ModelFn} returning logits, or a single-output `tf.LayersModel`.
 * @param images - NHWC float32 `[N, H, W, C]`, inside `options.clip`.
 * @param labels - as for {@link pgd}.
 * @param options - see {@link PgdAsyncOptions}.
 * @returns the adversarial images `[N, H, W, C]`, a new tensor owned by the caller.
 * @throws {InvalidArgumentError} as {@link pgd} (with the larger bounds), or for a bad signal or callback.
 * @throws {NonFiniteError} as {@link pgd}.
 * @throws {MemoryBudgetError} as {@link pgd}.
 * @throws {AbortError} when `signal` fires.
 *
 * @example
 * ```ts
 * const adv = await pgdAsync(model, images, labels, {
 *   epsilon: 8 / 255, steps: 1000, seed: 1,
 *   signal: AbortSignal.timeout(60_000),
 *   onProgress: (p) => console.log(`${p.done}/${p.total}, ${p.etaSeconds.toFixed(0)} s left`),
 * });
 * adv.dispose();
 * ```
 * @category Attacks
 */
export async function pgdAsync(model: Model, images: tf.Tensor4D, labels: tf.Tensor, options: PgdAsyncOptions): Promise<tf.Tensor4D> {
  const fn = 'pgdAsync';
  return entryAsync(fn, async () => {
    const { plan, images: x } = planAttack(fn, model, images, labels, options, ASYNC_KEYS, resolvePgd(fn, { steps: MAX_ASYNC_STEPS, restarts: MAX_ASYNC_RESTARTS }));
    const o = options as unknown as Record<string, unknown>;
    const signal = assertSignal(fn, 'options.signal', o.signal);
    assertFunction(fn, 'options.onProgress', o.onProgress);
    return runAttackAsync(x, plan, signal, o.onProgress as ((p: Progress) => void) | undefined);
  });
}
