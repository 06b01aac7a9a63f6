/**
 * The FFT-interpolated t-SNE gradient (FIt-SNE) and the approximate kNN behind large-N t-SNE:
 * the FFT against a direct DFT, the convolution against a direct sum, the interpolated gradient
 * against the exact one (with the error bounds the docs state), the approximate kNN against exact
 * neighbours, and tsne({ method: 'fft' }) end to end, against scikit-learn's trustworthiness when
 * /usr/bin/python3 has scikit-learn.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/errors.js';
import { createRng } from '../../src/internal/random.js';
import { knnAccuracy } from '../../src/metrics/knnAccuracy.js';
import { trustworthiness } from '../../src/metrics/trustworthiness.js';
import { tsne } from '../../src/metrics/tsne.js';
import { jointFromNeighbours } from '../../src/metrics/tsne/affinities.js';
import { approximateKnn } from '../../src/metrics/tsne/approximateKnn.js';
import { Convolution1d, Convolution2d, Fft, nextSmooth } from '../../src/metrics/tsne/fft.js';
import { attraction, bhGradient, interpolationGradient, SpaceTree } from '../../src/metrics/tsne/gradient.js';
import { chooseGrid, InterpolationRepulsion } from '../../src/metrics/tsne/interpolation.js';
import { permuteInPlace, relabelSparse, spatialOrder } from '../../src/metrics/tsne/reorder.js';
import { knnSelf } from '../../src/metrics/tsne/vpTree.js';
import { BACKENDS, useTestBackend } from '../helpers/backends.js';
import { expectNoLeak } from '../helpers/expectNoLeak.js';

const PYTHON = process.env.MEDROBUST_PYTHON ?? '/usr/bin/python3';
const SLOW = process.env.MEDROBUST_SLOW === '1';
const hasSklearn = spawnSync(PYTHON, ['-c', 'import sklearn.manifold'], { stdio: 'ignore' }).status === 0;
if (!hasSklearn) console.warn(`[medrobust] t-SNE scikit-learn parity SKIPPED: ${PYTHON} cannot import sklearn (apt-get install python3-sklearn to run it).`);

/** `k` Gaussian clusters in `d` dims, `per` points each, centres 10σ apart. */
function clusters(k: number, per: number, d: number, seed = 1): { x: number[][]; y: number[] } {
  const rng = createRng(seed);
  const x: number[][] = [];
  const y: number[] = [];
  for (let c = 0; c < k; c++) {
    for (let i = 0; i < per; i++) {
      x.push(Array.from({ length: d }, (_, j) => (j === c % d ? 10 : 0) + (j === (c + 1) % d ? 5 * Math.floor(c / d) : 0) + rng.normal()));
      y.push(c);
    }
  }
  return { x, y };
}

function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let e = 0;
  let n = 0;
  for (let p = 0; p < a.length; p++) {
    e += (a[p]! - b[p]!) ** 2;
    n += b[p]! ** 2;
  }
  return Math.sqrt(e / n);
}

