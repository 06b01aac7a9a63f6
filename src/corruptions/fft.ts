/**
 * A radix-2 complex FFT on split real/imaginary Float64Arrays (`fft`, one sequence) and the FFT-based
 * 2-D correlation that defocus_blur uses for its large disk kernels (cv2.filter2D switches to the DFT
 * for the same reason), whose transforms run on whole rows at a time, two radix-2 stages per pass,
 * spectra in bit-reversed order. Results agree with the direct sum to ~1e-15 relative.
 * @internal
 */
import type { BatchShape } from './planes.js';
import { foldIndex, type BorderMode } from './linear.js';

export interface Plan {
  readonly size: number;
  readonly reverse: Uint32Array;
  readonly cos: Float64Array;
  readonly sin: Float64Array;
}

const PLANS = new Map<number, Plan>();

/** Bit-reversal permutation and twiddles for a power-of-two size. */
export function planOf(size: number): Plan {
  let plan = PLANS.get(size);
  if (plan) return plan;
  const bits = Math.round(Math.log2(size));
  const reverse = new Uint32Array(size);
  for (let i = 0; i < size; i++) {
    let r = 0;
    for (let b = 0; b < bits; b++) r |= ((i >> b) & 1) << (bits - 1 - b);
    reverse[i] = r;
  }
  const cos = new Float64Array(size / 2);
  const sin = new Float64Array(size / 2);
  for (let k = 0; k < size / 2; k++) {
    cos[k] = Math.cos((2 * Math.PI * k) / size);
    sin[k] = -Math.sin((2 * Math.PI * k) / size);
  }
  plan = { size, reverse, cos, sin };
  PLANS.set(size, plan);
  return plan;
}

/**
 * In-place FFT of `re + i·im` at `offset` (stride 1): X_k = Σ x_j e^{∓2πijk/N} (− forward,
 * + inverse; the inverse is not scaled).
 */
export function fft(re: Float64Array, im: Float64Array, offset: number, size: number, inverse: boolean): void {
  const { reverse, cos, sin } = planOf(size);
  for (let i = 0; i < size; i++) {
    const j = reverse[i]!;
    if (j > i) {
      const a = offset + i;
      const b = offset + j;
      const tr = re[a]!;
      re[a] = re[b]!;
      re[b] = tr;
      const ti = im[a]!;
      im[a] = im[b]!;
      im[b] = ti;
    }
  }
  const sign = inverse ? -1 : 1;
  for (let len = 2; len <= size; len <<= 1) {
    const half = len >> 1;
    const step = size / len;
    for (let start = offset; start < offset + size; start += len) {
      for (let k = 0; k < half; k++) {
        const wr = cos[k * step]!;
        const wi = sign * sin[k * step]!;
        const a = start + k;
        const b = a + half;
        const br = re[b]!;
        const bi = im[b]!;
        const tr = br * wr - bi * wi;
        const ti = br * wi + bi * wr;
        const ar = re[a]!;
        const ai = im[a]!;
        re[b] = ar - tr;
        im[b] = ai - ti;
        re[a] = ar + tr;
        im[a] = ai + ti;
      }
    }
  }
}

/** The smallest power of two ≥ n. */
export function pow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/**
 * A forward decimation-in-frequency FFT along the first axis of a `size × length` grid (row
 * stride `stride`), on all `length` columns at once: each butterfly combines whole rows with
 * one twiddle, so the inner loops run over contiguous memory, and two radix-2 stages run in one
 * pass over four rows (radix 2²). Natural order in, bit-reversed order out (no permutation: the
 * spectra are only multiplied point by point, then transformed back by {@link ditRows}, which
 * takes bit-reversed order in).
 */
