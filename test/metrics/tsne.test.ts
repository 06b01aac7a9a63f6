import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { AbortError, InvalidArgumentError } from '../../src/errors.js';
import { createRng } from '../../src/internal/random.js';
import { knnAccuracy } from '../../src/metrics/knnAccuracy.js';
import { trustworthiness } from '../../src/metrics/trustworthiness.js';
import { tsne } from '../../src/metrics/tsne.js';
import { tsneTransform } from '../../src/metrics/tsneTransform.js';
import { calibrateRow, jointDense, jointFromNeighbours, squaredDistances } from '../../src/metrics/tsne/affinities.js';
import { bhGradient, exactGradient, SpaceTree } from '../../src/metrics/tsne/gradient.js';
import { pcaScores } from '../../src/metrics/tsne/pca.js';
import { knnSelf } from '../../src/metrics/tsne/vpTree.js';
import { BACKENDS, useTestBackend } from '../helpers/backends.js';
import { expectNoLeak } from '../helpers/expectNoLeak.js';

/** `k` Gaussian clusters in `d` dims, `per` points each, centres 10σ apart. */
function clusters(k: number, per: number, d: number, seed = 1): { x: number[][]; y: number[] } {
  const rng = createRng(seed);
  const x: number[][] = [];
  const y: number[] = [];
  for (let c = 0; c < k; c++) {
    for (let i = 0; i < per; i++) {
      x.push(Array.from({ length: d }, (_, j) => (j === c ? 10 : 0) + rng.normal()));
      y.push(c);
    }
  }
  return { x, y };
}

