import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PAPER_PRESETS } from '../../src/data/preprocess.js';
import { maAdvTrain, maAdvTrainPaperPresets } from '../../src/defenses/maAdvTrain.js';
import { mpAdvTrain, mpAdvTrainPaperPreset } from '../../src/defenses/mpAdvTrain.js';
import { maAdvTrainPreset, mpAdvTrainPreset, type PaperDataset } from '../../src/defenses/paperPresets.js';
import { InvalidArgumentError } from '../../src/errors.js';
import type { Batch } from '../../src/types.js';
import { BACKENDS, useTestBackend } from '../helpers/backends.js';
import { buildSmallNet } from '../helpers/smallNet.js';
import { toyMultiLabel, toySingleLabel } from '../helpers/toyData.js';

const DATASETS: PaperDataset[] = ['isic2016', 'messidor', 'chestXray14'];

/** 16 RGB 8×8 images in [0.1, 0.9], normalised with the data set's mean/std (so far outside [0, 1]), in batches of 8. */
function normalisedBatches(dataset: PaperDataset): Batch[] {
  const { mean, std } = PAPER_PRESETS[dataset].normalization;
  const set = dataset === 'chestXray14' ? toyMultiLabel({ n: 16, channels: 3, seed: 3 }) : toySingleLabel({ n: 16, channels: 3, seed: 3 });
  const images = tf.tidy(() => tf.div(tf.sub(set.images, tf.tensor1d(mean as number[])), tf.tensor1d(std as number[])) as tf.Tensor4D);
  const batches = [0, 8].map((i) => ({ images: tf.slice(images, i, 8), labels: tf.slice(set.labels, i, 8) }));
  tf.dispose([images, set.images, set.labels]);
  return batches;
}

