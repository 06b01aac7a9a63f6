import { InvalidArgumentError } from '../errors.js';
import { createRng, drawSeed, type Rng } from '../internal/random.js';
import { entryAsync } from '../internal/scope.js';
import {
  assertFunction, assertKnownKeys, assertNumber, assertOneOf, assertOptionalNumber, assertOptionsObject, assertSignal, describeValue,
} from '../internal/validate.js';
import type { Progress } from '../types.js';
import { readMatrix, toRows, type Mat, type MatrixLike } from './matrix.js';
import { calibrateRow, jointDense, jointFromNeighbours, squaredDistances, type SparseP } from './tsne/affinities.js';
import { bhGradient, exactGradient, interpolationGradient, SpaceTree, sparseKl } from './tsne/gradient.js';
import { InterpolationRepulsion } from './tsne/interpolation.js';
import { approximateKnn } from './tsne/approximateKnn.js';
import { pcaScores } from './tsne/pca.js';
import { permuteInPlace, relabelSparse, spatialOrder } from './tsne/reorder.js';
import { Slicer } from './tsne/run.js';
import { VpTree } from './tsne/vpTree.js';

/**
 * Options of {@link tsne}. The defaults are scikit-learn's (≥ 1.2) and openTSNE's modern ones.
 * @category Metrics
 */
export interface TsneOptions {
  /**
   * Dimensions of the embedding. Barnes-Hut supports 1 to 3, FFT 1 and 2, the exact method any number.
   * @defaultValue 2
   */
  dimensions?: number;
  /**
   * The perplexity, the effective number of neighbours of each point; must be below the number of
   * points. Barnes-Hut uses the ⌊3·perplexity + 1⌋ nearest neighbours (at most N − 1).
   * @defaultValue 30
   */
  perplexity?: number;
  /**
   * How the repulsive forces are computed:
   * - `'barnes-hut'`: O(N log N) per iteration, repulsion by a quadtree (octree in 3-D);
   * - `'fft'`: FFT-accelerated interpolation (FIt-SNE, Linderman et al. 2019, as openTSNE implements
   *   it): O(N) per iteration plus an FFT on a grid that grows with the embedding's extent, not with N;
   *   1-D and 2-D embeddings only;
   * - `'exact'`: O(N²) time and memory, for small N and for checking;
   * - `'auto'`: `'fft'` from 10,000 points on for 1-D and 2-D embeddings, `'barnes-hut'` otherwise
   *   (openTSNE's `negative_gradient_method='auto'`).
   *
   * Barnes-Hut and FFT use a sparse P on the kNN graph of ⌊3·perplexity + 1⌋ neighbours.
   * @defaultValue 'auto'
   */
  method?: 'auto' | 'barnes-hut' | 'fft' | 'exact';
  /**
   * How the ⌊3·perplexity + 1⌋ nearest neighbours of the sparse P are found (Barnes-Hut and FFT):
   * - `'exact'`: a vantage-point tree; fast on low-dimensional or clustered data, close to a
   *   brute-force scan on high-dimensional data (hours for 100,000 points of 50 dimensions);
   * - `'approximate'`: a forest of random-projection trees refined by neighbour-of-neighbour joins
   *   (Annoy and NN-descent, as openTSNE uses them): a fraction of the true neighbours (recall about
   *   0.6–0.9 on hard 50-dimensional Gaussian data, higher on data of low intrinsic dimension) at a
   *   small fraction of the cost;
   * - `'auto'`: `'exact'` below 10,000 points, `'approximate'` from there on.
   * @defaultValue 'auto'
   */
  neighbourSearch?: 'auto' | 'exact' | 'approximate';
  /**
   * The Barnes-Hut angle θ: a cell of width r at distance d acts as one point when r/d < θ.
   * 0 gives the exact repulsion (slowly).
   * @defaultValue 0.5
   */
  theta?: number;
  /**
   * FFT method: interpolation nodes per grid box and axis (openTSNE's `n_interpolation_points`).
   * More nodes are more accurate and slower; 3 is the recommended value.
   * @defaultValue 3
   */
  interpolationPoints?: number;
  /**
   * FFT method: the smallest number of grid boxes per axis (openTSNE's `min_num_intervals`).
   * @defaultValue 50
   */
  minIntervals?: number;
  /**
   * FFT method: the width of a grid box in embedding units once the embedding is wider than
   * `minIntervals` boxes (openTSNE's `ints_in_interval`); smaller is more accurate and slower. The
   * grid is capped at 1200 nodes per axis (⌊1200 / interpolationPoints⌋ boxes); wider embeddings get wider boxes.
   * @defaultValue 1
   */
  intervalWidth?: number;
  /**
   * Total gradient-descent iterations, the early-exaggeration ones included.
   * @defaultValue 1000
   */
  maxIterations?: number;
  /**
   * Factor α multiplying P during the first `exaggerationIterations` iterations.
   * @defaultValue 12
   */
  earlyExaggeration?: number;
  /**
   * Iterations run with early exaggeration and `momentum`; afterwards `finalMomentum`.
   * @defaultValue 250
   */
  exaggerationIterations?: number;
  /**
   * The step size η, or `'auto'` = max(N / earlyExaggeration / 4, 50) (scikit-learn ≥ 1.2; the
   * gradient here includes the factor 4, so this equals openTSNE's and FIt-SNE's N/12).
   * @defaultValue 'auto'
   */
  learningRate?: number | 'auto';
  /**
   * Momentum during early exaggeration.
   * @defaultValue 0.5
   */
  momentum?: number;
  /**
   * Momentum after early exaggeration.
   * @defaultValue 0.8
   */
  finalMomentum?: number;
  /**
   * Stop when the gradient's L2 norm falls below this (checked every 50 iterations).
   * @defaultValue 1e-7
   */
  minGradNorm?: number;
  /**
   * The starting embedding: `'pca'` (the leading principal components, scaled so that the first has
   * standard deviation 1e-4), `'random'` (N(0, 1e-4²)) or an `[N, dimensions]` matrix used as given.
   * @defaultValue 'pca'
   */
  init?: 'pca' | 'random' | MatrixLike;
  /**
   * Seed of the random choices (vantage points, PCA start vectors, random init). Without one, a seed
   * is drawn and returned in {@link TsneResult.seed}.
   * @defaultValue drawn at random
   */
  seed?: number;
  /**
   * Cancels the run: the promise rejects with an {@link AbortError} at the next slice (≤ ~25 ms).
   * @defaultValue none
   */
  signal?: AbortSignal;
  /**
   * Called with phase `'neighbours'` while the kNN graph is built and `'iteration'` every 50
   * iterations, with `metrics.klDivergence` and `metrics.gradNorm` (and, for the FFT method,
   * `metrics.gridIntervals`: the grid boxes per axis).
   * @defaultValue none
   */
  onProgress?: (progress: Progress) => void;
}

