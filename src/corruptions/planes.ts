/**
 * Typed-array building blocks of the corruptions: an NHWC batch is read once into a Float32Array,
 * filtered, resampled and blended here in plain loops, and turned back into one tensor at the end.
 * On the CPU backends (cpu, wasm) this is several times faster than chains of tensor ops, whose
 * per-op overhead and full-size intermediates dominate for 224-px images.
 * Sums accumulate in doubles and are stored as float32.
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import { foldIndex, type AxisMatrix, type BorderMode } from './linear.js';

/** The shape of an NHWC batch. */
export interface BatchShape {
  readonly n: number;
  readonly h: number;
  readonly w: number;
  readonly c: number;
}

/** The values of a batch (read-only: on the cpu backend they are the tensor's own storage). */
export function valuesOf(x: tf.Tensor4D): Float32Array {
  return x.dataSync() as Float32Array;
}

/** The values of a corruption's input: the ones its caller already read, else the tensor's. */
export function inputValues(x: tf.Tensor4D, ctx: { readonly values?: Float32Array }): Float32Array {
  return ctx.values ?? valuesOf(x);
}

/** The shape of an NHWC tensor as {n, h, w, c}. */
export function shapeOf(x: tf.Tensor4D): BatchShape {
  const [n, h, w, c] = x.shape;
  return { n, h, w, c };
}

/** Clips every value to [0, 1] in place and returns the array. */
export function clip01(values: Float32Array): Float32Array {
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    values[i] = v < 0 ? 0 : v > 1 ? 1 : v;
  }
  return values;
}

/** A sparse (CSR) operator along one axis: output i reads `index[start[i]…start[i+1])` with `weight`. */
export interface AxisTaps {
  readonly rows: number;
  readonly cols: number;
  readonly start: Int32Array;
  readonly index: Int32Array;
  readonly weight: Float64Array;
}

/** The non-zero entries of a dense axis matrix, row by row. */
export function tapsOf(m: AxisMatrix): AxisTaps {
  const start = new Int32Array(m.rows + 1);
  const index: number[] = [];
  const weight: number[] = [];
  for (let i = 0; i < m.rows; i++) {
    for (let j = 0; j < m.cols; j++) {
      const v = m.values[i * m.cols + j]!;
      if (v !== 0) {
        index.push(j);
        weight.push(v);
      }
    }
    start[i + 1] = index.length;
  }
  return { rows: m.rows, cols: m.cols, start, index: Int32Array.from(index), weight: Float64Array.from(weight) };
}

/**
 * Whether the active backend's matMul is a compiled kernel (wasm's XNNPACK, tfjs-node, WebGL,
 * WebGPU), far faster per multiply-add than loops in JavaScript. Only the plain-JS 'cpu' backend
 * is not.
 */
function compiledMatMul(): boolean {
  return tf.getBackend() !== 'cpu';
}

/** Axis operators with more taps per output than this run as matrix products where matMul is compiled. */
const GEMM_TAPS = 12;

/**
 * Applies an axis operator along the height of `n` blocks of `h × rowLength` values with one
 * matrix product: the blocks are interleaved into an `h × (n·rowLength)` matrix and back.
 */
function gemmRows(src: Float32Array, n: number, h: number, rowLength: number, m: AxisMatrix): Float32Array {
  const wide = new Float32Array(h * n * rowLength);
  for (let b = 0; b < n; b++) for (let y = 0; y < h; y++) wide.set(src.subarray((b * h + y) * rowLength, (b * h + y + 1) * rowLength), (y * n + b) * rowLength);
  const product = tf.tidy(() => tf.matMul(tf.tensor2d(m.values, [m.rows, m.cols]), tf.tensor2d(wide, [h, n * rowLength])));
  const values = product.dataSync() as Float32Array;
  product.dispose();
  const out = new Float32Array(n * m.rows * rowLength);
  for (let b = 0; b < n; b++) for (let y = 0; y < m.rows; y++) out.set(values.subarray((y * n + b) * rowLength, (y * n + b + 1) * rowLength), (b * m.rows + y) * rowLength);
  return out;
}

