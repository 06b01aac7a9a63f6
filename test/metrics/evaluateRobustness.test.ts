import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AbortError, InvalidArgumentError, NonFiniteError, PerturbationBudgetError } from '../../src/errors.js';
import { evaluateRobustness } from '../../src/metrics/evaluateRobustness.js';
import type { Batch as RobustnessBatch } from '../../src/types.js';
import type { ModelFn } from '../../src/types.js';
import { BACKENDS, useTestBackend } from '../helpers/backends.js';
import { expectNoLeak } from '../helpers/expectNoLeak.js';

describe.each(BACKENDS)('evaluateRobustness (%s)', (name) => {
  let weights: tf.Tensor2D;
  let model: ModelFn;
  const makeBatch = (seed: number): RobustnessBatch => {
    const images = tf.randomUniform([4, 2, 2, 1], 0.2, 0.8, 'float32', seed) as tf.Tensor4D;
    // labels = the model's own clean predictions, so clean accuracy is 1
    const labels = tf.tidy(() => tf.argMax(model(images), 1));
    return { images, labels };
  };
  beforeAll(async () => {
    await useTestBackend(name);
    weights = tf.tensor2d([[1, -1], [-1, 1], [1, -1], [-1, 1]]);
    model = (x) => tf.matMul(tf.reshape(x, [x.shape[0], 4]), weights) as tf.Tensor2D;
  });
  afterAll(() => weights.dispose());

  it('gives a clean row and one row per attack and ε with consistent figures', async () => {
    const data = [makeBatch(1), makeBatch(2)];
    const report = await evaluateRobustness(model, data, [
      { name: 'FGSM', attack: 'fgsm', epsilons: [0, 0.3] },
      { name: 'PGD', attack: 'pgd', epsilons: [0.3], options: { steps: 5 } },
      { name: 'identity', run: (_m, images) => tf.clone(images) },
    ], { seed: 3 });
    expect(report.n).toBe(8);
    expect(report.clean.accuracy).toBe(1);
    expect(report.rows.map((r) => [r.attack, r.epsilon])).toEqual([['FGSM', 0], ['FGSM', 0.3], ['PGD', 0.3], ['identity', Number.NaN]]);
    const [f0, f3, p3, id] = report.rows as [typeof report.rows[0], typeof report.rows[0], typeof report.rows[0], typeof report.rows[0]];
    expect(f0.accuracy).toBe(1);
    expect(f0.foolingRate).toBe(0);
    expect(f0.maxLinf).toBe(0);
    expect(id.foolingRate).toBe(0);
    expect(report.clean.auc).toBe(1);
    expect(id.auc).toBe(1);
    for (const r of [f3, p3]) {
      expect(r.maxLinf).toBeLessThanOrEqual(0.3 + 1e-6);
      expect(r.accuracy).toBeLessThan(report.clean.accuracy);
      // with labels = clean predictions, every changed prediction is an error
      expect(r.foolingRate).toBeCloseTo(1 - r.accuracy, 12);
      expect(r.accuracyDrop).toBeCloseTo(1 - r.accuracy, 12);
    }
    // arrays are borrowed: still alive
    expect(data[0]!.images.isDisposed).toBe(false);
    tf.dispose(data.flatMap((b) => [b.images, b.labels]));
    // the same seed replays PGD
    const again = await evaluateRobustness(model, [makeBatch(1), makeBatch(2)], [{ name: 'PGD', attack: 'pgd', epsilons: [0.3], options: { steps: 5 } }], { seed: 3 });
    expect(again.rows[0]!.accuracy).toBe(p3.accuracy);
  });

  it('consumes a stream, disposing each batch, and leaks nothing', async () => {
    async function* stream(): AsyncGenerator<RobustnessBatch> {
      yield makeBatch(4);
      yield makeBatch(5);
    }
    await expectNoLeak(() => evaluateRobustness(model, stream(), [{ name: 'FGSM', attack: 'fgsm', epsilons: [0.1] }], { seed: 1 }));
  });

  it('multi-label: thresholded accuracy and sigmoid AUC', async () => {
    const images = tf.randomUniform([6, 2, 2, 1], 0.2, 0.8, 'float32', 9) as tf.Tensor4D;
    const labels = tf.tidy(() => tf.cast(tf.greater(model(images), 0), 'float32'));
    const report = await evaluateRobustness(model, [{ images, labels }], [{ name: 'PGD', attack: 'pgd', epsilons: [0.3], options: { steps: 5 } }], { task: 'multi-label', seed: 1 });
    expect(report.clean.accuracy).toBe(1);
    expect(report.rows[0]!.accuracy).toBeLessThan(1);
    tf.dispose([images, labels]);
  });

  it('stops on abort', async () => {
    const c = new AbortController();
    c.abort();
    const b = makeBatch(1);
    await expect(evaluateRobustness(model, [b], [{ name: 'F', attack: 'fgsm', epsilons: [0.1] }], { signal: c.signal })).rejects.toBeInstanceOf(AbortError);
    tf.dispose([b.images, b.labels]);
  });

  it('rejects bad input', async () => {
    const b = makeBatch(1);
    const ok = [{ name: 'F', attack: 'fgsm' as const, epsilons: [0.1] }];
    await expect(evaluateRobustness(model, [b], [])).rejects.toThrow(/non-empty array of attacks/);
    await expect(evaluateRobustness(model, [b], [{ name: 'F', attack: 'fgsm', epsilons: [] }])).rejects.toThrow(/non-empty array of budgets/);
    await expect(evaluateRobustness(model, [b], [{ name: 'F', attack: 'cw' as never, epsilons: [0.1] }])).rejects.toThrow(InvalidArgumentError);
    await expect(evaluateRobustness(model, [b], [...ok, ...ok])).rejects.toThrow(/no other attack/);
    await expect(evaluateRobustness(model, [b], [{ name: 'F', attack: 'pgd', epsilons: [0.1], options: { epsilon: 1 } as never }])).rejects.toThrow(/without epsilon/);
    await expect(evaluateRobustness(model, [], ok)).rejects.toThrow(/at least one batch/);
    await expect(evaluateRobustness(model, 5 as never, ok)).rejects.toThrow(/iterable/);
    await expect(evaluateRobustness(model, [b], ok, { sed: 1 } as never)).rejects.toThrow(/did you mean 'seed'/);
    await expect(evaluateRobustness(model, [b], [{ name: 'bad', run: () => tf.zeros([1, 1, 1, 1]) as tf.Tensor4D }])).rejects.toThrow(/adversarial images of shape/);
    tf.dispose([b.images, b.labels]);
  });

  it('rejects attack outputs outside the ε-ball or with NaN, naming the attack and the image', async () => {
    const b = makeBatch(3);
    const cheat = { name: 'cheat', epsilons: [0.05], run: (_m: ModelFn, x: tf.Tensor4D) => tf.tidy(() => tf.add(x, tf.mul(0.2, tf.reshape(tf.oneHot(tf.tensor1d([1, 3, 0, 2], 'int32'), 4), [4, 2, 2, 1]))) as tf.Tensor4D) };
    const err = await evaluateRobustness(model, [b], [cheat]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PerturbationBudgetError);
    expect((err as PerturbationBudgetError).achieved).toBeCloseTo(0.2, 6);
    expect((err as Error).message).toMatch(/^evaluateRobustness: attack 'cheat' must keep every image within ε = 0.05 \(L∞\), but image 0 moved by 0.2/);
    // In L2, the same output is fine at ε = 0.25 and not at ε = 0.1.
    await expect(evaluateRobustness(model, [b], [{ ...cheat, epsilons: [0.25], norm: 'l2' }])).resolves.toBeDefined();
    await expect(evaluateRobustness(model, [b], [{ ...cheat, epsilons: [0.1], norm: 'l2' }])).rejects.toThrow(/\(L2\), but image 0 moved by 0.2/);
    const nan = { name: 'nan', epsilons: [0.1], run: (_m: ModelFn, x: tf.Tensor4D) => tf.tidy(() => tf.where(tf.greater(x, 0.5), tf.fill(x.shape, Number.NaN), x) as tf.Tensor4D) };
    await expect(evaluateRobustness(model, [b], [nan])).rejects.toThrow(NonFiniteError);
    await expect(evaluateRobustness(model, [b], [nan])).rejects.toThrow(/^evaluateRobustness: the adversarial images of attack 'nan' must be finite, but \d+ values of image \d of data\[0\]/);
    await expectNoLeak(async () => { await expect(evaluateRobustness(model, [b], [cheat])).rejects.toThrow(PerturbationBudgetError); });
    tf.dispose([b.images, b.labels]);
  });

  it("names itself in errors raised inside its attacks, maps the argument, and leaks nothing on those paths", async () => {
    const images = tf.randomUniform([4, 2, 2, 1], 0.2, 0.8, 'float32', 6) as tf.Tensor4D;
    const labels = tf.tensor1d([0, 1, 5, 0], 'int32');
    const pgdRow = [{ name: 'PGD', attack: 'pgd' as const, epsilons: [0.1], options: { steps: 2 } }];
    const err = await evaluateRobustness(model, [{ images, labels }], pgdRow, { seed: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect((err as InvalidArgumentError).fn).toBe('evaluateRobustness');
    expect((err as Error).message).toBe("evaluateRobustness: data[0].labels must be class indices in [0, 1] for the model's 2 logits, received index 5 (attack 'PGD' at ε = 0.1 on data[0], from pgdAsync)");
    await expect(evaluateRobustness(model, [{ images, labels: tf.tensor1d([0, 1, 1, 0], 'int32') }], [{ name: 'F', attack: 'fgsm', epsilons: [0.1], options: { stepz: 2 } as never }]))
      .rejects.toThrow(/^evaluateRobustness: attacks\[0\].options.stepz must be one of the known options/);
    for (const attacks of [pgdRow, [{ name: 'F', attack: 'fgsm' as const, epsilons: [0.1] }]]) {
      await expectNoLeak(async () => { await expect(evaluateRobustness(model, [{ images, labels }], attacks, { seed: 1 })).rejects.toThrow(InvalidArgumentError); });
    }
    const nanModel: ModelFn = (x) => tf.add(tf.mul(0, tf.reshape(tf.sum(x, [1, 2, 3]), [-1, 1])), tf.fill([1, 2], Number.NaN)) as tf.Tensor2D;
    await expectNoLeak(async () => { await expect(evaluateRobustness(nanModel, [{ images, labels }], pgdRow)).rejects.toThrow(/evaluateRobustness: logits must be finite/); });
    tf.dispose([images, labels]);
  });

  it('aborts inside a long PGD run, and chunks its work with batchSize to the same figures', async () => {
    const b = makeBatch(7);
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 20);
    const t0 = Date.now();
    await expectNoLeak(async () => {
      await expect(evaluateRobustness(model, [b], [{ name: 'PGD', attack: 'pgd', epsilons: [0.1], options: { steps: 1e5 } }], { signal: controller.signal, seed: 1 })).rejects.toBeInstanceOf(AbortError);
    });
    expect(Date.now() - t0).toBeLessThan(20_000);
    const attacks = [{ name: 'PGD', attack: 'pgd' as const, epsilons: [0.2], options: { steps: 3 } }];
    const whole = await evaluateRobustness(model, [b], attacks, { seed: 4 });
    const chunked = await evaluateRobustness(model, [b], attacks, { seed: 4, batchSize: 3 });
    expect(chunked).toEqual(whole);
    tf.dispose([b.images, b.labels]);
  });
});
