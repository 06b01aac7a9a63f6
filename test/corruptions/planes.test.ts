import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { diskKernel } from '../../src/corruptions/blur.js';
import { correlate2dFft, fft } from '../../src/corruptions/fft.js';
import { boxResizeMatrix, clippedZoomMatrix, foldIndex, gaussianMatrix, type AxisMatrix, type BorderMode } from '../../src/corruptions/linear.js';
import { correlate2d, padValues, separable, type BatchShape } from '../../src/corruptions/planes.js';
import { createRng } from '../../src/internal/random.js';
import { BACKENDS, useTestBackend } from '../helpers/backends.js';
import { expectClose, maxAbsDiff } from '../helpers/close.js';

const random = (length: number, seed: number) => {
  const rng = createRng(seed);
  return Float32Array.from({ length }, () => rng.next());
};

/** out[b, i, j, k] = Σ mh[i, y]·mw[j, x]·x[b, y, x, k], written out. */
function denseSeparable(x: Float32Array, s: BatchShape, mh: AxisMatrix, mw: AxisMatrix): Float64Array {
  const out = new Float64Array(s.n * mh.rows * mw.rows * s.c);
  for (let b = 0; b < s.n; b++)
    for (let i = 0; i < mh.rows; i++)
      for (let j = 0; j < mw.rows; j++)
        for (let k = 0; k < s.c; k++) {
          let v = 0;
          for (let y = 0; y < s.h; y++) for (let xx = 0; xx < s.w; xx++) v += mh.values[i * s.h + y]! * mw.values[j * s.w + xx]! * x[((b * s.h + y) * s.w + xx) * s.c + k]!;
          out[((b * mh.rows + i) * mw.rows + j) * s.c + k] = v;
        }
  return out;
}

/** out(y, x) = Σ k(i, j)·x(fold(y + i − ry), fold(x + j − rx)), written out. */
function directCorrelation(x: Float32Array, s: BatchShape, kernel: ArrayLike<number>, kh: number, kw: number, mode: BorderMode): Float64Array {
  const out = new Float64Array(x.length);
  const ry = (kh - 1) / 2;
  const rx = (kw - 1) / 2;
  for (let b = 0; b < s.n; b++)
    for (let y = 0; y < s.h; y++)
      for (let xx = 0; xx < s.w; xx++)
        for (let k = 0; k < s.c; k++) {
          let v = 0;
          for (let i = 0; i < kh; i++)
            for (let j = 0; j < kw; j++) {
              const sy = foldIndex(y + i - ry, s.h, mode);
              const sx = foldIndex(xx + j - rx, s.w, mode);
              if (sy >= 0 && sx >= 0) v += kernel[i * kw + j]! * x[((b * s.h + sy) * s.w + sx) * s.c + k]!;
            }
          out[((b * s.h + y) * s.w + xx) * s.c + k] = v;
        }
  return out;
}

describe('fft', () => {
  it('matches the DFT sum and inverts (unscaled) for sizes 1 to 64', () => {
    for (const size of [1, 2, 8, 64]) {
      const re = Float64Array.from(random(size, size), (v) => v - 0.5);
      const im = Float64Array.from(random(size, size + 1), (v) => v - 0.5);
      const fr = Float64Array.from(re);
      const fi = Float64Array.from(im);
      fft(fr, fi, 0, size, false);
      for (const k of [0, Math.floor(size / 3), size - 1]) {
        let sr = 0;
        let si = 0;
        for (let j = 0; j < size; j++) {
          const a = (-2 * Math.PI * j * k) / size;
          sr += re[j]! * Math.cos(a) - im[j]! * Math.sin(a);
          si += re[j]! * Math.sin(a) + im[j]! * Math.cos(a);
        }
        expect(fr[k]).toBeCloseTo(sr, 10);
        expect(fi[k]).toBeCloseTo(si, 10);
      }
      fft(fr, fi, 0, size, true);
      expectClose(Array.from(fr, (v) => v / size), re, 1e-12);
      expectClose(Array.from(fi, (v) => v / size), im, 1e-12);
    }
  });
});

