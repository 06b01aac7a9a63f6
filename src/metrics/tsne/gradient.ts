/**
 * The t-SNE objective and its gradient (van der Maaten & Hinton 2008; Barnes-Hut: van der Maaten
 * 2014). With w_ij = 1 / (1 + ‖y_i − y_j‖²), Z = Σ_{k≠l} w_kl and q_ij = w_ij / Z:
 *   KL(P‖Q) = Σ p_ij log(p_ij / q_ij),
 *   ∂KL/∂y_i = 4 Σ_j (α·p_ij − q_ij) w_ij (y_i − y_j)   (α: the early exaggeration).
 * The attractive part runs over the sparse P; the repulsive part Σ_j q_ij w_ij (y_i − y_j) uses a
 * space-partitioning tree (quadtree in 2-D, octree in 3-D) whose cells of width r at distance d
 * with r/d < θ act as one point at their centre of mass.
 * @internal
 */
import type { SparseP } from './affinities.js';
import type { InterpolationRepulsion } from './interpolation.js';

/**
 * A Barnes-Hut tree over the rows of a flat [n, dim] embedding, rebuilt every iteration. The points
 * are sorted by their Morton (Z-order) code, so that every cell is a contiguous range of the sorted
 * points, children are found by binary search on the codes, centres of mass come from prefix sums,
 * and the traversal visits points in spatial order (cache-friendly).
 */
/** Points per traversal group in the 2-D repulsion. */
const GROUP = 32;

export class SpaceTree {
  private readonly bits: number;
  /** Fields per node in `nodeData`: centre of mass (dim), width², count, first child, child count, start, end. */
  private readonly stride: number;
  private cap = 0;
  private nodeData = new Float64Array(0);
  private nodes = 0;
  private readonly perm: Int32Array;
  private readonly permTmp: Int32Array;
  private readonly codes: Uint32Array;
  private readonly codesTmp: Uint32Array;
  private readonly sorted: Float64Array;
  private readonly prefix: Float64Array;
  private readonly stack: Int32Array;
  private readonly pending: Int32Array;
  private readonly force: Float64Array;
  private readonly groupList: Int32Array;
  private farList = new Float64Array(3 * 1024);
  private nearList = new Int32Array(1024);

  constructor(readonly n: number, readonly dim: number) {
    this.bits = dim === 1 ? 30 : dim === 2 ? 15 : 10;
    this.stride = dim + 6;
    this.perm = new Int32Array(n);
    this.permTmp = new Int32Array(n);
    this.codes = new Uint32Array(n);
    this.codesTmp = new Uint32Array(n);
    this.sorted = new Float64Array(n * dim);
    this.prefix = new Float64Array((n + 1) * dim);
    this.stack = new Int32Array(this.bits * (1 << dim) + 16);
    this.pending = new Int32Array(2 * (this.bits * (1 << dim) + 16));
    this.force = new Float64Array(dim);
    this.groupList = new Int32Array(n + 1);
    this.grow(Math.max(16, 2 * n));
  }

  private grow(cap: number): void {
    const next = new Float64Array(cap * this.stride);
    next.set(this.nodeData.subarray(0, Math.min(this.nodeData.length, next.length)));
    this.nodeData = next;
    this.cap = cap;
  }

