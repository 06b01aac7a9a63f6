/**
 * {@link correlate2dFft} for point-symmetric kernels (defocus_blur's disks) on medrobust's wasm kernel module
 * (native/kernels.c, section "FFT for defocus_blur"): the same passes in the same order, each value through the
 * same IEEE f64 operations, on f64x2 vectors of two adjacent columns, with fft.ts's twiddle tables passed in,
 * so the results are bit-identical to the JavaScript path. The transposes between the two axes are folded into
 * the passes next to them (the last forward and the first inverse pass along the rows write and read the
 * transposed grid). Grids, tables and border indices live in one scratch block of the wasm backend's heap, freed
 * on every path. Single-threaded: the bench measures CPU time, which threads would not lower.
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Native, WasmBackendLike } from '../backend/kernels/native.js';
import { planOf, pointSymmetric, pow2 } from './fft.js';
import { foldIndex, type BorderMode } from './linear.js';
import type { BatchShape } from './planes.js';

/** Bytes rounded up to 16 (every array in the block starts 16-byte aligned). */
const align16 = (bytes: number): number => (bytes + 15) & ~15;

/** The grid of a correlation: undefined where the native path does not apply. */
interface Geometry {
  readonly ry: number;
  readonly rx: number;
  readonly ph: number;
  readonly pw: number;
  readonly rows: number;
  readonly cols: number;
}

function geometryOf(s: BatchShape, kernel: ArrayLike<number>, kh: number, kw: number): Geometry | undefined {
  const ry = (kh - 1) / 2;
  const rx = (kw - 1) / 2;
  if (!Number.isInteger(ry) || !Number.isInteger(rx) || !pointSymmetric(kernel, kh, kw)) return undefined;
  const ph = s.h + 2 * ry;
  const pw = s.w + 2 * rx;
  const rows = pow2(ph);
  const cols = pow2(pw);
  return rows < 4 || cols < 4 ? undefined : { ry, rx, ph, pw, rows, cols };
}

/**
 * The correlation of the image batch at heap address `srcP` (float32, NHWC) written to `outP`: the passes of
 * correlate2dFft on a scratch block of its own (grids, twiddle tables, border indices), freed on every path.
 */
function correlateInHeap(native: Native, g: Geometry, s: BatchShape, kernel: ArrayLike<number>, kh: number, kw: number, mode: BorderMode, clip: boolean, srcP: number, outP: number): void {
  const { n, h, w, c } = s;
  const { ry, rx, ph, pw, rows, cols } = g;
  const ex = native.exports;
  const fused = Math.round(Math.log2(cols)) % 2 === 0 && cols >= 16;
  const minLen = fused ? 16 : 4;
  const grid = rows * cols;
  const rowPlan = planOf(rows);
  const colPlan = planOf(cols);
  // the block: five grids (re, im, tRe, tIm, the kernel's spectrum), the two plans' tables, the border rule's
  // row and column indices
  const sizes = [grid * 8, grid * 8, grid * 8, grid * 8, grid * 8, (rows / 2) * 8, (rows / 2) * 8, (cols / 2) * 8, (cols / 2) * 8, ph * 4, pw * 4];
  const offsets: number[] = [];
  let total = 0;
  for (const b of sizes) {
    offsets.push(total);
    total += align16(b);
  }
  const block = native.malloc(total);
  try {
    const [reP, imP, tReP, tImP, kReP, cosR, sinR, cosC, sinC, rowOfP, colOfP] = offsets.map((o) => block + o) as [number, number, number, number, number, number, number, number, number, number, number];
    // views after the only allocation (a heap growth would detach earlier ones)
    const buffer = native.module.HEAPU8.buffer;
    const f64 = (at: number, length: number): Float64Array => new Float64Array(buffer, at, length);
    const re = f64(reP, grid);
    const im = f64(imP, grid);
    const tRe = f64(tReP, grid);
    const tIm = f64(tImP, grid);
    f64(cosR, rows / 2).set(rowPlan.cos);
    f64(sinR, rows / 2).set(rowPlan.sin);
    f64(cosC, cols / 2).set(colPlan.cos);
    f64(sinC, cols / 2).set(colPlan.sin);
    const rowOf = new Int32Array(buffer, rowOfP, ph);
    for (let y = 0; y < ph; y++) rowOf[y] = foldIndex(y - ry, h, mode);
    const colOf = new Int32Array(buffer, colOfP, pw);
    for (let x = 0; x < pw; x++) colOf[x] = foldIndex(x - rx, w, mode);
    // the kernel's spectrum (real): centred at (0, 0), wrapping around the grid; forward2d with usedCols = cols,
    // transposed straight into its own grid
    re.fill(0);
    im.fill(0);
    for (let i = 0; i < kh; i++) for (let j = 0; j < kw; j++) re[((i - ry + rows) % rows) * cols + ((j - rx + cols) % cols)] = kernel[i * kw + j]!;
    ex.fft_dif_rows_t(reP, imP, rows, cols, cols, kReP, tImP, rows, cosR, sinR);
    ex.fft_dif_rows(kReP, tImP, cols, rows, rows, 4, cosC, sinC);
    const scale = 1 / (rows * cols);
    const planes = n * c;
    const baseOf = (p: number): number => Math.floor(p / c) * h * w * c + (p % c);
    for (let p = 0; p < planes; p += 2) {
      // rows from ph on must be zero (the inverse leaves values there); the rest is loaded
      re.fill(0, ph * cols);
      im.fill(0, ph * cols);
      ex.fft_load_plane(srcP, reP, baseOf(p), w, c, pw, cols, rowOfP, ph, colOfP, rx);
      if (p + 1 < planes) ex.fft_load_plane(srcP, imP, baseOf(p + 1), w, c, pw, cols, rowOfP, ph, colOfP, rx);
      else im.fill(0, 0, ph * cols);
      // forward2d(re, im, tRe, tIm, rows, cols, pw, minLen)
      // (the transpose in the last pass of the first axis)
      tRe.fill(0, pw * rows);
      tIm.fill(0, pw * rows);
      ex.fft_dif_rows_t(reP, imP, rows, pw, cols, tReP, tImP, rows, cosR, sinR);
      ex.fft_dif_rows(tReP, tImP, cols, rows, rows, minLen, cosC, sinC);
      if (fused) ex.fft_middle(tReP, tImP, kReP, cols, rows, rows);
      else ex.fft_real_product(tReP, tImP, kReP, grid);
      // inverse: along the transposed column axis, keep w columns from rx, then along the rows, the last pass storing
      ex.fft_dit_rows(tReP, tImP, cols, rows, rows, minLen, cols, cosC, sinC);
      // (the transpose in the first pass along the rows)
      ex.fft_dit_rows_t(tReP + rx * rows * 8, tImP + rx * rows * 8, rows, reP, imP, rows, w, cols, rows >> 2, cosR, sinR);
      ex.fft_dit_last_store(reP, imP, rows, w, cols, outP, baseOf(p), p + 1 < planes ? baseOf(p + 1) : -1, ry, h, w, c, scale, clip ? 1 : 0, cosR, sinR);
    }
  } finally {
    native.free(block);
  }
}

