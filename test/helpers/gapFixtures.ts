/**
 * Fixtures for the GAP tests: a small CNN trained on the toy 8×8 sets (the frozen classifier),
 * a tiny U-Net generator, weight snapshots, uniform-noise baselines and an in-memory checkpoint store.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { gapUnet } from '../../src/attacks/gapGenerators.js';
import type { CheckpointStore } from '../../src/types.js';
import { buildSmallNet, trainNet } from './smallNet.js';
import { toyMultiLabel, toySingleLabel, type ToySet } from './toyData.js';

export interface Classifier extends ToySet {
  net: tfl.LayersModel;
  fn: (x: tf.Tensor4D) => tf.Tensor2D;
  dispose(): void;
}

/** A small CNN trained on a seeded toy set (single-label: 3 classes; multi-label: 3 labels). */
export function trainedClassifier(task: 'single-label' | 'multi-label', n = 24): Classifier {
  const set = task === 'single-label' ? toySingleLabel({ n, seed: 11 }) : toyMultiLabel({ n, seed: 12 });
  const net = buildSmallNet({ inputShape: [8, 8, 1], outputs: 3, kind: 'cnn', seed: 5 });
  trainNet(net, set.images, set.labels, { steps: 60, lr: 0.02, task });
  return {
    ...set,
    net,
    fn: (x) => net.apply(x, { training: false }) as tf.Tensor2D,
    dispose: () => { tf.dispose([set.images, set.labels]); net.dispose(); },
  };
}

/** A tiny U-Net (8×8×1, ngf 4, depth 2). */
export function tinyGenerator(seed = 3): tfl.LayersModel {
  return gapUnet({ inputShape: [8, 8, 1], preset: 'small', ngf: 4, seed });
}

/** Copies of every weight's values (to compare bit for bit). */
export function weightValues(model: tfl.LayersModel): Float32Array[] {
  return model.getWeights().map((w) => Float32Array.from(w.dataSync()));
}

/** Fraction of images whose argmax changes under `adv`. */
export function argmaxChanged(fn: (x: tf.Tensor4D) => tf.Tensor2D, clean: tf.Tensor4D, adv: tf.Tensor4D): number {
  return tf.tidy(() => tf.mean(tf.cast(tf.notEqual(tf.argMax(fn(clean), 1), tf.argMax(fn(adv), 1)), 'float32')).dataSync()[0]!);
}

/** Uniform noise U(−ε, ε) added and clipped to [0, 1], averaged fooling rate over `draws` draws. */
export function noiseFoolingRate(fn: (x: tf.Tensor4D) => tf.Tensor2D, images: tf.Tensor4D, epsilon: number, draws = 5): number {
  let sum = 0;
  for (let d = 0; d < draws; d++) {
    const adv = tf.tidy(() => tf.clipByValue(tf.add(images, tf.randomUniform(images.shape, -epsilon, epsilon, 'float32', 100 + d)), 0, 1) as tf.Tensor4D);
    sum += argmaxChanged(fn, images, adv);
    adv.dispose();
  }
  return sum / draws;
}

/** An in-memory checkpoint store that counts saves. */
export function memoryStore<S>(): CheckpointStore<S> & { state: S | undefined; saves: number } {
  const store = {
    state: undefined as S | undefined,
    saves: 0,
    async save(s: S) { store.state = s; store.saves++; },
    async load() { return store.state; },
  };
  return store;
}

