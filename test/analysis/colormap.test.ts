import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/errors.js';
import { jetColormap, tileImages } from '../../src/analysis/colormap.js';

const jet = JSON.parse(readFileSync(new URL('../fixtures/metrics/jet.json', import.meta.url), 'utf8'));

describe('jetColormap', () => {
  it("matches matplotlib's jet byte for byte, saturating outside [0, 1]", () => {
    expect(Array.from(jetColormap(jet.x))).toEqual(jet.rgb);
  });
  it('maps [min, max] like [0, 1]; NaN is black', () => {
    expect(Array.from(jetColormap([0, 5, 10], { min: 0, max: 10 }))).toEqual(Array.from(jetColormap([0, 0.5, 1])));
    expect(Array.from(jetColormap([Number.NaN]))).toEqual([0, 0, 0]);
  });
  it('tileImages lays tiles out row by row with a white gap', () => {
    const a = { width: 1, height: 1, data: new Uint8Array([1, 2, 3]) };
    const b = { width: 1, height: 1, data: new Uint8Array([4, 5, 6]) };
    const grid = tileImages([a, b, a], { columns: 2, gap: 1 });
    expect([grid.width, grid.height]).toEqual([3, 3]);
    expect(Array.from(grid.data.subarray(0, 9))).toEqual([1, 2, 3, 255, 255, 255, 4, 5, 6]);
    expect(Array.from(grid.data.subarray(18, 21))).toEqual([1, 2, 3]);
  });
  it('rejects bad input', () => {
    expect(() => jetColormap([0], { min: 1, max: 1 })).toThrow(InvalidArgumentError);
    expect(() => jetColormap(5 as never)).toThrow(/array/);
    expect(() => jetColormap([0], { mn: 0 } as never)).toThrow(/unknown option/);
    expect(() => tileImages([])).toThrow(/non-empty/);
    expect(() => tileImages([{ width: 1, height: 1, data: new Uint8Array(3) }, { width: 2, height: 1, data: new Uint8Array(6) }])).toThrow(/1×1/);
  });
});
