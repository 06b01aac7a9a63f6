import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tfl from '@tensorflow/tfjs-layers';
import { fgsm } from '../../src/attacks/fgsm.js';
import { pgd, pgdAsync } from '../../src/attacks/pgd.js';
import { AbortError, InvalidArgumentError, MemoryBudgetError, NonFiniteError } from '../../src/errors.js';
import { sigmoidBinaryCrossEntropy, softmaxCrossEntropy } from '../../src/internal/loss.js';
import { cachedStepMemory } from '../../src/internal/memory.js';
import { createRng } from '../../src/internal/random.js';
import { resetWarnings } from '../../src/internal/warnings.js';
import { selectOutput, toModelFn } from '../../src/model.js';
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

describe.each(BACKENDS)('pgd: bounds, checks and memory on %s', (backend) => {
  let net: tfl.LayersModel;
  let data: ToySet;
  beforeAll(async () => {
    await useTestBackend(backend);
    data = toySingleLabel({ n: 10, seed: 4 });
    net = buildSmallNet({ inputShape: [8, 8, 1], outputs: 3, kind: 'cnn', seed: 5 });
  });
  afterAll(() => { net.dispose(); tf.dispose([data.images, data.labels]); });

  it('a restart that fools the model beats one with a higher loss that does not (AutoAttack rule)', () => {
    // One pixel, clean at 0.5. Above 0.5 the logits are A (true class 0 still wins, loss ≈ 1.03); below
    // they are B (class 1 wins, loss ≈ 0.74). Steps are tiny, so each restart ends where it started.
    const A = tf.tensor2d([[5, 4.9, 4.9]]);
    const B = tf.tensor2d([[0, 0.1, -10]]);
    const model: ModelFn = (x) => tf.tidy(() => {
      const s = tf.reshape(tf.sigmoid(tf.mul(100, tf.sub(x, 0.5))), [-1, 1]);
      return tf.add(tf.mul(s, A), tf.mul(tf.sub(1, s), B)) as tf.Tensor2D;
    });
    const x = tf.fill([1, 1, 1, 1], 0.5) as tf.Tensor4D;
    const y = tf.tensor1d([0], 'int32');
    const seed = 5;
    // The random starts pgd will draw (one uniform pattern per restart, from the seeded generator).
    const rng = createRng(seed);
    const starts = Array.from({ length: 8 }, () => tf.tidy(() => tf.randomUniform([1, 1, 1, 1], -1, 1, 'float32', rng.nextSeed()).dataSync()[0]!));
    expect(starts.some((u) => u > 0.01) && starts.some((u) => u < -0.01)).toBe(true);
    const losses = starts.map((u) => tf.tidy(() => softmaxCrossEntropy(model(tf.fill([1, 1, 1, 1], 0.5 + 0.5 * u) as tf.Tensor4D), y).dataSync()[0]!));
    const highest = starts[losses.indexOf(Math.max(...losses))]!;
    expect(highest).toBeGreaterThan(0); // the highest-loss restart does not fool the model
    const adv = pgd(model, x, y, { epsilon: 0.5, steps: 1, stepSize: 1e-4, restarts: 8, seed });
    const predicted = tf.tidy(() => tf.argMax(model(adv), 1).dataSync()[0]);
    expect(predicted, 'the fooling restart must win').not.toBe(0);
    expect(adv.dataSync()[0]).toBeLessThan(0.5);
    tf.dispose([A, B, x, y, adv]);
  });

  it('throws NonFiniteError for NaN logits or a NaN loss instead of returning the start unchanged', async () => {
    const nanModel: ModelFn = (x) => tf.add(tf.mul(0, tf.reshape(tf.sum(x, [1, 2, 3]), [-1, 1])), tf.fill([1, 3], Number.NaN)) as tf.Tensor2D;
    const run = () => pgd(nanModel, data.images, data.labels, { epsilon: 0.1, steps: 3, seed: 1 });
    expect(run).toThrow(NonFiniteError);
    expect(run).toThrow(/^pgd: logits must be finite, but the model's logits held NaN or Infinity at step 1 of 3 for images 0–9/);
    await expectNoLeak(() => { expect(run).toThrow(NonFiniteError); });
    const nanLoss = () => tf.fill([10], Number.NaN);
    expect(() => pgd(net, data.images, data.labels, { epsilon: 0.1, steps: 2, seed: 1, loss: nanLoss })).toThrow(/pgd: loss must be finite, but the loss held NaN/);
    expect(() => fgsm(nanModel, data.images, data.labels, { epsilon: 0.1 })).toThrow(/^fgsm: logits must be finite/);
  });

  it('bounds the synchronous call and points to pgdAsync; pgdAsync has its own bounds', async () => {
    expect(() => pgd(net, data.images, data.labels, { epsilon: 0.1, steps: 1e9 })).toThrow(/pgd: options.steps must be at most 10000 gradient evaluations .*use pgdAsync\(…, \{ signal, onProgress \}\) .*received steps 1000000000 × restarts 1/);
    expect(() => pgd(net, data.images, data.labels, { epsilon: 0.1, steps: 10, restarts: 1e9 })).toThrow(/pgd: options.restarts must be at most 10000 gradient evaluations/);
    await expect(pgdAsync(net, data.images, data.labels, { epsilon: 0.1, steps: 1e9 })).rejects.toThrow(/pgdAsync: options.steps must be a finite integer >= 1 and <= 1000000, received 1000000000/);
  });

  it('clipStart: false takes the first step from the raw random start (the paper code), clipStart: true from the clipped one', () => {
    // logits (−Σx, Σx), label 1: ascending the loss lowers every pixel (sign ∇ = −1). At x = 1 (the top of
    // the clip range), a start value 1 + δ with δ > α ends at clamp(1 + δ − α, 0.9, 1) = 1 from the raw
    // start, but at 1 − α from the clipped start 1; below, both give clamp(1 + δ − α, 0.9, 1).
    const model: ModelFn = (x) => tf.tidy(() => { const s = tf.sum(tf.reshape(x, [x.shape[0], -1]), 1, true); return tf.concat([tf.neg(s), s], 1) as tf.Tensor2D; });
    const x = tf.ones([1, 4, 4, 1]) as tf.Tensor4D;
    const y = tf.tensor1d([1], 'int32');
    const [epsilon, stepSize, seed] = [0.1, 0.01, 3];
    const delta = tf.tidy(() => Array.from(tf.mul(epsilon, tf.randomUniform([1, 4, 4, 1], -1, 1, 'float32', createRng(seed).nextSeed())).dataSync()));
    const clampBox = (v: number) => Math.min(1, Math.max(0.9, v));
    const raw = pgd(model, x, y, { epsilon, stepSize, steps: 1, seed, clipStart: false });
    const clipped = pgd(model, x, y, { epsilon, stepSize, steps: 1, seed });
    expectClose(raw.dataSync(), delta.map((d) => clampBox(1 + d - stepSize)), 1e-6);
    expectClose(clipped.dataSync(), delta.map((d) => clampBox(Math.min(1, 1 + d) - stepSize)), 1e-6);
    expect(delta.some((d) => d > stepSize) && delta.some((d) => d < 0)).toBe(true);
    expect(() => pgd(model, x, y, { epsilon, clipStart: 'no' as never })).toThrow(/pgd: options.clipStart must be/);
    tf.dispose([x, y, raw, clipped]);
  });

  it('pgdAsync equals pgd bit for bit, reports progress, and stops on abort freeing everything', async () => {
    const opts = { epsilon: 0.1, steps: 4, restarts: 2, seed: 3 };
    const sync = pgd(net, data.images, data.labels, opts);
    const seen: Array<{ done: number; total: number }> = [];
    const asyncAdv = await pgdAsync(net, data.images, data.labels, { ...opts, onProgress: (p) => seen.push({ done: p.done, total: p.total }) });
    expect(Array.from(asyncAdv.dataSync())).toEqual(Array.from(sync.dataSync()));
    expect(seen.length).toBe(8);
    expect(seen[7]).toEqual({ done: 8, total: 8 });
    tf.dispose([sync, asyncAdv]);
    // The success path outside any tidy scope: nothing is left per chunk (the health record is freed).
    await expectNoLeak(() => pgdAsync(net, data.images, data.labels, { ...opts, batchSize: 2 }));
    const controller = new AbortController();
    await expectNoLeak(async () => {
      await expect(pgdAsync(net, data.images, data.labels, { ...opts, steps: 50, signal: controller.signal, onProgress: (p) => { if (p.done === 3) controller.abort(); } }))
        .rejects.toThrow(/pgdAsync was aborted after 3 of 100 steps/);
    });
    await expect(pgdAsync(net, data.images, data.labels, { ...opts, signal: controller.signal })).rejects.toBeInstanceOf(AbortError);
  });

  it('chunked equals unchunked bit for bit (restarts, L2, batch clip), and leaks nothing across chunks', async () => {
    for (const extra of [{}, { norm: 'l2' as const, epsilon: 0.5 }, { clip: 'batch' as const }]) {
      const opts = { epsilon: 0.1, steps: 3, restarts: 2, seed: 7, ...extra };
      const whole = pgd(net, data.images, data.labels, opts);
      const chunked = pgd(net, data.images, data.labels, { ...opts, batchSize: 3 });
      expect(Array.from(chunked.dataSync()), JSON.stringify(extra)).toEqual(Array.from(whole.dataSync()));
      tf.dispose([whole, chunked]);
    }
    const f = fgsm(net, data.images, data.labels, { epsilon: 0.1 });
    const fc = fgsm(net, data.images, data.labels, { epsilon: 0.1, batchSize: 4 });
    expect(Array.from(fc.dataSync())).toEqual(Array.from(f.dataSync()));
    tf.dispose([f, fc]);
    await expectNoLeak(() => pgd(net, data.images, data.labels, { epsilon: 0.1, steps: 2, restarts: 2, seed: 1, batchSize: 4 }));
  });

  it('runs within a memory budget in chunks, and throws MemoryBudgetError when one image does not fit', async () => {
    const whole = pgd(net, data.images, data.labels, { epsilon: 0.1, steps: 2, seed: 2, memoryBudget: 2 ** 30 });
    const key = { model: net, kind: 'input-gradient', sampleShape: [8, 8, 1] };
    const perImage = cachedStepMemory(key)!.perSampleBytes; // measured on one image
    const budget = 4 * perImage + 10 * 2 * 256;
    const budgeted = pgd(net, data.images, data.labels, { epsilon: 0.1, steps: 2, seed: 2, memoryBudget: budget });
    expect(Array.from(budgeted.dataSync())).toEqual(Array.from(whole.dataSync()));
    // The budget forced chunks: the step was measured at one and two images and found not to fit all 10.
    const step = cachedStepMemory(key)!;
    expect(step.refined).toBe(true);
    expect(step.fixedBytes + 10 * step.perSampleBytes).toBeGreaterThan(budget);
    tf.dispose([whole, budgeted]);
    const tiny = () => pgd(net, data.images, data.labels, { epsilon: 0.1, steps: 2, seed: 2, memoryBudget: 1000 });
    expect(tiny).toThrow(MemoryBudgetError);
    expect(tiny).toThrow(/^pgd: a batch of 1 needs about \d+ MiB, more than the 0 MiB available; one sample does not fit/);
    await expectNoLeak(() => { expect(tiny).toThrow(MemoryBudgetError); });
  });

  it('names the medrobust option for what ART/torchattacks/foolbox users type', () => {
    const run = (opts: Record<string, unknown>) => () => pgd(net, data.images, data.labels, { epsilon: 0.1, ...opts } as never);
    expect(run({ eps: 0.1 })).toThrow(/options.eps must be one of the known options .*did you mean 'epsilon'\? \('eps' is what other attack libraries call it\)/);
    expect(run({ alpha: 0.01 })).toThrow(/did you mean 'stepSize'\?/);
    expect(run({ nb_iter: 5 })).toThrow(/did you mean 'steps'\?/);
    expect(run({ iterations: 5 })).toThrow(/did you mean 'steps'\?/);
    expect(run({ random_start: true })).toThrow(/did you mean 'randomStart'\?/);
    expect(run({ num_random_init: 2 })).toThrow(/did you mean 'restarts'\?/);
    expect(run({ clip_min: 0 })).toThrow(/did you mean 'clip'\?/);
    expect(run({ ord: 'inf' })).toThrow(/did you mean 'norm'\?/);
    expect(run({ batch_size: 4 })).toThrow(/did you mean 'batchSize'\?/);
  });

  it('checks images against the LayersModel input shape, naming the function and argument', () => {
    const wrong = tf.zeros([2, 9, 9, 1]) as tf.Tensor4D;
    expect(() => pgd(net, wrong, tf.tensor1d([0, 1], 'int32'), { epsilon: 0.1 })).toThrow(/^pgd: images must be a batch of shape \[N, 8, 8, 1\] to match the model's input, received shape \[2,9,9,1\]$/);
    const rgb = tf.zeros([2, 8, 8, 3]) as tf.Tensor4D;
    expect(() => fgsm(selectOutput(net, 0), rgb, tf.tensor1d([0, 1], 'int32'), { epsilon: 0.1 })).toThrow(/^fgsm: images must be a batch of shape \[N, 8, 8, 1\]/);
    tf.dispose([wrong, rgb]);
  });

  it('warns once through process warnings when ε exceeds the input range or the model returns probabilities', async () => {
    resetWarnings();
    const seen: Array<{ name: string; code?: string; message: string }> = [];
    const listener = (w: Error & { code?: string }) => seen.push({ name: w.name, code: w.code, message: w.message });
    process.on('warning', listener);
    try {
      fgsm(net, data.images, data.labels, { epsilon: 8 }).dispose();
      fgsm(net, data.images, data.labels, { epsilon: 8 }).dispose();
      const probs: ModelFn = (x) => tf.softmax(net.apply(x, { training: false }) as tf.Tensor2D);
      fgsm(probs, data.images, data.labels, { epsilon: 0.1 }).dispose();
      await new Promise((r) => setImmediate(r));
    } finally {
      process.off('warning', listener);
    }
    expect(seen.map((w) => [w.name, w.code])).toEqual([['MedrobustWarning', 'MEDROBUST_EPSILON_SCALE'], ['MedrobustWarning', 'MEDROBUST_PROBABILITIES']]);
    expect(seen[0]!.message).toMatch(/options.epsilon 8 exceeds the width of the clip range \(1.000\).*8\/255/);
  });

  it('frees every tensor on error paths after the model ran (label out of range, multi-output model, NaN, memory)', async () => {
    const input = tfl.input({ shape: [8, 8, 1] });
    const flat = tfl.layers.flatten().apply(input) as tfl.SymbolicTensor;
    const heads = [3, 4].map((units, i) => tfl.layers.dense({ units, kernelInitializer: tfl.initializers.glorotUniform({ seed: i }) }).apply(flat) as tfl.SymbolicTensor);
    const twoHeads = tfl.model({ inputs: input, outputs: heads });
    const outOfRange = tf.tensor1d([0, 1, 2, 7, 0, 1, 2, 0, 1, 2], 'int32');
    const bytes = tf.memory().numBytes;
    for (const call of [
      () => pgd(net, data.images, outOfRange, { epsilon: 0.1, steps: 3, seed: 1 }),
      () => pgd(net, data.images, outOfRange, { epsilon: 0.1, steps: 3, restarts: 2, seed: 1, batchSize: 3 }),
      () => fgsm(net, data.images, outOfRange, { epsilon: 0.1 }),
      () => pgd(selectOutput(twoHeads, 0), data.images, outOfRange, { epsilon: 0.1, steps: 2, seed: 1 }),
      () => pgd(twoHeads, data.images, data.labels, { epsilon: 0.1, steps: 2, seed: 1 }),
    ]) {
      await expectNoLeak(() => { expect(call).toThrow(InvalidArgumentError); });
    }
    await expectNoLeak(async () => { await expect(pgdAsync(net, data.images, outOfRange, { epsilon: 0.1, steps: 3, seed: 1 })).rejects.toThrow(/pgdAsync: labels must be class indices in \[0, 2\]/); });
    // 50 caught errors leave the byte count where it was (the wasm heap does not grow with them).
    for (let i = 0; i < 50; i++) expect(() => pgd(net, data.images, outOfRange, { epsilon: 0.1, steps: 1, seed: 1 })).toThrow(InvalidArgumentError);
    expect(tf.memory().numBytes).toBe(bytes);
    twoHeads.dispose();
    outOfRange.dispose();
  });
});
