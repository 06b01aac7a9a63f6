/**
 * What an attack tries to achieve, and how to tell when it has: the goal of an attack, its success
 * criterion (read off the predictions), a margin that is positive exactly when the goal is met (the
 * quantity Square Attack and APGD's margin loss ascend), and the losses APGD ascends (cross-entropy,
 * DLR, targeted DLR). Everything here is per sample, so a sample's result never depends on its batch.
 *
 * Single-label: untargeted (the argmax leaves the true class) or targeted (the argmax reaches the
 * target in `labels`). Multi-label (a finding is predicted when its logit exceeds τ = logit(threshold)):
 * - `'flip-any'` (untargeted): some finding's prediction differs from the truth;
 * - `'flip-all'`: every finding's prediction differs from the truth;
 * - `{ hide: k }`: finding k is predicted absent;
 * - `{ add: k }`: finding k is predicted present;
 * - `{ target: row }` (or `targeted: true` with per-image rows in `labels`): the predictions equal the
 *   target set exactly.
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import { InvalidArgumentError } from '../errors.js';
import type { Task } from '../types.js';
import { softmaxCrossEntropy } from './loss.js';
import { describeValue } from './validate.js';

/**
 * The goal of an attack on a multi-label model, each with its own success criterion (a finding is
 * predicted when its sigmoid exceeds the threshold): `'flip-any'` any finding differs from the truth,
 * `'flip-all'` every finding differs, `{ hide: k }` finding k predicted absent, `{ add: k }` finding k
 * predicted present, `{ target: row }` the predictions equal the row. See {@link attackSuccess}.
 * @category Attacks
 */
export type MultiLabelGoal =
  | 'flip-any'
  | 'flip-all'
  | {
      /** The finding to make disappear (predicted absent). */
      readonly hide: number;
    }
  | {
      /** The finding to make appear (predicted present). */
      readonly add: number;
    }
  | {
      /** The label set to reach exactly, 0/1 per finding (all zeros: "look healthy"). */
      readonly target: readonly number[];
    };

/** A validated goal. `labels` passed to the functions below are the truth, or the targets when `targeted`. */
export interface Goal {
  task: Task;
  /** Single-label: labels are targets. Multi-label: labels are the target set (also for `{ target }`, tiled). */
  targeted: boolean;
  /** Multi-label: what to reach. */
  kind: 'flip-any' | 'flip-all' | 'hide' | 'add' | 'target';
  /** Multi-label hide/add: the finding. */
  label: number;
  /** Multi-label `{ target }`: the target row. */
  target: number[] | null;
  /** Multi-label decision threshold in logit units, τ = logit(threshold) (0 for 0.5). */
  tau: number;
}

/** The logit of a probability threshold (the decision boundary on logits). */
export function logitOf(threshold: number): number {
  if (threshold === 0.5) return 0;
  return Math.log(threshold / (1 - threshold));
}

/**
 * Validates a multi-label goal against the label width `classes`.
 * @throws {InvalidArgumentError} naming `argument`.
 */
export function parseGoal(fn: string, argument: string, value: unknown, task: Task, targeted: boolean, classes: number, threshold = 0.5): Goal {
  const base: Goal = { task, targeted, kind: task === 'multi-label' && targeted ? 'target' : 'flip-any', label: -1, target: null, tau: logitOf(threshold) };
  if (value === undefined) return base;
  const expected = `'flip-any', 'flip-all', { hide: k }, { add: k } or { target: number[${classes}] } (multi-label goals)`;
  if (task !== 'multi-label') throw new InvalidArgumentError(fn, argument, "no goal for task 'single-label' (use targeted: true with target classes as labels)", describeValue(value));
  if (targeted) throw new InvalidArgumentError(fn, argument, 'no goal with targeted: true (the labels are then the target sets)', describeValue(value));
  if (value === 'flip-any' || value === 'flip-all') return { ...base, kind: value };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new InvalidArgumentError(fn, argument, expected, describeValue(value));
  const keys = Object.keys(value);
  const o = value as Record<string, unknown>;
  if (keys.length === 1 && (keys[0] === 'hide' || keys[0] === 'add')) {
    const k = o[keys[0]];
    if (typeof k !== 'number' || !Number.isInteger(k) || k < 0 || k >= classes) {
      throw new InvalidArgumentError(fn, `${argument}.${keys[0]}`, `a finding index in [0, ${classes - 1}]`, describeValue(k));
    }
    return { ...base, kind: keys[0] as 'hide' | 'add', label: k };
  }
  if (keys.length === 1 && keys[0] === 'target') {
    const t = o.target;
    if (!Array.isArray(t) || t.length !== classes || !t.every((v) => v === 0 || v === 1)) {
      throw new InvalidArgumentError(fn, `${argument}.target`, `a multi-hot row of ${classes} values 0 or 1`, describeValue(t));
    }
    return { ...base, kind: 'target', target: t.slice() as number[], targeted: true };
  }
  throw new InvalidArgumentError(fn, argument, expected, describeValue(value));
}

