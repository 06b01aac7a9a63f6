import { describe, expect, it } from 'vitest';
import { flowLayer, liquidLayer, liquidMask } from '../../src/corruptions/spatter.js';
import { createRng } from '../../src/internal/random.js';

describe('spatter liquid layer', () => {
  it('flows down one column convolution [.05, .1, .15, .7] per frame (numpy "same", zeros outside)', () => {
    const layer = new Float32Array(5 * 2);
    layer[1 * 2 + 0] = 1; // row 1, column 0
    const next = flowLayer(layer, 5, 2);
    expect(Array.from({ length: 5 }, (_, y) => next[y * 2]!)).toEqual([0.05, 0.1, 0.15, 0.7, 0].map((v) => Math.fround(v)));
    expect(Array.from({ length: 5 }, (_, y) => next[y * 2 + 1]!)).toEqual([0, 0, 0, 0, 0]);
  });

  it('the layer is 0 or ≥ 0.69, and the mask lies in [0, 0.6] with its maximum 0.6 and zeros off the liquid', () => {
    const layer = liquidLayer(createRng(2), 32, 32, 0.3); // less smoothing: enough liquid on a small field
    expect(Array.from(layer).every((v) => v === 0 || v >= 0.69)).toBe(true);
    expect(Array.from(layer).some((v) => v > 0)).toBe(true);
    const mask = liquidMask(layer, 32, 32);
    expect(Math.max(...mask)).toBeCloseTo(0.6, 6);
    expect(Math.min(...mask)).toBeGreaterThanOrEqual(0);
    for (let i = 0; i < mask.length; i++) if (layer[i] === 0) expect(mask[i]).toBe(0);
    expect(Array.from(liquidLayer(createRng(2), 8, 8, 1))).toEqual(Array.from(liquidLayer(createRng(2), 8, 8, 1)));
  });
});
