/**
 * Approximate k nearest neighbours for large inputs, in the spirit of Annoy (random-projection
 * forests, Bernhardsson 2013) and NN-descent (Dong, Moses & Li, WWW 2011) that openTSNE uses:
 * 1. a forest of random-projection trees: each node splits its points by the hyperplane halfway
 *    between two of them picked at random (at the median of the same projection when that would leave
 *    k or fewer points on one side), down to leaves of at most `leafSize` points; every pair of
 *    points sharing a leaf is a candidate for both points' neighbour lists, so every point has k
 *    candidates after the first tree;
 * 2. a few rounds of neighbour-of-neighbour refinement (NN-descent's local join, restricted to each
 *    point's `joinSize` nearest current neighbours): two points that are both near a third are
 *    candidates for each other.
 * Neighbour lists are bounded max-heaps of squared Euclidean distances, so a candidate is kept only
 * if it beats the current k-th nearest. Deterministic for a given seed.
 * @internal
 */
import type { Rng } from '../../internal/random.js';

/** Settings of {@link approximateKnn}. */
export interface ApproximateKnnSettings {
  /** Random-projection trees. */
  trees: number;
  /** Most points per leaf. */
  leafSize: number;
  /** Rounds of neighbour-of-neighbour refinement. */
  refineRounds: number;
  /** Nearest current neighbours per point taking part in each refinement round. */
  joinSize: number;
}

/** Squared Euclidean distance between rows a and b of `x` (d columns). */
function sqDist(x: Float64Array, a: number, b: number, d: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  const oa = a * d;
  const ob = b * d;
  let t = 0;
  for (; t + 3 < d; t += 4) {
    const v0 = x[oa + t]! - x[ob + t]!;
    const v1 = x[oa + t + 1]! - x[ob + t + 1]!;
    const v2 = x[oa + t + 2]! - x[ob + t + 2]!;
    const v3 = x[oa + t + 3]! - x[ob + t + 3]!;
    s0 += v0 * v0;
    s1 += v1 * v1;
    s2 += v2 * v2;
    s3 += v3 * v3;
  }
  for (; t < d; t++) {
    const v = x[oa + t]! - x[ob + t]!;
    s0 += v * v;
  }
  return s0 + s1 + s2 + s3;
}

/**
 * Squared distances from row `a` of `rows` (d columns, contiguous) to rows b .. b + 3, written into
 * out[0 .. 3]: one pass over row a's values for four rows (register blocking; about 1.5× faster
 * than four calls of {@link sqDist}).
 */
function sqDist4(rows: Float64Array, a: number, b: number, d: number, out: Float64Array): void {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  const oa = a * d;
  const o0 = b * d;
  const o1 = o0 + d;
  const o2 = o1 + d;
  const o3 = o2 + d;
  for (let t = 0; t < d; t++) {
    const v = rows[oa + t]!;
    const e0 = v - rows[o0 + t]!;
    const e1 = v - rows[o1 + t]!;
    const e2 = v - rows[o2 + t]!;
    const e3 = v - rows[o3 + t]!;
    s0 += e0 * e0;
    s1 += e1 * e1;
    s2 += e2 * e2;
    s3 += e3 * e3;
  }
  out[0] = s0;
  out[1] = s1;
  out[2] = s2;
  out[3] = s3;
}

/**
 * Offers every pair among the `count` points `ids[from .. from + count)` to both points' heaps. Their
 * rows are copied into `rows` (contiguous, so {@link sqDist4} can block four at a time) and their
 * squared distances into the `count`×`count` matrix `dm`; then each point's members are marked
 * ({@link NeighbourHeaps.mark}) and the others offered to its heap, so a candidate that is already a
 * member costs one array read instead of a scan of the heap. With `fresh`, the pairs of two points
 * whose flags are both 0 are skipped. Returns how many offers entered.
 */
function joinAll(data: Float64Array, d: number, ids: Int32Array, from: number, count: number, rows: Float64Array, dm: Float64Array, heaps: NeighbourHeaps, quad: Float64Array, fresh?: Uint8Array): number {
  for (let a = 0; a < count; a++) rows.set(data.subarray(ids[from + a]! * d, ids[from + a]! * d + d), a * d);
  for (let a = 0; a < count; a++) {
    const aOld = fresh !== undefined && fresh[a] === 0;
    let b = a + 1;
    for (; b + 3 < count; b += 4) {
      if (aOld && fresh![b] === 0 && fresh![b + 1] === 0 && fresh![b + 2] === 0 && fresh![b + 3] === 0) continue;
      sqDist4(rows, a, b, d, quad);
      for (let u = 0; u < 4; u++) {
        dm[a * count + b + u] = quad[u]!;
        dm[(b + u) * count + a] = quad[u]!;
      }
    }
    for (; b < count; b++) {
      const dsq = sqDist(rows, a, b, d);
      dm[a * count + b] = dsq;
      dm[b * count + a] = dsq;
    }
  }
  let entered = 0;
  for (let a = 0; a < count; a++) {
    const i = ids[from + a]!;
    const aOld = fresh !== undefined && fresh[a] === 0;
    heaps.mark(i);
    for (let b = 0; b < count; b++) {
      if (b === a || (aOld && fresh![b] === 0)) continue;
      const j = ids[from + b]!;
      if (j !== i && heaps.offer(i, j, dm[a * count + b]!)) entered++;
    }
  }
  return entered;
}