/** The labels the goal's functions read: the truth, or the target rows (a fixed `{ target }` row tiled). */
export function goalLabels(goal: Goal, labels: tf.Tensor): tf.Tensor {
  if (goal.task === 'multi-label' && goal.target) {
    const row = goal.target;
    return tf.tidy(() => tf.tile(tf.tensor2d(row, [1, row.length]), [labels.shape[0]!, 1]));
  }
  return labels;
}

function oneHotLabels(labels: tf.Tensor, c: number): tf.Tensor2D {
  return tf.tidy(() => (labels.rank === 1 ? tf.cast(tf.oneHot(tf.cast(labels, 'int32'), c), 'float32') : tf.cast(labels, 'float32')) as tf.Tensor2D);
}

/** The largest logit other than the one marked in `hot` (a one-hot `[N, C]`). */
function maxOther(logits: tf.Tensor2D, hot: tf.Tensor2D): tf.Tensor1D {
  return tf.max(tf.sub(logits, tf.mul(hot, 1e30)), 1) as tf.Tensor1D;
}

/**
 * Multi-label: the sign each logit should take (+1 present, −1 absent) and which findings count.
 * Returned as `[N, C]` tensors.
 */
function wanted(goal: Goal, labels: tf.Tensor, c: number): { desired: tf.Tensor2D; counted: tf.Tensor2D } {
  const y = tf.cast(labels, 'float32') as tf.Tensor2D;
  switch (goal.kind) {
    case 'hide':
    case 'add': {
      const hot = tf.tile(tf.oneHot(tf.tensor1d([goal.label], 'int32'), c), [labels.shape[0]!, 1]) as tf.Tensor2D;
      return { desired: tf.mul(goal.kind === 'add' ? 1 : -1, tf.onesLike(y)) as tf.Tensor2D, counted: tf.cast(hot, 'float32') as tf.Tensor2D };
    }
    case 'target':
      return { desired: tf.sub(tf.mul(2, y), 1) as tf.Tensor2D, counted: tf.onesLike(y) as tf.Tensor2D };
    default:
      return { desired: tf.sub(1, tf.mul(2, y)) as tf.Tensor2D, counted: tf.onesLike(y) as tf.Tensor2D };
  }
}

/** 'all' findings must reach their sign (min over them), or 'any' (max). */
function reduction(goal: Goal): 'min' | 'max' {
  return goal.kind === 'flip-any' ? 'max' : 'min';
}

/**
 * The goal margin `[N]`: positive exactly when the goal is met (up to ties).
 * Single-label untargeted: max_{j≠y} z_j − z_y; targeted: z_t − max_{j≠t} z_j. Multi-label: with
 * d_k = ±1 the wanted side of finding k, m_k = d_k·(z_k − τ), reduced by max ('flip-any') or min (every
 * other goal) over the findings that count. Defined for 2 classes and for a single logit.
 */
