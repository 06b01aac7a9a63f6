/**
 * Small seeded networks for tests, and a plain training loop (no tfjs-layers fit) so that tests
 * control every step. `kind: 'cnn'` needs conv gradients (stock wasm lacks them until
 * registerWasmGradients); `kind: 'mlp'` trains on any backend.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { sigmoidBinaryCrossEntropy, softmaxCrossEntropy } from '../../src/internal/loss.js';
import type { Task } from '../../src/types.js';

export function buildSmallNet(options: { inputShape: [number, number, number]; outputs: number; kind?: 'cnn' | 'mlp'; seed?: number }): tfl.LayersModel {
  const { inputShape, outputs, kind = 'cnn', seed = 7 } = options;
  const init = (s: number) => tfl.initializers.glorotUniform({ seed: seed + s });
  const layers: tfl.layers.Layer[] =
    kind === 'cnn'
      ? [
          tfl.layers.conv2d({ inputShape, filters: 6, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: init(1) }),
          tfl.layers.maxPooling2d({ poolSize: 2 }),
          tfl.layers.flatten(),
          tfl.layers.dense({ units: 16, activation: 'relu', kernelInitializer: init(2) }),
          tfl.layers.dense({ units: outputs, kernelInitializer: init(3) }),
        ]
      : [
          tfl.layers.flatten({ inputShape }),
          tfl.layers.dense({ units: 24, activation: 'relu', kernelInitializer: init(2) }),
          tfl.layers.dense({ units: outputs, kernelInitializer: init(3) }),
        ];
  return tfl.sequential({ layers });
}

/** Full-batch Adam training for `steps` steps; returns the final loss. */
export function trainNet(model: tfl.LayersModel, images: tf.Tensor4D, labels: tf.Tensor, options: { steps?: number; lr?: number; task?: Task } = {}): number {
  const { steps = 60, lr = 0.02, task = 'single-label' } = options;
  const optimizer = tf.train.adam(lr);
  const lossFn = task === 'multi-label' ? sigmoidBinaryCrossEntropy : softmaxCrossEntropy;
  let last = NaN;
  for (let s = 0; s < steps; s++) {
    const cost = optimizer.minimize(() => tf.mean(lossFn(model.apply(images, { training: true }) as tf.Tensor2D, labels)) as tf.Scalar, true);
    if (s === steps - 1) last = cost!.dataSync()[0]!;
    cost?.dispose();
  }
  optimizer.dispose();
  return last;
}

/** Top-1 accuracy of a model on class-index labels. */
export function top1(model: (x: tf.Tensor4D) => tf.Tensor2D, images: tf.Tensor4D, labels: tf.Tensor1D): number {
  return tf.tidy(() => tf.mean(tf.cast(tf.equal(tf.argMax(model(images), 1), tf.cast(labels, 'int32')), 'float32')).dataSync()[0]!);
}
