/**
 * A baseline JPEG round trip that reproduces, integer for integer, what Pillow's
 * `save(..., 'JPEG', quality=q)` followed by `Image.open` does to the pixels with libjpeg(-turbo)'s
 * defaults; only the entropy coding, which is lossless, is left out. The stages and their libjpeg
 * sources:
 * 1. pixels to 8-bit values (rounded); RGB → YCbCr with the 16-bit fixed-point tables of `jccolor.c`;
 * 2. 4:2:0 chroma: the full-resolution planes are padded by edge replication to an even height and
 *    to 16-pixel-wide MCUs, then every 2×2 block is averaged with libjpeg's alternating rounding
 *    bias 1, 2, 1, 2… (`jcsample.c` h2v2_downsample);
 * 3. each plane padded to whole 8×8 blocks by replicating its last row and column (`jcprepct.c`),
 *    level-shifted by −128 and transformed by the integer "ISLOW" forward DCT (`jfdctint.c`,
 *    13-bit constants), divided by the IJG-scaled standard tables (`jcparam.c` jpeg_set_quality with
 *    baseline clamping, as Pillow calls it) with rounding half away from zero (`jcdctmgr.c`);
 * 4. the integer ISLOW inverse DCT (`jidctint.c`) with its range-limit table, the "fancy" triangle
 *    upsampling of chroma (`jdsample.c` h2v2_fancy_upsample, edge rows and columns replicated; plain
 *    replication when the chroma is at most 2 samples wide, as libjpeg-turbo does), and
 *    YCbCr → RGB with the fixed-point tables of `jdcolor.c`.
 * A 1-channel image is coded as a greyscale JPEG (Y only), which equals what imagecorruptions does
 * (grey → RGB → JPEG → L) because a grey RGB pixel has Cb = Cr = 128 exactly.
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';

/** ITU-T T.81 Annex K.1, luminance, in natural (row-major) order. */
const LUMA_TABLE = [
  16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
  18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
];
/** ITU-T T.81 Annex K.2, chrominance. */
const CHROMA_TABLE = [
  17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99, 47, 66, 99, 99, 99, 99, 99, 99,
  99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
];

/**
 * The IJG table for a quality in 1…100 (libjpeg `jpeg_quality_scaling`, integer arithmetic:
 * scale = ⌊5000/q⌋ below 50, 200 − 2q above), baseline-clamped to 1…255 as Pillow asks for.
 */
export function quantizationTable(base: readonly number[], quality: number): Int32Array {
  const q = Math.min(100, Math.max(1, Math.round(quality)));
  const scale = q < 50 ? Math.floor(5000 / q) : 200 - 2 * q;
  return Int32Array.from(base, (v) => Math.min(255, Math.max(1, Math.floor((v * scale + 50) / 100))));
}

// jfdctint.c / jidctint.c constants: FIX(x) = round(x · 2^13)
const CONST_BITS = 13;
const PASS1_BITS = 2;
const F0298 = 2446;
const F0390 = 3196;
const F0541 = 4433;
const F0765 = 6270;
const F0899 = 7373;
const F1175 = 9633;
const F1501 = 12299;
const F1847 = 15137;
const F1961 = 16069;
const F2053 = 16819;
const F2562 = 20995;
const F3072 = 25172;

/** libjpeg's DESCALE: x / 2ⁿ rounded (half up), as an arithmetic shift. */
const descale = (x: number, n: number): number => (x + (1 << (n - 1))) >> n;

