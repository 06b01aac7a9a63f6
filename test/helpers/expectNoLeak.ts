import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'vitest';

/**
 * Runs `fn` (sync or async), disposes whatever tensors it returns, and asserts that the engine
 * holds exactly as many tensors as before.
 */
export async function expectNoLeak(fn: () => unknown): Promise<void> {
  const before = tf.memory().numTensors;
  const out = await fn();
  tf.dispose(collectTensors(out));
  expect(tf.memory().numTensors).toBe(before);
}

function collectTensors(value: unknown): tf.Tensor[] {
  if (value instanceof tf.Tensor) return [value];
  if (Array.isArray(value)) return value.flatMap(collectTensors);
  if (value && typeof value === 'object') return Object.values(value).flatMap(collectTensors);
  return [];
}
