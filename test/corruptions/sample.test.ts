import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { bilinearValues } from '../../src/corruptions/planes.js';
import { invert3, warp } from '../../src/corruptions/sample.js';
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
    const half = bilinearValues(xv as Float32Array, { n: 2, h: 3, w: 4, c: 2 }, new Float32Array(2), new Float32Array(2).fill(0.5), 1, 1, 'edge');
    expect(half[0]).toBeCloseTo((xv[0]! + xv[2]!) / 2, 5);
    expect(half[2]).toBeCloseTo((xv[24]! + xv[26]!) / 2, 5); // image 2, channel 0
    await expectNoLeak(() => warp(x, [shift, shift], 'reflect'));
    tf.dispose([x, same, moved]);
  });

  it('folds out-of-range coordinates by the border rule, and gives zeros no weight', () => {
    const x = Float32Array.of(10, 20, 30);
    const ys = new Float32Array(5);
    const xs = Float32Array.of(-1, -2, 3, 4, -0.5);
    const read = (mode: 'reflect' | 'symmetric' | 'edge' | 'zeros') => Array.from(bilinearValues(x, { n: 1, h: 1, w: 3, c: 1 }, ys, xs, 1, 5, mode));
    expect(read('reflect')).toEqual([20, 30, 20, 10, 15]);
    expect(read('symmetric')).toEqual([10, 20, 30, 20, 10]);
    expect(read('edge')).toEqual([10, 10, 30, 30, 10]);
    expect(read('zeros')).toEqual([0, 0, 0, 0, 5]);
  });

  it('inverts 3×3 matrices', () => {
    const m = [2, 1, 0, 0, 1, 3, 1, 0, 1];
    const inv = invert3(m);
    const product = [0, 1, 2].flatMap((r) => [0, 1, 2].map((c) => m[r * 3]! * inv[c]! + m[r * 3 + 1]! * inv[3 + c]! + m[r * 3 + 2]! * inv[6 + c]!));
    expectClose(product, [1, 0, 0, 0, 1, 0, 0, 0, 1], 1e-12);
  });
});