/** The ISLOW forward DCT of one block in place (`jpeg_fdct_islow`); outputs are scaled by 8. */
function fdctIslow(d: Int32Array): void {
  for (let r = 0; r < 64; r += 8) {
    const tmp0 = d[r]! + d[r + 7]!;
    const tmp7 = d[r]! - d[r + 7]!;
    const tmp1 = d[r + 1]! + d[r + 6]!;
    const tmp6 = d[r + 1]! - d[r + 6]!;
    const tmp2 = d[r + 2]! + d[r + 5]!;
    const tmp5 = d[r + 2]! - d[r + 5]!;
    const tmp3 = d[r + 3]! + d[r + 4]!;
    const tmp4 = d[r + 3]! - d[r + 4]!;
    const tmp10 = tmp0 + tmp3;
    const tmp13 = tmp0 - tmp3;
    const tmp11 = tmp1 + tmp2;
    const tmp12 = tmp1 - tmp2;
    d[r] = (tmp10 + tmp11) << PASS1_BITS;
    d[r + 4] = (tmp10 - tmp11) << PASS1_BITS;
    const z1 = (tmp12 + tmp13) * F0541;
    d[r + 2] = descale(z1 + tmp13 * F0765, CONST_BITS - PASS1_BITS);
    d[r + 6] = descale(z1 - tmp12 * F1847, CONST_BITS - PASS1_BITS);
    odd(d, r, 1, tmp4, tmp5, tmp6, tmp7, CONST_BITS - PASS1_BITS);
  }
  for (let c = 0; c < 8; c++) {
    const tmp0 = d[c]! + d[c + 56]!;
    const tmp7 = d[c]! - d[c + 56]!;
    const tmp1 = d[c + 8]! + d[c + 48]!;
    const tmp6 = d[c + 8]! - d[c + 48]!;
    const tmp2 = d[c + 16]! + d[c + 40]!;
    const tmp5 = d[c + 16]! - d[c + 40]!;
    const tmp3 = d[c + 24]! + d[c + 32]!;
    const tmp4 = d[c + 24]! - d[c + 32]!;
    const tmp10 = tmp0 + tmp3;
    const tmp13 = tmp0 - tmp3;
    const tmp11 = tmp1 + tmp2;
    const tmp12 = tmp1 - tmp2;
    d[c] = descale(tmp10 + tmp11, PASS1_BITS);
    d[c + 32] = descale(tmp10 - tmp11, PASS1_BITS);
    const z1 = (tmp12 + tmp13) * F0541;
    d[c + 16] = descale(z1 + tmp13 * F0765, CONST_BITS + PASS1_BITS);
    d[c + 48] = descale(z1 - tmp12 * F1847, CONST_BITS + PASS1_BITS);
    odd(d, c, 8, tmp4, tmp5, tmp6, tmp7, CONST_BITS + PASS1_BITS);
  }
}

/** The odd part of the forward DCT: outputs 1, 3, 5, 7 at `at + k·step`. */
function odd(d: Int32Array, at: number, step: number, tmp4: number, tmp5: number, tmp6: number, tmp7: number, shift: number): void {
  let z1 = tmp4 + tmp7;
  const z2 = tmp5 + tmp6;
  let z3 = tmp4 + tmp6;
  let z4 = tmp5 + tmp7;
  const z5 = (z3 + z4) * F1175;
  const t4 = tmp4 * F0298;
  const t5 = tmp5 * F2053;
  const t6 = tmp6 * F3072;
  const t7 = tmp7 * F1501;
  z1 *= -F0899;
  const z2m = z2 * -F2562;
  z3 = z3 * -F1961 + z5;
  z4 = z4 * -F0390 + z5;
  d[at + 7 * step] = descale(t4 + z1 + z3, shift);
  d[at + 5 * step] = descale(t5 + z2m + z4, shift);
  d[at + 3 * step] = descale(t6 + z2m + z3, shift);
  d[at + step] = descale(t7 + z1 + z4, shift);
}

/** The post-IDCT range limit of `jdmaster.c`: index (v & 1023) → the sample of v + 128. */
const IDCT_LIMIT = (() => {
  const t = new Uint8Array(1024);
  for (let i = 0; i < 1024; i++) t[i] = i < 128 ? i + 128 : i < 512 ? 255 : i < 896 ? 0 : i - 896;
  return t;
})();

/** The odd part of the inverse DCT, shared by both passes (see `idctOdd`). */
const ODD = new Float64Array(4);

