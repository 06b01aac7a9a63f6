import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { advTrain } from '../../src/defenses/advTrain.js';
import { maAdvTrain } from '../../src/defenses/maAdvTrain.js';
import type { TrainingCheckpoint } from '../../src/defenses/trainingLoop.js';
import type { Batch as LabeledBatch } from '../../src/types.js';
import { AbortError, FormatError, InvalidArgumentError } from '../../src/errors.js';
import type { Progress } from '../../src/types.js';
import { BACKENDS, useTestBackend } from '../helpers/backends.js';
import { maxAbsDiff } from '../helpers/close.js';
import { flatWeights, makeSplit, memoryStore, robustAccuracy, warmNet, type Split } from '../helpers/defenseFixtures.js';
import { expectNoLeak } from '../helpers/expectNoLeak.js';
import { buildSmallNet } from '../helpers/smallNet.js';

const EPS = 0.21; // the toy classes stay separable up to 0.25; a clean net falls well before

describe.each(BACKENDS)('advTrain on %s', (backend) => {
  let split: Split;
  beforeAll(async () => {
    await useTestBackend(backend);
    split = makeSplit();
  });
  afterAll(() => split.dispose());

  it('gives higher PGD robust accuracy than clean training with the same seed and budget (small CNN)', async () => {
    // The CNN on every backend (attacks take the sign by comparisons: wasm's Sign kernel zeroes |x| < ~1e-7).
    const kind = 'cnn';
    const clean = warmNet(split, kind);
    const defended = warmNet(split, kind);
    const common = { epochs: 12, seed: 3 };
    await advTrain(clean, split.batches, { ...common, optimizer: tf.train.adam(0.01), generator: () => null });
    const report = await advTrain(defended, split.batches, { ...common, optimizer: tf.train.adam(0.01), epsilon: EPS, steps: 5 });
    const a = robustAccuracy(clean, split, EPS);
    const b = robustAccuracy(defended, split, EPS);
    expect(b.robust, `robust accuracy at ε=${EPS}: clean training ${a.robust.toFixed(3)} (clean acc ${a.clean.toFixed(3)}), PGD-AT ${b.robust.toFixed(3)} (clean acc ${b.clean.toFixed(3)})`).toBeGreaterThan(a.robust + 0.15);
    expect(report.history.every((h) => h.adversarialBatches === 3)).toBe(true);
    expect(report.seed).toBe(3);
    clean.dispose();
    defended.dispose();
  });

  it('an aborted and resumed seeded run ends with the same weights as an uninterrupted one', async () => {
    const options = () => ({ epochs: 3, seed: 5, epsilon: 0.1, steps: 2, optimizer: tf.train.momentum(0.05, 0.9, true) });
    const whole = buildSmallNet({ inputShape: [8, 8, 1], outputs: 3, kind: 'mlp', seed: 1 });
    const o1 = options();
    await advTrain(whole, split.batches, o1);
    o1.optimizer.dispose();

    const store = memoryStore<TrainingCheckpoint>();
    const controller = new AbortController();
    const parted = buildSmallNet({ inputShape: [8, 8, 1], outputs: 3, kind: 'mlp', seed: 1 });
    const o2 = options();
    const onProgress = (p: Progress) => { if (p.phase === 'batch' && p.metrics?.epoch === 1 && p.done === 2) controller.abort(); };
    await expect(advTrain(parted, split.batches, { ...o2, checkpoint: store, signal: controller.signal, onProgress })).rejects.toThrow(AbortError);
    o2.optimizer.dispose();
    expect(store.state?.epoch).toBe(1);
    expect(store.state?.batch).toBe(2);
    // Resume into a differently initialised model and a fresh optimizer: the checkpoint restores both.
    const resumed = buildSmallNet({ inputShape: [8, 8, 1], outputs: 3, kind: 'mlp', seed: 99 });
    const o3 = options();
    const report = await advTrain(resumed, split.batches, { ...o3, checkpoint: store });
    o3.optimizer.dispose();
    expect(report.resumedFrom).toEqual({ epoch: 1, batch: 2 });
    expect(report.history.map((h) => h.epoch)).toEqual([0, 1, 2]);
    expect(report.history[1]!.batches).toBe(3);
    expect(maxAbsDiff(flatWeights(resumed), flatWeights(whole))).toBe(0);
    [whole, parted, resumed].forEach((m) => m.dispose());
  });

  it('resumes with the default Adam optimizer and a factory source (the unfinished epoch is replayed from the checkpoint)', async () => {
    // A lazy source: each batch is made when the loop asks for it, and the loop disposes it.
    const factory = function* (epoch: number) {
      for (const b of split.batches) yield { images: tf.add(b.images, epoch * 0) as tf.Tensor4D, labels: tf.clone(b.labels) };
    };
    const opts = { epochs: 2, seed: 8, epsilon: 0.1, steps: 2 };
    const whole = buildSmallNet({ inputShape: [8, 8, 1], outputs: 3, kind: 'mlp', seed: 2 });
    await advTrain(whole, factory, opts);
    const store = memoryStore<TrainingCheckpoint>();
    const controller = new AbortController();
    const parted = buildSmallNet({ inputShape: [8, 8, 1], outputs: 3, kind: 'mlp', seed: 2 });
    const before = tf.memory().numTensors;
    await expect(advTrain(parted, factory, { ...opts, checkpoint: store, signal: controller.signal, onProgress: (p) => { if (p.phase === 'epoch') controller.abort(); } })).rejects.toThrow(/aborted at epoch 1, batch 0/);
    expect(tf.memory().numTensors).toBe(before); // the factory's batches and the loop's Adam were disposed
    await advTrain(parted, factory, { ...opts, checkpoint: store });
    expect(tf.memory().numTensors).toBe(before);
    expect(maxAbsDiff(flatWeights(parted), flatWeights(whole))).toBe(0); // bit for bit: Adam's β-powers are in the checkpoint
    whole.dispose();
    parted.dispose();
  });

  it('keeps the tensor count flat across epochs and reports progress with an ETA', async () => {
    const model = buildSmallNet({ inputShape: [8, 8, 1], outputs: 3, kind: 'mlp', seed: 3 });
    const counts: number[] = [];
    const events: Progress[] = [];
    await advTrain(model, split.batches, {
      epochs: 4, seed: 1, epsilon: 0.1, steps: 2,
      validation: { images: split.test.images, labels: split.test.labels, epsilon: 0.1, steps: 2 },
      onProgress: (p) => { events.push(p); if (p.phase === 'epoch') counts.push(tf.memory().numTensors); },
    });
    expect(counts).toHaveLength(4);
    expect(new Set(counts).size).toBe(1);
    const batchEvents = events.filter((e) => e.phase === 'batch');
    expect(batchEvents).toHaveLength(12);
    expect(batchEvents[0]!.total).toBe(3);
    expect(Number.isFinite(batchEvents[0]!.etaSeconds)).toBe(true);
    expect(events.at(-1)).toMatchObject({ phase: 'epoch', done: 4, total: 4, etaSeconds: 0 });
    expect(events.at(-1)!.metrics).toHaveProperty('robustAccuracy');
    model.dispose();
  });

  it('selects the epoch with the best robust validation accuracy and restores its weights', async () => {
    const model = warmNet(split, 'mlp', 4);
    const perEpoch: number[][] = [];
    const report = await advTrain(model, split.batches, {
      epochs: 4, seed: 2, epsilon: EPS, steps: 3, optimizer: tf.train.sgd(0.5),
      validation: { images: split.test.images, labels: split.test.labels, epsilon: EPS, steps: 5, seed: 9 },
      onProgress: (p) => { if (p.phase === 'epoch') perEpoch.push(flatWeights(model)); },
    });
    const robust = report.history.map((h) => h.validation!.robust);
    const best = robust.indexOf(Math.max(...robust));
    expect(report.bestEpoch).toBe(best);
    expect(report.bestScore).toBe(robust[best]);
    expect(report.restoredBest).toBe(true);
    expect(maxAbsDiff(flatWeights(model), perEpoch[best]!)).toBe(0);
    model.dispose();
  });

  it('applies the L1 penalty, weight decay and a per-epoch learning rate', async () => {
    const run = async (extra: Record<string, unknown>) => {
      const m = buildSmallNet({ inputShape: [8, 8, 1], outputs: 3, kind: 'mlp', seed: 5 });
      const r = await advTrain(m, split.batches, { epochs: 2, seed: 1, generator: () => null, optimizer: tf.train.sgd(0.1), ...extra });
      const l1 = flatWeights(m).reduce((s, v) => s + Math.abs(v), 0);
      m.dispose();
      return { r, l1 };
    };
    const plain = await run({});
    const l1 = await run({ l1: 0.01 });
    const wd = await run({ weightDecay: 0.05 });
    expect(l1.l1).toBeLessThan(plain.l1);
    expect(wd.l1).toBeLessThan(plain.l1);
    expect(l1.r.history[0]!.loss).toBeGreaterThan(plain.r.history[0]!.loss); // the penalty is part of the objective
    const lrs: number[] = [];
    const opt = tf.train.sgd(0.1);
    const m = buildSmallNet({ inputShape: [8, 8, 1], outputs: 3, kind: 'mlp', seed: 5 });
    await advTrain(m, split.batches, { epochs: 3, seed: 1, generator: () => null, optimizer: opt, learningRate: (e) => 0.1 * 0.1 ** e, onProgress: () => lrs.push((opt as unknown as { learningRate: number }).learningRate) });
    expect(lrs.at(-1)).toBeCloseTo(0.001, 8);
    opt.dispose();
    m.dispose();
  });

  it('rejects bad input', async () => {
    const model = buildSmallNet({ inputShape: [8, 8, 1], outputs: 3, kind: 'mlp', seed: 1 });
    const b = split.batches;
    await expect(advTrain(model, b, {})).rejects.toThrow(/advTrain: options.epsilon must be a finite number >= 0 \(it has no default/);
    await expect(advTrain(model, b, { epsilon: -1 })).rejects.toThrow(InvalidArgumentError);
    await expect(advTrain(model, b, { epsilon: 0.1, stepsize: 0.1 } as never)).rejects.toThrow(/did you mean 'stepSize'/);
    await expect(advTrain(model, b, { epsilon: 0.1, epochs: 0 })).rejects.toThrow(/options.epochs must be a finite integer >= 1/);
    await expect(advTrain(model, b, { epsilon: 0.1, steps: 1.5 })).rejects.toThrow(/options.steps/);
    await expect(advTrain(model, b, { epsilon: 0.1, generator: () => null })).rejects.toThrow(/options.epsilon must be left out when options.generator is given/);
    await expect(advTrain((() => 0) as never, b, { epsilon: 0.1 })).rejects.toThrow(/advTrain: model must be a tf.LayersModel/);
    await expect(advTrain(model, [], { epsilon: 0.1 })).rejects.toThrow(/data must be a non-empty array/);
    await expect(advTrain(model, [{ images: tf.zeros([2, 8, 8]) as never, labels: tf.tensor1d([0, 1], 'int32') }], { epsilon: 0.1 })).rejects.toThrow(/data\[0\].images must be a rank-4/);
    const badLabels: LabeledBatch[] = [{ images: b[0]!.images, labels: tf.fill([16], 5, 'int32') }];
    await expect(advTrain(model, badLabels, { epsilon: 0.1 })).rejects.toThrow(/labels\[0\] must be class indices in \[0, 2\]/);
    await expect(advTrain(model, b, { epsilon: 0.1, optimizer: 'adam' as never })).rejects.toThrow(/options.optimizer must be a tf.Optimizer/);
    await expect(advTrain(model, b, { epsilon: 0.1, checkpoint: {} as never })).rejects.toThrow(/options.checkpoint must be a CheckpointStore/);
    await expect(advTrain(model, b, { epsilon: 0.1, validation: { images: split.test.images, labels: split.test.labels } as never })).rejects.toThrow(/options.validation.epsilon/);
    await expect(advTrain(model, b, { epsilon: 0.1, validation: { images: split.test.images, labels: split.test.labels, epsilon: 0.1, step: 3 } as never })).rejects.toThrow(/options.validation.step/);
    await expect(advTrain(model, b, { epsilon: 0.1, clip: [1, 0] })).rejects.toThrow(/options.clip/);
    await expect(advTrain(model, b, { epsilon: 0.1, output: 2 })).rejects.toThrow(/options.output must be an output index below 1/);
    await expect(advTrain(model, () => 5 as never, { epsilon: 0.1, epochs: 1 })).rejects.toThrow(/data\(epoch\) must be an iterable/);
    // A checkpoint of another method or model is a FormatError.
    const store = memoryStore<TrainingCheckpoint>();
    await maAdvTrain(model, b, { epsilon: 0.05, steps: 1, epochs: 1, seed: 1, checkpoint: store });
    await expect(advTrain(model, b, { epsilon: 0.1, epochs: 2, checkpoint: store })).rejects.toThrow(FormatError);
    const other = buildSmallNet({ inputShape: [8, 8, 1], outputs: 3, kind: 'cnn', seed: 1 });
    await expect(maAdvTrain(other, b, { epsilon: 0.1, epochs: 2, checkpoint: store })).rejects.toThrow(/saved from another model/);
    tf.dispose(badLabels[0]!.labels);
    model.dispose();
    other.dispose();
  });

  it('does not leak tensors', async () => {
    const model = buildSmallNet({ inputShape: [8, 8, 1], outputs: 3, kind: 'mlp', seed: 1 });
    await expectNoLeak(() => advTrain(model, split.batches, { epochs: 2, seed: 1, epsilon: 0.1, steps: 2, validation: { images: split.test.images, labels: split.test.labels, epsilon: 0.1, steps: 2, batchSize: 20 } }));
    const store = memoryStore<TrainingCheckpoint>();
    await expectNoLeak(() => advTrain(model, split.batches, { epochs: 1, seed: 1, epsilon: 0.1, steps: 1, checkpoint: store }));
    await expectNoLeak(() => advTrain(model, split.batches, { epochs: 2, seed: 1, epsilon: 0.1, steps: 1, checkpoint: store }));
    model.dispose();
  });
});
