import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/errors.js';
import { tradesLoss } from '../../src/defenses/tradesLoss.js';
import { BACKENDS, useTestBackend } from '../helpers/backends.js';
import { expectClose } from '../helpers/close.js';
import { expectNoLeak } from '../helpers/expectNoLeak.js';

// numpy: CE(clean, y) + β·KL(softmax(clean) ‖ softmax(adv)); multi-label: mean_k BCE + β·Bernoulli KL.
const CLEAN = [[2, 0, -1], [0.5, 0.5, 0]];
const ADV = [[0.5, 1, -1], [0, 2, 1]];

describe.each(BACKENDS)('tradesLoss on %s', (backend) => {
  beforeAll(() => useTestBackend(backend));

  it('equals hand-computed values, single- and multi-label', () => {
    const single = tradesLoss(tf.tensor2d(CLEAN), tf.tensor2d(ADV), tf.tensor1d([0, 2], 'int32'), { beta: 6, reduction: 'none' });
    expectClose(single.dataSync(), [3.389492834095005, 3.457445734074418], 1e-4);
    const multi = tradesLoss(tf.tensor2d([[1, -2], [0, 3]]), tf.tensor2d([[-1, 0], [2, -3]]), tf.tensor2d([[1, 0], [0, 1]]), { beta: 6, task: 'multi-label', reduction: 'none' });
    expectClose(multi.dataSync(), [2.5898863, 9.81854404], 1e-4);
    tf.dispose([single, multi]);
  });

  it('reduces to the clean cross-entropy when adv = clean, and stays finite at saturation', () => {
    const z = tf.tensor2d([[100, 0], [0, 100]]);
    const y = tf.tensor1d([0, 0], 'int32');
    expectClose(tradesLoss(z, z, y, { reduction: 'none' }).dataSync(), [0, 100], 1e-3);
    const g = tf.grads((a: tf.Tensor, b: tf.Tensor) => tradesLoss(a as tf.Tensor2D, b as tf.Tensor2D, y) as tf.Scalar)([z, tf.reverse(z, 1)]);
    for (const t of g) expect(Array.from(t.dataSync()).every(Number.isFinite)).toBe(true);
    tf.dispose([z, y, ...g]);
  });

  it('rejects bad input', () => {
    const z = tf.tensor2d([[1, 0]]);
    const y = tf.tensor1d([0], 'int32');
    expect(() => tradesLoss(z, z, y, { beta: -1 })).toThrow(InvalidArgumentError);
    expect(() => tradesLoss(z, tf.tensor2d([[1, 0], [0, 1]]), y)).toThrow(/tradesLoss: labels must be/);
    expect(() => tradesLoss(z, z, y, { bata: 1 } as never)).toThrow(/did you mean 'beta'/);
    tf.dispose([z, y]);
  });

  it('does not leak tensors', async () => {
    const c = tf.tensor2d(CLEAN);
    const a = tf.tensor2d(ADV);
    const y = tf.tensor1d([0, 2], 'int32');
    const hot = tf.tensor2d([[1, 0, 1], [0, 0, 1]]);
    await expectNoLeak(() => tradesLoss(c, a, y));
    await expectNoLeak(() => tradesLoss(c, a, hot, { task: 'multi-label' }));
    tf.dispose([c, a, y, hot]);
  });
});