describe.each(BACKENDS)('paper presets on %s', (backend) => {
  const data = new Map<PaperDataset, Batch[]>();
  beforeAll(async () => {
    await useTestBackend(backend);
    for (const d of DATASETS) data.set(d, normalisedBatches(d));
  });
  afterAll(() => data.forEach((batches) => tf.dispose(batches.flatMap((b) => [b.images, b.labels]))));

  it('maAdvTrainPaperPresets RUN on normalised images (MART clips them to [0, 1]), which plain options refuse', async () => {
    const batches = data.get('isic2016')!;
    expect(tf.min(batches[0]!.images).dataSync()[0]!).toBeLessThan(-1);
    const model = buildSmallNet({ inputShape: [8, 8, 3], outputs: 3, kind: 'cnn', seed: 1 });
    for (const preset of [maAdvTrainPaperPresets.isic, maAdvTrainPaperPresets.messidor]) {
      const before = tf.memory().numTensors;
      const report = await maAdvTrain(model, batches, { ...preset, epochs: 1, seed: 1 });
      expect(Number.isFinite(report.history[0]!.loss)).toBe(true);
      expect(report.history[0]!.adversarialBatches).toBe(2);
      expect(tf.memory().numTensors).toBe(before);
    }
    const { paperQuirks: _quirks, ...withoutQuirks } = maAdvTrainPaperPresets.isic;
    await expect(maAdvTrain(model, batches, { ...withoutQuirks, epochs: 1 })).rejects.toThrow(/^maAdvTrain: images must be values inside the clip range \[0, 1\]/);
    await expect(maAdvTrain(model, batches, { ...maAdvTrainPaperPresets.isic, task: 'multi-label', epochs: 1 })).rejects.toThrow(InvalidArgumentError);
    model.dispose();
  });

  it('mpAdvTrainPreset and maAdvTrainPreset run, paper and corrected, on every data set they cover', async () => {
    for (const dataset of DATASETS) {
      const batches = data.get(dataset)!;
      const classes = dataset === 'chestXray14' ? 3 : 3;
      const variants = [mpAdvTrainPreset(dataset), mpAdvTrainPreset(dataset, { variant: 'corrected', epsilon: 4 / 255 })];
      for (const preset of variants) {
        const model = buildSmallNet({ inputShape: [8, 8, 3], outputs: classes, kind: 'mlp', seed: 2 });
        const optimizer = preset.createOptimizer();
        const report = await mpAdvTrain(model, batches, { ...preset.options, epochs: 1, seed: 1, optimizer, cleanProbability: 0 });
        expect(report.history[0]!.adversarialBatches, `${dataset} ${preset.variant}`).toBe(2);
        optimizer.dispose();
        model.dispose();
      }
      const ma = dataset === 'chestXray14' ? [maAdvTrainPreset(dataset, { variant: 'corrected', epsilon: 4 / 255 })] : [maAdvTrainPreset(dataset), maAdvTrainPreset(dataset, { variant: 'corrected', epsilon: 4 / 255 })];
      for (const preset of ma) {
        const model = buildSmallNet({ inputShape: [8, 8, 3], outputs: classes, kind: 'mlp', seed: 2 });
        const optimizer = preset.createOptimizer();
        const report = await maAdvTrain(model, batches, { ...preset.options, epochs: 1, seed: 1, optimizer });
        expect(Number.isFinite(report.history[0]!.loss), `${dataset} ${preset.variant}`).toBe(true);
        optimizer.dispose();
        model.dispose();
      }
    }
  });

  it("hold the authors' settings (paper.md §6) and the corrected per-channel budget", () => {
    expect(mpAdvTrainPaperPreset).toMatchObject({ epsilon: [0.01, 0.04], steps: [1, 9], stepSize: 1 / 255, clip: 'batch', paperQuirks: true });
    const isic = mpAdvTrainPreset('isic2016');
    expect(isic.options).toMatchObject({ epsilon: [0.01, 0.04], steps: [1, 9], stepSize: 1 / 255, cleanProbability: 0.5, clip: 'batch', paperQuirks: true, weightDecay: 1e-4, epochs: 30 });
    expect(isic.batchSize).toBe(16);
    // LambdaLR(0.1^(epoch // 10)) stepped before each epoch: the rate drops after epochs 9 and 19.
    expect([0, 8, 9, 18, 19].map((e) => isic.options.learningRate!(e))).toEqual([1e-3, 1e-3, 1e-3 * 0.1, 1e-3 * 0.1, 1e-3 * 0.1 ** 2]);
    const sgd = isic.createOptimizer();
    expect(sgd.getClassName()).toBe('Momentum');
    expect(sgd.getConfig()).toMatchObject({ learningRate: 1e-3, momentum: 0.9, useNesterov: true });
    sgd.dispose();
    expect(mpAdvTrainPreset('messidor').options).toMatchObject({ l1: 0.01, weightDecay: 1e-3 });
    const chest = mpAdvTrainPreset('chestXray14');
    expect(chest.options.task).toBe('multi-label');
    const adam = chest.createOptimizer();
    expect(adam.getConfig()).toMatchObject({ learningRate: 2e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-8 });
    adam.dispose();
    // MAAdvT: β = 8 on Messidor, 6 elsewhere; the code's ε, T, α, optimizer, epochs and batch.
    expect(maAdvTrainPreset('isic2016').options).toMatchObject({ epsilon: 0.031, steps: 4, stepSize: 0.007, beta: 6, clip: [0, 1], paperQuirks: true, weightDecay: 1e-4, epochs: 20 });
    expect(maAdvTrainPreset('isic2016').batchSize).toBe(8);
    expect(maAdvTrainPreset('messidor').options).toMatchObject({ epsilon: 4 / 255, steps: [1, 9], stepSize: 0.007, beta: 8, weightDecay: 1e-3, epochs: 50 });
    expect(maAdvTrainPreset('messidor').batchSize).toBe(2);
    expect(maAdvTrainPreset('chestXray14', { variant: 'corrected', epsilon: 4 / 255 }).options).toMatchObject({ beta: 6, task: 'multi-label', paperQuirks: false });
    // Corrected: ε/σ_c per channel, so the pixel budget is ε on every channel; the valid normalised range as the clip.
    const { mean, std } = PAPER_PRESETS.isic2016.normalization;
    const corrected = maAdvTrainPreset('isic2016', { variant: 'corrected', epsilon: 2 / 255 });
    expect(corrected.options.epsilon).toBe(2 / 255);
    expect(corrected.options.stepSize).toBeCloseTo(0.5 / 255, 12);
    corrected.options.channelScale!.forEach((s, c) => expect(s * std[c]!).toBeCloseTo(1, 12));
    const clip = corrected.options.clip as { min: number[]; max: number[] };
    mean.forEach((m, c) => {
      expect(clip.min[c]! * std[c]! + m).toBeCloseTo(0, 12);
      expect(clip.max[c]! * std[c]! + m).toBeCloseTo(1, 12);
    });
    expect(mpAdvTrainPreset('messidor', { variant: 'corrected', epsilon: 4 / 255 }).options).toMatchObject({ epsilon: [2 / 255, 8 / 255], stepSize: 1 / 255, paperQuirks: false });
    expect(mpAdvTrainPreset('isic2016', { variant: 'corrected', epsilon: 2 / 255, normalization: { mean: [0.5, 0.5, 0.5], std: [0.25, 0.5, 0.5] } }).options.channelScale).toEqual([4, 2, 2]);
    for (const preset of [isic, corrected]) expect(preset.notes.length).toBeGreaterThan(1);
    expect(Object.isFrozen(isic) && Object.isFrozen(isic.options)).toBe(true);
  });

  it('rejects bad input', () => {
    expect(() => mpAdvTrainPreset('isic' as never)).toThrow(/mpAdvTrainPreset: dataset must be one of 'isic2016', 'messidor', 'chestXray14'/);
    expect(() => mpAdvTrainPreset('messidor', { epsilon: 4 / 255 })).toThrow(/options.epsilon must be left out for variant 'paper'/);
    expect(() => mpAdvTrainPreset('messidor', { variant: 'corrected' })).toThrow(/options.epsilon must be the evaluated pixel budget/);
    expect(() => mpAdvTrainPreset('messidor', { variant: 'corrected', epsilon: -1 })).toThrow(InvalidArgumentError);
    expect(() => mpAdvTrainPreset('messidor', { variant: 'fixed' as never })).toThrow(/options.variant must be one of/);
    expect(() => mpAdvTrainPreset('messidor', { variant: 'corrected', epsilon: 0.01, normalization: { mean: [0.5], std: [0, 1] } })).toThrow(/options.normalization must be/);
    expect(() => mpAdvTrainPreset('messidor', { variant: 'corrected', epsilon: 0.01, normalization: { mean: [0.5], std: [0] } })).toThrow(/options.normalization.std\[0\] must be a finite number > 0/);
    expect(() => maAdvTrainPreset('chestXray14')).toThrow(/maAdvTrainPreset: options.variant must be 'corrected' for 'chestXray14'/);
    expect(() => maAdvTrainPreset('messidor', { eps: 1 } as never)).toThrow(/unknown option 'eps'/);
  });
});
