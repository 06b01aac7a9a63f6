import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apgd, apgdAsync, APGD_KEYS, apgdBatch, checkpointSchedule, planApgd, type ApgdTrace } from '../../src/attacks/apgd.js';
import { pgd } from '../../src/attacks/pgd.js';
import { AbortError, InvalidArgumentError, NonFiniteError } from '../../src/errors.js';
import { drain } from '../../src/internal/drive.js';
import { sigmoidBinaryCrossEntropy, softmaxCrossEntropy } from '../../src/internal/loss.js';
import { toModelFn } from '../../src/model.js';
import type { ModelFn } from '../../src/types.js';
import { BACKENDS, useTestBackend } from '../helpers/backends.js';
import { expectClose, maxAbsDiff } from '../helpers/close.js';
import { expectNoLeak } from '../helpers/expectNoLeak.js';
import { linearModel, type LinearModel } from '../helpers/linearModel.js';
import { quantised } from '../helpers/maskingModels.js';
import { buildSmallNet, top1, trainNet } from '../helpers/smallNet.js';
import { toyMultiLabel, toySingleLabel, type ToySet } from '../helpers/toyData.js';
import { captureWarnings } from '../helpers/warnings.js';

const perImage = (adv: tf.Tensor4D, x: tf.Tensor4D, norm: 'linf' | 'l2'): Float32Array => tf.tidy(() => {
  const d = tf.reshape(tf.sub(adv, x), [x.shape[0], -1]);
  return (norm === 'linf' ? tf.max(tf.abs(d), 1) : tf.sqrt(tf.sum(tf.square(d), 1))).dataSync() as Float32Array;
});

