/**
 * The module's AvgPoolGrad and Slice (src/backend/kernels/nativeOps.ts) against the stock tfjs-backend-cpu
 * kernels, on random inputs with the paper nets' configurations (Inception-v3's 3×3/1 pools on a padded
 * map and its pad gradient's slice, DenseNet-121's 2×2/2 transition pools, the aux head's 5×5/3), spatial
 * sizes shrunk, odd channel counts included (the scalar tail). Then the same through tf.grad on both
 * backends, and leak checks (tensors and the wasm backend's data).
 *
 * Also the conv kernel's row-major tiles (native/kernels.c conv_flat: rows whose width is not a multiple of 4,
 * tiles of 4 consecutive positions crossing rows): forward and input gradient against cpu, and each image's
 * result bit for bit the same alone as in a batch (what chunked attacks rely on).
 *
 * AvgPoolGrad sums in float32 in the cpu kernel's order (window rows, then columns) where cpu sums in
 * float64: ≤ 1e-6 of the largest magnitude. Slice is a copy: exact.
 */
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import { NATIVE_FLAG, nativeKernels } from '../../src/backend/kernels/native.js';
import { slicePlan } from '../../src/backend/kernels/nativeOps.js';
import { BACKENDS, useTestBackend } from '../helpers/backends.js';
import { relError } from '../helpers/relError.js';

const rnd = (shape: number[], seed: number) => tf.randomNormal(shape, 0, 1, 'float32', seed);

async function runOn(backend: 'cpu' | 'wasm', name: string, make: () => tf.NamedTensorMap, attrs: object): Promise<{ values: Float32Array; shape: number[] }> {
  await useTestBackend(backend);
  const inputs = make();
  const out = tf.engine().runKernel(name, inputs, attrs as tf.NamedAttrMap) as tf.Tensor;
  const r = { values: out.dataSync() as Float32Array, shape: out.shape };
  tf.dispose([out, ...Object.values(inputs)]);
  return r;
}

/** [label, input NHWC, window, stride, padding] */
const POOLS: Array<[string, [number, number, number, number], number, number, 'same' | 'valid' | number]> = [
  ['Inception-v3 3×3/1 on the padded map', [2, 7, 9, 48], 3, 1, 'valid'],
  ['Inception-v3 3×3/1, odd channels', [1, 6, 5, 13], 3, 1, 'valid'],
  ['3×3/1 same (tfjs padding)', [1, 7, 6, 12], 3, 1, 'same'],
  ['DenseNet-121 transition 2×2/2', [2, 8, 8, 128], 2, 2, 'valid'],
  ['Inception-v3 aux head 5×5/3', [1, 17, 17, 20], 5, 3, 'valid'],
  ['odd map 3×3/2 same', [1, 9, 11, 7], 3, 2, 'same'],
];

