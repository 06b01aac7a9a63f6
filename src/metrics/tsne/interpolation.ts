/**
 * The repulsive half of the t-SNE gradient by polynomial interpolation and FFT convolution
 * (FIt-SNE: Linderman, Rachh, Hoskins, Steinerberger & Kluger, Nature Methods 16, 2019; the
 * variant openTSNE implements, Poličar, Stražar & Zupan 2019).
 *
 * With w_ij = 1 / (1 + ‖y_i − y_j‖²), the repulsion needs, for every point i,
 *   φ_t(y_i) = Σ_j w_ij² · q_t(y_j),   q = (1, y⁽¹⁾, y⁽²⁾, ‖y‖²)   (2-D; 1-D: (1, y, y²)),
 * because Σ_j w_ij² (y_i − y_j) = y_i·φ_1 − (φ_{y⁽¹⁾}, φ_{y⁽²⁾}) and, since w = w²·(1 + ‖y_i − y_j‖²),
 *   Z = Σ_{i≠j} w_ij = Σ_i [(1 + ‖y_i‖²)·φ_1 − 2·y_i·(φ_{y⁽¹⁾}, φ_{y⁽²⁾}) + φ_{‖y‖²}](y_i) − N
 * (the N removes the self-interactions w_ii = 1). The sums are N-body sums with the smooth kernel
 * K = w², evaluated in three steps:
 * 1. a square grid of `intervals` boxes per axis covers the embedding (its origin snapped down to a
 *    multiple of the box width), each box holding p equispaced interpolation nodes per axis at
 *    (k + ½)/p of the box (k < p); every point spreads its charges q_t onto the p² nodes of its box
 *    with the Lagrange weights of its position;
 * 2. the node potentials are the convolution of the node charges with K evaluated at the node
 *    offsets: a Toeplitz product on the regular node grid, computed by FFT on a circulant embedding;
 * 3. each point gathers the potentials of its box's nodes with the same Lagrange weights.
 * The cost is O(N·p²) for the spreading and gathering plus O(G log G) for the FFT on G = (2·p·intervals)²
 * grid points, instead of Barnes-Hut's O(N log N) tree walks.
 *
 * Boxes have width `intervalWidth` once the embedding is wider than `minIntervals · intervalWidth`
 * (openTSNE's `ints_in_interval` = 1 and `min_num_intervals` = 50 by default); a smaller embedding gets
 * `minIntervals` (or a few more) boxes whose width is taken from a ladder of 2^(1/8) steps, so that the
 * kernel's spectrum is only recomputed when the grid changes. Box counts are rounded up to 5-smooth
 * numbers (fast FFT lengths) and capped at `maxIntervals`, beyond which boxes widen.
 * Coordinates are taken relative to the grid's centre, which keeps the cancellation in Z small.
 * @internal
 */
import { Convolution1d, Convolution2d, nextSmooth } from './fft.js';

/** Settings of the interpolation grid. */
export interface InterpolationSettings {
  /** Interpolation nodes per box and axis, p. */
  interpolationPoints: number;
  /** Smallest number of boxes per axis. */
  minIntervals: number;
  /** Width of a box in embedding units once the embedding is large enough. */
  intervalWidth: number;
  /** Largest number of boxes per axis (memory: (2·p·maxIntervals)² grid values). */
  maxIntervals: number;
}

const LADDER = 8; // steps per octave of the box-width ladder

/** Nodes (k + ½)/p of the unit box and the Lagrange denominators Π_{l≠k} (t_k − t_l). */
function nodes(p: number): { t: Float64Array; denom: Float64Array } {
  const t = new Float64Array(p);
  for (let k = 0; k < p; k++) t[k] = (k + 0.5) / p;
  const denom = new Float64Array(p);
  for (let k = 0; k < p; k++) {
    let d = 1;
    for (let l = 0; l < p; l++) if (l !== k) d *= t[k]! - t[l]!;
    denom[k] = d;
  }
  return { t, denom };
}

