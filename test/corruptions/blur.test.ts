import { describe, expect, it } from 'vitest';
import { addClippedZoom, DEFOCUS_BLUR, diskKernel, diskKernel64, glassShuffle } from '../../src/corruptions/blur.js';
import { diskRuns, diskSums } from '../../src/corruptions/diskSums.js';
import { correlate2dFft } from '../../src/corruptions/fft.js';
import { clippedZoomMatrix, gaussianKernel, gaussianMatrix } from '../../src/corruptions/linear.js';
import { clip01, correlate2d, separable, symmetricSeparable } from '../../src/corruptions/planes.js';
import { createRng } from '../../src/internal/random.js';
import { maxAbsDiff } from '../helpers/close.js';

/** out = Mh · x · Mwᵀ per image and channel, written out (square operators). */
function denseSeparable(x: Float32Array, s: { n: number; h: number; w: number; c: number }, mh: Float32Array, mw: Float32Array): Float64Array {
  const { n, h, w, c } = s;
  const mid = new Float64Array(x.length);
  const out = new Float64Array(x.length);
  for (let b = 0; b < n; b++)
    for (let y = 0; y < h; y++)
      for (let xx = 0; xx < w; xx++)
        for (let k = 0; k < c; k++) {
          let v = 0;
          for (let i = 0; i < h; i++) v += mh[y * h + i]! * x[((b * h + i) * w + xx) * c + k]!;
          mid[((b * h + y) * w + xx) * c + k] = v;
        }
  for (let b = 0; b < n; b++)
    for (let y = 0; y < h; y++)
      for (let xx = 0; xx < w; xx++)
        for (let k = 0; k < c; k++) {
          let v = 0;
          for (let i = 0; i < w; i++) v += mw[xx * w + i]! * mid[((b * h + y) * w + i) * c + k]!;
          out[((b * h + y) * w + xx) * c + k] = v;
        }
  return out;
}

describe('glassShuffle', () => {
  it("copies (h + dy, w + dx) into (h, w) like the reference's tuple assignment on H×W×3 arrays, instead of swapping", () => {
    // 4×4, δ = 1: rows 3, 2 and columns 3, 2 (in that order), every draw −1: each pixel takes its
    // upper-left neighbour, which keeps its own value
    const v = Float32Array.from({ length: 16 }, (_, i) => i);
    glassShuffle(v, { n: 1, h: 4, w: 4, c: 1 }, 1, 1, () => -1);
    const expected = Array.from({ length: 16 }, (_, i) => i);
    expected[15] = 10; // (3,3) ← (2,2)
    expected[14] = 9; // (3,2) ← (2,1)
    expected[11] = 6; // (2,3) ← (1,2)
    expected[10] = 5; // (2,2) ← (1,1)
    expect(Array.from(v)).toEqual(expected);
    // a swap would keep every value once; the copy loses some and duplicates others
    expect(new Set(v).size).toBeLessThan(16);
  });

  it('moves whole pixels (all channels) and draws dx before dy for every position, images in order', () => {
    const draws: number[] = [];
    const rng = createRng(3);
    const v = Float32Array.from({ length: 2 * 6 * 5 * 3 }, (_, i) => Math.floor(i / 3)); // channels equal per pixel
    glassShuffle(v, { n: 2, h: 6, w: 5, c: 3 }, 2, 2, (lo, hi) => {
      const d = rng.nextInt(lo, hi);
      draws.push(d);
      return d;
    });
    expect(draws.length).toBe(2 * 2 * (6 - 4) * (5 - 4) * 2); // images · iterations · rows · columns · (dx, dy)
    expect(Math.min(...draws)).toBeGreaterThanOrEqual(-2);
    expect(Math.max(...draws)).toBeLessThanOrEqual(1);
    for (let p = 0; p < v.length; p += 3) {
      expect(v[p + 1]).toBe(v[p]);
      expect(v[p + 2]).toBe(v[p]);
    }
  });
});

