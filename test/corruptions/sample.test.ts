import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { invert3, sampleBilinear, warp } from '../../src/corruptions/sample.js';
import { BACKENDS, useTestBackend } from '../helpers/backends.js';
import { expectClose } from '../helpers/close.js';
import { expectNoLeak } from '../helpers/expectNoLeak.js';

describe.each(BACKENDS)('bilinear sampling on %s', (backend) => {
  beforeAll(() => useTestBackend(backend));

  it('reproduces the image on the identity map, shifts exactly by whole pixels, interpolates halfway', async () => {
    const x = tf.tensor4d(Array.from({ length: 2 * 3 * 4 * 2 }, (_, i) => (i * 5) % 13), [2, 3, 4, 2]);
    const identity = [1, 0, 0, 0, 1, 0, 0, 0, 1];
    const same = warp(x, [identity, identity], 'zeros');
    expectClose(same.dataSync(), x.dataSync(), 1e-5);
    const shift = [1, 0, -1, 0, 1, 0, 0, 0, 1]; // reads x − 1: content moves right
    const moved = warp(x, [shift, identity], 'zeros');
    const mv = moved.dataSync();
    const xv = x.dataSync();
    for (let y = 0; y < 3; y++) {
      expect(mv[(y * 4 + 0) * 2]).toBe(0);
      for (let c = 1; c < 4; c++) expect(mv[(y * 4 + c) * 2]).toBeCloseTo(xv[(y * 4 + c - 1) * 2]!, 5);
    }
    expectClose(mv.slice(24), xv.slice(24), 1e-5); // the second image used the identity
    const ys = tf.zeros([2, 1, 1]) as tf.Tensor3D;
    const xs = tf.fill([2, 1, 1], 0.5) as tf.Tensor3D;
    const half = sampleBilinear(x, ys, xs, 'edge');
    expect(half.dataSync()[0]).toBeCloseTo((xv[0]! + xv[2]!) / 2, 5);
    await expectNoLeak(() => warp(x, [shift, shift], 'reflect'));
    tf.dispose([x, same, moved, ys, xs, half]);
  });

  it('folds out-of-range coordinates by the border rule', () => {
    const x = tf.tensor4d([10, 20, 30], [1, 1, 3, 1]);
    const ys = tf.zeros([1, 1, 4]) as tf.Tensor3D;
    const xs = tf.tensor3d([[[-1, -2, 3, 4]]]);
    const read = (mode: 'reflect' | 'symmetric' | 'edge' | 'zeros') => tf.tidy(() => Array.from(sampleBilinear(x, ys, xs, mode).dataSync()));
    expect(read('reflect')).toEqual([20, 30, 20, 10]);
    expect(read('symmetric')).toEqual([10, 20, 30, 20]);
    expect(read('edge')).toEqual([10, 10, 30, 30]);
    expect(read('zeros')).toEqual([0, 0, 0, 0]);
    tf.dispose([x, ys, xs]);
  });

  it('inverts 3×3 matrices', () => {
    const m = [2, 1, 0, 0, 1, 3, 1, 0, 1];
    const inv = invert3(m);
    const product = [0, 1, 2].flatMap((r) => [0, 1, 2].map((c) => m[r * 3]! * inv[c]! + m[r * 3 + 1]! * inv[3 + c]! + m[r * 3 + 2]! * inv[6 + c]!));
    expectClose(product, [1, 0, 0, 0, 1, 0, 0, 0, 1], 1e-12);
  });
});
