/**
 * Slow (MEDROBUST_SLOW=1): the generated demo sets are learnable by the small CNN to > 90% clean
 * accuracy (per-label accuracy for the chest set) on held-out images, on wasm, in about a minute each.
 */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { batchesFromTensors } from '../../src/data/batchesFromTensors.js';
import { generateChestXrays } from '../../src/data/generateChestXrays.js';
import { generateLesions } from '../../src/data/generateLesions.js';
import type { LabeledImages } from '../../src/data/batchesFromTensors.js';
import { smallCnn } from '../../src/models/smallCnn.js';
import { useTestBackend } from '../helpers/backends.js';
import { ensureGradients } from '../models/trainStep.js';

async function trainAndScore(train: LabeledImages, test: LabeledImages, epochs: number): Promise<number> {
  const multi = train.task === 'multi-label';
  const net = smallCnn({ classes: train.classNames.length, seed: 1 });
  const opt = tf.train.adam(1e-3);
  const vars = net.trainableWeights.map((w) => w.read() as tf.Variable);
  const loss = (x: tf.Tensor4D, y: tf.Tensor): tf.Scalar => {
    const logits = net.apply(x, { training: true }) as tf.Tensor2D;
    return (multi ? tf.losses.sigmoidCrossEntropy(y, logits) : tf.losses.softmaxCrossEntropy(tf.oneHot(y as tf.Tensor1D, 2), logits)) as tf.Scalar;
  };
  const source = batchesFromTensors(train.images, train.labels, { batchSize: 32, shuffle: true, seed: 2 });
  for (let e = 0; e < epochs; e++) {
    for await (const { images, labels } of source) {
      opt.minimize(() => loss(images, labels), true, vars)?.dispose();
      tf.dispose([images, labels]);
    }
  }
  const acc = tf.tidy(() => {
    const logits = net.predict(test.images) as tf.Tensor2D;
    if (multi) return tf.mean(tf.cast(tf.equal(tf.cast(tf.greater(logits, 0), 'float32'), test.labels), 'float32'));
    return tf.mean(tf.cast(tf.equal(tf.argMax(logits, 1), test.labels), 'float32'));
  });
  const value = (await acc.data())[0]!;
  tf.dispose([acc]);
  opt.dispose();
  net.dispose();
  return value;
}

describe.skipIf(!process.env.MEDROBUST_SLOW)('generated demo data are learnable (wasm, slow)', () => {
  beforeAll(async () => {
    await useTestBackend('wasm');
    if (!(await ensureGradients())) throw new Error('the wasm gradient kernels (medrobust/backend) are needed');
  });

  it('lesions: > 90% test accuracy after 3 epochs on 2000 images', async () => {
    const [train, test] = [generateLesions({ count: 2000, seed: 1 }), generateLesions({ count: 500, seed: 2 })];
    expect(await trainAndScore(train, test, 3)).toBeGreaterThan(0.9);
    tf.dispose([train.images, train.labels, test.images, test.labels]);
  });

  it('chest: > 90% mean per-label test accuracy after 6 epochs on 2000 images', async () => {
    const [train, test] = [generateChestXrays({ count: 2000, seed: 1 }), generateChestXrays({ count: 500, seed: 2 })];
    expect(await trainAndScore(train, test, 6)).toBeGreaterThan(0.9);
    tf.dispose([train.images, train.labels, test.images, test.labels]);
  });
});