function difRows(re: Float64Array, im: Float64Array, size: number, length: number, stride: number, minLen = 4): void {
  const { cos, sin } = planOf(size);
  let len = size;
  for (; len >= minLen; len >>= 2) {
    const q = len >> 2;
    const step = size / len;
    for (let start = 0; start < size; start += len) {
      {
        // k = 0: the twiddles are 1, −i and 1
        const o0 = start * stride;
        const o1 = o0 + q * stride;
        const o2 = o1 + q * stride;
        const o3 = o2 + q * stride;
        for (let j = 0; j < length; j++) {
          const x0r = re[o0 + j]!, x0i = im[o0 + j]!;
          const x1r = re[o1 + j]!, x1i = im[o1 + j]!;
          const x2r = re[o2 + j]!, x2i = im[o2 + j]!;
          const x3r = re[o3 + j]!, x3i = im[o3 + j]!;
          const a0r = x0r + x2r, a0i = x0i + x2i;
          const a2r = x0r - x2r, a2i = x0i - x2i;
          const a1r = x1r + x3r, a1i = x1i + x3i;
          const a3r = x1i - x3i, a3i = x3r - x1r;
          re[o0 + j] = a0r + a1r;
          im[o0 + j] = a0i + a1i;
          re[o1 + j] = a0r - a1r;
          im[o1 + j] = a0i - a1i;
          re[o2 + j] = a2r + a3r;
          im[o2 + j] = a2i + a3i;
          re[o3 + j] = a2r - a3r;
          im[o3 + j] = a2i - a3i;
        }
      }
      for (let k = 1; k < q; k++) {
        // stage len: (0, 2) by W_len^k, (1, 3) by W_len^(k+q); stage len/2: (0, 1) and (2, 3) by W_len^2k
        const w1r = cos[k * step]!, w1i = sin[k * step]!;
        const w2r = cos[(k + q) * step]!, w2i = sin[(k + q) * step]!;
        const w3r = cos[2 * k * step]!, w3i = sin[2 * k * step]!;
        const o0 = (start + k) * stride;
        const o1 = o0 + q * stride;
        const o2 = o1 + q * stride;
        const o3 = o2 + q * stride;
        for (let j = 0; j < length; j++) {
          const x0r = re[o0 + j]!, x0i = im[o0 + j]!;
          const x1r = re[o1 + j]!, x1i = im[o1 + j]!;
          const x2r = re[o2 + j]!, x2i = im[o2 + j]!;
          const x3r = re[o3 + j]!, x3i = im[o3 + j]!;
          const a0r = x0r + x2r, a0i = x0i + x2i;
          const d2r = x0r - x2r, d2i = x0i - x2i;
          const a2r = d2r * w1r - d2i * w1i, a2i = d2r * w1i + d2i * w1r;
          const a1r = x1r + x3r, a1i = x1i + x3i;
          const d3r = x1r - x3r, d3i = x1i - x3i;
          const a3r = d3r * w2r - d3i * w2i, a3i = d3r * w2i + d3i * w2r;
          re[o0 + j] = a0r + a1r;
          im[o0 + j] = a0i + a1i;
          const e1r = a0r - a1r, e1i = a0i - a1i;
          re[o1 + j] = e1r * w3r - e1i * w3i;
          im[o1 + j] = e1r * w3i + e1i * w3r;
          re[o2 + j] = a2r + a3r;
          im[o2 + j] = a2i + a3i;
          const e3r = a2r - a3r, e3i = a2i - a3i;
          re[o3 + j] = e3r * w3r - e3i * w3i;
          im[o3 + j] = e3r * w3i + e3i * w3r;
        }
      }
    }
  }
  // the last radix-2 stage (an odd number of stages)
  if (len === 2) radix2Rows(re, im, size, length, stride);
}

/**
 * One radix-2 stage of length 2 (twiddle 1) on all `length` columns: rows (2m, 2m + 1) become their sum
 * and difference. The last stage of {@link difRows} and the first of {@link ditRows} when the number of
 * stages is odd (the same butterfly either way).
 */
function radix2Rows(re: Float64Array, im: Float64Array, size: number, length: number, stride: number): void {
  for (let start = 0; start < size; start += 2) {
    const oa = start * stride;
    const ob = oa + stride;
    for (let j = 0; j < length; j++) {
      const ar = re[oa + j]!, ai = im[oa + j]!;
      const br = re[ob + j]!, bi = im[ob + j]!;
      re[oa + j] = ar + br;
      im[oa + j] = ai + bi;
      re[ob + j] = ar - br;
      im[ob + j] = ai - bi;
    }
  }
}

