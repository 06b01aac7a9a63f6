/**
 * Complex fast Fourier transforms on split (real, imaginary) Float64Arrays, for the FFT-accelerated
 * t-SNE gradient (FIt-SNE; Linderman et al., Nature Methods 2019).
 *
 * The transform is a mixed-radix Stockham autosort FFT (no bit reversal; radices 4, 2, 3 and 5 with
 * hand-written butterflies, any other prime by a generic O(r²) butterfly), so every length works
 * and 5-smooth lengths (2^a·3^b·5^c) are fast. For n = r·m, each stage computes
 *   y[q + s·(r·p + j)] = w_n^{j·p} · Σ_k x[q + s·(p + k·m)] · ω_r^{j·k}      (p < m, q < s, j < r)
 * and continues with (m, r·s); after the last stage the output is in natural order. Starting the
 * recursion with stride s = V transforms V interleaved sequences at once: on a row-major
 * [n, V] array that is the column transform, with the innermost loop running along a row.
 *
 * The inverse transform uses IDFT(x) = swap(DFT(swap(x))) / n, where swap exchanges the real and
 * imaginary parts: with split storage that is the forward transform called with the two arrays
 * exchanged, and the 1/n is left to the caller.
 * @internal
 */

/** Factors `n` into radices, 4s first, then 2, 3, 5 and any other primes in increasing order. */
function factorise(n: number): number[] {
  const out: number[] = [];
  let m = n;
  while (m % 4 === 0) { out.push(4); m /= 4; }
  while (m % 2 === 0) { out.push(2); m /= 2; }
  for (let f = 3; f * f <= m; f += 2) while (m % f === 0) { out.push(f); m /= f; }
  if (m > 1) out.push(m);
  return out;
}

/** The smallest 5-smooth number (2^a·3^b·5^c) ≥ n. */
export function nextSmooth(n: number): number {
  let m = Math.max(1, Math.ceil(n));
  for (;;) {
    let r = m;
    while (r % 2 === 0) r /= 2;
    while (r % 3 === 0) r /= 3;
    while (r % 5 === 0) r /= 5;
    if (r === 1) return m;
    m++;
  }
}

const C3 = -0.5; // cos(2π/3)
const S3 = Math.sqrt(3) / 2; // sin(2π/3)
const C51 = Math.cos((2 * Math.PI) / 5);
const C52 = Math.cos((4 * Math.PI) / 5);
const S51 = Math.sin((2 * Math.PI) / 5);
const S52 = Math.sin((4 * Math.PI) / 5);

/**
 * A forward DFT plan of length n: X_k = Σ_j x_j e^{−2πi·jk/n}.
 */
export class Fft {
  readonly radices: readonly number[];
  /** e^{−2πi·k/n}, k < n. */
  private readonly cosTable: Float64Array;
  private readonly sinTable: Float64Array;
  /** Scratch for the generic odd-prime butterfly. */
  private readonly genRe: Float64Array;
  private readonly genIm: Float64Array;