/** The ISLOW inverse DCT of dequantised coefficients `w` (`jpeg_idct_islow`) into 8 rows of `out`. */
function idctIslow(w: Int32Array, out: Uint8Array, at: number, stride: number): void {
  // pass 1: columns, results scaled up by 2^PASS1_BITS
  for (let c = 0; c < 8; c++) {
    const z2a = w[c + 16]!;
    const z3a = w[c + 48]!;
    const z1 = (z2a + z3a) * F0541;
    const tmp2 = z1 - z3a * F1847;
    const tmp3 = z1 + z2a * F0765;
    const tmp0 = (w[c]! + w[c + 32]!) << CONST_BITS;
    const tmp1 = (w[c]! - w[c + 32]!) << CONST_BITS;
    const tmp10 = tmp0 + tmp3;
    const tmp13 = tmp0 - tmp3;
    const tmp11 = tmp1 + tmp2;
    const tmp12 = tmp1 - tmp2;
    idctOdd(w[c + 56]!, w[c + 40]!, w[c + 24]!, w[c + 8]!);
    const o0 = ODD[0]!;
    const o1 = ODD[1]!;
    const o2 = ODD[2]!;
    const o3 = ODD[3]!;
    const s = CONST_BITS - PASS1_BITS;
    w[c] = descale(tmp10 + o3, s);
    w[c + 56] = descale(tmp10 - o3, s);
    w[c + 8] = descale(tmp11 + o2, s);
    w[c + 48] = descale(tmp11 - o2, s);
    w[c + 16] = descale(tmp12 + o1, s);
    w[c + 40] = descale(tmp12 - o1, s);
    w[c + 24] = descale(tmp13 + o0, s);
    w[c + 32] = descale(tmp13 - o0, s);
  }
  // pass 2: rows, descaled by 2^(PASS1_BITS + 3) more, then range-limited around 128
  for (let r = 0; r < 8; r++) {
    const b = r * 8;
    const z2a = w[b + 2]!;
    const z3a = w[b + 6]!;
    const z1 = (z2a + z3a) * F0541;
    const tmp2 = z1 - z3a * F1847;
    const tmp3 = z1 + z2a * F0765;
    const tmp0 = (w[b]! + w[b + 4]!) << CONST_BITS;
    const tmp1 = (w[b]! - w[b + 4]!) << CONST_BITS;
    const tmp10 = tmp0 + tmp3;
    const tmp13 = tmp0 - tmp3;
    const tmp11 = tmp1 + tmp2;
    const tmp12 = tmp1 - tmp2;
    idctOdd(w[b + 7]!, w[b + 5]!, w[b + 3]!, w[b + 1]!);
    const o0 = ODD[0]!;
    const o1 = ODD[1]!;
    const o2 = ODD[2]!;
    const o3 = ODD[3]!;
    const s = CONST_BITS + PASS1_BITS + 3;
    const row = at + r * stride;
    out[row] = IDCT_LIMIT[descale(tmp10 + o3, s) & 1023]!;
    out[row + 7] = IDCT_LIMIT[descale(tmp10 - o3, s) & 1023]!;
    out[row + 1] = IDCT_LIMIT[descale(tmp11 + o2, s) & 1023]!;
    out[row + 6] = IDCT_LIMIT[descale(tmp11 - o2, s) & 1023]!;
    out[row + 2] = IDCT_LIMIT[descale(tmp12 + o1, s) & 1023]!;
    out[row + 5] = IDCT_LIMIT[descale(tmp12 - o1, s) & 1023]!;
    out[row + 3] = IDCT_LIMIT[descale(tmp13 + o0, s) & 1023]!;
    out[row + 4] = IDCT_LIMIT[descale(tmp13 - o0, s) & 1023]!;
  }
}

/** The odd part of the inverse DCT from inputs 7, 5, 3, 1 (`jpeg_idct_islow`), written to `ODD`. */
function idctOdd(i7: number, i5: number, i3: number, i1: number): void {
  const z1 = i7 + i1;
  const z2 = i5 + i3;
  let z3 = i7 + i3;
  let z4 = i5 + i1;
  const z5 = (z3 + z4) * F1175;
  const z1m = z1 * -F0899;
  const z2m = z2 * -F2562;
  z3 = z3 * -F1961 + z5;
  z4 = z4 * -F0390 + z5;
  ODD[0] = i7 * F0298 + z1m + z3;
  ODD[1] = i5 * F2053 + z2m + z4;
  ODD[2] = i3 * F3072 + z2m + z3;
  ODD[3] = i1 * F1501 + z1m + z4;
}