  /** Builds the tree over `y` (n·dim). */
  build(y: Float64Array): void {
    const { n, dim, bits, perm, codes, sorted, prefix, stride } = this;
    const lo = [Infinity, Infinity, Infinity];
    const hi = [-Infinity, -Infinity, -Infinity];
    for (let i = 0; i < n; i++) {
      for (let t = 0; t < dim; t++) {
        const v = y[i * dim + t]!;
        if (v < lo[t]!) lo[t] = v;
        if (v > hi[t]!) hi[t] = v;
      }
    }
    let side = 0;
    for (let t = 0; t < dim; t++) side = Math.max(side, hi[t]! - lo[t]!);
    side = side * (1 + 1e-9) + 1e-12;
    const cells = 1 << bits;
    const scale = cells / side;
    // Morton codes: bit (level·dim + t) holds bit `level` of coordinate t's cell index
    for (let i = 0; i < n; i++) {
      let code = 0;
      for (let t = 0; t < dim; t++) {
        let c = Math.floor((y[i * dim + t]! - lo[t]!) * scale);
        if (c >= cells) c = cells - 1;
        code |= spread(c, dim) << t;
      }
      codes[i] = code >>> 0;
      perm[i] = i;
    }
    this.radixSort();
    for (let t = 0; t < dim; t++) prefix[t] = 0;
    for (let p = 0; p < n; p++) {
      const i = perm[p]!;
      for (let t = 0; t < dim; t++) {
        const v = y[i * dim + t]!;
        sorted[p * dim + t] = v;
        prefix[(p + 1) * dim + t] = prefix[p * dim + t]! + v;
      }
    }
    this.nodes = 1;
    this.setNode(0, 0, n, side);
    const nKids = 1 << dim;
    // depth-first work list of (node, level); level = bit-groups below this cell
    const pending = this.pending;
    let top = 0;
    pending[top++] = 0;
    pending[top++] = bits;
    while (top > 0) {
      const level = pending[--top]!;
      const node = pending[--top]!;
      let base = node * stride;
      const s = this.nodeData[base + dim + 4]!;
      const e = this.nodeData[base + dim + 5]!;
      if (e - s <= 1 || level === 0) continue;
      const shift = (level - 1) * dim;
      if (this.nodes + nKids > this.cap) this.grow(this.cap * 2);
      const first = this.nodes;
      let at = s;
      const childSide = Math.sqrt(this.nodeData[base + dim]!) / 2;
      for (let c = 0; c < nKids && at < e; c++) {
        // codes in [at, e) are sorted; child c ends where the bit-group exceeds c
        let a = at;
        let b = e;
        while (a < b) {
          const mid = (a + b) >> 1;
          if (((codes[mid]! >>> shift) & (nKids - 1)) <= c) a = mid + 1;
          else b = mid;
        }
        if (a > at) {
          const k = this.nodes++;
          this.setNode(k, at, a, childSide);
          pending[top++] = k;
          pending[top++] = level - 1;
          at = a;
        }
      }
      base = node * stride;
      this.nodeData[base + dim + 2] = first;
      this.nodeData[base + dim + 3] = this.nodes - first;
    }
  }

  private setNode(k: number, s: number, e: number, side: number): void {
    const { dim, prefix, nodeData } = this;
    const base = k * this.stride;
    const inv = 1 / (e - s);
    for (let t = 0; t < dim; t++) nodeData[base + t] = (prefix[e * dim + t]! - prefix[s * dim + t]!) * inv;
    nodeData[base + dim] = side * side;
    nodeData[base + dim + 1] = e - s;
    nodeData[base + dim + 2] = -1;
    nodeData[base + dim + 3] = 0;
    nodeData[base + dim + 4] = s;
    nodeData[base + dim + 5] = e;
  }

  private radixSort(): void {
    const n = this.n;
    let keys = this.codes;
    let vals = this.perm;
    let keys2 = this.codesTmp;
    let vals2 = this.permTmp;
    const count = new Int32Array(256);
    for (let shift = 0; shift < 32; shift += 8) {
      count.fill(0);
      for (let i = 0; i < n; i++) count[(keys[i]! >>> shift) & 255]!++;
      let sum = 0;
      for (let b = 0; b < 256; b++) { const c = count[b]!; count[b] = sum; sum += c; }
      for (let i = 0; i < n; i++) {
        const key = keys[i]!;
        const dst = count[(key >>> shift) & 255]!++;
        keys2[dst] = key;
        vals2[dst] = vals[i]!;
      }
      const tk = keys; keys = keys2; keys2 = tk;
      const tv = vals; vals = vals2; vals2 = tv;
    }
    // four passes: the sorted data is back in this.codes / this.perm
  }

