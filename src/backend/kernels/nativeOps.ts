/**
 * wasm kernels that replace stock tfjs-backend-wasm kernels with medrobust's module (native.ts) where the
 * stock one is slow on the shapes of the paper's nets, and call the stock kernel otherwise:
 *
 * - `FusedBatchNorm` with per-channel statistics (NHWC, the last axis): one SIMD pass (stock: a scalar
 *   loop, ~15× slower).
 * - `Sum`/`Mean` over every axis but the last (batch-norm statistics and gradients): per-channel sums in
 *   one pass (stock: a full transpose first).
 * - `Concat`/`SplitV` (DenseNet's feature concatenation and its gradient): one strided copy per input
 *   (stock: a JavaScript loop per row; SplitV as one generic Slice per part).
 * - `MaxPoolGrad`: the first maximum of each window, any sign (as tfjs-backend-cpu), vectorised over channels.
 * - `MedrobustReluGrad` (a kernel of medrobust's own, see gradientFixes.ts): dy·step(y) in one pass.
 * - `Relu`: one SIMD pass (stock: a scalar loop).
 * - `Add`/`Sub`/`Multiply`/`RealDiv` where one operand repeats over the other's leading axes (a bias `[C]`
 *   against `[N, H, W, C]`: tfjs-core splits a fused conv into conv, bias add and activation under a
 *   gradient) or over its trailing axes (a per-sample `[N, 1, 1, 1]` step against `[N, H, W, C]`): one SIMD
 *   pass (stock: a generic broadcasting loop that recomputes every element's index).
 *
 * Each one's result equals the stock cpu kernel's to float32 rounding (test/backend/nativeKernels.test.ts).
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import { NONFINITE_FLAG_KERNEL } from '../../internal/nonFiniteFlag.js';
import { nativeKernels, type Native, type WasmBackendLike } from './native.js';

type Info = tf.TensorInfo;
type Args = { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend; attrs?: tf.NamedAttrMap };

const stock = new Map<string, tf.KernelConfig>();

/** Remembers the backend's own kernel `name` before medrobust replaces it; returns it. */
export function saveStock(name: string, backendName: string): tf.KernelConfig | undefined {
  const key = `${backendName}/${name}`;
  const current = tf.getKernel(name, backendName);
  if (current && !(current as { medrobust?: boolean }).medrobust) stock.set(key, current);
  return stock.get(key);
}

export function runStock(name: string, backendName: string, args: Args): Info | Info[] {
  const config = stock.get(`${backendName}/${name}`);
  if (!config) throw new Error(`medrobust: no stock ${name} kernel saved for ${backendName}`);
  return config.kernelFunc(args as unknown as Parameters<tf.KernelFunc>[0]) as Info | Info[];
}

const size = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

function output(backend: tf.KernelBackend, shape: number[]): Info {
  return (backend as unknown as WasmBackendLike).makeOutput(shape, 'float32');
}

/** A new output of `shape` that `fill` writes with the module (given the output's heap address); freed if it throws. */
function nativeOutput(native: Native, backend: tf.KernelBackend, shape: number[], fill: (address: number) => void): Info {
  const out = output(backend, shape);
  try {
    fill(native.address(out));
  } catch (err) {
    backend.disposeData(out.dataId);
    throw err;
  }
  return out;
}

/** Float32 view of `count` floats at `address` in the backend's heap (made after every allocation). */
function heapF32(native: Native, address: number, count: number): Float32Array {
  return new Float32Array(native.module.HEAPU8.buffer, address, count);
}

/** Runs `body` with a scratch block of `bytes`, freed afterwards; frees `out` if `body` throws. */
function withScratch<T>(native: Native, bytes: number, backend: tf.KernelBackend, out: Info | undefined, body: (scratch: number) => T): T {
  const scratch = native.malloc(bytes);
  try {
    return body(scratch);
  } catch (err) {
    if (out) backend.disposeData(out.dataId);
    throw err;
  } finally {
    native.free(scratch);
  }
}

/** The per-channel vector of `info` (size 1 or c, any shape of that size), or undefined when it is not one. */
function perChannel(info: Info | undefined, c: number): boolean {
  if (!info) return true;
  const n = size(info.shape);
  return info.dtype === 'float32' && (n === c || n === 1) && info.shape.slice(0, -1).every((d) => d === 1);
}

