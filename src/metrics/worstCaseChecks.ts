/**
 * The sanity checks of {@link evaluateWorstCase}: signs that an evaluation is unreliable, each with a
 * message that says what to do (after Carlini et al. 2019's checklist and AutoAttack's flags). They
 * warn through the library's warning channel and are listed in the report.
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import { goalMargin, type Goal } from '../internal/goals.js';
import { inputGradient } from '../internal/inputGradient.js';
import { withInputGradientOnly } from '../internal/inputGradientOnly.js';
import { looksLikeProbabilities, warnOnce, type WarningCode } from '../internal/warnings.js';
import type { ModelFn, Task } from '../types.js';

/**
 * A warning of {@link evaluateWorstCase}: its code (see the threat-models guide) and message.
 * @category Metrics
 */
export interface WorstCaseWarning {
  /** The stable code, e.g. `'MEDROBUST_GRADIENT'`. */
  code: string;
  /** What was seen and what to do. */
  message: string;
}

/** Emits the warning (once per process per code) and returns it for the report. */
export function raise(code: WarningCode, message: string): WorstCaseWarning {
  warnOnce(code, message);
  return { code, message };
}

/** The clean outputs all lie in [0, 1] (and sum to 1 per image for single-label): probabilities. */
export function checkProbabilities(fn: string, values: ArrayLike<number>, c: number, task: Task): WorstCaseWarning | null {
  if (!looksLikeProbabilities(values, c, task)) return null;
  return raise('MEDROBUST_PROBABILITIES', `${fn}: the model's outputs all lie in [0, 1]${task === 'single-label' ? ' and sum to 1 per image' : ''}: they look like probabilities, but attacks expect logits (a softmax/sigmoid output saturates and hides the gradient, and margins are squeezed into [−1, 1]). Remove the final activation, or wrap the model to return logits.`);
}

/** Calls the model twice more on `images` and compares with `first` (its logits, `[n, C]`). */
export function checkStochastic(fn: string, modelFn: ModelFn, images: tf.Tensor4D, first: ArrayLike<number>): WorstCaseWarning | null {
  let worst = 0;
  let scale = 0;
  for (let k = 0; k < 2; k++) {
    const out = tf.tidy(() => modelFn(images));
    const again = out.dataSync();
    out.dispose();
    for (let i = 0; i < again.length; i++) {
      worst = Math.max(worst, Math.abs(again[i]! - first[i]!));
      scale = Math.max(scale, Math.abs(first[i]!));
    }
  }
  if (!(worst > 1e-6 * (1 + scale))) return null;
  return raise('MEDROBUST_STOCHASTIC', `${fn}: the model returned different logits for the same images on repeated calls (largest difference ${worst.toPrecision(3)}): it is randomised (dropout or batch statistics in training mode, random input transforms or noise). Gradient attacks then follow one random draw per step and the robust accuracy changes from run to run. Evaluate the model in inference mode; for a randomised defence, attack the expectation (Expectation over Transformation: a ModelFn that averages the logits of several calls) and report the spread over repeated evaluations.`);
}

/**
 * The input gradient of the goal margin at the clean images (the ones not already broken): exactly 0,
 * NaN/Infinity, or vanishing (the first-order change over the whole ε-ball, ε·‖∇‖_dual, below 1e-6 of
 * max(1, |margin|)).
 */