/**
 * `correlate2dFft(src, s, kernel, kh, kw, mode, clip)` on the kernel module, bit for bit; undefined where this
 * path does not apply (a kernel of even size or not unchanged by a half turn, grids under 4 × 4): the caller then
 * runs the JavaScript one. The image is copied into the heap and the result out of it.
 */
export function correlate2dFftNative(native: Native, src: Float32Array, s: BatchShape, kernel: ArrayLike<number>, kh: number, kw: number, mode: BorderMode, clip = false): Float32Array | undefined {
  const g = geometryOf(s, kernel, kh, kw);
  if (!g) return undefined;
  const values = s.n * s.h * s.w * s.c;
  const io = native.malloc(2 * values * 4);
  try {
    new Float32Array(native.module.HEAPU8.buffer, io, values).set(src.subarray(0, values));
    correlateInHeap(native, g, s, kernel, kh, kw, mode, clip, io, io + values * 4);
    return new Float32Array(native.module.HEAPU8.buffer, io + values * 4, values).slice();
  } finally {
    native.free(io);
  }
}

/**
 * {@link correlate2dFftNative} of the images `x` into a new tensor on the wasm backend `backend`: read where the
 * backend keeps `x` when it is there (else from a heap copy of `values`, x's values when the caller has them,
 * or of `x.dataSync()`) and written straight into the output tensor's data, no copies out. Undefined where the
 * path does not apply.
 */
export function correlate2dFftNativeTensor(native: Native, backend: tf.KernelBackend, x: tf.Tensor4D, values: Float32Array | undefined, kernel: ArrayLike<number>, kh: number, kw: number, mode: BorderMode, clip = false): tf.Tensor4D | undefined {
  const [n, h, w, c] = x.shape;
  const s = { n, h, w, c };
  const g = geometryOf(s, kernel, kh, kw);
  if (!g) return undefined;
  const wasm = backend as unknown as WasmBackendLike;
  const count = n * h * w * c;
  const onHeap = x.dtype === 'float32' && wasm.dataIdMap.get(x.dataId) !== undefined;
  const out = wasm.makeOutput([n, h, w, c], 'float32');
  let copy = 0;
  try {
    if (!onHeap) {
      const src = values ?? (x.dataSync() as Float32Array);
      copy = native.malloc(count * 4);
      new Float32Array(native.module.HEAPU8.buffer, copy, count).set(src.subarray(0, count));
    }
    correlateInHeap(native, g, s, kernel, kh, kw, mode, clip, onHeap ? native.address(x) : copy, native.address(out));
  } catch (err) {
    backend.disposeData(out.dataId);
    throw err;
  } finally {
    if (copy) native.free(copy);
  }
  return tf.engine().makeTensorFromTensorInfo(out, backend) as tf.Tensor4D;
}

