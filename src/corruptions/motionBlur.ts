/**
 * ImageMagick's motion blur (`MagickMotionBlurImage(radius, sigma, angle)`, which ImageNet-C calls
 * through Wand and imagecorruptions re-implements in numpy): a one-sided line kernel of
 * 2·⌈radius⌉ + 1 taps with Gaussian weights exp(−i²/2σ²), i = 0…2r, normalised; tap i reads the
 * pixel at p + offsetᵢ, offsetᵢ = (⌈i·sin a − ½⌉, ⌈i·cos a − ½⌉) (rows down, columns right), the
 * image edge replicated beyond its border (ImageMagick's default virtual pixels).
 * @internal
 */
import type * as tf from '@tensorflow/tfjs-core';
import { eightTapPass, shapeOf, tensorOf, valuesOf, type BatchShape } from './planes.js';

/** The taps of the kernel: pixel offsets (dy, dx) that each output pixel reads, and weights. */
export function motionTaps(radius: number, sigma: number, angleDegrees: number): { dy: number; dx: number; w: number }[] {
  const width = 2 * Math.max(0, Math.ceil(radius)) + 1;
  const a = (angleDegrees * Math.PI) / 180;
  const sin = Math.sin(a);
  const cos = Math.cos(a);
  const taps: { dy: number; dx: number; w: number }[] = [];
  let sum = 0;
  for (let i = 0; i < width; i++) {
    const w = sigma > 0 ? Math.exp(-(i * i) / (2 * sigma * sigma)) : i === 0 ? 1 : 0;
    if (w === 0) continue;
    taps.push({ dy: Math.ceil(i * sin - 0.5) || 0, dx: Math.ceil(i * cos - 0.5) || 0, w }); // || 0: no −0
    sum += w;
  }
  for (const t of taps) t.w /= sum;
  return taps;
}

/**
 * Motion-blurs every image of an NHWC batch with its own angle (degrees):
 * out(p) = Σᵢ wᵢ·x(clamp(p + offsetᵢ)).
 * Each image is first widened by its taps' largest column offsets with its edge columns
 * replicated, so that every tap reads one contiguous stretch of a (row-clamped) padded row; the
 * taps are then summed eight at a time into a double-precision row. A sparse image (the snow
 * layer, mostly zeros) is scattered instead: each non-zero pixel adds its weighted value to the
 * outputs that read it.
 * @returns a new array of the same shape.
 */
export function motionBlurValues(src: Float32Array, s: BatchShape, radius: number, sigma: number, anglesDegrees: readonly number[]): Float32Array {
  const { n, h, w, c } = s;
  const out = new Float32Array(src.length);
  for (let b = 0; b < n; b++) {
    // consecutive taps on the same pixel (offsets are monotone in i) read it once, weights summed
    const taps: { dy: number; dx: number; w: number }[] = [];
    for (const tap of motionTaps(radius, sigma, anglesDegrees[b]!)) {
      const last = taps[taps.length - 1];
      if (last && last.dy === tap.dy && last.dx === tap.dx) last.w += tap.w;
      else taps.push({ ...tap });
    }
    let left = 0;
    let right = 0;
    for (const t of taps) {
      left = Math.max(left, -t.dx);
      right = Math.max(right, t.dx);
    }
    const image = src.subarray(b * h * w * c, (b + 1) * h * w * c);
    const target = out.subarray(b * h * w * c, (b + 1) * h * w * c);
    let nonZero = 0;
    if (c === 1) for (let i = 0; i < image.length; i++) if (image[i] !== 0) nonZero++;
    if (c === 1 && nonZero * 4 < image.length) scatterTaps(image, target, h, w, taps);
    else gatherTaps(image, target, h, w, c, taps, left, right);
  }
  return out;
}

