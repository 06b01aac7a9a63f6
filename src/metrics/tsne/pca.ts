/**
 * The leading principal components of the rows of a flat matrix, by subspace iteration
 * (randomised power iterations with Gram-Schmidt): O(n·d·m) per iteration, never forming the
 * d×d covariance, so 2048-d features cost no more than a few passes over the data.
 * @internal
 */
import type { Rng } from '../../internal/random.js';

/**
 * Projects the centred rows onto the top `k` principal directions.
 * @returns scores, n·k row-major, in order of decreasing variance (signs arbitrary).
 */
export function pcaScores(data: Float64Array, n: number, d: number, k: number, rng: Rng, iterations = 12): Float64Array {
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let t = 0; t < d; t++) mean[t]! += data[i * d + t]!;
  for (let t = 0; t < d; t++) mean[t]! /= n;
  const m = Math.min(d, k + 4); // oversampling speeds convergence of the leading k
  let basis = new Float64Array(d * m); // column c at basis[t * m + c]
  for (let p = 0; p < basis.length; p++) basis[p] = rng.normal();
  orthonormalise(basis, d, m);
  const proj = new Float64Array(n * m);
  for (let it = 0; it < iterations; it++) {
    project(data, mean, n, d, basis, m, proj);
    const next = new Float64Array(d * m);
    for (let i = 0; i < n; i++) {
      for (let t = 0; t < d; t++) {
        const x = data[i * d + t]! - mean[t]!;
        for (let c = 0; c < m; c++) next[t * m + c]! += x * proj[i * m + c]!;
      }
    }
    orthonormalise(next, d, m);
    basis = next;
  }
  // Rayleigh-Ritz: order the directions by explained variance
  project(data, mean, n, d, basis, m, proj);
  const small = new Float64Array(m * m);
  for (let i = 0; i < n; i++) for (let a = 0; a < m; a++) for (let b = 0; b < m; b++) small[a * m + b]! += proj[i * m + a]! * proj[i * m + b]!;
  const vecs = jacobiEigen(small, m);
  const out = new Float64Array(n * k);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < k; c++) {
      let s = 0;
      for (let a = 0; a < m; a++) s += proj[i * m + a]! * vecs[a * m + c]!;
      out[i * k + c] = s;
    }
  }
  return out;
}

function project(data: Float64Array, mean: Float64Array, n: number, d: number, basis: Float64Array, m: number, out: Float64Array): void {
  out.fill(0);
  for (let i = 0; i < n; i++) {
    for (let t = 0; t < d; t++) {
      const x = data[i * d + t]! - mean[t]!;
      if (x === 0) continue;
      for (let c = 0; c < m; c++) out[i * m + c]! += x * basis[t * m + c]!;
    }
  }
}

/** Modified Gram-Schmidt on the m columns of a d×m matrix (a zero column becomes a unit vector). */
function orthonormalise(a: Float64Array, d: number, m: number): void {
  for (let c = 0; c < m; c++) {
    for (let b = 0; b < c; b++) {
      let dot = 0;
      for (let t = 0; t < d; t++) dot += a[t * m + c]! * a[t * m + b]!;
      for (let t = 0; t < d; t++) a[t * m + c]! -= dot * a[t * m + b]!;
    }
    let norm = 0;
    for (let t = 0; t < d; t++) norm += a[t * m + c]! ** 2;
    norm = Math.sqrt(norm);
    if (norm < 1e-300) {
      a[(c % d) * m + c] = 1;
      continue;
    }
    for (let t = 0; t < d; t++) a[t * m + c]! /= norm;
  }
}

/** Eigenvectors of a symmetric m×m matrix (cyclic Jacobi), columns sorted by decreasing eigenvalue. */
export function jacobiEigen(s: Float64Array, m: number): Float64Array {
  const a = Float64Array.from(s);
  const v = new Float64Array(m * m);
  for (let i = 0; i < m; i++) v[i * m + i] = 1;
  for (let sweep = 0; sweep < 60; sweep++) {
    let off = 0;
    for (let p = 0; p < m; p++) for (let q = p + 1; q < m; q++) off += a[p * m + q]! ** 2;
    if (off < 1e-30) break;
    for (let p = 0; p < m; p++) {
      for (let q = p + 1; q < m; q++) {
        const apq = a[p * m + q]!;
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (a[q * m + q]! - a[p * m + p]!) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const sn = t * c;
        for (let k = 0; k < m; k++) {
          const akp = a[k * m + p]!;
          const akq = a[k * m + q]!;
          a[k * m + p] = c * akp - sn * akq;
          a[k * m + q] = sn * akp + c * akq;
        }
        for (let k = 0; k < m; k++) {
          const apk = a[p * m + k]!;
          const aqk = a[q * m + k]!;
          a[p * m + k] = c * apk - sn * aqk;
          a[q * m + k] = sn * apk + c * aqk;
        }
        for (let k = 0; k < m; k++) {
          const vkp = v[k * m + p]!;
          const vkq = v[k * m + q]!;
          v[k * m + p] = c * vkp - sn * vkq;
          v[k * m + q] = sn * vkp + c * vkq;
        }
      }
    }
  }
  const order = Array.from({ length: m }, (_, i) => i).sort((x, y) => a[y * m + y]! - a[x * m + x]!);
  const out = new Float64Array(m * m);
  for (let c = 0; c < m; c++) for (let r = 0; r < m; r++) out[r * m + c] = v[r * m + order[c]!]!;
  return out;
}