  /**
   * Repulsive forces: writes Σ_j w_ij² (y_i − y_j) (unnormalised) into `rep` and returns
   * Z = Σ_i Σ_{j≠i} w_ij, both approximated with angle θ.
   */
  repulsion(theta: number, rep: Float64Array): number {
    return this.dim === 2 ? this.repulsion2(theta, rep) : this.repulsionN(theta, rep);
  }

  /**
   * 2-D repulsion, one traversal per group of nearby points (a cell holding at most `GROUP` points):
   * a cell B is accepted for the whole group when width_B < θ·(d(c_g, com_B) − r_g), c_g and r_g
   * being the centre and radius of the group's bounding box. Since every point p of the group has
   * d(p, com_B) ≥ d(c_g, com_B) − r_g, each accepted cell satisfies the Barnes-Hut criterion
   * width/d < θ for every point, exactly as if traversed per point (only more conservative). Each
   * point then sums its own exact interaction with each accepted centre of mass, and with the
   * single points of the cells that had to be opened down to the leaves.
   */
  private repulsion2(theta: number, rep: Float64Array): number {
    const { perm, stack, sorted } = this;
    const nd = this.nodeData;
    const theta2 = theta * theta;
    let z = 0;
    // find the groups: maximal cells with count <= GROUP
    const groups = this.groupList;
    let nGroups = 0;
    let sp = 0;
    stack[sp++] = 0;
    while (sp > 0) {
      const node = stack[--sp]!;
      const b = node * 8;
      if (nd[b + 3]! <= GROUP || nd[b + 4]! < 0) groups[nGroups++] = node;
      else {
        const fc = nd[b + 4]!;
        const m = nd[b + 5]!;
        for (let c = 0; c < m; c++) stack[sp++] = fc + c;
      }
    }
    let far = this.farList;
    let near = this.nearList;
    for (let g = 0; g < nGroups; g++) {
      const gb = groups[g]! * 8;
      const gs = nd[gb + 6]!;
      const ge = nd[gb + 7]!;
      let minX = Infinity;
      let minY = Infinity;
      let maxX = -Infinity;
      let maxY = -Infinity;
      for (let r = gs; r < ge; r++) {
        const x = sorted[2 * r]!;
        const y = sorted[2 * r + 1]!;
        if (x < minX) minX = x;
        if (x > maxX) maxX = x;
        if (y < minY) minY = y;
        if (y > maxY) maxY = y;
      }
      const cx = (minX + maxX) / 2;
      const cy = (minY + maxY) / 2;
      const rg = Math.sqrt((maxX - minX) ** 2 + (maxY - minY) ** 2) / 2;
      let nFar = 0;
      let nNear = 0;
      sp = 0;
      stack[sp++] = 0;
      while (sp > 0) {
        const b = stack[--sp]! * 8;
        const dx = cx - nd[b]!;
        const dy = cy - nd[b + 1]!;
        const dist = Math.sqrt(dx * dx + dy * dy) - rg;
        const cnt = nd[b + 3]!;
        if (cnt > 1 && dist > 0 && nd[b + 2]! < theta2 * dist * dist) {
          if (nFar * 3 + 3 > far.length) { const f2 = new Float64Array(far.length * 2); f2.set(far); far = f2; this.farList = far; }
          far[nFar * 3] = nd[b]!;
          far[nFar * 3 + 1] = nd[b + 1]!;
          far[nFar * 3 + 2] = cnt;
          nFar++;
          continue;
        }
        const fc = nd[b + 4]!;
        if (fc < 0) {
          const e = nd[b + 7]!;
          for (let r = nd[b + 6]!; r < e; r++) {
            if (nNear >= near.length) { const n2 = new Int32Array(near.length * 2); n2.set(near); near = n2; this.nearList = near; }
            near[nNear++] = r;
          }
        } else {
          const m = nd[b + 5]!;
          for (let c = 0; c < m; c++) stack[sp++] = fc + c;
        }
      }
      for (let p = gs; p < ge; p++) {
        const yx = sorted[2 * p]!;
        const yy = sorted[2 * p + 1]!;
        let fx = 0;
        let fy = 0;
        let sq = 0;
        for (let t = 0; t < nFar; t++) {
          const dx = yx - far[3 * t]!;
          const dy = yy - far[3 * t + 1]!;
          const cnt = far[3 * t + 2]!;
          const q = 1 / (1 + dx * dx + dy * dy);
          const cq = cnt * q;
          sq += cq;
          const q2 = cq * q;
          fx += q2 * dx;
          fy += q2 * dy;
        }
        for (let t = 0; t < nNear; t++) {
          const r = near[t]!;
          if (r === p) continue;
          const dx = yx - sorted[2 * r]!;
          const dy = yy - sorted[2 * r + 1]!;
          const q = 1 / (1 + dx * dx + dy * dy);
          sq += q;
          const q2 = q * q;
          fx += q2 * dx;
          fy += q2 * dy;
        }
        const i = perm[p]!;
        rep[2 * i] = fx;
        rep[2 * i + 1] = fy;
        z += sq;
      }
    }
    return z;
  }