describe('zoom and defocus building blocks', () => {
  it('addClippedZoom adds the clipped_zoom operator (the matrix of clippedZoomMatrix) for zooms up to 1.3', () => {
    const rng = createRng(1);
    const s = { n: 2, h: 23, w: 17, c: 3 };
    const x = Float32Array.from({ length: 2 * 23 * 17 * 3 }, () => rng.next());
    for (const z of [1, 1.01, 1.13, 1.3]) {
      const acc = new Float32Array(x.length).fill(0.25);
      addClippedZoom(acc, x, s, z);
      const expected = separable(x, s, clippedZoomMatrix(23, z), clippedZoomMatrix(17, z)).map((v) => v + 0.25);
      expect(maxAbsDiff(acc, expected), `zoom ${z}`).toBeLessThan(1e-6);
    }
  });

  it('symmetric tap sums equal the dense Gaussian operators for every border rule, kernels wider than the image too', () => {
    const rng = createRng(6);
    for (const [n, h, w, c] of [[2, 31, 26, 3], [1, 7, 12, 1]] as const) {
      const x = Float32Array.from({ length: n * h * w * c }, () => rng.next());
      for (const sigma of [0.6, 1, 2.5, 6]) {
        for (const mode of ['edge', 'reflect', 'symmetric', 'zeros'] as const) {
          const dense = denseSeparable(x, { n, h, w, c }, gaussianMatrix(h, sigma, mode).values, gaussianMatrix(w, sigma, mode).values);
          expect(maxAbsDiff(symmetricSeparable(x, { n, h, w, c }, gaussianKernel(sigma), mode), dense), `σ ${sigma} ${mode} ${h}×${w}`).toBeLessThan(1e-6);
        }
      }
    }
  });

  it('the FFT path of defocus_blur equals the direct correlation for every severity kernel', () => {
    const rng = createRng(2);
    const s = { n: 1, h: 40, w: 37, c: 3 };
    const x = Float32Array.from({ length: 40 * 37 * 3 }, () => rng.next());
    for (const [radius, alias] of DEFOCUS_BLUR) {
      const { kernel, size } = diskKernel(radius, alias, 1);
      expect(maxAbsDiff(correlate2dFft(x, s, kernel, size, size, 'reflect'), correlate2d(x, s, kernel, size, size, 'reflect'))).toBeLessThan(1e-6);
    }
    // images smaller than the kernel (the border rule folds more than once), clipped as stored
    const tiny = { n: 2, h: 5, w: 4, c: 3 };
    const t = Float32Array.from({ length: 2 * 5 * 4 * 3 }, () => rng.next());
    const { kernel, size } = diskKernel(10, 0.5, 1);
    const signed = Float32Array.from(kernel, (v, i) => (i % 3 === 0 ? -v : 2 * v));
    for (const mode of ['reflect', 'symmetric', 'edge', 'zeros'] as const) {
      expect(maxAbsDiff(correlate2dFft(t, tiny, kernel, size, size, mode), correlate2d(t, tiny, kernel, size, size, mode)), mode).toBeLessThan(1e-6);
      expect(maxAbsDiff(correlate2dFft(t, tiny, signed, size, size, mode, true), clip01(correlate2d(t, tiny, signed, size, size, mode))), mode).toBeLessThan(1e-6);
    }
  });
});

describe('defocus_blur on the FFT with a real spectrum', () => {
  // Two float32 roundings of one float64 value in [0, 1] (the FFT's own error is ~1e-15): at most 2^-24 apart.
  const FLOAT32_ROUNDING = 2 ** -24;

  it('severities 4 and 5 (the disk touching its grid) equal the direct correlation at 224 px within float32 rounding', () => {
    const rng = createRng(17);
    const s = { n: 1, h: 224, w: 224, c: 3 };
    const x = Float32Array.from({ length: 224 * 224 * 3 }, () => rng.next());
    for (const [radius, alias] of [DEFOCUS_BLUR[3], DEFOCUS_BLUR[4]]) {
      const { kernel, size } = diskKernel(radius, alias, 1);
      expect(diskRuns(radius, alias, 1).inside, `radius ${radius}`).toBe(false);
      const fast = correlate2dFft(x, s, kernel, size, size, 'reflect', true);
      expect(maxAbsDiff(fast, clip01(correlate2d(x, s, kernel, size, size, 'reflect'))), `radius ${radius}`).toBeLessThanOrEqual(FLOAT32_ROUNDING);
    }
  });

  it('odd sizes, 1–4 channels, odd plane counts and grids that are not powers of four agree too', () => {
    const rng = createRng(18);
    // 37×53: 64×64 grids at 17 taps (power of four: the fused product), 64×128 at 21 (the separate real product);
    // 100×90: 128×128 (neither); 3×2: a kernel wider than the image
    for (const [n, h, w, c] of [[1, 37, 53, 1], [3, 37, 53, 2], [1, 53, 37, 3], [2, 37, 53, 4], [1, 100, 90, 3], [1, 3, 2, 3]] as const) {
      const s = { n, h, w, c };
      const x = Float32Array.from({ length: n * h * w * c }, () => rng.next());
      for (const [radius, alias] of DEFOCUS_BLUR) {
        const { kernel, size } = diskKernel(radius, alias, 1);
        const fast = correlate2dFft(x, s, kernel, size, size, 'reflect', true);
        expect(maxAbsDiff(fast, clip01(correlate2d(x, s, kernel, size, size, 'reflect'))), `${n}×${h}×${w}×${c} radius ${radius}`).toBeLessThanOrEqual(FLOAT32_ROUNDING);
      }
    }
  });

  it('a kernel that is not point-symmetric keeps the complex product (a correlation, not a convolution)', () => {
    const rng = createRng(19);
    const s = { n: 1, h: 37, w: 53, c: 3 };
    const x = Float32Array.from({ length: 37 * 53 * 3 }, () => rng.next());
    const { kernel, size } = diskKernel(8, 0.5, 1);
    // weight moved towards the top-left: a real-spectrum shortcut would flip it
    const skewed = Float64Array.from(kernel, (v, i) => (i < kernel.length / 2 ? 1.5 * v : 0.5 * v));
    expect(maxAbsDiff(correlate2dFft(x, s, skewed, size, size, 'reflect'), correlate2d(x, s, skewed, size, size, 'reflect'))).toBeLessThan(1e-6);
  });
});