/** Writes the p Lagrange basis values at u into out[off ..]. */
function lagrange(u: number, t: Float64Array, denom: Float64Array, p: number, out: Float64Array, off: number): void {
  for (let k = 0; k < p; k++) {
    let v = 1;
    for (let l = 0; l < p; l++) if (l !== k) v *= u - t[l]!;
    out[off + k] = v / denom[k]!;
  }
}

/**
 * Chooses the boxes for an embedding of extent `side`: their number per axis and their width.
 */
export function chooseGrid(side: number, s: InterpolationSettings): { intervals: number; width: number } {
  const extent = Math.max(side, 1e-12);
  let width = s.intervalWidth;
  if (extent < s.minIntervals * width) {
    // the largest ladder width ≤ extent / minIntervals
    const steps = Math.floor(LADDER * Math.log2(extent / s.minIntervals / s.intervalWidth));
    width = s.intervalWidth * 2 ** (steps / LADDER);
    while (width * s.minIntervals > extent) width /= 2 ** (1 / LADDER); // guard rounding of log2
  }
  let intervals = nextSmooth(Math.max(s.minIntervals, Math.ceil(extent / width - 1e-9)));
  if (intervals > s.maxIntervals) {
    intervals = s.maxIntervals;
    width = extent / intervals;
  }
  // the last point must fall inside the grid
  if (intervals * width < extent) width = extent / intervals;
  return { intervals, width };
}

/**
 * Repulsive forces of t-SNE by interpolation on a grid, for 1-D and 2-D embeddings.
 */
export class InterpolationRepulsion {
  private readonly p: number;
  private readonly t: Float64Array;
  private readonly denom: Float64Array;
  /** Offset of each point's first node in the grid arrays. */
  private readonly cell: Int32Array;
  private readonly wx: Float64Array;
  private readonly wy: Float64Array;
  private conv2: Convolution2d | undefined;
  private conv1: Convolution1d | undefined;
  /** Charges, then potentials: (1, x) in aRe/aIm and (y, x² + y²) in bRe/bIm (1-D: (1, x), (x², —)). */
  private aRe = new Float64Array(0);
  private aIm = new Float64Array(0);
  private bRe = new Float64Array(0);
  private bIm = new Float64Array(0);
  private kernelWidth = Number.NaN;
  /** Boxes per axis in the last call. */
  intervals = 0;

  constructor(readonly n: number, readonly dim: number, readonly settings: InterpolationSettings) {
    if (dim !== 1 && dim !== 2) throw new RangeError(`InterpolationRepulsion: 1 or 2 dimensions, received ${dim}`);
    const p = settings.interpolationPoints;
    this.p = p;
    ({ t: this.t, denom: this.denom } = nodes(p));
    this.cell = new Int32Array(n);
    this.wx = new Float64Array(n * p);
    this.wy = dim === 2 ? new Float64Array(n * p) : new Float64Array(0);
  }

  /**
   * Writes Σ_j w_ij² (y_i − y_j) (unnormalised) into `rep` and returns Z = Σ_i Σ_{j≠i} w_ij, both
   * interpolated: the same contract as the Barnes-Hut tree's `repulsion`.
   */
  repulsion(y: Float64Array, rep: Float64Array): number {
    return this.dim === 2 ? this.repulsion2(y, rep) : this.repulsion1(y, rep);
  }

