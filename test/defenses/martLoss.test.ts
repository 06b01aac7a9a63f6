import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/errors.js';
import { martLoss } from '../../src/defenses/martLoss.js';
import { BACKENDS, useTestBackend } from '../helpers/backends.js';
import { expectClose } from '../helpers/close.js';
import { expectNoLeak } from '../helpers/expectNoLeak.js';

// Reference values computed with numpy from the formula in the JSDoc (exact margin term).
const CLEAN = [[2, 0, -1], [0.5, 0.5, 0]];
const ADV = [[0.5, 1, -1], [0, 2, 1]];
const PER_SAMPLE = [2.4114263468425587, 4.036116462417651];
// MART's reference code (1.0001, 1e-12, 1.0000001 constants) on the same logits.
const REFERENCE_CODE = [2.4111919011190897, 4.035817984614225];

describe.each(BACKENDS)('martLoss on %s', (backend) => {
  beforeAll(() => useTestBackend(backend));

  it('equals hand-computed single-label values (indices and one-hot labels)', () => {
    const clean = tf.tensor2d(CLEAN);
    const adv = tf.tensor2d(ADV);
    const idx = tf.tensor1d([0, 2], 'int32');
    const hot = tf.tensor2d([[1, 0, 0], [0, 0, 1]]);
    const none = martLoss(clean, adv, idx, { beta: 6, reduction: 'none' });
    expectClose(none.dataSync(), PER_SAMPLE, 1e-4);
    expectClose(none.dataSync(), REFERENCE_CODE, 5e-4); // within the reference code's constants
    const mean = martLoss(clean, adv, hot, { beta: 6 });
    expect(mean.rank).toBe(0);
    expectClose(mean.dataSync(), [(PER_SAMPLE[0]! + PER_SAMPLE[1]!) / 2], 1e-4);
    // β = 0 leaves the boosted cross-entropy alone: CE + −log(1 − max_{k≠y} p_k).
    const b0 = martLoss(clean, adv, idx, { beta: 0, reduction: 'none' }).dataSync();
    const p = [Math.exp(0.5), Math.exp(1), Math.exp(-1)];
    const z = p[0]! + p[1]! + p[2]!;
    expect(b0[0]!).toBeCloseTo(-Math.log(p[0]! / z) - Math.log(1 - p[1]! / z), 4);
    tf.dispose([clean, adv, idx, hot, none, mean]);
  });

  it("form 'reference' computes MART's code as written: its constants, and the cap at saturation", () => {
    const clean = tf.tensor2d(CLEAN);
    const adv = tf.tensor2d(ADV);
    const idx = tf.tensor1d([0, 2], 'int32');
    const code = martLoss(clean, adv, idx, { beta: 6, reduction: 'none', form: 'reference' });
    expectClose(code.dataSync(), REFERENCE_CODE, 2e-6);
    // Saturated: the code's margin term is capped at −log(1.0001 − 1 + 1e-12) ≈ 9.21; the exact one is not.
    const sure = tf.tensor2d([[0, 0, 0]]);
    const wrong = tf.tensor2d([[0, 40, 0]]);
    const y = tf.tensor1d([0], 'int32');
    const capped = martLoss(sure, wrong, y, { beta: 0, form: 'reference' }).dataSync()[0]!;
    const exact = martLoss(sure, wrong, y, { beta: 0 }).dataSync()[0]!;
    expect(capped).toBeCloseTo(40 + -Math.log(1e-4), 2);
    expect(exact).toBeGreaterThan(75); // 40 + 40
    expect(() => martLoss(sure, wrong, tf.tensor2d([[1, 0, 0]]), { task: 'multi-label', form: 'reference' })).toThrow(/martLoss: options.form must be 'exact' for task 'multi-label'/);
    tf.dispose([clean, adv, idx, code, sure, wrong, y]);
  });

  it('stays finite at p = 1 (saturated logits), values and gradients', () => {
    const sure = tf.tensor2d([[100, 0, 0]]);
    const wrong = tf.tensor2d([[0, 100, 0]]);
    const y = tf.tensor1d([0], 'int32');
    // CE 100, margin −(log 2 − 100), KL weighted by 1 − p_y = 0.
    expectClose(martLoss(sure, wrong, y, { beta: 6 }).dataSync(), [199.30685281944005], 1e-3);
    expectClose(martLoss(sure, sure, y, { beta: 6 }).dataSync(), [0], 1e-5);
    const g = tf.grads((c: tf.Tensor, a: tf.Tensor) => martLoss(c as tf.Tensor2D, a as tf.Tensor2D, y, { beta: 6 }) as tf.Scalar)([sure, wrong]);
    for (const t of g) expect(Array.from(t.dataSync()).every(Number.isFinite)).toBe(true);
    const huge = martLoss(tf.tensor2d([[1000, -1000]]), tf.tensor2d([[-1000, 1000]]), tf.tensor1d([0], 'int32'));
    expect(Number.isFinite(huge.dataSync()[0]!)).toBe(true);
    tf.dispose([sure, wrong, y, ...g, huge]);
  });

  it('equals hand-computed multi-label values, finite at saturation', () => {
    const clean = tf.tensor2d([[1, -2], [0, 3]]);
    const adv = tf.tensor2d([[-1, 0], [2, -3]]);
    const y = tf.tensor2d([[1, 0], [0, 1]]);
    expectClose(martLoss(clean, adv, y, { beta: 6, task: 'multi-label', reduction: 'none' }).dataSync(), [2.49648512, 6.21253362], 1e-4);
    const sat = martLoss(tf.tensor2d([[50, -50]]), tf.tensor2d([[-50, 50]]), tf.tensor2d([[1, 0]]), { beta: 6, task: 'multi-label' });
    expectClose(sat.dataSync(), [100], 1e-3);
    const c = tf.tensor2d([[50, -50]]);
    const g = tf.grads((a: tf.Tensor, b: tf.Tensor) => martLoss(a as tf.Tensor2D, b as tf.Tensor2D, tf.tensor2d([[1, 0]]), { task: 'multi-label' }) as tf.Scalar)([c, tf.neg(c)]);
    for (const t of g) expect(Array.from(t.dataSync()).every(Number.isFinite)).toBe(true);
    tf.dispose([clean, adv, y, sat, c, ...g]);
  });

  it('multi-label MART on one label equals single-label MART on the logits [0, z]', () => {
    const zc = [1.3, -0.4, 2.2];
    const za = [-0.7, 0.9, 0.1];
    const y = [1, 0, 0];
    const multi = martLoss(tf.tensor2d(zc, [3, 1]), tf.tensor2d(za, [3, 1]), tf.tensor2d(y, [3, 1]), { beta: 5, task: 'multi-label', reduction: 'none' });
    const single = martLoss(tf.tensor2d(zc.flatMap((z) => [0, z]), [3, 2]), tf.tensor2d(za.flatMap((z) => [0, z]), [3, 2]), tf.tensor1d(y, 'int32'), { beta: 5, reduction: 'none' });
    expectClose(multi.dataSync(), single.dataSync(), 1e-4);
    tf.dispose([multi, single]);
  });

  it('rejects bad input', () => {
    const z = tf.tensor2d([[1, 0]]);
    const y = tf.tensor1d([0], 'int32');
    expect(() => martLoss(z, z, y, { beta: -1 })).toThrow(InvalidArgumentError);
    expect(() => martLoss(z, z, y, { beta: Number.NaN })).toThrow(/options.beta must be a finite number >= 0/);
    expect(() => martLoss(z, tf.tensor2d([[1, 0, 0]]), y)).toThrow(/martLoss: advLogits must be a tensor of the shape of cleanLogits/);
    expect(() => martLoss(z, z, tf.tensor1d([0, 1], 'int32'))).toThrow(/labels/);
    expect(() => martLoss(z, z, y, { betta: 6 } as never)).toThrow(/did you mean 'beta'/);
    expect(() => martLoss(z, z, y, { reduction: 'sum' } as never)).toThrow(/options.reduction/);
    expect(() => martLoss(tf.tensor1d([1]) as never, z, y)).toThrow(/cleanLogits/);
    expect(() => martLoss(z, z, tf.tensor1d([0], 'int32'), { task: 'multi-label' })).toThrow(/multi-hot/);
    tf.dispose([z, y]);
  });

  it('does not leak tensors', async () => {
    const clean = tf.tensor2d(CLEAN);
    const adv = tf.tensor2d(ADV);
    const y = tf.tensor1d([0, 2], 'int32');
    await expectNoLeak(() => martLoss(clean, adv, y));
    const hot = tf.tensor2d([[1, 0, 1], [0, 0, 1]]);
    await expectNoLeak(() => martLoss(clean, adv, hot, { task: 'multi-label', reduction: 'none' }));
    tf.dispose([clean, adv, y, hot]);
  });
});