describe('t-SNE internals', () => {
  it('binary search hits the target perplexity to 1e-3, also where exp() would underflow', () => {
    const rng = createRng(3);
    for (const scale of [1, 1e4]) {
      const m = 90;
      const sq = Float64Array.from({ length: m }, () => scale * (5 + 10 * rng.next()));
      const p = new Float64Array(m);
      for (const perplexity of [2, 10, 30]) {
        calibrateRow(sq, 0, m, perplexity, p);
        let h = 0;
        let sum = 0;
        for (const v of p) { sum += v; if (v > 0) h -= v * Math.log2(v); }
        expect(sum).toBeCloseTo(1, 12);
        expect(Math.abs(2 ** h - perplexity)).toBeLessThan(1e-3);
      }
    }
  });

  it('the exact gradient matches finite differences of the KL divergence', () => {
    const rng = createRng(5);
    const n = 12;
    const x = Float64Array.from({ length: n * 4 }, () => rng.normal());
    const P = jointDense(squaredDistances(x, n, 4), n, 3);
    const y = Float64Array.from({ length: n * 2 }, () => rng.normal());
    const grad = new Float64Array(n * 2);
    exactGradient(P, y, n, 2, 1, grad);
    const tmp = new Float64Array(n * 2);
    const h = 1e-6;
    for (let p = 0; p < n * 2; p++) {
      const yp = Float64Array.from(y); yp[p]! += h;
      const ym = Float64Array.from(y); ym[p]! -= h;
      const num = (exactGradient(P, yp, n, 2, 1, tmp) - exactGradient(P, ym, n, 2, 1, tmp)) / (2 * h);
      expect(Math.abs(num - grad[p]!)).toBeLessThan(1e-6);
    }
  });

  it('Barnes-Hut with θ = 0 and all neighbours equals the exact gradient; θ = 0.5 stays close', () => {
    const rng = createRng(6);
    for (const dims of [2, 3]) {
      const n = 40;
      const x = Float64Array.from({ length: n * 5 }, () => rng.normal());
      const P = jointDense(squaredDistances(x, n, 5), n, 5);
      const { indices, distances } = knnSelf(x, n, 5, n - 1, rng);
      const sparse = jointFromNeighbours(indices, distances.map((v) => v * v), n, n - 1, 5);
      const y = Float64Array.from({ length: n * dims }, () => 3 * rng.normal());
      const exact = new Float64Array(n * dims);
      exactGradient(P, y, n, dims, 1, exact);
      const tree = new SpaceTree(n, dims);
      const bh = new Float64Array(n * dims);
      const scratch = [new Float64Array(n * dims), new Float64Array(n * dims)] as const;
      bhGradient(sparse, y, n, dims, 0, 1, tree, scratch[0], scratch[1], bh);
      for (let p = 0; p < n * dims; p++) expect(bh[p]).toBeCloseTo(exact[p]!, 9);
      bhGradient(sparse, y, n, dims, 0.5, 1, tree, scratch[0], scratch[1], bh);
      let err = 0;
      let norm = 0;
      for (let p = 0; p < n * dims; p++) { err += (bh[p]! - exact[p]!) ** 2; norm += exact[p]! ** 2; }
      expect(Math.sqrt(err / norm)).toBeLessThan(0.05);
    }
  });

  it('the VP-tree finds the exact nearest neighbours', () => {
    const rng = createRng(8);
    const n = 200;
    const d = 7;
    const x = Float64Array.from({ length: n * d }, () => rng.normal());
    const { indices, distances } = knnSelf(x, n, d, 5, rng);
    const sq = squaredDistances(x, n, d);
    for (let i = 0; i < n; i += 17) {
      const brute = Array.from({ length: n }, (_, j) => j).filter((j) => j !== i).sort((a, b) => sq[i * n + a]! - sq[i * n + b]!).slice(0, 5);
      expect(Array.from(indices.subarray(i * 5, i * 5 + 5))).toEqual(brute);
      expect(distances[i * 5]).toBeCloseTo(Math.sqrt(sq[i * n + brute[0]!]!), 12);
    }
  });

  it('PCA finds the direction of largest variance', () => {
    const rng = createRng(9);
    const n = 300;
    const x = new Float64Array(n * 3);
    for (let i = 0; i < n; i++) {
      const t = 5 * rng.normal();
      x[i * 3] = t + 0.1 * rng.normal();
      x[i * 3 + 1] = t + 0.1 * rng.normal();
      x[i * 3 + 2] = 0.5 * rng.normal();
    }
    const s = pcaScores(x, n, 3, 2, rng);
    // first score ∝ (x0 + x1)/√2 up to sign
    let dot = 0, a = 0, b = 0;
    for (let i = 0; i < n; i++) {
      const ref = (x[i * 3]! + x[i * 3 + 1]!) / Math.SQRT2;
      dot += ref * s[i * 2]!; a += ref * ref; b += s[i * 2]! ** 2;
    }
    expect(Math.abs(dot) / Math.sqrt(a * b)).toBeGreaterThan(0.999);
  });
});

