/**
 * defocus_blur's correlation as sums of row runs. ImageNet-C's kernel is a binary disk (normalised)
 * smoothed by a small Gaussian g ⊗ g on a grid with reflect-101 borders (`diskKernel`). Where the
 * smoothed disk stays inside that grid, the grid's border never touches it and the kernel is exactly
 * (g ⊗ g) ∗ disk, so the correlation is the Gaussian-smoothed image summed over the disk: per output,
 * one difference of prefix sums per disk row, 2·(2⌊r⌋ + 1) reads whatever the Gaussian, instead of one
 * multiply-add per kernel entry (29–169 at 224 px) or a zero-padded FFT.
 * @internal
 */
import type { BorderMode } from './linear.js';
import { padValues, type BatchShape } from './planes.js';

/** The structure of ImageNet-C's `disk(radius, alias)` kernel (see `diskKernel`). */
export interface DiskRuns {
  /** ⌊radius⌋: the disk's rows are dy = −reach…reach. */
  readonly reach: number;
  /** Half-widths of those rows: row dy covers dx = −halfWidths[dy + reach]…halfWidths[dy + reach]. */
  readonly halfWidths: Int32Array;
  /** Pixels in the disk (its normalisation). */
  readonly count: number;
  /**
   * The 1-D alias Gaussian (normalised, odd length, symmetric); [1] where its off-centre weights are
   * below 1e-10 of the centre's (σ = 0.1: 2e-22), as the direct sum drops such kernel entries.
   */
  readonly gauss: Float64Array;
  /**
   * Whether the grid's reflect-101 border leaves the smoothed disk alone (no disk row or column within
   * gr + 1 of the grid's edge, or no Gaussian): then the kernel is exactly (g ⊗ g) ∗ disk.
   */
  readonly inside: boolean;
}

/**
 * The disk, Gaussian and grid of `diskKernel(radius, alias, pixelScale)`: the indicator of
 * X² + Y² ≤ r² on a grid of half-width max(8, r) (scaled), a 3-tap (r ≤ 8) or 5-tap Gaussian of σ = alias.
 */
export function diskRuns(radius: number, alias: number, pixelScale: number): DiskRuns {
  const small = radius <= 8 * pixelScale;
  const half = small ? Math.ceil(8 * pixelScale) : Math.ceil(radius);
  const reach = Math.min(half, Math.floor(radius));
  const halfWidths = new Int32Array(2 * reach + 1);
  let count = 0;
  for (let dy = -reach; dy <= reach; dy++) {
    let a = 0;
    while (a + 1 <= half && (a + 1) * (a + 1) + dy * dy <= radius * radius) a++;
    halfWidths[dy + reach] = a;
    count += 2 * a + 1;
  }
  const ks = small ? 3 : 5;
  const weights: number[] = [];
  for (let i = 0; i < ks; i++) {
    const d = i - (ks - 1) / 2;
    weights.push(Math.exp(-(d * d) / (2 * alias * alias)));
  }
  const total = weights.reduce((a, b) => a + b, 0);
  const centre = weights[(ks - 1) / 2]!;
  // weights below 1e-10 of the centre only at the ends (they fall off with |d|)
  let lo = 0;
  while (lo < (ks - 1) / 2 && weights[lo]! < 1e-10 * centre) lo++;
  const gauss = Float64Array.from(weights.slice(lo, ks - lo), (v) => v / total);
  const gr = (gauss.length - 1) / 2;
  // reflect-101 on the grid reads index k for −k: disk rows within gr + 1 of the grid's edge would be
  // smoothed with folded weights (with no Gaussian nothing is folded)
  return { reach, halfWidths, count, gauss, inside: gr === 0 || reach + gr < half };
}

/**
 * One pass of four disk rows over an output row: for i < 4, `S` read at `p[t + i] + j` minus at
 * `m[t + i] + j` (a run's sum from prefix sums), summed into `acc` (set on the first pass, t = 0, added
 * after).
 */
