/**
 * Every composed wasm kernel equals tfjs-backend-cpu's reference (relative error ≤ 1e-5) over shapes,
 * strides 1 and 2, 'same'/'valid' padding, dilation where tfjs allows, and batch sizes 1 and 3 — once with
 * medrobust's wasm kernel module (the default) and once with it switched off (the composed fallbacks).
 * (cpu's depthwise backprop ignores dilation, so dilated cases are checked against cpu on the
 * equivalent zero-inserted filter instead.)
 */
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerWasmGradients } from '../../src/backend/index.js';
import { NATIVE_FLAG } from '../../src/backend/kernels/native.js';
import { installHeapGuard, wasmLiveBytes } from '../../src/internal/memory.js';
import '../helpers/backends.js';
import { relError } from '../helpers/relError.js';

type Inputs = () => Record<string, tf.Tensor>;

/** Runs kernel `name` on cpu and on wasm with the same inputs; returns [cpu, wasm] values. */
async function onBoth(name: string, inputs: Inputs, attrs: object, cpuName = name, cpuInputs = inputs, cpuAttrs = attrs): Promise<[Float32Array, Float32Array, number[]]> {
  await tf.setBackend('cpu');
  const ci = cpuInputs();
  const c = tf.engine().runKernel(cpuName, ci as unknown as tf.NamedTensorMap, cpuAttrs as tf.NamedAttrMap) as tf.Tensor;
  const cpu = c.dataSync() as Float32Array;
  tf.dispose([c, ...Object.values(ci)]);
  await tf.setBackend('wasm');
  const wi = inputs();
  const w = tf.engine().runKernel(name, wi as unknown as tf.NamedTensorMap, attrs as tf.NamedAttrMap) as tf.Tensor;
  const wasm = w.dataSync() as Float32Array;
  const shape = w.shape;
  tf.dispose([w, ...Object.values(wi)]);
  return [cpu, wasm, shape];
}

const rnd = (shape: number[], seed: number) => tf.randomNormal(shape, 0, 1, 'float32', seed);
const grid = [1, 2].flatMap((stride) => (['same', 'valid'] as const).flatMap((pad) => [1, 3].flatMap((k) => [1, 3].map((batch) => ({ stride, pad, k, batch })))));

/** A depthwise filter with `d - 1` zeros between taps: dilation d on `f` equals dilation 1 on it. */
function dilateFilter(f: tf.Tensor4D, d: number): tf.Tensor4D {
  const [kh, kw, c, m] = f.shape;
  const buf = tf.buffer([(kh - 1) * d + 1, (kw - 1) * d + 1, c, m]);
  const v = f.arraySync();
  for (let i = 0; i < kh; i++) for (let j = 0; j < kw; j++) for (let a = 0; a < c; a++) for (let b = 0; b < m; b++) buf.set(v[i]![j]![a]![b]!, i * d, j * d, a, b);
  return buf.toTensor() as tf.Tensor4D;
}

