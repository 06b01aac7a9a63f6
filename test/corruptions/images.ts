import * as tf from '@tensorflow/tfjs-core';

/** A multi-scale textured image set (periods 1/1 … 1/8 of the side plus fine noise), values in (0, 1). */
export function texturedImages(n: number, size: number, channels: number, seed = 7): tf.Tensor4D {
  const v = new Float32Array(n * size * size * channels);
  let s = seed;
  const rnd = () => ((s = (s * 16807) % 2147483647), s / 2147483647);
  for (let b = 0; b < n; b++)
    for (let y = 0; y < size; y++)
      for (let x = 0; x < size; x++)
        for (let k = 0; k < channels; k++) {
          let t = 0.5;
          for (const p of [1, 2, 4, 8]) t += (0.12 / Math.sqrt(p)) * Math.sin((2 * Math.PI * p * (x + 3 * b + k)) / size) * Math.cos((2 * Math.PI * p * (y + k)) / size + p);
          v[((b * size + y) * size + x) * channels + k] = Math.min(1, Math.max(0, t + 0.05 * (rnd() - 0.5)));
        }
  return tf.tensor4d(v, [n, size, size, channels]);
}