  /**
   * The boxes for this iteration: {@link chooseGrid}'s width, with the grid's origin snapped down to
   * a multiple of the width on each axis (so the nodes stay where they are while the points move and
   * the width is unchanged, instead of following the smallest coordinate: the interpolation error a
   * point sees then changes with its own position, not with the extreme points'), and enough boxes
   * to reach the largest coordinate from the snapped origin.
   */
  private grid(mins: number[], maxs: number[]): { intervals: number; width: number } {
    let side = 0;
    for (let a = 0; a < mins.length; a++) side = Math.max(side, maxs[a]! - mins[a]!);
    let { intervals, width } = chooseGrid(side, this.settings);
    let reach = 0;
    for (let a = 0; a < mins.length; a++) reach = Math.max(reach, maxs[a]! - Math.floor(mins[a]! / width) * width);
    const need = Math.max(intervals, Math.ceil(reach / width - 1e-9));
    if (need > intervals) {
      if (nextSmooth(need) <= this.settings.maxIntervals) intervals = nextSmooth(need);
      else {
        // at the cap: widen the boxes so that the extent plus one box of snapping fits
        intervals = this.settings.maxIntervals;
        width = (side / (intervals - 1)) * (1 + 1e-12) + 1e-300;
      }
    }
    // Hysteresis: keep the previous grid while it still covers the points and is at most 25 % larger
    // than needed, so that an extent hovering at a box boundary does not rebuild the grid and its
    // kernel spectrum every iteration.
    if (width === this.kernelWidth && this.intervals >= need && this.intervals <= Math.ceil(1.25 * need)) intervals = this.intervals;
    this.intervals = intervals;
    return { intervals, width };
  }

  /** (Re)allocates the grid arrays for `cells` values each and zeroes them. */
  private grids(cells: number): void {
    if (this.aRe.length !== cells) {
      this.aRe = new Float64Array(cells);
      this.aIm = new Float64Array(cells);
      this.bRe = new Float64Array(cells);
      this.bIm = new Float64Array(cells);
      return;
    }
    this.aRe.fill(0);
    this.aIm.fill(0);
    this.bRe.fill(0);
    this.bIm.fill(0);
  }

  private repulsion2(y: Float64Array, rep: Float64Array): number {
    const { n, p, t, denom, cell, wx, wy } = this;
    let minX = Infinity, maxX = -Infinity, minY = Infinity, maxY = -Infinity;
    for (let i = 0; i < n; i++) {
      const a = y[2 * i]!, b = y[2 * i + 1]!;
      if (a < minX) minX = a;
      if (a > maxX) maxX = a;
      if (b < minY) minY = b;
      if (b > maxY) maxY = b;
    }
    const { intervals: nb, width } = this.grid([minX, minY], [maxX, maxY]);
    minX = Math.floor(minX / width) * width;
    minY = Math.floor(minY / width) * width;
    const m = nb * p;
    const L = nextSmooth(2 * m);
    if (!this.conv2 || this.conv2.m !== m || this.conv2.size !== L) {
      this.conv2 = new Convolution2d(m, L);
      this.kernelWidth = Number.NaN;
    }
    const conv = this.conv2;
    if (width !== this.kernelWidth) {
      const h = width / p; // node spacing
      conv.setKernel((dx, dy) => {
        const w = 1 / (1 + h * h * (dx * dx + dy * dy));
        return w * w;
      });
      this.kernelWidth = width;
    }
    this.grids(m * L);
    const { aRe, aIm, bRe, bIm } = this;
    // box of each point and its Lagrange weights; charges relative to the grid's centre
    const half = (nb * width) / 2;
    const cx = minX + half;
    const cy = minY + half;
    const inv = 1 / width;
    if (p === 3) this.spread3(y, cx, cy, minX, minY, inv, nb, L);
    else {
      for (let i = 0; i < n; i++) {
        const xr = y[2 * i]! - cx;
        const yr = y[2 * i + 1]! - cy;
        const gx = (y[2 * i]! - minX) * inv;
        const gy = (y[2 * i + 1]! - minY) * inv;
        let bx = Math.floor(gx);
        let by = Math.floor(gy);
        if (bx >= nb) bx = nb - 1;
        if (by >= nb) by = nb - 1;
        const c0 = by * p * L + bx * p;
        cell[i] = c0;
        lagrange(gx - bx, t, denom, p, wx, i * p);
        lagrange(gy - by, t, denom, p, wy, i * p);
        const r2 = xr * xr + yr * yr;
        for (let r = 0; r < p; r++) {
          const wr = wy[i * p + r]!;
          const base = c0 + r * L;
          for (let c = 0; c < p; c++) {
            const w = wr * wx[i * p + c]!;
            const g = base + c;
            aRe[g]! += w;
            aIm[g]! += w * xr;
            bRe[g]! += w * yr;
            bIm[g]! += w * r2;
          }
        }
      }
    }
    conv.convolve(aRe, aIm);
    conv.convolve(bRe, bIm);
    if (p === 3) return this.gather3(y, cx, cy, L, rep) - n;
    let z = 0;
    for (let i = 0; i < n; i++) {
      const c0 = cell[i]!;
      let p1 = 0, px = 0, py = 0, pr = 0;
      for (let r = 0; r < p; r++) {
        const wr = wy[i * p + r]!;
        const base = c0 + r * L;
        for (let c = 0; c < p; c++) {
          const w = wr * wx[i * p + c]!;
          const g = base + c;
          p1 += w * aRe[g]!;
          px += w * aIm[g]!;
          py += w * bRe[g]!;
          pr += w * bIm[g]!;
        }
      }
      const xr = y[2 * i]! - cx;
      const yr = y[2 * i + 1]! - cy;
      z += (1 + xr * xr + yr * yr) * p1 - 2 * (xr * px + yr * py) + pr;
      rep[2 * i] = xr * p1 - px;
      rep[2 * i + 1] = yr * p1 - py;
    }
    return z - n;
  }

