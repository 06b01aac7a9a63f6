import * as tf from '@tensorflow/tfjs-core';
import { FormatError, InvalidArgumentError } from '../errors.js';
import { describeValue } from '../internal/validate.js';
import { assertNpyArray, type NpyArray } from './npy.js';
import { entry, entryAsync } from '../internal/scope.js';

/**
 * Makes a tensor from an {@link NpyArray}: float32/float64 become float32, integer types int32
 * (int64/uint32/uint64 values must fit in int32), bool stays bool. The caller owns the tensor.
 *
 * @param array - the array (e.g. from {@link readNpz}).
 * @returns a new tensor of the array's shape.
 * @throws {InvalidArgumentError} for an inconsistent array.
 * @throws {FormatError} when 64-bit or unsigned 32-bit integers do not fit in int32.
 *
 * @example
 * ```ts
 * const { test_labels } = readNpz(bytes);
 * const labels = npyToTensor(test_labels); // int32
 * ```
 * @category Data
 */
export function npyToTensor(array: NpyArray): tf.Tensor {
  return entry('npyToTensor', () => {
    const { dtype, shape, data } = assertNpyArray('npyToTensor', 'array', array);
    const s = [...shape];
    switch (dtype) {
      case 'float32':
        return tf.tensor(data as Float32Array, s, 'float32');
      case 'float64':
        return tf.tensor(Float32Array.from(data as Float64Array), s, 'float32');
      case 'bool':
        return tf.tensor(data as Uint8Array, s, 'bool');
      case 'int64':
      case 'uint64':
      case 'uint32': {
        const out = new Int32Array(data.length);
        for (let i = 0; i < data.length; i++) {
          const v = Number(data[i]!);
          if (v > 2147483647 || v < -2147483648) throw new FormatError(`npyToTensor: a ${dtype} value ${String(data[i])} at index ${i} does not fit in int32`);
          out[i] = v;
        }
        return tf.tensor(out, s, 'int32');
      }
      default:
        return tf.tensor(Int32Array.from(data as ArrayLike<number>), s, 'int32');
    }
  });
}

/**
 * Reads a tensor back into an {@link NpyArray} (e.g. to save adversarial images with
 * {@link writeNpz}). float32 → float32, int32 → int32, bool → bool; complex and string tensors are
 * rejected. The tensor is borrowed, not disposed.
 *
 * @param tensor - any float32, int32 or bool tensor.
 * @returns a new array holding a copy of the values.
 * @throws {InvalidArgumentError} when `tensor` is not a live tensor of a supported dtype.
 *
 * @example
 * ```ts
 * const bytes = writeNpz({ adv_images: await tensorToNpy(adv), labels: await tensorToNpy(labels) });
 * ```
 * @category Data
 */
export async function tensorToNpy(tensor: tf.Tensor): Promise<NpyArray> {
  return entryAsync('tensorToNpy', async () => {
    if (!(tensor instanceof tf.Tensor)) throw new InvalidArgumentError('tensorToNpy', 'tensor', 'a tensor', describeValue(tensor));
    if (tensor.isDisposed) throw new InvalidArgumentError('tensorToNpy', 'tensor', 'a live tensor', 'a disposed tensor');
    const shape = [...tensor.shape];
    if (tensor.dtype === 'float32') return { dtype: 'float32', shape, data: Float32Array.from((await tensor.data()) as Float32Array) };
    if (tensor.dtype === 'int32') return { dtype: 'int32', shape, data: Int32Array.from((await tensor.data()) as Int32Array) };
    if (tensor.dtype === 'bool') return { dtype: 'bool', shape, data: Uint8Array.from((await tensor.data()) as Uint8Array) };
    throw new InvalidArgumentError('tensorToNpy', 'tensor', 'a float32, int32 or bool tensor', `dtype ${tensor.dtype}`);
  });
}
