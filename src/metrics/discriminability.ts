import { InvalidArgumentError } from '../errors.js';
import { createRng } from '../internal/random.js';
import { assertKnownKeys, assertNumber, assertOptionalNumber, assertOptionsObject } from '../internal/validate.js';
import { knnVotes } from './knnAccuracy.js';
import { readClassIndices, readMatrix, type Mat, type MatrixLike, type VectorLike } from './matrix.js';
import { VpTree } from './tsne/vpTree.js';

/**
 * Options of {@link discriminability} and {@link compareDiscriminability}.
 * @category Metrics
 */
export interface DiscriminabilityOptions {
  /**
   * Neighbours of the kNN accuracy (and of `crossedNeighbourhood`).
   * @defaultValue 5
   */
  k?: number;
  /**
   * The silhouette costs O(N²·D): above this many points it is computed on a seeded random subset
   * of this size (scikit-learn's `sample_size`).
   * @defaultValue 5000
   */
  silhouetteSampleSize?: number;
  /**
   * Seed of the silhouette subset.
   * @defaultValue 0
   */
  seed?: number;
}

/**
 * Class separability of a set of points (features or an embedding), the paper's "discriminability
 * of features" (§5c) made numeric.
 * @category Metrics
 */
export interface DiscriminabilityScores {
  /**
   * Mean silhouette (Rousseeuw 1987): s_i = (b_i − a_i) / max(a_i, b_i), a_i the mean distance to
   * the own class, b_i the smallest mean distance to another class (s_i = 0 in a singleton class).
   * In [−1, 1]; higher is better separated.
   */
  silhouette: number;
  /**
   * Fisher's criterion in trace form: tr(S_B) / tr(S_W), with between-class scatter
   * S_B = Σ_c n_c (μ_c − μ)(μ_c − μ)ᵀ and within-class scatter S_W = Σ_c Σ_{i∈c} (x_i − μ_c)(x_i − μ_c)ᵀ.
   * ≥ 0; Infinity when every class is a single point.
   */
  fisherRatio: number;
  /** Leave-one-out kNN accuracy (see {@link knnAccuracy}). */
  knnAccuracy: number;
  /** Number of points. */
  n: number;
  /** Number of distinct classes. */
  classes: number;
}

/**
 * How far adversarial points move toward other classes, measured against the clean points: the
 * result of {@link compareDiscriminability}.
 * @category Metrics
 */
export interface DiscriminabilityComparison {
  /** Scores of the clean points. */
  clean: DiscriminabilityScores;
  /** Scores of the adversarial points (with the true labels). */
  adversarial: DiscriminabilityScores;
  /**
   * Mean change of the centroid margin m(x) = (d_other − d_own) / (d_other + d_own), where d_own is
   * the distance to the clean centroid of the point's class and d_other to the nearest other clean
   * centroid: m_adv − m_clean, in [−2, 2]. Negative: adversarial points moved toward other classes.
   */
  marginShift: number;
  /** Fraction of clean points nearer to another class's clean centroid than to their own. */
  cleanCrossedCentroid: number;
  /** The same fraction for the adversarial points (against the clean centroids). */
  crossedCentroid: number;
  /**
   * Fraction of adversarial points whose k nearest clean points (their own clean version excluded)
   * vote for another class: the point has landed in another class's neighbourhood.
   */
  crossedNeighbourhood: number;
  /** The same for the clean points (leave-one-out), the baseline of `crossedNeighbourhood`. */
  cleanCrossedNeighbourhood: number;
  /**
   * Mean ‖x_adv − x_clean‖ divided by the root-mean-square distance of clean points to their class
   * centroid: the displacement in units of the class spread.
   */
  relativeDisplacement: number;
}

const KEYS = ['k', 'silhouetteSampleSize', 'seed'] as const;

interface Parsed { k: number; sample: number; seed: number }

function parse(fn: string, options: unknown, n: number): Parsed {
  const o = assertOptionsObject(fn, options);
  assertKnownKeys(fn, o, KEYS);
  const k = o.k === undefined ? 5 : assertNumber(fn, 'options.k', o.k, { integer: true, min: 1 });
  if (k >= n) throw new InvalidArgumentError(fn, 'options.k', `an integer below the number of points (${n})`, String(k));
  const sample = o.silhouetteSampleSize === undefined ? 5000 : assertNumber(fn, 'options.silhouetteSampleSize', o.silhouetteSampleSize, { integer: true, min: 2 });
  const seed = assertOptionalNumber(fn, 'options.seed', o.seed, { integer: true, min: 0 }) ?? 0;
  return { k, sample, seed };
}

function classCount(fn: string, labels: Int32Array): number {
  const seen = new Set<number>(labels);
  if (seen.size < 2) throw new InvalidArgumentError(fn, 'labels', 'at least 2 distinct classes', `${seen.size} class`);
  let max = 0;
  for (const c of seen) max = Math.max(max, c);
  return max + 1;
}

