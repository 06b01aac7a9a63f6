import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { randomNormalValues, randomUniformValues } from '../../src/corruptions/seededDraws.js';
import { BACKENDS, useTestBackend } from '../helpers/backends.js';

describe.each(BACKENDS)('seeded draws on %s', (backend) => {
  beforeAll(() => useTestBackend(backend));

  it("are bit-identical to tfjs-core's randomNormal and randomUniform for the same seed, odd sizes too", () => {
    for (const seed of [1, 7, 123456789, 2147483646]) {
      for (const size of [1, 2, 1001, 4096]) {
        for (const [mean, std] of [[0, 1], [0.55, 0.3], [0, 0.38]] as const) {
          const t = tf.randomNormal([size], mean, std, 'float32', seed);
          expect(Array.from(randomNormalValues(size, mean, std, seed))).toEqual(Array.from(t.dataSync()));
          t.dispose();
        }
        for (const [lo, hi] of [[0, 1], [-1, 1]] as const) {
          const t = tf.randomUniform([size], lo, hi, 'float32', seed);
          expect(Array.from(randomUniformValues(size, lo, hi, seed))).toEqual(Array.from(t.dataSync()));
          t.dispose();
        }
      }
    }
    // uniform draws with seed 0 are seeded ('0'), as tfjs does
    const z = tf.randomUniform([5], 0, 1, 'float32', 0);
    expect(Array.from(randomUniformValues(5, 0, 1, 0))).toEqual(Array.from(z.dataSync()));
    z.dispose();
  });
});
