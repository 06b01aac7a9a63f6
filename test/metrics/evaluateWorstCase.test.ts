import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AbortError, InvalidArgumentError, NonFiniteError } from '../../src/errors.js';
import { evaluateWorstCase, type WorstCaseAttack, type WorstCaseReport } from '../../src/metrics/evaluateWorstCase.js';
import { toModelFn } from '../../src/model.js';
import type { ModelFn } from '../../src/types.js';
import { BACKENDS, useTestBackend } from '../helpers/backends.js';
import { expectNoLeak } from '../helpers/expectNoLeak.js';
import { biasedModel, noisy, quantised, saturatedSoftmax, shellModel } from '../helpers/maskingModels.js';
import { buildSmallNet, trainNet } from '../helpers/smallNet.js';
import { toyMultiLabel, toySingleLabel, type ToySet } from '../helpers/toyData.js';
import { captureWarnings } from '../helpers/warnings.js';

/** A small ensemble with every kind of attack, cheap enough for the default suite. */
const SMALL: WorstCaseAttack[] = [
  { attack: 'pgd', steps: 10 },
  { attack: 'apgd-ce', steps: 20 },
  { attack: 'apgd-t', steps: 20, targets: 2 },
  { attack: 'noise', draws: 10 },
  { attack: 'square', queries: 200 },
];

/** Every kind of attack with the fewest steps and queries: the leak test walks the same code paths. */
const TINY: WorstCaseAttack[] = [
  { attack: 'pgd', steps: 2 },
  { attack: 'apgd-ce', steps: 4 },
  { attack: 'apgd-t', steps: 4, targets: 2 },
  { attack: 'noise', draws: 2 },
  { attack: 'square', queries: 20 },
];

const codes = (r: WorstCaseReport): string[] => r.warnings.map((w) => w.code).sort();

