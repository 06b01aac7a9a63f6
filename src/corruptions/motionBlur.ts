/**
 * ImageMagick-style motion blur (`MagickMotionBlurImage(radius, sigma, angle)`, used by
 * ImageNet-C/P through Wand): a one-sided line kernel of 2·radius + 1 taps with Gaussian weights
 * exp(−i²/2σ²), i = 0…2r, stepping along the angle. Written as a weighted sum of shifted slices
 * of one edge-replicated padding, so any radius works on any image size.
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import { padTensor } from './linear.js';

/** The taps of the kernel: pixel offsets (dy, dx) and normalised weights. */
export function motionTaps(radius: number, sigma: number, angleDegrees: number): { dy: number; dx: number; w: number }[] {
  const width = 2 * Math.max(0, Math.ceil(radius)) + 1;
  const a = (angleDegrees * Math.PI) / 180;
  const taps: { dy: number; dx: number; w: number }[] = [];
  let sum = 0;
  for (let i = 0; i < width; i++) {
    const w = sigma > 0 ? Math.exp(-(i * i) / (2 * sigma * sigma)) : i === 0 ? 1 : 0;
    if (w < 1e-8) continue;
    taps.push({ dy: Math.round(i * Math.sin(a)), dx: Math.round(i * Math.cos(a)), w });
    sum += w;
  }
  for (const t of taps) t.w /= sum;
  return taps;
}

/**
 * Motion-blurs every image of `x` with its own angle (degrees): out(p) = Σᵢ wᵢ·x(p − offsetᵢ),
 * indices clamped to the image.
 */
export function motionBlur(x: tf.Tensor4D, radius: number, sigma: number, anglesDegrees: readonly number[]): tf.Tensor4D {
  return tf.tidy(() => {
    const [n, h, w] = x.shape;
    const blurGroup = (group: tf.Tensor4D, angle: number): tf.Tensor4D => {
      const taps = motionTaps(radius, sigma, angle);
      const py = Math.max(...taps.map((t) => Math.abs(t.dy)));
      const px = Math.max(...taps.map((t) => Math.abs(t.dx)));
      // pad once by edge replication, then every tap is a cheap slice
      const padded = padTensor(group, py, px, 'edge');
      let acc: tf.Tensor4D | null = null;
      for (const { dy, dx, w: weight } of taps) {
        const shifted = tf.mul(tf.slice(padded, [0, py - dy, px - dx, 0], [group.shape[0], h, w, group.shape[3]]), weight) as tf.Tensor4D;
        acc = acc === null ? shifted : (tf.add(acc, shifted) as tf.Tensor4D);
      }
      return acc!;
    };
    // one pass for the whole batch when every image has the same angle (the sequences)
    if (anglesDegrees.slice(0, n).every((a) => a === anglesDegrees[0])) return blurGroup(x, anglesDegrees[0]!);
    const out: tf.Tensor4D[] = [];
    for (let b = 0; b < n; b++) out.push(blurGroup(tf.slice(x, [b, 0, 0, 0], [1, -1, -1, -1]), anglesDegrees[b]!));
    return tf.concat(out, 0);
  });
}
