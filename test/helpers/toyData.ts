/**
 * Tiny seeded image sets for tests (8×8 by default): each class lights one quadrant, plus noise.
 * Learnable by a small net in a few dozen steps, so attacks have a real decision boundary to cross.
 */
import * as tf from '@tensorflow/tfjs-core';
import { createRng } from '../../src/internal/random.js';

export interface ToySet {
  images: tf.Tensor4D;
  /** Class indices [N] (single-label) or multi-hot [N, C] (multi-label). */
  labels: tf.Tensor;
}

const QUADRANTS = [
  [0, 0], [0, 1], [1, 0], [1, 1],
] as const;

function paint(out: Float32Array, offset: number, size: number, channels: number, quadrant: number, strength: number): void {
  const half = size / 2;
  const [qy, qx] = QUADRANTS[quadrant % 4]!;
  for (let y = qy * half; y < (qy + 1) * half; y++) {
    for (let x = qx * half; x < (qx + 1) * half; x++) {
      for (let c = 0; c < channels; c++) {
        const at = offset + (y * size + x) * channels + c;
        out[at] = out[at]! + strength;
      }
    }
  }
}

/** Single-label set: class k (< 4) brightens quadrant k. Values in [0, 1]. */
export function toySingleLabel(options: { n: number; classes?: number; size?: number; channels?: number; seed?: number }): ToySet {
  const { n, classes = 3, size = 8, channels = 1, seed = 1 } = options;
  const rng = createRng(seed);
  const per = size * size * channels;
  const pixels = new Float32Array(n * per);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const k = i % classes;
    labels[i] = k;
    for (let j = 0; j < per; j++) pixels[i * per + j] = 0.1 + 0.3 * rng.next();
    paint(pixels, i * per, size, channels, k, 0.5);
  }
  return { images: tf.tensor4d(pixels, [n, size, size, channels]), labels: tf.tensor1d(labels, 'int32') };
}

/** Multi-label set: label k (< 4) present (p = ½, independently) brightens quadrant k. */
export function toyMultiLabel(options: { n: number; labels?: number; size?: number; channels?: number; seed?: number }): ToySet {
  const { n, labels: c = 3, size = 8, channels = 1, seed = 2 } = options;
  const rng = createRng(seed);
  const per = size * size * channels;
  const pixels = new Float32Array(n * per);
  const hot = new Float32Array(n * c);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < per; j++) pixels[i * per + j] = 0.1 + 0.3 * rng.next();
    for (let k = 0; k < c; k++) {
      if (rng.next() < 0.5) {
        hot[i * c + k] = 1;
        paint(pixels, i * per, size, channels, k, 0.5);
      }
    }
  }
  return { images: tf.tensor4d(pixels, [n, size, size, channels]), labels: tf.tensor2d(hot, [n, c]) };
}