/**
 * The inverse (unscaled, e^{+2πijk/N}) decimation-in-time FFT along the first axis, on all
 * `length` columns at once, two stages per pass: bit-reversed order in, natural order out.
 */
function ditRows(re: Float64Array, im: Float64Array, size: number, length: number, stride: number, fromLen = 4, toLen = size): void {
  const { cos, sin } = planOf(size);
  const stages = Math.round(Math.log2(size));
  let len = fromLen;
  if (stages % 2 === 1) {
    radix2Rows(re, im, size, length, stride);
    len = 8;
  }
  for (; len <= toLen; len <<= 2) {
    const q = len >> 2;
    const step = size / len;
    for (let start = 0; start < size; start += len) {
      {
        // k = 0: the twiddles are 1, +i and 1
        const o0 = start * stride;
        const o1 = o0 + q * stride;
        const o2 = o1 + q * stride;
        const o3 = o2 + q * stride;
        for (let j = 0; j < length; j++) {
          const x0r = re[o0 + j]!, x0i = im[o0 + j]!;
          const x1r = re[o1 + j]!, x1i = im[o1 + j]!;
          const x2r = re[o2 + j]!, x2i = im[o2 + j]!;
          const x3r = re[o3 + j]!, x3i = im[o3 + j]!;
          const a0r = x0r + x1r, a0i = x0i + x1i;
          const a1r = x0r - x1r, a1i = x0i - x1i;
          const a2r = x2r + x3r, a2i = x2i + x3i;
          const u3r = x3i - x2i, u3i = x2r - x3r;
          re[o0 + j] = a0r + a2r;
          im[o0 + j] = a0i + a2i;
          re[o2 + j] = a0r - a2r;
          im[o2 + j] = a0i - a2i;
          re[o1 + j] = a1r + u3r;
          im[o1 + j] = a1i + u3i;
          re[o3 + j] = a1r - u3r;
          im[o3 + j] = a1i - u3i;
        }
      }
      for (let k = 1; k < q; k++) {
        // stage len/2: (0, 1) and (2, 3) by V_len^2k; stage len: (0, 2) by V_len^k, (1, 3) by V_len^(k+q)
        const v1r = cos[k * step]!, v1i = -sin[k * step]!;
        const v2r = cos[(k + q) * step]!, v2i = -sin[(k + q) * step]!;
        const v3r = cos[2 * k * step]!, v3i = -sin[2 * k * step]!;
        const o0 = (start + k) * stride;
        const o1 = o0 + q * stride;
        const o2 = o1 + q * stride;
        const o3 = o2 + q * stride;
        for (let j = 0; j < length; j++) {
          const x0r = re[o0 + j]!, x0i = im[o0 + j]!;
          const x1r = re[o1 + j]!, x1i = im[o1 + j]!;
          const x2r = re[o2 + j]!, x2i = im[o2 + j]!;
          const x3r = re[o3 + j]!, x3i = im[o3 + j]!;
          const t1r = x1r * v3r - x1i * v3i, t1i = x1r * v3i + x1i * v3r;
          const a0r = x0r + t1r, a0i = x0i + t1i;
          const a1r = x0r - t1r, a1i = x0i - t1i;
          const t3r = x3r * v3r - x3i * v3i, t3i = x3r * v3i + x3i * v3r;
          const a2r = x2r + t3r, a2i = x2i + t3i;
          const a3r = x2r - t3r, a3i = x2i - t3i;
          const u2r = a2r * v1r - a2i * v1i, u2i = a2r * v1i + a2i * v1r;
          const u3r = a3r * v2r - a3i * v2i, u3i = a3r * v2i + a3i * v2r;
          re[o0 + j] = a0r + u2r;
          im[o0 + j] = a0i + u2i;
          re[o2 + j] = a0r - u2r;
          im[o2 + j] = a0i - u2i;
          re[o1 + j] = a1r + u3r;
          im[o1 + j] = a1i + u3i;
          re[o3 + j] = a1r - u3r;
          im[o3 + j] = a1i - u3i;
        }
      }
    }
  }
}