export function fusedBatchNorm(args: Args, backendName: string): Info | Info[] {
  const { x, mean, variance, offset, scale } = args.inputs as { x: Info; mean: Info; variance: Info; offset?: Info; scale?: Info };
  const native = nativeKernels(args.backend);
  const c = x.shape[x.shape.length - 1] ?? 0;
  const rows = c > 0 ? size(x.shape) / c : 0;
  if (!native || x.dtype !== 'float32' || x.shape.length < 2 || rows === 0 || ![mean, variance, offset, scale].every((t) => perChannel(t, c))) {
    return runStock('FusedBatchNorm', backendName, args);
  }
  const eps = (args.attrs as { varianceEpsilon?: number } | undefined)?.varianceEpsilon ?? 0.001;
  const out = output(args.backend, [...x.shape]);
  return withScratch(native, 3 * c * 4, args.backend, out, (params) => {
    const read = (t: Info | undefined, fallback: number): (k: number) => number => {
      if (!t) return () => fallback;
      const v = heapF32(native, native.address(t), size(t.shape));
      return v.length === 1 ? () => v[0]! : (k) => v[k]!;
    };
    const m = read(mean, 0);
    const v = read(variance, 1);
    const s = read(scale, 1);
    const o = read(offset, 0);
    const p = heapF32(native, params, 3 * c);
    for (let k = 0; k < c; k++) {
      p[k] = m(k);
      p[c + k] = s(k) / Math.sqrt(v(k) + eps);
      p[2 * c + k] = o(k);
    }
    native.parallel('batch_norm_apply', [native.address(x), native.address(out), params, rows, c]);
    return out;
  });
}

/** Sum or Mean: per-channel sums when every axis but the last is reduced, else the stock kernel. */
function reduceLeading(name: 'Sum' | 'Mean', args: Args, backendName: string): Info | Info[] {
  const { x } = args.inputs as { x: Info };
  const { axis, keepDims } = args.attrs as unknown as { axis: number | number[]; keepDims: boolean };
  const rank = x.shape.length;
  const axes = tf.util.parseAxisParam(axis, x.shape as number[]).sort((a, b) => a - b);
  const leading = rank >= 2 && axes.length === rank - 1 && axes.every((a, i) => a === i);
  const native = leading && x.dtype === 'float32' ? nativeKernels(args.backend) : undefined;
  const c = x.shape[rank - 1] ?? 0;
  const rows = c > 0 ? size(x.shape) / c : 0;
  if (!native || rows === 0) return runStock(name, backendName, args);
  const out = output(args.backend, keepDims ? [...x.shape.slice(0, -1).map(() => 1), c] : [c]);
  try {
    native.parallel('channel_sums', [native.address(x), native.address(out), rows, c, name === 'Mean' ? 1 / rows : 1]);
  } catch (err) {
    args.backend.disposeData(out.dataId);
    throw err;
  }
  return out;
}

export const sum = (args: Args, backendName: string): Info | Info[] => reduceLeading('Sum', args, backendName);
export const mean = (args: Args, backendName: string): Info | Info[] => reduceLeading('Mean', args, backendName);

export function concat(args: Args, backendName: string): Info | Info[] {
  const inputs = args.inputs as unknown as Info[];
  const native = nativeKernels(args.backend);
  if (!native || inputs.length < 2 || inputs.some((t) => t.dtype !== 'float32' || size(t.shape) === 0)) return runStock('Concat', backendName, args);
  const axis = tf.util.parseAxisParam((args.attrs as { axis: number }).axis, inputs[0]!.shape as number[])[0]!;
  const shapes = inputs.map((t) => t.shape as number[]);
  tf.backend_util.assertParamsConsistent(shapes, axis);
  const outShape = tf.backend_util.computeOutShape(shapes, axis);
  const rows = size(outShape.slice(0, axis));
  const widths = shapes.map((s) => size(s.slice(axis)));
  const total = widths.reduce((a, b) => a + b, 0);
  return nativeOutput(native, args.backend, outShape, (base) => {
    let offset = 0;
    inputs.forEach((t, i) => {
      native.parallel('copy_rows', [native.address(t), base + 4 * offset, rows, widths[i]!, widths[i]!, total]);
      offset += widths[i]!;
    });
  });
}

