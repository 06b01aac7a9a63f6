import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { NATIVE_FLAG } from '../../src/backend/kernels/native.js';
import { NONFINITE_FLAG_KERNEL, nonFiniteFlag } from '../../src/internal/nonFiniteFlag.js';
import { BACKENDS, useTestBackend } from '../helpers/backends.js';
import { expectNoLeak } from '../helpers/expectNoLeak.js';

describe.each(BACKENDS)('nonFiniteFlag on %s', (backend) => {
  beforeAll(() => useTestBackend(backend));

  const flagOf = (tensors: tf.Tensor[]): number => {
    const f = nonFiniteFlag(tensors);
    const v = f.dataSync()[0]!;
    f.dispose();
    return v;
  };

  it("runs medrobust's kernel where the backend has it (wasm), tfjs ops elsewhere", () => {
    expect(tf.getKernel(NONFINITE_FLAG_KERNEL, backend) !== undefined).toBe(backend === 'wasm');
  });

  it('is 0 for finite values, however large (no overflow), and for no tensors at all', () => {
    const big = tf.fill([1001], 3e38);
    const mixed = tf.randomNormal([7, 13], 0, 1e30, 'float32', 1);
    const scalar = tf.scalar(-2.5);
    expect(flagOf([big, mixed, scalar])).toBe(0);
    expect(flagOf([])).toBe(0);
    tf.dispose([big, mixed, scalar]);
  });

  it.each([NaN, Infinity, -Infinity])('is NaN when one value anywhere is %s (vector body, tail, a scalar)', (bad) => {
    for (const [size, at] of [[1000, 517], [1003, 1002], [1, 0], [6, 5]] as const) {
      const values = new Float32Array(size).fill(0.5);
      values[at] = bad;
      const odd = tf.tensor1d(values);
      const fine = tf.ones([5, 5]);
      expect(flagOf([fine, odd]), `size ${size}, index ${at}`).toBeNaN();
      expect(flagOf([odd, fine]), `size ${size}, index ${at}`).toBeNaN();
      tf.dispose([odd, fine]);
    }
  });

  it.skipIf(backend !== 'wasm')('gives the same flags with the kernel module off (the kernel reads the values itself)', () => {
    tf.env().set(NATIVE_FLAG, false);
    try {
      const ok = tf.randomUniform([33, 3]);
      const bad = tf.tensor1d([1, 2, Infinity]);
      expect(flagOf([ok])).toBe(0);
      expect(flagOf([ok, bad])).toBeNaN();
      tf.dispose([ok, bad]);
    } finally {
      tf.env().set(NATIVE_FLAG, true);
    }
  });

  it('frees everything it makes', async () => {
    const a = tf.randomUniform([64, 3]);
    const b = tf.tensor1d([1, NaN]);
    await expectNoLeak(() => nonFiniteFlag([a, b]));
    await expectNoLeak(() => nonFiniteFlag([a]));
    tf.dispose([a, b]);
  });
});
