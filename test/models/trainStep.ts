/**
 * Shared by the model tests: a few SGD steps on one tiny batch, returning the loss before and after.
 * On wasm the gradient kernels of medrobust/backend are registered first (stock wasm cannot train
 * conv nets, backend-notes.md).
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';

let registered = false;

/** Registers medrobust's wasm gradient kernels once, when the backend module provides them. */
export async function ensureGradients(): Promise<boolean> {
  if (registered) return true;
  const mod = (await import('../../src/backend/index.js')) as Record<string, unknown>;
  const reg = mod.registerWasmGradients as (() => unknown) | undefined;
  if (typeof reg !== 'function') return false;
  reg();
  registered = true;
  return true;
}

/** Loss of `model` on (images, labels): softmax CE on int labels, sigmoid BCE on multi-hot. */
function lossOf(model: tfl.LayersModel, images: tf.Tensor4D, labels: tf.Tensor, training: boolean): tf.Scalar {
  const out = model.apply(images, { training }) as tf.Tensor | tf.Tensor[];
  const logits = (Array.isArray(out) ? out[0] : out) as tf.Tensor2D;
  if (labels.rank === 1) return tf.losses.softmaxCrossEntropy(tf.oneHot(labels as tf.Tensor1D, logits.shape[1]), logits) as tf.Scalar;
  return tf.losses.sigmoidCrossEntropy(labels, logits) as tf.Scalar;
}

/**
 * Runs `steps` SGD steps; returns the loss on the batch before and after, in training mode (default: batch
 * norm then uses the batch's statistics, the ones SGD descended) or, with `training` false, in inference mode
 * on both sides (batch norm with its moving statistics: a smooth loss even where batch statistics over tiny
 * maps make the training-mode one chaotic).
 */
export async function trainSteps(model: tfl.LayersModel, images: tf.Tensor4D, labels: tf.Tensor, steps: number, learningRate = 0.05, training = true): Promise<{ before: number; after: number }> {
  const evalLoss = (): number => tf.tidy(() => lossOf(model, images, labels, training).dataSync()[0]!);
  const before = evalLoss();
  const opt = tf.train.sgd(learningRate);
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  try {
    for (let s = 0; s < steps; s++) {
      const cost = opt.minimize(() => lossOf(model, images, labels, training), true, vars);
      cost?.dispose();
    }
  } finally {
    opt.dispose();
  }
  return { before, after: evalLoss() };
}

/** Trainable and total parameter counts of a LayersModel. */
export function paramCounts(model: tfl.LayersModel): { trainable: number; total: number } {
  const size = (shape: readonly (number | null)[]): number => shape.reduce<number>((a, b) => a * (b ?? 1), 1);
  return { trainable: model.trainableWeights.reduce((s, w) => s + size(w.shape), 0), total: model.countParams() };
}