  constructor(readonly n: number) {
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`Fft: length must be a positive integer, received ${n}`);
    const radices = factorise(n);
    this.radices = radices;
    this.cosTable = new Float64Array(n);
    this.sinTable = new Float64Array(n);
    for (let k = 0; k < n; k++) {
      const a = (-2 * Math.PI * k) / n;
      this.cosTable[k] = Math.cos(a);
      this.sinTable[k] = Math.sin(a);
    }
    const maxR = radices.reduce((a, b) => Math.max(a, b), 1);
    this.genRe = new Float64Array(2 * maxR);
    this.genIm = new Float64Array(2 * maxR);
  }

  /**
   * Transforms, in place, the V = `stride` interleaved sequences stored at `re/im[offset + stride·t + v]`
   * (t < n, v < stride). `tmpRe/tmpIm` are scratch of at least n·stride values (from offset 0).
   * With `stride` = 1 this is one contiguous sequence.
   */
  transform(re: Float64Array, im: Float64Array, offset: number, stride: number, tmpRe: Float64Array, tmpIm: Float64Array): void {
    const { n } = this;
    if (n === 1) return;
    let xr = re;
    let xi = im;
    let xo = offset;
    let yr = tmpRe;
    let yi = tmpIm;
    let yo = 0;
    let len = n;
    let s = stride;
    for (const r of this.radices) {
      const m = len / r;
      const tw = s / stride; // twiddle index step: w_len^{jp} = W_n^{jp·n/len}
      if (r === 4) this.radix4(xr, xi, xo, yr, yi, yo, m, s, tw);
      else if (r === 2) this.radix2(xr, xi, xo, yr, yi, yo, m, s, tw);
      else if (r === 3) this.radix3(xr, xi, xo, yr, yi, yo, m, s, tw);
      else if (r === 5) this.radix5(xr, xi, xo, yr, yi, yo, m, s, tw);
      else this.radixGeneric(r, xr, xi, xo, yr, yi, yo, m, s, tw);
      const tr = xr; xr = yr; yr = tr;
      const ti = xi; xi = yi; yi = ti;
      const to = xo; xo = yo; yo = to;
      len = m;
      s *= r;
    }
    if (xr !== re) {
      const count = n * stride;
      re.set(xr.subarray(0, count), offset);
      im.set(xi.subarray(0, count), offset);
    }
  }

  private radix2(xr: Float64Array, xi: Float64Array, xo: number, yr: Float64Array, yi: Float64Array, yo: number, m: number, s: number, tw: number): void {
    const { cosTable: ct, sinTable: st } = this;
    for (let p = 0; p < m; p++) {
      const wr = ct[p * tw]!;
      const wi = st[p * tw]!;
      const a0 = xo + s * p;
      const a1 = a0 + s * m;
      const b0 = yo + s * 2 * p;
      const b1 = b0 + s;
      for (let q = 0; q < s; q++) {
        const ar = xr[a0 + q]!, ai = xi[a0 + q]!;
        const br = xr[a1 + q]!, bi = xi[a1 + q]!;
        yr[b0 + q] = ar + br;
        yi[b0 + q] = ai + bi;
        const dr = ar - br, di = ai - bi;
        yr[b1 + q] = dr * wr - di * wi;
        yi[b1 + q] = dr * wi + di * wr;
      }
    }
  }

  private radix4(xr: Float64Array, xi: Float64Array, xo: number, yr: Float64Array, yi: Float64Array, yo: number, m: number, s: number, tw: number): void {
    const { cosTable: ct, sinTable: st } = this;
    const sm = s * m;
    for (let p = 0; p < m; p++) {
      const w1r = ct[p * tw]!, w1i = st[p * tw]!;
      const w2r = ct[2 * p * tw]!, w2i = st[2 * p * tw]!;
      const w3r = ct[3 * p * tw]!, w3i = st[3 * p * tw]!;
      const a0 = xo + s * p;
      const b0 = yo + s * 4 * p;
      for (let q = 0; q < s; q++) {
        const i0 = a0 + q;
        const x0r = xr[i0]!, x0i = xi[i0]!;
        const x1r = xr[i0 + sm]!, x1i = xi[i0 + sm]!;
        const x2r = xr[i0 + 2 * sm]!, x2i = xi[i0 + 2 * sm]!;
        const x3r = xr[i0 + 3 * sm]!, x3i = xi[i0 + 3 * sm]!;
        const t0r = x0r + x2r, t0i = x0i + x2i;
        const t1r = x0r - x2r, t1i = x0i - x2i;
        const t2r = x1r + x3r, t2i = x1i + x3i;
        // −i·(x1 − x3)
        const t3r = x1i - x3i, t3i = x3r - x1r;
        const o = b0 + q;
        yr[o] = t0r + t2r;
        yi[o] = t0i + t2i;
        const y1r = t1r + t3r, y1i = t1i + t3i;
        yr[o + s] = y1r * w1r - y1i * w1i;
        yi[o + s] = y1r * w1i + y1i * w1r;
        const y2r = t0r - t2r, y2i = t0i - t2i;
        yr[o + 2 * s] = y2r * w2r - y2i * w2i;
        yi[o + 2 * s] = y2r * w2i + y2i * w2r;
        const y3r = t1r - t3r, y3i = t1i - t3i;
        yr[o + 3 * s] = y3r * w3r - y3i * w3i;
        yi[o + 3 * s] = y3r * w3i + y3i * w3r;
      }
    }
  }

  private radix3(xr: Float64Array, xi: Float64Array, xo: number, yr: Float64Array, yi: Float64Array, yo: number, m: number, s: number, tw: number): void {
    const { cosTable: ct, sinTable: st } = this;
    const sm = s * m;
    for (let p = 0; p < m; p++) {
      const w1r = ct[p * tw]!, w1i = st[p * tw]!;
      const w2r = ct[2 * p * tw]!, w2i = st[2 * p * tw]!;
      const a0 = xo + s * p;
      const b0 = yo + s * 3 * p;
      for (let q = 0; q < s; q++) {
        const i0 = a0 + q;
        const x0r = xr[i0]!, x0i = xi[i0]!;
        const x1r = xr[i0 + sm]!, x1i = xi[i0 + sm]!;
        const x2r = xr[i0 + 2 * sm]!, x2i = xi[i0 + 2 * sm]!;
        const sr = x1r + x2r, si = x1i + x2i;
        const mr = x0r + C3 * sr, mi = x0i + C3 * si;
        // −i·sin(2π/3)·(x1 − x2)
        const dr = S3 * (x1i - x2i), di = -S3 * (x1r - x2r);
        const o = b0 + q;
        yr[o] = x0r + sr;
        yi[o] = x0i + si;
        const y1r = mr + dr, y1i = mi + di;
        yr[o + s] = y1r * w1r - y1i * w1i;
        yi[o + s] = y1r * w1i + y1i * w1r;
        const y2r = mr - dr, y2i = mi - di;
        yr[o + 2 * s] = y2r * w2r - y2i * w2i;
        yi[o + 2 * s] = y2r * w2i + y2i * w2r;
      }
    }
  }

  private radix5(xr: Float64Array, xi: Float64Array, xo: number, yr: Float64Array, yi: Float64Array, yo: number, m: number, s: number, tw: number): void {
    const { cosTable: ct, sinTable: st } = this;
    const sm = s * m;
    for (let p = 0; p < m; p++) {
      const w1r = ct[p * tw]!, w1i = st[p * tw]!;
      const w2r = ct[2 * p * tw]!, w2i = st[2 * p * tw]!;
      const w3r = ct[3 * p * tw]!, w3i = st[3 * p * tw]!;
      const w4r = ct[4 * p * tw]!, w4i = st[4 * p * tw]!;
      const a0 = xo + s * p;
      const b0 = yo + s * 5 * p;
      for (let q = 0; q < s; q++) {
        const i0 = a0 + q;
        const x0r = xr[i0]!, x0i = xi[i0]!;
        const x1r = xr[i0 + sm]!, x1i = xi[i0 + sm]!;
        const x2r = xr[i0 + 2 * sm]!, x2i = xi[i0 + 2 * sm]!;
        const x3r = xr[i0 + 3 * sm]!, x3i = xi[i0 + 3 * sm]!;
        const x4r = xr[i0 + 4 * sm]!, x4i = xi[i0 + 4 * sm]!;
        const b1r = x1r + x4r, b1i = x1i + x4i;
        const b2r = x2r + x3r, b2i = x2i + x3i;
        const d1r = x1r - x4r, d1i = x1i - x4i;
        const d2r = x2r - x3r, d2i = x2i - x3i;
        const m1r = x0r + C51 * b1r + C52 * b2r, m1i = x0i + C51 * b1i + C52 * b2i;
        const m2r = x0r + C52 * b1r + C51 * b2r, m2i = x0i + C52 * b1i + C51 * b2i;
        // e1 = S51·d1 + S52·d2, e2 = S52·d1 − S51·d2; y1 = m1 − i·e1, y4 = m1 + i·e1, y2 = m2 − i·e2, y3 = m2 + i·e2
        const e1r = S51 * d1r + S52 * d2r, e1i = S51 * d1i + S52 * d2i;
        const e2r = S52 * d1r - S51 * d2r, e2i = S52 * d1i - S51 * d2i;
        const o = b0 + q;
        yr[o] = x0r + b1r + b2r;
        yi[o] = x0i + b1i + b2i;
        let tr = m1r + e1i, ti = m1i - e1r;
        yr[o + s] = tr * w1r - ti * w1i;
        yi[o + s] = tr * w1i + ti * w1r;
        tr = m2r + e2i; ti = m2i - e2r;
        yr[o + 2 * s] = tr * w2r - ti * w2i;
        yi[o + 2 * s] = tr * w2i + ti * w2r;
        tr = m2r - e2i; ti = m2i + e2r;
        yr[o + 3 * s] = tr * w3r - ti * w3i;
        yi[o + 3 * s] = tr * w3i + ti * w3r;
        tr = m1r - e1i; ti = m1i + e1r;
        yr[o + 4 * s] = tr * w4r - ti * w4i;
        yi[o + 4 * s] = tr * w4i + ti * w4r;
      }
    }
  }

  private radixGeneric(r: number, xr: Float64Array, xi: Float64Array, xo: number, yr: Float64Array, yi: Float64Array, yo: number, m: number, s: number, tw: number): void {
    const { cosTable: ct, sinTable: st, n, genRe: ar, genIm: ai } = this;
    const sm = s * m;
    const rootStep = n / r; // ω_r^{jk} = W_n^{jk·n/r}
    for (let p = 0; p < m; p++) {
      const a0 = xo + s * p;
      const b0 = yo + s * r * p;
      for (let q = 0; q < s; q++) {
        for (let k = 0; k < r; k++) {
          ar[k] = xr[a0 + q + k * sm]!;
          ai[k] = xi[a0 + q + k * sm]!;
        }
        for (let j = 0; j < r; j++) {
          let sr = 0;
          let si = 0;
          for (let k = 0; k < r; k++) {
            const idx = ((j * k) % r) * rootStep;
            const c = ct[idx]!, sn = st[idx]!;
            sr += ar[k]! * c - ai[k]! * sn;
            si += ar[k]! * sn + ai[k]! * c;
          }
          const widx = (j * p * tw) % n;
          const wr = ct[widx]!, wi = st[widx]!;
          yr[b0 + q + j * s] = sr * wr - si * wi;
          yi[b0 + q + j * s] = sr * wi + si * wr;
        }
      }
    }
  }
}

