/**
 * Shared option checks and layer helpers of the model builders (tfjs-layers, functional API).
 * Layer names follow the PyTorch module names of the reference implementations, so that weights
 * can be mapped by name (docs/guides/weights.md).
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { InvalidArgumentError } from '../errors.js';
import { createRng } from '../internal/random.js';
import { assertKnownKeys, assertNumber, assertOptionalNumber, assertOptionsObject, describeValue } from '../internal/validate.js';
import type { Normalization } from './modelOptions.js';



export const COMMON_MODEL_KEYS = ['inputShape', 'classes', 'width', 'seed', 'normalization'] as const;

/** Validated common options. */
export interface Resolved {
  inputShape: [number, number, number];
  classes: number;
  width: number;
  normalization: Normalization | undefined;
  /** A fresh initializer seed per call (undefined: tfjs's own unseeded randomness). */
  nextSeed: () => number | undefined;
}

export function resolveCommon(fn: string, options: unknown, known: readonly string[], defaults: { inputShape: [number, number, number]; classes?: number }): { o: Record<string, unknown>; r: Resolved } {
  const o = assertOptionsObject(fn, options);
  assertKnownKeys(fn, o, known);
  const shape = o.inputShape ?? defaults.inputShape;
  if (!Array.isArray(shape) || shape.length !== 3 || shape.some((d) => !Number.isInteger(d) || (d as number) < 1)) {
    throw new InvalidArgumentError(fn, 'options.inputShape', '[height, width, channels] of positive integers', describeValue(shape));
  }
  if (o.classes === undefined && defaults.classes === undefined) throw new InvalidArgumentError(fn, 'options.classes', 'an integer >= 1 (required)', 'undefined');
  const classes = assertNumber(fn, 'options.classes', o.classes ?? defaults.classes, { min: 1, integer: true });
  const width = assertNumber(fn, 'options.width', o.width ?? 1, { min: 0, minExclusive: true, max: 16 });
  const seed = assertOptionalNumber(fn, 'options.seed', o.seed, { integer: true });
  const channels = shape[2] as number;
  let normalization: Normalization | undefined;
  if (o.normalization !== undefined) {
    const n = o.normalization as Partial<Normalization>;
    const ok = typeof n === 'object' && n !== null && Array.isArray(n.mean) && Array.isArray(n.std) && n.mean.length === channels && n.std.length === channels
      && n.mean.every((v) => Number.isFinite(v)) && n.std.every((v) => Number.isFinite(v) && v > 0);
    if (!ok) throw new InvalidArgumentError(fn, 'options.normalization', `{ mean: number[${channels}], std: number[${channels}] } with std > 0`, describeValue(o.normalization));
    normalization = n as Normalization;
  }
  const rng = seed === undefined ? undefined : createRng(seed);
  return { o, r: { inputShape: shape as [number, number, number], classes, width, normalization, nextSeed: () => rng?.nextSeed() } };
}

/** Scales a channel count by the width multiplier (at least 1). */
export function scaled(channels: number, width: number): number {
  return Math.max(1, Math.round(channels * width));
}

type ST = tfl.SymbolicTensor;

/** Builds layers with seeded initializers. */
export class Builder {
  constructor(private readonly r: Resolved) {}

  heNormal(): ReturnType<typeof tfl.initializers.heNormal> {
    const seed = this.r.nextSeed();
    return tfl.initializers.heNormal(seed === undefined ? {} : { seed });
  }

  glorot(): ReturnType<typeof tfl.initializers.heNormal> {
    const seed = this.r.nextSeed();
    return tfl.initializers.glorotUniform(seed === undefined ? {} : { seed });
  }

  conv(x: ST, name: string, filters: number, kernel: number | [number, number], opts: { strides?: number; padding?: 'same' | 'valid'; useBias?: boolean; activation?: 'relu' | 'linear' } = {}): ST {
    return tfl.layers.conv2d({
      name, filters, kernelSize: kernel, strides: opts.strides ?? 1, padding: opts.padding ?? 'same', useBias: opts.useBias ?? false,
      activation: opts.activation ?? 'linear', kernelInitializer: this.heNormal(), biasInitializer: 'zeros',
    }).apply(x) as ST;
  }

  /** Batch norm with scale (gamma) and centre (beta): scale=false cannot be differentiated in tfjs-core 4.22. */
  bn(x: ST, name: string, epsilon = 1e-5): ST {
    return tfl.layers.batchNormalization({ name, axis: -1, epsilon, momentum: 0.9, scale: true, center: true }).apply(x) as ST;
  }

  relu(x: ST, name?: string): ST {
    return tfl.layers.activation(name === undefined ? { activation: 'relu' } : { activation: 'relu', name }).apply(x) as ST;
  }

  dense(x: ST, name: string, units: number, activation: 'relu' | 'linear' = 'linear'): ST {
    return tfl.layers.dense({ name, units, activation, kernelInitializer: this.glorot(), biasInitializer: 'zeros' }).apply(x) as ST;
  }

  pad(x: ST, p: number): ST {
    return tfl.layers.zeroPadding2d({ padding: p }).apply(x) as ST;
  }

  maxPool(x: ST, size: number, strides: number, name?: string): ST {
    return tfl.layers.maxPooling2d({ poolSize: size, strides, padding: 'valid', ...(name ? { name } : {}) }).apply(x) as ST;
  }

  /** Average pooling with zero padding counted in the mean (PyTorch's count_include_pad=True). */
  avgPool(x: ST, size: number, strides: number, padding = 0): ST {
    const padded = padding > 0 ? this.pad(x, padding) : x;
    return tfl.layers.averagePooling2d({ poolSize: size, strides, padding: 'valid' }).apply(padded) as ST;
  }

  concat(xs: ST[], name?: string): ST {
    return tfl.layers.concatenate(name ? { axis: -1, name } : { axis: -1 }).apply(xs) as ST;
  }

  /** The input, followed by a frozen per-channel normalisation (a Dense on the channel axis). */
  input(): { input: ST; x: ST } {
    const input = tfl.input({ shape: [...this.r.inputShape], name: 'input' });
    if (!this.r.normalization) return { input, x: input };
    const c = this.r.inputShape[2];
    const x = tfl.layers.dense({ name: 'normalize', units: c, useBias: true, trainable: false, kernelInitializer: 'zeros' }).apply(input) as ST;
    return { input, x };
  }

  /** Sets the normalisation layer's weights to diag(1/std) and −mean/std once the model exists. */
  finish(model: tfl.LayersModel): tfl.LayersModel {
    const n = this.r.normalization;
    if (!n) return model;
    const layer = model.getLayer('normalize');
    const c = n.mean.length;
    const kernel = new Float32Array(c * c);
    const bias = new Float32Array(c);
    for (let i = 0; i < c; i++) {
      kernel[i * c + i] = 1 / n.std[i]!;
      bias[i] = -n.mean[i]! / n.std[i]!;
    }
    const values = [tf.tensor2d(kernel, [c, c]), tf.tensor1d(bias)];
    try { layer.setWeights(values); } finally { tf.dispose(values); }
    return model;
  }
}

/** Throws unless the input is at least `min` pixels on each side (and a multiple of `multiple`). */
export function assertInputSide(fn: string, r: Resolved, min: number, multiple = 1): void {
  const [h, w] = r.inputShape;
  if (h < min || w < min || h % multiple !== 0 || w % multiple !== 0) {
    const words = `height and width >= ${min}${multiple > 1 ? ` and multiples of ${multiple}` : ''}`;
    throw new InvalidArgumentError(fn, 'options.inputShape', words, `[${r.inputShape.join(',')}]`);
  }
}
