/**
 * Winograd F(2×2, 3×3) on the kernel module (native/kernels.c winograd_filter / conv2d_winograd and the
 * winograd_grad_* kernels, src/backend/kernels/nativeConv.ts): 3×3 stride-1 Conv2D, FusedConv2D,
 * Conv2DBackpropInput and Conv2DBackpropFilter (from 2048 input × output channels) against the
 * stock tfjs-backend-cpu kernels on both builds of the module, on the paper nets' 3×3 layer configurations
 * (spatial sizes shrunk; odd sizes, whose last tile holds one row or column; 'valid' padding, whose input
 * gradient pads by 2; channel counts that are not multiples of 4 or 8, the scalar tails).
 *
 * Winograd's transforms add and halve where the direct sums multiply-add, so results differ from the direct
 * kernel's in the last bits; measured ≤ 1e-6 of the largest magnitude on these shapes, held to 1e-5 as every
 * kernel test. That the Winograd path ran (and not the direct one) is checked by its results differing from
 * the direct kernel's (MEDROBUST_WINOGRAD off) while both agree with cpu. Each image's result is bit for bit
 * its result alone (the tiles never cross images), which chunked attacks rely on.
 */
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FMA_FLAG, WINOGRAD_FLAG, nativeKernels } from '../../src/backend/kernels/native.js';
import { useTestBackend } from '../helpers/backends.js';
import { relError } from '../helpers/relError.js';

const rnd = (shape: number[], seed: number) => tf.randomNormal(shape, 0, 1, 'float32', seed);

/** [layer, input NHWC, output channels, padding] */
// Output maps of at least 13×13 (7×7 tiles: nativeConv.ts runs smaller maps on the direct kernel).
const LAYERS: Array<[string, [number, number, number, number], number, 'same' | 'valid']> = [
  ['small CNN 32→32', [2, 16, 16, 32], 32, 'same'],
  ['ResNet-style 128→128', [1, 14, 13, 128], 128, 'same'],
  ['DenseNet-121 growth 128→32, odd map', [2, 13, 14, 128], 32, 'same'],
  ['Inception-v3 stem 32→32 valid, odd map', [2, 25, 23, 32], 32, 'valid'],
  ['Inception-v3 stem 32→64, odd map', [2, 17, 15, 32], 64, 'same'],
  ['48→48 valid, odd map', [2, 21, 19, 48], 48, 'valid'],
  ['Inception-v3 64→96, 35 px map shrunk to 13', [2, 13, 13, 64], 96, 'same'],
  ['AttnVGG 64→64', [1, 22, 18, 64], 64, 'same'],
  ['AttnVGG 256→128, 13×14 map (its deep layers shrunk)', [1, 13, 14, 256], 128, 'same'],
  ['channels off multiples of 4 and 8', [2, 22, 21, 18], 21, 'same'],
  ['12×12 map (direct: too small)', [1, 12, 12, 16], 16, 'same'],
];

interface Outputs {
  forward: Float32Array;
  fused: Float32Array;
  inputGrad: Float32Array;
  filterGrad: Float32Array;
}

/** The three kernels on the current backend for one layer (seeded inputs, so equal on every backend). */
function run(shape: [number, number, number, number], co: number, pad: 'same' | 'valid'): Outputs {
  return tf.tidy(() => {
    const x = rnd(shape, 1) as tf.Tensor4D;
    const w = rnd([3, 3, shape[3], co], 2) as tf.Tensor4D;
    const bias = rnd([co], 3) as tf.Tensor1D;
    const forward = tf.conv2d(x, w, 1, pad);
    const fused = tf.fused.conv2d({ x, filter: w, bias, strides: 1, pad, activation: 'relu' });
    const dy = rnd(forward.shape, 4) as tf.Tensor4D;
    const inputGrad = tf.conv2dTranspose(dy, w, shape, 1, pad);
    const filterGrad = tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { strides: 1, pad, dataFormat: 'NHWC', filterShape: [3, 3, shape[3], co] } as unknown as tf.NamedAttrMap) as tf.Tensor;
    return { forward: forward.dataSync() as Float32Array, fused: fused.dataSync() as Float32Array, inputGrad: inputGrad.dataSync() as Float32Array, filterGrad: filterGrad.dataSync() as Float32Array };
  });
}

const BUILDS = [['FMA build', true], ['plain build', false]] as const;