/**
 * The last pass of {@link difRows} (length 4, twiddles 1 and −i), the product with a real spectrum `k`
 * (same layout) and the first pass of {@link ditRows} (length 4, twiddles 1 and +i) in one pass over the
 * grid, four rows at a time in registers. For sizes that are powers of four, where both passes have length 4:
 * `difRows(…, 16)`, `middle`, `ditRows(…, 16)` compute what `difRows`, a real product and `ditRows` do.
 */
function middle(re: Float64Array, im: Float64Array, k: Float64Array, size: number, length: number, stride: number): void {
  for (let start = 0; start < size; start += 4) {
    const o0 = start * stride;
    const o1 = o0 + stride;
    const o2 = o1 + stride;
    const o3 = o2 + stride;
    for (let j = 0; j < length; j++) {
      const x0r = re[o0 + j]!, x0i = im[o0 + j]!;
      const x1r = re[o1 + j]!, x1i = im[o1 + j]!;
      const x2r = re[o2 + j]!, x2i = im[o2 + j]!;
      const x3r = re[o3 + j]!, x3i = im[o3 + j]!;
      const a0r = x0r + x2r, a0i = x0i + x2i;
      const a2r = x0r - x2r, a2i = x0i - x2i;
      const a1r = x1r + x3r, a1i = x1i + x3i;
      const a3r = x1i - x3i, a3i = x3r - x1r;
      const k0 = k[o0 + j]!, k1 = k[o1 + j]!, k2 = k[o2 + j]!, k3 = k[o3 + j]!;
      // the spectrum at rows 0…3 of the group, times the kernel's
      const y0r = (a0r + a1r) * k0, y0i = (a0i + a1i) * k0;
      const y1r = (a0r - a1r) * k1, y1i = (a0i - a1i) * k1;
      const y2r = (a2r + a3r) * k2, y2i = (a2i + a3i) * k2;
      const y3r = (a2r - a3r) * k3, y3i = (a2i - a3i) * k3;
      const b0r = y0r + y1r, b0i = y0i + y1i;
      const b1r = y0r - y1r, b1i = y0i - y1i;
      const b2r = y2r + y3r, b2i = y2i + y3i;
      const u3r = y3i - y2i, u3i = y2r - y3r;
      re[o0 + j] = b0r + b2r;
      im[o0 + j] = b0i + b2i;
      re[o2 + j] = b0r - b2r;
      im[o2 + j] = b0i - b2i;
      re[o1 + j] = b1r + u3r;
      im[o1 + j] = b1i + u3i;
      re[o3 + j] = b1r - u3r;
      im[o3 + j] = b1i - u3i;
    }
  }
}

/**
 * Writes the `rows × cols` top-left block of `from` (row stride `fromStride`) transposed into `to` (row
 * stride `toStride`). Eight source rows at a time, so that each destination row receives eight consecutive
 * values per visit (three times the speed of 16 × 16 tiles on 256-wide grids, measured), on column blocks
 * of 64 so that those eight source rows stay in cache.
 */
function transpose(from: Float64Array, to: Float64Array, rows: number, cols: number, fromStride: number, toStride: number): void {
  const full = rows - (rows % 8);
  const f1 = fromStride, f2 = 2 * fromStride, f3 = 3 * fromStride, f4 = 4 * fromStride;
  const f5 = 5 * fromStride, f6 = 6 * fromStride, f7 = 7 * fromStride;
  for (let c0 = 0; c0 < cols; c0 += 64) {
    const c1 = Math.min(cols, c0 + 64);
    for (let r = 0; r < full; r += 8) {
      const a = r * fromStride;
      for (let c = c0; c < c1; c++) {
        const o = c * toStride + r;
        const f = a + c;
        to[o] = from[f]!;
        to[o + 1] = from[f + f1]!;
        to[o + 2] = from[f + f2]!;
        to[o + 3] = from[f + f3]!;
        to[o + 4] = from[f + f4]!;
        to[o + 5] = from[f + f5]!;
        to[o + 6] = from[f + f6]!;
        to[o + 7] = from[f + f7]!;
      }
    }
  }
  for (let r = full; r < rows; r++) for (let c = 0; c < cols; c++) to[c * toStride + r] = from[r * fromStride + c]!;
}