/** Swaps the height and width axes of an NHWC batch: [n, h, w, c] → [n, w, h, c]. */
function swapAxes(src: Float32Array, n: number, h: number, w: number, c: number): Float32Array {
  const out = new Float32Array(src.length);
  for (let b = 0; b < n; b++) {
    const base = b * h * w * c;
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) {
        const from = base + (y * w + x) * c;
        const to = base + (x * h + y) * c;
        for (let k = 0; k < c; k++) out[to + k] = src[from + k]!;
      }
  }
  return out;
}

/** The height pass of a sparse operator: every output row is a weighted sum of input rows. */
function sparseRows(src: Float32Array, n: number, h: number, row: number, m: AxisTaps): Float32Array {
  const out = new Float32Array(n * m.rows * row);
  const acc = new Float64Array(row);
  for (let b = 0; b < n; b++) {
    const base = b * h * row;
    for (let y = 0; y < m.rows; y++) {
      const end = m.start[y + 1]!;
      let t = m.start[y]!;
      const to = (b * m.rows + y) * row;
      // one or two taps (resizes, zooms): straight into the output, the same sums as below
      if (end - t === 1) {
        const w0 = m.weight[t]!;
        const f0 = base + m.index[t]! * row;
        if (w0 === 1) out.set(src.subarray(f0, f0 + row), to);
        else for (let j = 0; j < row; j++) out[to + j] = w0 * src[f0 + j]!;
        continue;
      }
      if (end - t === 2) {
        const w0 = m.weight[t]!;
        const w1 = m.weight[t + 1]!;
        const f0 = base + m.index[t]! * row;
        const f1 = base + m.index[t + 1]! * row;
        for (let j = 0; j < row; j++) out[to + j] = w0 * src[f0 + j]! + w1 * src[f1 + j]!;
        continue;
      }
      acc.fill(0);
      // four input rows per pass over the accumulator, then the rest one by one
      for (; t + 4 <= end; t += 4) {
        const w0 = m.weight[t]!;
        const w1 = m.weight[t + 1]!;
        const w2 = m.weight[t + 2]!;
        const w3 = m.weight[t + 3]!;
        const f0 = base + m.index[t]! * row;
        const f1 = base + m.index[t + 1]! * row;
        const f2 = base + m.index[t + 2]! * row;
        const f3 = base + m.index[t + 3]! * row;
        for (let j = 0; j < row; j++) acc[j] = acc[j]! + (w0 * src[f0 + j]! + w1 * src[f1 + j]! + w2 * src[f2 + j]! + w3 * src[f3 + j]!);
      }
      for (; t < end; t++) {
        const wt = m.weight[t]!;
        const from = base + m.index[t]! * row;
        for (let j = 0; j < row; j++) acc[j] = acc[j]! + wt * src[from + j]!;
      }
      for (let j = 0; j < row; j++) out[to + j] = acc[j]!;
    }
  }
  return out;
}

/** The width pass of a sparse operator: every output pixel is a weighted sum of pixels of its row. */
function sparseColumns(src: Float32Array, rows: number, w: number, c: number, m: AxisTaps): Float32Array {
  const inRow = w * c;
  const outRow = m.rows * c;
  const out = new Float32Array(rows * outRow);
  for (let r = 0; r < rows; r++) {
    const from = r * inRow;
    const to = r * outRow;
    for (let x = 0; x < m.rows; x++) {
      const t0 = m.start[x]!;
      const t1 = m.start[x + 1]!;
      if (c === 3) {
        let a0 = 0;
        let a1 = 0;
        let a2 = 0;
        for (let t = t0; t < t1; t++) {
          const wt = m.weight[t]!;
          const p = from + m.index[t]! * 3;
          a0 += wt * src[p]!;
          a1 += wt * src[p + 1]!;
          a2 += wt * src[p + 2]!;
        }
        out[to + x * 3] = a0;
        out[to + x * 3 + 1] = a1;
        out[to + x * 3 + 2] = a2;
      } else {
        for (let k = 0; k < c; k++) {
          let a = 0;
          for (let t = t0; t < t1; t++) a += m.weight[t]! * src[from + m.index[t]! * c + k]!;
          out[to + x * c + k] = a;
        }
      }
    }
  }
  return out;
}