describe.each([true, false])('wasm kernels equal tfjs-backend-cpu (medrobust module %s)', (native) => {
  beforeAll(() => {
    registerWasmGradients();
    tf.env().set(NATIVE_FLAG, native);
  });
  afterAll(() => {
    tf.env().set(NATIVE_FLAG, true);
  });

  it.each(grid)('Conv2DBackpropFilter and Conv2DBackpropInput: stride $stride, $pad, k $k, batch $batch', async ({ stride, pad, k, batch }) => {
    const [ih, iw, ci, co] = [7, 6, 3, 4];
    const info = tf.backend_util.computeConv2DInfo([batch, ih, iw, ci], [k, k, ci, co], stride, 1, pad);
    const dyShape = [batch, info.outHeight, info.outWidth, co];
    const [cf, wf] = await onBoth('Conv2DBackpropFilter', () => ({ x: rnd([batch, ih, iw, ci], 1), dy: rnd(dyShape, 2) }), { strides: stride, pad, dataFormat: 'NHWC', filterShape: [k, k, ci, co] });
    expect(relError(cf, wf)).toBeLessThanOrEqual(1e-5);
    const [cx, wx, shape] = await onBoth('Conv2DBackpropInput', () => ({ dy: rnd(dyShape, 2), filter: rnd([k, k, ci, co], 3) }), { strides: stride, pad, dataFormat: 'NHWC', inputShape: [batch, ih, iw, ci] });
    expect(shape).toEqual([batch, ih, iw, ci]);
    expect(relError(cx, wx)).toBeLessThanOrEqual(1e-5);
  });

  it.each(grid.flatMap((g) => [1, 2].map((m) => ({ ...g, m }))))('Depthwise backprop: stride $stride, $pad, k $k, multiplier $m, batch $batch', async ({ stride, pad, k, batch, m }) => {
    const [ih, iw, c] = [7, 6, 3];
    const info = tf.backend_util.computeConv2DInfo([batch, ih, iw, c], [k, k, c, m], stride, 1, pad, undefined, true);
    const dyShape = [batch, info.outHeight, info.outWidth, c * m];
    const attrs = { strides: stride, dilations: 1, pad };
    const [cf, wf] = await onBoth('DepthwiseConv2dNativeBackpropFilter', () => ({ x: rnd([batch, ih, iw, c], 1), dy: rnd(dyShape, 2) }), { ...attrs, filterShape: [k, k, c, m] });
    expect(relError(cf, wf)).toBeLessThanOrEqual(1e-5);
    const [cx, wx] = await onBoth('DepthwiseConv2dNativeBackpropInput', () => ({ dy: rnd(dyShape, 2), filter: rnd([k, k, c, m], 3) }), { ...attrs, inputShape: [batch, ih, iw, c] });
    expect(relError(cx, wx)).toBeLessThanOrEqual(1e-5);
  });

  it.each([{ pad: 'same' as const, batch: 1, m: 1 }, { pad: 'valid' as const, batch: 3, m: 2 }])('Depthwise backprop with dilation 2 ($pad, batch $batch, multiplier $m)', async ({ pad, batch, m }) => {
    const [ih, iw, c, k, d] = [9, 8, 2, 3, 2];
    const info = tf.backend_util.computeConv2DInfo([batch, ih, iw, c], [k, k, c, m], 1, d, pad, undefined, true);
    const dyShape = [batch, info.outHeight, info.outWidth, c * m];
    const ek = (k - 1) * d + 1;
    const filter = () => rnd([k, k, c, m], 3) as tf.Tensor4D;
    const [cx, wx] = await onBoth('DepthwiseConv2dNativeBackpropInput', () => ({ dy: rnd(dyShape, 2), filter: filter() }), { strides: 1, dilations: d, pad, inputShape: [batch, ih, iw, c] },
      'DepthwiseConv2dNativeBackpropInput', () => ({ dy: rnd(dyShape, 2), filter: dilateFilter(filter(), d) }), { strides: 1, dilations: 1, pad, inputShape: [batch, ih, iw, c] });
    expect(relError(cx, wx)).toBeLessThanOrEqual(1e-5);
    const [cf, wf] = await onBoth('DepthwiseConv2dNativeBackpropFilter', () => ({ x: rnd([batch, ih, iw, c], 1), dy: rnd(dyShape, 2) }), { strides: 1, dilations: d, pad, filterShape: [k, k, c, m] },
      'DepthwiseConv2dNativeBackpropFilter', () => ({ x: rnd([batch, ih, iw, c], 1), dy: rnd(dyShape, 2) }), { strides: 1, dilations: 1, pad, filterShape: [ek, ek, c, m] });
    // Keep the taps of the zero-inserted filter that the dilated filter has.
    const taps = Array.from({ length: k * k * c * m }, (_, idx) => {
      const b = idx % m; const a = Math.floor(idx / m) % c; const j = Math.floor(idx / (m * c)) % k; const i = Math.floor(idx / (m * c * k));
      return cf[(((i * d) * ek + j * d) * c + a) * m + b]!;
    });
    expect(relError(taps, wf)).toBeLessThanOrEqual(1e-5);
  });

  it.each(grid)('MaxPoolGrad: stride $stride, $pad, pool k+1 with k $k, batch $batch (all-negative inputs)', async ({ stride, pad, k, batch }) => {
    const size = k + 1;
    const info = tf.backend_util.computePool2DInfo([batch, 7, 6, 3], size, stride, 1, pad);
    // Shifted to be mostly negative, with repeated values so that ties occur.
    const input = () => tf.sub(tf.round(tf.mul(rnd([batch, 7, 6, 3], 1), 2)), 4);
    const [cg, wg] = await onBoth('MaxPoolGrad', () => { const x = input(); return { dy: rnd([batch, info.outHeight, info.outWidth, 3], 2), input: x, output: tf.maxPool(x as tf.Tensor4D, size, stride, pad) }; }, { filterSize: size, strides: stride, pad });
    expect(relError(cg, wg)).toBeLessThanOrEqual(1e-5);
  });

  it('MaxPoolGrad: the reproduction from backend-notes.md sends each gradient to its window maximum', async () => {
    await tf.setBackend('wasm');
    const x = tf.tensor4d([-5, -1, -3, -4, -2, -6, -7, -8, -9, -10, -11, -0.5, -12, -13, -14, -15], [1, 4, 4, 1]);
    const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.maxPool(t as tf.Tensor4D, 2, 2, 'valid'), tf.tensor4d([1, 2, 3, 4], [1, 2, 2, 1]))))(x);
    expect(Array.from(g.dataSync())).toEqual([0, 1, 2, 0, 0, 0, 0, 0, 3, 0, 0, 4, 0, 0, 0, 0]);
    tf.dispose([x, g]);
  });

  it.each([
    { ta: false, tb: false, a: [5, 7], b: [7, 3] }, { ta: true, tb: false, a: [7, 5], b: [7, 3] }, { ta: false, tb: true, a: [5, 7], b: [3, 7] },
    { ta: true, tb: true, a: [2, 7, 5], b: [2, 3, 7] }, { ta: false, tb: false, a: [2, 5, 7], b: [1, 7, 3] }, { ta: false, tb: true, a: [3, 5, 7], b: [3, 3, 7] },
    // A dense layer's forward, input gradient and weight gradient (the module's 1×1 convolutions), odd and unit sizes.
    { ta: false, tb: false, a: [32, 300], b: [300, 37] }, { ta: false, tb: true, a: [32, 37], b: [300, 37] }, { ta: true, tb: false, a: [32, 300], b: [32, 37] },
    { ta: false, tb: true, a: [2, 5, 7], b: [1, 3, 7] }, { ta: false, tb: false, a: [9, 1], b: [1, 5] }, { ta: true, tb: false, a: [1, 9], b: [1, 1] },
  ])('BatchMatMul transposeA $ta transposeB $tb, $a @ $b', async ({ ta, tb, a, b }) => {
    const [c, w] = await onBoth('BatchMatMul', () => ({ a: rnd(a.length === 2 ? [1, ...a] : a, 1), b: rnd(b.length === 2 ? [1, ...b] : b, 2) }), { transposeA: ta, transposeB: tb });
    expect(relError(c, w)).toBeLessThanOrEqual(1e-5);
  });

  it('the batch-norm gradient equals tfjs-core\'s on cpu for every input (rank-1 and rank-4 statistics)', async () => {
    await tf.setBackend('cpu');
    for (const statShape of [[3], [1, 1, 1, 3]]) {
      const x = rnd([2, 4, 4, 3], 1);
      const [mean, variance, offset, scale] = [rnd(statShape, 2), tf.add(tf.abs(rnd(statShape, 3)), 0.1), rnd(statShape, 4), rnd(statShape, 5)];
      const dy = rnd([2, 4, 4, 3], 6);
      const f = (a: tf.Tensor, m: tf.Tensor, v: tf.Tensor, o: tf.Tensor, s: tf.Tensor) => tf.sum(tf.mul(tf.batchNorm(a, m, v, o, s, 1e-3), dy));
      const ours = tf.grads(f)([x, mean, variance, offset, scale]);
      // Reference: the same function written with elementary ops (no FusedBatchNorm kernel).
      const ref = tf.grads((a: tf.Tensor, m: tf.Tensor, v: tf.Tensor, o: tf.Tensor, s: tf.Tensor) => tf.sum(tf.mul(tf.add(tf.mul(tf.div(tf.sub(a, m), tf.sqrt(tf.add(v, 1e-3))), s), o), dy)))([x, mean, variance, offset, scale]);
      ours.forEach((g, i) => {
        expect(g.shape).toEqual(ref[i]!.shape);
        expect(relError(ref[i]!.dataSync(), g.dataSync())).toBeLessThanOrEqual(1e-5);
      });
      tf.dispose([x, mean, variance, offset, scale, dy, ...ours, ...ref]);
    }
  });
});

