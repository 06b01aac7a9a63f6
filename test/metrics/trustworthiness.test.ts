import * as tf from '@tensorflow/tfjs-core';
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/errors.js';
import { createRng } from '../../src/internal/random.js';
import { knnAccuracy } from '../../src/metrics/knnAccuracy.js';
import { trustworthiness } from '../../src/metrics/trustworthiness.js';
import { BACKENDS, useTestBackend } from '../helpers/backends.js';
import { expectNoLeak } from '../helpers/expectNoLeak.js';

const fx = JSON.parse(readFileSync(new URL('../fixtures/metrics/sklearn.json', import.meta.url), 'utf8'));

describe('trustworthiness', () => {
  const rng = createRng(1);
  const x = Array.from({ length: 60 }, () => Array.from({ length: 5 }, () => rng.normal()));
  it('matches scikit-learn', () => {
    const t = fx.trustworthiness;
    expect(trustworthiness(t.features, t.embedding, { k: t.k })).toBeCloseTo(t.value, 12);
  });
  it('is 1 for an affine map and low for a shuffle (scikit-learn test_trustworthiness)', () => {
    const affine = x.map((r) => r.map((v, j) => 3 * v - 2 + j));
    expect(trustworthiness(x, affine, { k: 5 })).toBeCloseTo(1, 12);
    const shuffled = [...x].sort(() => 0).map((_, i) => x[(i * 37) % 60]!);
    expect(trustworthiness(x, shuffled, { k: 5 })).toBeLessThan(0.6);
  });
  it('knnAccuracy: 1 on separated groups, votes tie to the nearest', () => {
    expect(knnAccuracy([[0], [0.1], [5], [5.1]], [0, 0, 1, 1], { k: 1 })).toBe(1);
    // ties (1 vote each) go to the nearer neighbour: point 0 → 1 (wrong), point 1 → 0 (wrong),
    // point 2 → 0 (right), point 3 → 1 (right, 0.5 is nearer than 0)
    expect(knnAccuracy([[0], [0.5], [-1], [10]], [0, 1, 0, 1], { k: 2 })).toBe(0.5);
  });
});

describe.each(BACKENDS)('trustworthiness on tensors (%s)', (name) => {
  beforeAll(() => useTestBackend(name));
  it('reads tensors and leaks nothing', async () => {
    const a = tf.tensor2d(fx.trustworthiness.features);
    const b = tf.tensor2d(fx.trustworthiness.embedding);
    await expectNoLeak(() => trustworthiness(a, b, { k: 3 }));
    expect(trustworthiness(a, b, { k: 3 })).toBeCloseTo(fx.trustworthiness.value, 5);
    tf.dispose([a, b]);
  });
});

describe('trustworthiness and knnAccuracy reject bad input', () => {
  it('throws typed errors', () => {
    expect(() => trustworthiness([[1], [2], [3], [4]], [[1], [2], [3], [4]], { k: 2 })).toThrow(/below N \/ 2/);
    expect(() => trustworthiness([[1], [2], [3]], [[1], [2]])).toThrow(InvalidArgumentError);
    expect(() => trustworthiness([[1], [2], [Number.NaN]], [[1], [2], [3]], { k: 1 })).toThrow(/finite/);
    expect(() => knnAccuracy([[1], [2]], [0, 1], { k: 2 })).toThrow(/below the number of points/);
    expect(() => knnAccuracy([[1], [2]], [0, 1.5], { k: 1 })).toThrow(/class index/);
    expect(() => knnAccuracy([[1], [2, 3]], [0, 1], { k: 1 })).toThrow(/ragged/);
  });
});
