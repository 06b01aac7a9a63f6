import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryBudgetError } from '../../src/errors.js';
import { innerPgd, type InnerPgdSettings } from '../../src/defenses/innerPgd.js';
import { softmaxCrossEntropy } from '../../src/internal/loss.js';
import { BACKENDS, useTestBackend } from '../helpers/backends.js';
import { maxAbsDiff } from '../helpers/close.js';
import { makeSplit, warmNet, type Split } from '../helpers/defenseFixtures.js';
import { expectNoLeak } from '../helpers/expectNoLeak.js';
import { buildSmallNet } from '../helpers/smallNet.js';
import { toySingleLabel } from '../helpers/toyData.js';

const BASE: InnerPgdSettings = {
  epsilon: 0.05, stepSize: 0.02, steps: 5, channelScale: null, start: 'gaussian', startStd: 0.001, clipStart: true, clip: [0, 1], seed: 4,
};

// The inner attack of MART, TRADES and MPAdvT (internal): the ε-ball stays around the ORIGINAL images.
describe.each(BACKENDS)('innerPgd on %s', (backend) => {
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
    for (const start of ['gaussian', 'uniform'] as const) {
      const adv = innerPgd(fn, images, objective, { ...BASE, start });
      const again = innerPgd(fn, images, objective, { ...BASE, start });
      const x = images.dataSync();
      expect(maxAbsDiff(adv.dataSync(), x)).toBeLessThanOrEqual(0.05 + 1e-6);
      expect(tf.min(adv).dataSync()[0]!).toBeGreaterThanOrEqual(0);
      expect(tf.max(adv).dataSync()[0]!).toBeLessThanOrEqual(1);
      expect(maxAbsDiff(adv.dataSync(), again.dataSync())).toBe(0);
      const loss = (t: tf.Tensor4D) => tf.sum(objective(fn(t))).dataSync()[0]!;
      expect(loss(adv)).toBeGreaterThan(loss(images));
      tf.dispose([adv, again]);
    }
    // Zero steps: the start itself. Gaussian: within a few σ of x; uniform: inside the ball, spread over it.
    const gaussian = innerPgd(fn, images, objective, { ...BASE, steps: 0, seed: 5 });
    const d = maxAbsDiff(gaussian.dataSync(), images.dataSync());
    expect(d).toBeGreaterThan(0);
    expect(d).toBeLessThan(0.006);
    const uniform = innerPgd(fn, images, objective, { ...BASE, steps: 0, start: 'uniform', clip: null, seed: 5 });
    const delta = tf.tidy(() => tf.sub(uniform, images));
    expect(tf.max(tf.abs(delta)).dataSync()[0]!).toBeGreaterThan(0.045);
    expect(Math.abs(tf.mean(delta).dataSync()[0]!)).toBeLessThan(0.005);
    tf.dispose([gaussian, uniform, delta]);
    model.dispose();
  });

  it('with clipStart false takes the first gradient at the raw start, outside the clip range (the reference codes)', () => {
    const model = buildSmallNet({ inputShape: [8, 8, 1], outputs: 3, kind: 'mlp', seed: 2 });
    const fn = (x: tf.Tensor4D) => model.apply(x, { training: false }) as tf.Tensor2D;
    const images = tf.tidy(() => tf.sub(tf.mul(split.batches[0]!.images, 4), 1) as tf.Tensor4D); // in [-0.6, 2.6]
    const labels = split.batches[0]!.labels;
    const objective = (z: tf.Tensor2D) => softmaxCrossEntropy(z, labels);
    const raw = innerPgd(fn, images, objective, { ...BASE, steps: 0, clipStart: false });
    const clipped = innerPgd(fn, images, objective, { ...BASE, steps: 0 });
    expect(tf.min(raw).dataSync()[0]!).toBeLessThan(-0.5);
    expect(tf.min(clipped).dataSync()[0]!).toBeGreaterThanOrEqual(0);
    // After one step both end clipped to [0, 1], from gradients taken at different points.
    const rawOne = innerPgd(fn, images, objective, { ...BASE, steps: 1, clipStart: false });
    const clippedOne = innerPgd(fn, images, objective, { ...BASE, steps: 1 });
    expect(tf.min(rawOne).dataSync()[0]!).toBeGreaterThanOrEqual(0);
    expect(maxAbsDiff(rawOne.dataSync(), clippedOne.dataSync())).toBeGreaterThan(0);
    tf.dispose([images, raw, clipped, rawOne, clippedOne]);
    model.dispose();
  });

  it('scales ε and α per channel, and a micro-batch gets the rows of the whole batch', () => {
    const rgb = toySingleLabel({ n: 12, channels: 3, seed: 9 });
    const model = buildSmallNet({ inputShape: [8, 8, 3], outputs: 3, kind: 'cnn', seed: 3 });
    const fn = (x: tf.Tensor4D) => model.apply(x, { training: false }) as tf.Tensor2D;
    const objective = (labels: tf.Tensor) => (z: tf.Tensor2D) => softmaxCrossEntropy(z, labels);
    const settings = { ...BASE, start: 'uniform' as const, epsilon: 0.02, stepSize: 0.01, channelScale: [1, 2, 4], clip: null };
    const adv = innerPgd(fn, rgb.images, objective(rgb.labels), settings);
    const perChannel = tf.tidy(() => Array.from(tf.max(tf.abs(tf.sub(adv, rgb.images)), [0, 1, 2]).dataSync()));
    [0.02, 0.04, 0.08].forEach((e, c) => {
      expect(perChannel[c]!).toBeLessThanOrEqual(e + 1e-6);
      expect(perChannel[c]!).toBeGreaterThan(0.9 * e);
    });
    const rows = tf.slice(rgb.images, 4, 5);
    const rowLabels = tf.slice(rgb.labels, 4, 5);
    const part = innerPgd(fn, rows, objective(rowLabels), { ...settings, batch: { size: 12, offset: 4 } });
    const expected = tf.slice(adv, 4, 5);
    expect(maxAbsDiff(part.dataSync(), expected.dataSync())).toBeLessThan(1e-6);
    tf.dispose([adv, rows, rowLabels, part, expected, rgb.images, rgb.labels]);
    model.dispose();
  });

  it('runs in chunks of batchSize (or what fits a memoryBudget) with the same result bit for bit, and refuses what does not fit', async () => {
    const model = warmNet(split, 'cnn', 3);
    const fn = (x: tf.Tensor4D) => model.apply(x, { training: false }) as tf.Tensor2D;
    const { images, labels } = split.batches[0]!;
    const objective = (z: tf.Tensor2D, start: number, count: number) => softmaxCrossEntropy(z, tf.slice(labels, start, count));
    for (const extra of [{}, { start: 'uniform' as const, batch: { size: 20, offset: 3 } }, { clip: 'batch' as const }, { clipStart: false }]) {
      const whole = innerPgd(fn, images, objective, { ...BASE, ...extra });
      for (const memory of [{ batchSize: 5 }, {}]) {
        const chunked = innerPgd(fn, images, objective, { ...BASE, ...extra, memory, fn: 'demo' });
        expect(Array.from(chunked.dataSync()), JSON.stringify({ extra, memory })).toEqual(Array.from(whole.dataSync()));
        chunked.dispose();
      }
      whole.dispose();
    }
    await expectNoLeak(() => innerPgd(fn, images, objective, { ...BASE, memory: { batchSize: 3 }, fn: 'demo' }));
    expect(() => innerPgd(fn, images, objective, { ...BASE, memory: { memoryBudget: 100 }, fn: 'demo' })).toThrow(MemoryBudgetError);
    model.dispose();
  });

  it('does not leak tensors', async () => {
    const model = warmNet(split, 'mlp', 3);
    const fn = (x: tf.Tensor4D) => model.apply(x, { training: false }) as tf.Tensor2D;
    const { images, labels } = split.batches[0]!;
    await expectNoLeak(() => innerPgd(fn, images, (z) => softmaxCrossEntropy(z, labels), { ...BASE, steps: 2, clip: 'batch', seed: 1 }));
    const rows = tf.slice(images, 2, 3);
    const rowLabels = tf.slice(labels, 2, 3);
    await expectNoLeak(() => innerPgd(fn, rows, (z) => softmaxCrossEntropy(z, rowLabels), { ...BASE, start: 'uniform', channelScale: [2], batch: { size: 16, offset: 2 } }));
    tf.dispose([rows, rowLabels]);
    model.dispose();
  });
});
