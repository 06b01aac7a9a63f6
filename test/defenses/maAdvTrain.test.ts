import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { maAdvTrain, maAdvTrainPaperPresets } from '../../src/defenses/maAdvTrain.js';
import { InvalidArgumentError } from '../../src/errors.js';
import { BACKENDS, useTestBackend } from '../helpers/backends.js';
import { makeSplit, versusClean, type Split } from '../helpers/defenseFixtures.js';
import { expectNoLeak } from '../helpers/expectNoLeak.js';
import { buildSmallNet } from '../helpers/smallNet.js';

const EPS = 0.21;

describe.each(BACKENDS)('maAdvTrain on %s', (backend) => {
  let split: Split;
  let multi: Split;
  beforeAll(async () => {
    await useTestBackend(backend);
    split = makeSplit();
    multi = makeSplit('multi-label');
  });
  afterAll(() => { split.dispose(); multi.dispose(); });

  it('gives higher PGD robust accuracy than clean training with the same seed and budget (single-label)', async () => {
    // The CNN on every backend (attacks take the sign by comparisons: wasm's Sign kernel zeroes |x| < ~1e-7).
    const kind = 'cnn';
    const r = await versusClean(split, kind, EPS, 'single-label', (m, c) => maAdvTrain(m, split.batches, { ...c, epsilon: EPS, steps: 5 }));
    expect(r.defended.robust, r.message).toBeGreaterThan(r.clean.robust + 0.15);
  });

  it('multi-label MART gives higher per-label robust accuracy than clean training (MLP)', async () => {
    const r = await versusClean(multi, 'mlp', EPS, 'multi-label', (m, c) => maAdvTrain(m, multi.batches, { ...c, epsilon: EPS, steps: 5 }));
    expect(r.defended.robust, r.message).toBeGreaterThan(r.clean.robust + 0.1);
  });

  it('draws T per batch from a [lo, hi] range (the paper Messidor setting) and accepts the presets', async () => {
    let calls = 0;
    const model = buildSmallNet({ inputShape: [8, 8, 1], outputs: 3, kind: 'mlp', seed: 1 });
    const countingCe = (z: tf.Tensor2D, y: tf.Tensor) => { calls++; return tf.losses.softmaxCrossEntropy(tf.oneHot(tf.cast(y, 'int32'), 3), z, undefined, undefined, tf.Reduction.NONE) as tf.Tensor1D; };
    await maAdvTrain(model, split.batches, { epochs: 4, seed: 2, epsilon: 0.03, steps: [1, 9], attackLoss: countingCe });
    expect(calls).toBeGreaterThanOrEqual(12);
    expect(calls).toBeLessThanOrEqual(108);
    const { isic, messidor } = maAdvTrainPaperPresets;
    expect(isic).toEqual({ epsilon: 0.031, steps: 4, stepSize: 0.007, beta: 6, clip: [0, 1], paperQuirks: true });
    expect(messidor).toMatchObject({ steps: [1, 9], beta: 8 });
    const report = await maAdvTrain(model, split.batches, { ...messidor, epochs: 1, seed: 1 });
    expect(Number.isFinite(report.history[0]!.loss)).toBe(true);
    model.dispose();
  });

  it('rejects bad input', async () => {
    const model = buildSmallNet({ inputShape: [8, 8, 1], outputs: 3, kind: 'mlp', seed: 1 });
    const b = split.batches;
    await expect(maAdvTrain(model, b, {} as never)).rejects.toThrow(/maAdvTrain: options.epsilon must be a finite number >= 0 \(it has no default/);
    await expect(maAdvTrain(model, b, { epsilon: 0.03, beta: -1 })).rejects.toThrow(/options.beta must be a finite number >= 0/);
    await expect(maAdvTrain(model, b, { epsilon: 0.03, startStd: -0.1 })).rejects.toThrow(InvalidArgumentError);
    await expect(maAdvTrain(model, b, { epsilon: 0.03, steps: [5, 2] })).rejects.toThrow(/options.steps must be a range/);
    await expect(maAdvTrain(model, b, { epsilon: 0.03, loss: () => tf.scalar(0) } as never)).rejects.toThrow(/unknown option 'loss'/);
    await expect(maAdvTrain(model, b, { epsilon: 0.03, task: 'multi-label' })).rejects.toThrow(/labels must be a multi-hot/);
    const outside = [{ images: tf.add(b[0]!.images, 1) as tf.Tensor4D, labels: b[0]!.labels }];
    await expect(maAdvTrain(model, outside, { epsilon: 0.03, epochs: 1 })).rejects.toThrow(/maAdvTrain: images must be values inside the clip range/);
    outside[0]!.images.dispose();
    model.dispose();
  });

  it('does not leak tensors', async () => {
    const model = buildSmallNet({ inputShape: [8, 8, 1], outputs: 3, kind: 'mlp', seed: 1 });
    await expectNoLeak(() => maAdvTrain(model, split.batches, { epochs: 2, seed: 1, epsilon: 0.03, steps: [1, 3] }));
    await expectNoLeak(() => maAdvTrain(model, multi.batches, { epochs: 1, seed: 1, epsilon: 0.03, steps: 2, task: 'multi-label' }));
    model.dispose();
  });
});
