import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { attackSuccess } from '../../src/metrics/attackSuccess.js';
import { BACKENDS, useTestBackend } from '../helpers/backends.js';
import { expectNoLeak } from '../helpers/expectNoLeak.js';

describe.each(BACKENDS)('attackSuccess on %s', (backend) => {
  beforeAll(() => useTestBackend(backend));
  const run = (logits: number[][], labels: number[][] | number[], options: Parameters<typeof attackSuccess>[2]) => {
    const z = tf.tensor2d(logits);
    const y = Array.isArray(labels[0]) ? tf.tensor2d(labels as number[][]) : tf.tensor1d(labels as number[], 'int32');
    try {
      return attackSuccess(z as tf.Tensor2D, y, options);
    } finally {
      tf.dispose([z, y]);
    }
  };

  it('single-label: the argmax leaves the label (or reaches the target); margin max_{j≠y} z_j − z_y, also for 2 classes', () => {
    const r = run([[2, 1, 0], [0, 3, 1], [1, 1, 4], [5, -5, 0]], [0, 0, 2, 1], {});
    expect(r.success).toEqual([false, true, false, true]);
    expect(r.margin).toEqual([-1, 3, -3, 10]);
    expect(run([[2, 1, 0], [0, 3, 1]], [1, 1], { targeted: true }).success).toEqual([false, true]);
    expect(run([[0.5, -0.5], [-1, 2]], [0, 0], {}).margin).toEqual([-1, 3]);
  });

  it('multi-label goals, each by its own criterion, on hand-built cases', () => {
    // Findings predicted present: image 0 → {0, 2}; image 1 → {1}; image 2 → none.
    const logits = [[2, -1, 0.5], [-3, 4, -0.2], [-1, -2, -3]];
    const truth = [[1, 0, 1], [0, 1, 1], [1, 0, 0]];
    const ml = { task: 'multi-label' as const };
    expect(run(logits, truth, ml).success).toEqual([false, true, true]); // flip-any: some finding wrong
    expect(run(logits, truth, { ...ml, goal: 'flip-all' }).success).toEqual([false, false, false]);
    expect(run(logits, [[0, 1, 0], [1, 0, 1], [0, 1, 1]], { ...ml, goal: 'flip-all' }).success).toEqual([true, true, false]);
    expect(run(logits, truth, { ...ml, goal: { hide: 0 } }).success).toEqual([false, true, true]);
    expect(run(logits, truth, { ...ml, goal: { add: 1 } }).success).toEqual([false, true, false]);
    expect(run(logits, truth, { ...ml, goal: { target: [0, 0, 0] } }).success).toEqual([false, false, true]); // "look healthy"
    expect(run(logits, [[1, 0, 1], [0, 1, 0], [0, 0, 0]], { ...ml, targeted: true }).success).toEqual([true, true, true]);
    // Margins: positive exactly on success; the threshold moves the boundary to logit(threshold).
    const hide = run(logits, truth, { ...ml, goal: { hide: 0 } });
    expect(hide.margin).toEqual([-2, 3, 1]);
    expect(run(logits, truth, { ...ml, goal: 'flip-all' }).margin).toEqual([-2, -4, -3]);
    const strict = run(logits, truth, { ...ml, threshold: 0.75, goal: { hide: 2 } });
    expect(strict.success).toEqual([true, true, true]); // 0.5 < logit(0.75) ≈ 1.0986: finding 2 no longer predicted
    expect(strict.margin[0]).toBeCloseTo(Math.log(3) - 0.5, 6);
    // A single logit: the margin is −(2y − 1)·z.
    expect(run([[1.5], [-0.5]], [[1], [1]], ml).margin).toEqual([-1.5, 0.5]);
  });

  it('does not leak, and rejects bad input', async () => {
    const z = tf.tensor2d([[1, 2], [3, 4]]);
    const y = tf.tensor2d([[1, 0], [0, 1]]);
    await expectNoLeak(() => attackSuccess(z as tf.Tensor2D, y, { task: 'multi-label', goal: { target: [1, 1] } }));
    expect(() => attackSuccess(z as tf.Tensor2D, tf.tensor1d([0, 5], 'int32'), {})).toThrow(/attackSuccess: labels\[1\] must be a class index in \[0, 1\], received 5/);
    expect(() => attackSuccess(z as tf.Tensor2D, y, { task: 'multi-label', goal: { hide: 2 } })).toThrow(/options.goal.hide must be a finding index in \[0, 1\]/);
    expect(() => attackSuccess(z as tf.Tensor2D, y, { goal: 'flip-all' })).toThrow(/options.goal must be no goal for task 'single-label'/);
    expect(() => attackSuccess(z as tf.Tensor2D, y, { task: 'multi-label', goal: 'flip-any', targeted: true })).toThrow(/options.goal must be no goal with targeted: true/);
    expect(() => attackSuccess(tf.zeros([2]) as never, y, {})).toThrow(/attackSuccess: logits must be logits \[N, C\]/);
    expect(() => attackSuccess(z as tf.Tensor2D, tf.zeros([3, 2]), { task: 'multi-label' })).toThrow(/labels must be 2 rows/);
    expect(() => attackSuccess(z as tf.Tensor2D, y, { task: 'multi-label', threshold: 1 })).toThrow(/options.threshold must be a finite number > 0 and < 1/);
    tf.dispose([z, y]);
  });
});