export function splitV(args: Args, backendName: string): Info | Info[] {
  const { x } = args.inputs as { x: Info };
  const native = nativeKernels(args.backend);
  if (!native || x.dtype !== 'float32' || size(x.shape) === 0) return runStock('SplitV', backendName, args);
  const { numOrSizeSplits, axis } = args.attrs as unknown as { numOrSizeSplits: number | number[]; axis: number };
  const ax = tf.util.parseAxisParam(axis, x.shape as number[])[0]!;
  const sizes = tf.backend_util.prepareSplitSize(x as unknown as tf.Tensor, numOrSizeSplits, ax);
  const rows = size(x.shape.slice(0, ax));
  const inner = size(x.shape.slice(ax + 1));
  const total = x.shape[ax]! * inner;
  const outs: Info[] = [];
  try {
    const base = native.address(x);
    let offset = 0;
    for (const s of sizes) {
      const shape = [...x.shape];
      shape[ax] = s;
      const out = output(args.backend, shape);
      outs.push(out);
      if (s > 0) native.parallel('copy_rows', [base + 4 * offset, native.address(out), rows, s * inner, total, s * inner]);
      offset += s * inner;
    }
  } catch (err) {
    for (const o of outs) args.backend.disposeData(o.dataId);
    throw err;
  }
  return outs;
}

/** MaxPoolGrad: the module's kernel, else one pass of TypeScript over the heap (maxPoolGradDirect.ts). */
export function maxPoolGradNative(args: Args): Info | undefined {
  const native = nativeKernels(args.backend);
  if (!native) return undefined;
  const { dy, input } = args.inputs as { dy: Info; input: Info };
  const { filterSize, strides, pad, dimRoundingMode } = args.attrs as unknown as tf.MaxPoolGradAttrs;
  const info = tf.backend_util.computePool2DInfo(input.shape as [number, number, number, number], filterSize, strides, 1, pad, dimRoundingMode);
  return nativeOutput(native, args.backend, [...input.shape], (out) => native.parallel('max_pool_grad', [native.address(input), native.address(dy), out,
    info.batchSize, info.inHeight, info.inWidth, info.inChannels, info.outHeight, info.outWidth, info.filterHeight, info.filterWidth, info.strideHeight,
    info.strideWidth, info.padInfo.top, info.padInfo.left]));
}

/** The kernel name of medrobust's fused ReLU gradient (inputs dy, y: the ReLU's output). */
export const RELU_GRAD = 'MedrobustReluGrad';

/** dy·step(y) in one pass with the module; without it, the same arithmetic through the backend's Step and Multiply. */
export function reluGrad(args: Args, backendName: string): Info {
  const { dy, y } = args.inputs as { dy: Info; y: Info };
  const native = nativeKernels(args.backend);
  if (!native || dy.dtype !== 'float32' || y.dtype !== 'float32' || size(dy.shape) !== size(y.shape)) {
    const be = args.backend;
    const step = tf.getKernel('Step', backendName)!.kernelFunc({ inputs: { x: y }, backend: be, attrs: { alpha: 0 } }) as Info;
    try {
      return tf.getKernel('Multiply', backendName)!.kernelFunc({ inputs: { a: dy, b: step }, backend: be, attrs: {} }) as Info;
    } finally {
      be.disposeData(step.dataId);
    }
  }
  return nativeOutput(native, args.backend, [...dy.shape], (out) => native.parallel('relu_grad', [native.address(dy), native.address(y), out, size(dy.shape)]));
}

/** The kernel name of medrobust's finiteness flag (inputs: any number of float32 tensors, by index). */
export const NONFINITE_FLAG = NONFINITE_FLAG_KERNEL;

/**
 * A float32 scalar: 0 when every value of every input is finite, NaN otherwise (the sum of x·0 over all of
 * them, without the x·0 tensors and a kernel call or three per input: one read of each).
 */