/**
 * Applies a height operator and a width operator (either may be null) to an NHWC batch. Sparse
 * operators (zooms, resizes, narrow blurs) run as loops over their taps; wide ones run as matrix
 * products where the backend's matMul is compiled.
 * @returns a new array of shape [n, mh.rows, mw.rows, c].
 */
export function separable(src: Float32Array, s: BatchShape, mh: AxisMatrix | null, mw: AxisMatrix | null): Float32Array {
  const { n, c } = s;
  let h = s.h;
  let data = src;
  const gemm = compiledMatMul();
  if (mh) {
    const taps = tapsOf(mh);
    data = gemm && taps.index.length > GEMM_TAPS * mh.rows ? gemmRows(data, n, h, s.w * c, mh) : sparseRows(data, n, h, s.w * c, taps);
    h = mh.rows;
  }
  if (mw) {
    const taps = tapsOf(mw);
    if (gemm && taps.index.length > GEMM_TAPS * mw.rows) {
      const swapped = gemmRows(swapAxes(data, n, h, s.w, c), n, s.w, h * c, mw);
      data = swapAxes(swapped, n, mw.rows, h, c);
    } else data = sparseColumns(data, n * h, s.w, c, taps);
  }
  return data === src ? Float32Array.from(src) : data;
}

/**
 * Sums a symmetric kernel along `count` lines of a padded array: for line L,
 * out[outBase + j] = w₀·P[c + j] + Σₜ wₜ·(P[c − t·st + j] + P[c + t·st + j]), c = inBase + R·st,
 * for j < len (st: the stride of one tap; R + 1 weights w₀…w_R). Four tap pairs per pass over a
 * double-precision accumulator; the first pass sets it, the last writes the output.
 */
function symmetricLines(padded: Float32Array, out: Float32Array, count: number, inStride: number, outStride: number, st: number, len: number, weights: Float64Array, acc: Float64Array): void {
  const r = weights.length - 1;
  const w0 = weights[0]!;
  // tap pairs in groups of four, the last group padded with zero weights on pair 1's rows
  const groups = Math.max(1, Math.ceil(r / 4));
  const wt = new Float64Array(4 * groups);
  const shift = new Int32Array(4 * groups);
  for (let t = 1; t <= 4 * groups; t++) {
    wt[t - 1] = t <= r ? weights[t]! : 0;
    shift[t - 1] = (t <= r ? t : Math.min(1, r)) * st;
  }
  for (let line = 0; line < count; line++) {
    const c = line * inStride + r * st;
    const to = line * outStride;
    for (let g = 0; g < groups; g++) {
      const s1 = shift[4 * g]!, s2 = shift[4 * g + 1]!, s3 = shift[4 * g + 2]!, s4 = shift[4 * g + 3]!;
      const a1 = c - s1, b1 = c + s1, a2 = c - s2, b2 = c + s2, a3 = c - s3, b3 = c + s3, a4 = c - s4, b4 = c + s4;
      const w1 = wt[4 * g]!, w2 = wt[4 * g + 1]!, w3 = wt[4 * g + 2]!, w4 = wt[4 * g + 3]!;
      const first = g === 0;
      const last = g === groups - 1;
      if (first && last) {
        for (let j = 0; j < len; j++) out[to + j] = w0 * padded[c + j]! + (w1 * (padded[a1 + j]! + padded[b1 + j]!) + w2 * (padded[a2 + j]! + padded[b2 + j]!) + (w3 * (padded[a3 + j]! + padded[b3 + j]!) + w4 * (padded[a4 + j]! + padded[b4 + j]!)));
      } else if (first) {
        for (let j = 0; j < len; j++) acc[j] = w0 * padded[c + j]! + (w1 * (padded[a1 + j]! + padded[b1 + j]!) + w2 * (padded[a2 + j]! + padded[b2 + j]!) + (w3 * (padded[a3 + j]! + padded[b3 + j]!) + w4 * (padded[a4 + j]! + padded[b4 + j]!)));
      } else if (last) {
        for (let j = 0; j < len; j++) out[to + j] = acc[j]! + (w1 * (padded[a1 + j]! + padded[b1 + j]!) + w2 * (padded[a2 + j]! + padded[b2 + j]!) + (w3 * (padded[a3 + j]! + padded[b3 + j]!) + w4 * (padded[a4 + j]! + padded[b4 + j]!)));
      } else {
        for (let j = 0; j < len; j++) acc[j] = acc[j]! + (w1 * (padded[a1 + j]! + padded[b1 + j]!) + w2 * (padded[a2 + j]! + padded[b2 + j]!) + (w3 * (padded[a3 + j]! + padded[b3 + j]!) + w4 * (padded[a4 + j]! + padded[b4 + j]!)));
      }
    }
  }
}

