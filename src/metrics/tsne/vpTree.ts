/**
 * A vantage-point tree (Yianilos 1993) over the rows of a flat matrix, for exact k-nearest-neighbour
 * queries under the Euclidean distance. Nodes live in one permutation array: the node covering
 * `[lo, hi)` keeps its vantage point at `lo`, the points nearer than the median radius in
 * `[lo + 1, mid)` and the others in `[mid, hi)`.
 * @internal
 */
import type { Rng } from '../../internal/random.js';

export class VpTree {
  readonly perm: Int32Array;
  /** Median radius of the node whose vantage point sits at position `lo`. */
  private readonly radius: Float64Array;
  // query state
  private heapIdx = new Int32Array(0);
  private heapDist = new Float64Array(0);
  private heapSize = 0;
  private k = 0;
  private tau = Infinity;
  private qOff = 0;
  private qData: Float64Array;
  private skip = -1;

  constructor(readonly data: Float64Array, readonly n: number, readonly d: number, rng: Rng) {
    this.perm = new Int32Array(n);
    for (let i = 0; i < n; i++) this.perm[i] = i;
    this.radius = new Float64Array(n);
    this.qData = data;
    const dist = new Float64Array(n);
    // iterative build with an explicit stack of [lo, hi) ranges
    const stack: number[] = [0, n];
    while (stack.length > 0) {
      const hi = stack.pop()!;
      const lo = stack.pop()!;
      if (hi - lo <= 1) continue;
      const pick = lo + Math.floor(rng.next() * (hi - lo));
      const perm = this.perm;
      const tmp = perm[lo]!;
      perm[lo] = perm[pick]!;
      perm[pick] = tmp;
      const v = perm[lo]! * d;
      for (let p = lo + 1; p < hi; p++) {
        const u = perm[p]! * d;
        let s = 0;
        for (let j = 0; j < d; j++) {
          const t = data[v + j]! - data[u + j]!;
          s += t * t;
        }
        dist[p] = Math.sqrt(s);
      }
      const mid = (lo + 1 + hi) >> 1;
      select(perm, dist, lo + 1, hi - 1, mid);
      this.radius[lo] = dist[mid]!;
      stack.push(lo + 1, mid, mid, hi);
    }
  }

  /**
   * The k nearest rows to row `queryRow` of `queryData` (excluding index `skip`), sorted by distance.
   * Writes indices and Euclidean distances into `outIdx` / `outDist` at `outOff`.
   */
  query(queryData: Float64Array, queryRow: number, k: number, skip: number, outIdx: Int32Array, outDist: Float64Array, outOff: number): void {
    if (this.heapIdx.length < k) {
      this.heapIdx = new Int32Array(k);
      this.heapDist = new Float64Array(k);
    }
    this.k = k;
    this.heapSize = 0;
    this.tau = Infinity;
    this.qData = queryData;
    this.qOff = queryRow * this.d;
    this.skip = skip;
    this.search(0, this.n);
    // pop the max-heap into ascending order
    for (let p = this.heapSize - 1; p >= 0; p--) {
      outIdx[outOff + p] = this.heapIdx[0]!;
      outDist[outOff + p] = this.heapDist[0]!;
      this.popMax();
    }
  }

  private distTo(row: number): number {
    const { data, d, qData, qOff } = this;
    const u = row * d;
    let s = 0;
    for (let j = 0; j < d; j++) {
      const t = qData[qOff + j]! - data[u + j]!;
      s += t * t;
    }
    return Math.sqrt(s);
  }

  private search(lo: number, hi: number): void {
    while (hi > lo) {
      const v = this.perm[lo]!;
      const dv = this.distTo(v);
      if (v !== this.skip && dv < this.tau) this.push(v, dv);
      if (hi - lo === 1) return;
      const mid = (lo + 1 + hi) >> 1;
      const r = this.radius[lo]!;
      if (dv < r) {
        if (dv - this.tau <= r) this.search(lo + 1, mid);
        if (dv + this.tau >= r) {
          lo = mid;
          continue;
        }
        return;
      }
      if (dv + this.tau >= r) this.search(mid, hi);
      if (dv - this.tau <= r) {
        hi = mid;
        lo = lo + 1;
        continue;
      }
      return;
    }
  }

  private push(idx: number, dist: number): void {
    const hIdx = this.heapIdx;
    const hDist = this.heapDist;
    if (this.heapSize < this.k) {
      let p = this.heapSize++;
      while (p > 0) {
        const parent = (p - 1) >> 1;
        if (hDist[parent]! >= dist) break;
        hIdx[p] = hIdx[parent]!;
        hDist[p] = hDist[parent]!;
        p = parent;
      }
      hIdx[p] = idx;
      hDist[p] = dist;
    } else {
      // replace the root (the current k-th distance) and sift down
      this.siftDown(idx, dist);
    }
    if (this.heapSize === this.k) this.tau = hDist[0]!;
  }

  private siftDown(idx: number, dist: number): void {
    const hIdx = this.heapIdx;
    const hDist = this.heapDist;
    const size = this.heapSize;
    let p = 0;
    for (;;) {
      const l = 2 * p + 1;
      if (l >= size) break;
      const r = l + 1;
      const c = r < size && hDist[r]! > hDist[l]! ? r : l;
      if (hDist[c]! <= dist) break;
      hIdx[p] = hIdx[c]!;
      hDist[p] = hDist[c]!;
      p = c;
    }
    hIdx[p] = idx;
    hDist[p] = dist;
  }

  private popMax(): void {
    const last = --this.heapSize;
    if (last <= 0) return;
    const idx = this.heapIdx[last]!;
    const dist = this.heapDist[last]!;
    this.siftDown(idx, dist);
  }
}

/** Quickselect on `perm`/`dist` together so that position `k` holds the k-th smallest in `[lo, hi]`. */
function select(perm: Int32Array, dist: Float64Array, lo: number, hi: number, k: number): void {
  while (hi > lo) {
    const pivot = dist[(lo + hi) >> 1]!;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (dist[i]! < pivot) i++;
      while (dist[j]! > pivot) j--;
      if (i <= j) {
        const td = dist[i]!; dist[i] = dist[j]!; dist[j] = td;
        const tp = perm[i]!; perm[i] = perm[j]!; perm[j] = tp;
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return;
  }
}

/**
 * The exact k nearest neighbours of every row of `data` among the other rows.
 * @returns indices and Euclidean distances, `n * k` each, row-major, ascending per row.
 */
export function knnSelf(data: Float64Array, n: number, d: number, k: number, rng: Rng, onRow?: (i: number) => void): { indices: Int32Array; distances: Float64Array } {
  const tree = new VpTree(data, n, d, rng);
  const indices = new Int32Array(n * k);
  const distances = new Float64Array(n * k);
  for (let i = 0; i < n; i++) {
    tree.query(data, i, k, i, indices, distances, i * k);
    if (onRow) onRow(i);
  }
  return { indices, distances };
}
