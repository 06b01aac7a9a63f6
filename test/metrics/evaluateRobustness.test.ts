import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AbortError, InvalidArgumentError } from '../../src/errors.js';
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
});