describe('typed-array filters', () => {
  it('pads by every border rule, wider than the image too', () => {
    const x = Float32Array.of(1, 2, 3, 4, 5, 6); // one 2×3 grey image
    const s = { n: 1, h: 2, w: 3, c: 1 };
    const padded = padValues(x, s, 1, 4, 'symmetric');
    expect(padded.length).toBe(4 * 11);
    for (let y = -1; y < 3; y++) for (let xx = -4; xx < 7; xx++) expect(padded[(y + 1) * 11 + xx + 4]).toBe(x[foldIndex(y, 2, 'symmetric') * 3 + foldIndex(xx, 3, 'symmetric')]);
    expect(Array.from(padValues(x, s, 1, 0, 'zeros').slice(0, 3))).toEqual([0, 0, 0]);
  });

  it('2-D correlation, direct and through the FFT, equals the written-out sum for every border rule', () => {
    const s = { n: 2, h: 13, w: 18, c: 3 };
    const x = random(s.n * s.h * s.w * s.c, 3);
    const kernel = Float32Array.from(random(7 * 5, 4), (v) => v - 0.3);
    for (const mode of ['reflect', 'symmetric', 'edge', 'zeros'] as const) {
      const expected = directCorrelation(x, s, kernel, 7, 5, mode);
      expect(maxAbsDiff(correlate2d(x, s, kernel, 7, 5, mode), expected), mode).toBeLessThan(2e-6);
      expect(maxAbsDiff(correlate2dFft(x, s, kernel, 7, 5, mode), expected), mode).toBeLessThan(2e-6);
    }
    // an odd number of planes (one channel, three images) leaves one plane alone in its transform
    const grey = { n: 3, h: 9, w: 9, c: 1 };
    const g = random(3 * 81, 5);
    const { kernel: disk, size } = diskKernel(3, 0.5, 1);
    expect(maxAbsDiff(correlate2dFft(g, grey, disk, size, size, 'reflect'), directCorrelation(g, grey, disk, size, size, 'reflect'))).toBeLessThan(1e-6);
  });
});

describe.each(BACKENDS)('separable operators on %s', (backend) => {
  beforeAll(() => useTestBackend(backend));

  it('tap loops (zooms, resizes) and matrix products (wide blurs) both equal the dense sum, for resizing operators too', () => {
    const before = tf.memory().numTensors;
    const s = { n: 2, h: 20, w: 15, c: 3 };
    const x = random(s.n * s.h * s.w * s.c, 9);
    const cases: [AxisMatrix, AxisMatrix][] = [
      [clippedZoomMatrix(20, 1.3), clippedZoomMatrix(15, 1.1)], // 2 taps: loops
      [gaussianMatrix(20, 4), gaussianMatrix(15, 3, 'symmetric', 3)], // ≥ 13 taps: matrix products off 'cpu'
      [boxResizeMatrix(20, 7), boxResizeMatrix(15, 31)], // down and up
      [gaussianMatrix(20, 0.8), boxResizeMatrix(15, 4)],
    ];
    for (const [mh, mw] of cases) {
      const out = separable(x, s, mh, mw);
      expect(out.length).toBe(s.n * mh.rows * mw.rows * s.c);
      expect(maxAbsDiff(out, denseSeparable(x, s, mh, mw))).toBeLessThan(1e-5);
    }
    const grey = { n: 3, h: 8, w: 8, c: 1 };
    const g = random(3 * 64, 10);
    expect(maxAbsDiff(separable(g, grey, gaussianMatrix(8, 5), null), denseSeparable(g, grey, gaussianMatrix(8, 5), { rows: 8, cols: 8, values: Float32Array.from({ length: 64 }, (_, i) => (i % 9 === 0 ? 1 : 0)) }))).toBeLessThan(1e-5);
    expect(Array.from(separable(g, grey, null, null))).toEqual(Array.from(g));
    expect(tf.memory().numTensors).toBe(before); // the matrix products free their tensors
  });
});
