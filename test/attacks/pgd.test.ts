import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fgsm } from '../../src/attacks/fgsm.js';
import { pgd } from '../../src/attacks/pgd.js';
import { InvalidArgumentError } from '../../src/errors.js';
import { sigmoidBinaryCrossEntropy, softmaxCrossEntropy } from '../../src/internal/loss.js';
import { toModelFn } from '../../src/model.js';
import type { ModelFn } from '../../src/types.js';
import { BACKENDS, useTestBackend } from '../helpers/backends.js';
import { expectClose, maxAbsDiff } from '../helpers/close.js';
import { expectNoLeak } from '../helpers/expectNoLeak.js';
import { linearModel, type LinearModel } from '../helpers/linearModel.js';
import { buildSmallNet, top1, trainNet } from '../helpers/smallNet.js';
import { toyMultiLabel, toySingleLabel, type ToySet } from '../helpers/toyData.js';

const meanLoss = (model: ModelFn, x: tf.Tensor4D, y: tf.Tensor, multi = false) =>
  tf.tidy(() => tf.mean((multi ? sigmoidBinaryCrossEntropy : softmaxCrossEntropy)(model(x), y)).dataSync()[0]!);

describe.each(BACKENDS)('pgd on %s', (backend) => {
  let lin: LinearModel;
  let images: tf.Tensor4D;
  let labels: tf.Tensor1D;
  beforeAll(async () => {
    await useTestBackend(backend);
    lin = linearModel(4 * 4 * 2, 3);
    images = tf.tidy(() => tf.randomUniform([6, 4, 4, 2], 0, 1, 'float32', 5)) as tf.Tensor4D;
    labels = tf.tensor1d([0, 1, 2, 1, 0, 2], 'int32');
  });
  afterAll(() => { lin.dispose(); images.dispose(); labels.dispose(); });

  describe('invariants', () => {
    it.each(['linf', 'l2'] as const)('keeps ‖δ‖ ≤ ε (%s), stays in [0,1], and never mutates the input', (norm) => {
      const before = images.dataSync().slice();
      const eps = norm === 'linf' ? 0.1 : 0.5;
      const adv = pgd(lin.model, images, labels, { epsilon: eps, norm, steps: 7, seed: 1 });
      const [lo, hi] = tf.tidy(() => [tf.min(adv).dataSync()[0]!, tf.max(adv).dataSync()[0]!]);
      expect(lo).toBeGreaterThanOrEqual(0);
      expect(hi).toBeLessThanOrEqual(1);
      const norms = tf.tidy(() => {
        const d = tf.reshape(tf.sub(adv, images), [6, -1]);
        return (norm === 'linf' ? tf.max(tf.abs(d), 1) : tf.norm(d, 'euclidean', 1)).dataSync();
      });
      norms.forEach((v) => expect(v).toBeLessThanOrEqual(eps + 1e-6));
      expect(Math.max(...norms)).toBeGreaterThan(eps * 0.5); // it moved
      expectClose(images.dataSync(), before, 0);
      adv.dispose();
    });

    it('respects a per-sample ε and equals the scalar result when all ε are equal', () => {
      const epsList = [0, 0.02, 0.05, 0.1, 0.2, 0.3];
      const adv = pgd(lin.model, images, labels, { epsilon: epsList, steps: 5, seed: 3 });
      const linf = tf.tidy(() => tf.max(tf.abs(tf.reshape(tf.sub(adv, images), [6, -1])), 1).dataSync());
      epsList.forEach((e, i) => expect(linf[i]!).toBeLessThanOrEqual(e + 1e-6));
      expect(linf[0]).toBe(0);
      const a = pgd(lin.model, images, labels, { epsilon: new Array(6).fill(0.07), steps: 5, seed: 3 });
      const b = pgd(lin.model, images, labels, { epsilon: 0.07, steps: 5, seed: 3 });
      expectClose(a.dataSync(), b.dataSync(), 0);
      tf.dispose([adv, a, b]);
    });

    it('ε = 0 returns the input', () => {
      const adv = pgd(lin.model, images, labels, { epsilon: 0, seed: 1 });
      expectClose(adv.dataSync(), images.dataSync(), 0);
      adv.dispose();
    });

    it('reproduces with the same seed, differs with another, and is batch-consistent', () => {
      const a = pgd(lin.model, images, labels, { epsilon: 0.1, steps: 3, seed: 42 });
      const b = pgd(lin.model, images, labels, { epsilon: 0.1, steps: 3, seed: 42 });
      const c = pgd(lin.model, images, labels, { epsilon: 0.1, steps: 3, seed: 43 });
      expectClose(a.dataSync(), b.dataSync(), 0);
      expect(maxAbsDiff(a.dataSync(), c.dataSync())).toBeGreaterThan(1e-3);
      for (let i = 0; i < 6; i++) {
        const xi = tf.slice(images, [i, 0, 0, 0], [1, 4, 4, 2]);
        const yi = tf.slice(labels, [i], [1]);
        const alone = pgd(lin.model, xi, yi, { epsilon: 0.1, steps: 3, seed: 42 });
        const inBatch = tf.slice(a, [i, 0, 0, 0], [1, 4, 4, 2]);
        expectClose(alone.dataSync(), inBatch.dataSync(), 1e-6);
        tf.dispose([xi, yi, alone, inBatch]);
      }
      tf.dispose([a, b, c]);
    });

    it('restarts keep each sample\'s worst case: loss never below the single run with the same seed', () => {
      const one = pgd(lin.model, images, labels, { epsilon: 0.05, steps: 2, seed: 9 });
      const many = pgd(lin.model, images, labels, { epsilon: 0.05, steps: 2, seed: 9, restarts: 4 });
      const l1 = tf.tidy(() => softmaxCrossEntropy(lin.model(one), labels).dataSync());
      const l4 = tf.tidy(() => softmaxCrossEntropy(lin.model(many), labels).dataSync());
      l1.forEach((v, i) => expect(l4[i]!).toBeGreaterThanOrEqual(v - 1e-6));
      tf.dispose([one, many]);
    });

    it("clips to the batch's global range with clip: 'batch' and per channel with {min, max}", () => {
      const narrow = tf.tidy(() => tf.add(0.4, tf.mul(0.2, images))) as tf.Tensor4D; // values in [0.4, 0.6]
      const [mn, mx] = [tf.min(narrow).dataSync()[0]!, tf.max(narrow).dataSync()[0]!];
      const adv = pgd(lin.model, narrow, labels, { epsilon: 0.3, steps: 3, seed: 1, clip: 'batch' });
      expect(tf.min(adv).dataSync()[0]!).toBeGreaterThanOrEqual(mn - 1e-7);
      expect(tf.max(adv).dataSync()[0]!).toBeLessThanOrEqual(mx + 1e-7);
      const perChannel = pgd(lin.model, narrow, labels, { epsilon: 0.3, steps: 3, seed: 1, clip: { min: [0.35, 0.3], max: [0.65, 0.61] } });
      const [c0, c1] = tf.tidy(() => tf.split(perChannel, 2, 3).map((t) => [tf.min(t).dataSync()[0]!, tf.max(t).dataSync()[0]!]));
      expect(c0![0]).toBeGreaterThanOrEqual(0.35 - 1e-7);
      expect(c0![1]).toBeLessThanOrEqual(0.65 + 1e-7);
      expect(c1![0]).toBeGreaterThanOrEqual(0.3 - 1e-7);
      expect(c1![1]).toBeLessThanOrEqual(0.61 + 1e-7);
      tf.dispose([narrow, adv, perChannel]);
    });
  });

  describe('on a small net trained on generated data', () => {
    let train: ToySet;
    let test: ToySet;
    let net: tfl.LayersModel;
    let model: ModelFn;
    beforeAll(() => {
      train = toySingleLabel({ n: 48, seed: 1 });
      test = toySingleLabel({ n: 24, seed: 2 });
      net = buildSmallNet({ inputShape: [8, 8, 1], outputs: 3, kind: backend === 'wasm' ? 'mlp' : 'cnn' });
      trainNet(net, train.images, train.labels, { steps: 80 });
      model = toModelFn(net);
    });
    afterAll(() => { net.dispose(); tf.dispose([train.images, train.labels, test.images, test.labels]); });

    it('drives accuracy far below clean accuracy and reaches a higher loss than FGSM', () => {
      const clean = top1(model, test.images, test.labels as tf.Tensor1D);
      expect(clean).toBeGreaterThan(0.9);
      const eps = 0.3;
      const advPgd = pgd(net, test.images, test.labels, { epsilon: eps, steps: 20, seed: 1 });
      const advFgsm = fgsm(net, test.images, test.labels, { epsilon: eps });
      const robust = top1(model, advPgd, test.labels as tf.Tensor1D);
      expect(robust, `clean ${clean}, PGD ${robust}`).toBeLessThan(0.25);
      const lp = meanLoss(model, advPgd, test.labels);
      const lf = meanLoss(model, advFgsm, test.labels);
      expect(lp, `PGD loss ${lp} vs FGSM loss ${lf}`).toBeGreaterThan(lf);
      expect(lf).toBeGreaterThan(meanLoss(model, test.images, test.labels));
      tf.dispose([advPgd, advFgsm]);
    });

    it('targeted PGD raises target hits', () => {
      const targets = tf.tidy(() => tf.cast(tf.mod(tf.add(test.labels, 1), 3), 'int32'));
      const before = top1(model, test.images, targets as tf.Tensor1D);
      const adv = pgd(net, test.images, targets, { epsilon: 0.3, steps: 20, seed: 2, targeted: true });
      const after = top1(model, adv, targets as tf.Tensor1D);
      expect(after, `target hits ${before} -> ${after}`).toBeGreaterThan(0.8);
      expect(before).toBeLessThan(0.1);
      tf.dispose([targets, adv]);
    });

    it('does not leak tensors, with restarts and L2 too', async () => {
      await expectNoLeak(() => pgd(net, test.images, test.labels, { epsilon: 0.1, steps: 3, seed: 1 }));
      await expectNoLeak(() => pgd(net, test.images, test.labels, { epsilon: 0.5, norm: 'l2', steps: 3, restarts: 2, seed: 1 }));
    });
  });

  describe('multi-label', () => {
    let data: ToySet;
    let net: tfl.LayersModel;
    let model: ModelFn;
    beforeAll(() => {
      data = toyMultiLabel({ n: 48, seed: 3 });
      net = buildSmallNet({ inputShape: [8, 8, 1], outputs: 3, kind: backend === 'wasm' ? 'mlp' : 'cnn', seed: 11 });
      trainNet(net, data.images, data.labels, { steps: 100, task: 'multi-label' });
      model = toModelFn(net);
    });
    afterAll(() => { net.dispose(); tf.dispose([data.images, data.labels]); });

    it('raises the BCE loss and flips predicted labels', () => {
      const adv = pgd(net, data.images, data.labels, { epsilon: 0.3, steps: 20, seed: 1, task: 'multi-label' });
      const clean = meanLoss(model, data.images, data.labels, true);
      const attacked = meanLoss(model, adv, data.labels, true);
      expect(attacked).toBeGreaterThan(clean * 3);
      const flipped = tf.tidy(() => {
        const a = tf.greater(model(data.images), 0);
        const b = tf.greater(model(adv), 0);
        return tf.mean(tf.cast(tf.notEqual(a, b), 'float32')).dataSync()[0]!;
      });
      expect(flipped, `fraction of flipped labels ${flipped}`).toBeGreaterThan(0.3);
      adv.dispose();
    });

    it('a targeted all-zeros goal ("make the X-ray look healthy") lowers every sigmoid output', () => {
      const healthy = tf.zerosLike(data.labels);
      const adv = pgd(net, data.images, healthy, { epsilon: 0.3, steps: 20, seed: 1, task: 'multi-label', targeted: true });
      const [before, after] = tf.tidy(() => [tf.sigmoid(model(data.images)).dataSync(), tf.sigmoid(model(adv)).dataSync()]);
      // Every output that is not already saturated at 0 goes down, and no finding is left positive.
      before.forEach((v, i) => { if (v > 1e-3) expect(after[i]!, `output ${i}: ${v} -> ${after[i]}`).toBeLessThan(v); });
      expect(Math.max(...after)).toBeLessThan(0.5);
      tf.dispose([healthy, adv]);
    });
  });

  it('rejects bad input with typed errors naming the function, argument, expectation and value', () => {
    const run = (opts: unknown, x: unknown = images, y: unknown = labels) => () => pgd(lin.model, x as tf.Tensor4D, y as tf.Tensor, opts as never);
    expect(run({ epsilon: 0.1, stepsize: 0.01 })).toThrow(/pgd: options.stepsize must be one of the known options .*did you mean 'stepSize'\?, received an unknown option 'stepsize'/);
    expect(run({ epsilon: 0.1, steps: 0 })).toThrow(/pgd: options.steps must be a finite integer >= 1, received 0/);
    expect(run({ epsilon: 0.1, steps: 2.5 })).toThrow(InvalidArgumentError);
    expect(run({ epsilon: 0.1, stepSize: -1 })).toThrow(/options.stepSize must be a finite number > 0/);
    expect(run({ epsilon: [0.1, 0.2] })).toThrow(/options.epsilon must be a number or an array of 6 numbers/);
    expect(run({ epsilon: [0.1, 0.1, 0.1, Number.NaN, 0.1, 0.1] })).toThrow(/options.epsilon\[3\] must be a finite number >= 0, received NaN/);
    expect(run({ epsilon: 0.1, seed: -3 })).toThrow(/options.seed/);
    expect(run({ epsilon: 0.1, clip: [1, 0] })).toThrow(/options.clip/);
    expect(run({ epsilon: 0.1, clip: { min: [0], max: [1] } })).toThrow(/per-channel \{ min: number\[2\]/);
    expect(run({ epsilon: 0.1, task: 'multilabel' })).toThrow(/options.task must be one of 'single-label', 'multi-label'/);
    expect(run({ epsilon: 0.1, task: 'multi-label' })).toThrow(/labels must be a multi-hot \[6, C\] tensor/);
    const hot = tf.tensor2d([[1, 1, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1]]);
    expect(run({ epsilon: 0.1 }, images, hot)).toThrow(/one-hot row summing to 1 .*task: 'multi-label'/);
    const wide = tf.oneHot(tf.tensor1d([0, 1, 2, 3, 0, 1], 'int32'), 4);
    expect(run({ epsilon: 0.1 }, images, tf.cast(wide, 'float32'))).toThrow(/labels must be a \[6, 3\] tensor to match the model's 3 logits/);
    expect(run({ epsilon: 0.1 }, tf.cast(images, 'int32'))).toThrow(/images must be a float32 tensor, received dtype int32/);
    expect(() => pgd(42 as never, images, labels, { epsilon: 0.1 })).toThrow(/pgd: model must be a function/);
    expect(run(5)).toThrow(/options must be a plain options object/);
    tf.dispose([hot, wide]);
  });

  it('leaves no tensor behind when it throws', async () => {
    const before = tf.memory().numTensors;
    const wide = tf.zeros([6, 5]);
    expect(() => pgd(lin.model, images, wide, { epsilon: 0.1 })).toThrow(InvalidArgumentError);
    wide.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
