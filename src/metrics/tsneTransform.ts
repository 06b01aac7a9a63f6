import { InvalidArgumentError } from '../errors.js';
import { createRng, drawSeed } from '../internal/random.js';
import { entryAsync } from '../internal/scope.js';
import { assertFunction, assertKnownKeys, assertNumber, assertOptionalNumber, assertOptionsObject, assertSignal, describeValue } from '../internal/validate.js';
import type { Progress } from '../types.js';
import { readMatrix, toRows, type MatrixLike } from './matrix.js';
import { conditionalRows, nearestNeighbours } from './tsne.js';
import { SpaceTree } from './tsne/gradient.js';
import { Slicer } from './tsne/run.js';

/**
 * The map that {@link tsneTransform} places new points into: the features t-SNE embedded and the
 * embedding it returned (row i of `embedding` belongs to row i of `features`).
 * @category Metrics
 */
export interface TsneMap {
  /** The reference points `[N, D]`, e.g. the clean features. */
  readonly features: MatrixLike;
  /** Their embedding `[N, d]`, e.g. `(await tsne(features)).embedding`. */
  readonly embedding: MatrixLike;
}

/**
 * Options of {@link tsneTransform}.
 * @category Metrics
 */
export interface TsneTransformOptions {
  /**
   * Perplexity of each new point's affinities to the reference points (openTSNE uses 5 for
   * `transform`: a new point should sit among its closest references, not between clusters).
   * @defaultValue 5
   */
  perplexity?: number;
  /**
   * Gradient-descent iterations per new point.
   * @defaultValue 250
   */
  maxIterations?: number;
  /**
   * Step size of the per-point descent.
   * @defaultValue 1
   */
  learningRate?: number;
  /**
   * Momentum of the per-point descent.
   * @defaultValue 0.5
   */
  momentum?: number;
  /**
   * Barnes-Hut angle of the repulsion from the (fixed) reference embedding.
   * @defaultValue 0.5
   */
  theta?: number;
  /**
   * Seed of the vantage-point tree (the result does not depend on it but for exact ties).
   * @defaultValue drawn at random
   */
  seed?: number;
  /**
   * Cancels the run with an {@link AbortError}.
   * @defaultValue none
   */
  signal?: AbortSignal;
  /**
   * Called with phase `'neighbours'` and then `'iteration'` (every 50 iterations).
   * @defaultValue none
   */
  onProgress?: (progress: Progress) => void;
}

const KEYS = ['perplexity', 'maxIterations', 'learningRate', 'momentum', 'theta', 'seed', 'signal', 'onProgress'] as const;

/**
 * Places new points into an existing t-SNE map without moving the map (openTSNE's `transform`,
 * Poličar et al. 2019): the reference embedding stays fixed and each new point i minimises its own
 * KL(P_i‖Q_i), with p_{j|i} ∝ exp(−β_i‖x_i − x_j‖²) over its ⌊3·perplexity + 1⌋ nearest
 * reference points and q_{j|i} = w_ij / Σ_k w_ik over all reference points, w = (1 + ‖y_i − y_j‖²)⁻¹:
 *   ∂KL_i/∂y_i = 4 Σ_j (p_{j|i} − q_{j|i}) w_ij (y_i − y_j).
 * Each point starts at the median of its neighbours' positions. This is how adversarial features
 * share one picture with the clean ones (§5c): embed the clean features with {@link tsne}, then
 * transform the adversarial ones.
 *
 * @param map - the reference features and their embedding.
 * @param features - the new points `[M, D]`, in the same feature space as `map.features`.
 * @param options - see {@link TsneTransformOptions}; unknown keys are rejected.
 * @returns the new points' coordinates `[M, d]` in the map.
 * @throws {InvalidArgumentError} for mismatched shapes, ragged rows, NaN, a perplexity ≥ the number
 *   of reference points, or an unknown option.
 * @throws {AbortError} when `signal` fires.
 *
 * @example
 * ```ts
 * const map = { features: clean, embedding: (await tsne(clean, { seed: 1 })).embedding };
 * const placed = await tsneTransform(map, adversarial);
 * ```
 * @category Metrics
 */
export async function tsneTransform(map: TsneMap, features: MatrixLike, options: TsneTransformOptions = {}): Promise<number[][]> {
  return entryAsync('tsneTransform', () => runTsneTransform(map, features, options));
}

