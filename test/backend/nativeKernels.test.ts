/**
 * medrobust's wasm kernel module (native/kernels.c) against the stock tfjs-backend-cpu kernels, on random
 * inputs with the layer configurations of the paper's nets (channels, kernel sizes, strides and padding of
 * DenseNet-121, Inception-v3, AttnVGG, the small CNN and the ResNet-style net; spatial sizes shrunk so that
 * the suite stays fast, odd sizes included so that every edge case of 'same' and 'valid' occurs).
 *
 * Tolerances: float32 sums in another order than cpu's, so the maximum difference over the maximum
 * magnitude of the reference stays ≤ 1e-5 (measured: ≤ 3e-6); copies, max-pool routing and the ReLU
 * gradient are exact.
 *
 * Every kernel test runs on both builds of the module: the FMA build (relaxed SIMD's relaxed_madd, where the
 * runtime has it) and the plain one (flag MEDROBUST_FMA false). The last suites check how far the two builds
 * are apart on the paper's shapes, that the FMA build is the one running, and how it is chosen.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerWasmGradients } from '../../src/backend/index.js';
import { FMA_FLAG, NATIVE_FLAG, nativeKernels, relaxedSimdSupported } from '../../src/backend/kernels/native.js';
import { useTestBackend } from '../helpers/backends.js';
import { relError } from '../helpers/relError.js';

type Maker = () => Record<string, tf.Tensor> | tf.Tensor[];
type Pair = [Float32Array, Float32Array, number[]];

/** Runs kernel `name` on cpu and on wasm with inputs from `make` (seeded, so equal); returns both outputs' values. */
async function onBoth(name: string, make: Maker, attrs: object): Promise<[Pair, ...Pair[]]> {
  const run = async (backend: 'cpu' | 'wasm'): Promise<Array<{ values: Float32Array; shape: number[] }>> => {
    await useTestBackend(backend);
    const inputs = make();
    const out = tf.engine().runKernel(name, inputs as unknown as tf.NamedTensorMap, attrs as tf.NamedAttrMap) as tf.Tensor | tf.Tensor[];
    const outs = Array.isArray(out) ? out : [out];
    const values = outs.map((t) => ({ values: t.dataSync() as Float32Array, shape: t.shape }));
    tf.dispose([...outs, ...(Array.isArray(inputs) ? inputs : Object.values(inputs))]);
    return values;
  };
  const cpu = await run('cpu');
  const wasm = await run('wasm');
  expect(wasm.length).toBe(cpu.length);
  return cpu.map((c, i): Pair => {
    expect(wasm[i]!.shape).toEqual(c.shape);
    return [c.values, wasm[i]!.values, c.shape];
  }) as [Pair, ...Pair[]];
}

const rnd = (shape: number[], seed: number) => tf.randomNormal(shape, 0, 1, 'float32', seed);

