/**
 * The loop shared by fgsm and pgd (Foolbox's six lines: gradient, direction, step, project, clip),
 * plus option parsing and validation. Everything is validated before the first allocation.
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import { InvalidArgumentError } from '../errors.js';
import { toModelFn } from '../model.js';
import type { ClipRange, LossFn, Model, ModelFn, Task } from '../types.js';
import { withInputGradientOnly } from './inputGradientOnly.js';
import { taskLoss, totalLoss } from './loss.js';
import { clipBounds, clipTo, l2Norm, perSample, projectL2, projectLinf, steepestDirection } from './project.js';
import { createRng, drawSeed } from './random.js';
import {
  assertBoolean, assertClip, assertFunction, assertImages, assertImageValues, assertKnownKeys, assertLabelsShape,
  assertNumber, assertOneOf, assertOptionalNumber, assertOptionsObject, assertPerSample, describeValue,
} from './validate.js';

export type Norm = 'linf' | 'l2';

/** A fully validated attack configuration. */
export interface AttackPlan {
  fn: string;
  modelFn: ModelFn;
  lossFn: LossFn;
  labels: tf.Tensor;
  epsilon: number[];
  stepSize: number[];
  norm: Norm;
  steps: number;
  randomStart: boolean;
  restarts: number;
  targeted: boolean;
  clip: ClipRange;
  seed: number;
  /** Checks the model's logits against the labels (shapes only; the label values were read once). */
  checkLogits: (logits: tf.Tensor2D) => void;
}

/** Option keys every gradient attack accepts. */
export const COMMON_KEYS = ['epsilon', 'norm', 'targeted', 'clip', 'task', 'loss'] as const;

/**
 * Validates the arguments of a gradient attack and resolves the defaults.
 * `extra` supplies the per-attack fields (stepSize, steps, ...), already validated by the caller.
 */
export function planAttack(
  fn: string,
  model: Model,
  images: unknown,
  labels: unknown,
  rawOptions: unknown,
  knownKeys: readonly string[],
  resolveExtra: (o: Record<string, unknown>, epsilon: number[], n: number) => Pick<AttackPlan, 'stepSize' | 'steps' | 'randomStart' | 'restarts' | 'seed'>,
): { plan: AttackPlan; images: tf.Tensor4D } {
  const o = assertOptionsObject(fn, rawOptions);
  assertKnownKeys(fn, o, knownKeys);
  const modelFn = toModelFn(model, fn);
  const x = assertImages(fn, 'images', images);
  const n = x.shape[0];
  const task = assertOneOf<Task>(fn, 'options.task', o.task, ['single-label', 'multi-label']) ?? 'single-label';
  const y = assertLabelsShape(fn, 'labels', labels, n, task);
  if (o.epsilon === undefined) throw new InvalidArgumentError(fn, 'options.epsilon', 'a finite number >= 0 or an array of them, one per image (it has no default: the budget is the experiment)', 'undefined');
  const epsilon = assertPerSample(fn, 'options.epsilon', o.epsilon, n, { min: 0 });
  const norm = assertOneOf<Norm>(fn, 'options.norm', o.norm, ['linf', 'l2']) ?? 'linf';
  const targeted = assertBoolean(fn, 'options.targeted', o.targeted) ?? false;
  const clip = (o.clip === undefined ? [0, 1] : o.clip) as ClipRange;
  assertClip(fn, 'options.clip', clip, x.shape[3]);
  assertFunction(fn, 'options.loss', o.loss);
  const lossFn = (o.loss as LossFn | undefined) ?? taskLoss(task);
  const extra = resolveExtra(o, epsilon, n);

  const labelInfo = readLabels(fn, y, task);
  assertImageValues(fn, 'images', x, clip);
  const checkLogits = (logits: tf.Tensor2D): void => {
    const c = logits.shape[1];
    if (y.rank === 2 && y.shape[1] !== c) {
      throw new InvalidArgumentError(fn, 'labels', `a [${n}, ${c}] tensor to match the model's ${c} logits`, `shape [${y.shape.join(',')}]`);
    }
    if (y.rank === 1 && labelInfo.maxIndex >= c) {
      throw new InvalidArgumentError(fn, 'labels', `class indices in [0, ${c - 1}] for the model's ${c} logits`, `index ${labelInfo.maxIndex}`);
    }
    if (task === 'single-label' && c < 2 && !o.loss) {
      throw new InvalidArgumentError(fn, 'model', "at least 2 logits for task 'single-label' (a single-logit sigmoid model is task 'multi-label' with one label)", `${c} logit`);
    }
  };
  return { plan: { fn, modelFn, lossFn, labels: y, epsilon, norm, targeted, clip, checkLogits, ...extra }, images: x };
}