/**
 * Quantises and reconstructs one plane of 8-bit samples whose sides are multiples of 8, in place:
 * FDCT, division by 8·table with rounding half away from zero, dequantisation, IDCT.
 */
function codePlane(plane: Uint8Array, width: number, height: number, table: Int32Array): void {
  const block = new Int32Array(64);
  for (let by = 0; by < height; by += 8) {
    for (let bx = 0; bx < width; bx += 8) {
      const at = by * width + bx;
      for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) block[y * 8 + x] = plane[at + y * width + x]! - 128;
      fdctIslow(block);
      for (let i = 0; i < 64; i++) {
        const q = table[i]!;
        const d = q << 3;
        const t = block[i]!;
        const k = t < 0 ? -Math.floor((-t + (d >> 1)) / d) : Math.floor((t + (d >> 1)) / d);
        block[i] = k * q;
      }
      idctIslow(block, plane, at, width);
    }
  }
}

/** A `w × h` plane copied into a `pw × ph` one, the last column and row replicated. */
function padPlane(src: Uint8Array, w: number, h: number, pw: number, ph: number): Uint8Array {
  if (pw === w && ph === h) return src;
  const out = new Uint8Array(pw * ph);
  for (let y = 0; y < ph; y++) {
    const s = Math.min(y, h - 1) * w;
    const d = y * pw;
    out.set(src.subarray(s, s + w), d);
    out.fill(src[s + w - 1]!, d + w, d + pw);
  }
  return out;
}

/**
 * The JPEG round trip of one 8-bit image (`h × w × c`, c = 1 or 3, interleaved) at `quality`, as
 * Pillow and libjpeg-turbo code and decode it (baseline, ISLOW DCT, 4:2:0, fancy upsampling).
 */
