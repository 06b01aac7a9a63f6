import * as tf from '@tensorflow/tfjs-core';
import { installHeapGuard } from '../internal/memory.js';
import { COMPOSED_KERNELS, installBatchNormGradient, installKernels } from './kernels/register.js';
import { installFusedBatchNormTraining } from './kernels/batchNormTraining.js';
import { prepareNativeKernels, registerNativeFlag } from './kernels/native.js';
import { installResizeBilinearGrad } from './kernels/resizeBilinearGrad.js';

/**
 * What {@link registerWasmGradients}, {@link registerCpuGradients} or {@link registerWebGpuGradients} installed.
 * @category Backend
 */
export interface GradientRegistration {
  /** The tfjs backend name the kernels were registered for (`'wasm'`, `'cpu'` or `'webgpu'`). */
  backend: string;
  /** Kernel names newly registered by this call (empty when a previous call already did it). */
  kernels: string[];
  /** Whether this call replaced tfjs-core's FusedBatchNorm gradient (a global change, see below). */
  batchNormGradient: boolean;
  /** Whether this call installed the heap guard on a running wasm backend (see {@link registerWasmGradients}). */
  heapGuard?: boolean;
}

/**
 * Registers the gradient kernels that `@tensorflow/tfjs-backend-wasm` 4.22 lacks or gets wrong, so that
 * every layer type of the paper's models trains on wasm, and attacks run through strided and depthwise
 * convolutions. Each kernel is composed from kernels wasm runs natively (XNNPACK conv and matmul,
 * transpose, pad, slice) and equals tfjs-backend-cpu's reference (relative error ≤ 1e-5):
 *
 * - `Conv2DBackpropFilter` (missing): a forward conv with the input's channels as the batch and dy as
 *   the filter, dilated by the stride; a matmul for 1×1 filters.
 * - `Conv2DBackpropInput` (stock kernel ~10× slower than the forward conv): a forward conv of the
 *   zero-inserted dy with the flipped, channel-swapped filter; a matmul for 1×1 filters. Also the
 *   forward pass of `conv2dTranspose`.
 * - `DepthwiseConv2dNativeBackpropInput` / `…Filter` (missing): a depthwise conv of the zero-inserted dy
 *   with the flipped filter; one strided window product per filter tap.
 * - `MaxPoolGrad` (stock kernel wrong): the stock wasm kernel drops the gradient of every window whose
 *   maximum is ≤ 0 and sends ties to the last maximum; this one follows tfjs-backend-cpu and TensorFlow
 *   (first maximum, any sign).
 *
 * - `ResizeBilinearGrad` (stock kernel wrong, on cpu too): the stock cpu and wasm kernels ignore
 *   `halfPixelCenters`, so the gradient of a PyTorch-style (`align_corners=False`) bilinear resize was that of
 *   a resize shifted by half a pixel; this one is the exact adjoint of the forward kernel. It is installed for
 *   both wasm and cpu.
 *
 * It also replaces tfjs-core's `FusedBatchNorm` gradient — globally, for every backend, with the same
 * values — by one that keeps the per-channel factors as `[C]` vectors instead of tiling them to the input's
 * size (wasm's `Tile` is a slow scalar loop), computes each input's gradient only when asked, and works
 * for a batch norm without scale (Keras `scale: false`, Inception-v3), which tfjs-core 4.22 cannot
 * differentiate (a bare TypeError; the engine is patched to leave absent inputs out of the tape).
 *
 * On a running wasm backend it installs the heap guard: when the 4 GiB heap is full, tfjs-backend-wasm
 * 4.22 stores new tensors at address 0 (`_malloc` returned NULL) and corrupts memory, which shows as a
 * hang at 100% CPU; guarded, the allocation throws a `MemoryBudgetError` instead. Every medrobust entry
 * point installs the guard too.
 *
 * Call it after `@tensorflow/tfjs-layers` is imported (its Node bundle registers tfjs-core's stock
 * gradients when it loads and would replace the batch-norm one). Calling it again is harmless.
 * {@link useBackend} calls it for you; call it yourself only if you set tfjs up yourself.
 *
 * @returns what this call installed.
 * @example
 * ```ts
 *  * import '@tensorflow/tfjs-layers';
 * import '@tensorflow/tfjs-backend-wasm';
 * import { registerWasmGradients } from 'medrobust/backend';
 * registerWasmGradients();
 * await tf.setBackend('wasm');
 * ```
 * @category Backend
 */