/**
 * A separable filter with the same symmetric odd-length kernel along both axes (a Gaussian blur),
 * any border rule: each image is padded by the border rule and every output is a sum over
 * contiguous rows (height) and contiguous pixel runs (width), with mirrored taps added before
 * they are weighted. For the narrow kernels of the blur corruptions this beats the matrix
 * products of {@link separable}, whose operators are mostly zeros.
 * @returns a new array of the same shape.
 */
export function symmetricSeparable(src: Float32Array, s: BatchShape, kernel: ArrayLike<number>, mode: BorderMode): Float32Array {
  const { n, h, w, c } = s;
  const r = (kernel.length - 1) / 2;
  const weights = new Float64Array(r + 1);
  for (let t = 0; t <= r; t++) weights[t] = kernel[r + t]!;
  const row = w * c;
  const acc = new Float64Array(row);
  const tall = padValues(src, s, r, 0, mode);
  const mid = new Float32Array(src.length);
  for (let b = 0; b < n; b++) symmetricLines(tall.subarray(b * (h + 2 * r) * row), mid.subarray(b * h * row), h, row, row, row, row, weights, acc);
  const wide = padValues(mid, s, 0, r, mode);
  const out = new Float32Array(src.length);
  symmetricLines(wide, out, n * h, (w + 2 * r) * c, row, c, row, weights, acc);
  return out;
}

/**
 * Pads every image by `ry` rows and `rx` columns on each side by the border rule, into `into` when
 * given (at least n·(h + 2ry)·(w + 2rx)·c values; with 'zeros', positions outside the image must
 * already be zero).
 * @returns [n, h + 2ry, w + 2rx, c].
 */
export function padValues(src: Float32Array, s: BatchShape, ry: number, rx: number, mode: BorderMode, into?: Float32Array): Float32Array {
  const { n, h, w, c } = s;
  const ph = h + 2 * ry;
  const pw = w + 2 * rx;
  const out = into ?? new Float32Array(n * ph * pw * c);
  const cols = Int32Array.from({ length: pw }, (_, i) => foldIndex(i - rx, w, mode));
  for (let b = 0; b < n; b++) {
    for (let y = 0; y < ph; y++) {
      const sy = foldIndex(y - ry, h, mode);
      if (sy < 0) continue;
      const from = (b * h + sy) * w * c;
      const to = (b * ph + y) * pw * c;
      out.set(src.subarray(from, from + w * c), to + rx * c);
      for (let x = 0; x < pw; x++) {
        if (x >= rx && x < rx + w) continue;
        const sx = cols[x]!;
        if (sx < 0) continue;
        for (let k = 0; k < c; k++) out[to + x * c + k] = src[from + sx * c + k]!;
      }
    }
  }
  return out;
}

