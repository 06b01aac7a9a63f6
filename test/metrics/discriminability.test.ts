import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/errors.js';
import { compareDiscriminability, discriminability } from '../../src/metrics/discriminability.js';
import { BACKENDS, useTestBackend } from '../helpers/backends.js';
import { expectNoLeak } from '../helpers/expectNoLeak.js';

describe('discriminability (hand-computed)', () => {
  // 1-D: class 0 at {0, 2}, class 1 at {10, 12}
  const pts = [[0], [2], [10], [12]];
  const labels = [0, 0, 1, 1];
  it('silhouette, Fisher ratio and kNN accuracy', () => {
    const r = discriminability(pts, labels, { k: 1 });
    // point 0: a = 2, b = (10 + 12)/2 = 11, s = 9/11; point 1: a = 2, b = 9, s = 7/9; symmetric for class 1
    expect(r.silhouette).toBeCloseTo((9 / 11 + 7 / 9) / 2, 12);
    // S_B = 4·25 = 100, S_W = 4·1 = 4
    expect(r.fisherRatio).toBeCloseTo(25, 12);
    expect(r.knnAccuracy).toBe(1);
    expect(r.classes).toBe(2);
  });
  it('comparison: unchanged points do not move; points pushed across do', () => {
    const same = compareDiscriminability(pts, pts, labels, { k: 1 });
    expect(same.marginShift).toBe(0);
    expect(same.crossedCentroid).toBe(0);
    expect(same.relativeDisplacement).toBe(0);
    // move each point 8 units toward the other class
    const adv = [[8], [10], [2], [4]];
    const moved = compareDiscriminability(pts, adv, labels, { k: 1 });
    expect(moved.crossedCentroid).toBe(1);
    expect(moved.cleanCrossedCentroid).toBe(0);
    expect(moved.crossedNeighbourhood).toBe(1);
    expect(moved.marginShift).toBeLessThan(-1);
    expect(moved.relativeDisplacement).toBeCloseTo(8, 12); // mean 8 / within RMS 1
    expect(moved.adversarial.silhouette).toBeLessThan(moved.clean.silhouette);
  });
});

describe.each(BACKENDS)('discriminability on tensors (%s)', (name) => {
  beforeAll(() => useTestBackend(name));
  it('reads tensors and leaks nothing', async () => {
    const x = tf.tensor2d([[0], [2], [10], [12]]);
    const y = tf.tensor1d([0, 0, 1, 1], 'int32');
    await expectNoLeak(() => discriminability(x, y, { k: 1 }));
    await expectNoLeak(() => compareDiscriminability(x, x, y, { k: 1 }));
    tf.dispose([x, y]);
  });
});

describe('discriminability rejects bad input', () => {
  it('throws typed errors', () => {
    expect(() => discriminability([[0], [1]], [0, 0], { k: 1 })).toThrow(/2 distinct classes/);
    expect(() => discriminability([[0], [1]], [0, 1], { k: 2 })).toThrow(/below the number/);
    expect(() => discriminability([[0], [1, 2]], [0, 1], { k: 1 })).toThrow(InvalidArgumentError);
    expect(() => discriminability([[0], [1]], [0], { k: 1 })).toThrow(/2 class indices/);
    expect(() => compareDiscriminability([[0], [1]], [[0, 1], [1, 1]], [0, 1], { k: 1 })).toThrow(/like clean/);
  });
});