/**
 * The result of {@link tsne}.
 * @category Metrics
 */
export interface TsneResult {
  /** The embedding, one row of `dimensions` coordinates per input point. */
  embedding: number[][];
  /** KL(P‖Q) of the final embedding (without exaggeration; Barnes-Hut: with the tree's Z). */
  klDivergence: number;
  /** Iterations run (fewer than `maxIterations` when the gradient norm fell below `minGradNorm`). */
  iterations: number;
  /** The seed used, to replay the run. */
  seed: number;
  /** The learning rate used (resolved from `'auto'`). */
  learningRate: number;
  /** Nearest neighbours per point in the sparse P (N − 1 for the exact method). */
  neighbours: number;
  /** The gradient method used (resolved from `'auto'`). */
  method: 'barnes-hut' | 'fft' | 'exact';
  /** The neighbour search used (resolved from `'auto'`; `'exact'` for the exact method). */
  neighbourSearch: 'exact' | 'approximate';
}

const KEYS = [
  'dimensions', 'perplexity', 'method', 'neighbourSearch', 'theta', 'interpolationPoints', 'minIntervals', 'intervalWidth', 'maxIterations', 'earlyExaggeration', 'exaggerationIterations', 'learningRate', 'momentum',
  'finalMomentum', 'minGradNorm', 'init', 'seed', 'signal', 'onProgress',
] as const;

const CHECK_EVERY = 50;
/** FFT method: the points are renumbered in the map's Z-order every this many iterations (tsne/reorder.ts). */
const REORDER_EVERY = 50;
/** From this many points on, `method: 'auto'` picks the FFT gradient (openTSNE's threshold). */
export const FFT_THRESHOLD = 10_000;
/** From this many points on, `neighbourSearch: 'auto'` picks the approximate kNN. */
export const APPROXIMATE_THRESHOLD = 10_000;
/** Most interpolation nodes per axis of the FFT grid. */
const MAX_GRID_NODES = 1200;