export function goalMargin(logits: tf.Tensor2D, labels: tf.Tensor, goal: Goal): tf.Tensor1D {
  return tf.tidy(() => {
    const c = logits.shape[1];
    if (goal.task === 'single-label') {
      const hot = oneHotLabels(labels, c);
      const own = tf.sum(tf.mul(logits, hot), 1);
      const other = maxOther(logits, hot);
      return (goal.targeted ? tf.sub(own, other) : tf.sub(other, own)) as tf.Tensor1D;
    }
    const { desired, counted } = wanted(goal, labels, c);
    const m = tf.mul(desired, tf.sub(logits, goal.tau));
    const big = tf.mul(tf.sub(1, counted), 1e30);
    return (reduction(goal) === 'max' ? tf.max(tf.sub(m, big), 1) : tf.min(tf.add(m, big), 1)) as tf.Tensor1D;
  });
}

/**
 * Whether the goal is met `[N]` (bool), from the predictions: single-label argmax (the first on ties)
 * differs from the label (equals the target when targeted); multi-label findings predicted when
 * z_k > τ, compared with the wanted sides as in {@link goalMargin}.
 */
export function goalSuccess(logits: tf.Tensor2D, labels: tf.Tensor, goal: Goal): tf.Tensor1D {
  return tf.tidy(() => {
    const c = logits.shape[1];
    if (goal.task === 'single-label') {
      const pred = tf.argMax(logits, 1);
      const truth = labels.rank === 1 ? tf.cast(labels, 'int32') : tf.argMax(labels, 1);
      return (goal.targeted ? tf.equal(pred, truth) : tf.notEqual(pred, truth)) as tf.Tensor1D;
    }
    const { desired, counted } = wanted(goal, labels, c);
    const reached = tf.equal(tf.greater(logits, goal.tau), tf.greater(desired, 0));
    const countedBool = tf.greater(counted, 0.5);
    return (reduction(goal) === 'max'
      ? tf.any(tf.logicalAnd(reached, countedBool), 1)
      : tf.all(tf.logicalOr(reached, tf.logicalNot(countedBool)), 1)) as tf.Tensor1D;
  });
}

/**
 * Which samples the goal applies to `[N]` (bool): all, except `{ hide: k }` (finding k present in the
 * truth) and `{ add: k }` (finding k absent in the truth). `labels` are the truth.
 */
export function goalEligible(labels: tf.Tensor, goal: Goal): tf.Tensor1D {
  return tf.tidy(() => {
    const n = labels.shape[0]!;
    if (goal.task !== 'multi-label' || (goal.kind !== 'hide' && goal.kind !== 'add')) return tf.ones([n], 'bool') as tf.Tensor1D;
    const present = tf.greater(tf.squeeze(tf.slice(labels, [0, goal.label], [n, 1]), [1]), 0.5);
    return (goal.kind === 'hide' ? present : tf.logicalNot(present)) as tf.Tensor1D;
  });
}

/** The per-sample loss an attack ascends. */
export type AscentLoss = 'ce' | 'margin' | 'dlr' | 'dlr-targeted';

/**
 * The loss `[N]` APGD ascends (a targeted goal is reached by ascending the negated loss):
 * - `'ce'`: single-label softmax cross-entropy of the label (negated when targeted); multi-label
 *   'flip-any' the mean sigmoid BCE of the truth (the task's loss), every other goal −mean BCE of the
 *   wanted sides over the findings that count;
 * - `'margin'`: {@link goalMargin}, except for multi-label goals that need several findings at once
 *   ('flip-all', a target set): Σ_k min(m_k, 0) over the findings that count (0 once the goal is met),
 *   which moves every finding still on the wrong side at each step, where the min would move one at a
 *   time (measured on a small multi-label test net, flip-all at ε = 0.3 in 20 steps: 33% success with the
 *   min, 83% with the sum);
 * - `'dlr'` (Croce & Hein 2020, eq. 6; C ≥ 3): −(z_y − max_{j≠y} z_j) / (z_π1 − z_π3 + 1e-12);
 * - `'dlr-targeted'` (their eq. 7; C ≥ 4): −(z_y − z_t) / (z_π1 − ½(z_π3 + z_π4) + 1e-12) with `targets`
 *   the target classes.
 * π sorts the logits in decreasing order. `targets` is needed only by `'dlr-targeted'`.
 */
