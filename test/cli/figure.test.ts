/** Report figures: nearest-neighbour enlargement (each pixel a block, no blending), and a laid-out PNG. */
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { figurePng, upscaleNearest } from '../../src/cli/figure.js';

describe('upscaleNearest', () => {
  it('turns every pixel into a factor × factor block of the same colour', () => {
    const image = { width: 2, height: 1, data: Uint8Array.from([255, 0, 0, 0, 0, 255]) };
    const big = upscaleNearest(image, 3);
    expect([big.width, big.height]).toEqual([6, 3]);
    for (let y = 0; y < 3; y++) {
      for (let x = 0; x < 6; x++) {
        expect(Array.from(big.data.subarray(3 * (y * 6 + x), 3 * (y * 6 + x) + 3))).toEqual(x < 3 ? [255, 0, 0] : [0, 0, 255]);
      }
    }
    expect(upscaleNearest(image, 1)).toBe(image);
  });
});

describe('figurePng', () => {
  it('enlarges 28 px panels to at least 168 px, keeps their pixels sharp, and fits title, captions and legend', async () => {
    // A checkerboard: any smoothing would create grey values.
    const data = new Uint8Array(28 * 28 * 3).map((_, i) => (((Math.floor(i / 3) % 28) + Math.floor(i / 3 / 28)) % 2 ? 255 : 0));
    const panel = { image: { width: 28, height: 28, data }, caption: 'clean' };
    const { png, width, height } = await figurePng([panel, panel, panel], { title: 'a title that is longer than the three panels side by side, to check the width', legend: { title: 'activation', min: 0, max: 2 }, notes: ['one note'] });
    const meta = await sharp(Buffer.from(png)).metadata();
    expect([meta.width, meta.height]).toEqual([width, height]);
    expect(width).toBeGreaterThan(3 * 168);
    expect(height).toBeGreaterThan(168 + 62);
    // Inside the first panel (6× enlarged, at x = 14, y = 14 + 28): only black and white.
    const { data: raw, info } = await sharp(Buffer.from(png)).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const values = new Set<number>();
    for (let y = 42 + 2; y < 42 + 168 - 2; y++) for (let x = 16; x < 14 + 168 - 2; x++) values.add(raw[3 * (y * info.width + x)]!);
    expect([...values].sort((a, b) => a - b)).toEqual([0, 255]);
  });
});