/**
 * The 2-D forward transform of an `rows × cols` grid whose data sits in its top-left
 * `usedRows × usedCols` block (zeros elsewhere): along the rows' axis, transposed, along the other.
 * The spectrum ends transposed (`cols × rows`, in `tRe`/`tIm`) and bit-reversed on both axes.
 */
function forward2d(re: Float64Array, im: Float64Array, tRe: Float64Array, tIm: Float64Array, rows: number, cols: number, usedCols: number, minLen = 4): void {
  difRows(re, im, rows, usedCols, cols);
  tRe.fill(0, usedCols * rows);
  tIm.fill(0, usedCols * rows);
  transpose(re, tRe, rows, usedCols, cols, rows);
  transpose(im, tIm, rows, usedCols, cols, rows);
  difRows(tRe, tIm, cols, rows, rows, minLen);
}

/**
 * Loads one plane of the padded image into the first `rowOf.length` rows of a grid (row stride
 * `cols`): padded pixel (y, x) is image pixel (rowOf[y], colOf[x]) of the plane starting at `base`
 * (channel stride `c`), zero where either index is −1.
 */
function loadPlane(src: Float32Array, into: Float64Array, base: number, w: number, c: number, pw: number, cols: number, rowOf: Int32Array, colOf: Int32Array, rx: number): void {
  const left = Math.min(rx, pw);
  const right = Math.min(pw, rx + w);
  for (let y = 0; y < rowOf.length; y++) {
    const to = y * cols;
    const sy = rowOf[y]!;
    if (sy < 0) {
      into.fill(0, to, to + pw);
      continue;
    }
    const from = base + sy * w * c;
    for (let x = 0; x < left; x++) into[to + x] = colOf[x]! < 0 ? 0 : src[from + colOf[x]! * c]!;
    // the image's own columns: padded column x is image column x − rx
    const inner = from - rx * c;
    for (let x = left; x < right; x++) into[to + x] = src[inner + x * c]!;
    for (let x = right; x < pw; x++) into[to + x] = colOf[x]! < 0 ? 0 : src[from + colOf[x]! * c]!;
  }
}

/** {@link loadPlane} of the planes at `base` and `base + 1` (two channels of one image) into `re` and `im`. */
function loadPlanes(src: Float32Array, re: Float64Array, im: Float64Array, base: number, w: number, c: number, pw: number, cols: number, rowOf: Int32Array, colOf: Int32Array, rx: number): void {
  const left = Math.min(rx, pw);
  const right = Math.min(pw, rx + w);
  for (let y = 0; y < rowOf.length; y++) {
    const to = y * cols;
    const sy = rowOf[y]!;
    if (sy < 0) {
      re.fill(0, to, to + pw);
      im.fill(0, to, to + pw);
      continue;
    }
    const from = base + sy * w * c;
    for (let x = 0; x < left; x++) {
      const q = colOf[x]!;
      re[to + x] = q < 0 ? 0 : src[from + q * c]!;
      im[to + x] = q < 0 ? 0 : src[from + q * c + 1]!;
    }
    const inner = from - rx * c;
    for (let x = left; x < right; x++) {
      re[to + x] = src[inner + x * c]!;
      im[to + x] = src[inner + x * c + 1]!;
    }
    for (let x = right; x < pw; x++) {
      const q = colOf[x]!;
      re[to + x] = q < 0 ? 0 : src[from + q * c]!;
      im[to + x] = q < 0 ? 0 : src[from + q * c + 1]!;
    }
  }
}

/** `v · scale`, clipped to [0, 1] with `clip`. */
function scaled(v: number, scale: number, clip: boolean): number {
  return clip ? Math.min(1, Math.max(0, v * scale)) : v * scale;
}

/**
 * The last pass of {@link ditRows} (length `size`, after `ditRows(…, size / 4)`) with the store: grid rows
 * y0…y0 + h − 1 of `re` times `scale` go to the plane of `out` at `baseRe` (row stride w·c, pixel stride c),
 * those of `im` to the plane at `baseIm` (none when −1), clipped with `clip`; the grid itself is not written.
 * The same arithmetic as `ditRows` then `storePlane`, one pass over the grid fewer.
 */
