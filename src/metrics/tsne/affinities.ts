/**
 * Input similarities of t-SNE: Gaussian conditional probabilities p(j|i) whose perplexity is set by
 * a binary search on the precision β_i (van der Maaten & Hinton 2008), then symmetrised into the
 * joint p_ij = (p(j|i) + p(i|j)) / 2N, kept sparse (CSR) for Barnes-Hut or dense for the exact method.
 * @internal
 */

const ENTROPY_TOLERANCE = 1e-5;
const MAX_STEPS = 100;

/**
 * Calibrates one row: given squared distances `sq[off .. off+m)`, finds β so that the entropy of
 * p_j ∝ exp(−β·d_j) is log(perplexity) (in nats), writes the normalised p into `out[off ..]` and
 * returns the reached perplexity. Distances are shifted by their minimum, which leaves p unchanged
 * and keeps exp() from underflowing (scikit-learn's "float underflow" case).
 *
 * H(β) = log Σ_j e^{−β·d_j} + β·⟨d⟩ decreases in β with H′(β) = −β·Var(d), so each step takes the
 * Newton step when it stays inside the bracket [betaMin, betaMax] known so far and bisects (or
 * doubles/halves while one side of the bracket is open) otherwise: the same answer as scikit-learn's
 * bisection to the same tolerance, in a handful of steps instead of dozens.
 */
export function calibrateRow(sq: Float64Array, off: number, m: number, perplexity: number, out: Float64Array): number {
  const target = Math.log(perplexity);
  let dMin = Infinity;
  for (let j = 0; j < m; j++) dMin = Math.min(dMin, sq[off + j]!);
  let beta = 1;
  let betaMin = -Infinity;
  let betaMax = Infinity;
  let entropy = 0;
  // scale the first guess to the distances so that the search starts near the answer
  let mean = 0;
  for (let j = 0; j < m; j++) mean += sq[off + j]! - dMin;
  mean /= m;
  if (mean > 0) beta = 1 / mean;
  for (let step = 0; step < MAX_STEPS; step++) {
    let sum = 0;
    let dot = 0;
    let dot2 = 0;
    for (let j = 0; j < m; j++) {
      const dj = sq[off + j]! - dMin;
      const p = Math.exp(-dj * beta);
      out[off + j] = p;
      sum += p;
      dot += dj * p;
      dot2 += dj * dj * p;
    }
    const meanD = dot / sum;
    entropy = Math.log(sum) + beta * meanD;
    const inv = 1 / sum;
    for (let j = 0; j < m; j++) out[off + j]! *= inv;
    const diff = entropy - target;
    if (Math.abs(diff) <= ENTROPY_TOLERANCE) break;
    if (diff > 0) betaMin = beta;
    else betaMax = beta;
    const slope = -beta * (dot2 / sum - meanD * meanD);
    const newton = slope < 0 ? beta - diff / slope : Number.NaN;
    if (newton > Math.max(betaMin, 0) && newton < betaMax) beta = newton;
    else if (diff > 0) beta = betaMax === Infinity ? beta * 2 : (beta + betaMax) / 2;
    else beta = betaMin === -Infinity ? beta / 2 : (beta + betaMin) / 2;
  }
  return Math.exp(entropy);
}

/**
 * Sparse symmetric joint probabilities, each unordered pair once: row i of the CSR lists the
 * j > i with p_ij > 0 (p_ji = p_ij is implied). Σ_{i<j} p_ij = ½.
 */
export interface SparseP {
  rowPtr: Int32Array;
  cols: Int32Array;
  vals: Float64Array;
}

/**
 * Conditional p(j|i) over the k nearest neighbours (squared distances `sq`, n·k), symmetrised and
 * normalised: p_ij = (p(j|i) + p(i|j)) / 2n, kept once per pair (i < j). Memory: the n·k conditional
 * values, one list of the n·k directed edges by their smaller end, and the result (at most n·k pairs).
 */
export function jointFromNeighbours(indices: Int32Array, sq: Float64Array, n: number, k: number, perplexity: number): SparseP {
  const cond = new Float64Array(n * k);
  let total = 0;
  for (let i = 0; i < n; i++) calibrateRow(sq, i * k, k, perplexity, cond);
  for (let p = 0; p < n * k; p++) total += cond[p]!;
  // directed edges i → j grouped by min(i, j)
  const start = new Int32Array(n + 1);
  for (let i = 0; i < n; i++) {
    for (let t = 0; t < k; t++) {
      const j = indices[i * k + t]!;
      if (j !== i) start[Math.min(i, j) + 1]!++;
    }
  }
  for (let i = 0; i < n; i++) start[i + 1]! += start[i]!;
  const fill = start.slice(0, n);
  const edgeCols = new Int32Array(start[n]!);
  const edgeVals = new Float64Array(start[n]!);
  for (let i = 0; i < n; i++) {
    for (let t = 0; t < k; t++) {
      const j = indices[i * k + t]!;
      if (j === i) continue;
      const p = fill[Math.min(i, j)]!++;
      edgeCols[p] = Math.max(i, j);
      edgeVals[p] = cond[i * k + t]!;
    }
  }
  // merge the two directions of each pair in place (a marker per column)
  const marker = new Int32Array(n).fill(-1);
  const rowPtr = new Int32Array(n + 1);
  let nnz = 0;
  for (let i = 0; i < n; i++) {
    const first = nnz;
    for (let p = start[i]!; p < start[i + 1]!; p++) {
      const j = edgeCols[p]!;
      const at = marker[j]!;
      if (at >= first) edgeVals[at]! += edgeVals[p]!;
      else {
        marker[j] = nnz;
        edgeCols[nnz] = j;
        edgeVals[nnz] = edgeVals[p]!;
        nnz++;
      }
    }
    rowPtr[i + 1] = nnz;
  }
  const scale = 1 / Math.max(2 * total, Number.EPSILON);
  const vals = edgeVals.slice(0, nnz);
  for (let p = 0; p < nnz; p++) vals[p]! *= scale;
  return { rowPtr, cols: edgeCols.slice(0, nnz), vals };
}

/** Dense joint P (n·n) from all pairwise squared distances `sq` (n·n, diagonal ignored). */
export function jointDense(sq: Float64Array, n: number, perplexity: number): Float64Array {
  const m = n - 1;
  const rowSq = new Float64Array(m);
  const rowP = new Float64Array(m);
  const cond = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0, t = 0; j < n; j++) if (j !== i) rowSq[t++] = sq[i * n + j]!;
    calibrateRow(rowSq, 0, m, perplexity, rowP);
    for (let j = 0, t = 0; j < n; j++) if (j !== i) cond[i * n + j] = rowP[t++]!;
  }
  const P = new Float64Array(n * n);
  let total = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const v = cond[i * n + j]! + cond[j * n + i]!;
      P[i * n + j] = v;
      total += v;
    }
  }
  const scale = 1 / Math.max(total, Number.EPSILON);
  for (let p = 0; p < P.length; p++) P[p] = Math.max(P[p]! * scale, 1e-300);
  for (let i = 0; i < n; i++) P[i * n + i] = 0;
  return P;
}

/** All pairwise squared Euclidean distances of the rows (n·n). */
export function squaredDistances(data: Float64Array, n: number, d: number): Float64Array {
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      let s = 0;
      for (let t = 0; t < d; t++) {
        const v = data[i * d + t]! - data[j * d + t]!;
        s += v * v;
      }
      out[i * n + j] = s;
      out[j * n + i] = s;
    }
  }
  return out;
}
