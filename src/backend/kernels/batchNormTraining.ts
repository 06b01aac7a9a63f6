/**
 * Batch normalisation in training mode as two fused kernels on wasm. tfjs-layers computes it from
 * elementary ops (`tf.moments`: Mean, Sub, Square, Mean; then FusedBatchNorm) whose gradients make about
 * twenty full-size passes per layer (tiles of ones for each mean's gradient, the centred input computed
 * twice, three partial dx summed); PyTorch makes two. Here a training-mode call of a
 * `BatchNormalization` layer (last axis, float32, medrobust's module running) computes:
 *
 * - forward: per-channel mean and biased variance in two passes (`MedrobustBatchNormStats`), then
 *   y = (x − mean)·γ/√(var + ε) + β in one (FusedBatchNorm);
 * - backward, for x, γ and β together (`MedrobustBatchNormGrad`): Σdy and Σdy·(x − mean) in one pass,
 *   then dx = γ/σ·(dy − Σdy/N − (x − mean)·Σdy·(x − mean)/(N·σ²)) in one, with σ² = var + ε;
 *   dγ = Σdy·(x − mean)/σ, dβ = Σdy.
 *
 * The values are those of tfjs-layers' graph (the same formula, float32 rounding: tested against the cpu
 * backend's stock path); the moving mean and variance are updated exactly as tfjs-layers does. Any other
 * case (inference, another axis or backend, the module unavailable) runs tfjs-layers' own `call`.
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { nativeKernels, type Native, type WasmBackendLike } from './native.js';

type Info = tf.TensorInfo;
type Args = { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend; attrs?: tf.NamedAttrMap };

export const BN_STATS = 'MedrobustBatchNormStats';
export const BN_GRAD = 'MedrobustBatchNormGrad';

const size = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

function need(backend: tf.KernelBackend, what: string): Native {
  const native = nativeKernels(backend);
  if (!native) throw new Error(`medrobust: ${what} needs medrobust's wasm kernel module, which is not available on this backend`);
  return native;
}

/** Kernel: [mean, variance] over every axis but the last (inputs: x). */
export function batchNormStats(args: Args): Info[] {
  const { x } = args.inputs as { x: Info };
  const native = need(args.backend, BN_STATS);
  const c = x.shape[x.shape.length - 1]!;
  const rows = size(x.shape) / c;
  const be = args.backend as unknown as WasmBackendLike;
  const mean = be.makeOutput([c], 'float32');
  const variance = be.makeOutput([c], 'float32');
  try {
    native.parallel('batch_norm_stats', [native.address(x), native.address(mean), native.address(variance), rows, c]);
  } catch (err) {
    args.backend.disposeData(mean.dataId);
    args.backend.disposeData(variance.dataId);
    throw err;
  }
  return [mean, variance];
}

/** Kernel: [dx, dscale, doffset] of training-mode batch norm (inputs: x, dy, mean, variance, scale?; attrs: varianceEpsilon). */
export function batchNormGrad(args: Args): Info[] {
  const { x, dy, mean, variance, scale } = args.inputs as { x: Info; dy: Info; mean: Info; variance: Info; scale?: Info };
  const eps = (args.attrs as { varianceEpsilon: number }).varianceEpsilon;
  const native = need(args.backend, BN_GRAD);
  const c = x.shape[x.shape.length - 1]!;
  const rows = size(x.shape) / c;
  const be = args.backend as unknown as WasmBackendLike;
  const dx = be.makeOutput([...x.shape], 'float32');
  const dscale = be.makeOutput([c], 'float32');
  const doffset = be.makeOutput([c], 'float32');
  const scratch = native.malloc(6 * c * 4);
  try {
    const sums = scratch;
    const params = scratch + 2 * c * 4;
    native.parallel('batch_norm_grad_sums', [native.address(x), native.address(dy), native.address(mean), sums, rows, c]);
    const heap = native.module.HEAPU8.buffer;
    const s = new Float32Array(heap, sums, 2 * c);
    const m = new Float32Array(heap, native.address(mean), c);
    const v = new Float32Array(heap, native.address(variance), c);
    const g = scale ? new Float32Array(heap, native.address(scale), size(scale.shape)) : undefined;
    const p = new Float32Array(heap, params, 4 * c);
    const ds = new Float32Array(heap, native.address(dscale), c);
    const db = new Float32Array(heap, native.address(doffset), c);
    for (let k = 0; k < c; k++) {
      const sigma2 = v[k]! + eps;
      const inv = 1 / Math.sqrt(sigma2);
      const gamma = g ? g[g.length === 1 ? 0 : k]! : 1;
      p[k] = m[k]!;
      p[c + k] = gamma * inv;
      p[2 * c + k] = s[k]! / rows;
      p[3 * c + k] = s[c + k]! / (rows * sigma2);
      ds[k] = s[c + k]! * inv;
      db[k] = s[k]!;
    }
    native.parallel('batch_norm_grad_apply', [native.address(x), native.address(dy), native.address(dx), params, rows, c]);
  } catch (err) {
    for (const t of [dx, dscale, doffset]) args.backend.disposeData(t.dataId);
    throw err;
  } finally {
    native.free(scratch);
  }
  return [dx, dscale, doffset];
}

