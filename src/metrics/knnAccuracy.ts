import { InvalidArgumentError } from '../errors.js';
import { createRng } from '../internal/random.js';
import { assertKnownKeys, assertNumber, assertOptionsObject } from '../internal/validate.js';
import { readClassIndices, readMatrix, type MatrixLike, type VectorLike } from './matrix.js';
import { VpTree } from './tsne/vpTree.js';

/**
 * Options of {@link knnAccuracy}.
 * @category Metrics
 */
export interface KnnAccuracyOptions {
  /**
   * Neighbours that vote; must be below N.
   * @defaultValue 5
   */
  k?: number;
}

/**
 * Leave-one-out k-nearest-neighbour accuracy: the fraction of points whose class is the majority
 * class of their k nearest other points (Euclidean). A tie between classes goes to the class of the
 * nearest neighbour among the tied ones. openTSNE's test of an embedding (> 0.95 on iris); here also
 * a discriminability score of raw features (§5c).
 *
 * @param points - the points `[N, D]` (features or an embedding).
 * @param labels - class indices `[N]`.
 * @param options - see {@link KnnAccuracyOptions}.
 * @returns the accuracy in [0, 1].
 * @throws {InvalidArgumentError} for a label count ≠ N, non-integer labels, ragged rows, NaN, or k ≥ N.
 *
 * @example
 * ```ts
 * knnAccuracy([[0], [0.1], [5], [5.1]], [0, 0, 1, 1], { k: 1 }); // 1
 * ```
 * @category Metrics
 */
export function knnAccuracy(points: MatrixLike, labels: VectorLike, options: KnnAccuracyOptions = {}): number {
  const fn = 'knnAccuracy';
  const o = assertOptionsObject(fn, options);
  assertKnownKeys(fn, o, ['k']);
  const x = readMatrix(fn, 'points', points, { minRows: 2 });
  const y = readClassIndices(fn, 'labels', labels, x.rows);
  const k = o.k === undefined ? 5 : assertNumber(fn, 'options.k', o.k, { integer: true, min: 1 });
  if (k >= x.rows) throw new InvalidArgumentError(fn, 'options.k', `an integer below the number of points (${x.rows})`, String(k));
  return knnVotes(x.data, x.rows, x.cols, y, k).correct / x.rows;
}

/** Leave-one-out kNN votes; `predicted[i]` is the winning class of point i. */
export function knnVotes(data: Float64Array, n: number, d: number, labels: Int32Array, k: number): { correct: number; predicted: Int32Array } {
  const tree = new VpTree(data, n, d, createRng(0));
  const idx = new Int32Array(k);
  const dist = new Float64Array(k);
  let classes = 0;
  for (let i = 0; i < n; i++) classes = Math.max(classes, labels[i]! + 1);
  const votes = new Int32Array(classes);
  const predicted = new Int32Array(n);
  let correct = 0;
  for (let i = 0; i < n; i++) {
    tree.query(data, i, k, i, idx, dist, 0);
    votes.fill(0);
    let best = -1;
    for (let t = 0; t < k; t++) votes[labels[idx[t]!]!]!++;
    let top = 0;
    for (let c = 0; c < classes; c++) top = Math.max(top, votes[c]!);
    // nearest neighbour whose class has the top vote count
    for (let t = 0; t < k; t++) {
      const c = labels[idx[t]!]!;
      if (votes[c] === top) { best = c; break; }
    }
    predicted[i] = best;
    if (best === labels[i]) correct++;
  }
  return { correct, predicted };
}