  /**
   * Repulsion on an outside point (row `row` of `y`, not in the tree): writes Σ_j w_ij² (y − y_j)
   * into `out` and returns Σ_j w_ij, with the per-point Barnes-Hut criterion.
   */
  repulsionAt(y: Float64Array, row: number, theta: number, out: Float64Array): number {
    const { dim, stack, sorted, stride } = this;
    const nd = this.nodeData;
    const theta2 = theta * theta;
    const diff = this.force;
    out.fill(0);
    let sq = 0;
    let sp = 0;
    stack[sp++] = 0;
    while (sp > 0) {
      const b = stack[--sp]! * stride;
      let d2 = 0;
      for (let t = 0; t < dim; t++) {
        const v = y[row * dim + t]! - nd[b + t]!;
        diff[t] = v;
        d2 += v * v;
      }
      const cnt = nd[b + dim + 1]!;
      if (cnt === 1 || nd[b + dim]! < theta2 * d2) {
        const q = 1 / (1 + d2);
        sq += cnt * q;
        for (let t = 0; t < dim; t++) out[t]! += cnt * q * q * diff[t]!;
        continue;
      }
      const fc = nd[b + dim + 2]!;
      if (fc < 0) {
        const e = nd[b + dim + 5]!;
        for (let r = nd[b + dim + 4]!; r < e; r++) {
          let e2 = 0;
          for (let t = 0; t < dim; t++) {
            const v = y[row * dim + t]! - sorted[r * dim + t]!;
            diff[t] = v;
            e2 += v * v;
          }
          const q = 1 / (1 + e2);
          sq += q;
          for (let t = 0; t < dim; t++) out[t]! += q * q * diff[t]!;
        }
      } else {
        const m = nd[b + dim + 3]!;
        for (let c = 0; c < m; c++) stack[sp++] = fc + c;
      }
    }
    return sq;
  }