export function checkGradients(fn: string, modelFn: ModelFn, images: tf.Tensor4D, labels: tf.Tensor, goal: Goal, epsilon: number, norm: 'linf' | 'l2', mask: tf.Tensor4D | null): WorstCaseWarning | null {
  const n = images.shape[0];
  const stats = tf.tidy(() => {
    const { grad, aux } = withInputGradientOnly(() => inputGradient((x) => {
      const m = goalMargin(modelFn(x as tf.Tensor4D), labels, goal);
      return { loss: tf.sum(m) as tf.Scalar, aux: [m] };
    }, images));
    const g = tf.reshape(mask ? tf.mul(grad, tf.cast(mask, 'float32')) : grad, [n, -1]);
    const finite = tf.isFinite(g);
    const safe = tf.where(finite, g, tf.zerosLike(g));
    const dual = norm === 'linf' ? tf.sum(tf.abs(safe), 1) : tf.sqrt(tf.sum(tf.square(safe), 1));
    return tf.concat([tf.cast(tf.any(tf.logicalNot(finite), 1), 'float32'), tf.max(tf.abs(safe), 1), dual, tf.abs(aux[0]!)]);
  });
  const v = stats.dataSync();
  stats.dispose();
  let bad = 0;
  let zero = 0;
  let vanishing = 0;
  for (let i = 0; i < n; i++) {
    if (v[i]! > 0) bad++;
    else if (v[n + i] === 0) zero++;
    else if (epsilon > 0 && epsilon * v[2 * n + i]! < 1e-6 * Math.max(1, v[3 * n + i]!)) vanishing++;
  }
  if (bad + zero + vanishing === 0) return null;
  const parts = [zero > 0 ? `exactly 0 for ${zero}` : '', bad > 0 ? `NaN or Infinity for ${bad}` : '', vanishing > 0 ? `vanishing for ${vanishing} (ε·‖∇‖ below a millionth of the margin)` : ''].filter(Boolean);
  return raise('MEDROBUST_GRADIENT', `${fn}: at the clean images the input gradient of the margin is ${parts.join(', ')} of the ${n} checked: gradient attacks cannot move there, so their robust accuracy is over-stated (gradient masking). Look for a non-differentiable step in the model (rounding or quantisation, a lookup, an argmax), a saturated softmax/sigmoid output, or a log/sqrt of 0; for the evaluation, replace it by a differentiable approximation in the backward pass (BPDA), and trust the black-box rows (Square Attack) meanwhile.`);
}

/** Robust accuracy left at an ε that allows every valid input. */
export function largeEpsilonWarning(fn: string, epsilon: number, robust: number, checked: number): WorstCaseWarning | null {
  if (robust === 0) return null;
  return raise('MEDROBUST_LARGE_EPSILON', `${fn}: at ε = ${epsilon.toPrecision(4)}, which allows every input in the clip range, APGD left ${robust} of ${checked} images correctly classified: a sound attack reaches 0 there unless the model predicts the same class for every possible input. The gradients are probably masked, or the threat model is misconfigured (ε in other units than the images, normalisation outside the model, a wrong clip range). Check the other warnings, run Square Attack with more queries, and make sure ε is in the units of the images.`);
}

/** Robust accuracy rising with ε, over rows sorted by ε. */
export function checkMonotone(fn: string, rows: ReadonlyArray<{ epsilon: number; robustAccuracy: number; robustCount: number }>): WorstCaseWarning | null {
  const sorted = [...rows].sort((a, b) => a.epsilon - b.epsilon);
  for (let i = 0; i < sorted.length; i++) {
    for (let j = i + 1; j < sorted.length; j++) {
      const [a, b] = [sorted[i]!, sorted[j]!];
      if (b.epsilon > a.epsilon && b.robustCount > a.robustCount) {
        return raise('MEDROBUST_NON_MONOTONE', `${fn}: robust accuracy rises with ε: ${a.robustAccuracy.toFixed(4)} at ε = ${a.epsilon} but ${b.robustAccuracy.toFixed(4)} at ε = ${b.epsilon}. A larger ball contains the smaller one, so a reliable attack never does worse with a larger budget: the attacks fail at the larger ε (gradient masking, or too few steps/restarts). Increase steps, restarts and Square queries, check the gradient warnings, and read the lower accuracy as an upper bound for both budgets.`);
      }
    }
  }
  return null;
}

/** Black-box attacks (noise, Square) broke images that the white-box attacks before them left robust. */
export function blackBoxWarning(fn: string, epsilon: number, broken: ReadonlyArray<{ name: string; broken: number; attacked: number }>): WorstCaseWarning | null {
  const hits = broken.filter((b) => b.broken > 0);
  if (hits.length === 0) return null;
  const attacked = broken[0]!.attacked;
  return raise('MEDROBUST_BLACK_BOX', `${fn}: at ε = ${epsilon}, black-box attacks broke images the white-box attacks left robust (${hits.map((h) => `${h.name}: ${h.broken}`).join(', ')}, of ${attacked} still robust): the gradients mislead (gradient masking), so gradient-based figures such as PGD's over-state robustness. The worst case includes these images; check the gradient warnings, and expect more Square queries or restarts to break more.`);
}