describe('defocus_blur as row runs', () => {
  /** (g ⊗ g) ∗ disk / count from diskRuns, centred on a size × size grid (zeros outside it). */
  function runsKernel(radius: number, alias: number, scale: number, size: number): Float64Array {
    const { reach, halfWidths, count, gauss } = diskRuns(radius, alias, scale);
    const half = (size - 1) / 2;
    const gr = (gauss.length - 1) / 2;
    const k = new Float64Array(size * size);
    for (let dy = -reach; dy <= reach; dy++) {
      const a = halfWidths[dy + reach]!;
      for (let dx = -a; dx <= a; dx++)
        for (let u = -gr; u <= gr; u++)
          for (let v = -gr; v <= gr; v++) {
            const y = dy + u + half;
            const x = dx + v + half;
            if (y >= 0 && y < size && x >= 0 && x < size) k[y * size + x] = k[y * size + x]! + (gauss[u + gr]! * gauss[v + gr]!) / count;
          }
    }
    return k;
  }

  it("is exactly diskKernel's kernel where the smoothed disk lies inside its grid: severities 1–3 at 224 px, not 4–5", () => {
    for (const scale of [1, 28 / 224, 64 / 224, 2]) {
      for (const [i, [radius, alias]] of DEFOCUS_BLUR.entries()) {
        const runs = diskRuns(radius * scale, alias, scale);
        const { kernel, size } = diskKernel64(radius * scale, alias, scale);
        if (scale === 1) expect(runs.inside, `severity ${i + 1}`).toBe(i < 3);
        // where it is not inside, the folded border makes the kernel differ from the smoothed disk
        if (!runs.inside) expect(maxAbsDiff(runsKernel(radius * scale, alias, scale, size), kernel), `scale ${scale} severity ${i + 1}`).toBeGreaterThan(1e-6);
        // the disk of diskKernel: its non-zero entries before smoothing are the runs' pixels
        expect(runs.count).toBe(runs.halfWidths.reduce((a, h) => a + 2 * h + 1, 0));
        if (!runs.inside) continue;
        // σ = 0.1 drops weights of 2e-22, which move no kernel entry by more than 1e-22
        expect(maxAbsDiff(runsKernel(radius * scale, alias, scale, size), kernel), `scale ${scale} severity ${i + 1}`).toBeLessThan(alias < 0.2 ? 1e-20 : 1e-16);
      }
    }
  });

  it('equals the direct correlation to one float32 rounding (double kernel) and two (float32 kernel), every border rule, images narrower than the kernel too', () => {
    const rng = createRng(8);
    for (const [n, h, w, c] of [[2, 31, 26, 3], [1, 7, 12, 1], [1, 5, 4, 3]] as const) {
      const s = { n, h, w, c };
      const x = Float32Array.from({ length: n * h * w * c }, () => rng.next());
      // scale 2: disks of 13, 17 and 25 rows (passes of eight, four and the last rows)
      for (const scale of [1, 28 / 224, 2]) {
        for (const [radius, alias] of DEFOCUS_BLUR) {
          const runs = diskRuns(radius * scale, alias, scale);
          if (!runs.inside) continue;
          const { kernel, size } = diskKernel64(radius * scale, alias, scale);
          for (const mode of ['reflect', 'symmetric', 'edge', 'zeros'] as const) {
            const sums = diskSums(x, s, runs, mode);
            const label = `${n}×${h}×${w}×${c} r ${radius * scale} ${mode}`;
            expect(maxAbsDiff(sums, clip01(correlate2d(x, s, kernel, size, size, mode))), label).toBeLessThanOrEqual(2 ** -24);
            expect(maxAbsDiff(sums, clip01(correlate2d(x, s, Float32Array.from(kernel), size, size, mode))), label).toBeLessThanOrEqual(2 ** -23);
          }
        }
      }
    }
  });
});