describe('FFT', () => {
  it('equals a direct DFT for 5-smooth and prime-factor lengths', () => {
    const rng = createRng(1);
    for (const n of [1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 15, 16, 25, 30, 49, 60, 64, 77, 96, 120, 300]) {
      const re = Float64Array.from({ length: n }, () => rng.normal());
      const im = Float64Array.from({ length: n }, () => rng.normal());
      const outRe = Float64Array.from(re);
      const outIm = Float64Array.from(im);
      new Fft(n).transform(outRe, outIm, 0, 1, new Float64Array(n), new Float64Array(n));
      for (let k = 0; k < n; k++) {
        let sr = 0;
        let si = 0;
        for (let j = 0; j < n; j++) {
          const a = (-2 * Math.PI * ((j * k) % n)) / n;
          sr += re[j]! * Math.cos(a) - im[j]! * Math.sin(a);
          si += re[j]! * Math.sin(a) + im[j]! * Math.cos(a);
        }
        expect(Math.abs(outRe[k]! - sr)).toBeLessThan(1e-10 * Math.max(1, n));
        expect(Math.abs(outIm[k]! - si)).toBeLessThan(1e-10 * Math.max(1, n));
      }
    }
  });

  it('transforms interleaved sequences (stride) like separate ones', () => {
    const rng = createRng(2);
    const n = 45;
    const v = 3;
    const re = Float64Array.from({ length: n * v }, () => rng.normal());
    const im = Float64Array.from({ length: n * v }, () => rng.normal());
    const fft = new Fft(n);
    const sRe = Float64Array.from(re);
    const sIm = Float64Array.from(im);
    fft.transform(sRe, sIm, 0, v, new Float64Array(n * v), new Float64Array(n * v));
    for (let c = 0; c < v; c++) {
      const r = Float64Array.from({ length: n }, (_, t) => re[t * v + c]!);
      const i = Float64Array.from({ length: n }, (_, t) => im[t * v + c]!);
      fft.transform(r, i, 0, 1, new Float64Array(n), new Float64Array(n));
      for (let t = 0; t < n; t++) {
        expect(sRe[t * v + c]).toBeCloseTo(r[t]!, 11);
        expect(sIm[t * v + c]).toBeCloseTo(i[t]!, 11);
      }
    }
  });

  it('nextSmooth rounds up to 2^a·3^b·5^c', () => {
    expect([1, 7, 11, 49, 61, 97, 121, 1001].map(nextSmooth)).toEqual([1, 8, 12, 50, 64, 100, 125, 1024]);
  });

  it('2-D and 1-D convolutions equal the direct Toeplitz sums for both packed inputs', () => {
    const rng = createRng(3);
    const m = 9;
    const kernel = (dx: number, dy: number): number => 1 / (1 + 0.2 * (dx * dx + dy * dy)) ** 2;
    for (const size of [2 * m - 1, nextSmooth(2 * m), 27]) {
      const conv = new Convolution2d(m, size);
      conv.setKernel(kernel);
      const a = Float64Array.from({ length: m * m }, () => rng.normal());
      const b = Float64Array.from({ length: m * m }, () => rng.normal());
      const re = new Float64Array(m * size);
      const im = new Float64Array(m * size);
      for (let r = 0; r < m; r++) for (let c = 0; c < m; c++) { re[r * size + c] = a[r * m + c]!; im[r * size + c] = b[r * m + c]!; }
      conv.convolve(re, im);
      for (let r = 0; r < m; r++) {
        for (let c = 0; c < m; c++) {
          let sa = 0;
          let sb = 0;
          for (let k = 0; k < m; k++) for (let l = 0; l < m; l++) { const w = kernel(Math.abs(c - l), Math.abs(r - k)); sa += w * a[k * m + l]!; sb += w * b[k * m + l]!; }
          expect(Math.abs(re[r * size + c]! - sa)).toBeLessThan(1e-12);
          expect(Math.abs(im[r * size + c]! - sb)).toBeLessThan(1e-12);
        }
      }
    }
    const conv1 = new Convolution1d(m, 20);
    conv1.setKernel((d) => 1 / (1 + d * d));
    const a = Float64Array.from({ length: 20 }, (_, i) => (i < m ? rng.normal() : 0));
    const b = Float64Array.from({ length: 20 }, (_, i) => (i < m ? rng.normal() : 0));
    const ra = Float64Array.from(a);
    const rb = Float64Array.from(b);
    conv1.convolve(ra, rb);
    for (let i = 0; i < m; i++) {
      let sa = 0;
      let sb = 0;
      for (let j = 0; j < m; j++) { sa += a[j]! / (1 + (i - j) ** 2); sb += b[j]! / (1 + (i - j) ** 2); }
      expect(ra[i]).toBeCloseTo(sa, 12);
      expect(rb[i]).toBeCloseTo(sb, 12);
    }
  });
});

