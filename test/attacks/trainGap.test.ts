import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gap } from '../../src/attacks/gap.js';
import type { TrainGapState } from '../../src/attacks/gapCheckpoint.js';
import { gapUnet } from '../../src/attacks/gapGenerators.js';
import { gapStepGradients, trainGap } from '../../src/attacks/trainGap.js';
import { AbortError, FormatError, InvalidArgumentError } from '../../src/errors.js';
import { measurePeak } from '../../src/internal/memory.js';
import { BACKENDS, useTestBackend } from '../helpers/backends.js';
import { expectClose } from '../helpers/close.js';
import { expectNoLeak } from '../helpers/expectNoLeak.js';
import { argmaxChanged, memoryStore, noiseFoolingRate, tinyGenerator, trainedClassifier, weightValues, type Classifier } from '../helpers/gapFixtures.js';

// Every backend must train the generator: test/helpers/backends.ts installs registerWasmGradients, so a
// missing or broken gradient kernel fails here rather than skipping.

const M = 64; // L∞ budget (/255) at which PGD flips every toy image of this classifier

/** G(x) = tanh(conv1×1(x)) on 4×4×2 images, with a separate tanh layer (what gradient 'paper' needs). */
function linearGenerator(): tfl.LayersModel {
  const net = tfl.sequential({ layers: [tfl.layers.conv2d({ inputShape: [4, 4, 2], filters: 2, kernelSize: 1 }), tfl.layers.activation({ activation: 'tanh' })] });
  net.setWeights([tf.tensor4d([2.5, -1, 0.5, 1.5], [1, 1, 2, 2]), tf.tensor1d([-0.3, 0.2])]);
  return net;
}

/** A linear classifier on the flattened 4×4×2 image, 3 classes (fixed seeded weights). */
const linearModel = (x: tf.Tensor4D): tf.Tensor2D => tf.tidy(() => tf.matMul(tf.reshape(x, [x.shape[0], 32]), tf.randomNormal([32, 3], 0, 3, 'float32', 9)));

/**
 * The reference gradients of one GAP step with respect to the generator's kernel, from plain tf ops:
 * `exact` through the scaling (norm constant) and the clip; `paper` as the authors' autograd computes it,
 * ∂L/∂z = ∂L/∂x′ · (1 − δ²) pushed through z = conv(x).
 */
