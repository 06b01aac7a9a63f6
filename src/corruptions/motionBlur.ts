/**
 * ImageMagick's motion blur (`MagickMotionBlurImage(radius, sigma, angle)`, which ImageNet-C calls
 * through Wand and imagecorruptions re-implements in numpy): a one-sided line kernel of
 * 2·⌈radius⌉ + 1 taps with Gaussian weights exp(−i²/2σ²), i = 0…2r, normalised; tap i reads the
 * pixel at p + offsetᵢ, offsetᵢ = (⌈i·sin a − ½⌉, ⌈i·cos a − ½⌉) (rows down, columns right), the
 * image edge replicated beyond its border (ImageMagick's default virtual pixels).
 * @internal
 */
import type * as tf from '@tensorflow/tfjs-core';
import { shapeOf, tensorOf, valuesOf, type BatchShape } from './planes.js';

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
 * @returns a new array of the same shape.
 */
export function motionBlurValues(src: Float32Array, s: BatchShape, radius: number, sigma: number, anglesDegrees: readonly number[]): Float32Array {
  const { n, h, w, c } = s;
  const row = w * c;
  const out = new Float32Array(src.length);
  const acc = new Float64Array(row);
  const from = new Int32Array(4);
  const lo = new Int32Array(4);
  const hi = new Int32Array(4);
  const wt = new Float64Array(4);
  for (let b = 0; b < n; b++) {
    const taps = motionTaps(radius, sigma, anglesDegrees[b]!);
    const base = b * h * row;
    for (let y = 0; y < h; y++) {
      acc.fill(0);
      // taps in groups of up to four: one pass over the columns every group's taps read inside the
      // image, then each tap's remaining columns (its clamped borders) on their own
      for (let g = 0; g < taps.length; g += 4) {
        const count = Math.min(4, taps.length - g);
        let common0 = 0;
        let common1 = w;
        for (let t = 0; t < 4; t++) {
          const tap = taps[g + Math.min(t, count - 1)]!;
          const sy = Math.min(h - 1, Math.max(0, y + tap.dy));
          from[t] = base + sy * row + tap.dx * c;
          lo[t] = Math.min(w, Math.max(0, -tap.dx));
          hi[t] = Math.max(lo[t]!, Math.min(w, w - tap.dx));
          wt[t] = t < count ? tap.w : 0;
          common0 = Math.max(common0, lo[t]!);
          common1 = Math.min(common1, hi[t]!);
        }
        common1 = Math.max(common0, common1);
        const f0 = from[0]!;
        const f1 = from[1]!;
        const f2 = from[2]!;
        const f3 = from[3]!;
        const w0 = wt[0]!;
        const w1 = wt[1]!;
        const w2 = wt[2]!;
        const w3 = wt[3]!;
        for (let j = common0 * c; j < common1 * c; j++) acc[j] = acc[j]! + (w0 * src[f0 + j]! + w1 * src[f1 + j]! + w2 * src[f2 + j]! + w3 * src[f3 + j]!);
        for (let t = 0; t < count; t++) {
          const weight = wt[t]!;
          const f = from[t]!;
          const dxc = taps[g + t]!.dx * c;
          const rowStart = f - dxc;
          for (let j = lo[t]! * c; j < Math.min(common0, hi[t]!) * c; j++) acc[j] = acc[j]! + weight * src[f + j]!;
          for (let j = Math.max(common1, lo[t]!) * c; j < hi[t]! * c; j++) acc[j] = acc[j]! + weight * src[f + j]!;
          for (let x = 0; x < lo[t]!; x++) for (let k = 0; k < c; k++) acc[x * c + k] = acc[x * c + k]! + weight * src[rowStart + k]!;
          for (let x = hi[t]!; x < w; x++) for (let k = 0; k < c; k++) acc[x * c + k] = acc[x * c + k]! + weight * src[rowStart + (w - 1) * c + k]!;
        }
      }
      const to = base + y * row;
      for (let j = 0; j < row; j++) out[to + j] = acc[j]!;
    }
  }
  return out;
}

/** {@link motionBlurValues} on a tensor. @returns a new tensor owned by the caller. */
export function motionBlur(x: tf.Tensor4D, radius: number, sigma: number, anglesDegrees: readonly number[]): tf.Tensor4D {
  const s = shapeOf(x);
  const angles = anglesDegrees.length >= s.n ? anglesDegrees : Array.from({ length: s.n }, (_, b) => anglesDegrees[Math.min(b, anglesDegrees.length - 1)]!);
  return tensorOf(motionBlurValues(valuesOf(x), s, radius, sigma, angles), s);
}
