/**
 * {@link correlate2dFft} for point-symmetric kernels (defocus_blur's disks) on medrobust's wasm kernel module
 * (native/kernels.c, section "FFT for defocus_blur"): the same passes in the same order, each value through the
 * same IEEE f64 operations, on f64x2 vectors of two adjacent columns, with fft.ts's twiddle tables passed in,
 * so the results are bit-identical to the JavaScript path. The grids, tables, image and output live in one
 * scratch block of the wasm backend's heap, freed on every path. Single-threaded (CPU time is what counts).
 * @internal
 */
import type { Native } from '../backend/kernels/native.js';
import { planOf, pointSymmetric, pow2 } from './fft.js';
import { foldIndex, type BorderMode } from './linear.js';
import type { BatchShape } from './planes.js';

/** Bytes rounded up to 16 (every array in the block starts 16-byte aligned). */
const align16 = (bytes: number): number => (bytes + 15) & ~15;

/**
 * `correlate2dFft(src, s, kernel, kh, kw, mode, clip)` on the kernel module, bit for bit; undefined where this
 * path does not apply (a kernel of even size or not unchanged by a half turn, grids under 4 × 4): the caller then
 * runs the JavaScript one.
 */
export function correlate2dFftNative(native: Native, src: Float32Array, s: BatchShape, kernel: ArrayLike<number>, kh: number, kw: number, mode: BorderMode, clip = false): Float32Array | undefined {
  const { n, h, w, c } = s;
  const ry = (kh - 1) / 2;
  const rx = (kw - 1) / 2;
  if (!Number.isInteger(ry) || !Number.isInteger(rx) || !pointSymmetric(kernel, kh, kw)) return undefined;
  const ph = h + 2 * ry;
  const pw = w + 2 * rx;
  const rows = pow2(ph);
  const cols = pow2(pw);
  if (rows < 4 || cols < 4) return undefined;
  const ex = native.exports;
  const fused = Math.round(Math.log2(cols)) % 2 === 0 && cols >= 16;
  const minLen = fused ? 16 : 4;
  const grid = rows * cols;
  const rowPlan = planOf(rows);
  const colPlan = planOf(cols);
  const values = n * h * w * c;
  // the block: five grids (re, im, tRe, tIm, the kernel's spectrum), the two plans' tables, the border rule's
  // row and column indices, the image and the output
  const sizes = [grid * 8, grid * 8, grid * 8, grid * 8, grid * 8, (rows / 2) * 8, (rows / 2) * 8, (cols / 2) * 8, (cols / 2) * 8, ph * 4, pw * 4, values * 4, values * 4];
  const offsets: number[] = [];
  let total = 0;
  for (const b of sizes) {
    offsets.push(total);
    total += align16(b);
  }
  const block = native.malloc(total);
  try {
    const [reP, imP, tReP, tImP, kReP, cosR, sinR, cosC, sinC, rowOfP, colOfP, srcP, outP] = offsets.map((o) => block + o) as [number, number, number, number, number, number, number, number, number, number, number, number, number];
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
    new Float32Array(buffer, srcP, values).set(src.subarray(0, values));
    // the kernel's spectrum (real): centred at (0, 0), wrapping around the grid; forward2d with usedCols = cols,
    // transposed straight into its own grid
    re.fill(0);
    im.fill(0);
    for (let i = 0; i < kh; i++) for (let j = 0; j < kw; j++) re[((i - ry + rows) % rows) * cols + ((j - rx + cols) % cols)] = kernel[i * kw + j]!;
    ex.fft_dif_rows(reP, imP, rows, cols, cols, 4, cosR, sinR);
    ex.fft_transpose(reP, kReP, rows, cols, cols, rows);
    ex.fft_transpose(imP, tImP, rows, cols, cols, rows);
    ex.fft_dif_rows(kReP, tImP, cols, rows, rows, 4, cosC, sinC);
    const scale = 1 / (rows * cols);
    const planes = n * c;
    const baseOf = (p: number): number => Math.floor(p / c) * h * w * c + (p % c);
    for (let p = 0; p < planes; p += 2) {
      re.fill(0, ph * cols);
      im.fill(0, ph * cols);
      ex.fft_load_plane(srcP, reP, baseOf(p), w, c, pw, cols, rowOfP, ph, colOfP, rx);
      if (p + 1 < planes) ex.fft_load_plane(srcP, imP, baseOf(p + 1), w, c, pw, cols, rowOfP, ph, colOfP, rx);
      else im.fill(0, 0, ph * cols);
      // forward2d(re, im, tRe, tIm, rows, cols, pw, minLen)
      ex.fft_dif_rows(reP, imP, rows, pw, cols, 4, cosR, sinR);
      tRe.fill(0, pw * rows);
      tIm.fill(0, pw * rows);
      ex.fft_transpose(reP, tReP, rows, pw, cols, rows);
      ex.fft_transpose(imP, tImP, rows, pw, cols, rows);
      ex.fft_dif_rows(tReP, tImP, cols, rows, rows, minLen, cosC, sinC);
      if (fused) ex.fft_middle(tReP, tImP, kReP, cols, rows, rows);
      else ex.fft_real_product(tReP, tImP, kReP, grid);
      // inverse: along the transposed column axis, keep w columns from rx, then along the rows, the last pass storing
      ex.fft_dit_rows(tReP, tImP, cols, rows, rows, minLen, cols, cosC, sinC);
      ex.fft_transpose(tReP + rx * rows * 8, reP, w, rows, rows, cols);
      ex.fft_transpose(tImP + rx * rows * 8, imP, w, rows, rows, cols);
      ex.fft_dit_rows(reP, imP, rows, w, cols, 4, rows >> 2, cosR, sinR);
      ex.fft_dit_last_store(reP, imP, rows, w, cols, outP, baseOf(p), p + 1 < planes ? baseOf(p + 1) : -1, ry, h, w, c, scale, clip ? 1 : 0, cosR, sinR);
    }
    return new Float32Array(buffer, outP, values).slice();
  } finally {
    native.free(block);
  }
}
