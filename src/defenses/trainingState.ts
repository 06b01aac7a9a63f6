/**
 * Snapshots of model and optimizer weights as plain typed arrays, for checkpoints and for the best
 * weights kept during training (plain arrays, so that they never count as live tensors).
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { FormatError } from '../errors.js';

/**
 * One tensor of a checkpoint, as plain data.
 * @category Defenses
 */
export interface SavedTensor {
  /** The variable's name when saved (informative; restoring matches by position and shape). */
  readonly name: string;
  /** The tensor's shape. */
  readonly shape: readonly number[];
  /** The tensor's dtype. */
  readonly dtype: 'float32' | 'int32';
  /** The values in row-major order (a copy, never a backend's buffer). */
  readonly values: Float32Array | Int32Array;
}

async function save(name: string, t: tf.Tensor): Promise<SavedTensor> {
  const dtype = t.dtype === 'int32' ? 'int32' : 'float32';
  const data = await t.data();
  const values = dtype === 'int32' ? Int32Array.from(data as Int32Array) : Float32Array.from(data as Float32Array);
  return { name, shape: [...t.shape], dtype, values };
}

function load(s: SavedTensor): tf.Tensor {
  return tf.tensor(s.values, s.shape as number[], s.dtype);
}

/** Copies every weight of the model (trainable and not, e.g. batch-norm statistics), in order. */
export async function snapshotModel(model: LayersModel): Promise<SavedTensor[]> {
  const out: SavedTensor[] = [];
  for (const w of model.weights) out.push(await save(w.name, w.read()));
  return out;
}

/** Writes a snapshot back into the model; throws FormatError when it belongs to another architecture. */
export function restoreModel(fn: string, model: LayersModel, saved: readonly SavedTensor[], what: string): void {
  const weights = model.weights;
  if (!Array.isArray(saved) || saved.length !== weights.length) {
    throw new FormatError(`${fn}: ${what} holds ${Array.isArray(saved) ? saved.length : 'no'} weight tensors, the model has ${weights.length}: it was saved from another model`);
  }
  weights.forEach((w, i) => {
    const s = saved[i]!;
    const same = s.shape.length === w.shape.length && s.shape.every((d: number, j: number) => d === w.shape[j]);
    if (!same || s.values.length !== s.shape.reduce((a: number, b: number) => a * b, 1)) {
      throw new FormatError(`${fn}: ${what} weight ${i} ('${s.name}') has shape [${s.shape.join(',')}], the model's '${w.name}' has [${w.shape.join(',')}]: it was saved from another model`);
    }
  });
  const tensors = saved.map(load);
  try {
    model.setWeights(tensors);
  } finally {
    tf.dispose(tensors);
  }
}

/**
 * Copies the optimizer's state (its iteration count and slot variables such as momentum or Adam's
 * moments). The iteration scalar that `getWeights` creates is disposed; the slot variables stay
 * the optimizer's.
 */
export async function snapshotOptimizer(optimizer: tf.Optimizer): Promise<SavedTensor[]> {
  const named = await optimizer.getWeights();
  const out: SavedTensor[] = [];
  try {
    for (const { name, tensor } of named) out.push(await save(name, tensor));
  } finally {
    for (const { tensor } of named) if (!(tensor instanceof tf.Variable)) tensor.dispose();
  }
  return out;
}

/** Restores the optimizer's state, disposing the slot variables it replaces. */
export async function restoreOptimizer(fn: string, optimizer: tf.Optimizer, saved: readonly SavedTensor[]): Promise<void> {
  const old = await optimizer.getWeights();
  for (const { tensor } of old) if (!(tensor instanceof tf.Variable)) tensor.dispose();
  const tensors = saved.map((s) => ({ name: s.name, tensor: load(s) }));
  try {
    await optimizer.setWeights(tensors);
  } catch (err) {
    throw new FormatError(`${fn}: the checkpoint's optimizer state does not fit this optimizer (${(err as Error).message})`);
  } finally {
    tf.dispose(tensors.map((t) => t.tensor));
  }
  for (const { tensor } of old) if (tensor instanceof tf.Variable && !tensor.isDisposed) tensor.dispose();
}
