/**
 * Shared setup of the defense tests: a tiny seeded training split in batches, a held-out split,
 * a warm start (a few clean steps, as the paper fine-tunes from pretrained weights rather than
 * training adversarially from scratch, which sits on the uniform-prediction plateau for long),
 * PGD robust accuracy, an in-memory checkpoint store and weight snapshots.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { pgd } from '../../src/attacks/pgd.js';
import type { Batch as LabeledBatch } from '../../src/types.js';
import type { CheckpointStore } from '../../src/types.js';
import { toySingleLabel, toyMultiLabel } from './toyData.js';
import { buildSmallNet, top1, trainNet } from './smallNet.js';

export interface Split {
  batches: LabeledBatch[];
  train: { images: tf.Tensor4D; labels: tf.Tensor };
  test: { images: tf.Tensor4D; labels: tf.Tensor };
  dispose(): void;
}

/** 48 training images in 3 batches of 16 and 48 held-out images (8×8×1, 3 classes or labels). */
export function makeSplit(task: 'single-label' | 'multi-label' = 'single-label', n = 48, batchSize = 16): Split {
  const train = task === 'single-label' ? toySingleLabel({ n, seed: 11 }) : toyMultiLabel({ n, seed: 21 });
  const test = task === 'single-label' ? toySingleLabel({ n, seed: 12 }) : toyMultiLabel({ n, seed: 22 });
  const batches: LabeledBatch[] = [];
  for (let i = 0; i < n; i += batchSize) {
    batches.push({ images: tf.slice(train.images, i, batchSize), labels: tf.slice(train.labels, i, batchSize) });
  }
  return {
    batches, train, test,
    dispose: () => tf.dispose([train.images, train.labels, test.images, test.labels, ...batches.flatMap((b) => [b.images, b.labels])]),
  };
}

/** A small net with a short clean warm start (30 full-batch Adam steps). */
export function warmNet(split: Split, kind: 'cnn' | 'mlp', seed = 7, task: 'single-label' | 'multi-label' = 'single-label'): tfl.LayersModel {
  const model = buildSmallNet({ inputShape: [8, 8, 1], outputs: 3, kind, seed });
  trainNet(model, split.train.images, split.train.labels, { steps: 30, lr: 0.02, task });
  return model;
}

/** Clean and PGD-10 robust top-1 accuracy on the held-out split. */
export function robustAccuracy(model: tfl.LayersModel, split: Split, epsilon: number): { clean: number; robust: number } {
  const fn = (x: tf.Tensor4D) => model.apply(x, { training: false }) as tf.Tensor2D;
  const adv = pgd(fn, split.test.images, split.test.labels, { epsilon, steps: 10, seed: 5 });
  try {
    return { clean: top1(fn, split.test.images, split.test.labels as tf.Tensor1D), robust: top1(fn, adv, split.test.labels as tf.Tensor1D) };
  } finally {
    adv.dispose();
  }
}

/** A checkpoint store in memory that counts saves. */
export function memoryStore<S>(): CheckpointStore<S> & { state: S | undefined; saves: number } {
  const store = {
    state: undefined as S | undefined,
    saves: 0,
    save: async (s: S) => { store.state = s; store.saves++; },
    load: async () => store.state,
  };
  return store;
}

/** All weights of a model as one flat array. */
export function flatWeights(model: tfl.LayersModel): number[] {
  return model.getWeights().flatMap((w) => Array.from(w.dataSync()));
}

/** Per-label accuracy (logit > 0 ⇔ label present), clean and under multi-label PGD-10. */
export function robustLabelAccuracy(model: tfl.LayersModel, split: Split, epsilon: number): { clean: number; robust: number } {
  const fn = (x: tf.Tensor4D) => model.apply(x, { training: false }) as tf.Tensor2D;
  const adv = pgd(fn, split.test.images, split.test.labels, { epsilon, steps: 10, seed: 5, task: 'multi-label' });
  const acc = (x: tf.Tensor4D) => tf.tidy(() => tf.mean(tf.cast(tf.equal(tf.greater(fn(x), 0), tf.greater(split.test.labels, 0.5)), 'float32')).dataSync()[0]!);
  try {
    return { clean: acc(split.test.images), robust: acc(adv) };
  } finally {
    adv.dispose();
  }
}

/**
 * Trains a warm-started net with `train` and, with the same seed, epochs and batches, a clean
 * baseline (the loop with no adversarial batches); returns both accuracies and a message with both.
 */
export async function versusClean(
  split: Split, kind: 'cnn' | 'mlp', epsilon: number, task: 'single-label' | 'multi-label',
  train: (model: tfl.LayersModel, common: { epochs: number; seed: number; task: 'single-label' | 'multi-label'; optimizer: tf.Optimizer }) => Promise<unknown>,
  epochs = 12,
): Promise<{ clean: { clean: number; robust: number }; defended: { clean: number; robust: number }; message: string }> {
  const { advTrain } = await import('../../src/defenses/advTrain.js');
  const measure = task === 'single-label' ? robustAccuracy : robustLabelAccuracy;
  const run = async (f: (m: tfl.LayersModel, c: { epochs: number; seed: number; task: 'single-label' | 'multi-label'; optimizer: tf.Optimizer }) => Promise<unknown>) => {
    const model = warmNet(split, kind, 7, task);
    const optimizer = tf.train.adam(0.01);
    await f(model, { epochs, seed: 3, task, optimizer });
    const result = measure(model, split, epsilon);
    optimizer.dispose();
    model.dispose();
    return result;
  };
  const clean = await run((m, c) => advTrain(m, split.batches, { ...c, generator: () => null }));
  const defended = await run(train);
  const message = `${task} ${kind}, PGD-10 at ε=${epsilon}: clean training robust ${clean.robust.toFixed(3)} (clean ${clean.clean.toFixed(3)}), defense robust ${defended.robust.toFixed(3)} (clean ${defended.clean.toFixed(3)})`;
  return { clean, defended, message };
}