  /**
   * Spreading for p = 3 (the default), unrolled: the Lagrange weights of the nodes 1/6, 1/2, 5/6 in
   * closed form, L₀(u) = 4.5(u − ½)(u − ⅚), L₁(u) = −9(u − ⅙)(u − ⅚), L₂(u) = 4.5(u − ⅙)(u − ½),
   * stored for the gathering.
   */
  private spread3(y: Float64Array, cx: number, cy: number, minX: number, minY: number, inv: number, nb: number, L: number): void {
    const { n, cell, wx, wy, aRe, aIm, bRe, bIm } = this;
    for (let i = 0; i < n; i++) {
      const yx = y[2 * i]!;
      const yy = y[2 * i + 1]!;
      const xr = yx - cx;
      const yr = yy - cy;
      const gx = (yx - minX) * inv;
      const gy = (yy - minY) * inv;
      let bx = Math.floor(gx);
      let by = Math.floor(gy);
      if (bx >= nb) bx = nb - 1;
      if (by >= nb) by = nb - 1;
      const c0 = by * 3 * L + bx * 3;
      cell[i] = c0;
      const u = gx - bx;
      const v = gy - by;
      const u0 = u - 1 / 6, u1 = u - 0.5, u2 = u - 5 / 6;
      const v0 = v - 1 / 6, v1 = v - 0.5, v2 = v - 5 / 6;
      const x0 = 4.5 * u1 * u2, x1 = -9 * u0 * u2, x2 = 4.5 * u0 * u1;
      const w0 = 4.5 * v1 * v2, w1 = -9 * v0 * v2, w2 = 4.5 * v0 * v1;
      wx[3 * i] = x0; wx[3 * i + 1] = x1; wx[3 * i + 2] = x2;
      wy[3 * i] = w0; wy[3 * i + 1] = w1; wy[3 * i + 2] = w2;
      const r2 = xr * xr + yr * yr;
      for (let r = 0; r < 3; r++) {
        const wr = r === 0 ? w0 : r === 1 ? w1 : w2;
        const g = c0 + r * L;
        const a0 = wr * x0, a1 = wr * x1, a2 = wr * x2;
        aRe[g]! += a0; aRe[g + 1]! += a1; aRe[g + 2]! += a2;
        aIm[g]! += a0 * xr; aIm[g + 1]! += a1 * xr; aIm[g + 2]! += a2 * xr;
        bRe[g]! += a0 * yr; bRe[g + 1]! += a1 * yr; bRe[g + 2]! += a2 * yr;
        bIm[g]! += a0 * r2; bIm[g + 1]! += a1 * r2; bIm[g + 2]! += a2 * r2;
      }
    }
  }