describe.each(BACKENDS)('apgd on %s', (backend) => {
  let lin: LinearModel;
  let images: tf.Tensor4D;
  let labels: tf.Tensor1D;
  let train: ToySet;
  let test: ToySet;
  let net: tfl.LayersModel;
  let model: ModelFn;
  beforeAll(async () => {
    await useTestBackend(backend);
    lin = linearModel(4 * 4 * 2, 3);
    images = tf.tidy(() => tf.randomUniform([6, 4, 4, 2], 0, 1, 'float32', 5)) as tf.Tensor4D;
    labels = tf.tensor1d([0, 1, 2, 1, 0, 2], 'int32');
    train = toySingleLabel({ n: 64, classes: 4, seed: 1 });
    test = toySingleLabel({ n: 16, classes: 4, seed: 2 });
    net = buildSmallNet({ inputShape: [8, 8, 1], outputs: 4, kind: 'mlp' });
    trainNet(net, train.images, train.labels, { steps: 80 });
    model = toModelFn(net);
  });
  afterAll(() => { lin.dispose(); net.dispose(); tf.dispose([images, labels, train.images, train.labels, test.images, test.labels]); });

  describe('invariants', () => {
    it.each(['linf', 'l2'] as const)('keeps ‖δ‖ ≤ ε (%s), stays in [0, 1], moves, and never mutates the input', (norm) => {
      const before = images.dataSync().slice();
      const eps = norm === 'linf' ? 0.05 : 0.3;
      const adv = apgd(lin.model, images, labels, { epsilon: eps, norm, steps: 12, seed: 1 });
      perImage(adv, images, norm).forEach((v) => expect(v).toBeLessThanOrEqual(eps * (1 + 1e-5) + 1e-6));
      expect(Math.max(...perImage(adv, images, norm))).toBeGreaterThan(0.5 * eps);
      expect(tf.min(adv).dataSync()[0]).toBeGreaterThanOrEqual(0);
      expect(tf.max(adv).dataSync()[0]).toBeLessThanOrEqual(1);
      expectClose(images.dataSync(), before, 0);
      adv.dispose();
    });

    it('respects a per-sample ε (0 leaves the image), and equal per-sample values equal the scalar, bit for bit', () => {
      const eps = [0, 0.01, 0.02, 0.05, 0.1, 0.2];
      const adv = apgd(lin.model, images, labels, { epsilon: eps, steps: 8, seed: 3 });
      const linf = perImage(adv, images, 'linf');
      eps.forEach((e, i) => expect(linf[i]!).toBeLessThanOrEqual(e + 1e-6));
      expect(linf[0]).toBe(0);
      const a = apgd(lin.model, images, labels, { epsilon: new Array(6).fill(0.07), steps: 8, seed: 3 });
      const b = apgd(lin.model, images, labels, { epsilon: 0.07, steps: 8, seed: 3 });
      expectClose(a.dataSync(), b.dataSync(), 0);
      tf.dispose([adv, a, b]);
    });

    it('reproduces with a seed, differs with another, and does not depend on the batch or chunk (restarts too)', () => {
      const opts = { epsilon: 0.2, steps: 10, restarts: 3, seed: 42 } as const;
      const a = apgd(net, test.images, test.labels, opts);
      const b = apgd(net, test.images, test.labels, opts);
      const c = apgd(net, test.images, test.labels, { ...opts, seed: 43 });
      expectClose(a.dataSync(), b.dataSync(), 0);
      expect(maxAbsDiff(a.dataSync(), c.dataSync())).toBeGreaterThan(1e-3);
      const chunked = apgd(net, test.images, test.labels, { ...opts, batchSize: 3 });
      expectClose(chunked.dataSync(), a.dataSync(), 0);
      for (const i of [0, 5]) {
        const xi = tf.slice(test.images, [i, 0, 0, 0], [1, 8, 8, 1]);
        const yi = tf.slice(test.labels, [i], [1]);
        const alone = apgd(net, xi, yi, opts);
        const inBatch = tf.slice(a, [i, 0, 0, 0], [1, 8, 8, 1]);
        expectClose(alone.dataSync(), inBatch.dataSync(), 1e-6);
        tf.dispose([xi, yi, alone, inBatch]);
      }
      tf.dispose([a, b, c, chunked]);
    });

    it.each(['linf', 'l2'] as const)('changes nothing outside a region-of-interest mask (%s)', (norm) => {
      // One mask per image: a different quadrant for each; and one mask shared by all.
      const masks = tf.tidy(() => tf.stack(Array.from({ length: 16 }, (_, i) => tf.pad(tf.ones([4, 4, 1]), [[i % 2 ? 4 : 0, i % 2 ? 0 : 4], [i % 4 < 2 ? 0 : 4, i % 4 < 2 ? 4 : 0], [0, 0]]))) as tf.Tensor4D);
      const shared = tf.tidy(() => tf.pad(tf.ones([1, 3, 8, 1]), [[0, 0], [2, 3], [0, 0], [0, 0]]) as tf.Tensor4D);
      for (const mask of [masks, shared]) {
        const adv = apgd(net, test.images, test.labels, { epsilon: norm === 'linf' ? 0.3 : 1, norm, steps: 10, seed: 1, mask });
        perImage(adv, test.images, norm).forEach((v) => expect(v).toBeLessThanOrEqual((norm === 'linf' ? 0.3 : 1) * (1 + 1e-5) + 1e-6));
        const [outside, inside] = tf.tidy(() => {
          const d = tf.abs(tf.sub(adv, test.images));
          return [tf.max(tf.mul(d, tf.sub(1, mask))).dataSync()[0]!, tf.max(tf.mul(d, mask)).dataSync()[0]!];
        });
        expect(outside).toBe(0);
        expect(inside).toBeGreaterThan(0.1);
        adv.dispose();
      }
      tf.dispose([masks, shared]);
    });
  });

  describe('its algorithm', () => {
    it('places checkpoints as the reference (22% of the iterations, then 3% shorter, at least 6%) and changes η only there', () => {
      expect(checkpointSchedule(100)).toEqual({ first: 22, decrement: 3, minimum: 6 });
      expect(checkpointSchedule(10)).toEqual({ first: 2, decrement: 1, minimum: 1 });
      const steps = 100;
      const traces: ApgdTrace[] = [];
      const { plan, images: x } = planApgd('apgd', net, test.images, test.labels, { epsilon: 0.1, steps, seed: 2 }, APGD_KEYS, {});
      drain(apgdBatch(x, plan, (t) => traces.push(t))).adv.dispose();
      const checkpoints = new Set<number>();
      for (let at = 22, w = 22; at <= steps; w = Math.max(w - 3, 6), at += w) checkpoints.add(at - 1);
      const eta0 = 2 * 0.1;
      let halved = 0;
      traces.filter((t) => t.step >= 0).forEach((t, i, all) => {
        const before = i === 0 ? new Float32Array(16).fill(eta0) : all[i - 1]!.stepSize;
        t.stepSize.forEach((v, k) => {
          if (Math.abs(v - before[k]!) > 1e-9) {
            expect(checkpoints.has(t.step), `η of image ${k} changed at step ${t.step}`).toBe(true);
            expect(v).toBeCloseTo(before[k]! / 2, 7);
            halved++;
          }
        });
      });
      expect(halved).toBeGreaterThan(0);
      // The best loss never decreases.
      traces.slice(1).forEach((t, i) => t.lossBest.forEach((v, k) => expect(v).toBeGreaterThanOrEqual(traces[i]!.lossBest[k]!)));
    });

    it('reaches at least the loss of PGD at the same budget and number of steps', () => {
      for (const [m, x, y, eps] of [[model, test.images, test.labels, 0.1], [lin.model, images, labels, 0.02]] as const) {
        for (const norm of ['linf', 'l2'] as const) {
          const e = norm === 'linf' ? eps : eps * 6;
          const a = apgd(m, x, y, { epsilon: e, norm, steps: 20, seed: 1, select: 'loss' });
          const p = pgd(m, x, y, { epsilon: e, norm, steps: 20, seed: 1 });
          const [la, lp] = tf.tidy(() => [tf.mean(softmaxCrossEntropy(m(a), y)).dataSync()[0]!, tf.mean(softmaxCrossEntropy(m(p), y)).dataSync()[0]!]);
          expect(la, `${norm}: APGD ${la} vs PGD ${lp}`).toBeGreaterThanOrEqual(lp - 1e-5);
          tf.dispose([a, p]);
        }
      }
    });

    it('restarts never lower an image\'s best loss, and a fooled image keeps its fooling point', () => {
      const one = apgd(net, test.images, test.labels, { epsilon: 0.05, steps: 5, seed: 9, select: 'loss' });
      const many = apgd(net, test.images, test.labels, { epsilon: 0.05, steps: 5, seed: 9, restarts: 3, select: 'loss' });
      const [l1, l3] = tf.tidy(() => [softmaxCrossEntropy(model(one), test.labels).dataSync(), softmaxCrossEntropy(model(many), test.labels).dataSync()]);
      l1.forEach((v, i) => expect(l3[i]!).toBeGreaterThanOrEqual(v - 1e-6));
      const fooledOnce = apgd(net, test.images, test.labels, { epsilon: 0.3, steps: 10, seed: 9 });
      const fooledMany = apgd(net, test.images, test.labels, { epsilon: 0.3, steps: 10, seed: 9, restarts: 3 });
      const wrong = tf.tidy(() => tf.notEqual(tf.argMax(model(fooledOnce), 1), test.labels).dataSync());
      const after = tf.tidy(() => tf.notEqual(tf.argMax(model(fooledMany), 1), test.labels).dataSync());
      wrong.forEach((w, i) => {
        if (!w) return;
        expect(after[i]).toBe(1);
        const a = tf.tidy(() => tf.slice(fooledOnce, [i, 0, 0, 0], [1, 8, 8, 1]).dataSync());
        const b = tf.tidy(() => tf.slice(fooledMany, [i, 0, 0, 0], [1, 8, 8, 1]).dataSync());
        expectClose(a, b, 0);
      });
      tf.dispose([one, many, fooledOnce, fooledMany]);
    });

    it('breaks a trained net with every loss, and targeted CE reaches the targets', () => {
      const clean = top1(model, test.images, test.labels as tf.Tensor1D);
      expect(clean).toBeGreaterThan(0.9);
      for (const loss of ['ce', 'margin', 'dlr', 'dlr-targeted'] as const) {
        const adv = apgd(net, test.images, test.labels, { epsilon: 0.3, steps: 20, loss, seed: 1 });
        expect(top1(model, adv, test.labels as tf.Tensor1D), loss).toBeLessThan(0.2);
        adv.dispose();
      }
      const targets = tf.tidy(() => tf.cast(tf.mod(tf.add(test.labels, 1), 4), 'int32'));
      const adv = apgd(net, test.images, targets, { epsilon: 0.3, steps: 20, targeted: true, seed: 1 });
      expect(top1(model, adv, targets as tf.Tensor1D)).toBeGreaterThan(0.8);
      tf.dispose([targets, adv]);
    });
  });

  describe('binary, single-logit and multi-label models (the margin loss)', () => {
    it('gives a finite margin-loss attack that breaks a 2-class softmax model, where DLR is refused', () => {
      const bin = linearModel(4 * 4 * 2, 2, 5);
      const y = tf.tidy(() => tf.cast(tf.argMax(bin.model(images), 1), 'int32'));
      const adv = apgd(bin.model, images, y, { epsilon: 0.5, steps: 10, loss: 'margin', seed: 1 });
      const margin = tf.tidy(() => { const z = bin.model(adv); return tf.sub(tf.max(z, 1), tf.sum(tf.mul(z, tf.oneHot(y as tf.Tensor1D, 2)), 1)).dataSync(); });
      margin.forEach((v) => expect(Number.isFinite(v)).toBe(true));
      expect(top1(bin.model, adv, y as tf.Tensor1D)).toBe(0);
      expect(() => apgd(bin.model, images, y, { epsilon: 0.1, loss: 'dlr' })).toThrow(/apgd: options.loss must be 'ce' or 'margin' for a model with 2 logits \(DLR needs 3 classes/);
      expect(() => apgd(lin.model, images, labels, { epsilon: 0.1, loss: 'dlr-targeted' })).toThrow(/options.loss must be 'dlr', 'ce' or 'margin' for a model with 3 logits \(the targeted DLR needs 4 classes/);
      tf.dispose([y, adv]);
      bin.dispose();
    });

    it('attacks a single-logit model (task multi-label, one label) with a finite margin, flipping its decision', () => {
      const one = linearModel(4 * 4 * 2, 1, 6);
      const y = tf.tidy(() => tf.cast(tf.greater(one.model(images), 0), 'float32'));
      for (const loss of ['margin', 'ce'] as const) {
        const adv = apgd(one.model, images, y, { epsilon: 0.5, steps: 10, loss, task: 'multi-label', seed: 1 });
        const flipped = tf.tidy(() => tf.notEqual(tf.greater(one.model(adv), 0), tf.greater(y, 0.5)).dataSync());
        expect(Array.from(flipped).every((v) => v === 1), loss).toBe(true);
        adv.dispose();
      }
      y.dispose();
      one.dispose();
    });

    it('reaches each multi-label goal on a trained multi-label net', () => {
      const data = toyMultiLabel({ n: 24, seed: 3 });
      const mnet = buildSmallNet({ inputShape: [8, 8, 1], outputs: 3, kind: 'mlp', seed: 11 });
      trainNet(mnet, data.images, data.labels, { steps: 100, task: 'multi-label' });
      const m = toModelFn(mnet);
      const truth = data.labels.dataSync();
      const run = (goal: Parameters<typeof apgd>[3]['goal'], loss: 'ce' | 'margin') => {
        const adv = apgd(mnet, data.images, data.labels, { epsilon: 0.3, steps: 20, loss, task: 'multi-label', goal, seed: 1 });
        const pred = tf.tidy(() => tf.greater(m(adv), 0).dataSync());
        const finite = tf.tidy(() => tf.all(tf.isFinite(m(adv))).dataSync()[0]);
        expect(finite).toBe(1);
        adv.dispose();
        return pred;
      };
      for (const loss of ['margin', 'ce'] as const) {
        const hidden = run({ hide: 1 }, loss);
        const withFinding = [...Array(24).keys()].filter((i) => truth[i * 3 + 1] === 1);
        expect(withFinding.filter((i) => hidden[i * 3 + 1] === 0).length / withFinding.length, `hide, ${loss}`).toBeGreaterThan(0.8);
        const added = run({ add: 0 }, loss);
        const without = [...Array(24).keys()].filter((i) => truth[i * 3] === 0);
        expect(without.filter((i) => added[i * 3] === 1).length / without.length, `add, ${loss}`).toBeGreaterThan(0.8);
        const healthy = run({ target: [0, 0, 0] }, loss);
        expect([...Array(24).keys()].filter((i) => healthy[i * 3]! + healthy[i * 3 + 1]! + healthy[i * 3 + 2]! === 0).length / 24, `target, ${loss}`).toBeGreaterThan(0.8);
        const all = run('flip-all', loss);
        expect([...Array(24).keys()].filter((i) => [0, 1, 2].every((k) => all[i * 3 + k] !== truth[i * 3 + k])).length / 24, `flip-all, ${loss}`).toBeGreaterThan(0.5);
      }
      const before = tf.tidy(() => tf.mean(sigmoidBinaryCrossEntropy(m(data.images), data.labels)).dataSync()[0]!);
      const adv = apgd(mnet, data.images, data.labels, { epsilon: 0.3, steps: 20, task: 'multi-label', seed: 1 });
      expect(tf.tidy(() => tf.mean(sigmoidBinaryCrossEntropy(m(adv), data.labels)).dataSync()[0]!)).toBeGreaterThan(3 * before);
      adv.dispose();
      mnet.dispose();
      tf.dispose([data.images, data.labels]);
    });
  });

  describe('checks, async and memory', () => {
    it('warns about zero input gradients on a quantised model, and stays silent on a normal one', async () => {
      const masked = quantised(model);
      const warned = await captureWarnings(() => apgd(masked, test.images, test.labels, { epsilon: 0.03, steps: 3, seed: 1 }).dispose());
      expect(warned.map((w) => w.code)).toEqual(['MEDROBUST_GRADIENT']);
      expect(warned[0]!.message).toMatch(/apgd: 1[0-9] of 16 images have an input gradient that is exactly 0 .*squareAttack/);
      const silent = await captureWarnings(() => apgd(net, test.images, test.labels, { epsilon: 0.03, steps: 3, seed: 1 }).dispose());
      expect(silent).toEqual([]);
    });

    it('apgdAsync equals apgd bit for bit, reports progress, and stops on abort freeing everything', async () => {
      const sync = apgd(net, test.images, test.labels, { epsilon: 0.1, steps: 6, restarts: 2, seed: 4 });
      const seen: number[] = [];
      const asyncResult = await apgdAsync(net, test.images, test.labels, { epsilon: 0.1, steps: 6, restarts: 2, seed: 4, onProgress: (p) => seen.push(p.done) });
      expectClose(asyncResult.dataSync(), sync.dataSync(), 0);
      expect(seen.length).toBeGreaterThanOrEqual(6);
      tf.dispose([sync, asyncResult]);
      const before = tf.memory().numTensors;
      const controller = new AbortController();
      const run = apgdAsync(net, test.images, test.labels, { epsilon: 0.1, steps: 1000, seed: 4, signal: controller.signal, onProgress: (p) => { if (p.done === 3) controller.abort(); } });
      await expect(run).rejects.toThrow(AbortError);
      expect(tf.memory().numTensors).toBe(before);
    });

    it('does not leak, sync and async, with restarts, a mask and every loss; nor when it throws', async () => {
      const mask = tf.tidy(() => tf.pad(tf.ones([1, 4, 4, 1]), [[0, 0], [2, 2], [2, 2], [0, 0]]) as tf.Tensor4D);
      for (const loss of ['ce', 'margin', 'dlr', 'dlr-targeted'] as const) {
        await expectNoLeak(() => apgd(net, test.images, test.labels, { epsilon: 0.1, steps: 4, restarts: 2, loss, seed: 1, mask }));
      }
      await expectNoLeak(() => apgdAsync(net, test.images, test.labels, { epsilon: 0.5, norm: 'l2', steps: 4, restarts: 2, seed: 1, batchSize: 5 }));
      const before = tf.memory().numTensors;
      const wide = tf.tensor1d([0, 1, 2, 9, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3], 'int32');
      expect(() => apgd(net, test.images, wide, { epsilon: 0.1, steps: 2 })).toThrow(InvalidArgumentError);
      await expect(apgdAsync(net, test.images, wide, { epsilon: 0.1, steps: 2 })).rejects.toThrow(InvalidArgumentError);
      const nan: ModelFn = (x) => tf.tidy(() => tf.mul(model(x), Number.NaN) as tf.Tensor2D);
      expect(() => apgd(nan, test.images, test.labels, { epsilon: 0.1, steps: 2 })).toThrow(NonFiniteError);
      wide.dispose();
      expect(tf.memory().numTensors).toBe(before);
      mask.dispose();
    });
  });

  it('rejects bad input with typed errors naming the function, argument, expectation and value', () => {
    const run = (opts: unknown, x: unknown = images, y: unknown = labels) => () => apgd(lin.model, x as tf.Tensor4D, y as tf.Tensor, opts as never);
    expect(run({ epsilon: 0.1, loss: 'cw' })).toThrow(/apgd: options.loss must be one of 'ce', 'margin', 'dlr', 'dlr-targeted', received "cw"/);
    expect(run({ epsilon: 0.1, loss: (z: tf.Tensor) => z })).toThrow(/options.loss must be one of 'ce', 'margin', 'dlr', 'dlr-targeted' \(APGD's losses/);
    expect(run({ epsilon: 0.1, n_iter: 10 })).toThrow(/options.n_iter must be one of the known options .*did you mean 'steps'\?/);
    expect(run({ epsilon: 0.1, steps: 0 })).toThrow(/options.steps must be a finite integer >= 1, received 0/);
    expect(run({ epsilon: 0.1, steps: 5000, restarts: 3 })).toThrow(/at most 10000 gradient evaluations .*apgdAsync/);
    expect(run({ epsilon: 0.1, rho: 2 })).toThrow(/options.rho must be a finite number >= 0 and <= 1, received 2/);
    expect(run({ epsilon: 0.1, momentum: -0.5 })).toThrow(/options.momentum/);
    expect(run({ epsilon: 0.1, targetRank: 2 })).toThrow(/options.targetRank must be no value unless loss is 'dlr-targeted'/);
    expect(run({ epsilon: 0.1, loss: 'dlr', targeted: true })).toThrow(/options.targeted must be false with loss 'dlr'/);
    expect(run({ epsilon: 0.1, goal: 'flip-all' })).toThrow(/options.goal must be no goal for task 'single-label'/);
    expect(run({ epsilon: 0.1, threshold: 0.7 })).toThrow(/options.threshold must be no value unless task is 'multi-label'/);
    expect(run({ epsilon: 0.1, select: 'best' })).toThrow(/options.select must be one of 'success', 'loss'/);
    expect(run({ epsilon: [0.1, 0.2] })).toThrow(/options.epsilon must be a number or an array of 6 numbers/);
    expect(run({})).toThrow(/options.epsilon must be a finite number >= 0 or an array of them/);
    const badMask = tf.fill([6, 4, 4, 1], 0.5) as tf.Tensor4D;
    expect(run({ epsilon: 0.1, mask: badMask })).toThrow(/apgd: options.mask must be a 0\/1 tensor of shape \[6 or 1, 4, 4, 1 or 2\].*received the value 0.5/);
    const wrongShape = tf.ones([6, 4, 5, 1]) as tf.Tensor4D;
    expect(run({ epsilon: 0.1, mask: wrongShape })).toThrow(/options.mask must be a 0\/1 tensor of shape \[6 or 1, 4, 4, 1 or 2\].*received shape \[6,4,5,1\]/);
    const multi = tf.ones([6, 3]);
    expect(run({ epsilon: 0.1, task: 'multi-label', goal: { hide: 3 } }, images, multi)).toThrow(/options.goal.hide must be a finding index in \[0, 2\], received 3/);
    expect(run({ epsilon: 0.1, task: 'multi-label', goal: { target: [1, 0] } }, images, multi)).toThrow(/options.goal.target must be a multi-hot row of 3 values/);
    expect(run({ epsilon: 0.1, task: 'multi-label', loss: 'dlr' }, images, multi)).toThrow(/options.loss must be 'ce' or 'margin' for task 'multi-label'/);
    expect(() => apgd(5 as never, images, labels, { epsilon: 0.1 })).toThrow(/apgd: model must be a function/);
    tf.dispose([badMask, wrongShape, multi]);
  });
});
