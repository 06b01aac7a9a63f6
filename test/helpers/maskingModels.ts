/**
 * Models built to make an evaluation unreliable, each wrapping a normal model, for the sanity checks of
 * evaluateWorstCase and the gradient checks of apgd: gradient masking (a non-differentiable input
 * quantiser, a saturated softmax head), a stochastic model, a model whose gradient lies (robust accuracy
 * rises with ε), and a model that predicts one class almost everywhere.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ModelFn } from '../../src/types.js';

/** Rounds the input to `levels` + 1 grey levels first: tf.round has a zero gradient, so gradients vanish. */
export function quantised(model: ModelFn, levels = 4): ModelFn {
  return (x) => tf.tidy(() => model(tf.div(tf.round(tf.mul(x, levels)), levels) as tf.Tensor4D));
}

/** Returns softmax(scale · logits): probabilities, saturated to 0 and 1 in float32. */
export function saturatedSoftmax(model: ModelFn, scale = 200): ModelFn {
  return (x) => tf.tidy(() => tf.softmax(tf.mul(scale, model(x))) as tf.Tensor2D);
}

/** Adds unseeded Gaussian noise to the logits on every call (a randomised defence). */
export function noisy(model: ModelFn, sd = 0.5): ModelFn {
  return (x) => tf.tidy(() => tf.add(model(x), tf.randomNormal(model(x).shape, 0, sd)) as tf.Tensor2D);
}

/**
 * Single-pixel images (x in [0, 1], clean at `center`): class 1 wins exactly when the image moved by
 * 0.049 < |x − center| ≤ 0.0501 (a thin shell), class 0 otherwise. Its gradient is replaced by that of
 * −|x − center|·(z₀ − z₁) direction pushing outward: gradient attacks reach the shell at ε = 0.05 (the
 * box corner) but jump past it at larger ε, so their robust accuracy rises with ε.
 */
export function shellModel(center: number): ModelFn {
  const lie = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [x, save] = args as [tf.Tensor, tf.GradSaveFunc];
    const d = tf.abs(tf.sub(x, center));
    const inShell = tf.logicalAnd(tf.greater(d, 0.049), tf.lessEqual(d, 0.0501));
    const margin = tf.where(inShell, tf.fill(d.shape, -1), tf.fill(d.shape, 1)); // z0 − z1
    save([x]);
    return {
      value: tf.reshape(margin, [x.shape[0]!, 1]),
      // d(z0 − z1)/dx = −sign(x − center): ascending the loss of class 0 moves x away from the centre.
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.mul(tf.reshape(dy, saved[0]!.shape), tf.neg(tf.sign(tf.sub(saved[0]!, center)))),
    };
  });
  return (x) => tf.tidy(() => {
    const m = lie(x) as tf.Tensor2D;
    return tf.concat([tf.mul(m, 2), tf.zerosLike(m)], 1) as tf.Tensor2D;
  });
}

/** A linear model whose class 0 has so large a bias that it wins on every input in [0, 1]. */
export function biasedModel(model: ModelFn, bias = 1000): ModelFn {
  return (x) => tf.tidy(() => {
    const z = model(x);
    const c = z.shape[1];
    return tf.add(z, tf.mul(tf.oneHot(tf.zeros([1], 'int32') as tf.Tensor1D, c), bias)) as tf.Tensor2D;
  });
}
