/**
 * Spatial relabelling of the points during the FFT-gradient descent: the points are renumbered in
 * the Z-order (Morton order) of their current embedding, so that points near each other in the map
 * get near indices. The attractive sum over the sparse P then reads and writes the embedding
 * mostly within cache (after the first iterations most of a point's P-neighbours lie near it in the
 * map), and the interpolation spreads and gathers each point's charges next to the previous point's
 * grid nodes. Only the numbering changes, so the optimisation is the same up to the order of
 * floating-point sums. Deterministic: ties keep their current order.
 * @internal
 */
import type { SparseP } from './affinities.js';

/** Bits per axis of the Morton key (2-D: 2·10 bits; 1-D: 20 bits). */
const BITS = 10;

/**
 * The Z-order of the rows of `y` (n × dims, dims 1 or 2) on a 2^BITS-per-axis grid over their
 * bounding box: returns `pos`, pos[i] = the new index of point i.
 */
export function spatialOrder(y: Float64Array, n: number, dims: number): Int32Array {
  const lo = [Infinity, Infinity];
  const hi = [-Infinity, -Infinity];
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < dims; c++) {
      const v = y[i * dims + c]!;
      if (v < lo[c]!) lo[c] = v;
      if (v > hi[c]!) hi[c] = v;
    }
  }
  const bits = dims === 1 ? 2 * BITS : BITS;
  const cells = 2 ** bits;
  const scale = [0, 1].map((c) => (hi[c]! > lo[c]! ? (cells - 1e-6) / (hi[c]! - lo[c]!) : 0));
  // key·n + i is an exact integer below 2^53 for n < 2^33: a plain numeric sort orders by key, then index
  const keyed = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let key: number;
    if (dims === 1) key = Math.floor((y[i]! - lo[0]!) * scale[0]!);
    else key = interleave(Math.floor((y[2 * i]! - lo[0]!) * scale[0]!), Math.floor((y[2 * i + 1]! - lo[1]!) * scale[1]!));
    keyed[i] = key * n + i;
  }
  keyed.sort();
  const pos = new Int32Array(n);
  for (let r = 0; r < n; r++) pos[keyed[r]! % n] = r;
  return pos;
}

/** Interleaves the low BITS bits of a (even positions) and b (odd positions). */
function interleave(a: number, b: number): number {
  let key = 0;
  for (let bit = BITS - 1; bit >= 0; bit--) key = key * 4 + ((b >> bit) & 1) * 2 + ((a >> bit) & 1);
  return key;
}

/** Moves row i of `a` (`dims` values) to row pos[i], in place (through `scratch`, as long as `a`). */
export function permuteInPlace(a: Float64Array, pos: Int32Array, dims: number, scratch: Float64Array): void {
  const n = pos.length;
  for (let i = 0; i < n; i++) {
    const r = pos[i]!;
    for (let c = 0; c < dims; c++) scratch[r * dims + c] = a[i * dims + c]!;
  }
  a.set(scratch.subarray(0, n * dims));
}

/**
 * The sparse P with point i renamed pos[i]: each pair again stored once, in the row of its smaller
 * new index; within a row the pairs keep their current order.
 */
export function relabelSparse(P: SparseP, pos: Int32Array): SparseP {
  const { rowPtr, cols, vals } = P;
  const n = pos.length;
  const nnz = cols.length;
  const start = new Int32Array(n + 1);
  for (let i = 0; i < n; i++) {
    const pi = pos[i]!;
    for (let p = rowPtr[i]!; p < rowPtr[i + 1]!; p++) start[Math.min(pi, pos[cols[p]!]!) + 1]!++;
  }
  for (let i = 0; i < n; i++) start[i + 1]! += start[i]!;
  const fill = start.slice(0, n);
  const newCols = new Int32Array(nnz);
  const newVals = new Float64Array(nnz);
  for (let i = 0; i < n; i++) {
    const pi = pos[i]!;
    for (let p = rowPtr[i]!; p < rowPtr[i + 1]!; p++) {
      const pj = pos[cols[p]!]!;
      const at = fill[pi < pj ? pi : pj]!++;
      newCols[at] = pi < pj ? pj : pi;
      newVals[at] = vals[p]!;
    }
  }
  return { rowPtr: start, cols: newCols, vals: newVals };
}