/** Quickselect on `perm`/`proj` together so that position `k` holds the k-th largest projection in `[lo, hi]`. */
function selectByProjection(perm: Int32Array, proj: Float64Array, lo: number, hi: number, k: number): void {
  while (hi > lo) {
    const pivot = proj[(lo + hi) >> 1]!;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (proj[i]! > pivot) i++;
      while (proj[j]! < pivot) j--;
      if (i <= j) {
        const tp = proj[i]!; proj[i] = proj[j]!; proj[j] = tp;
        const tq = perm[i]!; perm[i] = perm[j]!; perm[j] = tq;
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
 * n bounded max-heaps of (index, squared distance), k entries each, with a flag for new entries.
 * Duplicates are caught by a stamp per point: {@link mark} stamps the current members of one heap,
 * and {@link offer} to that heap then rejects a stamped candidate at once (an evicted member keeps
 * its stamp, which is harmless: it was evicted because it is farther than the heap's root, and the
 * root only comes nearer).
 */
class NeighbourHeaps {
  readonly idx: Int32Array;
  readonly dist: Float64Array;
  readonly fresh: Uint8Array;
  private readonly stamp: Int32Array;
  private epoch = 0;
  private marked = -1;

  constructor(readonly n: number, readonly k: number) {
    this.idx = new Int32Array(n * k).fill(-1);
    this.dist = new Float64Array(n * k).fill(Infinity);
    this.fresh = new Uint8Array(n * k);
    this.stamp = new Int32Array(n);
  }

  /** Stamps the members of i's heap; {@link offer}s to i are valid until the next mark. */
  mark(i: number): void {
    const { k, idx, stamp } = this;
    const e = ++this.epoch;
    this.marked = i;
    for (let t = i * k; t < i * k + k; t++) {
      const j = idx[t]!;
      if (j >= 0) stamp[j] = e;
    }
  }

  /** Offers j (at squared distance dsq) to the heap of the last {@link mark}ed point i; returns whether it entered. */
  offer(i: number, j: number, dsq: number): boolean {
    const { k, idx, dist, fresh, stamp } = this;
    const base = i * k;
    if (dsq >= dist[base]! || stamp[j] === this.epoch) return false;
    if (i !== this.marked) throw new Error('NeighbourHeaps.offer: the heap was not marked');
    stamp[j] = this.epoch;
    // replace the root (the current farthest) and sift down
    let p = 0;
    for (;;) {
      const l = 2 * p + 1;
      if (l >= k) break;
      const r = l + 1;
      const c = r < k && dist[base + r]! > dist[base + l]! ? r : l;
      if (dist[base + c]! <= dsq) break;
      idx[base + p] = idx[base + c]!;
      dist[base + p] = dist[base + c]!;
      fresh[base + p] = fresh[base + c]!;
      p = c;
    }
    idx[base + p] = j;
    dist[base + p] = dsq;
    fresh[base + p] = 1;
    return true;
  }

  /** Sorts every heap ascending (heap sort: pop the farthest to the back); returns indices and Euclidean distances. */
  finish(): { indices: Int32Array; distances: Float64Array } {
    const { n, k, idx, dist } = this;
    const indices = new Int32Array(n * k);
    const distances = new Float64Array(n * k);
    for (let i = 0; i < n; i++) {
      const base = i * k;
      for (let size = k; size > 0; size--) {
        // the root is the farthest of the first `size` entries
        indices[base + size - 1] = idx[base]!;
        distances[base + size - 1] = Math.sqrt(dist[base]!);
        const lastIdx = idx[base + size - 1]!;
        const lastDist = dist[base + size - 1]!;
        const m = size - 1;
        let p = 0;
        for (;;) {
          const l = 2 * p + 1;
          if (l >= m) break;
          const r = l + 1;
          const c = r < m && dist[base + r]! > dist[base + l]! ? r : l;
          if (dist[base + c]! <= lastDist) break;
          idx[base + p] = idx[base + c]!;
          dist[base + p] = dist[base + c]!;
          p = c;
        }
        idx[base + p] = lastIdx;
        dist[base + p] = lastDist;
      }
    }
    return { indices, distances };
  }
}

/**
 * The approximate k nearest neighbours of every row of `data` (n × d) among the other rows.
 * `tick(done, total)` is awaited now and then (progress and cooperative yielding).
 * @returns indices and Euclidean distances, n·k each, row-major, ascending per row, and the leaf order of
 *   the last tree (near points at near positions).
 */
export async function approximateKnn(
  data: Float64Array, n: number, d: number, k: number, rng: Rng, settings: ApproximateKnnSettings,
  tick: (done: number, total: number) => Promise<void>,
): Promise<{ indices: Int32Array; distances: Float64Array; order: Int32Array }> {
  const heaps = new NeighbourHeaps(n, k);
  const { trees, refineRounds, joinSize } = settings;
  const minLeaf = k + 1;
  const leafSize = Math.max(settings.leafSize, 2 * minLeaf + 2);
  const total = trees + refineRounds;
  const perm = new Int32Array(n);
  const proj = new Float64Array(n);
  const normal = new Float64Array(d);
  const stack: number[] = [];
  const rows = new Float64Array(Math.max(leafSize, joinSize) * d);
  const quad = new Float64Array(4);
  const dm = new Float64Array(Math.max(leafSize, joinSize) ** 2);
  for (let tree = 0; tree < trees; tree++) {
    for (let i = 0; i < n; i++) perm[i] = i;
    stack.length = 0;
    stack.push(0, n);
    let work = 0;
    while (stack.length > 0) {
      const hi = stack.pop()!;
      const lo = stack.pop()!;
      const size = hi - lo;
      if (size <= leafSize) {
        // every pair in the leaf is a candidate for both
        joinAll(data, d, perm, lo, size, rows, dm, heaps, quad);
        work += size * size;
        if (work > 1 << 22) {
          work = 0;
          await tick(tree, total);
        }
        continue;
      }
      // hyperplane halfway between two random points of the node
      const a = perm[lo + Math.floor(rng.next() * size)]!;
      let b = perm[lo + Math.floor(rng.next() * size)]!;
      for (let tries = 0; b === a && tries < 8; tries++) b = perm[lo + Math.floor(rng.next() * size)]!;
      let offset = 0;
      for (let t = 0; t < d; t++) {
        const va = data[a * d + t]!;
        const vb = data[b * d + t]!;
        normal[t] = va - vb;
        offset += (va * va - vb * vb) / 2;
      }
      let left = lo;
      let right = hi - 1;
      for (let p = lo; p < hi; p++) {
        const row = perm[p]! * d;
        let s = -offset;
        for (let t = 0; t < d; t++) s += normal[t]! * data[row + t]!;
        proj[p] = s;
      }
      // partition by the sign of the projection (ties alternate sides)
      let tie = 0;
      while (left <= right) {
        const s = proj[left]!;
        const goLeft = s > 0 || (s === 0 && (tie++ & 1) === 0);
        if (goLeft) left++;
        else {
          const tp = perm[left]!; perm[left] = perm[right]!; perm[right] = tp;
          const ts = proj[left]!; proj[left] = proj[right]!; proj[right] = ts;
          right--;
        }
      }
      let mid = left;
      // Every leaf must hold more than k points (so that every point gets k candidates from the
      // first tree): a split leaving fewer on one side (duplicates, an outlier pair) is replaced by
      // the median split of the same projection.
      if (mid - lo <= minLeaf || hi - mid <= minLeaf) {
        mid = lo + (size >> 1);
        selectByProjection(perm, proj, lo, hi - 1, mid);
      }
      stack.push(lo, mid, mid, hi);
    }
    await tick(tree + 1, total);
  }

  // neighbour-of-neighbour refinement (NN-descent's local join on the nearest joinSize neighbours)
  const c = Math.min(joinSize, k);
  const near = new Int32Array(c);
  const nearSlot = new Int32Array(c);
  const nearFresh = new Uint8Array(c);
  const sortedDist = new Float64Array(k);
  for (let round = 0; round < refineRounds; round++) {
    let updates = 0;
    for (let v = 0; v < n; v++) {
      const base = v * k;
      // v's c nearest current neighbours: those within the c-th smallest distance
      sortedDist.set(heaps.dist.subarray(base, base + k));
      sortedDist.sort();
      const limit = sortedDist[c - 1]!;
      let cm = 0;
      let anyFresh = false;
      for (let t = 0; t < k && cm < c; t++) {
        if (heaps.idx[base + t]! < 0 || heaps.dist[base + t]! > limit) continue;
        near[cm] = heaps.idx[base + t]!;
        nearSlot[cm] = t;
        nearFresh[cm++] = heaps.fresh[base + t]!;
        if (heaps.fresh[base + t]) anyFresh = true;
      }
      if (!anyFresh) continue;
      // two old members were already joined when v was last processed (an old member among v's c
      // nearest was among them then too: the list only gains nearer entries), and the heaps have only
      // improved since, so joinAll skips those pairs
      updates += joinAll(data, d, near, 0, cm, rows, dm, heaps, quad, nearFresh);
      for (let t = 0; t < cm; t++) heaps.fresh[base + nearSlot[t]!] = 0;
      if ((v & 1023) === 1023) await tick(trees + round, total);
    }
    await tick(trees + round + 1, total);
    if (updates < 0.001 * n * k) break;
  }
  return { ...heaps.finish(), order: perm };
}
