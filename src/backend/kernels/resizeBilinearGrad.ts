/**
 * A ResizeBilinearGrad that honours `halfPixelCenters`. tfjs 4.22's cpu and wasm kernels read only
 * `alignCorners`, so the gradient of `tf.image.resizeBilinear(x, size, false, true)` (PyTorch's
 * `F.interpolate(mode='bilinear', align_corners=False)`) came out as the gradient of a resize shifted
 * by half a pixel: wrong by up to the size of the gradient itself.
 *
 * This kernel is the exact adjoint of the forward kernels: every output pixel sends its upstream value
 * to the (up to) four input pixels the forward pass read, with the forward pass's weights. The source
 * coordinate is `ratio·(r + ½) − ½` with half-pixel centres and `ratio·r` without; the top/left index is
 * clamped to 0 and the bottom/right one to the last row/column, exactly as the forward kernels do (so a
 * negative source coordinate puts the whole weight on row 0, as PyTorch's clamp does).
 * One pass of plain TypeScript over the values; on wasm it reads and writes the heap directly.
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import { hasHeap } from './maxPoolGradDirect.js';

interface Axis {
  /** Index of the first (top/left) source row per output row. */
  lo: Int32Array;
  /** Index of the second (bottom/right) source row per output row. */
  hi: Int32Array;
  /** Weight of `hi` (the forward kernel's fraction); `lo` gets 1 − frac. */
  frac: Float32Array;
}

/** The forward kernels' interpolation along one axis, from `input` to `output` samples. */
export function resizeAxis(input: number, output: number, alignCorners: boolean, halfPixelCenters: boolean): Axis {
  const effectiveIn = alignCorners && output > 1 ? input - 1 : input;
  const effectiveOut = alignCorners && output > 1 ? output - 1 : output;
  const ratio = effectiveIn / effectiveOut;
  const lo = new Int32Array(output);
  const hi = new Int32Array(output);
  const frac = new Float32Array(output);
  for (let r = 0; r < output; r++) {
    const source = halfPixelCenters ? ratio * (r + 0.5) - 0.5 : ratio * r;
    const floor = Math.max(0, Math.floor(source));
    lo[r] = floor;
    hi[r] = Math.min(input - 1, Math.ceil(source));
    frac[r] = source - floor;
  }
  return { lo, hi, frac };
}

/** dx[b, i, j, d] = Σ over output pixels of dy · the forward weight of input pixel (i, j). */
export function resizeBilinearGradValues(dy: ArrayLike<number>, dx: Float32Array, shape: { batch: number; inH: number; inW: number; outH: number; outW: number; depth: number }, alignCorners: boolean, halfPixelCenters: boolean): void {
  const { batch, inH, inW, outH, outW, depth } = shape;
  const rows = resizeAxis(inH, outH, alignCorners, halfPixelCenters);
  const cols = resizeAxis(inW, outW, alignCorners, halfPixelCenters);
  dx.fill(0);
  let offset = 0;
  for (let b = 0; b < batch; b++) {
    const base = b * inH * inW * depth;
    for (let r = 0; r < outH; r++) {
      const top = base + rows.lo[r]! * inW * depth;
      const bottom = base + rows.hi[r]! * inW * depth;
      const fr = rows.frac[r]!;
      for (let c = 0; c < outW; c++) {
        const left = cols.lo[c]! * depth;
        const right = cols.hi[c]! * depth;
        const fc = cols.frac[c]!;
        // The forward kernel: top = tl + (tr − tl)·fc; bottom likewise; value = top + (bottom − top)·fr.
        const wTL = (1 - fr) * (1 - fc);
        const wTR = (1 - fr) * fc;
        const wBL = fr * (1 - fc);
        const wBR = fr * fc;
        for (let d = 0; d < depth; d++) {
          const g = dy[offset++]!;
          dx[top + left + d] = dx[top + left + d]! + g * wTL;
          dx[top + right + d] = dx[top + right + d]! + g * wTR;
          dx[bottom + left + d] = dx[bottom + left + d]! + g * wBL;
          dx[bottom + right + d] = dx[bottom + right + d]! + g * wBR;
        }
      }
    }
  }
}

/** The kernel function, for any backend with `readSync`/`makeTensorInfo` (cpu) or a wasm heap. */
export function resizeBilinearGrad(args: { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend; attrs?: tf.NamedAttrMap }): tf.TensorInfo {
  const { images, dy } = args.inputs as { images: tf.TensorInfo; dy: tf.TensorInfo };
  const { alignCorners, halfPixelCenters } = (args.attrs ?? {}) as { alignCorners?: boolean; halfPixelCenters?: boolean };
  const [batch, inH, inW, depth] = images.shape as [number, number, number, number];
  const [, outH, outW] = dy.shape as [number, number, number, number];
  const shape = { batch, inH, inW, outH, outW, depth };
  const backend = args.backend;
  if (hasHeap(backend)) {
    const out = backend.makeOutput([batch, inH, inW, depth], 'float32');
    // Views are taken after the allocation: an allocation can grow (and move) the wasm heap.
    const dx = backend.typedArrayFromHeap(out) as Float32Array;
    resizeBilinearGradValues(backend.typedArrayFromHeap(dy) as Float32Array, dx, shape, alignCorners === true, halfPixelCenters === true);
    return out;
  }
  const g = backend.readSync(dy.dataId) as Float32Array;
  const dx = new Float32Array(batch * inH * inW * depth);
  resizeBilinearGradValues(g, dx, shape, alignCorners === true, halfPixelCenters === true);
  return (backend as unknown as { makeTensorInfo(shape: number[], dtype: tf.DataType, values: tf.TypedArray): tf.TensorInfo }).makeTensorInfo([batch, inH, inW, depth], 'float32', dx);
}

/**
 * Registers {@link resizeBilinearGrad} as `ResizeBilinearGrad` for each named backend (replacing the stock
 * kernel; its setup function, if any, is kept). Returns the backends it newly set.
 */
export function installResizeBilinearGrad(backends: readonly string[]): string[] {
  const done: string[] = [];
  for (const name of backends) {
    const existing = tf.getKernel('ResizeBilinearGrad', name);
    if (existing && (existing as { medrobust?: boolean }).medrobust) continue;
    if (existing) tf.unregisterKernel('ResizeBilinearGrad', name);
    const config: tf.KernelConfig & { medrobust: boolean } = {
      kernelName: 'ResizeBilinearGrad',
      backendName: name,
      ...(existing?.setupFunc ? { setupFunc: existing.setupFunc } : {}),
      ...(existing?.disposeFunc ? { disposeFunc: existing.disposeFunc } : {}),
      kernelFunc: resizeBilinearGrad as unknown as tf.KernelFunc,
      medrobust: true,
    };
    tf.registerKernel(config);
    done.push(name);
  }
  return done;
}
