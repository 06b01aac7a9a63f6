import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/errors.js';
import { labelCooccurrence, labelCorrelation, labelCorrelationShift } from '../../src/analysis/labelCooccurrence.js';
import { BACKENDS, useTestBackend } from '../helpers/backends.js';
import { expectNoLeak } from '../helpers/expectNoLeak.js';

const Y = [
  [1, 1, 0],
  [1, 0, 0],
  [0, 1, 1],
  [1, 0, 0],
  [0, 0, 0],
];

describe('labelCooccurrence (hand-computed, paper §5d)', () => {
  it('off-diagonal joint counts, diagonal = images whose only label is i', () => {
    expect(labelCooccurrence(Y)).toEqual([[2, 1, 0], [1, 0, 1], [0, 1, 0]]);
    expect(labelCooccurrence(Y, { diagonal: 'count' })).toEqual([[3, 1, 0], [1, 2, 1], [0, 1, 1]]);
    // cropped after counting: image 3 ([0,1,1]) has no only-label even though label 2 is cropped
    expect(labelCooccurrence(Y, { classes: 2 })).toEqual([[2, 1], [1, 0]]);
  });
  it('thresholds scores like 1[p > 0.5]', () => {
    expect(labelCooccurrence([[0.9, 0.6], [0.5, 0.2]], { threshold: 0.5 })).toEqual([[0, 1], [1, 0]]);
  });
  it('phi equals Pearson r on 0/1 columns; NaN without variance', () => {
    // columns a = [1,1,0,1,0], b = [1,0,1,0,0]: p_a = 0.6, p_b = 0.4, p_ab = 0.2
    const r = labelCorrelation(Y);
    expect(r[0]![1]).toBeCloseTo((0.2 - 0.24) / Math.sqrt(0.6 * 0.4 * 0.4 * 0.6), 12);
    expect(r[0]![0]).toBe(1);
    expect(labelCorrelation([[1, 0], [1, 1]])[0]![1]).toBeNaN();
    expect(labelCorrelation([[1, 1], [0, 0], [1, 0], [0, 1]])).toEqual([[1, 0], [0, 1]]);
  });
  it('shift: zero for identical predictions, Frobenius and RMS Δφ otherwise', () => {
    const same = labelCorrelationShift(Y, Y);
    expect(same.score).toBe(0);
    expect(same.cooccurrence.frobenius).toBe(0);
    // perfectly correlated clean labels, anti-correlated adversarial ones
    const s = labelCorrelationShift([[1, 1], [0, 0]], [[1, 0], [0, 1]]);
    expect(s.correlation.difference[0]![1]).toBe(-2);
    expect(s.score).toBe(2);
    expect(s.largestChanges).toEqual([{ i: 0, j: 1, change: -2 }]);
    // co-occurrence: clean [[0,1],[1,0]], adversarial [[1,0],[0,1]]
    expect(s.cooccurrence.frobenius).toBe(2);
    expect(s.cooccurrence.relativeFrobenius).toBeCloseTo(Math.SQRT2, 12);
  });
});

describe.each(BACKENDS)('labelCooccurrence on tensors (%s)', (name) => {
  beforeAll(() => useTestBackend(name));
  it('reads tensors and leaks nothing', async () => {
    const t = tf.tensor2d(Y);
    await expectNoLeak(() => labelCorrelationShift(t, t));
    expect(labelCooccurrence(t)).toEqual([[2, 1, 0], [1, 0, 1], [0, 1, 0]]);
    t.dispose();
  });
});

describe('labelCooccurrence rejects bad input', () => {
  it('throws typed errors', () => {
    expect(() => labelCooccurrence([[1, 0], [1]])).toThrow(InvalidArgumentError);
    expect(() => labelCooccurrence([[0.7, 0]])).toThrow(/threshold/);
    expect(() => labelCooccurrence([[1, Number.NaN]])).toThrow(/finite/);
    expect(() => labelCooccurrence([[1, 0]], { classes: 3 })).toThrow(/classes/);
    expect(() => labelCorrelationShift([[1, 0]], [[1, 0, 1]])).toThrow(/2 labels/);
  });
});