  private repulsionN(theta: number, rep: Float64Array): number {
    const { n, dim, perm, stack, sorted, stride } = this;
    const nd = this.nodeData;
    const theta2 = theta * theta;
    const diff = new Float64Array(dim);
    const f = this.force;
    let z = 0;
    for (let p = 0; p < n; p++) {
      f.fill(0);
      let sq = 0;
      let sp = 0;
      stack[sp++] = 0;
      while (sp > 0) {
        const b = stack[--sp]! * stride;
        let d2 = 0;
        for (let t = 0; t < dim; t++) {
          const v = sorted[p * dim + t]! - nd[b + t]!;
          diff[t] = v;
          d2 += v * v;
        }
        const cnt = nd[b + dim + 1]!;
        if (cnt === 1 || nd[b + dim]! < theta2 * d2) {
          if (cnt === 1 && nd[b + dim + 4] === p) continue;
          const q = 1 / (1 + d2);
          sq += cnt * q;
          for (let t = 0; t < dim; t++) f[t]! += cnt * q * q * diff[t]!;
          continue;
        }
        const fc = nd[b + dim + 2]!;
        if (fc < 0) {
          const e = nd[b + dim + 5]!;
          for (let r = nd[b + dim + 4]!; r < e; r++) {
            if (r === p) continue;
            let e2 = 0;
            for (let t = 0; t < dim; t++) {
              const v = sorted[p * dim + t]! - sorted[r * dim + t]!;
              diff[t] = v;
              e2 += v * v;
            }
            const q = 1 / (1 + e2);
            sq += q;
            for (let t = 0; t < dim; t++) f[t]! += q * q * diff[t]!;
          }
        } else {
          const m = nd[b + dim + 3]!;
          for (let c = 0; c < m; c++) stack[sp++] = fc + c;
        }
      }
      const i = perm[p]!;
      for (let t = 0; t < dim; t++) rep[i * dim + t] = f[t]!;
      z += sq;
    }
    return z;
  }
}

/** Spreads the low bits of `v` so that consecutive bits land `dim` apart (Morton interleaving). */
function spread(v: number, dim: number): number {
  if (dim === 1) return v;
  let out = 0;
  for (let b = 0; v > 0; b++, v >>>= 1) if (v & 1) out |= 1 << (b * dim);
  return out;
}

/**
 * Attractive forces Σ_j p_ij w_ij (y_i − y_j) over the sparse P, written into `attr`. Each pair is
 * stored once (i < j) and acts on both points with opposite signs.
 */
export function attraction(P: SparseP, y: Float64Array, n: number, dim: number, attr: Float64Array): void {
  const { rowPtr, cols, vals } = P;
  attr.fill(0);
  if (dim === 2) {
    // Two pairs per step share one division: with a = 1 + d_a², b = 1 + d_b² and r = 1 / (a·b),
    // 1/a = b·r and 1/b = a·r (a, b ≥ 1, so a·b neither underflows nor, for any embedding of
    // reasonable extent, overflows).
    for (let i = 0; i < n; i++) {
      const yx = y[2 * i]!;
      const yy = y[2 * i + 1]!;
      let fx = 0;
      let fy = 0;
      const end = rowPtr[i + 1]!;
      let p = rowPtr[i]!;
      for (; p + 1 < end; p += 2) {
        const j = cols[p]! << 1;
        const k = cols[p + 1]! << 1;
        const dx = yx - y[j]!;
        const dy = yy - y[j + 1]!;
        const ex = yx - y[k]!;
        const ey = yy - y[k + 1]!;
        const a = 1 + dx * dx + dy * dy;
        const b = 1 + ex * ex + ey * ey;
        const r = 1 / (a * b);
        const pw = vals[p]! * b * r;
        const qw = vals[p + 1]! * a * r;
        const gx = pw * dx;
        const gy = pw * dy;
        const hx = qw * ex;
        const hy = qw * ey;
        fx += gx + hx;
        fy += gy + hy;
        attr[j]! -= gx;
        attr[j + 1]! -= gy;
        attr[k]! -= hx;
        attr[k + 1]! -= hy;
      }
      if (p < end) {
        const j = cols[p]! << 1;
        const dx = yx - y[j]!;
        const dy = yy - y[j + 1]!;
        const pw = vals[p]! / (1 + dx * dx + dy * dy);
        const gx = pw * dx;
        const gy = pw * dy;
        fx += gx;
        fy += gy;
        attr[j]! -= gx;
        attr[j + 1]! -= gy;
      }
      attr[2 * i]! += fx;
      attr[2 * i + 1]! += fy;
    }
    return;
  }
  for (let i = 0; i < n; i++) {
    for (let p = rowPtr[i]!; p < rowPtr[i + 1]!; p++) {
      const j = cols[p]!;
      let d2 = 0;
      for (let t = 0; t < dim; t++) {
        const v = y[i * dim + t]! - y[j * dim + t]!;
        d2 += v * v;
      }
      const pw = vals[p]! / (1 + d2);
      for (let t = 0; t < dim; t++) {
        const g = pw * (y[i * dim + t]! - y[j * dim + t]!);
        attr[i * dim + t]! += g;
        attr[j * dim + t]! -= g;
      }
    }
  }
}

