import { describe, expect, it } from 'vitest';
import { frostTexture } from '../../src/corruptions/frostTexture.js';
import { createRng } from '../../src/internal/random.js';

describe('frostTexture', () => {
  it('is deterministic for a seed, in [0, 1], photograph-like in brightness, with bright crystals over the haze', () => {
    const a = frostTexture(createRng(5), 48, 40);
    expect(Array.from(a)).toEqual(Array.from(frostTexture(createRng(5), 48, 40)));
    expect(Array.from(a)).not.toEqual(Array.from(frostTexture(createRng(6), 48, 40)));
    const mean = a.reduce((s, v) => s + v, 0) / a.length;
    expect(mean).toBeGreaterThan(0.3);
    expect(mean).toBeLessThan(0.7);
    expect(Math.min(...a)).toBeGreaterThanOrEqual(0.2 - 1e-6); // the haze floor
    expect(Math.max(...a)).toBeLessThanOrEqual(1);
    const sorted = Array.from(a).sort((p, q) => p - q);
    const median = sorted[Math.floor(sorted.length / 2)]!;
    const p98 = sorted[Math.floor(sorted.length * 0.98)]!;
    expect(p98 - median).toBeGreaterThan(0.2); // needles stand out of the haze
    expect(Math.max(...a)).toBeGreaterThan(0.8);
  });
});