describe('interpolated (FIt-SNE) gradient', () => {
  // a converged 2-D t-SNE map of 1,500 points in 10 clusters, and its sparse P
  const n = 1500;
  const d = 10;
  let y: Float64Array;
  let exact: Float64Array;
  let P: ReturnType<typeof jointFromNeighbours>;
  beforeAll(async () => {
    const rng = createRng(1);
    const x = new Float64Array(n * d);
    for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) x[i * d + j] = (j === i % 10 ? 6 : 0) + rng.normal();
    y = Float64Array.from((await tsne({ data: x, shape: [n, d] }, { seed: 1, method: 'barnes-hut', maxIterations: 500 })).embedding.flat());
    const { indices, distances } = knnSelf(x, n, d, 31, createRng(2));
    P = jointFromNeighbours(indices, distances.map((v) => v * v), n, 31, 10);
    const attr = new Float64Array(2 * n);
    attraction(P, y, n, 2, attr);
    const rep = new Float64Array(2 * n);
    let z = 0;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        if (i === j) continue;
        const dx = y[2 * i]! - y[2 * j]!;
        const dy = y[2 * i + 1]! - y[2 * j + 1]!;
        const w = 1 / (1 + dx * dx + dy * dy);
        z += w;
        rep[2 * i]! += w * w * dx;
        rep[2 * i + 1]! += w * w * dy;
      }
    }
    exact = attr.map((a, p) => 4 * (a - rep[p]! / z));
  });

  function fftGradient(points: number, width: number, yy = y, dim = 2): Float64Array {
    const grad = new Float64Array(dim * n);
    const grid = new InterpolationRepulsion(n, dim, { interpolationPoints: points, minIntervals: 50, intervalWidth: width, maxIntervals: 400 });
    interpolationGradient(P, yy, n, dim, 1, grid, new Float64Array(dim * n), new Float64Array(dim * n), grad);
    return grad;
  }

  it('agrees with the exact gradient: relative L2 error < 6e-2 at the defaults, third-order convergence in the box width', () => {
    // measured: 4.4e-2 (p = 3, width 1; Barnes-Hut θ = 0.5 gives 9e-3), 4.9e-3 (width ½), 5.8e-4 (width ¼)
    const e1 = relativeError(fftGradient(3, 1), exact);
    const e2 = relativeError(fftGradient(3, 0.5), exact);
    const e4 = relativeError(fftGradient(3, 0.25), exact);
    expect(e1).toBeLessThan(6e-2);
    expect(e2).toBeLessThan(1e-2);
    expect(e4).toBeLessThan(1e-3);
    expect(e2).toBeLessThan(e1 / 4);
    expect(e4).toBeLessThan(e2 / 4);
    // more nodes per box: 5 nodes at width 1 beat 3
    expect(relativeError(fftGradient(5, 1), exact)).toBeLessThan(e1 / 4);
    // Barnes-Hut for scale
    const bh = new Float64Array(2 * n);
    bhGradient(P, y, n, 2, 0.5, 1, new SpaceTree(n, 2), new Float64Array(2 * n), new Float64Array(2 * n), bh);
    expect(relativeError(bh, exact)).toBeLessThan(2e-2);
  });

  it('Z is interpolated to < 5e-3 (relative) and exactly for a tiny embedding', () => {
    let z = 0;
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) if (i !== j) z += 1 / (1 + (y[2 * i]! - y[2 * j]!) ** 2 + (y[2 * i + 1]! - y[2 * j + 1]!) ** 2);
    const grid = new InterpolationRepulsion(n, 2, { interpolationPoints: 3, minIntervals: 50, intervalWidth: 1, maxIntervals: 400 });
    expect(Math.abs(grid.repulsion(y, new Float64Array(2 * n)) - z) / z).toBeLessThan(5e-3);
    // all points within 1e-3: the kernel is flat on the grid, Z = n(n − 1) to rounding
    const tiny = y.map((v) => v * 1e-5);
    expect(grid.repulsion(tiny, new Float64Array(2 * n)) / (n * (n - 1))).toBeCloseTo(1, 6);
  });

  it('1-D: agrees with the exact gradient (< 4e-2 at the defaults, < 5e-3 at width ½)', () => {
    const y1 = Float64Array.from({ length: n }, (_, i) => y[2 * i]!);
    const attr = new Float64Array(n);
    attraction(P, y1, n, 1, attr);
    const rep = new Float64Array(n);
    let z = 0;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        if (i === j) continue;
        const w = 1 / (1 + (y1[i]! - y1[j]!) ** 2);
        z += w;
        rep[i]! += w * w * (y1[i]! - y1[j]!);
      }
    }
    const ex = attr.map((a, p) => 4 * (a - rep[p]! / z));
    expect(relativeError(fftGradient(3, 1, y1, 1), ex)).toBeLessThan(4e-2);
    expect(relativeError(fftGradient(3, 0.5, y1, 1), ex)).toBeLessThan(5e-3);
  });

  it('chooses box counts that are 5-smooth, ≥ minIntervals, and cover the embedding', () => {
    const s = { interpolationPoints: 3, minIntervals: 50, intervalWidth: 1, maxIntervals: 400 };
    for (const side of [0, 1e-9, 0.3, 7, 49.9, 50, 61, 333.3, 5000]) {
      const { intervals, width } = chooseGrid(side, s);
      expect(intervals).toBe(nextSmooth(intervals));
      expect(intervals).toBeGreaterThanOrEqual(50);
      expect(intervals).toBeLessThanOrEqual(400);
      expect(intervals * width).toBeGreaterThanOrEqual(side);
      if (side >= 50 && side <= 300) expect(width).toBe(1);
      if (side > 0 && side < 50) expect(width).toBeLessThanOrEqual(side / 50);
    }
  });
});