export function registerWasmGradients(): GradientRegistration {
  const kernels = installKernels('wasm', Object.keys(COMPOSED_KERNELS));
  // Compiles medrobust's kernel module in the background (a browser's main thread cannot compile it
  // synchronously); until it is ready, or where it cannot run, the composed kernels run.
  registerNativeFlag();
  void prepareNativeKernels();
  installFusedBatchNormTraining();
  if (installResizeBilinearGrad(['wasm', 'cpu']).includes('wasm')) kernels.push('ResizeBilinearGrad');
  const running = tf.engine().registry['wasm'];
  return { backend: 'wasm', kernels, batchNormGradient: installBatchNormGradient(), heapGuard: running ? installHeapGuard(running) : false };
}

/**
 * Registers a composed `Conv2DBackpropFilter` for tfjs-backend-cpu, whose own is pathological (a training
 * step of a 4-conv net at batch 32 spends ~99% of ~90 s in it): the composed kernel runs the cpu
 * backend's forward conv instead. The result equals the stock kernel (relative error ≤ 1e-5). The cpu
 * backend stays a reference and a last resort; prefer wasm for real work. Like {@link registerWasmGradients},
 * it installs the batch-norm gradient that also handles a batch norm without scale, and the
 * `ResizeBilinearGrad` that honours half-pixel centres.
 *
 * @returns what this call installed.
 * @example
 * ```ts
 * import '@tensorflow/tfjs-backend-cpu';
 * import { registerCpuGradients } from 'medrobust/backend';
 * registerCpuGradients();
 * ```
 * @category Backend
 */
export function registerCpuGradients(): GradientRegistration {
  const kernels = installKernels('cpu', CPU_KERNELS);
  if (installResizeBilinearGrad(['cpu']).length > 0) kernels.push('ResizeBilinearGrad');
  return { backend: 'cpu', kernels, batchNormGradient: installBatchNormGradient() };
}

/**
 * Registers medrobust's composed `Conv2DBackpropInput` and `Conv2DBackpropFilter` for
 * tfjs-backend-webgpu. Its own are direct shaders with one thread per output value that loops over the
 * whole batch and image (the filter gradient) or over every tap and output channel (the input gradient);
 * the composed ones run its forward convolution and matrix product (tiled shaders) on transposed,
 * padded or zero-inserted operands instead, and during an attack (`pgd`, `fgsm` and the
 * inner attacks of the training loops) they skip the filter gradient that the tape would discard.
 * Measured on an NVIDIA H200 through Dawn (BENCHMARKS.md, "GPU"): PGD-10 at batch 8 on AttnVGG 224
 * 6.08 → 0.44 s, Inception-v3 299 4.05 → 1.59 s; a training step 1.2–1.5× faster on the three paper
 * networks. The results equal the stock kernels' to float rounding (same PGD losses to 5 digits). Like
 * {@link registerWasmGradients}, it installs the batch-norm gradient that also handles a batch norm
 * without scale.
 *
 * @returns what this call installed.
 * @example
 * ```ts
 * import '@tensorflow/tfjs-backend-webgpu';
 * import { registerWebGpuGradients } from 'medrobust/backend';
 * registerWebGpuGradients();
 * ```
 * @category Backend
 */
export function registerWebGpuGradients(): GradientRegistration {
  const kernels = installKernels('webgpu', WEBGPU_KERNELS);
  return { backend: 'webgpu', kernels, batchNormGradient: installBatchNormGradient() };
}

/** The composed kernels worth installing on webgpu (measured: see BENCHMARKS.md). */
const WEBGPU_KERNELS = ['Conv2DBackpropInput', 'Conv2DBackpropFilter'] as const;

/** The composed kernels worth installing on cpu (measured: see BENCHMARKS.md). */
const CPU_KERNELS = ['Conv2DBackpropFilter'] as const;

