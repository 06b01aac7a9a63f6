/**
 * The composed conv gradients on wasm against cpu for the kernel shapes Inception-v3 and the GAP
 * generators use beyond 1×1 and 3×3: 1×7, 7×1, 5×5, 1×3, and stride-2 'valid' convs on odd sizes.
 */
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { useTestBackend } from '../helpers/backends.js';

const CASES = [
  { x: [2, 9, 9, 3], f: [1, 7, 3, 4], s: 1, p: 'same' },
  { x: [2, 9, 9, 3], f: [7, 1, 3, 4], s: 1, p: 'same' },
  { x: [1, 17, 17, 3], f: [3, 3, 3, 4], s: 2, p: 'valid' },
  { x: [2, 8, 8, 3], f: [3, 3, 3, 4], s: 2, p: 'same' },
  { x: [2, 7, 7, 3], f: [5, 5, 3, 4], s: 1, p: 'same' },
  { x: [3, 5, 5, 3], f: [1, 3, 3, 4], s: 1, p: 'same' },
] as const;

async function gradients(backend: 'cpu' | 'wasm', c: (typeof CASES)[number]): Promise<[Float32Array, Float32Array]> {
  await useTestBackend(backend);
  return tf.tidy(() => {
    const x = tf.randomNormal([...c.x], 0, 1, 'float32', 1);
    const f = tf.randomNormal([...c.f], 0, 1, 'float32', 2);
    const [gx, gf] = tf.grads((a: tf.Tensor, w: tf.Tensor) => tf.sum(tf.square(tf.conv2d(a as tf.Tensor4D, w as tf.Tensor4D, c.s, c.p))))([x, f]);
    return [gx!.dataSync() as Float32Array, gf!.dataSync() as Float32Array] as [Float32Array, Float32Array];
  });
}

describe('conv gradients with non-square and large kernels, wasm vs cpu', () => {
  it.each(CASES)('input $x, filter $f, stride $s, $p', async (c) => {
    const cpu = await gradients('cpu', c);
    const wasm = await gradients('wasm', c);
    for (const k of [0, 1]) {
      const a = cpu[k]!;
      const b = wasm[k]!;
      let diff = 0;
      let scale = 0;
      for (let i = 0; i < a.length; i++) {
        diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
        scale = Math.max(scale, Math.abs(a[i]!));
      }
      expect(diff / scale, k === 0 ? 'input gradient' : 'filter gradient').toBeLessThanOrEqual(1e-5);
    }
  });
});