describe('approximate kNN', () => {
  it('finds most true neighbours, k distinct others per point, sorted, deterministically', async () => {
    const rng = createRng(4);
    const n = 3000;
    const d = 8;
    const k = 20;
    const x = new Float64Array(n * d);
    for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) x[i * d + j] = (j < 3 ? 3 * (i % 5) : 0) + rng.normal();
    const settings = { trees: 8, leafSize: 100, refineRounds: 2, joinSize: 16 };
    const run = () => approximateKnn(x, n, d, k, createRng(9), settings, async () => {});
    const a = await run();
    const exact = knnSelf(x, n, d, k, createRng(1));
    let hits = 0;
    for (let i = 0; i < n; i++) {
      const row = Array.from(a.indices.subarray(i * k, i * k + k));
      expect(new Set(row).size).toBe(k);
      expect(row).not.toContain(i);
      for (let t = 1; t < k; t++) expect(a.distances[i * k + t]!).toBeGreaterThanOrEqual(a.distances[i * k + t - 1]!);
      const truth = new Set(exact.indices.subarray(i * k, i * k + k));
      for (const j of row) if (truth.has(j)) hits++;
      // distances are the true distances of the indices found
      const j = row[0]!;
      let s = 0;
      for (let t = 0; t < d; t++) s += (x[i * d + t]! - x[j * d + t]!) ** 2;
      expect(a.distances[i * k]).toBeCloseTo(Math.sqrt(s), 12);
    }
    expect(hits / (n * k)).toBeGreaterThan(0.9);
    const b = await run();
    expect(b.indices).toEqual(a.indices);
    expect(a.order.slice().sort()).toEqual(Int32Array.from({ length: n }, (_, i) => i));
  });

  it('handles duplicate points (degenerate splits)', async () => {
    const n = 400;
    const x = new Float64Array(n * 3);
    for (let i = 0; i < n; i++) x[i * 3] = i < 300 ? 0 : i; // 300 identical points
    const r = await approximateKnn(x, n, 3, 15, createRng(1), { trees: 3, leafSize: 40, refineRounds: 1, joinSize: 8 }, async () => {});
    for (let i = 0; i < n; i++) {
      const row = Array.from(r.indices.subarray(i * 15, i * 15 + 15));
      expect(new Set(row).size).toBe(15);
      expect(row.every((j) => j >= 0 && j < n && j !== i)).toBe(true);
    }
    for (let i = 0; i < 300; i++) expect(r.distances[i * 15 + 14]).toBe(0);
  });
});