function fourRuns(S: Float64Array, p: Int32Array, m: Int32Array, t: number, acc: Float64Array, len: number): void {
  const p0 = p[t]!, p1 = p[t + 1]!, p2 = p[t + 2]!, p3 = p[t + 3]!;
  const m0 = m[t]!, m1 = m[t + 1]!, m2 = m[t + 2]!, m3 = m[t + 3]!;
  if (t === 0) {
    for (let j = 0; j < len; j++) acc[j] = S[p0 + j]! - S[m0 + j]! + (S[p1 + j]! - S[m1 + j]!) + (S[p2 + j]! - S[m2 + j]! + (S[p3 + j]! - S[m3 + j]!));
  } else {
    for (let j = 0; j < len; j++) acc[j] = acc[j]! + (S[p0 + j]! - S[m0 + j]! + (S[p1 + j]! - S[m1 + j]!) + (S[p2 + j]! - S[m2 + j]! + (S[p3 + j]! - S[m3 + j]!)));
  }
}

/** {@link fourRuns} over eight disk rows (one pass over `acc` instead of two). */
function eightRuns(S: Float64Array, p: Int32Array, m: Int32Array, t: number, acc: Float64Array, len: number): void {
  const p0 = p[t]!, p1 = p[t + 1]!, p2 = p[t + 2]!, p3 = p[t + 3]!, p4 = p[t + 4]!, p5 = p[t + 5]!, p6 = p[t + 6]!, p7 = p[t + 7]!;
  const m0 = m[t]!, m1 = m[t + 1]!, m2 = m[t + 2]!, m3 = m[t + 3]!, m4 = m[t + 4]!, m5 = m[t + 5]!, m6 = m[t + 6]!, m7 = m[t + 7]!;
  if (t === 0) {
    for (let j = 0; j < len; j++) acc[j] = S[p0 + j]! - S[m0 + j]! + (S[p1 + j]! - S[m1 + j]!) + (S[p2 + j]! - S[m2 + j]! + (S[p3 + j]! - S[m3 + j]!)) + (S[p4 + j]! - S[m4 + j]! + (S[p5 + j]! - S[m5 + j]!) + (S[p6 + j]! - S[m6 + j]! + (S[p7 + j]! - S[m7 + j]!)));
  } else {
    for (let j = 0; j < len; j++) acc[j] = acc[j]! + (S[p0 + j]! - S[m0 + j]! + (S[p1 + j]! - S[m1 + j]!) + (S[p2 + j]! - S[m2 + j]! + (S[p3 + j]! - S[m3 + j]!)) + (S[p4 + j]! - S[m4 + j]! + (S[p5 + j]! - S[m5 + j]!) + (S[p6 + j]! - S[m6 + j]! + (S[p7 + j]! - S[m7 + j]!))));
  }
}

/**
 * The last pass: the remaining `k` (1–5, or up to 8 when it is the only pass) disk rows from `t` on, added to `acc` (when t > 0) and
 * written to `out` at `to`, clipped to [0, 1]. Rows past k read p − p = 0.
 */
