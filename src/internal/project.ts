/**
 * Projections onto the threat model and the valid input range, shared by attacks and defenses.
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ClipRange } from '../types.js';

/** Tiny constant that keeps norms away from 0 in divisions. */
const TINY = 1e-12;

/** Per-sample budget `[N]` as a `[N,1,1,1]` tensor for broadcasting. */
export function perSample(values: readonly number[]): tf.Tensor4D {
  return tf.tensor4d(values as number[], [values.length, 1, 1, 1]);
}

/** Per-sample L2 norm of a batch, shaped `[N,1,1,1]`. */
export function l2Norm(x: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => tf.sqrt(tf.sum(tf.square(x), [1, 2, 3], true)) as tf.Tensor4D);
}

/** Projects `adv` onto the L∞ ball of radius `eps` ([N,1,1,1]) around `clean`. */
export function projectLinf(adv: tf.Tensor4D, clean: tf.Tensor4D, eps: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => tf.add(clean, tf.minimum(tf.maximum(tf.sub(adv, clean), tf.neg(eps)), eps)) as tf.Tensor4D);
}

/** Projects `adv` onto the L2 ball of radius `eps` ([N,1,1,1]) around `clean`. */
export function projectL2(adv: tf.Tensor4D, clean: tf.Tensor4D, eps: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const delta = tf.sub(adv, clean);
    const norm = l2Norm(delta as tf.Tensor4D);
    const factor = tf.minimum(1, tf.div(eps, tf.maximum(norm, TINY)));
    return tf.add(clean, tf.mul(delta, factor)) as tf.Tensor4D;
  });
}

/**
 * sign(x) from two comparisons. The stock wasm `Sign` kernel (tfjs 4.22) returns 0 for |x| below
 * ~1e-7, which stalls L∞ attacks on confident models, whose input gradients are that small.
 */
export function exactSign(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.sub(tf.cast(tf.greater(x, 0), 'float32'), tf.cast(tf.less(x, 0), 'float32')));
}

/** The steepest-ascent direction of a gradient for a norm: sign(g) for L∞, g/‖g‖₂ for L2 (0 where g = 0). */
export function steepestDirection(gradient: tf.Tensor4D, norm: 'linf' | 'l2'): tf.Tensor4D {
  return tf.tidy(() => {
    if (norm === 'linf') return exactSign(gradient) as tf.Tensor4D;
    // Rescale by the per-sample max first, so squares of tiny gradients cannot underflow.
    const scale = tf.max(tf.abs(gradient), [1, 2, 3], true);
    const unit = tf.div(gradient, tf.maximum(scale, 1e-30)) as tf.Tensor4D;
    return tf.div(unit, tf.maximum(l2Norm(unit), TINY)) as tf.Tensor4D;
  });
}

/** Resolves a {@link ClipRange} to broadcastable lower/upper bounds, or null for no clipping. */
export function clipBounds(clip: ClipRange, clean: tf.Tensor4D): { lower: tf.Tensor; upper: tf.Tensor } | null {
  if (clip === null) return null;
  if (clip === 'batch') return { lower: tf.min(clean), upper: tf.max(clean) };
  if (Array.isArray(clip)) return { lower: tf.scalar((clip as readonly number[])[0]!), upper: tf.scalar((clip as readonly number[])[1]!) };
  const perChannel = clip as { min: readonly number[]; max: readonly number[] };
  return { lower: tf.tensor1d(perChannel.min as number[]), upper: tf.tensor1d(perChannel.max as number[]) };
}

/**
 * The per-value box of an L∞ attack: clip(Π_ball(y)) = clamp(y, max(x − ε, lo), min(x + ε, hi)), as x lies
 * inside [lo, hi]. `radius` is ε per image (broadcastable), zeroed outside a region-of-interest `mask`.
 * The caller owns the two tensors returned.
 */
export function linfBox(images: tf.Tensor4D, radius: tf.Tensor, mask: tf.Tensor | null | undefined, bounds: { lower: tf.Tensor; upper: tf.Tensor } | null): { lower: tf.Tensor; upper: tf.Tensor } {
  return tf.tidy(() => {
    const r = mask ? tf.mul(radius, mask) : radius;
    const lower = tf.sub(images, r);
    const upper = tf.add(images, r);
    return bounds ? { lower: tf.maximum(lower, bounds.lower), upper: tf.minimum(upper, bounds.upper) } : { lower, upper };
  });
}

/** Clips `x` to the bounds from {@link clipBounds} (identity when null). */
export function clipTo(x: tf.Tensor4D, bounds: { lower: tf.Tensor; upper: tf.Tensor } | null): tf.Tensor4D {
  if (bounds === null) return tf.clone(x);
  return tf.tidy(() => tf.minimum(tf.maximum(x, bounds.lower), bounds.upper) as tf.Tensor4D);
}