/** [net, input NHWC, filter [kh, kw, ci, co], stride, padding]: the paper's layer configurations. */
const CONVS: Array<[string, [number, number, number, number], [number, number, number, number], number | [number, number], 'same' | 'valid']> = [
  ['DenseNet-121 stem 7×7/2', [1, 17, 15, 3], [7, 7, 3, 64], 2, 'same'],
  ['DenseNet-121 bottleneck 1×1', [2, 5, 5, 256], [1, 1, 256, 128], 1, 'same'],
  ['DenseNet-121 growth 3×3', [2, 7, 6, 128], [3, 3, 128, 32], 1, 'same'],
  ['DenseNet-121 transition 1×1', [1, 4, 5, 512], [1, 1, 512, 256], 1, 'same'],
  ['Inception-v3 stem 3×3/2 valid', [1, 19, 17, 3], [3, 3, 3, 32], 2, 'valid'],
  ['Inception-v3 1×7', [1, 5, 9, 128], [1, 7, 128, 128], 1, 'same'],
  ['Inception-v3 7×1', [1, 9, 5, 128], [7, 1, 128, 192], 1, 'same'],
  ['Inception-v3 5×5', [1, 7, 6, 48], [5, 5, 48, 64], 1, 'same'],
  ['Inception-v3 reduction 3×3/2 valid', [1, 7, 7, 288], [3, 3, 288, 384], 2, 'valid'],
  ['Inception-v3 1×3', [1, 3, 5, 384], [1, 3, 384, 384], 1, 'same'],
  ['AttnVGG 3×3', [1, 7, 6, 64], [3, 3, 64, 128], 1, 'same'],
  ['AttnVGG 3×3 deep', [1, 2, 3, 512], [3, 3, 512, 512], 1, 'same'],
  // wide enough for blocks of 4 interior columns (conv_tile8_<pitch>: pitch 64, and 96 for the input gradient)
  ['AttnVGG 3×3 interior columns', [1, 5, 14, 64], [3, 3, 64, 96], 1, 'same'],
  ['small CNN first', [3, 14, 14, 3], [3, 3, 3, 32], 1, 'same'],
  ['small CNN second', [2, 9, 10, 32], [3, 3, 32, 32], 1, 'same'],
  ['ResNet-style 3×3/2', [2, 16, 16, 32], [3, 3, 32, 64], 2, 'same'],
  // dy and x larger than every part's repacking scratch (nativeConv.ts), so conv2d_filter_grad repacks them
  ['1×1, repacked', [2, 24, 24, 64], [1, 1, 64, 64], 1, 'same'],
  ['ResNet-style 1×1/2 shortcut', [2, 15, 15, 32], [1, 1, 32, 64], 2, 'same'],
  // a dw over DW_FLOATS_TAP_OUTER floats with dy and x over TAP_BLOCK_FLOATS: one tap at a time, repacked in
  // blocks of many rows (15 + 1 rows; 1×1: 7 + 1, one loop over each block's positions)
  ['1×7, long repacked blocks', [1, 16, 16, 512], [1, 7, 512, 24], 1, 'same'],
  ['1×1 deep, long repacked blocks', [1, 8, 8, 2048], [1, 1, 2048, 32], 1, 'same'],
  // repacked x with zeros where the taps read padding (every edge; channel tails of 2 and 1)
  ['3×3 repacked, padded edges', [2, 16, 16, 30], [3, 3, 30, 16], 1, 'same'],
  ['3×3/2 repacked, padded edges', [2, 20, 20, 37], [3, 3, 37, 24], 2, 'same'],
  ['ResNet-style 3×3', [1, 6, 5, 128], [3, 3, 128, 128], 1, 'same'],
  ['GAP U-Net 4×4/2', [1, 10, 12, 64], [4, 4, 64, 128], 2, 'same'],
  ['odd channels 3×3/2 valid', [2, 10, 9, 5], [3, 3, 5, 7], [2, 1], 'valid'],
];

/** The two builds of the module every kernel test runs on: [name, value of the MEDROBUST_FMA flag]. */
const BUILDS = [['FMA build', true], ['plain build', false]] as const;