/**
 * A 2-D correlation, the same `kh × kw` kernel on every channel, with any border rule
 * (cv2.filter2D semantics: out(y, x) = Σ k(i, j)·x(y + i − ry, x + j − rx)). Kernel entries
 * smaller than 1e-10 of the largest are skipped (their total effect is below 1e-8); the others are
 * summed eight per pass over each output row.
 */
export function correlate2d(src: Float32Array, s: BatchShape, kernel: ArrayLike<number>, kh: number, kw: number, mode: BorderMode): Float32Array {
  const { n, h, w, c } = s;
  const ry = (kh - 1) / 2;
  const rx = (kw - 1) / 2;
  const padded = padValues(src, s, ry, rx, mode);
  const pw = (w + 2 * rx) * c;
  let largest = 0;
  for (let i = 0; i < kh * kw; i++) largest = Math.max(largest, Math.abs(kernel[i]!));
  const taps: { dy: number; off: number; wt: number }[] = [];
  for (let i = 0; i < kh; i++) for (let j = 0; j < kw; j++) if (Math.abs(kernel[i * kw + j]!) > 1e-10 * largest) taps.push({ dy: i, off: j * c, wt: kernel[i * kw + j]! });
  // eight taps per pass over the row, the last group padded with zero weights on the first tap
  const count = 8 * Math.max(1, Math.ceil(taps.length / 8));
  const shift = new Int32Array(count);
  const weight = new Float64Array(count);
  for (let t = 0; t < count; t++) {
    const tap = taps[Math.min(t, taps.length - 1)] ?? { dy: ry, off: rx * c, wt: 0 };
    shift[t] = tap.dy * pw + tap.off;
    weight[t] = t < taps.length ? tap.wt : 0;
  }
  const row = w * c;
  const out = new Float32Array(n * h * row);
  const acc = new Float64Array(row);
  for (let b = 0; b < n; b++) {
    const base = b * (h + 2 * ry) * pw;
    for (let y = 0; y < h; y++) {
      const from = base + y * pw;
      const to = (b * h + y) * row;
      for (let t = 0; t < count; t += 8) eightTapPass(padded, from, shift, weight, t, count, acc, out, to, row);
    }
  }
  return out;
}

/**
 * Samples each image at rows `ys` and columns `xs` (`[n, h', w']`, pixel centres at integers) with
 * bilinear interpolation and the border rule for indices outside the image ('zeros': no weight).
 * @returns [n, h', w', c].
 */
export function bilinearValues(src: Float32Array, s: BatchShape, ys: Float32Array, xs: Float32Array, ho: number, wo: number, mode: BorderMode): Float32Array {
  const { n, h, w, c } = s;
  const out = new Float32Array(n * ho * wo * c);
  const fold = (i: number, size: number): number => (i >= 0 && i < size ? i : foldIndex(i, size, mode));
  for (let b = 0; b < n; b++) {
    const base = b * h * w * c;
    for (let p = 0; p < ho * wo; p++) {
      const at = b * ho * wo + p;
      const yy = ys[at]!;
      const xx = xs[at]!;
      const y0 = Math.floor(yy);
      const x0 = Math.floor(xx);
      const fy = yy - y0;
      const fx = xx - x0;
      const r0 = fold(y0, h);
      const r1 = fold(y0 + 1, h);
      const c0 = fold(x0, w);
      const c1 = fold(x0 + 1, w);
      const w00 = r0 < 0 || c0 < 0 ? 0 : (1 - fy) * (1 - fx);
      const w01 = r0 < 0 || c1 < 0 ? 0 : (1 - fy) * fx;
      const w10 = r1 < 0 || c0 < 0 ? 0 : fy * (1 - fx);
      const w11 = r1 < 0 || c1 < 0 ? 0 : fy * fx;
      const p00 = base + (Math.max(r0, 0) * w + Math.max(c0, 0)) * c;
      const p01 = base + (Math.max(r0, 0) * w + Math.max(c1, 0)) * c;
      const p10 = base + (Math.max(r1, 0) * w + Math.max(c0, 0)) * c;
      const p11 = base + (Math.max(r1, 0) * w + Math.max(c1, 0)) * c;
      for (let k = 0; k < c; k++) out[at * c + k] = w00 * src[p00 + k]! + w01 * src[p01 + k]! + w10 * src[p10 + k]! + w11 * src[p11 + k]!;
    }
  }
  return out;
}