/** Normalised output of a training-mode batch norm, with its fused gradient; also returns the statistics. */
function fusedTraining(x: tf.Tensor, gamma: tf.Tensor | null, beta: tf.Tensor | null, epsilon: number): { normed: tf.Tensor; mean: tf.Tensor; variance: tf.Tensor } {
  const [mean, variance] = tf.engine().runKernel(BN_STATS, { x }, {}) as unknown as [tf.Tensor1D, tf.Tensor1D];
  const c = x.shape[x.shape.length - 1]!;
  const scale = gamma ?? tf.ones([c]);
  const offset = beta ?? tf.zeros([c]);
  const f = tf.customGrad(((xs: tf.Tensor, g: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => {
    save([xs, mean, variance, g]);
    const value = tf.batchNorm(xs, mean, variance, b, g, epsilon);
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sx, sm, sv, sg] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
        const [dx, ds, db] = tf.engine().runKernel(BN_GRAD, { x: sx, dy, mean: sm, variance: sv, scale: sg }, { varianceEpsilon: epsilon }) as unknown as tf.Tensor[];
        return [dx!, tf.reshape(ds!, g.shape), tf.reshape(db!, b.shape)];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  const normed = f(x, scale, offset);
  return { normed, mean, variance };
}

interface BatchNormLayer {
  axis: number;
  momentum: number;
  epsilon: number;
  gamma: tfl.LayerVariable | null;
  beta: tfl.LayerVariable | null;
  movingMean: tfl.LayerVariable;
  movingVariance: tfl.LayerVariable;
}

type Call = (this: BatchNormLayer, inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>) => tf.Tensor | tf.Tensor[];

/** Whether the fused path applies to this call. */
function applies(layer: BatchNormLayer, input: tf.Tensor): boolean {
  const ndim = input.shape.length;
  const axis = layer.axis >= 0 ? layer.axis : layer.axis + ndim;
  if (ndim < 2 || axis !== ndim - 1 || input.dtype !== 'float32' || size(input.shape) === 0) return false;
  const backend = tf.getBackend();
  if (!tf.getKernel(BN_STATS, backend) || !tf.getKernel(BN_GRAD, backend)) return false;
  return nativeKernels(tf.backend()) !== undefined;
}

let installed = false;

/**
 * Makes training-mode `BatchNormalization` layers use the fused kernels where they apply (see the module
 * comment); idempotent. Returns true when this call installed it.
 */
export function installFusedBatchNormTraining(): boolean {
  if (installed) return false;
  const proto = Object.getPrototypeOf(tfl.layers.batchNormalization({})) as { call: Call; medrobustFused?: true };
  if (proto.medrobustFused) {
    installed = true;
    return false;
  }
  const original = proto.call;
  proto.call = function (this: BatchNormLayer, inputs, kwargs) {
    const training = kwargs?.['training'] === true;
    const input = Array.isArray(inputs) ? inputs[0]! : inputs;
    if (!training || (Array.isArray(inputs) && inputs.length !== 1) || !applies(this, input)) return original.call(this, inputs, kwargs);
    return tf.tidy(() => {
      const { normed, mean, variance } = fusedTraining(input, this.gamma ? (this.gamma.read() as tf.Tensor) : null, this.beta ? (this.beta.read() as tf.Tensor) : null, this.epsilon);
      // The moving statistics, updated as tfjs-layers does: v ← v − (v − value)·(1 − momentum).
      const update = (variable: tfl.LayerVariable, value: tf.Tensor): void => {
        tf.tidy(() => {
          const current = variable.read() as tf.Tensor;
          variable.write(tf.sub(current, tf.mul(tf.sub(current, value), 1 - this.momentum)));
        });
      };
      update(this.movingMean, mean);
      update(this.movingVariance, variance);
      return normed;
    });
  };
  proto.medrobustFused = true;
  installed = true;
  return true;
}