/** Columns per block in the column pass of {@link Convolution2d} (the block stays in cache). */
const BLOCK = 8;

/**
 * Linear 2-D convolution of M×M inputs with a real, even kernel, by FFT on an L×L torus
 * (L ≥ 2M − 1): the kernel's values at offsets (dx, dy), |dx|, |dy| < M, are embedded in a circulant
 * at ((L + dy) mod L, (L + dx) mod L), so that for the top-left M×M block the circular convolution
 * equals the Toeplitz sum
 *   out[i, j] = Σ_{k,l < M} K(i − k, j − l) · in[k, l].
 * An even real kernel has a real spectrum, so one complex convolution carries two real inputs (in
 * the real and imaginary parts) and returns both results.
 *
 * Inputs and outputs are M rows of L values (only the first M columns are data); only these M rows
 * are transformed along rows. The column pass runs on blocks of 8 columns gathered into a
 * cache-sized buffer, where the forward column transform, the product with the spectrum and the
 * inverse column transform follow each other, and only the M rows the output needs are written back.
 */
export class Convolution2d {
  readonly fft: Fft;
  /** The kernel's spectrum (L × L), divided by L² (the inverse transform's factor). */
  readonly spectrum: Float64Array;
  private readonly tmpRe: Float64Array;
  private readonly tmpIm: Float64Array;
  private readonly blockRe: Float64Array;
  private readonly blockIm: Float64Array;