describe.each(BUILDS)("medrobust's wasm kernel module, %s", (_build, fma) => {
  beforeAll(async () => {
    registerWasmGradients();
    await useTestBackend('wasm');
    tf.env().set(FMA_FLAG, fma);
  });
  afterAll(() => {
    tf.env().set(NATIVE_FLAG, true);
    tf.env().set(FMA_FLAG, true);
  });

  it('is bound to the running wasm backend (its memory, no copies)', () => {
    const native = nativeKernels(tf.engine().findBackend('wasm'));
    expect(native).toBeDefined();
    expect(native!.threads).toBe(1);
    // The FMA build wherever relaxed SIMD runs (Node 20 after V8's flag, which relaxedSimdSupported sets).
    expect(native!.fma).toBe(fma && relaxedSimdSupported());
    // Addresses are the backend's own: the module sees a tensor's values where tfjs keeps them.
    const t = tf.tensor1d([1.5, -2, 3.25]);
    const at = native!.address(t);
    expect(Array.from(new Float32Array(native!.module.HEAPU8.buffer, at, 3))).toEqual([1.5, -2, 3.25]);
    t.dispose();
  });

  it.each(CONVS)('Conv2DBackpropInput and Conv2DBackpropFilter: %s, input %j, filter %j, stride %j, %s', async (_, xShape, fShape, strides, pad) => {
    const info = tf.backend_util.computeConv2DInfo(xShape, fShape, strides, 1, pad);
    const dyShape = [xShape[0], info.outHeight, info.outWidth, fShape[3]];
    const [[cx, wx]] = await onBoth('Conv2DBackpropInput', () => ({ dy: rnd(dyShape, 2), filter: rnd(fShape, 3) }), { strides, pad, dataFormat: 'NHWC', inputShape: xShape });
    expect(relError(cx!, wx!)).toBeLessThanOrEqual(1e-5);
    const [[cf, wf]] = await onBoth('Conv2DBackpropFilter', () => ({ x: rnd(xShape, 1), dy: rnd(dyShape, 2) }), { strides, pad, dataFormat: 'NHWC', filterShape: fShape });
    expect(relError(cf!, wf!)).toBeLessThanOrEqual(1e-5);
  });

  it.each(CONVS)('Conv2D and FusedConv2D (bias, ReLU): %s, input %j, filter %j, stride %j, %s', async (_, xShape, fShape, strides, pad) => {
    const [[c, w]] = await onBoth('Conv2D', () => ({ x: rnd(xShape, 1), filter: rnd(fShape, 3) }), { strides, pad, dataFormat: 'NHWC', dilations: 1 });
    expect(relError(c, w)).toBeLessThanOrEqual(1e-5);
    for (const activation of ['linear', 'relu']) {
      const [[cb, wb]] = await onBoth('FusedConv2D', () => ({ x: rnd(xShape, 1), filter: rnd(fShape, 3), bias: rnd([fShape[3]], 4) }), { strides, pad, dataFormat: 'NHWC', dilations: 1, activation });
      expect(relError(cb, wb), activation).toBeLessThanOrEqual(1e-5);
    }
  });

  it.each([
    ['DenseNet-121 3×3/2 same', [2, 13, 11, 64], 3, 2, 'same'],
    ['small CNN 2×2/2', [3, 14, 14, 32], 2, 2, 'valid'],
    ['Inception-v3 3×3/2 valid', [1, 15, 15, 6], 3, 2, 'valid'],
    ['3×3/1 same, 5 channels', [1, 7, 7, 5], 3, 1, 'same'],
  ] as const)('MaxPoolGrad: %s (mostly negative inputs with ties)', async (_, shape, size, stride, pad) => {
    const info = tf.backend_util.computePool2DInfo([...shape], size, stride, 1, pad);
    const make = () => {
      const x = tf.sub(tf.round(tf.mul(rnd([...shape], 1), 2)), 4) as tf.Tensor4D;
      return { dy: rnd([shape[0], info.outHeight, info.outWidth, shape[3]], 2), input: x, output: tf.maxPool(x, size, stride, pad) };
    };
    const [[c, w]] = await onBoth('MaxPoolGrad', make, { filterSize: size, strides: stride, pad });
    // The same positions receive gradient; where windows overlap, float32 sums (cpu adds in float64).
    expect(Array.from(w!, (v) => v !== 0)).toEqual(Array.from(c!, (v) => v !== 0));
    expect(relError(c!, w!)).toBeLessThanOrEqual(1e-6);
  });

  it.each([
    ['per-channel [C]', [2, 5, 7, 24], [24], true, true],
    ['rank-4 statistics [1, 1, 1, C]', [1, 6, 6, 13], [1, 1, 1, 13], true, true],
    ['without scale (Inception-v3)', [2, 4, 4, 32], [32], false, true],
    ['without offset', [2, 4, 4, 8], [8], true, false],
  ] as const)('FusedBatchNorm (inference): %s', async (_, shape, stat, withScale, withOffset) => {
    const make = () => ({
      x: tf.add(tf.mul(rnd([...shape], 1), 3), 50),
      mean: tf.add(rnd([...stat], 2), 50),
      variance: tf.add(tf.abs(rnd([...stat], 3)), 0.5),
      ...(withOffset ? { offset: rnd([...stat], 4) } : {}),
      ...(withScale ? { scale: rnd([...stat], 5) } : {}),
    });
    const [[c, w]] = await onBoth('FusedBatchNorm', make, { varianceEpsilon: 1e-3 });
    expect(relError(c!, w!)).toBeLessThanOrEqual(1e-5);
  });

  it.each([
    ['Sum', [2, 9, 9, 64], [0, 1, 2], false],
    ['Sum', [3, 5, 17], [0, 1], true],
    ['Mean', [2, 7, 7, 130], [2, 0, 1], false],
    ['Mean', [1000, 3], [0], true],
    ['Sum', [2, 5, 5, 4], [1, 2], false],
  ] as const)('%s over axes %j of %j (keepDims %s)', async (name, shape, axis, keepDims) => {
    const [[c, w, outShape]] = await onBoth(name, () => ({ x: tf.add(rnd([...shape], 1), 2) }), { axis: [...axis], keepDims });
    expect(outShape.length).toBe(keepDims ? shape.length : shape.length - axis.length);
    expect(relError(c!, w!)).toBeLessThanOrEqual(1e-5);
  });

  it.each([
    [3, [[2, 5, 5, 64], [2, 5, 5, 32], [2, 5, 5, 3]]],
    [1, [[2, 3, 4, 5], [2, 1, 4, 5]]],
    [0, [[1, 3, 3], [2, 3, 3]]],
  ] as const)('Concat along axis %d of %j and SplitV back', async (axis, shapes) => {
    const [[c, w, outShape]] = await onBoth('Concat', () => shapes.map((s, i) => rnd([...s], i + 1)), { axis });
    expect(Array.from(w!)).toEqual(Array.from(c!));
    const sizes = shapes.map((s) => s[axis]!);
    const parts = await onBoth('SplitV', () => ({ x: rnd(outShape, 7) }), { numOrSizeSplits: sizes, axis });
    expect(parts.length).toBe(shapes.length);
    for (const [cp, wp] of parts) expect(Array.from(wp)).toEqual(Array.from(cp));
  });

  it('the ReLU gradient equals dy·step(y) bit for bit, NaN, ±0 and ±∞ included', async () => {
    await useTestBackend('wasm');
    const y = tf.tensor1d([1, -1, 0, -0, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 2, 1e-30, -3]);
    const dy = tf.tensor1d([2, 3, Number.NaN, 5, 7, Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY, -0, 4, Number.NaN]);
    const fused = tf.engine().runKernel('MedrobustReluGrad', { dy, y }, {}) as tf.Tensor;
    const reference = tf.mul(dy, tf.cast(tf.step(y), 'float32'));
    expect(Array.from(fused.dataSync()).map(Object.is.bind(null, 0))).toEqual(Array.from(reference.dataSync()).map(Object.is.bind(null, 0)));
    expect(Array.from(fused.dataSync())).toEqual(Array.from(reference.dataSync()));
    tf.dispose([y, dy, fused, reference]);
  });

  // Bias against activations (columns), per-sample scalars against images (rows), either operand first,
  // an odd trailing size, and a pattern the module leaves to the stock kernel ([N, 1, 1, C]).
  const BROADCASTS: Array<[number[], number[]]> = [
    [[4, 7, 7, 32], [32]], [[32], [4, 7, 7, 32]], [[3, 5, 5, 3], [3]], [[2, 6, 6, 3], [1, 1, 3]],
    [[4, 1, 1, 1], [4, 6, 6, 3]], [[4, 6, 6, 3], [4, 1, 1, 1]], [[32, 10], [32, 1]], [[1, 10], [32, 10]], [[4, 1, 1, 5], [4, 3, 3, 5]],
  ];
  it.each(['Add', 'Sub', 'Multiply', 'RealDiv'])('%s with a repeated operand equals the cpu kernel bit for bit', async (name) => {
    for (const [aShape, bShape] of BROADCASTS) {
      const [[c, w]] = await onBoth(name, () => ({ a: rnd(aShape, 5), b: tf.add(rnd(bShape, 6), name === 'RealDiv' ? 3 : 0) }), {});
      expect(Array.from(w), `${name} ${aShape} ${bShape}`).toEqual(Array.from(c));
    }
    expect((tf.getKernel(name, 'wasm') as { medrobust?: boolean }).medrobust).toBe(true);
  });

  it('a broadcast product carries NaN, ±∞ and signed zeros as the stock kernel does', async () => {
    const a = [Number.NaN, 1, -0, Number.POSITIVE_INFINITY, 2, -3, 0, 5];
    const results: number[][] = [];
    for (const on of [true, false]) {
      tf.env().set(NATIVE_FLAG, on);
      const x = tf.tensor4d(a, [2, 1, 1, 4]);
      const b = tf.tensor1d([0, Number.NEGATIVE_INFINITY, -1, Number.NaN]);
      const outs = [tf.mul(x, b), tf.div(b, x), tf.sub(x, b), tf.add(b, x)];
      results.push(outs.flatMap((t) => Array.from(t.dataSync()).map((v) => (Object.is(v, -0) ? -Infinity * 0 : v))));
      results.push(outs.flatMap((t) => Array.from(t.dataSync()).map((v) => Number(Object.is(v, -0)))));
      tf.dispose([x, b, ...outs]);
    }
    tf.env().set(NATIVE_FLAG, true);
    expect(results[0]).toEqual(results[2]);
    expect(results[1]).toEqual(results[3]);
  });

  it('Relu equals the stock wasm kernel bit for bit (NaN, ±0, ±∞) and the cpu kernel on random values', async () => {
    await useTestBackend('wasm');
    expect((tf.getKernel('Relu', 'wasm') as { medrobust?: boolean }).medrobust).toBe(true);
    const values = [Number.NaN, -0, 0, -1, 1, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 1e-40, -1e-40];
    const bits = (): number[] => {
      const x = tf.tensor1d(values);
      const y = tf.relu(x);
      const out = Array.from(new Uint32Array((y.dataSync() as Float32Array).buffer));
      tf.dispose([x, y]);
      return out;
    };
    const module = bits();
    tf.env().set(NATIVE_FLAG, false);
    const stockWasm = bits();
    tf.env().set(NATIVE_FLAG, true);
    expect(module).toEqual(stockWasm);
    const [[c, w]] = await onBoth('Relu', () => ({ x: rnd([3, 7, 7, 13], 9) }), {});
    expect(Array.from(w)).toEqual(Array.from(c));
  });

  it('the broadcast patterns: columns for a trailing block, rows for a leading one, none otherwise', async () => {
    const { broadcastPattern } = await import('../../src/backend/kernels/nativeOps.js');
    expect(broadcastPattern([8, 5, 5, 16], [16], [8, 5, 5, 16])).toEqual({ mode: 'columns', rows: 200, inner: 16 });
    expect(broadcastPattern([8, 5, 5, 16], [5, 16], [8, 5, 5, 16])).toEqual({ mode: 'columns', rows: 40, inner: 80 });
    expect(broadcastPattern([8, 5, 5, 16], [8, 1, 1, 1], [8, 5, 5, 16])).toEqual({ mode: 'rows', rows: 8, inner: 400 });
    expect(broadcastPattern([8, 5, 5, 16], [8, 5, 1, 1], [8, 5, 5, 16])).toEqual({ mode: 'rows', rows: 40, inner: 80 });
    expect(broadcastPattern([8, 5, 5, 16], [8, 1, 1, 16], [8, 5, 5, 16])).toBeUndefined();
    expect(broadcastPattern([8, 5, 5, 16], [1], [8, 5, 5, 16])).toBeUndefined();
    expect(broadcastPattern([8, 1, 5, 16], [5, 16], [8, 1, 5, 16])).toEqual({ mode: 'columns', rows: 8, inner: 80 });
  });

  it('with the module switched off, the composed kernels give the same conv gradients', async () => {
    await useTestBackend('wasm');
    const [xShape, fShape] = [[2, 9, 9, 16], [3, 3, 16, 8]] as const;
    const grads = (): Float32Array[] => tf.tidy(() => {
      const x = rnd([...xShape], 1);
      const f = rnd([...fShape], 2);
      const g = tf.grads((a: tf.Tensor, w: tf.Tensor) => tf.sum(tf.square(tf.conv2d(a as tf.Tensor4D, w as tf.Tensor4D, 2, 'same'))))([x, f]);
      return g.map((t) => t.dataSync() as Float32Array);
    });
    const on = grads();
    tf.env().set(NATIVE_FLAG, false);
    const off = grads();
    tf.env().set(NATIVE_FLAG, true);
    for (let k = 0; k < 2; k++) expect(relError(off[k]!, on[k]!)).toBeLessThanOrEqual(1e-5);
  });
});