export function ascentLoss(kind: AscentLoss, logits: tf.Tensor2D, labels: tf.Tensor, goal: Goal, targets?: tf.Tensor1D): tf.Tensor1D {
  return tf.tidy(() => {
    const c = logits.shape[1];
    if (kind === 'margin') {
      if (goal.task !== 'multi-label' || goal.kind === 'flip-any' || goal.kind === 'hide' || goal.kind === 'add' || c === 1) return goalMargin(logits, labels, goal);
      const { desired, counted } = wanted(goal, labels, c);
      return tf.sum(tf.mul(tf.minimum(tf.mul(desired, tf.sub(logits, goal.tau)), 0), counted), 1) as tf.Tensor1D;
    }
    if (kind === 'ce') {
      if (goal.task === 'single-label') {
        const ce = softmaxCrossEntropy(logits, labels);
        return (goal.targeted ? tf.neg(ce) : ce) as tf.Tensor1D;
      }
      const y = tf.cast(labels, 'float32');
      const bce = (z: tf.Tensor, t: tf.Tensor): tf.Tensor => tf.add(tf.sub(tf.relu(z), tf.mul(z, t)), tf.log1p(tf.exp(tf.neg(tf.abs(z)))));
      if (goal.kind === 'flip-any') return tf.mean(bce(logits, y), 1) as tf.Tensor1D;
      const { desired, counted } = wanted(goal, labels, c);
      const side = tf.div(tf.add(desired, 1), 2);
      const perLabel = tf.mul(bce(tf.sub(logits, goal.tau), side), counted);
      return tf.neg(tf.div(tf.sum(perLabel, 1), tf.sum(counted, 1))) as tf.Tensor1D;
    }
    // DLR: single-label, untargeted truth labels.
    const hot = oneHotLabels(labels, c);
    const own = tf.sum(tf.mul(logits, hot), 1);
    const ranked = sortedTop(logits, Math.min(c, 4));
    if (kind === 'dlr') {
      const denom = tf.add(tf.sub(ranked[0]!, ranked[2]!), 1e-12);
      return tf.div(tf.neg(tf.sub(own, maxOther(logits, hot))), denom) as tf.Tensor1D;
    }
    const targetHot = tf.cast(tf.oneHot(tf.cast(targets!, 'int32'), c), 'float32');
    const zt = tf.sum(tf.mul(logits, targetHot), 1);
    const lower = tf.mul(0.5, tf.add(ranked[2]!, ranked[3]!));
    return tf.div(tf.neg(tf.sub(own, zt)), tf.add(tf.sub(ranked[0]!, lower), 1e-12)) as tf.Tensor1D;
  });
}

/**
 * The k largest logits of each row, in decreasing order, as k tensors `[N]`, differentiable (each is a
 * max over the row with the larger ones masked; the masks carry no gradient).
 */
function sortedTop(logits: tf.Tensor2D, k: number): tf.Tensor1D[] {
  const c = logits.shape[1];
  const out: tf.Tensor1D[] = [];
  let taken: tf.Tensor = tf.zeros(logits.shape);
  for (let i = 0; i < k; i++) {
    const masked = tf.sub(logits, tf.mul(taken, 1e30));
    out.push(tf.max(masked, 1) as tf.Tensor1D);
    taken = tf.add(taken, tf.oneHot(tf.argMax(masked, 1), c));
  }
  return out;
}

/**
 * The target of APGD-T's targeted DLR: the class ranked `rank` (2 = the runner-up) in each row of the
 * clean logits, `[N]` int32.
 */
export function rankedClass(logits: tf.Tensor2D, rank: number): tf.Tensor1D {
  return tf.tidy(() => {
    const { indices } = tf.topk(logits, rank);
    return tf.squeeze(tf.slice(indices, [0, rank - 1], [logits.shape[0], 1]), [1]) as tf.Tensor1D;
  });
}
