import { describe, expect, it } from 'vitest';
import { boxResizeMatrix, clippedZoomMatrix, correlationMatrix, foldIndex, gaussianKernel } from '../../src/corruptions/linear.js';

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
