import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { motionBlur, motionBlurValues, motionTaps } from '../../src/corruptions/motionBlur.js';
import { createRng } from '../../src/internal/random.js';
import { BACKENDS, useTestBackend } from '../helpers/backends.js';
import { expectClose, maxAbsDiff } from '../helpers/close.js';
import { expectNoLeak } from '../helpers/expectNoLeak.js';

describe('motionTaps', () => {
  it('has 2r + 1 one-sided taps along the angle with normalised Gaussian weights exp(−i²/2σ²)', () => {
    const taps = motionTaps(3, 2, 0);
    expect(taps.map((t) => t.dx)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(taps.every((t) => t.dy === 0)).toBe(true);
    expect(taps.reduce((a, t) => a + t.w, 0)).toBeCloseTo(1, 12);
    expect(taps[1]!.w / taps[0]!.w).toBeCloseTo(Math.exp(-1 / 8), 12);
    expect(motionTaps(2, 1, 90).map((t) => t.dy)).toEqual([0, 1, 2, 3, 4]);
  });

  it("rounds offsets as ImageMagick, ⌈v − ½⌉ (halves round down), rows pointing down", () => {
    // sin 30° = ½: i·sin = 0, .5, 1, 1.5, 2 → 0, 0, 1, 1, 2 (Math.round would give 0, 1, 1, 2, 2)
    expect(motionTaps(2, 1, 30).map((t) => t.dy)).toEqual([0, 0, 1, 1, 2]);
    expect(motionTaps(2, 1, -90).map((t) => t.dy)).toEqual([0, -1, -2, -3, -4]);
  });
});

/** out(y, x) = Σᵢ wᵢ·x(clamp(y + dyᵢ), clamp(x + dxᵢ)), written out. */
function naive(x: Float32Array, n: number, h: number, w: number, c: number, radius: number, sigma: number, angles: number[]): Float64Array {
  const out = new Float64Array(x.length);
  for (let b = 0; b < n; b++) {
    const taps = motionTaps(radius, sigma, angles[b]!);
    for (let y = 0; y < h; y++)
      for (let xx = 0; xx < w; xx++)
        for (let k = 0; k < c; k++) {
          let v = 0;
          for (const t of taps) v += t.w * x[((b * h + Math.min(h - 1, Math.max(0, y + t.dy))) * w + Math.min(w - 1, Math.max(0, xx + t.dx))) * c + k]!;
          out[((b * h + y) * w + xx) * c + k] = v;
        }
  }
  return out;
}

describe('motionBlurValues', () => {
  it('reads along +angle (ImageMagick and imagecorruptions), not the mirrored direction', () => {
    const x = new Float32Array(16);
    x[0] = 1; // impulse at the top-left corner of a 4×4 grey image
    const w = [1, Math.exp(-0.5), Math.exp(-2)];
    const s = w[0]! + w[1]! + w[2]!;
    // angle 0: out(y, x) = Σ wᵢ·x(y, x + i), so only the impulse's own pixel sees it
    expectClose(motionBlurValues(x, { n: 1, h: 4, w: 4, c: 1 }, 1, 1, [0]).slice(0, 4), [w[0]! / s, 0, 0, 0], 1e-6);
    const row = Float32Array.of(0, 1, 0, 0);
    expectClose(motionBlurValues(row, { n: 1, h: 1, w: 4, c: 1 }, 1, 1, [0]), [w[1]! / s, w[0]! / s, 0, 0], 1e-6);
    // angle 90: reads the rows below, so the streak extends upwards from a bright pixel
    const column = Float32Array.of(0, 0, 1, 0);
    expectClose(motionBlurValues(column, { n: 1, h: 4, w: 1, c: 1 }, 1, 1, [90]), [w[2]! / s, w[1]! / s, w[0]! / s, 0], 1e-6);
  });

  it('equals the written-out sum for any angle, on images narrower than the kernel and in colour', () => {
    const rng = createRng(4);
    for (const [n, h, w, c] of [[2, 9, 11, 3], [3, 5, 3, 1], [1, 2, 30, 1]] as const) {
      const x = Float32Array.from({ length: n * h * w * c }, () => rng.next());
      for (const [radius, sigma] of [[1, 1], [6, 3], [10, 8]] as const) {
        const angles = Array.from({ length: n }, () => rng.uniform(-180, 180));
        expect(maxAbsDiff(motionBlurValues(x, { n, h, w, c }, radius, sigma, angles), naive(x, n, h, w, c, radius, sigma, angles))).toBeLessThan(1e-6);
      }
    }
  });

  it('scatters sparse one-channel images (the snow layer) to the same sums, borders included', () => {
    const rng = createRng(5);
    for (const [n, h, w] of [[2, 17, 23], [1, 4, 40], [2, 30, 6]] as const) {
      // ~10% non-zero (the scatter path), bright pixels on the borders too
      const x = Float32Array.from({ length: n * h * w }, () => (rng.next() < 0.1 ? rng.next() : 0));
      x[0] = 1;
      x[n * h * w - 1] = 0.5;
      for (const [radius, sigma] of [[1, 1], [12, 8], [20, 15]] as const) {
        const angles = Array.from({ length: n }, () => rng.uniform(-180, 180));
        expect(maxAbsDiff(motionBlurValues(x, { n, h, w, c: 1 }, radius, sigma, angles), naive(x, n, h, w, 1, radius, sigma, angles))).toBeLessThan(1e-6);
      }
    }
  });
});

describe.each(BACKENDS)('motionBlur on %s', (backend) => {
  beforeAll(() => useTestBackend(backend));
  it('is motionBlurValues on a tensor, one angle per image (or one for all), and leaks nothing', async () => {
    const x = tf.randomUniform([2, 6, 7, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
    const out = motionBlur(x, 3, 2, [10, 80]);
    expectClose(out.dataSync(), motionBlurValues(x.dataSync() as Float32Array, { n: 2, h: 6, w: 7, c: 3 }, 3, 2, [10, 80]), 0);
    const shared = motionBlur(x, 3, 2, [25]);
    expectClose(shared.dataSync(), motionBlurValues(x.dataSync() as Float32Array, { n: 2, h: 6, w: 7, c: 3 }, 3, 2, [25, 25]), 0);
    await expectNoLeak(() => motionBlur(x, 2, 1, [10, 80]));
    tf.dispose([x, out, shared]);
  });
});
