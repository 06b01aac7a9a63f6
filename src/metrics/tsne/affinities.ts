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
    for (let j = 0; j < m; j++) {
      const dj = sq[off + j]! - dMin;
      const p = Math.exp(-dj * beta);
      out[off + j] = p;
      sum += p;
      dot += dj * p;
    }
    entropy = Math.log(sum) + (beta * dot) / sum;
    const inv = 1 / sum;
    for (let j = 0; j < m; j++) out[off + j]! *= inv;
    const diff = entropy - target;
    if (Math.abs(diff) <= ENTROPY_TOLERANCE) break;
    if (diff > 0) {
      betaMin = beta;
      beta = betaMax === Infinity ? beta * 2 : (beta + betaMax) / 2;
    } else {
      betaMax = beta;
      beta = betaMin === -Infinity ? beta / 2 : (beta + betaMin) / 2;
    }
  }
  return Math.exp(entropy);
}

/** Sparse symmetric joint probabilities in CSR form. */
export interface SparseP {
  rowPtr: Int32Array;
  cols: Int32Array;
  vals: Float64Array;
}

/**
 * Conditional p(j|i) over the k nearest neighbours (squared distances `sq`, n·k), symmetrised and
 * normalised to sum 1: P = (P_cond + P_condᵀ) / sum.
 */
export function jointFromNeighbours(indices: Int32Array, sq: Float64Array, n: number, k: number, perplexity: number): SparseP {
  const cond = new Float64Array(n * k);
  for (let i = 0; i < n; i++) calibrateRow(sq, i * k, k, perplexity, cond);
  // COO of P + Pᵀ, counted per row
  const count = new Int32Array(n + 1);
  for (let i = 0; i < n; i++) {
    count[i + 1]! += k;
    for (let t = 0; t < k; t++) count[indices[i * k + t]! + 1]! += 1;
  }
  for (let i = 0; i < n; i++) count[i + 1]! += count[i]!;
  const fill = count.slice(0, n);
  const cooCols = new Int32Array(2 * n * k);
  const cooVals = new Float64Array(2 * n * k);
  for (let i = 0; i < n; i++) {
    for (let t = 0; t < k; t++) {
      const j = indices[i * k + t]!;
      const v = cond[i * k + t]!;
      let p = fill[i]!++;
      cooCols[p] = j;
      cooVals[p] = v;
      p = fill[j]!++;
      cooCols[p] = i;
      cooVals[p] = v;
    }
  }
  // merge duplicates within each row
  const marker = new Int32Array(n).fill(-1);
  const rowPtr = new Int32Array(n + 1);
  const cols = new Int32Array(2 * n * k);
  const vals = new Float64Array(2 * n * k);
  let nnz = 0;
  let total = 0;
  for (let i = 0; i < n; i++) {
    const start = nnz;
    for (let p = count[i]!; p < count[i + 1]!; p++) {
      const j = cooCols[p]!;
      const at = marker[j]!;
      if (at >= start) vals[at]! += cooVals[p]!;
      else {
        marker[j] = nnz;
        cols[nnz] = j;
        vals[nnz] = cooVals[p]!;
        nnz++;
      }
      total += cooVals[p]!;
    }
    rowPtr[i + 1] = nnz;
  }
  const scale = 1 / Math.max(total, Number.EPSILON);
  for (let p = 0; p < nnz; p++) vals[p]! *= scale;
  return { rowPtr, cols: cols.slice(0, nnz), vals: vals.slice(0, nnz) };
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