/** Reads the labels once: integer indices >= 0, or rows in [0,1] (summing to 1 for single-label). */
function readLabels(fn: string, labels: tf.Tensor, task: Task): { maxIndex: number } {
  const values = labels.dataSync();
  if (labels.rank === 1) {
    let maxIndex = 0;
    values.forEach((v, i) => {
      if (!Number.isInteger(v) || v < 0) throw new InvalidArgumentError(fn, `labels[${i}]`, 'a non-negative integer class index', describeValue(v));
      maxIndex = Math.max(maxIndex, v);
    });
    return { maxIndex };
  }
  const c = labels.shape[1]!;
  values.forEach((v, i) => {
    if (!(v >= 0 && v <= 1)) {
      throw new InvalidArgumentError(fn, `labels[${Math.floor(i / c)}][${i % c}]`, task === 'multi-label' ? 'a multi-hot value in [0, 1]' : 'a one-hot value in [0, 1]', describeValue(v));
    }
  });
  if (task === 'single-label') {
    for (let r = 0; r < values.length / c; r++) {
      let s = 0;
      for (let k = 0; k < c; k++) s += values[r * c + k]!;
      if (Math.abs(s - 1) > 1e-3) throw new InvalidArgumentError(fn, `labels[${r}]`, "a one-hot row summing to 1 (multi-hot labels need task: 'multi-label')", `a row summing to ${s}`);
    }
  }
  return { maxIndex: 0 };
}

/** Resolves `seed`: validated when given, drawn once otherwise. */
export function resolveSeed(fn: string, value: unknown): number {
  return assertOptionalNumber(fn, 'options.seed', value, { integer: true, min: 0 }) ?? drawSeed();
}

/** Validates a positive integer option with a default. */
export function intOption(fn: string, o: Record<string, unknown>, key: string, fallback: number, min = 1): number {
  return o[key] === undefined ? fallback : assertNumber(fn, `options.${key}`, o[key], { integer: true, min });
}

/**
 * Runs the attack: optional random start, `steps` steepest-ascent steps of `stepSize` projected on
 * the ε-ball and clipped, repeated `restarts` times keeping each sample's worst case (highest loss,
 * or lowest when targeted).
 * @returns a new tensor owned by the caller.
 */