function ditLastStore(re: Float64Array, im: Float64Array, size: number, length: number, stride: number, out: Float32Array, baseRe: number, baseIm: number, y0: number, h: number, w: number, c: number, scale: number, clip: boolean): void {
  const { cos, sin } = planOf(size);
  const q = size >> 2;
  const row = w * c;
  const both = baseIm >= 0;
  for (let k = 0; k < q; k++) {
    const v1r = cos[k]!, v1i = -sin[k]!;
    const v2r = cos[k + q]!, v2i = -sin[k + q]!;
    const v3r = cos[2 * k]!, v3i = -sin[2 * k]!;
    const o0 = k * stride;
    const o1 = o0 + q * stride;
    const o2 = o1 + q * stride;
    const o3 = o2 + q * stride;
    // output rows of the four grid rows, −1 outside y0…y0 + h − 1
    const y = k - y0;
    const t0 = y >= 0 && y < h ? y * row : -1;
    const t1 = y + q >= 0 && y + q < h ? (y + q) * row : -1;
    const t2 = y + 2 * q >= 0 && y + 2 * q < h ? (y + 2 * q) * row : -1;
    const t3 = y + 3 * q >= 0 && y + 3 * q < h ? (y + 3 * q) * row : -1;
    for (let j = 0; j < length; j++) {
      const x0r = re[o0 + j]!, x0i = im[o0 + j]!;
      const x1r = re[o1 + j]!, x1i = im[o1 + j]!;
      const x2r = re[o2 + j]!, x2i = im[o2 + j]!;
      const x3r = re[o3 + j]!, x3i = im[o3 + j]!;
      let z0r: number, z0i: number, z1r: number, z1i: number, z2r: number, z2i: number, z3r: number, z3i: number;
      if (k === 0) {
        // the twiddles are 1, +i and 1 (as ditRows' k = 0 block)
        const a0r = x0r + x1r, a0i = x0i + x1i;
        const a1r = x0r - x1r, a1i = x0i - x1i;
        const a2r = x2r + x3r, a2i = x2i + x3i;
        const u3r = x3i - x2i, u3i = x2r - x3r;
        z0r = a0r + a2r; z0i = a0i + a2i;
        z2r = a0r - a2r; z2i = a0i - a2i;
        z1r = a1r + u3r; z1i = a1i + u3i;
        z3r = a1r - u3r; z3i = a1i - u3i;
      } else {
        const t1r = x1r * v3r - x1i * v3i, t1i = x1r * v3i + x1i * v3r;
        const a0r = x0r + t1r, a0i = x0i + t1i;
        const a1r = x0r - t1r, a1i = x0i - t1i;
        const t3r = x3r * v3r - x3i * v3i, t3i = x3r * v3i + x3i * v3r;
        const a2r = x2r + t3r, a2i = x2i + t3i;
        const a3r = x2r - t3r, a3i = x2i - t3i;
        const u2r = a2r * v1r - a2i * v1i, u2i = a2r * v1i + a2i * v1r;
        const u3r = a3r * v2r - a3i * v2i, u3i = a3r * v2i + a3i * v2r;
        z0r = a0r + u2r; z0i = a0i + u2i;
        z2r = a0r - u2r; z2i = a0i - u2i;
        z1r = a1r + u3r; z1i = a1i + u3i;
        z3r = a1r - u3r; z3i = a1i - u3i;
      }
      const x = j * c;
      if (t0 >= 0) {
        out[baseRe + t0 + x] = scaled(z0r, scale, clip);
        if (both) out[baseIm + t0 + x] = scaled(z0i, scale, clip);
      }
      if (t1 >= 0) {
        out[baseRe + t1 + x] = scaled(z1r, scale, clip);
        if (both) out[baseIm + t1 + x] = scaled(z1i, scale, clip);
      }
      if (t2 >= 0) {
        out[baseRe + t2 + x] = scaled(z2r, scale, clip);
        if (both) out[baseIm + t2 + x] = scaled(z2i, scale, clip);
      }
      if (t3 >= 0) {
        out[baseRe + t3 + x] = scaled(z3r, scale, clip);
        if (both) out[baseIm + t3 + x] = scaled(z3i, scale, clip);
      }
    }
  }
}

