/**
 * ImageMagick-style motion blur (`MagickMotionBlurImage(radius, sigma, angle)`, used by
 * ImageNet-C/P through Wand): a one-sided line kernel of 2·radius + 1 taps with Gaussian weights
 * exp(−i²/2σ²), i = 0…2r, stepping along the angle. Written as a weighted sum of shifted copies
 * with edge replication, so any radius works on any image size.
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';

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
    const out: tf.Tensor4D[] = [];
    for (let b = 0; b < n; b++) {
      const one = n === 1 ? x : tf.slice(x, [b, 0, 0, 0], [1, -1, -1, -1]);
      let acc: tf.Tensor4D | null = null;
      for (const { dy, dx, w: weight } of motionTaps(radius, sigma, anglesDegrees[b]!)) {
        const rows = tf.tensor1d(Int32Array.from({ length: h }, (_, i) => Math.min(h - 1, Math.max(0, i - dy))), 'int32');
        const cols = tf.tensor1d(Int32Array.from({ length: w }, (_, i) => Math.min(w - 1, Math.max(0, i - dx))), 'int32');
        const shifted = tf.mul(tf.gather(tf.gather(one, rows, 1), cols, 2), weight) as tf.Tensor4D;
        acc = acc === null ? shifted : (tf.add(acc, shifted) as tf.Tensor4D);
      }
      out.push(acc!);
    }
    return out.length === 1 ? out[0]! : tf.concat(out, 0);
  });
}
