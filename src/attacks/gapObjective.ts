/**
 * GAP training objectives (paper.md §4.2) and the fooling statistics of a step.
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import { InvalidArgumentError } from '../errors.js';
import { sigmoidBinaryCrossEntropy, softmaxCrossEntropy } from '../internal/loss.js';
import { assertNumber, assertOneOf, describeValue } from '../internal/validate.js';
import type { Task } from '../types.js';

/**
 * What the generator is trained toward.
 * - `'least-likely'` (single-label; the paper, GAP's non-targeted mode): descend CE(f(x'), y_ll)
 *   with y_ll = argmin_k f_k(x), the clean image's least-likely class.
 * - `'untargeted'` (single-label): descend −log(1 − p_y(x')), pushing the probability of y (the
 *   batch's labels when given, else the clean prediction) to 0; bounded below, unlike −CE.
 * - `'targeted'`: single-label, descend CE(f(x'), t) for the class `target`; multi-label, descend
 *   the mean BCE toward the label set `target`.
 * - `'flip'` (multi-label; the paper): descend (1/C) Σ_k BCE(p_k(x'), 1[p_k(x) < threshold]),
 *   flipping every clean decision.
 * @category Attacks
 */
export type GapObjective = 'least-likely' | 'untargeted' | 'targeted' | 'flip';

/** A validated objective. */
export interface ObjectivePlan {
  task: Task;
  objective: GapObjective;
  /** Class index (single-label) or multi-hot set (multi-label) for 'targeted'. */
  target: number | number[] | null;
  /** Decision threshold on sigmoid probabilities (multi-label). */
  threshold: number;
  /** Descend log(mean loss) (the official GAP code) instead of the mean loss (the paper). */
  logLoss: boolean;
}

export function parseObjective(fn: string, o: Record<string, unknown>): ObjectivePlan {
  const task = assertOneOf<Task>(fn, 'options.task', o.task, ['single-label', 'multi-label']) ?? 'single-label';
  const allowed: GapObjective[] = task === 'single-label' ? ['least-likely', 'untargeted', 'targeted'] : ['flip', 'targeted'];
  const objective = assertOneOf<GapObjective>(fn, 'options.objective', o.objective, allowed) ?? (task === 'single-label' ? 'least-likely' : 'flip');
  let target: number | number[] | null = null;
  if (objective === 'targeted') {
    if (task === 'single-label') {
      target = assertNumber(fn, 'options.target', o.target, { integer: true, min: 0 });
    } else {
      const t = o.target;
      if (!Array.isArray(t) || t.length === 0 || !t.every((v) => v === 0 || v === 1)) {
        throw new InvalidArgumentError(fn, 'options.target', "a multi-hot array of 0/1, one per label (objective 'targeted', task 'multi-label')", describeValue(t));
      }
      target = [...(t as number[])];
    }
  } else if (o.target !== undefined) {
    throw new InvalidArgumentError(fn, 'options.target', "undefined unless objective is 'targeted'", describeValue(o.target));
  }
  const threshold = o.threshold === undefined ? 0.5 : assertNumber(fn, 'options.threshold', o.threshold, { min: 0, max: 1, minExclusive: true, maxExclusive: true });
  const logLoss = o.logLoss === undefined ? false : o.logLoss === true ? true : o.logLoss === false ? false : (() => { throw new InvalidArgumentError(fn, 'options.logLoss', 'true or false', describeValue(o.logLoss)); })();
  return { task, objective, target, threshold, logLoss };
}

/** Checks the model's logits against the objective (once per batch; shapes only, plus label range). */
export function checkObjectiveLogits(fn: string, plan: ObjectivePlan, logits: tf.Tensor2D, labels: tf.Tensor | undefined): void {
  const c = logits.shape[1];
  if (plan.task === 'single-label' && c < 2) throw new InvalidArgumentError(fn, 'model', "at least 2 logits for task 'single-label'", `${c} logit`);
  if (typeof plan.target === 'number' && plan.target >= c) throw new InvalidArgumentError(fn, 'options.target', `a class index in [0, ${c - 1}]`, String(plan.target));
  if (Array.isArray(plan.target) && plan.target.length !== c) throw new InvalidArgumentError(fn, 'options.target', `a multi-hot array of ${c} values (one per logit)`, describeValue(plan.target));
  if (plan.objective === 'untargeted' && labels !== undefined) {
    if (labels.rank === 2 && labels.shape[1] !== c) throw new InvalidArgumentError(fn, 'labels', `one-hot [N, ${c}] to match the model's ${c} logits`, `shape [${labels.shape.join(',')}]`);
    if (labels.rank === 1) {
      const top = tf.tidy(() => tf.max(labels).dataSync()[0]!);
      if (top >= c) throw new InvalidArgumentError(fn, 'labels', `class indices in [0, ${c - 1}]`, `index ${top}`);
    }
  }
}