describe('tsne with the FFT gradient', () => {
  const { x, y } = clusters(6, 40, 8);
  // a coarser minimum grid keeps these small runs fast (the default 50 boxes cost ~15 ms per iteration
  // whatever N is: the reason 'auto' picks Barnes-Hut below 10,000 points)
  const fast = { method: 'fft', minIntervals: 10 } as const;

  it('keeps well-separated clusters apart, as Barnes-Hut does (2-D and 1-D)', async () => {
    const fft = await tsne(x, { ...fast, perplexity: 15, maxIterations: 500, seed: 1 });
    const bh = await tsne(x, { method: 'barnes-hut', perplexity: 15, maxIterations: 500, seed: 1 });
    expect(fft.method).toBe('fft');
    expect(fft.neighbourSearch).toBe('exact');
    expect(knnAccuracy(fft.embedding, y, { k: 5 })).toBeGreaterThan(0.97);
    const tf5 = trustworthiness(x, fft.embedding, { k: 5 });
    const tb5 = trustworthiness(x, bh.embedding, { k: 5 });
    expect(tf5).toBeGreaterThan(0.9);
    expect(Math.abs(tf5 - tb5)).toBeLessThan(0.01);
    const one = await tsne(x, { ...fast, dimensions: 1, perplexity: 15, maxIterations: 500, seed: 1 });
    expect(one.embedding[0]).toHaveLength(1);
    expect(knnAccuracy(one.embedding, y, { k: 5 })).toBeGreaterThan(0.9);
  });

  it('is deterministic for a seed, with the approximate kNN too', async () => {
    const opts = { ...fast, neighbourSearch: 'approximate', perplexity: 10, maxIterations: 80, seed: 3 } as const;
    const a = await tsne(x, opts);
    const b = await tsne(x, opts);
    expect(a.embedding).toEqual(b.embedding);
    expect(a.neighbourSearch).toBe('approximate');
    const c = await tsne(x, { ...opts, seed: 4 });
    expect(c.embedding).not.toEqual(a.embedding);
  });

  it("'auto' picks FFT and the approximate kNN from 10,000 points on (2-D), Barnes-Hut and exact kNN below and in 3-D", async () => {
    const rng = createRng(5);
    const big = { data: Float64Array.from({ length: 10_000 * 2 }, () => rng.normal()), shape: [10_000, 2] as [number, number] };
    const r = await tsne(big, { perplexity: 5, maxIterations: 1, seed: 1 });
    expect([r.method, r.neighbourSearch]).toEqual(['fft', 'approximate']);
    const small = { data: big.data.subarray(0, 9_999 * 2), shape: [9_999, 2] as [number, number] };
    const s = await tsne(small, { perplexity: 5, maxIterations: 1, seed: 1 });
    expect([s.method, s.neighbourSearch]).toEqual(['barnes-hut', 'exact']);
    const three = await tsne(x, { dimensions: 3, perplexity: 10, maxIterations: 1, seed: 1 });
    expect(three.method).toBe('barnes-hut');
    const forced = await tsne(x, { method: 'barnes-hut', neighbourSearch: 'approximate', perplexity: 10, maxIterations: 1, seed: 1 });
    expect([forced.method, forced.neighbourSearch]).toEqual(['barnes-hut', 'approximate']);
  }, 60_000);

  it('reports the grid size in progress', async () => {
    const sizes: number[] = [];
    await tsne(x, { ...fast, perplexity: 10, maxIterations: 100, seed: 1, onProgress: (p) => { if (p.metrics?.gridIntervals !== undefined) sizes.push(p.metrics.gridIntervals); } });
    expect(sizes.length).toBe(2);
    expect(sizes.every((s) => s >= 10)).toBe(true);
  });

  // Default suite: 300 digits and a 10-box minimum grid (≈ 5 s of FFT t-SNE; the default 50-box grid
  // costs ≈ 15 ms per iteration whatever N is). MEDROBUST_SLOW=1: 600 digits at every default (≈ 20 s
  // of FFT t-SNE on a quiet machine, a minute under load).
  const m = SLOW ? 600 : 300;
  const fftOptions = SLOW ? {} : { minIntervals: 10 };
  it.skipIf(!hasSklearn)(`reaches trustworthiness within 0.01 of scikit-learn on ${m} digits (FFT${SLOW ? ' at its defaults' : ' on a 10-box minimum grid'} and Barnes-Hut)`, async () => {
    const digits = JSON.parse(readFileSync(new URL('../fixtures/metrics/digits.json', import.meta.url), 'utf8'));
    const d = digits.shape[1] as number;
    const data = (digits.data as number[]).slice(0, m * d);
    const dir = mkdtempSync(join(tmpdir(), 'tsne-sk-'));
    try {
      const file = join(dir, 'x.json');
      writeFileSync(file, JSON.stringify({ data, shape: [m, d] }));
      const script = [
        'import json, sys, numpy as np',
        'from sklearn.manifold import TSNE, trustworthiness',
        'inp = json.load(open(sys.argv[1])); X = np.asarray(inp["data"], float).reshape(inp["shape"])',
        'E = TSNE(n_components=2, init="pca", learning_rate="auto", random_state=0, method="barnes_hut", angle=0.5).fit_transform(X)',
        'print(json.dumps(float(trustworthiness(X, E, n_neighbors=5))))',
      ].join('\n');
      // one OpenMP thread: on a busy machine scikit-learn's spinning threads cost 15 CPU s instead of 2
      const out = spawnSync(PYTHON, ['-c', script, file], { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '1' } });
      expect(out.status, out.stderr).toBe(0);
      const sk = JSON.parse(out.stdout) as number;
      const features = { data, shape: [m, d] as [number, number] };
      for (const method of ['fft', 'barnes-hut'] as const) {
        const r = await tsne(features, { method, seed: 0, ...(method === 'fft' ? fftOptions : {}) });
        const t = trustworthiness(features, r.embedding, { k: 5 });
        expect(Math.abs(t - sk), `${method}: ${t} vs scikit-learn ${sk}`).toBeLessThan(0.01);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});

describe.each(BACKENDS)('tsne (fft) on tensors (%s)', (name) => {
  beforeAll(() => useTestBackend(name));
  it('accepts a tensor and leaks nothing', async () => {
    const { x } = clusters(2, 12, 4);
    const t = tf.tensor2d(x);
    await expectNoLeak(() => tsne(t, { method: 'fft', minIntervals: 10, neighbourSearch: 'approximate', perplexity: 5, maxIterations: 30, seed: 1 }));
    await expectNoLeak(async () => {
      await expect(tsne(t, { method: 'fft', dimensions: 3 })).rejects.toThrow(InvalidArgumentError);
    });
    expect(t.isDisposed).toBe(false);
    t.dispose();
  });
});

describe('tsne rejects bad FFT and neighbour-search options', () => {
  const pts = [[1], [2], [3], [4]];
  it('throws typed errors naming the option', async () => {
    await expect(tsne(pts, { perplexity: 1, method: 'fft', dimensions: 3 })).rejects.toThrow(/options\.dimensions.*<= 2|options\.dimensions/);
    await expect(tsne(pts, { perplexity: 1, method: 'FFT' as never })).rejects.toThrow(/options\.method.*'auto', 'barnes-hut', 'fft', 'exact'/);
    await expect(tsne(pts, { perplexity: 1, interpolationPoints: 0 })).rejects.toThrow(/options\.interpolationPoints/);
    await expect(tsne(pts, { perplexity: 1, interpolationPoints: 2.5 })).rejects.toThrow(InvalidArgumentError);
    await expect(tsne(pts, { perplexity: 1, minIntervals: 0 })).rejects.toThrow(/options\.minIntervals/);
    await expect(tsne(pts, { perplexity: 1, minIntervals: 5000 })).rejects.toThrow(/options\.minIntervals/);
    await expect(tsne(pts, { perplexity: 1, intervalWidth: 0 })).rejects.toThrow(/options\.intervalWidth/);
    await expect(tsne(pts, { perplexity: 1, intervalWidth: Number.NaN })).rejects.toThrow(/options\.intervalWidth/);
    await expect(tsne(pts, { perplexity: 1, neighbourSearch: 'fast' as never })).rejects.toThrow(/options\.neighbourSearch/);
    await expect(tsne(pts, { perplexity: 1, intervalwidth: 1 } as never)).rejects.toThrow(/did you mean 'intervalWidth'/);
  });
});

describe('interpolation grid placement', () => {
  it('snaps the grid to multiples of the box width: whole-box shifts leave the forces unchanged', () => {
    const rng = createRng(12);
    const n = 400;
    const y = Float64Array.from({ length: 2 * n }, () => 25 * rng.normal());
    const settings = { interpolationPoints: 3, minIntervals: 50, intervalWidth: 1, maxIntervals: 400 };
    const base = new Float64Array(2 * n);
    const z0 = new InterpolationRepulsion(n, 2, settings).repulsion(y, base);
    const moved = new Float64Array(2 * n);
    const z1 = new InterpolationRepulsion(n, 2, settings).repulsion(y.map((v, p) => v + (p % 2 ? 7 : -3)), moved);
    expect(z1).toBeCloseTo(z0, 6);
    for (let p = 0; p < 2 * n; p++) expect(moved[p]).toBeCloseTo(base[p]!, 9);
    // a half-box shift moves the points relative to the nodes: the interpolation error changes
    const half = new Float64Array(2 * n);
    new InterpolationRepulsion(n, 2, settings).repulsion(y.map((v) => v + 0.5), half);
    const e = relativeError(half, base);
    expect(e).toBeGreaterThan(1e-6);
    expect(e).toBeLessThan(6e-2);
  });
});

describe('Z-order relabelling of the FFT descent', () => {
  it('is a permutation that keeps every pair of P and leaves the attractive forces unchanged up to rounding', () => {
    const rng = createRng(5);
    const n = 400;
    const k = 12;
    const y = Float64Array.from({ length: 2 * n }, () => rng.normal() * 10);
    const indices = new Int32Array(n * k);
    const sq = new Float64Array(n * k);
    for (let i = 0; i < n; i++) {
      const seen = new Set<number>([i]);
      for (let t = 0; t < k; t++) {
        let j = Math.floor(rng.next() * n);
        while (seen.has(j)) j = (j + 1) % n;
        seen.add(j);
        indices[i * k + t] = j;
        sq[i * k + t] = 1 + rng.next();
      }
    }
    const P = jointFromNeighbours(indices, sq, n, k, 4);
    const pos = spatialOrder(y, n, 2);
    expect([...pos].sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i));
    // neighbours in the new order are near in the map: consecutive points are far closer than random pairs
    const ys = Float64Array.from(y);
    permuteInPlace(ys, pos, 2, new Float64Array(2 * n));
    let step = 0;
    let random = 0;
    for (let r = 0; r + 1 < n; r++) {
      step += Math.hypot(ys[2 * r]! - ys[2 * r + 2]!, ys[2 * r + 1]! - ys[2 * r + 3]!);
      const s = Math.floor(rng.next() * n);
      random += Math.hypot(ys[2 * r]! - ys[2 * s]!, ys[2 * r + 1]! - ys[2 * s + 1]!);
    }
    expect(step).toBeLessThan(0.3 * random);
    const Q = relabelSparse(P, pos);
    const pairs = (M: typeof P, map: (i: number) => number): string[] => {
      const out: string[] = [];
      for (let i = 0; i < n; i++) {
        for (let p = M.rowPtr[i]!; p < M.rowPtr[i + 1]!; p++) {
          const a = map(i);
          const b = map(M.cols[p]!);
          expect(i).toBeLessThan(M.cols[p]!);
          out.push(`${Math.min(a, b)},${Math.max(a, b)},${M.vals[p]}`);
        }
      }
      return out.sort();
    };
    expect(pairs(Q, (i) => i)).toEqual(pairs(P, (i) => pos[i]!));
    const before = new Float64Array(2 * n);
    attraction(P, y, n, 2, before);
    const after = new Float64Array(2 * n);
    attraction(Q, ys, n, 2, after);
    const back = Float64Array.from(before);
    permuteInPlace(back, pos, 2, new Float64Array(2 * n));
    expect(relativeError(after, back)).toBeLessThan(1e-12);
  });
});
