import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { applySeparable, boxResizeMatrix, clippedZoomMatrix, correlationMatrix, filter2d, foldIndex, gaussianKernel, padTensor } from '../../src/corruptions/linear.js';
import { BACKENDS, useTestBackend } from '../helpers/backends.js';
import { expectClose } from '../helpers/close.js';
import { expectNoLeak } from '../helpers/expectNoLeak.js';

describe('axis matrices', () => {
  it('folds indices by the four border rules, for pads wider than the image', () => {
    const fold = (mode: 'reflect' | 'symmetric' | 'edge' | 'zeros') => [-5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7].map((i) => foldIndex(i, 3, mode));
    expect(fold('reflect')).toEqual([1, 0, 1, 2, 1, 0, 1, 2, 1, 0, 1, 2, 1]);
    expect(fold('symmetric')).toEqual([1, 2, 2, 1, 0, 0, 1, 2, 2, 1, 0, 0, 1]);
    expect(fold('edge')).toEqual([0, 0, 0, 0, 0, 0, 1, 2, 2, 2, 2, 2, 2]);
    expect(fold('zeros')).toEqual([-1, -1, -1, -1, -1, 0, 1, 2, -1, -1, -1, -1, -1]);
  });

  it('Gaussian kernels have scipy support ⌊truncate·σ + ½⌋ and sum to 1; σ = 0 is the identity', () => {
    expect(gaussianKernel(2).length).toBe(17);
    expect(gaussianKernel(2, 3).length).toBe(13);
    expect(gaussianKernel(1.5).reduce((a, v) => a + v, 0)).toBeCloseTo(1, 6);
    expect(Array.from(gaussianKernel(0))).toEqual([1]);
  });

  it('correlation rows sum to 1 except where zeros are outside, for any mode', () => {
    const k = gaussianKernel(3);
    for (const mode of ['reflect', 'symmetric', 'edge'] as const) {
      const m = correlationMatrix(5, k, mode);
      for (let i = 0; i < 5; i++) expect(m.values.slice(i * 5, i * 5 + 5).reduce((a, v) => a + v, 0)).toBeCloseTo(1, 5);
    }
    const z = correlationMatrix(5, k, 'zeros');
    expect(z.values.slice(0, 5).reduce((a, v) => a + v, 0)).toBeLessThan(0.9);
  });

  it('PIL BOX resizing averages whole blocks at integer factors and copies pixels when enlarging by an integer', () => {
    const down = boxResizeMatrix(6, 3);
    expect(Array.from(down.values)).toEqual([0.5, 0.5, 0, 0, 0, 0, 0, 0, 0.5, 0.5, 0, 0, 0, 0, 0, 0, 0.5, 0.5]);
    const up = boxResizeMatrix(2, 4);
    expect(Array.from(up.values)).toEqual([1, 0, 1, 0, 0, 1, 0, 1]);
  });

  it('clipped zoom by 1 is the identity, by 2 reads the central half', () => {
    expect(Array.from(clippedZoomMatrix(4, 1).values)).toEqual([1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]);
    const z2 = clippedZoomMatrix(4, 2); // crop rows 1..2, zoomed to 4 samples at 1, 4/3, 5/3, 2
    expect(Array.from(z2.values.slice(0, 4))).toEqual([0, 1, 0, 0]);
    expect(z2.values[1 * 4 + 1]).toBeCloseTo(2 / 3, 6);
    expect(z2.values[1 * 4 + 2]).toBeCloseTo(1 / 3, 6);
    expect(Array.from(z2.values.slice(12, 16))).toEqual([0, 0, 1, 0]);
  });
});

describe.each(BACKENDS)('separable and 2-D filters on %s', (backend) => {
  beforeAll(() => useTestBackend(backend));

  it('applySeparable equals the matrix product along each axis; filter2d equals a direct correlation', async () => {
    const x = tf.tensor4d(Array.from({ length: 2 * 3 * 4 }, (_, i) => (i * 7) % 11), [2, 3, 4, 1]);
    const mh = { rows: 2, cols: 3, values: Float32Array.from([1, 0, 0, 0, 0.5, 0.5]) };
    const out = applySeparable(x, mh, null);
    const v = x.dataSync();
    const expected: number[] = [];
    for (let b = 0; b < 2; b++) for (let r = 0; r < 2; r++) for (let c = 0; c < 4; c++) expected.push(r === 0 ? v[b * 12 + c]! : 0.5 * (v[b * 12 + 4 + c]! + v[b * 12 + 8 + c]!));
    expectClose(out.dataSync(), expected, 1e-5);
    const kernel = Float32Array.from([0, 1, 0, 0, 0, 0, 0, 0, 2]); // reads (y−1, x) and 2·(y+1, x+1)
    const f = filter2d(x, kernel, 3, 3, 'edge');
    const fv = f.dataSync();
    const at = (b: number, y: number, xx: number) => v[b * 12 + Math.min(2, Math.max(0, y)) * 4 + Math.min(3, Math.max(0, xx))]!;
    for (let b = 0; b < 2; b++) for (let y = 0; y < 3; y++) for (let xx = 0; xx < 4; xx++) expect(fv[b * 12 + y * 4 + xx]).toBeCloseTo(at(b, y - 1, xx) + 2 * at(b, y + 1, xx + 1), 4);
    const padded = padTensor(x, 4, 1, 'reflect');
    expect(padded.shape).toEqual([2, 11, 6, 1]);
    await expectNoLeak(() => [applySeparable(x, mh, mh.rows === 2 ? null : mh), filter2d(x, kernel, 3, 3, 'symmetric'), padTensor(x, 2, 2, 'zeros')]);
    tf.dispose([x, out, f, padded]);
  });
});
