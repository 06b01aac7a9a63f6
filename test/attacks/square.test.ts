import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgd } from '../../src/attacks/pgd.js';
import { squareAttack, squareAttackAsync, squareFraction, squarePattern } from '../../src/attacks/square.js';
import { AbortError, InvalidArgumentError } from '../../src/errors.js';
import { createRng } from '../../src/internal/random.js';
import { toModelFn } from '../../src/model.js';
import type { ModelFn } from '../../src/types.js';
import { BACKENDS, useTestBackend } from '../helpers/backends.js';
import { expectClose } from '../helpers/close.js';
import { expectNoLeak } from '../helpers/expectNoLeak.js';
import { quantised } from '../helpers/maskingModels.js';
import { buildSmallNet, top1, trainNet } from '../helpers/smallNet.js';
import { toyMultiLabel, toySingleLabel, type ToySet } from '../helpers/toyData.js';

const sizes = (adv: tf.Tensor4D, x: tf.Tensor4D, norm: 'linf' | 'l2'): Float32Array => tf.tidy(() => {
  const d = tf.reshape(tf.sub(adv, x), [x.shape[0], -1]);
  return (norm === 'linf' ? tf.max(tf.abs(d), 1) : tf.sqrt(tf.sum(tf.square(d), 1))).dataSync() as Float32Array;
});

describe('square patterns and schedule', () => {
  it('halves p on the paper\'s schedule, stretched to the budget when asked', () => {
    expect([0, 10, 11, 50, 51, 200, 201, 500, 501, 1000, 1001, 2001, 4001, 6001, 8001, 9999].map((i) => squareFraction(i, 0.8, 10000, true)))
      .toEqual([0.8, 0.8, 0.4, 0.4, 0.2, 0.2, 0.1, 0.1, 0.05, 0.05, 0.025, 0.0125, 0.00625, 0.003125, 0.0015625, 0.0015625]);
    expect(squareFraction(5, 0.8, 5000, true)).toBe(0.8); // 10 of 10000
    expect(squareFraction(6, 0.8, 5000, true)).toBe(0.4); // 12 of 10000
    expect(squareFraction(6, 0.8, 5000, false)).toBe(0.8);
    expect(squareFraction(30, 0.8, 1000, true)).toBe(0.1); // 300 of 10000
    expect(squareFraction(30, 0.8, 1000, false)).toBe(0.4);
  });

  it('draws unit-norm L2 squares whose two halves have opposite signs', () => {
    const rng = createRng(1);
    for (const s of [1, 3, 5, 8]) {
      const p = squarePattern(s, rng);
      expect(p.reduce((a, v) => a + v * v, 0)).toBeCloseTo(1, 10);
      if (s > 1) expect(Math.max(...p)).toBeGreaterThan(0);
      expect(Math.min(...p)).toBeLessThan(0);
    }
  });
});