export function jpegRoundTripBytes(pixels: Uint8Array, h: number, w: number, c: number, quality: number): Uint8Array {
  const lumaTable = quantizationTable(LUMA_TABLE, quality);
  const bw = Math.ceil(w / 8) * 8;
  const bh = Math.ceil(h / 8) * 8;
  if (c === 1) {
    const y = padPlane(pixels, w, h, bw, bh);
    const plane = y === pixels ? Uint8Array.from(pixels) : y;
    codePlane(plane, bw, bh, lumaTable);
    const out = new Uint8Array(h * w);
    for (let r = 0; r < h; r++) out.set(plane.subarray(r * bw, r * bw + w), r * w);
    return out;
  }
  // colour conversion (jccolor.c), full resolution
  const n = h * w;
  const Y = new Uint8Array(n);
  const Cb = new Uint8Array(n);
  const Cr = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const r = pixels[3 * i]!;
    const g = pixels[3 * i + 1]!;
    const b = pixels[3 * i + 2]!;
    Y[i] = (19595 * r + 38470 * g + 7471 * b + 32768) >> 16;
    Cb[i] = (-11059 * r - 21709 * g + 32768 * b + 8421375) >> 16; // 128·2^16 + 2^15 − 1
    Cr[i] = (32768 * r - 27439 * g - 5329 * b + 8421375) >> 16;
  }
  // chroma: MCU-wide and even-high replication, then 2×2 means with the bias 1, 2, 1, 2, … per row
  const cw = Math.ceil(w / 16) * 8; // chroma width in whole blocks
  const ch = Math.ceil(h / 2); // real chroma rows
  const cbh = Math.ceil(h / 16) * 8;
  const down = (plane: Uint8Array): Uint8Array => {
    const wide = padPlane(plane, w, h, 2 * cw, 2 * ch);
    const out = new Uint8Array(cw * cbh);
    for (let y = 0; y < ch; y++) {
      const r0 = 2 * y * 2 * cw;
      const r1 = r0 + 2 * cw;
      let bias = 1;
      for (let x = 0; x < cw; x++) {
        out[y * cw + x] = (wide[r0 + 2 * x]! + wide[r0 + 2 * x + 1]! + wide[r1 + 2 * x]! + wide[r1 + 2 * x + 1]! + bias) >> 2;
        bias ^= 3;
      }
    }
    for (let y = ch; y < cbh; y++) out.copyWithin(y * cw, (ch - 1) * cw, ch * cw);
    return out;
  };
  const cbPlane = down(Cb);
  const crPlane = down(Cr);
  const yPlane = padPlane(Y, w, h, bw, bh);
  const chromaTable = quantizationTable(CHROMA_TABLE, quality);
  codePlane(yPlane, bw, bh, lumaTable);
  codePlane(cbPlane, cw, cbh, chromaTable);
  codePlane(crPlane, cw, cbh, chromaTable);
  // decoding: fancy upsampling of the real chroma samples (ceil(w/2) × ceil(h/2)), then jdcolor.c
  const dw = Math.ceil(w / 2);
  const up = (plane: Uint8Array): Uint8Array => {
    const out = new Uint8Array(2 * ch * 2 * dw);
    if (dw <= 2) {
      // libjpeg-turbo upsamples by plain replication when the chroma is at most 2 samples wide
      for (let y = 0; y < 2 * ch; y++) for (let x = 0; x < 2 * dw; x++) out[y * 2 * dw + x] = plane[(y >> 1) * cw + (x >> 1)]!;
      return out;
    }
    for (let y = 0; y < ch; y++) {
      for (let v = 0; v < 2; v++) {
        const near = y * cw;
        const far = Math.min(ch - 1, Math.max(0, v === 0 ? y - 1 : y + 1)) * cw;
        const o = (2 * y + v) * 2 * dw;
        let last = plane[near]! * 3 + plane[far]!;
        let cur = last;
        for (let x = 0; x < dw; x++) {
          const next = x + 1 < dw ? plane[near + x + 1]! * 3 + plane[far + x + 1]! : cur;
          out[o + 2 * x] = x === 0 ? (cur * 4 + 8) >> 4 : (cur * 3 + last + 8) >> 4;
          out[o + 2 * x + 1] = x + 1 < dw ? (cur * 3 + next + 7) >> 4 : (cur * 4 + 7) >> 4;
          last = cur;
          cur = next;
        }
      }
    }
    return out;
  };
  const cbUp = up(cbPlane);
  const crUp = up(crPlane);
  const out = new Uint8Array(n * 3);
  const clamp = (v: number) => (v < 0 ? 0 : v > 255 ? 255 : v);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const yy = yPlane[y * bw + x]!;
      const cb = cbUp[y * 2 * dw + x]! - 128;
      const cr = crUp[y * 2 * dw + x]! - 128;
      const i = 3 * (y * w + x);
      out[i] = clamp(yy + ((91881 * cr + 32768) >> 16));
      out[i + 1] = clamp(yy + ((-22554 * cb + 32768 - 46802 * cr) >> 16));
      out[i + 2] = clamp(yy + ((116130 * cb + 32768) >> 16));
    }
  }
  return out;
}

/**
 * The JPEG round trip of an NHWC batch in [0, 1] (1 or 3 channels) at `quality`; `pixels`: the
 * batch's values when the caller has read them already.
 * @returns the decoded batch in [0, 1], multiples of 1/255, owned by the caller.
 */
export function jpegRoundTrip(images: tf.Tensor4D, quality: number, pixels?: Float32Array): tf.Tensor4D {
  const [n, h, w, c] = images.shape;
  const values = pixels ?? images.dataSync();
  const size = h * w * c;
  const out = new Float32Array(n * size);
  const bytes = new Uint8Array(size);
  for (let b = 0; b < n; b++) {
    for (let i = 0; i < size; i++) {
      const v = values[b * size + i]!;
      bytes[i] = Math.round((v < 0 ? 0 : v > 1 ? 1 : v) * 255);
    }
    const decoded = jpegRoundTripBytes(bytes, h, w, c, quality);
    for (let i = 0; i < size; i++) out[b * size + i] = decoded[i]! / 255;
  }
  return tf.tensor4d(out, images.shape);
}