describe('AvgPoolGrad and Slice on the kernel module', () => {
  afterAll(() => {
    tf.env().set(NATIVE_FLAG, true);
  });

  it('the module is bound on wasm (else these tests would compare the stock kernels)', async () => {
    await useTestBackend('wasm');
    expect(nativeKernels(tf.engine().findBackend('wasm'))).toBeDefined();
  });

  it.each(POOLS)('AvgPoolGrad equals cpu: %s, input %j, window %d, stride %d, %s', async (_, shape, size, stride, pad) => {
    const info = tf.backend_util.computePool2DInfo(shape, size, stride, 1, pad as 'same');
    const make = () => ({ dy: rnd([shape[0], info.outHeight, info.outWidth, shape[3]], 2), input: rnd(shape, 1) });
    const attrs = { filterSize: size, strides: stride, pad };
    const cpu = await runOn('cpu', 'AvgPoolGrad', make, attrs);
    const wasm = await runOn('wasm', 'AvgPoolGrad', make, attrs);
    expect(wasm.shape).toEqual(cpu.shape);
    expect(relError(cpu.values, wasm.values)).toBeLessThanOrEqual(1e-6);
  });

  it.each([
    ['Inception-v3 pad gradient', [2, 9, 9, 48], [0, 1, 1, 0], [2, 7, 7, 48]],
    ['one axis', [3, 5, 40], [1, 0, 0], [2, 5, 40]],
    ['inner axis cut', [2, 4, 6, 32], [0, 1, 2, 8], [2, 2, 3, 17]],
    ['rank 2 rows', [20, 64], [3, 16], [10, 32]],
    ['rank 1', [100], [7], [50]],
    ['whole tensor', [2, 3, 16], [0, 0, 0], [2, 3, 16]],
    ['short runs (stock)', [4, 5, 6, 3], [1, 1, 1, 0], [2, 3, 4, 3]],
  ] as const)('Slice equals cpu bit for bit: %s, %j from %j size %j', async (_, shape, begin, size) => {
    const make = () => ({ x: rnd([...shape], 1) });
    const attrs = { begin: [...begin], size: [...size] };
    const cpu = await runOn('cpu', 'Slice', make, attrs);
    const wasm = await runOn('wasm', 'Slice', make, attrs);
    expect(wasm.shape).toEqual(cpu.shape);
    expect(Array.from(wasm.values)).toEqual(Array.from(cpu.values));
  });

  it('slicePlan: one run per index of the axes before the cut one, rows along the axis just before', () => {
    // [2, 19, 19, 768] → [2, 17, 17, 768] from [0, 1, 1, 0]: runs of 17·768 floats, 17 rows 19·768 apart, one call per image
    expect(slicePlan([2, 19, 19, 768], [0, 1, 1, 0], [2, 17, 17, 768])).toEqual({ width: 17 * 768, rows: 17, srcStride: 19 * 768, starts: [(19 + 1) * 768, (19 * 19 + 19 + 1) * 768] });
    // only the first axis cut: one contiguous run
    expect(slicePlan([3, 5, 40], [1, 0, 0], [2, 5, 40])).toEqual({ width: 400, rows: 1, srcStride: 0, starts: [200] });
    expect(slicePlan([100], [7], [50])).toEqual({ width: 50, rows: 1, srcStride: 0, starts: [7] });
  });

  /** [label, input NHWC, filter, stride, padding]: widths not a multiple of 4, depth ≥ 16 (conv_flat). */
  const FLAT: Array<[string, [number, number, number, number], [number, number, number, number], number | [number, number], 'same' | 'valid']> = [
    ['Inception-v3 1×1 at 17 px', [2, 5, 17, 48], [1, 1, 48, 40], 1, 'same'],
    ['Inception-v3 1×7 at 17 px', [2, 4, 17, 32], [1, 7, 32, 24], 1, 'same'],
    ['Inception-v3 7×1 at 17 px', [2, 9, 17, 32], [7, 1, 32, 20], 1, 'same'],
    ['AttnVGG 3×3 at 14 px', [2, 6, 14, 64], [3, 3, 64, 16], 1, 'same'],
    ['3×3/2 valid to 7 px', [2, 9, 15, 32], [3, 3, 32, 16], 2, 'valid'],
    ['3×3 stride [2, 1] same', [2, 9, 7, 24], [3, 3, 24, 12], [2, 1], 'same'],
    ['5×5 same at 35 px (one position left over per row)', [1, 3, 35, 16], [5, 5, 16, 8], 1, 'same'],
  ];

  it.each(FLAT)('row-major conv tiles: Conv2D, FusedConv2D and Conv2DBackpropInput equal cpu: %s', async (_, xShape, fShape, strides, pad) => {
    const info = tf.backend_util.computeConv2DInfo(xShape, fShape, strides, 1, pad);
    const dyShape = [xShape[0], info.outHeight, info.outWidth, fShape[3]];
    const cases: Array<[string, () => tf.NamedTensorMap, object]> = [
      ['Conv2D', () => ({ x: rnd(xShape, 1), filter: rnd(fShape, 3) }), { strides, pad, dataFormat: 'NHWC', dilations: 1 }],
      ['FusedConv2D', () => ({ x: rnd(xShape, 1), filter: rnd(fShape, 3), bias: rnd([fShape[3]], 4) }), { strides, pad, dataFormat: 'NHWC', dilations: 1, activation: 'relu' }],
      ['Conv2DBackpropInput', () => ({ dy: rnd(dyShape, 2), filter: rnd(fShape, 3) }), { strides, pad, dataFormat: 'NHWC', inputShape: xShape }],
    ];
    for (const [name, make, attrs] of cases) {
      const cpu = await runOn('cpu', name, make, attrs);
      const wasm = await runOn('wasm', name, make, attrs);
      expect(wasm.shape, name).toEqual(cpu.shape);
      expect(relError(cpu.values, wasm.values), name).toBeLessThanOrEqual(1e-5);
    }
  });

  it('row-major conv tiles: each image alone equals its slice of the batch bit for bit (forward and input gradient)', async () => {
    await useTestBackend('wasm');
    const x = rnd([3, 5, 17, 32], 1) as tf.Tensor4D;
    const w = rnd([1, 7, 32, 24], 2) as tf.Tensor4D;
    const dy = rnd([3, 5, 17, 24], 3) as tf.Tensor4D;
    const batch = [tf.conv2d(x, w, 1, 'same'), tf.conv2dTranspose(dy, w, [3, 5, 17, 32], 1, 'same')];
    for (let i = 0; i < 3; i++) {
      const xi = tf.slice(x, [i, 0, 0, 0], [1, 5, 17, 32]);
      const dyi = tf.slice(dy, [i, 0, 0, 0], [1, 5, 17, 24]);
      const alone = [tf.conv2d(xi, w, 1, 'same'), tf.conv2dTranspose(dyi, w, [1, 5, 17, 32], 1, 'same')];
      for (let k = 0; k < 2; k++) {
        const part = tf.slice(batch[k]!, [i, 0, 0, 0], [1, ...batch[k]!.shape.slice(1)]);
        expect(Array.from(alone[k]!.dataSync())).toEqual(Array.from(part.dataSync()));
        part.dispose();
      }
      tf.dispose([xi, dyi, ...alone]);
    }
    tf.dispose([x, w, dy, ...batch]);
  });

  describe.each(BACKENDS)('through tf.grad on %s', (backend) => {
    it('the gradient of a padded 3×3 average pool (Inception-v3\'s pool branch) equals cpu\'s, and nothing leaks', async () => {
      const f = (x: tf.Tensor) => tf.sum(tf.mul(tf.avgPool(tf.pad(x as tf.Tensor4D, [[0, 0], [1, 1], [1, 1], [0, 0]]), 3, 1, 'valid'), tf.reshape(tf.range(1, 33), [1, 1, 1, 32])));
      const grad = async (name: 'cpu' | 'wasm') => {
        await useTestBackend(name);
        const x = rnd([2, 6, 7, 32], 3) as tf.Tensor4D;
        const g = tf.grad(f)(x);
        const v = g.dataSync() as Float32Array;
        tf.dispose([x, g]);
        return v;
      };
      const ref = await grad('cpu');
      await useTestBackend(backend);
      const before = tf.memory().numTensors;
      const dataBefore = tf.engine().backend.numDataIds();
      const got = await grad(backend);
      expect(relError(ref, got)).toBeLessThanOrEqual(1e-6);
      expect(tf.memory().numTensors).toBe(before);
      expect(tf.engine().backend.numDataIds()).toBe(dataBefore);
    });
  });
});