describe('tsne', () => {
  const { x, y } = clusters(3, 30, 10);

  it.each(['barnes-hut', 'exact'] as const)('keeps well-separated clusters apart (%s)', async (method) => {
    const r = await tsne(x, { method, perplexity: 10, maxIterations: 400, seed: 1 });
    expect(r.embedding).toHaveLength(90);
    expect(r.embedding[0]).toHaveLength(2);
    expect(knnAccuracy(r.embedding, y, { k: 5 })).toBeGreaterThan(0.95);
    expect(trustworthiness(x, r.embedding, { k: 5 })).toBeGreaterThan(0.9);
    expect(Number.isFinite(r.klDivergence) && r.klDivergence > 0).toBe(true);
    expect(r.learningRate).toBe(50); // max(90 / 12 / 4, 50)
  });

  it('is reproducible with a seed and reports it', async () => {
    const a = await tsne(x, { perplexity: 10, maxIterations: 60, seed: 4 });
    const b = await tsne(x, { perplexity: 10, maxIterations: 60, seed: 4 });
    expect(a.embedding).toEqual(b.embedding);
    expect(a.seed).toBe(4);
    const c = await tsne(x, { perplexity: 10, maxIterations: 60 });
    expect(Number.isInteger(c.seed)).toBe(true);
  });

  it('more iterations lower the KL divergence; 3-D works', async () => {
    const short = await tsne(x, { perplexity: 10, maxIterations: 260, seed: 2 });
    const long = await tsne(x, { perplexity: 10, maxIterations: 600, seed: 2 });
    expect(long.klDivergence).toBeLessThan(short.klDivergence);
    const three = await tsne(x, { perplexity: 10, maxIterations: 400, dimensions: 3, seed: 2 });
    expect(three.embedding[0]).toHaveLength(3);
    expect(knnAccuracy(three.embedding, y)).toBeGreaterThan(0.95);
  });

  it('reports progress and stops on abort', async () => {
    const phases = new Set<string>();
    await tsne(x, { perplexity: 10, maxIterations: 100, seed: 1, onProgress: (p) => phases.add(p.phase) });
    expect([...phases].sort()).toEqual(['iteration', 'neighbours']);
    const pre = new AbortController();
    pre.abort();
    await expect(tsne(x, { perplexity: 10, signal: pre.signal })).rejects.toBeInstanceOf(AbortError);
    const mid = new AbortController();
    await expect(tsne(x, { perplexity: 10, signal: mid.signal, onProgress: (p) => { if (p.phase === 'iteration' && p.done >= 50) mid.abort(); } })).rejects.toBeInstanceOf(AbortError);
  });

  it('tsneTransform places copies of reference points in their own cluster', async () => {
    const map = { features: x, embedding: (await tsne(x, { perplexity: 10, maxIterations: 400, seed: 1 })).embedding };
    const rng = createRng(11);
    const moved = x.map((row) => row.map((v) => v + 0.05 * rng.normal()));
    const placed = await tsneTransform(map, moved, { seed: 1 });
    expect(placed).toHaveLength(90);
    // classify each placed point by its nearest reference point in the map
    let correct = 0;
    placed.forEach((p, i) => {
      let best = -1;
      let bestD = Infinity;
      map.embedding.forEach((q, j) => {
        const d = (p[0]! - q[0]!) ** 2 + (p[1]! - q[1]!) ** 2;
        if (d < bestD) { bestD = d; best = j; }
      });
      if (y[best] === y[i]) correct++;
    });
    expect(correct / 90).toBeGreaterThan(0.95);
  });
});

describe.each(BACKENDS)('tsne on tensors (%s)', (name) => {
  beforeAll(() => useTestBackend(name));
  it('accepts a tensor and leaks nothing', async () => {
    const { x } = clusters(2, 10, 4);
    const t = tf.tensor2d(x);
    await expectNoLeak(() => tsne(t, { perplexity: 5, maxIterations: 30, seed: 1 }));
    expect(t.isDisposed).toBe(false);
    t.dispose();
  });
});

describe('tsne rejects bad input', () => {
  it('throws typed errors', async () => {
    await expect(tsne([[1, 2], [3]])).rejects.toThrow(InvalidArgumentError);
    await expect(tsne([[1, 2], [3, Number.NaN]])).rejects.toThrow(/finite/);
    await expect(tsne([[1, 2], [3, 4], [5, 6]], { perplexity: 3 })).rejects.toThrow(/below the number of points/);
    await expect(tsne([[1, 2]])).rejects.toThrow(/at least 2 rows/);
    await expect(tsne([[1], [2], [3]], { perplexity: 1, dimensions: 4 })).rejects.toThrow(/dimensions/);
    await expect(tsne([[1], [2], [3]], { perplexity: 1, perplexty: 2 } as never)).rejects.toThrow(/did you mean 'perplexity'/);
    await expect(tsne([[1], [2], [3]], { perplexity: 1, init: [[0, 0]] })).rejects.toThrow(/\[3, 2\]/);
    await expect(tsneTransform({ features: [[1], [2], [3]], embedding: [[0, 0], [1, 1]] }, [[1]])).rejects.toThrow(/3 rows/);
    await expect(tsneTransform({ features: [[1], [2], [3]], embedding: [[0, 0], [1, 1], [2, 2]] }, [[1, 2]])).rejects.toThrow(/1 values/);
  });
});