/**
 * Class separability of features or of an embedding: silhouette, Fisher ratio and kNN accuracy
 * (see {@link DiscriminabilityScores}). Run it on the clean and on the adversarial features, on raw
 * features and on their t-SNE embedding, to put numbers on §5(c)'s pictures.
 *
 * @param points - `[N, D]` features or embedding coordinates.
 * @param labels - class indices `[N]` (at least 2 classes).
 * @param options - see {@link DiscriminabilityOptions}.
 * @returns the three scores.
 * @throws {InvalidArgumentError} for a label count ≠ N, fewer than 2 classes, ragged rows, NaN, or k ≥ N.
 *
 * @example
 * ```ts
 * const { silhouette, fisherRatio, knnAccuracy } = discriminability(features, labels, { k: 5 });
 * ```
 * @category Metrics
 */
export function discriminability(points: MatrixLike, labels: VectorLike, options: DiscriminabilityOptions = {}): DiscriminabilityScores {
  const fn = 'discriminability';
  const x = readMatrix(fn, 'points', points, { minRows: 2 });
  const y = readClassIndices(fn, 'labels', labels, x.rows);
  const opts = parse(fn, options, x.rows);
  const classes = classCount(fn, y);
  return scores(x, y, classes, opts);
}

function scores(x: Mat, y: Int32Array, classes: number, { k, sample, seed }: Parsed): DiscriminabilityScores {
  const n = x.rows;
  const { fisherRatio } = fisher(x, y, classes);
  const knn = knnVotes(x.data, n, x.cols, y, k).correct / n;
  return { silhouette: silhouette(x, y, classes, sample, seed), fisherRatio, knnAccuracy: knn, n, classes: new Set(y).size };
}

/** Class centroids (classes·D), counts, and the Fisher trace ratio. */
function fisher(x: Mat, y: Int32Array, classes: number): { fisherRatio: number; centroids: Float64Array; counts: Int32Array; withinRms: number } {
  const { rows: n, cols: d, data } = x;
  const centroids = new Float64Array(classes * d);
  const counts = new Int32Array(classes);
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    const c = y[i]!;
    counts[c]!++;
    for (let t = 0; t < d; t++) {
      centroids[c * d + t]! += data[i * d + t]!;
      mean[t]! += data[i * d + t]!;
    }
  }
  for (let c = 0; c < classes; c++) if (counts[c]! > 0) for (let t = 0; t < d; t++) centroids[c * d + t]! /= counts[c]!;
  for (let t = 0; t < d; t++) mean[t]! /= n;
  let within = 0;
  for (let i = 0; i < n; i++) {
    const c = y[i]!;
    for (let t = 0; t < d; t++) within += (data[i * d + t]! - centroids[c * d + t]!) ** 2;
  }
  let between = 0;
  for (let c = 0; c < classes; c++) {
    if (counts[c] === 0) continue;
    let s = 0;
    for (let t = 0; t < d; t++) s += (centroids[c * d + t]! - mean[t]!) ** 2;
    between += counts[c]! * s;
  }
  const fisherRatio = within > 0 ? between / within : between > 0 ? Infinity : 0;
  return { fisherRatio, centroids, counts, withinRms: Math.sqrt(within / n) };
}

function silhouette(x: Mat, y: Int32Array, classes: number, sampleSize: number, seed: number): number {
  const { rows, cols: d, data } = x;
  let idx: Int32Array;
  if (rows > sampleSize) {
    // seeded partial Fisher-Yates: a uniform subset without replacement
    const all = Int32Array.from({ length: rows }, (_, i) => i);
    const rng = createRng(seed);
    for (let i = 0; i < sampleSize; i++) {
      const j = i + Math.floor(rng.next() * (rows - i));
      const t = all[i]!; all[i] = all[j]!; all[j] = t;
    }
    idx = all.slice(0, sampleSize);
  } else idx = Int32Array.from({ length: rows }, (_, i) => i);
  const m = idx.length;
  const counts = new Int32Array(classes);
  for (let a = 0; a < m; a++) counts[y[idx[a]!]!]!++;
  const sums = new Float64Array(classes);
  let total = 0;
  for (let a = 0; a < m; a++) {
    const i = idx[a]!;
    sums.fill(0);
    for (let b = 0; b < m; b++) {
      if (b === a) continue;
      const j = idx[b]!;
      let s = 0;
      for (let t = 0; t < d; t++) {
        const v = data[i * d + t]! - data[j * d + t]!;
        s += v * v;
      }
      sums[y[j]!]! += Math.sqrt(s);
    }
    const own = y[i]!;
    if (counts[own]! <= 1) continue; // s_i = 0 for a singleton
    const ai = sums[own]! / (counts[own]! - 1);
    let bi = Infinity;
    for (let c = 0; c < classes; c++) if (c !== own && counts[c]! > 0) bi = Math.min(bi, sums[c]! / counts[c]!);
    if (bi === Infinity) continue;
    const den = Math.max(ai, bi);
    total += den > 0 ? (bi - ai) / den : 0;
  }
  return total / m;
}