describe.each(BACKENDS)('squareAttack on %s', (backend) => {
  let train: ToySet;
  let test: ToySet;
  let net: tfl.LayersModel;
  let model: ModelFn;
  beforeAll(async () => {
    await useTestBackend(backend);
    train = toySingleLabel({ n: 48, seed: 1 });
    test = toySingleLabel({ n: 12, seed: 2 });
    net = buildSmallNet({ inputShape: [8, 8, 1], outputs: 3, kind: 'mlp' });
    trainNet(net, train.images, train.labels, { steps: 80 });
    model = toModelFn(net);
  });
  afterAll(() => { net.dispose(); tf.dispose([train.images, train.labels, test.images, test.labels]); });

  it.each(['linf', 'l2'] as const)('keeps ‖δ‖ ≤ ε (%s) inside [0, 1], reports success from the predictions, and stops spending queries on fooled images', (norm) => {
    const eps = norm === 'linf' ? 0.3 : 2;
    const before = test.images.dataSync().slice();
    const r = squareAttack(net, test.images, test.labels, { epsilon: eps, norm, queries: 200, seed: 1 });
    sizes(r.images, test.images, norm).forEach((v) => expect(v).toBeLessThanOrEqual(eps * (1 + 1e-5) + 1e-6));
    expect(tf.min(r.images).dataSync()[0]).toBeGreaterThanOrEqual(0);
    expect(tf.max(r.images).dataSync()[0]).toBeLessThanOrEqual(1);
    const wrong = tf.tidy(() => tf.notEqual(tf.argMax(model(r.images), 1), test.labels).dataSync());
    expect(r.success).toEqual(Array.from(wrong, (v) => v === 1));
    expect(r.success.filter(Boolean).length).toBeGreaterThanOrEqual(norm === 'linf' ? 8 : 4);
    r.queries.forEach((q, i) => {
      expect(q).toBeGreaterThanOrEqual(1);
      expect(q).toBeLessThanOrEqual(200);
      if (!r.success[i]) expect(q).toBe(200);
    });
    expect(Math.min(...r.queries.filter((_, i) => r.success[i]))).toBeLessThan(200);
    expectClose(test.images.dataSync(), before, 0);
    r.images.dispose();
  });

  it('respects per-sample ε, reproduces with a seed, and does not depend on the batch or chunk', () => {
    const eps = [0, 0.05, 0.1, 0.2, 0.3, 0.3, 0.3, 0.3, 0.2, 0.1, 0.05, 0];
    const a = squareAttack(net, test.images, test.labels, { epsilon: eps, queries: 60, seed: 7, restarts: 2 });
    sizes(a.images, test.images, 'linf').forEach((v, i) => expect(v).toBeLessThanOrEqual(eps[i]! + 1e-6));
    expect(a.queries[0]).toBeGreaterThan(0);
    const b = squareAttack(net, test.images, test.labels, { epsilon: eps, queries: 60, seed: 7, restarts: 2 });
    const chunked = squareAttack(net, test.images, test.labels, { epsilon: eps, queries: 60, seed: 7, restarts: 2, batchSize: 5 });
    expectClose(b.images.dataSync(), a.images.dataSync(), 0);
    expectClose(chunked.images.dataSync(), a.images.dataSync(), 0);
    expect(chunked.queries).toEqual(a.queries);
    const xi = tf.slice(test.images, [4, 0, 0, 0], [1, 8, 8, 1]);
    const yi = tf.slice(test.labels, [4], [1]);
    const alone = squareAttack(net, xi, yi, { epsilon: 0.3, queries: 60, seed: 7, restarts: 2 });
    expectClose(alone.images.dataSync(), tf.tidy(() => tf.slice(a.images, [4, 0, 0, 0], [1, 8, 8, 1]).dataSync()), 1e-6);
    expect(alone.queries[0]).toBe(a.queries[4]);
    tf.dispose([a.images, b.images, chunked.images, alone.images, xi, yi]);
  });

  it.each(['linf', 'l2'] as const)('changes nothing outside a region-of-interest mask (%s)', (norm) => {
    const mask = tf.tidy(() => tf.concat([tf.ones([6, 8, 8, 1]), tf.pad(tf.ones([6, 3, 5, 1]), [[0, 0], [1, 4], [2, 1], [0, 0]])]) as tf.Tensor4D);
    const r = squareAttack(net, test.images, test.labels, { epsilon: norm === 'linf' ? 0.3 : 2, norm, queries: 80, seed: 2, mask });
    sizes(r.images, test.images, norm).forEach((v) => expect(v).toBeLessThanOrEqual((norm === 'linf' ? 0.3 : 2) * (1 + 1e-5) + 1e-6));
    const [outside, inside] = tf.tidy(() => {
      const d = tf.abs(tf.sub(r.images, test.images));
      return [tf.max(tf.mul(d, tf.sub(1, mask))).dataSync()[0]!, tf.max(tf.slice(tf.mul(d, mask), [6, 0, 0, 0], [6, 8, 8, 1])).dataSync()[0]!];
    });
    expect(outside).toBe(0);
    expect(inside).toBeGreaterThan(0.05);
    tf.dispose([mask, r.images]);
  });

  it('breaks a model that masks its gradient, which PGD cannot', () => {
    const masked = quantised(model, 4);
    const clean = top1(masked, test.images, test.labels as tf.Tensor1D);
    const adv = pgd(masked, test.images, test.labels, { epsilon: 0.3, steps: 20, seed: 1, randomStart: false });
    const afterPgd = top1(masked, adv, test.labels as tf.Tensor1D);
    const r = squareAttack(masked, test.images, test.labels, { epsilon: 0.3, queries: 300, seed: 1 });
    const afterSquare = top1(masked, r.images, test.labels as tf.Tensor1D);
    expect(afterPgd, 'PGD does not move on a zero gradient').toBe(clean);
    expect(afterSquare, `Square: ${afterSquare} vs PGD ${afterPgd}`).toBeLessThan(afterPgd - 0.4);
    tf.dispose([adv, r.images]);
  });

  it('meets a multi-label goal by its success criterion (hide a finding)', () => {
    const data = toyMultiLabel({ n: 12, seed: 3 });
    const mnet = buildSmallNet({ inputShape: [8, 8, 1], outputs: 3, kind: 'mlp', seed: 11 });
    trainNet(mnet, data.images, data.labels, { steps: 100, task: 'multi-label' });
    const r = squareAttack(mnet, data.images, data.labels, { epsilon: 0.3, queries: 200, task: 'multi-label', goal: { hide: 0 }, seed: 1 });
    const hidden = tf.tidy(() => tf.lessEqual(tf.slice(toModelFn(mnet)(r.images), [0, 0], [12, 1]), 0).dataSync());
    expect(r.success).toEqual(Array.from(hidden, (v) => v === 1));
    expect(r.success.filter(Boolean).length).toBeGreaterThanOrEqual(10);
    tf.dispose([r.images, data.images, data.labels]);
    mnet.dispose();
  });

  it('squareAttackAsync equals squareAttack, reports progress and stops on abort freeing everything', async () => {
    const sync = squareAttack(net, test.images, test.labels, { epsilon: 0.1, queries: 30, seed: 4 });
    let calls = 0;
    const later = await squareAttackAsync(net, test.images, test.labels, { epsilon: 0.1, queries: 30, seed: 4, onProgress: () => { calls++; } });
    expectClose(later.images.dataSync(), sync.images.dataSync(), 0);
    expect(later.queries).toEqual(sync.queries);
    expect(calls).toBeGreaterThan(5);
    tf.dispose([sync.images, later.images]);
    const before = tf.memory().numTensors;
    const controller = new AbortController();
    await expect(squareAttackAsync(net, test.images, test.labels, { epsilon: 0.01, queries: 100000, seed: 4, signal: controller.signal, onProgress: (p) => { if (p.done === 5) controller.abort(); } })).rejects.toThrow(AbortError);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('does not leak, sync or async, in L∞ and L2, with restarts and a mask; nor when it throws', async () => {
    const mask = tf.tidy(() => tf.pad(tf.ones([1, 4, 4, 1]), [[0, 0], [2, 2], [2, 2], [0, 0]]) as tf.Tensor4D);
    await expectNoLeak(() => squareAttack(net, test.images, test.labels, { epsilon: 0.1, queries: 25, restarts: 2, seed: 1, mask }));
    await expectNoLeak(() => squareAttackAsync(net, test.images, test.labels, { epsilon: 1, norm: 'l2', queries: 25, restarts: 2, seed: 1, batchSize: 5 }));
    mask.dispose();
    const before = tf.memory().numTensors;
    const wide = tf.tensor1d([0, 1, 2, 9, 0, 1, 2, 0, 1, 2, 0, 1], 'int32');
    expect(() => squareAttack(net, test.images, wide, { epsilon: 0.1, queries: 5 })).toThrow(InvalidArgumentError);
    await expect(squareAttackAsync(net, test.images, wide, { epsilon: 0.1, queries: 5 })).rejects.toThrow(InvalidArgumentError);
    wide.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('rejects bad input with typed errors naming the function, argument, expectation and value', () => {
    const run = (opts: unknown) => () => squareAttack(net, test.images, test.labels, opts as never);
    expect(run({ epsilon: 0.1, n_queries: 10 })).toThrow(/squareAttack: options.n_queries must be one of the known options/);
    expect(run({ epsilon: 0.1, queries: 0 })).toThrow(/options.queries must be a finite integer >= 1 and <= 10000, received 0/);
    expect(run({ epsilon: 0.1, queries: 6000, restarts: 2 })).toThrow(/at most 10000 queries .*squareAttackAsync/);
    expect(run({ epsilon: 0.1, pInit: 0 })).toThrow(/options.pInit must be a finite number > 0 and <= 1, received 0/);
    expect(run({ epsilon: 0.1, rescaleSchedule: 1 })).toThrow(/options.rescaleSchedule must be true or false/);
    expect(run({ epsilon: 0.1, loss: 'ce' })).toThrow(/options.loss must be one of the known options/);
    expect(run({ epsilon: 0.1, goal: { hide: 0 } })).toThrow(/options.goal must be no goal for task 'single-label'/);
    expect(run({ epsilon: -1 })).toThrow(/options.epsilon must be a finite number >= 0, received -1/);
  });
});
