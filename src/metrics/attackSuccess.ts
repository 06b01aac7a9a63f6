import * as tf from '@tensorflow/tfjs-core';
import { InvalidArgumentError } from '../errors.js';
import { goalLabels, goalMargin, goalSuccess, parseGoal, type MultiLabelGoal } from '../internal/goals.js';
import { entry } from '../internal/scope.js';
import { assertBoolean, assertKnownKeys, assertNumber, assertOneOf, assertOptionsObject, assertTensor, describeValue } from '../internal/validate.js';
import type { Task } from '../types.js';

/**
 * Options of {@link attackSuccess}.
 * @category Metrics
 */
export interface AttackSuccessOptions {
  /**
   * The task.
   * @defaultValue 'single-label'
   */
  task?: Task;
  /**
   * `labels` are targets (a class; a label set for multi-label).
   * @defaultValue false
   */
  targeted?: boolean;
  /**
   * Multi-label: the goal (see {@link MultiLabelGoal}).
   * @defaultValue 'flip-any'
   */
  goal?: MultiLabelGoal;
  /**
   * Multi-label decision threshold on sigmoid probabilities.
   * @defaultValue 0.5
   */
  threshold?: number;
}

/**
 * The result of {@link attackSuccess}.
 * @category Metrics
 */
export interface AttackSuccessResult {
  /** Whether the goal is met, per image. */
  success: boolean[];
  /** The goal margin per image: positive exactly when the goal is met (up to ties). */
  margin: number[];
}

/**
 * Whether an attack met its goal on each image, and by what margin: the success criterion of
 * {@link apgd}, {@link squareAttack} and {@link evaluateWorstCase}, from the adversarial logits.
 * - single-label: the argmax (the first on ties) differs from the label; targeted: equals the target.
 *   Margin max_{j≠y} z_j − z_y (targeted: z_t − max_{j≠t} z_j).
 * - multi-label (finding k predicted when z_k > τ = logit(threshold)): `'flip-any'` some finding differs
 *   from the truth; `'flip-all'` every finding differs; `{ hide: k }` finding k predicted absent;
 *   `{ add: k }` finding k predicted present; `{ target: row }` or `targeted: true` the predictions equal
 *   the target set. Margin: with d_k = ±1 the wanted side of finding k, m_k = d_k·(z_k − τ), the max over
 *   findings for `'flip-any'` and the min over the findings that count for the others.
 * The margin is positive exactly when the goal is met (up to ties). Tensors are borrowed.
 *
 * @param logits - the adversarial logits `[N, C]`.
 * @param labels - class indices `[N]` or one-hot `[N, C]` (single-label), multi-hot `[N, C]` (multi-label);
 *   the targets when `targeted`.
 * @param options - see {@link AttackSuccessOptions}.
 * @returns per image, success and margin.
 * @throws {InvalidArgumentError} for mismatched shapes, a goal that does not fit the labels, or bad options.
 *
 * @example
 * ```ts
 * const logits = tf.tensor2d([[2, -1, 0.5]]);           // findings 0 and 2 predicted
 * attackSuccess(logits, tf.tensor2d([[1, 0, 1]]), { task: 'multi-label', goal: { hide: 0 } }).success; // [false]
 * attackSuccess(logits, tf.tensor2d([[0, 0, 1]]), { task: 'multi-label', goal: { add: 0 } }).success;  // [true]
 * ```
 * @category Metrics
 */
export function attackSuccess(logits: tf.Tensor2D, labels: tf.Tensor, options: AttackSuccessOptions = {}): AttackSuccessResult {
  const fn = 'attackSuccess';
  return entry(fn, () => {
    const o = assertOptionsObject(fn, options);
    assertKnownKeys(fn, o, ['task', 'targeted', 'goal', 'threshold']);
    const z = assertTensor(fn, 'logits', logits, [2], 'logits [N, C]') as tf.Tensor2D;
    const y = assertTensor(fn, 'labels', labels, [1, 2], 'labels [N] or [N, C]');
    const task = assertOneOf<Task>(fn, 'options.task', o.task, ['single-label', 'multi-label']) ?? 'single-label';
    const targeted = assertBoolean(fn, 'options.targeted', o.targeted) ?? false;
    if (o.threshold !== undefined && task !== 'multi-label') throw new InvalidArgumentError(fn, 'options.threshold', "no value unless task is 'multi-label'", describeValue(o.threshold));
    const threshold = o.threshold === undefined ? 0.5 : assertNumber(fn, 'options.threshold', o.threshold, { min: 0, max: 1, minExclusive: true, maxExclusive: true });
    const [n, c] = z.shape;
    if (y.shape[0] !== n) throw new InvalidArgumentError(fn, 'labels', `${n} rows (one per row of logits)`, `shape [${y.shape.join(',')}]`);
    if (task === 'multi-label' && (y.rank !== 2 || y.shape[1] !== c)) throw new InvalidArgumentError(fn, 'labels', `a multi-hot [${n}, ${c}] tensor`, `shape [${y.shape.join(',')}]`);
    if (task === 'single-label' && y.rank === 2 && y.shape[1] !== c) throw new InvalidArgumentError(fn, 'labels', `one-hot [${n}, ${c}] or indices [${n}]`, `shape [${y.shape.join(',')}]`);
    if (task === 'single-label' && y.rank === 1) {
      y.dataSync().forEach((v, i) => {
        if (!Number.isInteger(v) || v < 0 || v >= c) throw new InvalidArgumentError(fn, `labels[${i}]`, `a class index in [0, ${c - 1}]`, describeValue(v));
      });
    }
    const goal = parseGoal(fn, 'options.goal', o.goal, task, targeted, c, threshold);
    const target = goalLabels(goal, y);
    return {
      success: Array.from(goalSuccess(z, target, goal).dataSync(), (v) => v !== 0),
      margin: Array.from(goalMargin(z, target, goal).dataSync()),
    };
  });
}