/** out(p) = Σᵢ wᵢ·x(clamp(p + offsetᵢ)) for one image, reading rows widened by `left`/`right` columns. */
function gatherTaps(image: Float32Array, out: Float32Array, h: number, w: number, c: number, taps: readonly { dy: number; dx: number; w: number }[], left: number, right: number): void {
  const row = w * c;
  const prow = (w + left + right) * c;
  const padded = new Float32Array(h * prow);
  for (let y = 0; y < h; y++) {
    const from = y * row;
    const to = y * prow;
    padded.set(image.subarray(from, from + row), to + left * c);
    for (let x = 0; x < left; x++) for (let k = 0; k < c; k++) padded[to + x * c + k] = image[from + k]!;
    for (let x = 0; x < right; x++) for (let k = 0; k < c; k++) padded[to + (left + w + x) * c + k] = image[from + row - c + k]!;
  }
  // one pass over the row per eight taps; a remainder of one or two taps gets its own passes, a
  // larger one is padded to eight with zero weights
  const rest = taps.length % 8;
  const count = rest > 0 && rest <= 2 && taps.length > 8 ? taps.length : 8 * Math.ceil(taps.length / 8);
  const start = new Int32Array(count);
  const weight = new Float64Array(count);
  const acc = new Float64Array(row);
  for (let y = 0; y < h; y++) {
    for (let t = 0; t < count; t++) {
      const tap = taps[Math.min(t, taps.length - 1)]!;
      start[t] = Math.min(h - 1, Math.max(0, y + tap.dy)) * prow + (left + tap.dx) * c;
      weight[t] = t < taps.length ? tap.w : 0;
    }
    const to = y * row;
    for (let t = 0; t < count; t += 8) {
      if (t + 8 > count) {
        // the last one or two taps, one pass each
        for (; t < count; t++) {
          const f0 = start[t]!;
          const w0 = weight[t]!;
          if (t + 1 === count) for (let j = 0; j < row; j++) out[to + j] = acc[j]! + w0 * padded[f0 + j]!;
          else for (let j = 0; j < row; j++) acc[j] = acc[j]! + w0 * padded[f0 + j]!;
        }
        break;
      }
      eightTapPass(padded, 0, start, weight, t, count, acc, out, to, row);
    }
  }
}

/**
 * The same sum for a one-channel image with few non-zero pixels, scattered: the image is padded
 * by the taps' reach with its edges replicated (so no read is clamped), and every non-zero padded
 * pixel q adds wᵢ·x(q) to the output p = q − offsetᵢ that reads it.
 */
function scatterTaps(image: Float32Array, out: Float32Array, h: number, w: number, taps: readonly { dy: number; dx: number; w: number }[]): void {
  let top = 0;
  let bottom = 0;
  let left = 0;
  let right = 0;
  for (const t of taps) {
    top = Math.max(top, -t.dy);
    bottom = Math.max(bottom, t.dy);
    left = Math.max(left, -t.dx);
    right = Math.max(right, t.dx);
  }
  const count = taps.length;
  const dys = Int32Array.from(taps, (t) => t.dy + top);
  const dxs = Int32Array.from(taps, (t) => t.dx + left);
  const weight = Float64Array.from(taps, (t) => t.w);
  const acc = new Float64Array(h * w);
  const ph = h + top + bottom;
  const pw = w + left + right;
  const columns = new Int32Array(pw);
  const values = new Float64Array(pw);
  for (let qy = 0; qy < ph; qy++) {
    // the non-zero pixels of padded row qy, then each tap adds them to output row qy − dy
    const row = Math.min(h - 1, Math.max(0, qy - top)) * w;
    let m = 0;
    for (let qx = 0; qx < pw; qx++) {
      const v = image[row + Math.min(w - 1, Math.max(0, qx - left))]!;
      if (v !== 0) {
        columns[m] = qx;
        values[m++] = v;
      }
    }
    if (m === 0) continue;
    for (let t = 0; t < count; t++) {
      const py = qy - dys[t]!;
      if (py < 0 || py >= h) continue;
      const dx = dxs[t]!;
      const base = py * w - dx;
      const wt = weight[t]!;
      for (let k = 0; k < m; k++) {
        const qx = columns[k]!;
        if (qx >= dx && qx < dx + w) acc[base + qx] = acc[base + qx]! + wt * values[k]!;
      }
    }
  }
  for (let i = 0; i < acc.length; i++) out[i] = acc[i]!;
}

/** {@link motionBlurValues} on a tensor. @returns a new tensor owned by the caller. */
export function motionBlur(x: tf.Tensor4D, radius: number, sigma: number, anglesDegrees: readonly number[]): tf.Tensor4D {
  const s = shapeOf(x);
  const angles = anglesDegrees.length >= s.n ? anglesDegrees : Array.from({ length: s.n }, (_, b) => anglesDegrees[Math.min(b, anglesDegrees.length - 1)]!);
  return tensorOf(motionBlurValues(valuesOf(x), s, radius, sigma, angles), s);
}