function lastRuns(S: Float64Array, p: Int32Array, m: Int32Array, t: number, k: number, acc: Float64Array, out: Float32Array, to: number, len: number): void {
  const p0 = p[t]!, m0 = m[t]!;
  const p1 = k > 1 ? p[t + 1]! : p0, m1 = k > 1 ? m[t + 1]! : p0;
  const p2 = k > 2 ? p[t + 2]! : p0, m2 = k > 2 ? m[t + 2]! : p0;
  const p3 = k > 3 ? p[t + 3]! : p0, m3 = k > 3 ? m[t + 3]! : p0;
  const p4 = k > 4 ? p[t + 4]! : p0, m4 = k > 4 ? m[t + 4]! : p0;
  if (t === 0 && k > 5) {
    // up to eight rows in one pass, straight to the output
    const p5 = k > 5 ? p[5]! : p0, m5 = k > 5 ? m[5]! : p0;
    const p6 = k > 6 ? p[6]! : p0, m6 = k > 6 ? m[6]! : p0;
    const p7 = k > 7 ? p[7]! : p0, m7 = k > 7 ? m[7]! : p0;
    for (let j = 0; j < len; j++) out[to + j] = Math.min(1, Math.max(0, S[p0 + j]! - S[m0 + j]! + (S[p1 + j]! - S[m1 + j]!) + (S[p2 + j]! - S[m2 + j]! + (S[p3 + j]! - S[m3 + j]!)) + (S[p4 + j]! - S[m4 + j]! + (S[p5 + j]! - S[m5 + j]!) + (S[p6 + j]! - S[m6 + j]! + (S[p7 + j]! - S[m7 + j]!)))));
  } else if (t === 0 && k <= 4) {
    for (let j = 0; j < len; j++) out[to + j] = Math.min(1, Math.max(0, S[p0 + j]! - S[m0 + j]! + (S[p1 + j]! - S[m1 + j]!) + (S[p2 + j]! - S[m2 + j]! + (S[p3 + j]! - S[m3 + j]!))));
  } else if (t === 0) {
    for (let j = 0; j < len; j++) out[to + j] = Math.min(1, Math.max(0, S[p0 + j]! - S[m0 + j]! + (S[p1 + j]! - S[m1 + j]!) + (S[p2 + j]! - S[m2 + j]! + (S[p3 + j]! - S[m3 + j]!)) + (S[p4 + j]! - S[m4 + j]!)));
  } else if (k <= 3) {
    for (let j = 0; j < len; j++) out[to + j] = Math.min(1, Math.max(0, acc[j]! + (S[p0 + j]! - S[m0 + j]! + (S[p1 + j]! - S[m1 + j]!) + (S[p2 + j]! - S[m2 + j]!))));
  } else if (k === 4) {
    for (let j = 0; j < len; j++) out[to + j] = Math.min(1, Math.max(0, acc[j]! + (S[p0 + j]! - S[m0 + j]! + (S[p1 + j]! - S[m1 + j]!) + (S[p2 + j]! - S[m2 + j]! + (S[p3 + j]! - S[m3 + j]!)))));
  } else {
    for (let j = 0; j < len; j++) out[to + j] = Math.min(1, Math.max(0, acc[j]! + (S[p0 + j]! - S[m0 + j]! + (S[p1 + j]! - S[m1 + j]!) + (S[p2 + j]! - S[m2 + j]! + (S[p3 + j]! - S[m3 + j]!)) + (S[p4 + j]! - S[m4 + j]!))));
  }
}

/**
 * Prefix sums along one row of the Gaussian-smoothed image: `S[so + c + j] = S[so + j] + v_j` for
 * j < len, v_j = Σₜ gₜ·W[j + t·c] (the horizontal pass), `S[so + k] = 0` for k < c.
 */
function prefixRow(S: Float64Array, so: number, W: Float64Array, g: Float64Array, c: number, len: number): void {
  for (let k = 0; k < c; k++) S[so + k] = 0;
  const o = so + c;
  if (g.length === 1) {
    for (let j = 0; j < len; j++) S[o + j] = S[so + j]! + W[j]!;
  } else if (g.length === 3) {
    const g0 = g[0]!, g1 = g[1]!;
    const c2 = 2 * c;
    for (let j = 0; j < len; j++) S[o + j] = S[so + j]! + (g1 * W[j + c]! + g0 * (W[j]! + W[j + c2]!));
  } else if (g.length === 5) {
    const g0 = g[0]!, g1 = g[1]!, g2 = g[2]!;
    const c2 = 2 * c, c3 = 3 * c, c4 = 4 * c;
    for (let j = 0; j < len; j++) S[o + j] = S[so + j]! + (g2 * W[j + c2]! + g1 * (W[j + c]! + W[j + c3]!) + g0 * (W[j]! + W[j + c4]!));
  } else {
    for (let j = 0; j < len; j++) {
      let v = 0;
      for (let t = 0; t < g.length; t++) v += g[t]! * W[j + t * c]!;
      S[o + j] = S[so + j]! + v;
    }
  }
}

