/**
 * The backends every suite runs on (TensorFlow.js's describeWithFlags habit): cpu and wasm.
 * Importing this file registers both, plus the gradients of tfjs-layers and medrobust's wasm gradient kernels.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-layers';
import { registerWasmGradients } from '../../src/backend/index.js';

// The gradient kernels wasm lacks (conv filter, depthwise, a correct MaxPoolGrad): see src/backend.
registerWasmGradients();

export const BACKENDS = ['cpu', 'wasm'] as const;
export type BackendName = (typeof BACKENDS)[number];

/** Switches the global engine to `name` and waits until it is ready. */
export async function useTestBackend(name: BackendName): Promise<void> {
  const ok = await tf.setBackend(name);
  if (!ok) throw new Error(`backend ${name} failed to initialise`);
  await tf.ready();
}
