import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/errors.js';
import { binaryCrossEntropy, crossEntropy, focalLoss, l1Penalty } from '../../src/defenses/taskLosses.js';
import { BACKENDS, useTestBackend } from '../helpers/backends.js';
import { expectClose } from '../helpers/close.js';
import { expectNoLeak } from '../helpers/expectNoLeak.js';

const Z = [[2, 0, -1], [0.5, 0.5, 0]];

describe.each(BACKENDS)('task losses on %s', (backend) => {
  beforeAll(() => useTestBackend(backend));

  it('focalLoss equals hand-computed values (γ = 2) and cross-entropy at γ = 0', () => {
    const z = tf.tensor2d(Z);
    const y = tf.tensor1d([0, 2], 'int32');
    expectClose(focalLoss(z, y).dataSync(), [0.004144257309967146, 0.8584160386022828], 1e-5);
    expectClose(focalLoss(z, y, { gamma: 0 }).dataSync(), crossEntropy(z, y).dataSync(), 1e-6);
    const zm = tf.tensor2d([[1, -2], [0, 3]]);
    const ym = tf.tensor2d([[1, 0], [0, 1]]);
    expectClose(focalLoss(zm, ym, { task: 'multi-label' }).dataSync(), [0.01223081, 0.08669804], 1e-5);
    expectClose(focalLoss(zm, ym, { task: 'multi-label', gamma: 0 }).dataSync(), binaryCrossEntropy(zm, ym).dataSync(), 1e-6);
    // Saturated logits: finite values and gradients.
    const sat = tf.tensor2d([[200, -200]]);
    const g = tf.grad((x: tf.Tensor) => tf.sum(focalLoss(x as tf.Tensor2D, tf.tensor1d([1], 'int32'))))(sat);
    expect(Array.from(g.dataSync()).every(Number.isFinite)).toBe(true);
    tf.dispose([z, y, zm, ym, sat, g]);
  });

  it('crossEntropy and binaryCrossEntropy equal closed forms', () => {
    expectClose(crossEntropy(tf.tensor2d([[2, 0]]), tf.tensor1d([0], 'int32')).dataSync(), [Math.log(1 + Math.exp(-2))], 1e-6);
    expectClose(binaryCrossEntropy(tf.tensor2d([[0, 0]]), tf.tensor2d([[1, 0]])).dataSync(), [Math.log(2)], 1e-6);
  });

  it('l1Penalty is λ·Σ|θ|', () => {
    const p = l1Penalty([tf.tensor1d([1, -2]), tf.tensor2d([[0.5, -0.5]])], 0.01);
    expectClose(p.dataSync(), [0.04], 1e-7);
    expectClose(l1Penalty([], 1).dataSync(), [0], 0);
  });

  it('rejects bad input', () => {
    const z = tf.tensor2d(Z);
    const y = tf.tensor1d([0, 2], 'int32');
    expect(() => focalLoss(z, y, { gamma: -1 })).toThrow(InvalidArgumentError);
    expect(() => focalLoss(z, y, { gama: 2 } as never)).toThrow(/did you mean 'gamma'/);
    expect(() => focalLoss(z, tf.tensor1d([0], 'int32'))).toThrow(/focalLoss: labels must be/);
    expect(() => crossEntropy(tf.tensor2d([[1], [2]]), tf.tensor1d([0, 0], 'int32'))).toThrow(/at least 2 logits/);
    expect(() => binaryCrossEntropy(z, y)).toThrow(/multi-hot/);
    expect(() => l1Penalty([tf.scalar(1)], -1)).toThrow(/lambda must be a finite number >= 0/);
    expect(() => l1Penalty('w' as never, 1)).toThrow(/weights must be an array of tensors/);
    tf.dispose([z, y]);
  });

  it('does not leak tensors', async () => {
    const z = tf.tensor2d(Z);
    const y = tf.tensor1d([0, 2], 'int32');
    const hot = tf.tensor2d([[1, 0, 1], [0, 1, 0]]);
    await expectNoLeak(() => focalLoss(z, y));
    await expectNoLeak(() => focalLoss(z, hot, { task: 'multi-label' }));
    await expectNoLeak(() => crossEntropy(z, y));
    await expectNoLeak(() => binaryCrossEntropy(z, hot));
    await expectNoLeak(() => l1Penalty([z], 0.1));
    tf.dispose([z, y, hot]);
  });
});