/** Stores the top-left h × w block of a grid (row stride `cols`) times `scale` into one plane of `out`, clipped to [0, 1] with `clip`. */
function storePlane(out: Float32Array, from: Float64Array, base: number, h: number, w: number, c: number, cols: number, scale: number, clip: boolean): void {
  for (let y = 0; y < h; y++) {
    const to = base + y * w * c;
    const at = y * cols;
    if (clip) for (let x = 0; x < w; x++) out[to + x * c] = Math.min(1, Math.max(0, from[at + x]! * scale));
    else for (let x = 0; x < w; x++) out[to + x * c] = from[at + x]! * scale;
  }
}

/** {@link storePlane} of `re` and `im` into the planes at `base` and `base + 1` (two channels of one image) in one pass. */
function storePlanes(out: Float32Array, re: Float64Array, im: Float64Array, base: number, h: number, w: number, c: number, cols: number, scale: number, clip: boolean): void {
  for (let y = 0; y < h; y++) {
    const to = base + y * w * c;
    const at = y * cols;
    if (clip) {
      for (let x = 0; x < w; x++) {
        out[to + x * c] = Math.min(1, Math.max(0, re[at + x]! * scale));
        out[to + x * c + 1] = Math.min(1, Math.max(0, im[at + x]! * scale));
      }
    } else {
      for (let x = 0; x < w; x++) {
        out[to + x * c] = re[at + x]! * scale;
        out[to + x * c + 1] = im[at + x]! * scale;
      }
    }
  }
}

/** Whether a `kh × kw` kernel is unchanged by a half turn (k[i][j] = k[kh−1−i][kw−1−j]), exactly. */
export function pointSymmetric(kernel: ArrayLike<number>, kh: number, kw: number): boolean {
  const last = kh * kw - 1;
  for (let i = 0; i < kh * kw; i++) if (kernel[i] !== kernel[last - i]) return false;
  return true;
}

/**
 * {@link correlate2d} computed through the FFT: the image, padded by the border rule, and the
 * kernel are transformed on a power-of-two grid large enough that the circular correlation never
 * wraps into the kept pixels; two channels share one complex transform. The transforms run on
 * whole rows at a time (see {@link difRows}); spectra stay in bit-reversed order. Each plane is read
 * straight from `src` into the grid through the border rule's row and column indices (no padded
 * copy); with `clip` the results are clipped to [0, 1] as they are stored.
 *
 * A kernel unchanged by a half turn (odd sizes; defocus_blur's disks) is placed with its centre at
 * (0, 0), wrapping around the grid, where its spectrum is real: the product is two real multiplies, the
 * correlation equals the convolution and the kept pixels start at (ry, rx). On grids whose column count
 * is a power of four the product then runs inside the last forward and first inverse pass
 * ({@link middle}), saving two passes over the spectrum.
 */