/** A 4-D tensor from values and a shape. */
export function tensorOf(values: Float32Array, s: BatchShape): tf.Tensor4D {
  return tf.tensor4d(values, [s.n, s.h, s.w, s.c]);
}

/**
 * One pass of eight taps over a row of `row` values: `padded` read at `base + shift[t + i]` times `weight[t + i]`
 * (i < 8), summed into `acc` (set on the first pass, t = 0) or, on the last (t + 8 = count), added to `acc` and
 * written to `out` at `to`. The eight offsets and weights are locals, so the row loop is eight multiply-adds.
 * Shared by the direct 2-D correlation below and motion blur.
 */
export function eightTapPass(padded: Float32Array, base: number, shift: Int32Array, weight: Float64Array, t: number, count: number, acc: Float64Array, out: Float32Array, to: number, row: number): void {
  const f0 = base + shift[t]!, f1 = base + shift[t + 1]!, f2 = base + shift[t + 2]!, f3 = base + shift[t + 3]!;
  const f4 = base + shift[t + 4]!, f5 = base + shift[t + 5]!, f6 = base + shift[t + 6]!, f7 = base + shift[t + 7]!;
  const w0 = weight[t]!, w1 = weight[t + 1]!, w2 = weight[t + 2]!, w3 = weight[t + 3]!;
  const w4 = weight[t + 4]!, w5 = weight[t + 5]!, w6 = weight[t + 6]!, w7 = weight[t + 7]!;
  const first = t === 0;
  const last = t + 8 === count;
  if (first && last) {
    for (let j = 0; j < row; j++) out[to + j] = w0 * padded[f0 + j]! + w1 * padded[f1 + j]! + w2 * padded[f2 + j]! + w3 * padded[f3 + j]! + (w4 * padded[f4 + j]! + w5 * padded[f5 + j]! + w6 * padded[f6 + j]! + w7 * padded[f7 + j]!);
  } else if (first) {
    for (let j = 0; j < row; j++) acc[j] = w0 * padded[f0 + j]! + w1 * padded[f1 + j]! + w2 * padded[f2 + j]! + w3 * padded[f3 + j]! + (w4 * padded[f4 + j]! + w5 * padded[f5 + j]! + w6 * padded[f6 + j]! + w7 * padded[f7 + j]!);
  } else if (last) {
    for (let j = 0; j < row; j++) out[to + j] = acc[j]! + (w0 * padded[f0 + j]! + w1 * padded[f1 + j]! + w2 * padded[f2 + j]! + w3 * padded[f3 + j]! + (w4 * padded[f4 + j]! + w5 * padded[f5 + j]! + w6 * padded[f6 + j]! + w7 * padded[f7 + j]!));
  } else {
    for (let j = 0; j < row; j++) acc[j] = acc[j]! + (w0 * padded[f0 + j]! + w1 * padded[f1 + j]! + w2 * padded[f2 + j]! + w3 * padded[f3 + j]! + (w4 * padded[f4 + j]! + w5 * padded[f5 + j]! + w6 * padded[f6 + j]! + w7 * padded[f7 + j]!));
  }
}