/** The training targets of a batch from the clean logits (computed outside the gradient tape). */
export function buildTargets(plan: ObjectivePlan, clean: tf.Tensor2D, labels: tf.Tensor | undefined): tf.Tensor {
  return tf.tidy(() => {
    const [n, c] = clean.shape;
    switch (plan.objective) {
      case 'least-likely':
        return tf.argMin(clean, 1);
      case 'untargeted':
        if (labels === undefined) return tf.argMax(clean, 1);
        return labels.rank === 1 ? tf.cast(labels, 'int32') : tf.argMax(labels, 1);
      case 'targeted':
        return typeof plan.target === 'number' ? tf.fill([n], plan.target, 'int32') : tf.tile(tf.tensor2d(plan.target as number[], [1, c]), [n, 1]);
      case 'flip':
        return tf.cast(tf.less(clean, Math.log(plan.threshold / (1 - plan.threshold))), 'float32');
    }
  });
}

/** The scalar loss the generator descends, from the adversarial logits. */
export function objectiveLoss(plan: ObjectivePlan, logits: tf.Tensor2D, targets: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    let perSample: tf.Tensor;
    if (plan.task === 'multi-label') perSample = sigmoidBinaryCrossEntropy(logits, targets);
    else if (plan.objective === 'untargeted') {
      // −log(1 − p_y) = logsumexp(z) − logsumexp(z without y)
      const mask = tf.cast(tf.oneHot(targets as tf.Tensor1D, logits.shape[1]), 'bool');
      const others = tf.where(mask, tf.fill(logits.shape, -1e30), logits);
      perSample = tf.sub(tf.logSumExp(logits, 1), tf.logSumExp(others, 1));
    } else perSample = softmaxCrossEntropy(logits, targets);
    const mean = tf.mean(perSample) as tf.Scalar;
    return plan.logLoss ? (tf.log(tf.maximum(mean, 1e-12)) as tf.Scalar) : mean;
  });
}

/**
 * Counts of a step, `[fooled, flippedLabels]`: images whose prediction changed (single-label:
 * argmax; multi-label: any decision at the threshold) and, for multi-label, label decisions flipped.
 */
export function foolingCounts(plan: ObjectivePlan, clean: tf.Tensor2D, adv: tf.Tensor2D): tf.Tensor1D {
  return tf.tidy(() => {
    if (plan.task === 'single-label') {
      const fooled = tf.sum(tf.cast(tf.notEqual(tf.argMax(clean, 1), tf.argMax(adv, 1)), 'float32'));
      return tf.stack([fooled, tf.scalar(0)]) as tf.Tensor1D;
    }
    const z = Math.log(plan.threshold / (1 - plan.threshold));
    const changed = tf.cast(tf.notEqual(tf.greaterEqual(clean, z), tf.greaterEqual(adv, z)), 'float32');
    return tf.stack([tf.sum(tf.cast(tf.greater(tf.sum(changed, 1), 0), 'float32')), tf.sum(changed)]) as tf.Tensor1D;
  });
}

/**
 * Training-accuracy counts of a step, `[correct, judged]`: single-label, adversarial argmax equal to
 * the label (index or one-hot); multi-label, label decisions at the threshold equal to the multi-hot
 * labels (the authors' per-label accuracy, pooled over labels).
 */
export function labelAccuracyCounts(plan: ObjectivePlan, adv: tf.Tensor2D, labels: tf.Tensor): tf.Tensor1D {
  return tf.tidy(() => {
    if (plan.task === 'single-label') {
      const truth = labels.rank === 1 ? tf.cast(labels, 'int32') : tf.argMax(labels, 1);
      return tf.stack([tf.sum(tf.cast(tf.equal(tf.argMax(adv, 1), truth), 'float32')), tf.scalar(adv.shape[0])]) as tf.Tensor1D;
    }
    const z = Math.log(plan.threshold / (1 - plan.threshold));
    const same = tf.equal(tf.cast(tf.greater(adv, z), 'float32'), tf.cast(labels, 'float32'));
    return tf.stack([tf.sum(tf.cast(same, 'float32')), tf.scalar(adv.size)]) as tf.Tensor1D;
  });
}