describe.each(BACKENDS)('evaluateWorstCase on %s', (backend) => {
  let train: ToySet;
  let test: ToySet;
  let net: tfl.LayersModel;
  let model: ModelFn;
  beforeAll(async () => {
    await useTestBackend(backend);
    train = toySingleLabel({ n: 64, classes: 4, seed: 1 });
    test = toySingleLabel({ n: 16, classes: 4, seed: 2 });
    net = buildSmallNet({ inputShape: [8, 8, 1], outputs: 4, kind: 'mlp' });
    trainNet(net, train.images, train.labels, { steps: 80 });
    model = toModelFn(net);
  });
  afterAll(() => { net.dispose(); tf.dispose([train.images, train.labels, test.images, test.labels]); });

  describe('the worst case', () => {
    let report: WorstCaseReport;
    beforeAll(async () => {
      report = await evaluateWorstCase(net, [{ images: test.images, labels: test.labels }], { epsilon: [0, 0.1, 0.2], attacks: SMALL, seed: 1 });
    });

    it('is at most PGD-10 by construction, and each attack only lowers robust accuracy', () => {
      expect(report.attacks.map((a) => a.name)).toEqual(['pgd-10', 'apgd-ce', 'apgd-t', 'noise', 'square']);
      for (const row of report.rows) {
        expect(row.robustAccuracy).toBeLessThanOrEqual(row.pgdAccuracy);
        expect(row.gap).toBeCloseTo(row.pgdAccuracy - row.robustAccuracy, 12);
        let last = report.clean.accuracy;
        for (const a of row.attacks) {
          expect(a.robustAccuracy).toBeLessThanOrEqual(last);
          expect(a.broken).toBeLessThanOrEqual(a.attacked);
          last = a.robustAccuracy;
        }
        expect(last).toBe(row.robustAccuracy);
        expect(row.robustCount).toBe(row.samples.broken.filter((b) => !b).length);
        row.samples.broken.forEach((b, i) => {
          expect(b).toBe(row.samples.brokenBy[i] !== null);
          if (b && row.samples.brokenBy[i] !== 'clean') expect(row.samples.margin[i]).toBeGreaterThanOrEqual(0);
          if (!b) expect(row.samples.margin[i]).toBeLessThanOrEqual(0);
        });
      }
      const [zero, small, large] = report.rows;
      expect(zero!.robustAccuracy).toBe(report.clean.accuracy);
      expect(zero!.auc).toBe(report.clean.auc);
      expect(large!.robustAccuracy).toBeLessThan(small!.robustAccuracy + 1e-12);
      expect(large!.robustAccuracy).toBeLessThan(report.clean.accuracy);
      expect(large!.attacks[3]!.meanQueries).toBe(large!.attacks[3]!.attacked > 0 ? 10 : 0);
      expect(report.warnings).toEqual([]);
    });

    // Bookkeeping over attack runs, not a kernel's arithmetic: on cpu by default, every backend when slow.
    it.runIf(backend === 'cpu' || process.env.MEDROBUST_SLOW === '1')('counts an image as broken when any attack breaks it, whatever the order and the batches', async () => {
      const alone = await Promise.all(SMALL.slice(1, 3).map(async (a) => (await evaluateWorstCase(net, [{ images: test.images, labels: test.labels }], { epsilon: 0.1, attacks: [a], seed: 1, checks: false })).rows[0]!.samples.broken));
      const pair = await evaluateWorstCase(net, [{ images: test.images, labels: test.labels }], { epsilon: 0.1, attacks: [SMALL[2]!, SMALL[1]!], seed: 1, checks: false });
      pair.rows[0]!.samples.broken.forEach((b, i) => expect(b).toBe(alone[0]![i]! || alone[1]![i]!));
      // Two batches of 8 give every image the same result as one batch of 16.
      const halves = [0, 8].map((s) => ({ images: tf.slice(test.images, [s, 0, 0, 0], [8, 8, 8, 1]), labels: tf.slice(test.labels, [s], [8]) }));
      const split = await evaluateWorstCase(net, halves, { epsilon: [0, 0.1, 0.2], attacks: SMALL, seed: 1 });
      split.rows.forEach((row, e) => {
        expect(row.samples.brokenBy).toEqual(report.rows[e]!.samples.brokenBy);
        expect(row.samples.queries).toEqual(report.rows[e]!.samples.queries);
        row.samples.margin.forEach((m, i) => expect(m).toBeCloseTo(report.rows[e]!.samples.margin[i]!, 4));
      });
      halves.forEach((h) => tf.dispose([h.images, h.labels]));
    });
  });

  describe('sanity checks: each fires on a model built to trigger it', () => {
    it('a quantised input masks the gradient: the gradient check fires, and Square breaks what PGD and APGD did not', async () => {
      const r = await evaluateWorstCase(quantised(model, 4), [{ images: test.images, labels: test.labels }], { epsilon: 0.3, attacks: SMALL, seed: 1 });
      const row = r.rows[0]!;
      expect(codes(r)).toContain('MEDROBUST_GRADIENT');
      expect(codes(r)).toContain('MEDROBUST_BLACK_BOX');
      const white = row.attacks.slice(0, 3).reduce((s, a) => s + a.broken, 0);
      const square = row.attacks[4]!.broken;
      expect(square, `Square broke ${square}, the white-box attacks ${white}`).toBeGreaterThan(white);
      expect(r.warnings.find((w) => w.code === 'MEDROBUST_GRADIENT')!.message).toMatch(/exactly 0 for 1[0-9] of the 1[0-9] checked.*BPDA/);
    });

    it('a saturated softmax head returns probabilities whose gradient vanishes', async () => {
      const warned = await captureWarnings(async () => {
        const r = await evaluateWorstCase(saturatedSoftmax(model), [{ images: test.images, labels: test.labels }], { epsilon: 0.15, attacks: SMALL.slice(0, 2), seed: 1 });
        expect(codes(r)).toContain('MEDROBUST_GRADIENT');
        expect(codes(r)).toContain('MEDROBUST_PROBABILITIES');
      });
      expect(warned.map((w) => w.code)).toContain('MEDROBUST_PROBABILITIES');
    });

    it('a stochastic model', async () => {
      const r = await evaluateWorstCase(noisy(model), [{ images: test.images, labels: test.labels }], { epsilon: 0.05, attacks: SMALL.slice(0, 1), seed: 1 });
      expect(codes(r)).toContain('MEDROBUST_STOCHASTIC');
      expect(r.warnings.find((w) => w.code === 'MEDROBUST_STOCHASTIC')!.message).toMatch(/Expectation over Transformation/);
    });

    it('a model no attack can break at an ε that allows every input', async () => {
      const r = await evaluateWorstCase(biasedModel(model), [{ images: test.images, labels: test.labels }], { epsilon: 0.05, attacks: SMALL.slice(0, 2), seed: 1 });
      expect(codes(r)).toEqual(['MEDROBUST_LARGE_EPSILON']);
      expect(r.warnings[0]!.message).toMatch(/at ε = 1\.000, which allows every input in the clip range, APGD left 4 of 4 images correctly classified/);
    });

    it('a model whose gradient leads past its weak spot: robust accuracy rises with ε', async () => {
      const images = tf.fill([3, 1, 1, 1], 0.5) as tf.Tensor4D;
      const labels = tf.tensor1d([0, 0, 0], 'int32');
      const r = await evaluateWorstCase(shellModel(0.5), [{ images, labels }], { epsilon: [0.05, 0.2], attacks: [{ attack: 'pgd', steps: 10 }, { attack: 'apgd-ce', steps: 10 }], seed: 1 });
      expect(r.rows.map((row) => row.robustAccuracy)).toEqual([0, 1]);
      expect(codes(r)).toContain('MEDROBUST_NON_MONOTONE');
      tf.dispose([images, labels]);
    });
  });

  describe('binary, single-logit and multi-label models', () => {
    it('picks the margin loss where DLR is undefined and refuses DLR there', async () => {
      const binary = buildSmallNet({ inputShape: [8, 8, 1], outputs: 2, kind: 'mlp', seed: 3 });
      const two = toySingleLabel({ n: 8, classes: 2, seed: 4 });
      // Every image misclassified at ε = 0 (labels flipped): the attacks have nothing to do, so this is quick.
      const flipped = tf.tidy(() => tf.sub(1, tf.cast(tf.argMax(toModelFn(binary)(two.images), 1), 'int32')));
      const r = await evaluateWorstCase(binary, [{ images: two.images, labels: flipped }], { epsilon: 0.1, seed: 1 });
      expect(r.attacks.map((a) => a.name)).toEqual(['pgd-10', 'apgd-ce', 'apgd-margin', 'noise', 'square']);
      expect(r.rows[0]!.robustAccuracy).toBe(0);
      const cheap = await evaluateWorstCase(binary, [{ images: two.images, labels: flipped }], { epsilon: 0.1, version: 'cheap', seed: 1 });
      expect(cheap.attacks.map((a) => [a.name, a.steps])).toEqual([['pgd-10', 10], ['apgd-ce', 20], ['apgd-margin', 20]]);
      await expect(evaluateWorstCase(binary, [{ images: two.images, labels: flipped }], { epsilon: 0.1, attacks: [{ attack: 'apgd-dlr' }] })).rejects.toThrow(/options.attacks\[0\].attack must be an attack defined for this model \('apgd-margin'\): DLR needs a single-label model with at least 3 classes, this one is single-label with 2 outputs/);
      const four = await evaluateWorstCase(net, [{ images: test.images, labels: tf.tidy(() => tf.cast(tf.mod(tf.add(tf.argMax(model(test.images), 1), 1), 4), 'int32')) }], { epsilon: 0.1, seed: 1, checks: false });
      expect(four.attacks.map((a) => a.name)).toEqual(['pgd-10', 'apgd-ce', 'apgd-t', 'noise', 'square']);
      expect(four.attacks[2]!.targets).toBe(3);
      binary.dispose();
      tf.dispose([two.images, two.labels, flipped]);
    });

    it('evaluates a single-logit model', async () => {
      const one = buildSmallNet({ inputShape: [8, 8, 1], outputs: 1, kind: 'mlp', seed: 5 });
      const two = toySingleLabel({ n: 12, classes: 2, seed: 4 });
      const y = tf.tidy(() => tf.reshape(tf.cast(two.labels, 'float32'), [12, 1]));
      trainNet(one, two.images, y, { steps: 80, task: 'multi-label' });
      const r = await evaluateWorstCase(one, [{ images: two.images, labels: y }], { epsilon: [0.1, 0.3], task: 'multi-label', attacks: SMALL.filter((a) => a.attack !== 'apgd-t').concat([{ attack: 'apgd-margin', steps: 20 }]), seed: 1 });
      expect(r.clean.accuracy).toBeGreaterThan(0.9);
      expect(r.rows[1]!.robustAccuracy).toBeLessThan(r.clean.accuracy);
      r.rows.forEach((row) => { expect(Number.isFinite(row.auc)).toBe(true); row.samples.margin.forEach((m) => expect(Number.isFinite(m)).toBe(true)); });
      expect(r.rows[1]!.perLabel!.auc).toHaveLength(1);
      one.dispose();
      tf.dispose([two.images, two.labels, y]);
    });

    it('reports each multi-label goal by its own criterion, with per-finding AUROC, AP and Hamming loss', async () => {
      const data = toyMultiLabel({ n: 16, seed: 3 });
      const mnet = buildSmallNet({ inputShape: [8, 8, 1], outputs: 3, kind: 'mlp', seed: 11 });
      trainNet(mnet, data.images, data.labels, { steps: 100, task: 'multi-label' });
      const truth = data.labels.dataSync();
      for (const goal of ['flip-any', 'flip-all', { hide: 1 }, { add: 1 }, { target: [0, 0, 0] }] as const) {
        const r = await evaluateWorstCase(mnet, [{ images: data.images, labels: data.labels }], { epsilon: 0.2, task: 'multi-label', goal, version: 'cheap', seed: 1 });
        const row = r.rows[0]!;
        const eligible = r.eligible;
        if (typeof goal === 'object' && 'hide' in goal) eligible.forEach((e, i) => expect(e).toBe(truth[i * 3 + 1] === 1));
        else if (typeof goal === 'object' && 'add' in goal) eligible.forEach((e, i) => expect(e).toBe(truth[i * 3 + 1] === 0));
        else expect(eligible.every(Boolean)).toBe(true);
        expect(r.counted).toBe(eligible.filter(Boolean).length);
        row.samples.broken.forEach((b, i) => {
          if (!eligible[i]) expect(b).toBe(false);
          else expect(b, `${JSON.stringify(goal)}: image ${i}`).toBe(row.samples.margin[i]! > 0);
        });
        expect(row.robustAccuracy).toBeLessThanOrEqual(r.clean.accuracy);
        expect(row.perLabel!.auc).toHaveLength(3);
        expect(row.perLabel!.averagePrecision).toHaveLength(3);
        expect(row.perLabel!.hammingLoss).toBeGreaterThanOrEqual(0);
        expect(r.clean.perLabel!.hammingLoss).toBeLessThanOrEqual(row.perLabel!.hammingLoss + (goal === 'flip-any' ? 0 : 1));
      }
      mnet.dispose();
      tf.dispose([data.images, data.labels]);
    });
  });

  describe('regions, streams, abort and memory', () => {
    it('keeps every attack inside a region-of-interest mask given with the batch', async () => {
      const mask = tf.tidy(() => tf.pad(tf.ones([16, 4, 8, 1]), [[0, 0], [0, 4], [0, 0], [0, 0]]) as tf.Tensor4D);
      const r = await evaluateWorstCase(net, [{ images: test.images, labels: test.labels, mask }], { epsilon: 0.3, attacks: SMALL, seed: 1, checks: false });
      const full = await evaluateWorstCase(net, [{ images: test.images, labels: test.labels }], { epsilon: 0.3, attacks: SMALL, seed: 1, checks: false });
      expect(r.rows[0]!.robustAccuracy).toBeGreaterThanOrEqual(full.rows[0]!.robustAccuracy);
      mask.dispose();
    });

    it('streams batches, reports progress, and stops on abort freeing everything', async () => {
      const seen: number[] = [];
      const source = function* () { for (const s of [0, 8]) yield { images: tf.slice(test.images, [s, 0, 0, 0], [8, 8, 8, 1]) as tf.Tensor4D, labels: tf.slice(test.labels, [s], [8]) }; };
      const before = tf.memory().numTensors;
      const r = await evaluateWorstCase(net, source(), { epsilon: 0.1, attacks: SMALL.slice(0, 2), seed: 1, onProgress: (p) => seen.push(p.done) });
      expect(r.n).toBe(16);
      expect(seen).toEqual([1, 2, 3, 4]);
      expect(tf.memory().numTensors).toBe(before);
      const controller = new AbortController();
      const run = evaluateWorstCase(net, [{ images: test.images, labels: test.labels }], { epsilon: 0.1, attacks: [{ attack: 'apgd-ce', steps: 5000 }], seed: 1, signal: controller.signal, checks: false, onProgress: () => controller.abort() });
      setTimeout(() => controller.abort(), 50);
      await expect(run).rejects.toThrow(AbortError);
      expect(tf.memory().numTensors).toBe(before);
    });

    it('does not leak, with every attack, a mask and the checks; nor when it throws', async () => {
      const mask = tf.tidy(() => tf.pad(tf.ones([1, 4, 8, 1]), [[0, 0], [2, 2], [0, 0], [0, 0]]) as tf.Tensor4D);
      await expectNoLeak(() => evaluateWorstCase(net, [{ images: test.images, labels: test.labels, mask }], { epsilon: [0.1, 0.2], attacks: TINY, seed: 1 }));
      await expectNoLeak(() => evaluateWorstCase(quantised(model), [{ images: test.images, labels: test.labels }], { epsilon: 0.1, norm: 'l2', attacks: TINY, seed: 1 }));
      mask.dispose();
      const before = tf.memory().numTensors;
      const nan: ModelFn = (x) => tf.tidy(() => tf.mul(model(x), Number.NaN) as tf.Tensor2D);
      await expect(evaluateWorstCase(nan, [{ images: test.images, labels: test.labels }], { epsilon: 0.1, attacks: TINY })).rejects.toThrow(NonFiniteError);
      const wrong = tf.tensor1d(new Array(16).fill(7), 'int32');
      await expect(evaluateWorstCase(net, [{ images: test.images, labels: wrong }], { epsilon: 0.1, attacks: TINY })).rejects.toThrow(/evaluateWorstCase: data\[0\].labels must be class indices in \[0, 3\]/);
      wrong.dispose();
      expect(tf.memory().numTensors).toBe(before);
    });
  });

  it('rejects bad input with typed errors naming the function, argument, expectation and value', async () => {
    const data = [{ images: test.images, labels: test.labels }];
    const run = (opts: unknown, d: unknown = data) => evaluateWorstCase(net, d as never, opts as never);
    await expect(run({})).rejects.toThrow(/evaluateWorstCase: options.epsilon must be a finite number >= 0 or a non-empty array of them \(it has no default/);
    await expect(run({ epsilon: [] })).rejects.toThrow(/options.epsilon must be a finite number >= 0 or a non-empty array of them, received an empty array/);
    await expect(run({ epsilon: 0.1, version: 'plus' })).rejects.toThrow(/options.version must be one of 'standard', 'cheap', received "plus"/);
    await expect(run({ epsilon: 0.1, version: 'cheap', attacks: SMALL })).rejects.toThrow(/options.version must be no version with a custom attacks list/);
    await expect(run({ epsilon: 0.1, attacks: [{ attack: 'fab' }] })).rejects.toThrow(/options.attacks\[0\].attack must be one of 'pgd', 'apgd-ce'/);
    await expect(run({ epsilon: 0.1, attacks: [{ attack: 'square', steps: 10 }] })).rejects.toThrow(/options.attacks\[0\].steps must be no steps for attack 'square' \(it takes queries, restarts\)/);
    await expect(run({ epsilon: 0.1, attacks: [{ attack: 'pgd', stepz: 10 }] })).rejects.toThrow(/options.attacks\[0\].stepz must be one of the known options/);
    await expect(run({ epsilon: 0.1, clip: 'batch' })).rejects.toThrow(/options.clip must be a fixed range/);
    await expect(run({ epsilon: 0.1, goal: 'flip-all' })).rejects.toThrow(/options.goal must be no goal for task 'single-label'/);
    await expect(run({ epsilon: 0.1, eps: 0.1 })).rejects.toThrow(/options.eps must be one of the known options .*did you mean 'epsilon'/);
    await expect(run({ epsilon: 0.1 }, 5)).rejects.toThrow(/evaluateWorstCase: data must be an array of batches/);
    await expect(run({ epsilon: 0.1 }, [{ images: test.images }])).rejects.toThrow(/data\[0\] must be a batch \{ images: Tensor4D, labels: Tensor, mask\?: Tensor4D \}/);
    await expect(run({ epsilon: 0.1 }, [{ images: test.images, labels: test.labels, roi: test.images }])).rejects.toThrow(/data\[0\].roi must be one of the known options \(images, labels, mask\)/);
    const badMask = tf.fill([16, 8, 8, 1], 2) as tf.Tensor4D;
    await expect(run({ epsilon: 0.1 }, [{ images: test.images, labels: test.labels, mask: badMask }])).rejects.toThrow(/data\[0\].mask must be a 0\/1 tensor/);
    await expect(run({ epsilon: 0.1 }, [])).rejects.toThrow(/data must be at least one batch, received no batches/);
    await expect(evaluateWorstCase(42 as never, data, { epsilon: 0.1 })).rejects.toThrow(InvalidArgumentError);
    badMask.dispose();
  });
});