/**
 * t-distributed Stochastic Neighbour Embedding (van der Maaten & Hinton, JMLR 2008), exact,
 * Barnes-Hut (van der Maaten, JMLR 2014) or FFT-interpolated (FIt-SNE: Linderman et al., Nature
 * Methods 2019, as openTSNE implements it), in pure TypeScript: the embedding of §5(c)'s
 * discriminability analysis (clean vs adversarial features; paper.md §5c, §8 figure 3).
 *
 * p(j|i) ∝ exp(−β_i‖x_i − x_j‖²) with β_i set by a safeguarded Newton/bisection search so that
 * 2^H(P_i) = perplexity; p_ij = (p(j|i) + p(i|j)) / 2N; q_ij ∝ (1 + ‖y_i − y_j‖²)⁻¹; gradient descent
 * on KL(P‖Q) with momentum and per-coordinate gains (Jacobs 1988): gains grow by 0.2 where the
 * gradient changes sign and shrink by 0.8 otherwise (≥ 0.01), update = momentum·update − η·gains·∇.
 *
 * Large inputs: from 10,000 points on, `'auto'` settings use the FFT gradient (O(N) per iteration
 * plus an FFT on a grid sized by the map's extent) and an approximate kNN graph (random-projection
 * forest refined by neighbour-of-neighbour joins); P is kept sparse, once per pair. 100,000 points of
 * 50 dimensions take a little under two CPU minutes (113 CPU s against 133 before the 2026-11-28
 * changes, run side by side under load; bench/tsne/RESULTS.md).
 *
 * The run is async and cooperative: it yields to the event loop every ~25 ms, reports progress and
 * stops on `signal`. It is deterministic for a given seed. Tensors are read once and never disposed.
 *
 * @param features - the points `[N, D]` (N ≥ 2): rows of numbers, a {@link FlatMatrix} or a rank-2 tensor.
 * @param options - see {@link TsneOptions}; unknown keys are rejected.
 * @returns the embedding, its KL divergence and the resolved settings.
 * @throws {InvalidArgumentError} for ragged rows, NaN or Infinity, fewer than 2 points, a
 *   perplexity ≥ N, an out-of-range option or an unknown option key.
 * @throws {AbortError} when `signal` fires.
 *
 * @example
 * ```ts
 * const { embedding, klDivergence } = await tsne(features, { perplexity: 10, seed: 1 });
 * const score = knnAccuracy(embedding, labels, { k: 5 });
 * ```
 * @category Metrics
 */
export async function tsne(features: MatrixLike, options: TsneOptions = {}): Promise<TsneResult> {
  return entryAsync('tsne', () => runTsne(features, options));
}