/** A conv + batch norm + ReLU block, identical weights on both backends. */
function bnNet(seed: number): tfl.LayersModel {
  const input = tfl.input({ shape: [9, 9, 3] });
  let x = tfl.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'same', useBias: false, kernelInitializer: tfl.initializers.glorotNormal({ seed }) }).apply(input) as tfl.SymbolicTensor;
  x = tfl.layers.batchNormalization({ epsilon: 1e-5, momentum: 0.9, gammaInitializer: tfl.initializers.randomNormal({ mean: 1, stddev: 0.3, seed: seed + 1 }), betaInitializer: tfl.initializers.randomNormal({ stddev: 0.3, seed: seed + 2 }) }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.activation({ activation: 'relu' }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.globalAveragePooling2d({}).apply(x) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: tfl.layers.dense({ units: 4, kernelInitializer: tfl.initializers.glorotNormal({ seed: seed + 3 }) }).apply(x) as tfl.SymbolicTensor });
}

describe.each(BUILDS)('batch norm in training mode (fused on wasm) equals tfjs-layers on cpu, %s', (_build, fma) => {
  beforeAll(() => {
    registerWasmGradients();
    tf.env().set(FMA_FLAG, fma);
  });
  afterAll(() => {
    tf.env().set(FMA_FLAG, true);
  });

  it('gradients of every weight, the input gradient and the updated moving statistics agree', async () => {
    const results: Array<{ grads: Float32Array[]; inputGrad: Float32Array; moving: Float32Array[]; loss: number }> = [];
    for (const backend of ['cpu', 'wasm'] as const) {
      await useTestBackend(backend);
      const before = tf.memory().numTensors;
      const model = bnNet(7);
      const x = tf.tidy(() => tf.add(tf.mul(rnd([4, 9, 9, 3], 11), 2), 1));
      const y = tf.tidy(() => tf.oneHot(tf.tensor1d([0, 1, 2, 3], 'int32'), 4));
      const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
      const loss = () => tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar;
      const { value, grads } = tf.variableGrads(loss, vars);
      const inputGrad = tf.grad((t: tf.Tensor) => tf.losses.softmaxCrossEntropy(y, model.apply(t, { training: true }) as tf.Tensor) as tf.Scalar)(x);
      const bn = model.layers.find((l) => l.getClassName() === 'BatchNormalization')!;
      results.push({
        grads: vars.map((v) => grads[v.name]!.dataSync() as Float32Array),
        inputGrad: inputGrad.dataSync() as Float32Array,
        // Two training calls above (variableGrads and grad): the moving statistics moved twice.
        moving: bn.getWeights().slice(2).map((w) => w.dataSync() as Float32Array),
        loss: value.dataSync()[0]!,
      });
      tf.dispose([value, inputGrad, x, y, ...Object.values(grads)]);
      model.dispose();
      expect(tf.memory().numTensors).toBe(before);
    }
    const [cpu, wasm] = results as [(typeof results)[0], (typeof results)[0]];
    expect(Math.abs(wasm.loss - cpu.loss)).toBeLessThanOrEqual(1e-5 * Math.abs(cpu.loss));
    cpu.grads.forEach((g, i) => expect(relError(g, wasm.grads[i]!), `weight ${i}`).toBeLessThanOrEqual(1e-4));
    expect(relError(cpu.inputGrad, wasm.inputGrad)).toBeLessThanOrEqual(1e-4);
    cpu.moving.forEach((m, i) => expect(relError(m, wasm.moving[i]!)).toBeLessThanOrEqual(1e-5));
  });

  it('runs the fused kernels on wasm (not tfjs-layers\' moments graph)', async () => {
    await useTestBackend('wasm');
    const model = bnNet(3);
    const x = rnd([2, 9, 9, 3], 1);
    const info = await tf.profile(() => {
      const g = tf.grad((t: tf.Tensor) => tf.sum(model.apply(t, { training: true }) as tf.Tensor))(x);
      g.dispose();
    });
    const names = info.kernels.map((k) => k.name);
    expect(names).toContain('MedrobustBatchNormStats');
    expect(names).toContain('MedrobustBatchNormGrad');
    expect(names).not.toContain('SquaredDifference');
    tf.dispose(x);
    model.dispose();
  });
});