export function nonFiniteFlag(args: Args): Info {
  const inputs = Object.values(args.inputs) as Info[];
  const native = nativeKernels(args.backend);
  let flag = 0;
  if (native) {
    const acc = native.malloc(16);
    try {
      new Float32Array(native.module.HEAPU8.buffer, acc, 1)[0] = 0;
      for (const t of inputs) if (t.dtype === 'float32' && size(t.shape) > 0) native.exports.nonfinite_flag(native.address(t), size(t.shape), acc, 0, 1);
      flag = new Float32Array(native.module.HEAPU8.buffer, acc, 1)[0]!;
    } finally {
      native.free(acc);
    }
  } else {
    for (const t of inputs) {
      const values = args.backend.readSync(t.dataId) as Float32Array;
      for (let i = 0; i < values.length && flag === 0; i++) flag += values[i]! - values[i]!;
    }
  }
  return (args.backend as unknown as WasmBackendLike).makeOutput([], 'float32', undefined, Float32Array.of(flag));
}

/** The module's op codes of `binary_broadcast`, by the tfjs kernel they implement. */
const BINARY_OPS: Readonly<Record<string, number>> = { Add: 0, Sub: 1, Multiply: 2, RealDiv: 3 };

/**
 * How `small` repeats against `full` in a broadcast to `out`: `'columns'` when small's shape, right-aligned,
 * is out's trailing axes after 1s (small[i] for column i of each row), `'rows'` when it is out's leading
 * axes followed by 1s (small[r] for every column of row r); undefined otherwise.
 */
export function broadcastPattern(full: readonly number[], small: readonly number[], out: readonly number[]): { mode: 'columns' | 'rows'; rows: number; inner: number } | undefined {
  const total = size(out);
  const n = size(small);
  if (size(full) !== total || n <= 1 || n === total || small.length > out.length) return undefined;
  const padded = [...new Array<number>(out.length - small.length).fill(1), ...small];
  // The last axis where small is not 1 and the first: both patterns are contiguous blocks of out's axes.
  const first = padded.findIndex((d) => d !== 1);
  let last = padded.length - 1;
  while (last >= 0 && padded[last] === 1) last--;
  for (let i = first; i <= last; i++) if (padded[i] !== out[i]) return undefined;
  if (size(out.slice(last + 1)) === 1) return { mode: 'columns', rows: total / n, inner: n };
  if (size(out.slice(0, first)) === 1) return { mode: 'rows', rows: n, inner: total / n };
  return undefined;
}

/** Add, Sub, Multiply and RealDiv of float32 operands that broadcast as {@link broadcastPattern} finds; other cases the stock kernel. */
export function binary(name: 'Add' | 'Sub' | 'Multiply' | 'RealDiv') {
  return (args: Args, backendName: string): Info | Info[] => {
    const { a, b } = args.inputs as { a: Info; b: Info };
    const native = nativeKernels(args.backend);
    if (!native || a.dtype !== 'float32' || b.dtype !== 'float32' || size(a.shape) === size(b.shape)) return runStock(name, backendName, args);
    const out = tf.backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
    const swap = size(a.shape) < size(b.shape);
    const [full, small] = swap ? [b, a] : [a, b];
    const pattern = broadcastPattern(full.shape, small.shape, out);
    if (!pattern) return runStock(name, backendName, args);
    return nativeOutput(native, args.backend, out, (result) => native.parallel('binary_broadcast', [native.address(full), native.address(small), result, pattern.rows, pattern.inner,
      pattern.mode === 'rows' ? 1 : 0, BINARY_OPS[name]!, swap ? 1 : 0]));
  };
}

/** Relu of a float32 tensor in one SIMD pass (the stock kernel: a scalar loop); other dtypes the stock kernel. */
export function relu(args: Args, backendName: string): Info | Info[] {
  const { x } = args.inputs as { x: Info };
  const native = nativeKernels(args.backend);
  if (!native || x.dtype !== 'float32' || size(x.shape) === 0) return runStock('Relu', backendName, args);
  return nativeOutput(native, args.backend, [...x.shape], (out) => native.parallel('relu', [native.address(x), out, size(x.shape)]));
}

/**
 * AvgPoolGrad with the module: each dx position gathers the dy of the windows that hold it, times
 * 1 / (kh·kw) (padding counted, as tfjs-backend-cpu); stock wasm's kernel is a scalar loop (Inception-v3's
 * 3×3 'same' pools: 127 ms of a 1.7 s PGD step). Dilated pools and other dtypes run the stock kernel.
 */