async function runTsne(features: MatrixLike, options: TsneOptions): Promise<TsneResult> {
  const fn = 'tsne';
  const o = assertOptionsObject(fn, options);
  assertKnownKeys(fn, o, KEYS);
  const x = readMatrix(fn, 'features', features, { minRows: 2 });
  const n = x.rows;
  const requested = assertOneOf(fn, 'options.method', o.method, ['auto', 'barnes-hut', 'fft', 'exact'] as const) ?? 'auto';
  const dimLimit = requested === 'exact' ? {} : requested === 'fft' ? { max: 2 } : { max: 3 };
  const dims = o.dimensions === undefined ? 2 : assertNumber(fn, 'options.dimensions', o.dimensions, { integer: true, min: 1, ...dimLimit });
  const method = requested !== 'auto' ? requested : n >= FFT_THRESHOLD && dims <= 2 ? 'fft' : 'barnes-hut';
  const interpolationPoints = o.interpolationPoints === undefined ? 3 : assertNumber(fn, 'options.interpolationPoints', o.interpolationPoints, { integer: true, min: 1, max: 20 });
  const minIntervals = o.minIntervals === undefined ? 50 : assertNumber(fn, 'options.minIntervals', o.minIntervals, { integer: true, min: 1, max: Math.floor(MAX_GRID_NODES / interpolationPoints) });
  const intervalWidth = o.intervalWidth === undefined ? 1 : assertNumber(fn, 'options.intervalWidth', o.intervalWidth, { min: 0, minExclusive: true });
  const search = assertOneOf(fn, 'options.neighbourSearch', o.neighbourSearch, ['auto', 'exact', 'approximate'] as const) ?? 'auto';
  const neighbourSearch = method === 'exact' || search === 'exact' || (search === 'auto' && n < APPROXIMATE_THRESHOLD) ? 'exact' : 'approximate';
  const perplexity = o.perplexity === undefined ? 30 : assertNumber(fn, 'options.perplexity', o.perplexity, { min: 0, minExclusive: true });
  if (perplexity >= n) throw new InvalidArgumentError(fn, 'options.perplexity', `a number below the number of points (${n}); scale it down for small sets`, String(perplexity));
  const theta = o.theta === undefined ? 0.5 : assertNumber(fn, 'options.theta', o.theta, { min: 0 });
  const maxIterations = o.maxIterations === undefined ? 1000 : assertNumber(fn, 'options.maxIterations', o.maxIterations, { integer: true, min: 1 });
  const earlyExaggeration = o.earlyExaggeration === undefined ? 12 : assertNumber(fn, 'options.earlyExaggeration', o.earlyExaggeration, { min: 1 });
  const exaggerationIterations = o.exaggerationIterations === undefined ? 250 : assertNumber(fn, 'options.exaggerationIterations', o.exaggerationIterations, { integer: true, min: 0 });
  if (o.learningRate !== undefined && o.learningRate !== 'auto') assertNumber(fn, 'options.learningRate', o.learningRate, { min: 0, minExclusive: true });
  const learningRate = o.learningRate === undefined || o.learningRate === 'auto' ? Math.max(n / earlyExaggeration / 4, 50) : (o.learningRate as number);
  const momentum = o.momentum === undefined ? 0.5 : assertNumber(fn, 'options.momentum', o.momentum, { min: 0, max: 1, maxExclusive: true });
  const finalMomentum = o.finalMomentum === undefined ? 0.8 : assertNumber(fn, 'options.finalMomentum', o.finalMomentum, { min: 0, max: 1, maxExclusive: true });
  const minGradNorm = assertOptionalNumber(fn, 'options.minGradNorm', o.minGradNorm, { min: 0 }) ?? 1e-7;
  const seed = assertOptionalNumber(fn, 'options.seed', o.seed, { integer: true, min: 0 }) ?? drawSeed();
  const signal = assertSignal(fn, 'options.signal', o.signal);
  assertFunction(fn, 'options.onProgress', o.onProgress);
  const onProgress = o.onProgress as ((p: Progress) => void) | undefined;
  let initMat: Mat | undefined;
  if (o.init !== undefined && o.init !== 'pca' && o.init !== 'random') {
    if (typeof o.init === 'string') throw new InvalidArgumentError(fn, 'options.init', "'pca', 'random' or an [N, dimensions] matrix", describeValue(o.init));
    initMat = readMatrix(fn, 'options.init', o.init);
    if (initMat.rows !== n || initMat.cols !== dims) throw new InvalidArgumentError(fn, 'options.init', `a [${n}, ${dims}] matrix`, `shape [${initMat.rows},${initMat.cols}]`);
  }
  const init = initMat ?? ((o.init as 'pca' | 'random' | undefined) ?? 'pca');

  const rng = createRng(seed);
  const slicer = new Slicer(signal, 'tsne');

  // 1. input similarities
  let sparse: SparseP | undefined;
  let dense: Float64Array | undefined;
  let neighbours: number;
  let rank: Int32Array | undefined; // rank[i]: the internal position of point i
  if (method === 'exact') {
    neighbours = n - 1;
    dense = jointDense(squaredDistances(x.data, n, x.cols), n, perplexity);
  } else {
    neighbours = Math.min(n - 1, Math.floor(3 * perplexity + 1));
    const { indices, distances, order } = neighbourSearch === 'exact'
      ? await nearestNeighbours(x, x, neighbours, true, rng, slicer, onProgress)
      : await approximateNeighbours(x, neighbours, rng, slicer, onProgress);
    // Relabel the points in the tree's order, which keeps near points at near indices: the
    // attractive sum over P then reads the embedding almost sequentially.
    rank = new Int32Array(n);
    for (let p = 0; p < n; p++) rank[order[p]!] = p;
    const relIdx = new Int32Array(n * neighbours);
    const relSq = new Float64Array(n * neighbours);
    for (let i = 0; i < n; i++) {
      const dst = rank[i]! * neighbours;
      for (let t = 0; t < neighbours; t++) {
        relIdx[dst + t] = rank[indices[i * neighbours + t]!]!;
        const dist = distances[i * neighbours + t]!;
        relSq[dst + t] = dist * dist;
      }
    }
    sparse = jointFromNeighbours(relIdx, relSq, n, neighbours, perplexity);
  }
  await slicer.maybeYield();

  // 2. initial embedding
  const y = permuteRows(initialEmbedding(x, dims, init, rng), rank, dims, false);

  // 3. gradient descent (scikit-learn's _gradient_descent, two phases)
  const size = n * dims;
  const grad = new Float64Array(size);
  const update = new Float64Array(size);
  const gains = new Float64Array(size).fill(1);
  const attr = new Float64Array(size);
  const rep = new Float64Array(size);
  const tree = method === 'barnes-hut' ? new SpaceTree(n, dims) : undefined;
  const grid = method === 'fft'
    ? new InterpolationRepulsion(n, dims, { interpolationPoints, minIntervals, intervalWidth, maxIntervals: Math.floor(MAX_GRID_NODES / interpolationPoints) })
    : undefined;
  let kl = Number.NaN;
  let iterations = 0;
  onProgress?.(slicer.progress('iteration', 0, maxIterations));
  const scratch = grid ? new Float64Array(size) : undefined;
  for (let it = 0; it < maxIterations; it++) {
    if (grid && it % REORDER_EVERY === 0) {
      // renumber the points in the map's Z-order (cache locality of the attraction and the grid)
      const pos = spatialOrder(y, n, dims);
      permuteInPlace(y, pos, dims, scratch!);
      permuteInPlace(update, pos, dims, scratch!);
      permuteInPlace(gains, pos, dims, scratch!);
      sparse = relabelSparse(sparse!, pos);
      for (let i = 0; i < n; i++) rank![i] = pos[rank![i]!]!;
    }
    const exaggerating = it < exaggerationIterations;
    const alpha = exaggerating ? earlyExaggeration : 1;
    const mom = exaggerating ? momentum : finalMomentum;
    let z = 0;
    if (dense) kl = exactGradient(dense, y, n, dims, alpha, grad);
    else if (tree) z = bhGradient(sparse!, y, n, dims, theta, alpha, tree, attr, rep, grad);
    else z = interpolationGradient(sparse!, y, n, dims, alpha, grid!, attr, rep, grad);
    let gradNorm2 = 0;
    for (let p = 0; p < size; p++) {
      const g = grad[p]!;
      const u = update[p]!;
      let gain = u * g < 0 ? gains[p]! + 0.2 : gains[p]! * 0.8;
      if (gain < 0.01) gain = 0.01;
      gains[p] = gain;
      const gg = g * gain;
      gradNorm2 += gg * gg;
      const nu = mom * u - learningRate * gg;
      update[p] = nu;
      y[p]! += nu;
    }
    iterations = it + 1;
    if (iterations % CHECK_EVERY === 0 || iterations === maxIterations) {
      // the sparse KL (a log per pair) only feeds the progress report; the result gets its own below
      if (sparse && onProgress) kl = sparseKl(sparse, y, n, dims, z);
      const klNow = dense ? kl / alpha - Math.log(alpha) : kl;
      const gradNorm = Math.sqrt(gradNorm2);
      const metrics: Record<string, number> = { klDivergence: klNow, gradNorm };
      if (grid) metrics.gridIntervals = grid.intervals;
      onProgress?.(slicer.progress('iteration', iterations, maxIterations, metrics));
      if (gradNorm <= minGradNorm) break;
    }
    slicer.check();
    await slicer.maybeYield();
  }
  // final KL without exaggeration
  if (dense) kl = exactGradient(dense, y, n, dims, 1, grad);
  else {
    let z: number;
    if (tree) {
      tree.build(y);
      z = tree.repulsion(theta, rep);
    } else z = grid!.repulsion(y, rep);
    kl = sparseKl(sparse!, y, n, dims, z);
  }
  return { embedding: toRows(permuteRows(y, rank, dims, true), n, dims), klDivergence: kl, iterations, seed, learningRate, neighbours, method, neighbourSearch };
}

