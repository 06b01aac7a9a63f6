/**
 * Installs composed kernels for a backend, replacing any registered under the same name.
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import { ensureGradientFixes } from '../../internal/gradientFixes.js';
import { conv2dBackpropFilter, conv2dBackpropInput, depthwiseBackpropFilter, depthwiseBackpropInput } from './conv.js';
import { BN_GRAD, BN_STATS, batchNormGrad, batchNormStats } from './batchNormTraining.js';
import { batchMatMul, saveOriginalMatMul } from './matMul.js';
import { maxPoolGrad } from './maxPoolGrad.js';
import { conv2d, fusedConv2d } from './nativeConv.js';
import { avgPoolGrad, binary, concat, fusedBatchNorm, mean, NONFINITE_FLAG, nonFiniteFlag, relu, RELU_GRAD, reluGrad, saveStock, slice, splitV, sum } from './nativeOps.js';

type Composed = (args: { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend; attrs?: tf.NamedAttrMap }, backendName: string) => tf.TensorInfo | tf.TensorInfo[];

/**
 * Identity that shares its input's data (a reference count, as tfjs-backend-cpu and -webgl do) instead of
 * copying it (tfjs-backend-wasm 4.22). tfjs-core's gradient tape saves every tensor it needs for the
 * backward pass through `clone` → Identity, so on stock wasm every saved activation was a full copy, and
 * an activation saved by two kernels (a ReLU output is saved by the ReLU and by the next conv) two copies.
 * Tensors are immutable in tfjs (variables rebind their data on `assign`), so sharing is safe.
 */
function sharedIdentity(args: { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend }): tf.TensorInfo {
  const x = args.inputs.x as tf.TensorInfo;
  (args.backend as unknown as { incRef(dataId: object): void }).incRef(x.dataId);
  return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
}

/** Every composed kernel, by the tfjs kernel name it implements. */
export const COMPOSED_KERNELS: Readonly<Record<string, Composed>> = {
  Conv2DBackpropFilter: conv2dBackpropFilter,
  Conv2DBackpropInput: conv2dBackpropInput,
  DepthwiseConv2dNativeBackpropInput: depthwiseBackpropInput,
  DepthwiseConv2dNativeBackpropFilter: depthwiseBackpropFilter,
  MaxPoolGrad: maxPoolGrad,
  BatchMatMul: batchMatMul,
  Identity: sharedIdentity,
  Conv2D: conv2d,
  FusedConv2D: fusedConv2d,
  FusedBatchNorm: fusedBatchNorm,
  Sum: sum,
  Mean: mean,
  Concat: concat,
  SplitV: splitV,
  Add: binary('Add'),
  Sub: binary('Sub'),
  Multiply: binary('Multiply'),
  RealDiv: binary('RealDiv'),
  Relu: relu,
  AvgPoolGrad: avgPoolGrad,
  Slice: slice,
  [RELU_GRAD]: reluGrad,
  [NONFINITE_FLAG]: nonFiniteFlag,
  [BN_STATS]: batchNormStats,
  [BN_GRAD]: batchNormGrad,
};

/** Kernels that wrap the backend's own one (called where medrobust's module does not apply). */
const WRAPS_STOCK = new Set(['Conv2D', 'FusedConv2D', 'FusedBatchNorm', 'Sum', 'Mean', 'Concat', 'SplitV', 'Add', 'Sub', 'Multiply', 'RealDiv', 'Relu', 'AvgPoolGrad', 'Slice']);

/** Registers `names` for `backendName` (replacing stock kernels); returns the names it installed. */
export function installKernels(backendName: string, names: readonly string[]): string[] {
  const done: string[] = [];
  for (const name of names) {
    const impl = COMPOSED_KERNELS[name];
    if (!impl) throw new Error(`medrobust: no composed kernel named ${name}`);
    const existing = tf.getKernel(name, backendName);
    if (existing && (existing as { medrobust?: boolean }).medrobust) continue;
    if (name === 'BatchMatMul' && !saveOriginalMatMul(backendName)) continue;
    if (WRAPS_STOCK.has(name) && !saveStock(name, backendName)) continue;
    if (existing) tf.unregisterKernel(name, backendName);
    const config: tf.KernelConfig & { medrobust: boolean } = {
      kernelName: name,
      backendName,
      // Keep the stock kernel's setup (wasm binds its C function there); the wrapper calls it.
      ...(existing?.setupFunc ? { setupFunc: existing.setupFunc } : {}),
      ...(existing?.disposeFunc ? { disposeFunc: existing.disposeFunc } : {}),
      kernelFunc: ((args: { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend; attrs?: tf.NamedAttrMap }) => impl(args, backendName)) as unknown as tf.KernelFunc,
      medrobust: true,
    };
    tf.registerKernel(config);
    done.push(name);
  }
  return done;
}

/**
 * Replaces tfjs-core's FusedBatchNorm gradient (global: it applies to every backend) and lets the engine
 * differentiate kernels with absent optional inputs (batch norm without scale). See internal/gradientFixes.
 * @returns true when this call installed the gradient.
 */
export function installBatchNormGradient(): boolean {
  return ensureGradientFixes();
}
