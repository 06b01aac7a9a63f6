import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gap } from '../../src/attacks/gap.js';
import type { TrainGapState } from '../../src/attacks/gapCheckpoint.js';
import { gapUnet } from '../../src/attacks/gapGenerators.js';
import { trainGap } from '../../src/attacks/trainGap.js';
import { AbortError, FormatError, InvalidArgumentError } from '../../src/errors.js';
import { BACKENDS, useTestBackend } from '../helpers/backends.js';
import { expectNoLeak } from '../helpers/expectNoLeak.js';
import { argmaxChanged, memoryStore, noiseFoolingRate, tinyGenerator, trainedClassifier, weightValues, type Classifier } from '../helpers/gapFixtures.js';

// Every backend must train the generator: test/helpers/backends.ts installs registerWasmGradients, so a
// missing or broken gradient kernel fails here rather than skipping.

const M = 64; // L∞ budget (/255) at which PGD flips every toy image of this classifier
const FAST = { magnitude: M, learningRate: 0.01, seed: 1 } as const;

describe.each(BACKENDS)('trainGap on %s', (backend) => {
  let single: Classifier;
  beforeAll(async () => {
    await useTestBackend(backend as (typeof BACKENDS)[number]);
    single = trainedClassifier('single-label');
  });
  afterAll(() => single.dispose());

  it('learns a generator that fools far more than uniform noise of the same L∞ norm, leaving the classifier untouched', async () => {
    const g = tinyGenerator();
    const clfBefore = weightValues(single.net);
    const genBefore = weightValues(g);
    const report = await trainGap(single.net, g, [{ images: single.images }], { ...FAST, epochs: 60 });
    expect(weightValues(single.net)).toEqual(clfBefore); // bit for bit
    expect(weightValues(g)).not.toEqual(genBefore);
    expect(report.seed).toBe(1);
    expect(report.epochs).toHaveLength(60);
    expect(report.epochs.at(-1)!.loss).toBeLessThan(report.epochs[0]!.loss / 3);
    const { images: adv, perturbation } = gap(g, single.images, { magnitude: M });
    const fooled = argmaxChanged(single.fn, single.images, adv);
    const noise = noiseFoolingRate(single.fn, single.images, M / 255);
    expect(fooled).toBeGreaterThanOrEqual(0.5);
    expect(fooled).toBeGreaterThanOrEqual(3 * noise);
    const norms = tf.max(tf.abs(perturbation), [1, 2]).dataSync();
    norms.forEach((v) => expect(v).toBeLessThanOrEqual(M / 255 + 1e-6));
    tf.dispose([adv, perturbation]);
    g.dispose();
  });

  it('trains one perturbation for all images in universal mode', async () => {
    const g = tinyGenerator();
    const report = await trainGap(single.net, g, [{ images: single.images }], { ...FAST, epochs: 5, universal: true });
    expect(report.noiseSeed).toEqual(expect.any(Number));
    const { images: adv, perturbation } = gap(g, single.images, { magnitude: M, universal: true, noiseSeed: report.noiseSeed! });
    const rows = perturbation.arraySync();
    rows.forEach((r) => expect(r).toEqual(rows[0]));
    tf.dispose([adv, perturbation]);
    g.dispose();
  });

  it('reaches a target class with the targeted objective', async () => {
    const g = tinyGenerator();
    await trainGap(single.net, g, [{ images: single.images }], { ...FAST, epochs: 40, objective: 'targeted', target: 2 });
    const { images: adv, perturbation } = gap(g, single.images, { magnitude: M });
    const hits = tf.tidy(() => tf.mean(tf.cast(tf.equal(tf.argMax(single.fn(adv), 1), 2), 'float32')).dataSync()[0]!);
    expect(hits).toBeGreaterThan(0.6); // a third of the images are class 2 to begin with
    tf.dispose([adv, perturbation]);
    g.dispose();
  });

  it('flips the predicted labels of a multi-label model', async () => {
    const multi = trainedClassifier('multi-label');
    const g = tinyGenerator();
    const report = await trainGap(multi.net, g, [{ images: multi.images }], { ...FAST, epochs: 40, task: 'multi-label' });
    expect(report.epochs.at(-1)!.flipRate).toBeGreaterThan(0);
    const { images: adv, perturbation } = gap(g, multi.images, { magnitude: M });
    const [flips, noiseFlips] = tf.tidy(() => {
      const clean = tf.greater(multi.fn(multi.images), 0);
      const attacked = tf.greater(multi.fn(adv), 0);
      const noisy = tf.greater(multi.fn(tf.clipByValue(tf.add(multi.images, tf.randomUniform(multi.images.shape, -M / 255, M / 255, 'float32', 3)), 0, 1) as tf.Tensor4D), 0);
      return [tf.mean(tf.cast(tf.notEqual(clean, attacked), 'float32')).dataSync()[0]!, tf.mean(tf.cast(tf.notEqual(clean, noisy), 'float32')).dataSync()[0]!];
    });
    expect(flips).toBeGreaterThanOrEqual(0.3);
    expect(flips).toBeGreaterThanOrEqual(3 * noiseFlips);
    tf.dispose([adv, perturbation]);
    g.dispose();
    multi.dispose();
  });

  it('resumes after an abort from the checkpoint, ending bit for bit where an uninterrupted run ends', async () => {
    const store = memoryStore<TrainGapState>();
    const controller = new AbortController();
    const options = { ...FAST, epochs: 4, checkpoint: store };
    const first = tinyGenerator();
    const run = trainGap(single.net, first, [{ images: single.images }], {
      ...options,
      signal: controller.signal,
      onProgress: (p) => { if (p.phase === 'epoch' && p.done === 2) controller.abort(); },
    });
    await expect(run).rejects.toThrow(AbortError);
    expect(store.state!.epochsDone).toBe(2);
    expect(store.saves).toBe(2);

    const resumed = tinyGenerator();
    const report = await trainGap(single.net, resumed, [{ images: single.images }], { ...options, seed: 999 });
    expect(report.resumedFrom).toBe(2);
    expect(report.seed).toBe(1); // the checkpoint's seed wins
    expect(report.epochs.map((e) => e.epoch)).toEqual([0, 1, 2, 3]);

    const straight = tinyGenerator();
    const whole = await trainGap(single.net, straight, [{ images: single.images }], { ...FAST, epochs: 4 });
    expect(weightValues(resumed)).toEqual(weightValues(straight));
    expect(report.epochs.map((e) => e.loss)).toEqual(whole.epochs.map((e) => e.loss));
    [first, resumed, straight].forEach((g) => g.dispose());
  });

  it('differs with the straight-through gradient of the paper code', async () => {
    const a = tinyGenerator();
    const b = tinyGenerator();
    const ra = await trainGap(single.net, a, [{ images: single.images }], { ...FAST, epochs: 3 });
    const rb = await trainGap(single.net, b, [{ images: single.images }], { ...FAST, epochs: 3, straightThrough: true });
    expect(ra.epochs[0]!.loss).toBe(rb.epochs[0]!.loss); // same first forward pass
    expect(weightValues(a)).not.toEqual(weightValues(b));
    a.dispose();
    b.dispose();
  });

  it('disposes batches from an iterable factory, never those of an array', async () => {
    const g = tinyGenerator();
    const yielded: tf.Tensor[] = [];
    const factory = async function* () {
      for (let i = 0; i < 2; i++) {
        const images = tf.slice(single.images, [i * 4, 0, 0, 0], [4, 8, 8, 1]) as tf.Tensor4D;
        yielded.push(images);
        yield { images };
      }
    };
    const before = tf.memory().numTensors;
    const report = await trainGap(single.net, g, () => factory(), { ...FAST, epochs: 2, maxBatchesPerEpoch: 1 });
    expect(report.epochs.map((e) => e.batches)).toEqual([1, 1]);
    expect(yielded).toHaveLength(2); // one per epoch: the limit stops pulling
    expect(yielded.every((t) => t.isDisposed)).toBe(true);
    expect(tf.memory().numTensors).toBe(before);
    await trainGap(single.net, g, [{ images: single.images, labels: single.labels }], { ...FAST, epochs: 1, objective: 'untargeted' });
    expect(single.images.isDisposed || single.labels.isDisposed).toBe(false);
    g.dispose();
  });

  describe('rejects bad input', () => {
    it('throws typed errors before training', async () => {
      const g = tinyGenerator();
      const wrongOut = gapUnet({ inputShape: [8, 8, 1], outputChannels: 3, preset: 'small', ngf: 2 });
      const other = gapUnet({ inputShape: [8, 8, 1], preset: 'small', ngf: 6 });
      const data = [{ images: single.images }];
      const small = tf.zeros([2, 4, 4, 1]) as tf.Tensor4D;
      const badLabels = tf.zeros([5], 'int32');
      const before = tf.memory().numTensors;
      await expect(trainGap(single.net, g, data, { magnitude: 0 })).rejects.toThrow(/trainGap: options.magnitude must be a finite number > 0/);
      await expect(trainGap(single.net, g, data, { magnitude: -1 })).rejects.toThrow(InvalidArgumentError);
      await expect(trainGap(single.net, wrongOut, data, { magnitude: 8 })).rejects.toThrow(/generator must be a generator whose output matches the images \[N, 8, 8, 3\]|generator must be a generator whose output/);
      await expect(trainGap(single.net, g, [{ images: single.images }, { images: small }], { magnitude: 8 })).rejects.toThrow(/data\[1\].images must be images \[N, 8, 8, 1\]/);
      await expect(trainGap(single.net, g, [{ images: single.images, labels: badLabels }], { magnitude: 8 })).rejects.toThrow(/data\[0\].labels must be/);
      await expect(trainGap(single.net, g, [], { magnitude: 8 })).rejects.toThrow(/data must be a non-empty array/);
      await expect(trainGap(single.net, g, data, { magnitude: 8, objective: 'flip' })).rejects.toThrow(/options.objective must be one of 'least-likely'/);
      await expect(trainGap(single.net, g, data, { magnitude: 8, objective: 'targeted' })).rejects.toThrow(/options.target must be a finite integer/);
      await expect(trainGap(single.net, g, data, { magnitude: 8, task: 'multi-label', objective: 'targeted', target: [1, 2] })).rejects.toThrow(/multi-hot array/);
      await expect(trainGap(single.net, g, data, { magnitude: 8, epoch: 3 } as never)).rejects.toThrow(/did you mean 'epochs'/);
      await expect(trainGap(single.net, g, data, { magnitude: 8, clip: [1, 0] })).rejects.toThrow(/options.clip/);
      expect(tf.memory().numTensors).toBe(before);
      // checked when the first logits exist: a target class the model does not have
      await expect(trainGap(single.net, g, data, { magnitude: 8, epochs: 1, objective: 'targeted', target: 7 })).rejects.toThrow(/options.target must be a class index in \[0, 2\]/);
      // a checkpoint of another architecture
      const store = memoryStore<TrainGapState>();
      await trainGap(single.net, other, data, { magnitude: 8, epochs: 1, checkpoint: store, seed: 2 });
      await expect(trainGap(single.net, g, data, { magnitude: 8, epochs: 2, checkpoint: store })).rejects.toThrow(FormatError);
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose([small, badLabels]);
      [g, wrongOut, other].forEach((m) => m.dispose());
    });
  });

  it('does not leak', async () => {
    const g = tinyGenerator();
    await expectNoLeak(() => trainGap(single.net, g, [{ images: single.images }], { ...FAST, epochs: 2, checkpoint: memoryStore<TrainGapState>() }));
    await expectNoLeak(() => trainGap(single.net, g, [{ images: single.images }], { ...FAST, epochs: 1, universal: true, clip: 'batch-per-channel' }));
    g.dispose();
  });
});