  constructor(readonly m: number, readonly size: number) {
    if (size < 2 * m - 1) throw new RangeError(`Convolution2d: size ${size} < 2·${m} − 1`);
    this.fft = new Fft(size);
    this.spectrum = new Float64Array(size * size);
    this.tmpRe = new Float64Array(size * BLOCK);
    this.tmpIm = new Float64Array(size * BLOCK);
    this.blockRe = new Float64Array(size * BLOCK);
    this.blockIm = new Float64Array(size * BLOCK);
  }

  /**
   * Sets the kernel from its values K(dx, dy) at the offsets 0 ≤ dx, dy < M (K must be even in
   * each). The circulant is real and even along both axes, so its spectrum is real and even: the
   * M distinct rows are transformed two at a time (one as the real, one as the imaginary input, whose
   * spectra come back as the real and imaginary outputs), then the L/2 + 1 distinct columns likewise.
   */
  setKernel(kernel: (dx: number, dy: number) => number): void {
    const { m, size: L, fft, spectrum } = this;
    // row spectra of the M distinct kernel rows (row dy equals row L − dy)
    const rows = new Float64Array(m * L);
    const bufRe = new Float64Array(L);
    const bufIm = new Float64Array(L);
    const tr = new Float64Array(L);
    const ti = new Float64Array(L);
    const evenRow = (dy: number, out: Float64Array): void => {
      out.fill(0);
      if (dy >= m) return;
      for (let dx = 0; dx < m; dx++) {
        const v = kernel(dx, dy);
        out[dx] = v;
        out[(L - dx) % L] = v;
      }
    };
    for (let dy = 0; dy < m; dy += 2) {
      evenRow(dy, bufRe);
      evenRow(dy + 1, bufIm);
      fft.transform(bufRe, bufIm, 0, 1, tr, ti);
      rows.set(bufRe, dy * L);
      if (dy + 1 < m) rows.set(bufIm, (dy + 1) * L);
    }
    // column spectra of the distinct columns kx ≤ L/2, two at a time
    const half = L >> 1;
    const scale = 1 / (L * L);
    const evenColumn = (kx: number, out: Float64Array): void => {
      out.fill(0);
      if (kx > half) return;
      for (let dy = 0; dy < m; dy++) {
        const v = rows[dy * L + kx]!;
        out[dy] = v;
        out[(L - dy) % L] = v;
      }
    };
    for (let kx = 0; kx <= half; kx += 2) {
      evenColumn(kx, bufRe);
      evenColumn(kx + 1, bufIm);
      fft.transform(bufRe, bufIm, 0, 1, tr, ti);
      for (let ky = 0; ky < L; ky++) {
        const a = bufRe[ky]! * scale;
        spectrum[ky * L + kx] = a;
        spectrum[ky * L + ((L - kx) % L)] = a;
        if (kx + 1 <= half) {
          const b = bufIm[ky]! * scale;
          spectrum[ky * L + kx + 1] = b;
          spectrum[ky * L + ((L - kx - 1) % L)] = b;
        }
      }
    }
  }