export function avgPoolGrad(args: Args, backendName: string): Info | Info[] {
  const { dy, input } = args.inputs as { dy: Info; input: Info };
  const native = nativeKernels(args.backend);
  if (!native || dy.dtype !== 'float32' || input.shape.length !== 4 || size(input.shape) === 0) return runStock('AvgPoolGrad', backendName, args);
  const { filterSize, strides, pad, dimRoundingMode } = args.attrs as unknown as tf.AvgPoolGradAttrs & { dimRoundingMode?: 'floor' | 'round' | 'ceil' };
  const info = tf.backend_util.computePool2DInfo(input.shape as [number, number, number, number], filterSize, strides, 1, pad, dimRoundingMode);
  return nativeOutput(native, args.backend, [...input.shape], (out) => native.parallel('avg_pool_grad', [native.address(dy), out,
    info.batchSize, info.inHeight, info.inWidth, info.inChannels, info.outHeight, info.outWidth, info.filterHeight, info.filterWidth, info.strideHeight,
    info.strideWidth, info.padInfo.top, info.padInfo.left, 1 / (info.filterHeight * info.filterWidth)]));
}

/**
 * The copies a float32 slice takes as runs of contiguous floats: the innermost axis the slice cuts and every
 * axis after it form one run (`width` floats) per index of the axes before it; the axis just before it
 * gives `copy_rows`' rows (`rows`, `srcStride` apart in x), the axes before that one call each
 * (`calls`, starting at the offsets `starts`, in floats). Exported for the tests.
 */
export function slicePlan(shape: readonly number[], begin: readonly number[], sizes: readonly number[]): { width: number; rows: number; srcStride: number; starts: number[] } {
  const rank = shape.length;
  const strides = new Array<number>(rank).fill(1);
  for (let i = rank - 2; i >= 0; i--) strides[i] = strides[i + 1]! * shape[i + 1]!;
  let k = rank - 1;
  while (k > 0 && sizes[k] === shape[k] && begin[k] === 0) k--;
  const width = rank === 0 ? 1 : sizes[k]! * (k + 1 < rank ? strides[k]! : 1);
  const rowAxis = k - 1;
  const rows = rowAxis >= 0 ? sizes[rowAxis]! : 1;
  const srcStride = rowAxis >= 0 ? strides[rowAxis]! : 0;
  let starts = [begin.reduce((a, b, i) => a + b * strides[i]!, 0)];
  // outer axes first: the runs in the output's order
  for (let ax = 0; ax < rowAxis; ax++) starts = starts.flatMap((s) => Array.from({ length: sizes[ax]! }, (_, j) => s + j * strides[ax]!));
  return { width, rows, srcStride, starts };
}

/**
 * Slice of a float32 tensor as strided row copies with the module (stock wasm: a scalar loop per element
 * above rank 1's contiguous case; Inception-v3's pad gradients, 2×19×19×768 → 2×17×17×768, took 50 ms of
 * a PGD step). Slices whose runs are short (under 16 floats) or many (over 256 calls) run the stock kernel.
 */
export function slice(args: Args, backendName: string): Info | Info[] {
  const { x } = args.inputs as { x: Info };
  const native = nativeKernels(args.backend);
  if (!native || x.dtype !== 'float32' || x.shape.length === 0 || size(x.shape) === 0) return runStock('Slice', backendName, args);
  const { begin, size: sz } = args.attrs as unknown as { begin: number | number[]; size: number | number[] };
  const [b, s] = tf.slice_util.parseSliceParams(x as unknown as tf.Tensor, begin, sz) as [number[], number[]];
  if (size(s) === 0) return runStock('Slice', backendName, args);
  const plan = slicePlan(x.shape, b, s);
  if (plan.width < 16 || plan.starts.length > 256) return runStock('Slice', backendName, args);
  return nativeOutput(native, args.backend, s, (out) => {
    const src = native.address(x);
    const perCall = plan.rows * plan.width;
    plan.starts.forEach((start, i) => native.parallel('copy_rows', [src + 4 * start, out + 4 * i * perCall, plan.rows, plan.width, plan.srcStride, plan.width]));
  });
}
