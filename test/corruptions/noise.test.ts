import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { addGaussianNoise, addImpulseNoise, addSpeckleNoise } from '../../src/corruptions/noise.js';
import { createRng } from '../../src/internal/random.js';
import { BACKENDS, useTestBackend } from '../helpers/backends.js';
import { maxAbsDiff } from '../helpers/close.js';
import { expectNoLeak } from '../helpers/expectNoLeak.js';

/** The noise corruptions as chains of tensor ops (impulse noise was one before its typed-array loop). */
const asTensorOps = {
  gaussian: (x: tf.Tensor4D, sigma: number, seed: number) => tf.tidy(() => tf.clipByValue(tf.add(x, tf.randomNormal(x.shape, 0, sigma, 'float32', createRng(seed).nextSeed())), 0, 1)),
  speckle: (x: tf.Tensor4D, sigma: number, seed: number) => tf.tidy(() => tf.clipByValue(tf.add(x, tf.mul(x, tf.randomNormal(x.shape, 0, sigma, 'float32', createRng(seed).nextSeed()))), 0, 1)),
  impulse: (x: tf.Tensor4D, amount: number, seed: number) =>
    tf.tidy(() => {
      const u = tf.randomUniform(x.shape, 0, 1, 'float32', createRng(seed).nextSeed());
      return tf.where(tf.less(u, amount / 2), tf.zerosLike(x), tf.where(tf.less(u, amount), tf.onesLike(x), x));
    }),
};

describe.each(BACKENDS)('noise corruptions on %s', (backend) => {
  beforeAll(() => useTestBackend(backend));

  it('equal the tensor-op formulas on the same seeded draws (float32 sums and products), with or without pre-read values', () => {
    const x = tf.randomUniform([2, 9, 7, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
    const values = x.dataSync() as Float32Array;
    for (const [name, ours, param] of [['gaussian', addGaussianNoise, 0.38], ['speckle', addSpeckleNoise, 0.6], ['impulse', addImpulseNoise, 0.27]] as const) {
      const reference = asTensorOps[name](x, param, 11);
      for (const given of [undefined, values]) {
        const out = name === 'impulse' ? addImpulseNoise(x, param, createRng(11), given) : ours(x, param, createRng(11));
        expect(maxAbsDiff(out.dataSync(), reference.dataSync()), name).toBe(0);
        out.dispose();
      }
      reference.dispose();
    }
    // impulse noise really sets values to 0 and 1, and keeps the rest
    const salted = addImpulseNoise(x, 0.27, createRng(2));
    const s = salted.dataSync();
    const zeros = s.filter((v) => v === 0).length;
    const ones = s.filter((v) => v === 1).length;
    expect(zeros).toBeGreaterThan(0);
    expect(ones).toBeGreaterThan(0);
    expect(s.filter((v, i) => v === values[i]).length).toBeGreaterThan(s.length * 0.6);
    salted.dispose();
    x.dispose();
  });

  it('leaks no tensors', async () => {
    const x = tf.randomUniform([1, 5, 5, 1], 0, 1, 'float32', 4) as tf.Tensor4D;
    await expectNoLeak(() => addGaussianNoise(x, 0.1, createRng(1)));
    await expectNoLeak(() => addSpeckleNoise(x, 0.1, createRng(1)));
    await expectNoLeak(() => addImpulseNoise(x, 0.1, createRng(1)));
    x.dispose();
  });
});
