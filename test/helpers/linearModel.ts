/**
 * A linear classifier logits = flatten(x)·W + b with a closed-form input gradient, for exact tests
 * (CleverHans habit: the optimal one-step perturbation of a linear model is known in closed form).
 */
import * as tf from '@tensorflow/tfjs-core';
import { createRng } from '../../src/internal/random.js';

export interface LinearModel {
  model: (x: tf.Tensor4D) => tf.Tensor2D;
  weights: Float64Array; // [D, C] row-major
  bias: Float64Array;
  dims: number;
  classes: number;
  dispose(): void;
}

export function linearModel(dims: number, classes: number, seed = 3): LinearModel {
  const rng = createRng(seed);
  const weights = Float64Array.from({ length: dims * classes }, () => rng.normal());
  const bias = Float64Array.from({ length: classes }, () => 0.1 * rng.normal());
  const w = tf.tensor2d(Float32Array.from(weights), [dims, classes]);
  const b = tf.tensor1d(Float32Array.from(bias));
  return {
    model: (x) => tf.add(tf.matMul(tf.reshape(x, [x.shape[0], -1]), w), b) as tf.Tensor2D,
    weights, bias, dims, classes,
    dispose: () => { w.dispose(); b.dispose(); },
  };
}

/** ∂CE/∂x for one flattened sample x with class index y: W·(softmax(z) − onehot(y)). */
export function linearCeGradient(m: LinearModel, x: ArrayLike<number>, y: number): Float64Array {
  const z = new Float64Array(m.classes);
  for (let k = 0; k < m.classes; k++) {
    let s = m.bias[k]!;
    for (let d = 0; d < m.dims; d++) s += x[d]! * m.weights[d * m.classes + k]!;
    z[k] = s;
  }
  const zmax = Math.max(...z);
  const e = z.map((v) => Math.exp(v - zmax));
  const total = e.reduce((a, b) => a + b, 0);
  const g = new Float64Array(m.dims);
  for (let d = 0; d < m.dims; d++) {
    let s = 0;
    for (let k = 0; k < m.classes; k++) s += m.weights[d * m.classes + k]! * (e[k]! / total - (k === y ? 1 : 0));
    g[d] = s;
  }
  return g;
}