/** KL(P‖Q) = 2·Σ_{i<j} p_ij log(p_ij / q_ij) over the sparse P, with q_ij = w_ij / Z (Z from the tree or grid). */
export function sparseKl(P: SparseP, y: Float64Array, n: number, dim: number, z: number): number {
  const { rowPtr, cols, vals } = P;
  let kl = 0;
  for (let i = 0; i < n; i++) {
    for (let p = rowPtr[i]!; p < rowPtr[i + 1]!; p++) {
      const j = cols[p]!;
      let d2 = 0;
      for (let t = 0; t < dim; t++) {
        const v = y[i * dim + t]! - y[j * dim + t]!;
        d2 += v * v;
      }
      const pij = vals[p]!;
      if (pij <= 0) continue;
      const q = Math.max(1 / (1 + d2) / z, Number.MIN_VALUE);
      kl += pij * Math.log(pij / q);
    }
  }
  return 2 * kl;
}

/**
 * Barnes-Hut gradient: grad_i = 4 (α·attr_i − rep_i / Z).
 * @returns Z.
 */
export function bhGradient(P: SparseP, y: Float64Array, n: number, dim: number, theta: number, exaggeration: number, tree: SpaceTree, attr: Float64Array, rep: Float64Array, grad: Float64Array): number {
  attraction(P, y, n, dim, attr);
  tree.build(y);
  const z = tree.repulsion(theta, rep);
  const invZ = 1 / Math.max(z, Number.MIN_VALUE);
  for (let p = 0; p < n * dim; p++) grad[p] = 4 * (exaggeration * attr[p]! - rep[p]! * invZ);
  return z;
}

/**
 * FFT-interpolated gradient (FIt-SNE): grad_i = 4 (α·attr_i − rep_i / Z) with the repulsion and Z
 * from {@link InterpolationRepulsion}.
 * @returns Z.
 */
export function interpolationGradient(P: SparseP, y: Float64Array, n: number, dim: number, exaggeration: number, grid: InterpolationRepulsion, attr: Float64Array, rep: Float64Array, grad: Float64Array): number {
  attraction(P, y, n, dim, attr);
  const z = grid.repulsion(y, rep);
  const invZ = 1 / Math.max(z, Number.MIN_VALUE);
  for (let p = 0; p < n * dim; p++) grad[p] = 4 * (exaggeration * attr[p]! - rep[p]! * invZ);
  return z;
}

/**
 * Exact gradient over the dense P (n·n), written into `grad`.
 * @returns KL(P‖Q) (with P scaled by `exaggeration`, as optimised).
 */
export function exactGradient(P: Float64Array, y: Float64Array, n: number, dim: number, exaggeration: number, grad: Float64Array): number {
  const w = new Float64Array(n * n);
  let z = 0;
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      let d2 = 0;
      for (let t = 0; t < dim; t++) {
        const v = y[i * dim + t]! - y[j * dim + t]!;
        d2 += v * v;
      }
      const q = 1 / (1 + d2);
      w[i * n + j] = q;
      w[j * n + i] = q;
      z += 2 * q;
    }
  }
  grad.fill(0);
  let kl = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      if (j === i) continue;
      const wij = w[i * n + j]!;
      const pij = exaggeration * P[i * n + j]!;
      const qij = wij / z;
      if (pij > 0) kl += pij * Math.log(pij / Math.max(qij, Number.MIN_VALUE));
      const m = 4 * (pij - qij) * wij;
      for (let t = 0; t < dim; t++) grad[i * dim + t]! += m * (y[i * dim + t]! - y[j * dim + t]!);
    }
  }
  return kl;
}