async function runTsneTransform(map: TsneMap, features: MatrixLike, options: TsneTransformOptions): Promise<number[][]> {
  const fn = 'tsneTransform';
  const o = assertOptionsObject(fn, options);
  assertKnownKeys(fn, o, KEYS);
  if (typeof map !== 'object' || map === null) throw new InvalidArgumentError(fn, 'map', 'an object { features, embedding }', describeValue(map));
  const ref = readMatrix(fn, 'map.features', map.features, { minRows: 2 });
  const emb = readMatrix(fn, 'map.embedding', map.embedding);
  if (emb.rows !== ref.rows) throw new InvalidArgumentError(fn, 'map.embedding', `${ref.rows} rows (one per reference point)`, `${emb.rows} rows`);
  if (emb.cols > 3) throw new InvalidArgumentError(fn, 'map.embedding', 'an embedding of 1 to 3 dimensions', `${emb.cols} columns`);
  const x = readMatrix(fn, 'features', features);
  if (x.cols !== ref.cols) throw new InvalidArgumentError(fn, 'features', `rows of ${ref.cols} values like map.features`, `${x.cols} columns`);
  const perplexity = o.perplexity === undefined ? 5 : assertNumber(fn, 'options.perplexity', o.perplexity, { min: 0, minExclusive: true });
  if (perplexity >= ref.rows) throw new InvalidArgumentError(fn, 'options.perplexity', `a number below the number of reference points (${ref.rows})`, String(perplexity));
  const maxIterations = o.maxIterations === undefined ? 250 : assertNumber(fn, 'options.maxIterations', o.maxIterations, { integer: true, min: 0 });
  const learningRate = o.learningRate === undefined ? 1 : assertNumber(fn, 'options.learningRate', o.learningRate, { min: 0, minExclusive: true });
  const momentum = o.momentum === undefined ? 0.5 : assertNumber(fn, 'options.momentum', o.momentum, { min: 0, max: 1, maxExclusive: true });
  const theta = o.theta === undefined ? 0.5 : assertNumber(fn, 'options.theta', o.theta, { min: 0 });
  const seed = assertOptionalNumber(fn, 'options.seed', o.seed, { integer: true, min: 0 }) ?? drawSeed();
  const signal = assertSignal(fn, 'options.signal', o.signal);
  assertFunction(fn, 'options.onProgress', o.onProgress);
  const onProgress = o.onProgress as ((p: Progress) => void) | undefined;

  const slicer = new Slicer(signal, fn);
  const m = x.rows;
  const dims = emb.cols;
  const k = Math.min(ref.rows, Math.floor(3 * perplexity + 1));
  const { indices, distances } = await nearestNeighbours(ref, x, k, false, createRng(seed), slicer, onProgress);
  for (let p = 0; p < distances.length; p++) distances[p] = distances[p]! * distances[p]!;
  const cond = conditionalRows(distances, m, k, perplexity);

  // start at the median of the neighbours' positions
  const y = new Float64Array(m * dims);
  const buf = new Float64Array(k);
  for (let i = 0; i < m; i++) {
    for (let c = 0; c < dims; c++) {
      for (let t = 0; t < k; t++) buf[t] = emb.data[indices[i * k + t]! * dims + c]!;
      buf.sort();
      y[i * dims + c] = k % 2 ? buf[(k - 1) >> 1]! : (buf[k / 2 - 1]! + buf[k / 2]!) / 2;
    }
  }
  // the reference map is fixed: one tree serves every iteration
  const tree = new SpaceTree(ref.rows, dims);
  tree.build(emb.data);
  const grad = new Float64Array(dims);
  const update = new Float64Array(m * dims);
  const gains = new Float64Array(m * dims).fill(1);
  const rep = new Float64Array(dims);
  onProgress?.(slicer.progress('iteration', 0, maxIterations));
  for (let it = 0; it < maxIterations; it++) {
    for (let i = 0; i < m; i++) {
      const z = tree.repulsionAt(y, i, theta, rep);
      grad.fill(0);
      for (let t = 0; t < k; t++) {
        const j = indices[i * k + t]!;
        let d2 = 0;
        for (let c = 0; c < dims; c++) d2 += (y[i * dims + c]! - emb.data[j * dims + c]!) ** 2;
        const pw = cond[i * k + t]! / (1 + d2);
        for (let c = 0; c < dims; c++) grad[c]! += pw * (y[i * dims + c]! - emb.data[j * dims + c]!);
      }
      for (let c = 0; c < dims; c++) {
        const p = i * dims + c;
        const g = 4 * (grad[c]! - rep[c]! / z);
        const u = update[p]!;
        let gain = u * g < 0 ? gains[p]! + 0.2 : gains[p]! * 0.8;
        if (gain < 0.01) gain = 0.01;
        gains[p] = gain;
        const nu = momentum * u - learningRate * gain * g;
        update[p] = nu;
        y[p]! += nu;
      }
    }
    if ((it + 1) % 50 === 0 || it + 1 === maxIterations) onProgress?.(slicer.progress('iteration', it + 1, maxIterations));
    slicer.check();
    await slicer.maybeYield();
  }
  return toRows(y, m, dims);
}