/**
 * {@link verticalRow} and {@link prefixRow} in one pass for RGB and a 3-tap Gaussian: per pixel, the
 * vertical sums of the newest padded column (x + 2), the horizontal sum over columns x…x + 2 kept in
 * locals, and the running prefix sums of the three channels in locals.
 */
function smoothPrefixRgb3(S: Float64Array, so: number, P: Float32Array, from: number, pw: number, g: Float64Array, scale: number, pixels: number): void {
  const v0 = scale * g[0]!, v1 = scale * g[1]!;
  const g0 = g[0]!, g1 = g[1]!;
  const r1 = from + pw, r2 = from + 2 * pw;
  // vertical sums of padded columns 0 and 1
  let a0 = v1 * P[r1]! + v0 * (P[from]! + P[r2]!);
  let a1 = v1 * P[r1 + 1]! + v0 * (P[from + 1]! + P[r2 + 1]!);
  let a2 = v1 * P[r1 + 2]! + v0 * (P[from + 2]! + P[r2 + 2]!);
  let b0 = v1 * P[r1 + 3]! + v0 * (P[from + 3]! + P[r2 + 3]!);
  let b1 = v1 * P[r1 + 4]! + v0 * (P[from + 4]! + P[r2 + 4]!);
  let b2 = v1 * P[r1 + 5]! + v0 * (P[from + 5]! + P[r2 + 5]!);
  let s0 = 0, s1 = 0, s2 = 0;
  S[so] = 0;
  S[so + 1] = 0;
  S[so + 2] = 0;
  for (let x = 0; x < pixels; x++) {
    const q = 3 * x + 6;
    const c0 = v1 * P[r1 + q]! + v0 * (P[from + q]! + P[r2 + q]!);
    const c1 = v1 * P[r1 + q + 1]! + v0 * (P[from + q + 1]! + P[r2 + q + 1]!);
    const c2 = v1 * P[r1 + q + 2]! + v0 * (P[from + q + 2]! + P[r2 + q + 2]!);
    s0 += g1 * b0 + g0 * (a0 + c0);
    s1 += g1 * b1 + g0 * (a1 + c1);
    s2 += g1 * b2 + g0 * (a2 + c2);
    const o = so + 3 * x + 3;
    S[o] = s0;
    S[o + 1] = s1;
    S[o + 2] = s2;
    a0 = b0;
    a1 = b1;
    a2 = b2;
    b0 = c0;
    b1 = c1;
    b2 = c2;
  }
}

/** {@link prefixRow} without a Gaussian: `S[so + c + j] = S[so + j] + scale·P[from + j]`. */
function prefixScaled(S: Float64Array, so: number, P: Float32Array, from: number, scale: number, c: number, len: number): void {
  for (let k = 0; k < c; k++) S[so + k] = 0;
  const o = so + c;
  for (let j = 0; j < len; j++) S[o + j] = S[so + j]! + scale * P[from + j]!;
}

/**
 * The vertical pass of one smoothed row, scaled: W[j] = Σₜ gₜ·scale·P[from + t·pw + j] for j < len.
 */