export function correlate2dFft(src: Float32Array, s: BatchShape, kernel: ArrayLike<number>, kh: number, kw: number, mode: BorderMode, clip = false): Float32Array {
  const { n, h, w, c } = s;
  const ry = (kh - 1) / 2;
  const rx = (kw - 1) / 2;
  const ph = h + 2 * ry;
  const pw = w + 2 * rx;
  const rows = pow2(ph);
  const cols = pow2(pw);
  // the padded image's rows and columns in the image (−1: zeros)
  const rowOf = Int32Array.from({ length: ph }, (_, y) => foldIndex(y - ry, h, mode));
  const colOf = Int32Array.from({ length: pw }, (_, x) => foldIndex(x - rx, w, mode));
  const re = new Float64Array(rows * cols);
  const im = new Float64Array(rows * cols);
  const tRe = new Float64Array(rows * cols);
  const tIm = new Float64Array(rows * cols);
  const even = Number.isInteger(ry) && Number.isInteger(rx) && pointSymmetric(kernel, kh, kw);
  // the radix-4 passes of a power of four end (forward) and start (inverse) with length 4
  const fused = even && Math.round(Math.log2(cols)) % 2 === 0 && cols >= 16;
  const minLen = fused ? 16 : 4;
  // the kernel's spectrum (real for a centred point-symmetric kernel: its imaginary parts are rounding)
  if (even) {
    for (let i = 0; i < kh; i++)
      for (let j = 0; j < kw; j++) re[((i - ry + rows) % rows) * cols + ((j - rx + cols) % cols)] = kernel[i * kw + j]!;
    forward2d(re, im, tRe, tIm, rows, cols, cols);
  } else {
    for (let i = 0; i < kh; i++) for (let j = 0; j < kw; j++) re[i * cols + j] = kernel[i * kw + j]!;
    forward2d(re, im, tRe, tIm, rows, cols, kw);
  }
  const kRe = Float64Array.from(tRe);
  const kIm = even ? undefined : Float64Array.from(tIm);
  // the kept pixels' offset in the result
  const y0 = even ? ry : 0;
  const x0 = even ? rx : 0;
  const out = new Float32Array(src.length);
  const scale = 1 / (rows * cols);
  const planes = n * c;
  for (let p = 0; p < planes; p += 2) {
    // the transforms read only the first pw columns; rows from ph on must be zero, the rest is loaded
    re.fill(0, ph * cols);
    im.fill(0, ph * cols);
    const b0 = Math.floor(p / c);
    // two channels of one image: one pass over its pixels
    if (p % c + 1 < c) loadPlanes(src, re, im, b0 * h * w * c + (p % c), w, c, pw, cols, rowOf, colOf, rx);
    else {
      loadPlane(src, re, b0 * h * w * c + (p % c), w, c, pw, cols, rowOf, colOf, rx);
      if (p + 1 < planes) loadPlane(src, im, (Math.floor((p + 1) / c) * h * w) * c + ((p + 1) % c), w, c, pw, cols, rowOf, colOf, rx);
      else im.fill(0, 0, ph * cols);
    }
    forward2d(re, im, tRe, tIm, rows, cols, pw, minLen);
    if (fused) middle(tRe, tIm, kRe, cols, rows, rows);
    else if (kIm === undefined) {
      for (let i = 0; i < rows * cols; i++) {
        const k = kRe[i]!;
        tRe[i] = tRe[i]! * k;
        tIm[i] = tIm[i]! * k;
      }
    } else {
      // times the kernel's conjugate spectrum (a correlation)
      for (let i = 0; i < rows * cols; i++) {
        const ar = tRe[i]!;
        const ai = tIm[i]!;
        const br = kRe[i]!;
        const bi = kIm[i]!;
        tRe[i] = ar * br + ai * bi;
        tIm[i] = ai * br - ar * bi;
      }
    }
    // inverse: along the (transposed) column axis, keep w columns from x0, then along the rows
    ditRows(tRe, tIm, cols, rows, rows, minLen);
    transpose(x0 === 0 ? tRe : tRe.subarray(x0 * rows), re, w, rows, rows, cols);
    transpose(x0 === 0 ? tIm : tIm.subarray(x0 * rows), im, w, rows, rows, cols);
    const baseRe = b0 * h * w * c + (p % c);
    const baseIm = p + 1 < planes ? Math.floor((p + 1) / c) * h * w * c + ((p + 1) % c) : -1;
    if (rows >= 4) {
      // the last pass writes the output
      ditRows(re, im, rows, w, cols, 4, rows >> 2);
      ditLastStore(re, im, rows, w, cols, out, baseRe, baseIm, y0, h, w, c, scale, clip);
      continue;
    }
    ditRows(re, im, rows, w, cols);
    const fromRe = y0 === 0 ? re : re.subarray(y0 * cols);
    const fromIm = y0 === 0 ? im : im.subarray(y0 * cols);
    if (p % c + 1 < c) storePlanes(out, fromRe, fromIm, b0 * h * w * c + (p % c), h, w, c, cols, scale, clip);
    else {
      storePlane(out, fromRe, b0 * h * w * c + (p % c), h, w, c, cols, scale, clip);
      if (p + 1 < planes) storePlane(out, fromIm, (Math.floor((p + 1) / c) * h * w) * c + ((p + 1) % c), h, w, c, cols, scale, clip);
    }
  }
  return out;
}