describe.each(BUILDS)('Winograd F(2×2, 3×3) on the kernel module, %s', (_build, fma) => {
  beforeAll(async () => {
    await useTestBackend('wasm');
    tf.env().set(FMA_FLAG, fma);
    tf.env().set(WINOGRAD_FLAG, true);
    expect(nativeKernels(tf.engine().findBackend('wasm'))).toBeDefined();
  });
  afterAll(() => {
    tf.env().set(FMA_FLAG, true);
    tf.env().set(WINOGRAD_FLAG, true);
  });

  it.each(LAYERS)('equals cpu, and differs from the direct kernel: %s, input %j → %d channels, %s', async (_, shape, co, pad) => {
    await useTestBackend('cpu');
    const cpu = run(shape, co, pad);
    await useTestBackend('wasm');
    const winograd = run(shape, co, pad);
    tf.env().set(WINOGRAD_FLAG, false);
    const direct = run(shape, co, pad);
    tf.env().set(WINOGRAD_FLAG, true);
    for (const k of ['forward', 'fused', 'inputGrad', 'filterGrad'] as const) {
      expect(relError(cpu[k], winograd[k]), k).toBeLessThanOrEqual(1e-5);
      expect(relError(cpu[k], direct[k]), k).toBeLessThanOrEqual(1e-5);
    }
    // the Winograd path ran: its rounding is not the direct sums'
    if (shape[1] > 12) expect(Array.from(winograd.forward)).not.toEqual(Array.from(direct.forward));
    else expect(Array.from(winograd.forward)).toEqual(Array.from(direct.forward));
    if (shape[3] * co >= 2048) expect(Array.from(winograd.filterGrad)).not.toEqual(Array.from(direct.filterGrad));
    // the fused ReLU clamps at zero exactly where cpu's does, up to values within rounding of zero
    const negatives = winograd.fused.filter((v) => v < 0).length;
    expect(negatives).toBe(0);
  });

  it('each image alone equals its slice of the batch bit for bit (forward, fused and input gradient)', async () => {
    await useTestBackend('wasm');
    const shape: [number, number, number, number] = [3, 19, 21, 48];
    const batch = run(shape, 40, 'same');
    const per = batch.forward.length / 3;
    const perIn = batch.inputGrad.length / 3;
    for (let i = 0; i < 3; i++) {
      const alone = tf.tidy(() => {
        const x = tf.slice(rnd(shape, 1), [i, 0, 0, 0], [1, 19, 21, 48]) as tf.Tensor4D;
        const w = rnd([3, 3, 48, 40], 2) as tf.Tensor4D;
        const bias = rnd([40], 3) as tf.Tensor1D;
        const dy = tf.slice(rnd([3, 19, 21, 40], 4), [i, 0, 0, 0], [1, 19, 21, 40]) as tf.Tensor4D;
        return {
          forward: tf.conv2d(x, w, 1, 'same').dataSync(),
          fused: tf.fused.conv2d({ x, filter: w, bias, strides: 1, pad: 'same', activation: 'relu' }).dataSync(),
          inputGrad: tf.conv2dTranspose(dy, w, [1, 19, 21, 48], 1, 'same').dataSync(),
        };
      });
      expect(Array.from(alone.forward)).toEqual(Array.from(batch.forward.subarray(i * per, (i + 1) * per)));
      expect(Array.from(alone.fused)).toEqual(Array.from(batch.fused.subarray(i * per, (i + 1) * per)));
      expect(Array.from(alone.inputGrad)).toEqual(Array.from(batch.inputGrad.subarray(i * perIn, (i + 1) * perIn)));
    }
  });

  it('leaves no tensor or backend data behind, and its gradient through tf.grad equals cpu', async () => {
    const f = (x: tf.Tensor) => tf.sum(tf.square(tf.conv2d(tf.relu(tf.conv2d(x as tf.Tensor4D, rnd([3, 3, 16, 24], 5) as tf.Tensor4D, 1, 'same')), rnd([3, 3, 24, 96], 6) as tf.Tensor4D, 1, 'valid')));
    const grad = async (name: 'cpu' | 'wasm') => {
      await useTestBackend(name);
      return tf.tidy(() => tf.grad(f)(rnd([2, 26, 25, 16], 7)).dataSync() as Float32Array);
    };
    const ref = await grad('cpu');
    await useTestBackend('wasm');
    const before = tf.memory().numTensors;
    const dataBefore = tf.engine().backend.numDataIds();
    const got = await grad('wasm');
    expect(tf.memory().numTensors).toBe(before);
    expect(tf.engine().backend.numDataIds()).toBe(dataBefore);
    expect(relError(ref, got)).toBeLessThanOrEqual(1e-5);
  });
});
