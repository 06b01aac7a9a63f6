import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gaussianStartPgd } from '../../src/defenses/gaussianStartPgd.js';
import { softmaxCrossEntropy } from '../../src/internal/loss.js';
import { BACKENDS, useTestBackend } from '../helpers/backends.js';
import { maxAbsDiff } from '../helpers/close.js';
import { makeSplit, warmNet, type Split } from '../helpers/defenseFixtures.js';
import { expectNoLeak } from '../helpers/expectNoLeak.js';

// The inner attack of MART and TRADES (internal): the ε-ball stays around the ORIGINAL images.
describe.each(BACKENDS)('gaussianStartPgd on %s', (backend) => {
  let split: Split;
  beforeAll(async () => {
    await useTestBackend(backend);
    split = makeSplit();
  });
  afterAll(() => split.dispose());

  it('stays in the ε-ball around x and the clip range, raises the loss, and is seeded', () => {
    const model = warmNet(split, 'mlp', 3);
    const fn = (x: tf.Tensor4D) => model.apply(x, { training: false }) as tf.Tensor2D;
    const { images, labels } = split.batches[0]!;
    const objective = (z: tf.Tensor2D) => softmaxCrossEntropy(z, labels);
    const settings = { epsilon: 0.05, stepSize: 0.02, steps: 5, startStd: 0.001, clip: [0, 1] as const, seed: 4 };
    const adv = gaussianStartPgd(fn, images, objective, settings);
    const again = gaussianStartPgd(fn, images, objective, settings);
    const other = gaussianStartPgd(fn, images, objective, { ...settings, steps: 0, seed: 5 });
    const x = images.dataSync();
    expect(maxAbsDiff(adv.dataSync(), x)).toBeLessThanOrEqual(0.05 + 1e-6);
    expect(tf.min(adv).dataSync()[0]!).toBeGreaterThanOrEqual(0);
    expect(tf.max(adv).dataSync()[0]!).toBeLessThanOrEqual(1);
    expect(maxAbsDiff(adv.dataSync(), again.dataSync())).toBe(0);
    const loss = (t: tf.Tensor4D) => tf.sum(objective(fn(t))).dataSync()[0]!;
    expect(loss(adv)).toBeGreaterThan(loss(images));
    // Zero steps: the Gaussian start itself, within a few σ of x and not equal to it.
    const d = maxAbsDiff(other.dataSync(), x);
    expect(d).toBeGreaterThan(0);
    expect(d).toBeLessThan(0.006);
    tf.dispose([adv, again, other]);
    model.dispose();
  });

  it('does not leak tensors', async () => {
    const model = warmNet(split, 'mlp', 3);
    const fn = (x: tf.Tensor4D) => model.apply(x, { training: false }) as tf.Tensor2D;
    const { images, labels } = split.batches[0]!;
    await expectNoLeak(() => gaussianStartPgd(fn, images, (z) => softmaxCrossEntropy(z, labels), { epsilon: 0.05, stepSize: 0.02, steps: 2, startStd: 0.001, clip: 'batch', seed: 1 }));
    model.dispose();
  });
});