/** Whether this CPU fuses relaxed_madd (V8 emits vfmadd on x64 with FMA3; arm64 always fuses). */
function cpuFuses(): boolean {
  if (os.arch() === 'arm64') return true;
  if (os.arch() !== 'x64') return false;
  try {
    return /^flags\s*:.*\bfma\b/m.test(readFileSync('/proc/cpuinfo', 'utf8'));
  } catch {
    return false;
  }
}

describe('the FMA build against the plain build', () => {
  beforeAll(async () => {
    registerWasmGradients();
    await useTestBackend('wasm');
  });
  afterAll(() => {
    tf.env().set(FMA_FLAG, true);
    tf.env().set(NATIVE_FLAG, true);
  });

  // [net, input NHWC, filter, stride]: paper-net layers at their real channel counts.
  const SHAPES: Array<[string, [number, number, number, number], [number, number, number, number], number]> = [
    ['ResNet-style 3×3', [2, 16, 16, 64], [3, 3, 64, 64], 1],
    ['DenseNet-121 growth 3×3', [2, 7, 6, 128], [3, 3, 128, 32], 1],
    ['DenseNet-121 stem 7×7/2', [1, 17, 15, 3], [7, 7, 3, 64], 2],
  ];
  const fuses = cpuFuses();
  it.skipIf(!relaxedSimdSupported())
  .each(SHAPES)('conv forward, input and filter gradients: %s differ by at most a few float32 roundings%s', (_net, xShape, fShape, stride) => {
    const info = tf.backend_util.computeConv2DInfo(xShape, fShape, stride, 1, 'same');
    const dyShape = [xShape[0], info.outHeight, info.outWidth, fShape[3]];
    // Outputs of the three conv kernels with one build; `abs`: on |x|, |w|, |dy| (then each output is Σ|a·b|).
    const run = (fma: boolean, abs = false): Float32Array[] => {
      tf.env().set(FMA_FLAG, fma);
      expect(nativeKernels(tf.backend())!.fma).toBe(fma);
      return tf.tidy(() => {
        const t = (shape: number[], seed: number): tf.Tensor => (abs ? tf.abs(rnd(shape, seed)) : rnd(shape, seed));
        const [x, w, dy] = [t(xShape, 1), t(fShape, 2), t(dyShape, 3)] as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D];
        return [
          tf.conv2d(x, w, stride, 'same'),
          tf.conv2dTranspose(dy, w, xShape, stride, 'same'),
          tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { strides: stride, pad: 'same', dataFormat: 'NHWC', filterShape: fShape }) as tf.Tensor,
        ].map((o) => o.dataSync() as Float32Array);
      });
    };
    const withFma = run(true);
    const plain = run(false);
    const scale = run(false, true);
    const u = 2 ** -24; // a float32 rounding, relative
    let differing = 0;
    for (let k = 0; k < 3; k++) {
      let worst = 0;
      for (let i = 0; i < plain[k]!.length; i++) {
        const d = Math.abs(withFma[k]![i]! - plain[k]![i]!);
        if (d !== 0) differing++;
        // Both sum the same products in the same order; each step of the plain build rounds twice, the FMA
        // build's once: they part by a few roundings of Σ|a·b| (measured ≤ 2.7), far below one per term.
        worst = Math.max(worst, d / (u * scale[k]![i]!));
      }
      expect(worst, ['forward', 'input gradient', 'filter gradient'][k]).toBeLessThanOrEqual(8);
      expect(relError(plain[k]!, withFma[k]!)).toBeLessThanOrEqual(1e-6);
    }
    // On a CPU that fuses (this x64 machine with FMA3, any arm64), the FMA build rounds differently: were the plain
    // module running under the FMA name, every value would be equal.
    if (fuses) expect(differing).toBeGreaterThan(0);
    else console.warn('nativeKernels.test.ts: this CPU does not fuse relaxed_madd; the FMA build may equal the plain one');
  });

  it('the flag MEDROBUST_FMA false (or no relaxed SIMD) binds the plain build; true the FMA build where relaxed SIMD runs', () => {
    const backend = tf.engine().findBackend('wasm');
    tf.env().set(FMA_FLAG, false);
    expect(nativeKernels(backend)!.fma).toBe(false);
    tf.env().set(FMA_FLAG, true);
    expect(nativeKernels(backend)!.fma).toBe(relaxedSimdSupported());
    // Each build is bound once per backend: switching back returns the same binding.
    tf.env().set(FMA_FLAG, false);
    const plain = nativeKernels(backend);
    tf.env().set(FMA_FLAG, true);
    nativeKernels(backend);
    tf.env().set(FMA_FLAG, false);
    expect(nativeKernels(backend)).toBe(plain);
    tf.env().set(FMA_FLAG, true);
  });

  const fixture = fileURLToPath(new URL('./fixtures/relaxedSimd.ts', import.meta.url));
  const tsx = fileURLToPath(new URL('../../node_modules/tsx/dist/cli.mjs', import.meta.url));
  const probe = (mode: string): { before: boolean; supported?: boolean; after: boolean } => {
    const r = spawnSync(process.execPath, [tsx, fixture, mode], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    return JSON.parse(r.stdout.trim().split('\n').pop()!) as { before: boolean; supported?: boolean; after: boolean };
  };
  const nodeMajor = Number(process.versions.node.split('.')[0]);

  it.each(['sync', 'async'])('under Node, relaxed SIMD is enabled where V8 rejects it (Node 20: --experimental-wasm-relaxed-simd), %s', (mode) => {
    const r = probe(mode);
    // Node 20's V8 11.3 rejects relaxed SIMD by default; from V8 11.4 (Node 21+) it is on.
    expect(r.before).toBe(nodeMajor >= 21);
    expect(r.supported).toBe(true);
    expect(r.after).toBe(true);
  });

  it('with MEDROBUST_FMA false, V8\'s flags are left alone', () => {
    const r = probe('off');
    expect(r.after).toBe(r.before);
  });
});