function verticalRow(W: Float64Array, P: Float32Array, from: number, pw: number, g: Float64Array, scale: number, len: number): void {
  if (g.length === 1) {
    for (let j = 0; j < len; j++) W[j] = scale * P[from + j]!;
  } else if (g.length === 3) {
    const g0 = scale * g[0]!, g1 = scale * g[1]!;
    const r1 = from + pw, r2 = from + 2 * pw;
    for (let j = 0; j < len; j++) W[j] = g1 * P[r1 + j]! + g0 * (P[from + j]! + P[r2 + j]!);
  } else if (g.length === 5) {
    const g0 = scale * g[0]!, g1 = scale * g[1]!, g2 = scale * g[2]!;
    const r1 = from + pw, r2 = from + 2 * pw, r3 = from + 3 * pw, r4 = from + 4 * pw;
    for (let j = 0; j < len; j++) W[j] = g2 * P[r2 + j]! + g1 * (P[r1 + j]! + P[r3 + j]!) + g0 * (P[from + j]! + P[r4 + j]!);
  } else {
    for (let j = 0; j < len; j++) {
      let v = 0;
      for (let t = 0; t < g.length; t++) v += g[t]! * P[from + t * pw + j]!;
      W[j] = scale * v;
    }
  }
}

/**
 * The correlation of every channel of an NHWC batch with (g ⊗ g) ∗ disk / count, any border rule
 * (cv2.filter2D semantics, as `correlate2d` with that kernel), clipped to [0, 1]. Each image is
 * padded once; its smoothed rows are produced one at a time as prefix sums (double precision) into a
 * ring of 2·reach + 1 rows, and every output row sums one run per disk row, four rows a pass.
 * Requires `runs.inside` for the result to equal `diskKernel`'s correlation.
 * @returns a new array of the same shape.
 */
export function diskSums(src: Float32Array, s: BatchShape, runs: DiskRuns, mode: BorderMode): Float32Array {
  const { n, h, w, c } = s;
  const { reach, halfWidths, gauss } = runs;
  const gr = (gauss.length - 1) / 2;
  const pad = reach + gr;
  const pw = (w + 2 * pad) * c;
  const len = (w + 2 * reach) * c; // smoothed columns −reach…w − 1 + reach
  const sw = len + c;
  const ring = 2 * reach + 1;
  const S = new Float64Array(ring * sw);
  const W = new Float64Array(pw);
  const row = w * c;
  const acc = new Float64Array(row);
  const out = new Float32Array(n * h * row);
  // passes of eight and four rows, then a last one of the remaining 2–5 (a disk of up to eight rows:
  // one pass)
  const full = ring <= 8 ? 0 : Math.floor((ring - 2) / 4);
  const p = new Int32Array(ring);
  const m = new Int32Array(ring);
  const scale = 1 / runs.count;
  const image = h * w * c;
  // one padded image at a time, in the same buffer (zeros outside the image stay zero for 'zeros')
  const P = new Float32Array((h + 2 * pad) * pw);
  for (let b = 0; b < n; b++) {
    padValues(src.subarray(b * image, (b + 1) * image), { n: 1, h, w, c }, pad, pad, mode, P);
    for (let r = 0; r < h + 2 * reach; r++) {
      // smoothed row r (image row r − reach) from padded rows r…r + 2·gr
      if (gr === 0) prefixScaled(S, (r % ring) * sw, P, r * pw, scale, c, len);
      else if (gr === 1 && c === 3) smoothPrefixRgb3(S, (r % ring) * sw, P, r * pw, pw, gauss, scale, w + 2 * reach);
      else {
        verticalRow(W, P, r * pw, pw, gauss, scale, pw);
        prefixRow(S, (r % ring) * sw, W, gauss, c, len);
      }
      const y = r - 2 * reach;
      if (y < 0) continue;
      // output row y: disk row dy reads smoothed row y + dy, columns x − a…x + a
      for (let i = 0; i < ring; i++) {
        const a = halfWidths[i]!;
        const base = ((y + i) % ring) * sw;
        p[i] = base + (reach + a + 1) * c;
        m[i] = base + (reach - a) * c;
      }
      let t = 0;
      for (; t + 1 < full; t += 2) eightRuns(S, p, m, 4 * t, acc, row);
      for (; t < full; t++) fourRuns(S, p, m, 4 * t, acc, row);
      lastRuns(S, p, m, 4 * full, ring - 4 * full, acc, out, (b * h + y) * row, row);
    }
  }
  return out;
}