/**
 * Compares clean and adversarial versions of the same points (paired row by row): the
 * discriminability of each, and how far the adversarial points move toward other classes relative
 * to the clean class structure (see {@link DiscriminabilityComparison}). Works on raw features and
 * on a shared t-SNE picture (clean embedding from {@link tsne}, adversarial points placed with
 * {@link tsneTransform}).
 *
 * @param clean - clean points `[N, D]`.
 * @param adversarial - their adversarial versions `[N, D]`, row i from row i of `clean`.
 * @param labels - the true class indices `[N]`.
 * @param options - see {@link DiscriminabilityOptions}.
 * @returns both sets of scores and the shift measures.
 * @throws {InvalidArgumentError} for mismatched shapes, fewer than 2 classes, ragged rows, NaN, or k ≥ N.
 *
 * @example
 * ```ts
 * const cmp = compareDiscriminability(cleanFeatures, advFeatures, labels);
 * console.log(cmp.clean.silhouette, cmp.adversarial.silhouette, cmp.crossedNeighbourhood);
 * ```
 * @category Metrics
 */
export function compareDiscriminability(clean: MatrixLike, adversarial: MatrixLike, labels: VectorLike, options: DiscriminabilityOptions = {}): DiscriminabilityComparison {
  const fn = 'compareDiscriminability';
  const xc = readMatrix(fn, 'clean', clean, { minRows: 2 });
  const xa = readMatrix(fn, 'adversarial', adversarial, { minRows: 2 });
  if (xa.rows !== xc.rows || xa.cols !== xc.cols) throw new InvalidArgumentError(fn, 'adversarial', `a [${xc.rows}, ${xc.cols}] matrix like clean`, `shape [${xa.rows},${xa.cols}]`);
  const y = readClassIndices(fn, 'labels', labels, xc.rows);
  const opts = parse(fn, options, xc.rows);
  const classes = classCount(fn, y);
  const n = xc.rows;
  const d = xc.cols;
  const cleanScores = scores(xc, y, classes, opts);
  const advScores = scores(xa, y, classes, opts);
  const { centroids, counts, withinRms } = fisher(xc, y, classes);

  const margin = (data: Float64Array, i: number): { m: number; crossed: boolean } => {
    let own = 0;
    let other = Infinity;
    for (let c = 0; c < classes; c++) {
      if (counts[c] === 0) continue;
      let s = 0;
      for (let t = 0; t < d; t++) s += (data[i * d + t]! - centroids[c * d + t]!) ** 2;
      const dist = Math.sqrt(s);
      if (c === y[i]) own = dist;
      else other = Math.min(other, dist);
    }
    const den = own + other;
    return { m: den > 0 ? (other - own) / den : 0, crossed: other < own };
  };
  let shift = 0;
  let crossedC = 0;
  let crossedA = 0;
  let displacement = 0;
  for (let i = 0; i < n; i++) {
    const mc = margin(xc.data, i);
    const ma = margin(xa.data, i);
    shift += ma.m - mc.m;
    if (mc.crossed) crossedC++;
    if (ma.crossed) crossedA++;
    let s = 0;
    for (let t = 0; t < d; t++) s += (xa.data[i * d + t]! - xc.data[i * d + t]!) ** 2;
    displacement += Math.sqrt(s);
  }
  // adversarial points among the clean ones (own clean version excluded)
  const tree = new VpTree(xc.data, n, d, createRng(opts.seed));
  const idx = new Int32Array(opts.k);
  const dist = new Float64Array(opts.k);
  const votes = new Int32Array(classes);
  let crossedN = 0;
  for (let i = 0; i < n; i++) {
    tree.query(xa.data, i, opts.k, i, idx, dist, 0);
    votes.fill(0);
    for (let t = 0; t < opts.k; t++) votes[y[idx[t]!]!]!++;
    let top = 0;
    for (let c = 0; c < classes; c++) top = Math.max(top, votes[c]!);
    let winner = -1;
    for (let t = 0; t < opts.k; t++) if (votes[y[idx[t]!]!] === top) { winner = y[idx[t]!]!; break; }
    if (winner !== y[i]) crossedN++;
  }
  return {
    clean: cleanScores,
    adversarial: advScores,
    marginShift: shift / n,
    cleanCrossedCentroid: crossedC / n,
    crossedCentroid: crossedA / n,
    crossedNeighbourhood: crossedN / n,
    cleanCrossedNeighbourhood: 1 - cleanScores.knnAccuracy,
    relativeDisplacement: withinRms > 0 ? displacement / n / withinRms : displacement > 0 ? Infinity : 0,
  };
}