  /**
   * Convolves the two real M×M inputs in the first M columns of `re` and `im` (M × L arrays whose
   * other columns are zero) with the kernel; afterwards the first M columns of `re` and `im` hold
   * the two results and the other columns garbage.
   */
  convolve(re: Float64Array, im: Float64Array): void {
    const { m, size: L, tmpRe, tmpIm, blockRe, blockIm, fft, spectrum } = this;
    for (let r = 0; r < m; r++) fft.transform(re, im, r * L, 1, tmpRe, tmpIm);
    for (let c0 = 0; c0 < L; c0 += BLOCK) {
      const w = Math.min(BLOCK, L - c0);
      // gather the M data rows of this column block; the rows below are zero
      for (let r = 0; r < m; r++) {
        const src = r * L + c0;
        const dst = r * w;
        for (let v = 0; v < w; v++) {
          blockRe[dst + v] = re[src + v]!;
          blockIm[dst + v] = im[src + v]!;
        }
      }
      blockRe.fill(0, m * w, L * w);
      blockIm.fill(0, m * w, L * w);
      fft.transform(blockRe, blockIm, 0, w, tmpRe, tmpIm);
      for (let r = 0; r < L; r++) {
        const src = r * L + c0;
        const dst = r * w;
        for (let v = 0; v < w; v++) {
          const k = spectrum[src + v]!;
          blockRe[dst + v]! *= k;
          blockIm[dst + v]! *= k;
        }
      }
      // inverse: the forward transform with real and imaginary parts swapped
      fft.transform(blockIm, blockRe, 0, w, tmpIm, tmpRe);
      for (let r = 0; r < m; r++) {
        const dst = r * L + c0;
        const src = r * w;
        for (let v = 0; v < w; v++) {
          re[dst + v] = blockRe[src + v]!;
          im[dst + v] = blockIm[src + v]!;
        }
      }
    }
    for (let r = 0; r < m; r++) fft.transform(im, re, r * L, 1, tmpIm, tmpRe);
  }
}

/**
 * Linear 1-D convolution of two real length-M inputs (packed as real and imaginary parts) with a
 * real, even kernel, by FFT on a circle of L ≥ 2M − 1 points; the 1-D analogue of {@link Convolution2d}.
 */
export class Convolution1d {
  readonly fft: Fft;
  readonly spectrum: Float64Array;
  private readonly tmpRe: Float64Array;
  private readonly tmpIm: Float64Array;

  constructor(readonly m: number, readonly size: number) {
    if (size < 2 * m - 1) throw new RangeError(`Convolution1d: size ${size} < 2·${m} − 1`);
    this.fft = new Fft(size);
    this.spectrum = new Float64Array(size);
    this.tmpRe = new Float64Array(size);
    this.tmpIm = new Float64Array(size);
  }

  /** Sets the kernel from its values K(d), 0 ≤ d < M. */
  setKernel(kernel: (d: number) => number): void {
    const { m, size: L } = this;
    const re = new Float64Array(L);
    const im = new Float64Array(L);
    for (let d = 0; d < m; d++) {
      re[d] = kernel(d);
      re[(L - d) % L] = re[d]!;
    }
    this.fft.transform(re, im, 0, 1, this.tmpRe, this.tmpIm);
    for (let p = 0; p < L; p++) this.spectrum[p] = re[p]! / L;
  }

  /** Convolves the two real length-M inputs at the start of `re` and `im` (length L, zero beyond M). */
  convolve(re: Float64Array, im: Float64Array): void {
    const { size: L, tmpRe, tmpIm, fft, spectrum } = this;
    fft.transform(re, im, 0, 1, tmpRe, tmpIm);
    for (let p = 0; p < L; p++) {
      re[p]! *= spectrum[p]!;
      im[p]! *= spectrum[p]!;
    }
    fft.transform(im, re, 0, 1, tmpIm, tmpRe);
  }
}