function referenceKernelGradient(gen: tfl.LayersModel, x: tf.Tensor4D, mode: 'exact' | 'paper', m: number, mean: number[], std: number[], lo: number[], hi: number[]): Float32Array {
  return tf.tidy(() => {
    const conv = gen.layers[0]!;
    const [kernel, bias] = conv.getWeights() as [tf.Tensor4D, tf.Tensor1D];
    const pre = (k: tf.Tensor) => tf.add(tf.conv2d(x, k as tf.Tensor4D, 1, 'valid'), bias) as tf.Tensor4D;
    const targets = tf.oneHot(tf.argMin(linearModel(x), 1), 3);
    const lossOf = (adv: tf.Tensor) => tf.mean(tf.sum(tf.mul(targets, tf.neg(tf.logSoftmax(linearModel(adv as tf.Tensor4D)))), 1));
    const unit = (t: tf.Tensor) => tf.div(tf.sub(tf.mul(tf.add(tf.tanh(t), 1), 0.5), mean), std);
    const factor = tf.minimum(1, tf.div(tf.div(tf.tensor1d(std.map((s) => m / 255 / s)), 1), tf.max(tf.abs(unit(pre(kernel))), [1, 2], true)));
    const deltaOf = (k: tf.Tensor) => tf.mul(unit(pre(k)), factor);
    const clip = (t: tf.Tensor) => tf.minimum(tf.maximum(t, tf.tensor1d(lo)), tf.tensor1d(hi));
    if (mode === 'exact') return tf.grad((k: tf.Tensor) => lossOf(clip(tf.add(x, deltaOf(k)))))(kernel).dataSync() as Float32Array;
    const delta = deltaOf(kernel);
    const gAdv = tf.grad(lossOf)(clip(tf.add(x, delta)));
    const gz = tf.mul(gAdv, tf.sub(1, tf.square(delta)));
    return tf.grad((k: tf.Tensor) => tf.sum(tf.mul(pre(k), gz)))(kernel).dataSync() as Float32Array;
  });
}
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

  it("computes the gradient of gradient 'exact' and the authors' in-place gradient of gradient 'paper' (closed form)", () => {
    const gen = linearGenerator();
    const x = tf.randomUniform([3, 4, 4, 2], 0.1, 0.9, 'float32', 21) as tf.Tensor4D;
    const opts = { magnitude: 40, mean: [0.2, 0.6], std: [0.5, 0.3], center: 'mean' as const, seed: 1 };
    const lo = opts.mean.map((mu, c) => (0 - mu) / opts.std[c]!);
    const hi = opts.mean.map((mu, c) => (1 - mu) / opts.std[c]!);
    const xs = tf.tidy(() => tf.div(tf.sub(x, opts.mean), opts.std) as tf.Tensor4D);
    const kernelName = (gen.trainableWeights[0]!.read() as tf.Variable).name;
    const results: Record<string, Float32Array> = {};
    for (const mode of ['exact', 'paper'] as const) {
      const { grads } = gapStepGradients(linearModel, gen, { images: xs }, { ...opts, gradient: mode });
      results[mode] = Float32Array.from(grads[kernelName]!.dataSync());
      expectClose(results[mode]!, referenceKernelGradient(gen, xs, mode, opts.magnitude, opts.mean, opts.std, lo, hi), 1e-5);
      tf.dispose(Object.values(grads));
    }
    // the two gradients differ: (1 − δ²) in place of (1 − tanh²), and no scaling or clip in the chain
    const diff = results.exact!.reduce((mx, v, i) => Math.max(mx, Math.abs(v - results.paper![i]!)), 0);
    expect(diff).toBeGreaterThan(1e-3);
    tf.dispose([x, xs]);
    gen.dispose();
  });

  it("keep: 'lowest-accuracy' ends with the weights of the epoch of lowest training accuracy", async () => {
    const g = tinyGenerator();
    const snapshots: Float32Array[][] = [];
    const report = await trainGap(single.net, g, [{ images: single.images, labels: single.labels }], {
      ...FAST, epochs: 6, learningRate: 0.05, keep: 'lowest-accuracy',
      onProgress: (p) => { if (p.phase === 'epoch') snapshots.push(weightValues(g)); },
    });
    const accuracies = report.epochs.map((e) => e.accuracy!);
    const lowest = accuracies.indexOf(Math.min(...accuracies));
    expect(report.selectedEpoch).toBe(lowest);
    expect(weightValues(g)).toEqual(snapshots[lowest]);
    // the accuracy is that of the adversarial predictions against the labels
    accuracies.forEach((a) => { expect(a).toBeGreaterThanOrEqual(0); expect(a).toBeLessThanOrEqual(1); });
    const last = await trainGap(single.net, tinyGenerator(), [{ images: single.images, labels: single.labels }], { ...FAST, epochs: 2 });
    expect(last.selectedEpoch).toBe(1);
    g.dispose();
  });

  it('keeps the lowest-accuracy epoch across a resume', async () => {
    const store = memoryStore<TrainGapState>();
    const controller = new AbortController();
    const opts = { ...FAST, epochs: 5, learningRate: 0.05, keep: 'lowest-accuracy' as const, checkpoint: store };
    const data = [{ images: single.images, labels: single.labels }];
    await expect(trainGap(single.net, tinyGenerator(), data, { ...opts, signal: controller.signal, onProgress: (p) => { if (p.phase === 'epoch' && p.done === 3) controller.abort(); } })).rejects.toThrow(AbortError);
    const resumed = tinyGenerator();
    const r1 = await trainGap(single.net, resumed, data, opts);
    const straight = tinyGenerator();
    const r2 = await trainGap(single.net, straight, data, { ...opts, checkpoint: undefined });
    expect(r1.selectedEpoch).toBe(r2.selectedEpoch);
    expect(weightValues(resumed)).toEqual(weightValues(straight));
    resumed.dispose();
    straight.dispose();
  });

  it('accumulates micro-batch gradients into the full-batch step (a generator without batch norm)', async () => {
    const run = async (microBatch?: number) => {
      const gen = linearGenerator();
      const images = tf.randomUniform([7, 4, 4, 2], 0, 1, 'float32', 4) as tf.Tensor4D;
      await trainGap(linearModel, gen, [{ images }], { magnitude: 30, epochs: 3, learningRate: 0.01, seed: 2, ...(microBatch ? { microBatch } : {}), gradient: 'paper' });
      const w = weightValues(gen);
      images.dispose();
      gen.dispose();
      return w;
    };
    const full = await run();
    for (const mb of [1, 3, 7]) {
      const micro = await run(mb);
      micro.forEach((w, i) => expectClose(w, full[i]!, 1e-5));
    }
  });

  it("with generatorBatchNorm 'moving', micro-batches equal the full batch for a U-Net too", async () => {
    const run = async (microBatch?: number) => {
      const g = gapUnet({ inputShape: [8, 8, 1], preset: 'small', ngf: 4, seed: 3, dropout: 0 });
      await trainGap(single.net, g, [{ images: single.images }], { ...FAST, epochs: 2, generatorBatchNorm: 'moving', ...(microBatch ? { microBatch } : {}) });
      const w = weightValues(g);
      g.dispose();
      return w;
    };
    const full = await run();
    const micro = await run(5);
    micro.forEach((w, i) => expectClose(w, full[i]!, 1e-4));
  });

  it('memoryBudget splits a batch that does not fit into micro-batches (core memory model), and refuses one image or logLoss that do not fit', async () => {
    const run = async (extra: Record<string, unknown>) => {
      const g = gapUnet({ inputShape: [8, 8, 1], preset: 'small', ngf: 4, seed: 3, dropout: 0 });
      await trainGap(single.net, g, [{ images: single.images }], { ...FAST, epochs: 1, generatorBatchNorm: 'moving', ...extra });
      const w = weightValues(g);
      g.dispose();
      return w;
    };
    const full = await run({});
    // The one-image update's peak, measured as the plan measures it; a budget of ~2.5 of them splits the batch.
    const probe = gapUnet({ inputShape: [8, 8, 1], preset: 'small', ngf: 4, seed: 3, dropout: 0 });
    const x1 = tf.slice(single.images, 0, 1) as tf.Tensor4D;
    const one = measurePeak(() => { tf.dispose(Object.values(gapStepGradients(single.net, probe, { images: x1 }, { ...FAST, generatorBatchNorm: 'moving' }).grads)); }).peakBytes;
    const budgeted = await run({ memoryBudget: 2.5 * one });
    budgeted.forEach((w, i) => expectClose(w, full[i]!, 1e-4));
    const g = gapUnet({ inputShape: [8, 8, 1], preset: 'small', ngf: 4, seed: 3, dropout: 0 });
    const count = tf.memory().numTensors;
    await expect(trainGap(single.net, g, [{ images: single.images }], { ...FAST, epochs: 1, memoryBudget: one / 4 })).rejects.toThrow(/^trainGap: a batch of 1 needs about .*one sample does not fit: raise options.memoryBudget/);
    await expect(trainGap(single.net, g, [{ images: single.images }], { ...FAST, epochs: 1, logLoss: true, memoryBudget: 2.5 * one })).rejects.toThrow(/trainGap: a batch of \d+ needs .*logLoss: true needs the whole batch at once/);
    expect(tf.memory().numTensors).toBe(count);
    tf.dispose([x1]);
    [g, probe].forEach((m) => m.dispose());
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
      await expect(trainGap(single.net, g, data, { magnitude: 8, gradient: 'straight' as never })).rejects.toThrow(/options.gradient must be one of 'exact', 'paper'/);
      await expect(trainGap(single.net, g, data, { magnitude: 8, keep: 'lowest-accuracy' })).rejects.toThrow(/data\[0\].labels must be labels \(keep: 'lowest-accuracy'/);
      await expect(trainGap(single.net, g, data, { magnitude: 8, microBatch: 2, logLoss: true })).rejects.toThrow(/options.microBatch must be undefined with logLoss/);
      await expect(trainGap(single.net, g, data, { magnitude: 8, microBatch: 0 })).rejects.toThrow(/options.microBatch/);
      await expect(trainGap(single.net, g, data, { magnitude: 8, generatorBatchNorm: 'frozen' as never })).rejects.toThrow(/options.generatorBatchNorm/);
      await expect(trainGap(single.net, g, data, { magnitude: 8, straightThrough: true } as never)).rejects.toThrow(/unknown option/);
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
    await expectNoLeak(() => trainGap(single.net, g, [{ images: single.images, labels: single.labels }], { ...FAST, epochs: 2, gradient: 'paper', microBatch: 5, keep: 'lowest-accuracy', checkpoint: memoryStore<TrainGapState>() }));
    await expectNoLeak(() => trainGap(single.net, g, [{ images: single.images }], { ...FAST, epochs: 1, universal: true, gradient: 'paper', microBatch: 7 }));
    await expectNoLeak(async () => { const { grads } = gapStepGradients(single.net, g, { images: single.images }, { ...FAST, gradient: 'paper' }); tf.dispose(Object.values(grads)); });
    g.dispose();
  });
});

