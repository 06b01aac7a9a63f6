import { describe, expect, it } from 'vitest';
import { blurField, cropField, nextPowerOfTwo, plasmaFractal, poisson } from '../../src/corruptions/randomFields.js';
import { createRng } from '../../src/internal/random.js';

describe('random fields', () => {
  it.each([0.5, 3, 12, 60, 300])('Poisson(%d) has mean and variance λ (multiplication and PTRS branches)', (lambda) => {
    const rng = createRng(1);
    const n = 20000;
    let sum = 0;
    let sq = 0;
    for (let i = 0; i < n; i++) {
      const k = poisson(rng, lambda);
      expect(Number.isInteger(k) && k >= 0).toBe(true);
      sum += k;
      sq += k * k;
    }
    const mean = sum / n;
    const variance = sq / n - mean * mean;
    expect(Math.abs(mean - lambda)).toBeLessThan(5 * Math.sqrt(lambda / n));
    expect(Math.abs(variance / lambda - 1)).toBeLessThan(0.06);
    expect(poisson(rng, 0)).toBe(0);
  });

  it('the plasma fractal spans [0, 1] exactly, is deterministic for a seed and smoother with a larger decay', () => {
    const a = plasmaFractal(createRng(3), 32, 2);
    const b = plasmaFractal(createRng(3), 32, 2);
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(Math.min(...a)).toBe(0);
    expect(Math.max(...a)).toBe(1);
    const roughness = (f: Float32Array) => { let s = 0; for (let i = 1; i < f.length; i++) if (i % 32) s += Math.abs(f[i]! - f[i - 1]!); return s; };
    expect(roughness(plasmaFractal(createRng(3), 32, 3))).toBeLessThan(roughness(plasmaFractal(createRng(3), 32, 1.4)));
    expect(nextPowerOfTwo(24)).toBe(32);
    expect(nextPowerOfTwo(32)).toBe(32);
    expect(Array.from(cropField(Float32Array.from([1, 2, 3, 4]), 2, 1, 2))).toEqual([1, 2]);
  });

  it('blurField keeps constants and the mean of a field', () => {
    const flat = new Float32Array(36).fill(0.3);
    blurField(flat, 6, 6, 1.5);
    for (const v of flat) expect(v).toBeCloseTo(0.3, 6);
  });
});
