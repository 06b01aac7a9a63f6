import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/errors.js';
import { averagePrecision } from '../../src/metrics/averagePrecision.js';
import { useTestBackend } from '../helpers/backends.js';

// Reference values from scikit-learn 1.x (`average_precision_score`), computed with
// /usr/bin/python3 on the arrays below.
const Y = [[1, 0, 1], [0, 1, 1], [1, 1, 0], [0, 0, 1], [1, 0, 0], [0, 1, 0]];
const S = [[0.9, 0.1, 0.5], [0.2, 0.8, 0.5], [0.7, 0.3, 0.1], [0.4, 0.4, 0.9], [0.6, 0.6, 0.2], [0.1, 0.7, 0.5]];

describe('averagePrecision', () => {
  beforeAll(() => useTestBackend('cpu'));

  it('matches scikit-learn: binary, ties, every average, one-vs-rest single-label', () => {
    expect(averagePrecision([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])).toBeCloseTo(0.8333333333333333, 12);
    expect(averagePrecision([0.5, 0.5, 0.2, 0.2, 0.9], [1, 0, 1, 0, 1])).toBeCloseTo(0.7555555555555555, 12);
    expect(averagePrecision(S, Y, { task: 'multi-label' })).toBeCloseTo(0.9, 12);
    expect(averagePrecision(S, Y, { task: 'multi-label', average: 'micro' })).toBeCloseTo(0.9054945054945055, 12);
    expect(averagePrecision(S, Y, { task: 'multi-label', average: 'weighted' })).toBeCloseTo(0.9, 12);
    const per = averagePrecision(S, Y, { task: 'multi-label', average: 'none' });
    [1, 0.86666667, 0.83333333].forEach((v, i) => expect(per[i]).toBeCloseTo(v, 7));
    const sc = [[0.7, 0.2, 0.1], [0.1, 0.6, 0.3], [0.2, 0.2, 0.6], [0.5, 0.1, 0.4], [0.3, 0.4, 0.3], [0.3, 0.3, 0.4]];
    expect(averagePrecision(sc, [0, 1, 2, 2, 1, 0])).toBeCloseTo(0.861111111111111, 12);
  });

  it('is NaN for a class without positives (skipped by the means), and reads tensors without disposing them', () => {
    expect(averagePrecision([0.3, 0.2], [0, 0])).toBeNaN();
    expect(averagePrecision([[0.3, 0.1], [0.2, 0.9]], [[0, 0], [0, 1]], { task: 'multi-label' })).toBe(1);
    const s = tf.tensor2d(S);
    const y = tf.tensor2d(Y);
    const before = tf.memory().numTensors;
    expect(averagePrecision(s, y, { task: 'multi-label' })).toBeCloseTo(0.9, 6);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([s, y]);
  });

  it('rejects bad input', () => {
    expect(() => averagePrecision([0.1, 0.2], [0, 2])).toThrow(/averagePrecision: labels\[1\] must be a binary label 0 or 1, received 2/);
    expect(() => averagePrecision([[0.1, 0.2]], [[1, 0], [0, 1]], { task: 'multi-label' })).toThrow(InvalidArgumentError);
    expect(() => averagePrecision([0.1, Number.NaN], [0, 1])).toThrow(InvalidArgumentError);
    expect(() => averagePrecision([0.1, 0.2], [0, 1], { average: 'samples' } as never)).toThrow(/options.average must be one of 'macro', 'micro', 'weighted', 'none'/);
    expect(() => averagePrecision([0.1, 0.2], [0, 1], { avg: 'macro' } as never)).toThrow(/options.avg must be one of the known options/);
  });
});
