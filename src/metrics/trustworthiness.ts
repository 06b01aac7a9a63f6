import { InvalidArgumentError } from '../errors.js';
import { assertKnownKeys, assertNumber, assertOptionsObject } from '../internal/validate.js';
import { createRng } from '../internal/random.js';
import { readMatrix, type MatrixLike } from './matrix.js';
import { VpTree } from './tsne/vpTree.js';

/**
 * Options of {@link trustworthiness}.
 * @category Metrics
 */
export interface TrustworthinessOptions {
  /**
   * Neighbourhood size k; must be below N / 2.
   * @defaultValue 5
   */
  k?: number;
}

/**
 * Trustworthiness of an embedding (Venna & Kaski 2001; scikit-learn's `trustworthiness`): how many
 * of each point's k nearest neighbours in the embedding are impostors, far away in the original
 * space:
 *   T(k) = 1 − 2 / (N·k·(2N − 3k − 1)) · Σ_i Σ_{j ∈ U_i(k)} (r(i, j) − k),
 * where U_i(k) are the embedding's k nearest neighbours of i that are not among its k nearest in
 * the original space and r(i, j) is the rank of j among i's original-space neighbours (1 = nearest).
 * T = 1 when the embedding keeps every neighbourhood (e.g. an affinity); a random shuffle gives
 * about 0.5. Euclidean distances; O(N²·D) time and O(N) memory (ranks are counted, never sorted).
 *
 * @param features - the original points `[N, D]`.
 * @param embedding - the embedded points `[N, d]`, row i for point i.
 * @param options - see {@link TrustworthinessOptions}.
 * @returns T(k) in [0, 1].
 * @throws {InvalidArgumentError} for mismatched row counts, ragged rows, NaN, or k ≥ N / 2.
 *
 * @example
 * ```ts
 * const t = trustworthiness(features, (await tsne(features)).embedding, { k: 5 });
 * ```
 * @category Metrics
 */
export function trustworthiness(features: MatrixLike, embedding: MatrixLike, options: TrustworthinessOptions = {}): number {
  const fn = 'trustworthiness';
  const o = assertOptionsObject(fn, options);
  assertKnownKeys(fn, o, ['k']);
  const x = readMatrix(fn, 'features', features, { minRows: 3 });
  const e = readMatrix(fn, 'embedding', embedding);
  const n = x.rows;
  if (e.rows !== n) throw new InvalidArgumentError(fn, 'embedding', `${n} rows (one per row of features)`, `${e.rows} rows`);
  const k = o.k === undefined ? 5 : assertNumber(fn, 'options.k', o.k, { integer: true, min: 1 });
  if (k >= n / 2) throw new InvalidArgumentError(fn, 'options.k', `an integer below N / 2 = ${n / 2}`, String(k));

  const tree = new VpTree(e.data, n, e.cols, createRng(0));
  const nnIdx = new Int32Array(k);
  const nnDist = new Float64Array(k);
  const dist = new Float64Array(n);
  const d = x.cols;
  const xd = x.data;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    tree.query(e.data, i, k, i, nnIdx, nnDist, 0);
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let t = 0; t < d; t++) {
        const v = xd[i * d + t]! - xd[j * d + t]!;
        s += v * v;
      }
      dist[j] = s;
    }
    for (let a = 0; a < k; a++) {
      const j = nnIdx[a]!;
      const dj = dist[j]!;
      // rank of j among i's neighbours in the original space, ties broken by index (stable order)
      let rank = 1;
      for (let m = 0; m < n; m++) {
        if (m === i || m === j) continue;
        const dm = dist[m]!;
        if (dm < dj || (dm === dj && m < j)) rank++;
      }
      if (rank > k) sum += rank - k;
    }
  }
  return 1 - (2 / (n * k * (2 * n - 3 * k - 1))) * sum;
}