describe('composed kernels reject what they do not support', () => {
  it('rejects NCHW data (wasm runs NHWC only)', async () => {
    registerWasmGradients();
    await tf.setBackend('wasm');
    const before = tf.memory().numTensors;
    const x = rnd([1, 3, 5, 5], 1);
    const dy = rnd([1, 4, 5, 5], 2);
    expect(() => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { strides: 1, pad: 'same', dataFormat: 'NCHW', filterShape: [3, 3, 3, 4] } as unknown as tf.NamedAttrMap)).toThrow(/NHWC only/);
    tf.dispose([x, dy]);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('Identity on wasm shares its input instead of copying it', () => {
  it('a clone (the tape saves every tensor through Identity) takes no new bytes and stays correct after the original is freed', async () => {
    registerWasmGradients();
    await tf.setBackend('wasm');
    installHeapGuard(); // meters the heap's allocations (the engine's numBytes counts a shared buffer twice)
    const x = rnd([2, 8, 8, 3], 4);
    const values = Array.from(x.dataSync());
    const bytes = wasmLiveBytes()!;
    const y = tf.clone(x);
    expect(wasmLiveBytes()).toBe(bytes);
    x.dispose();
    expect(Array.from(y.dataSync())).toEqual(values);
    y.dispose();
  });
});
