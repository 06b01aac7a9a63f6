import * as tf from '@tensorflow/tfjs-core';
import { InvalidArgumentError, NonFiniteError } from '../errors.js';
import { entry } from '../internal/scope.js';
import { assertTensor } from '../internal/validate.js';

/**
 * Per-image norms of a perturbation, from {@link perturbationNorms}.
 * @category Metrics
 */
export interface PerturbationNorms {
  /** max |δ| per image. */
  linf: number[];
  /** ‖δ‖₂ per image. */
  l2: number[];
  /** ‖δ‖₁ per image. */
  l1: number[];
  /** Number of changed values per image (|δ| > 0). */
  l0: number[];
}

/**
 * The achieved size of each adversarial perturbation δ = adversarial − clean, per image, in the
 * units of the images (the norms Foolbox's tests check against `np.linalg.norm`). Report them next
 * to ε: an attack whose L∞ norm exceeds ε, or a clip range that silently shrinks it, shows here.
 * One read-back; no tensor is kept.
 *
 * @param clean - the clean images `[N, ...]` (any rank ≥ 1, first axis = images).
 * @param adversarial - the adversarial images, same shape.
 * @returns four arrays of N norms.
 * @throws {InvalidArgumentError} when the inputs are not tensors of one shape.
 * @throws {NonFiniteError} when either input holds NaN or ±Infinity values.
 *
 * @example
 * ```ts
 * const { linf } = perturbationNorms(images, adv); // every value ≤ ε (+ float error)
 * ```
 * @category Metrics
 */
export function perturbationNorms(clean: tf.Tensor, adversarial: tf.Tensor): PerturbationNorms {
  return entry('perturbationNorms', () => perturbationNormsBody(clean, adversarial));
}

function perturbationNormsBody(clean: tf.Tensor, adversarial: tf.Tensor): PerturbationNorms {
  const fn = 'perturbationNorms';
  const a = assertTensor(fn, 'clean', clean, [1, 2, 3, 4, 5], 'a tensor [N, ...] of images');
  const b = assertTensor(fn, 'adversarial', adversarial, [a.rank], `a tensor of shape [${a.shape.join(',')}] like clean`);
  if (b.shape.some((d, i) => d !== a.shape[i])) throw new InvalidArgumentError(fn, 'adversarial', `a tensor of shape [${a.shape.join(',')}] like clean`, `shape [${b.shape.join(',')}]`);
  const n = a.shape[0]!;
  if (a.size === 0) throw new InvalidArgumentError(fn, 'clean', 'a non-empty tensor', `shape [${a.shape.join(',')}]`);
  const stats = tf.tidy(() => {
    const delta = tf.reshape(tf.sub(tf.cast(b, 'float32'), tf.cast(a, 'float32')), [n, -1]);
    const abs = tf.abs(delta);
    return tf.stack([tf.max(abs, 1), tf.sqrt(tf.sum(tf.square(delta), 1)), tf.sum(abs, 1), tf.sum(tf.cast(tf.greater(abs, 0), 'float32'), 1)]);
  });
  const v = stats.dataSync();
  stats.dispose();
  if (!v.every(Number.isFinite)) {
    const bad = [['clean', a], ['adversarial', b]].find(([, t]) => !tf.tidy(() => tf.all(tf.isFinite(tf.cast(t as tf.Tensor, 'float32'))).dataSync()[0]));
    throw new NonFiniteError(fn, bad ? `${bad[0]} images` : 'perturbation norms', 'they hold NaN or ±Infinity values: a norm of them means nothing');
  }
  const row = (r: number): number[] => Array.from(v.subarray(r * n, (r + 1) * n));
  return { linf: row(0), l2: row(1), l1: row(2), l0: row(3) };
}