  /** Gathering for p = 3 with the weights {@link spread3} stored; writes the forces and returns Z + N. */
  private gather3(y: Float64Array, cx: number, cy: number, L: number, rep: Float64Array): number {
    const { n, cell, wx, wy, aRe, aIm, bRe, bIm } = this;
    let z = 0;
    for (let i = 0; i < n; i++) {
      const c0 = cell[i]!;
      const x0 = wx[3 * i]!, x1 = wx[3 * i + 1]!, x2 = wx[3 * i + 2]!;
      let p1 = 0, px = 0, py = 0, pr = 0;
      for (let r = 0; r < 3; r++) {
        const wr = wy[3 * i + r]!;
        const g = c0 + r * L;
        const a0 = wr * x0, a1 = wr * x1, a2 = wr * x2;
        p1 += a0 * aRe[g]! + a1 * aRe[g + 1]! + a2 * aRe[g + 2]!;
        px += a0 * aIm[g]! + a1 * aIm[g + 1]! + a2 * aIm[g + 2]!;
        py += a0 * bRe[g]! + a1 * bRe[g + 1]! + a2 * bRe[g + 2]!;
        pr += a0 * bIm[g]! + a1 * bIm[g + 1]! + a2 * bIm[g + 2]!;
      }
      const xr = y[2 * i]! - cx;
      const yr = y[2 * i + 1]! - cy;
      z += (1 + xr * xr + yr * yr) * p1 - 2 * (xr * px + yr * py) + pr;
      rep[2 * i] = xr * p1 - px;
      rep[2 * i + 1] = yr * p1 - py;
    }
    return z;
  }

  private repulsion1(y: Float64Array, rep: Float64Array): number {
    const { n, p, t, denom, cell, wx } = this;
    let minX = Infinity, maxX = -Infinity;
    for (let i = 0; i < n; i++) {
      const a = y[i]!;
      if (a < minX) minX = a;
      if (a > maxX) maxX = a;
    }
    const { intervals: nb, width } = this.grid([minX], [maxX]);
    minX = Math.floor(minX / width) * width;
    const m = nb * p;
    const L = nextSmooth(2 * m);
    if (!this.conv1 || this.conv1.m !== m || this.conv1.size !== L) {
      this.conv1 = new Convolution1d(m, L);
      this.kernelWidth = Number.NaN;
    }
    const conv = this.conv1;
    if (width !== this.kernelWidth) {
      const h = width / p;
      conv.setKernel((d) => {
        const w = 1 / (1 + h * h * d * d);
        return w * w;
      });
      this.kernelWidth = width;
    }
    this.grids(L);
    const { aRe, aIm, bRe } = this;
    const cx = minX + (nb * width) / 2;
    const inv = 1 / width;
    for (let i = 0; i < n; i++) {
      const xr = y[i]! - cx;
      const g = (y[i]! - minX) * inv;
      let b = Math.floor(g);
      if (b >= nb) b = nb - 1;
      cell[i] = b * p;
      lagrange(g - b, t, denom, p, wx, i * p);
      for (let c = 0; c < p; c++) {
        const w = wx[i * p + c]!;
        aRe[b * p + c]! += w;
        aIm[b * p + c]! += w * xr;
        bRe[b * p + c]! += w * xr * xr;
      }
    }
    conv.convolve(aRe, aIm);
    conv.convolve(bRe, this.bIm);
    let z = 0;
    for (let i = 0; i < n; i++) {
      const base = cell[i]!;
      let p1 = 0, px = 0, pr = 0;
      for (let c = 0; c < p; c++) {
        const w = wx[i * p + c]!;
        p1 += w * aRe[base + c]!;
        px += w * aIm[base + c]!;
        pr += w * bRe[base + c]!;
      }
      const xr = y[i]! - cx;
      z += (1 + xr * xr) * p1 - 2 * xr * px + pr;
      rep[i] = xr * p1 - px;
    }
    return z - n;
  }
}