export function runGradientAttack(images: tf.Tensor4D, plan: AttackPlan): tf.Tensor4D {
  const { modelFn, lossFn, labels, norm, steps, randomStart, restarts, targeted, checkLogits } = plan;
  const rng = createRng(plan.seed);
  const keep: tf.Tensor[] = [];
  try {
    const eps = perSample(plan.epsilon);
    const alpha = perSample(plan.stepSize);
    keep.push(eps, alpha);
    const bounds = clipBounds(plan.clip, images);
    if (bounds) keep.push(bounds.lower, bounds.upper);
    const project = norm === 'linf' ? projectLinf : projectL2;
    const sign = targeted ? -1 : 1;
    const perSampleLoss = (x: tf.Tensor4D): tf.Tensor => {
      const logits = modelFn(x);
      checkLogits(logits);
      return lossFn(logits, labels);
    };
    const gradient = tf.grad((x: tf.Tensor) => totalLoss(perSampleLoss(x as tf.Tensor4D)));
    const signedAlpha = tf.mul(alpha, sign);
    keep.push(signedAlpha);
    // clip(Π_ball(y)) = clamp(y, max(x − ε, lo), min(x + ε, hi)) for L∞, as x lies inside [lo, hi].
    const box = norm === 'linf' ? tf.tidy(() => {
      const lower = tf.sub(images, eps);
      const upper = tf.add(images, eps);
      return bounds ? { lower: tf.maximum(lower, bounds.lower), upper: tf.minimum(upper, bounds.upper) } : { lower, upper };
    }) : null;
    if (box) keep.push(box.lower, box.upper);

    let best: tf.Tensor4D | null = null;
    let bestLoss: tf.Tensor | null = null;
    for (let r = 0; r < restarts; r++) {
      let adv = randomStart ? tf.tidy(() => clipTo(project(tf.add(images, randomDelta(images, eps, norm, rng)) as tf.Tensor4D, images, eps), bounds)) : tf.clone(images);
      for (let t = 0; t < steps; t++) {
        const next = tf.tidy(() => {
          const step = tf.mul(signedAlpha, steepestDirection(withInputGradientOnly(() => gradient(adv)) as tf.Tensor4D, norm));
          const moved = tf.add(adv, step) as tf.Tensor4D;
          // L∞: projection and clip are one clamp to a box computed once per call.
          return box ? (tf.minimum(tf.maximum(moved, box.lower), box.upper) as tf.Tensor4D) : clipTo(project(moved, images, eps), bounds);
        });
        adv.dispose();
        adv = next;
      }
      if (restarts === 1) return adv;
      const loss = tf.tidy(() => {
        const l = perSampleLoss(adv);
        return l.rank === 0 ? tf.fill([images.shape[0]], l.dataSync()[0]!) : l;
      });
      if (best === null || bestLoss === null) {
        best = adv;
        bestLoss = loss;
        continue;
      }
      const [nextBest, nextLoss] = tf.tidy(() => {
        const better = targeted ? tf.less(loss, bestLoss!) : tf.greater(loss, bestLoss!);
        const mask = tf.reshape(better, [-1, 1, 1, 1]);
        return [tf.where(tf.broadcastTo(mask, images.shape), adv, best!) as tf.Tensor4D, tf.where(better, loss, bestLoss!)];
      });
      best.dispose(); bestLoss.dispose(); adv.dispose(); loss.dispose();
      best = nextBest; bestLoss = nextLoss;
    }
    bestLoss?.dispose();
    return best!;
  } finally {
    keep.forEach((t) => t.dispose());
  }
}

/**
 * A random start inside the ball. One noise pattern is drawn per restart and scaled by each
 * sample's ε, so a sample's result never depends on the batch it is in (batch consistency).
 * L∞: U(−ε, ε) per value. L2: uniform in the ball (Gaussian direction, radius ε·u^{1/d}).
 */
function randomDelta(images: tf.Tensor4D, eps: tf.Tensor4D, norm: Norm, rng: ReturnType<typeof createRng>): tf.Tensor4D {
  const [, h, w, c] = images.shape;
  if (norm === 'linf') return tf.mul(eps, tf.randomUniform([1, h, w, c], -1, 1, 'float32', rng.nextSeed())) as tf.Tensor4D;
  const direction = tf.randomNormal([1, h, w, c], 0, 1, 'float32', rng.nextSeed()) as tf.Tensor4D;
  const radius = Math.pow(rng.next(), 1 / (h * w * c));
  return tf.mul(eps, tf.mul(radius, tf.div(direction, tf.maximum(l2Norm(direction), 1e-12)))) as tf.Tensor4D;
}