/** k nearest rows of `ref` for every row of `queries` (excluding itself when `self`), with yields. */
export async function nearestNeighbours(ref: Mat, queries: Mat, k: number, self: boolean, rng: Rng, slicer: Slicer, onProgress?: (p: Progress) => void): Promise<{ indices: Int32Array; distances: Float64Array; order: Int32Array }> {
  const tree = new VpTree(ref.data, ref.rows, ref.cols, rng);
  const m = queries.rows;
  const indices = new Int32Array(m * k);
  const distances = new Float64Array(m * k);
  onProgress?.(slicer.progress('neighbours', 0, m));
  const report = Math.max(1, Math.ceil(m / 20));
  for (let i = 0; i < m; i++) {
    tree.query(queries.data, i, k, self ? i : -1, indices, distances, i * k);
    if ((i & 63) === 63) await slicer.maybeYield();
    if (onProgress && ((i + 1) % report === 0 || i === m - 1)) onProgress(slicer.progress('neighbours', i + 1, m));
  }
  return { indices, distances, order: tree.perm };
}

/** Settings of the approximate kNN (see approximateKnn.ts; recall measured in bench/tsne). */
export const APPROXIMATE_KNN = { trees: 10, leafSize: 200, refineRounds: 1, joinSize: 24 };

/** Approximate k nearest neighbours of every row among the others, with progress and yields. */
async function approximateNeighbours(x: Mat, k: number, rng: Rng, slicer: Slicer, onProgress?: (p: Progress) => void): Promise<{ indices: Int32Array; distances: Float64Array; order: Int32Array }> {
  const settings = { ...APPROXIMATE_KNN, leafSize: Math.max(APPROXIMATE_KNN.leafSize, 2 * k) };
  onProgress?.(slicer.progress('neighbours', 0, x.rows));
  const total = settings.trees + settings.refineRounds;
  const result = await approximateKnn(x.data, x.rows, x.cols, k, rng, settings, async (done) => {
    await slicer.maybeYield();
    // report in rows so that done/total reads like the exact search's
    if (done < total) onProgress?.(slicer.progress('neighbours', Math.floor((done / total) * x.rows), x.rows));
  });
  onProgress?.(slicer.progress('neighbours', x.rows, x.rows));
  return result;
}

/** Moves row i to rank[i] (or back, when `inverse`); identity without `rank`. */
function permuteRows(y: Float64Array, rank: Int32Array | undefined, dims: number, inverse: boolean): Float64Array {
  if (!rank) return y;
  const out = new Float64Array(y.length);
  for (let i = 0; i < rank.length; i++) {
    const r = rank[i]!;
    for (let c = 0; c < dims; c++) {
      if (inverse) out[i * dims + c] = y[r * dims + c]!;
      else out[r * dims + c] = y[i * dims + c]!;
    }
  }
  return out;
}

function initialEmbedding(x: Mat, dims: number, init: 'pca' | 'random' | Mat, rng: Rng): Float64Array {
  const n = x.rows;
  if (typeof init !== 'string') return Float64Array.from(init.data);
  const y = new Float64Array(n * dims);
  if (init === 'pca') {
    const k = Math.min(dims, x.cols);
    const scores = pcaScores(x.data, n, x.cols, k, rng);
    let mean = 0;
    for (let i = 0; i < n; i++) mean += scores[i * k]!;
    mean /= n;
    let v = 0;
    for (let i = 0; i < n; i++) v += (scores[i * k]! - mean) ** 2;
    const std = Math.sqrt(v / n);
    if (std > 0) {
      const s = 1e-4 / std;
      for (let i = 0; i < n; i++) {
        for (let c = 0; c < dims; c++) y[i * dims + c] = c < k ? scores[i * k + c]! * s : 1e-4 * rng.normal();
      }
      return y;
    }
  }
  for (let p = 0; p < y.length; p++) y[p] = 1e-4 * rng.normal();
  return y;
}

/** Re-exported for tsneTransform: calibrates conditional rows of a kNN graph. */
export function conditionalRows(sq: Float64Array, m: number, k: number, perplexity: number): Float64Array {
  const out = new Float64Array(m * k);
  for (let i = 0; i < m; i++) calibrateRow(sq, i * k, k, perplexity, out);
  return out;
}
