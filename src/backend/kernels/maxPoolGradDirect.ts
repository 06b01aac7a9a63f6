/**
 * MaxPoolGrad as one pass of plain TypeScript over the wasm heap: for each pooling window, the upstream
 * gradient goes to the first position (row-major) holding the window's maximum, whatever its sign (as
 * tfjs-backend-cpu and TensorFlow). The composed version (maxPoolGrad.ts) issues ~6 kernels per window
 * tap; on the demo CNN it took 21 ms of a 65 ms input gradient, this one well under 1 ms.
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';

/** The part of the wasm backend this kernel uses (tfjs-backend-wasm's BackendWasm). */
export interface HeapBackend {
  typedArrayFromHeap(info: tf.TensorInfo): tf.TypedArray;
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
}

export function hasHeap(backend: unknown): backend is HeapBackend {
  return typeof (backend as HeapBackend).typedArrayFromHeap === 'function' && typeof (backend as HeapBackend).makeOutput === 'function';
}

export function maxPoolGradDirect(args: { inputs: tf.NamedTensorInfoMap; backend: HeapBackend; attrs?: tf.NamedAttrMap }): tf.TensorInfo {
  const { dy, input } = args.inputs as { dy: tf.TensorInfo; input: tf.TensorInfo };
  const { filterSize, strides, pad, dimRoundingMode } = args.attrs as unknown as tf.MaxPoolGradAttrs;
  const info = tf.backend_util.computePool2DInfo(input.shape as [number, number, number, number], filterSize, strides, 1, pad, dimRoundingMode);
  const { strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw, inHeight: ih, inWidth: iw, outHeight: oh, outWidth: ow, inChannels: c, batchSize: n } = info;
  const { top, left } = info.padInfo;
  const out = args.backend.makeOutput([...input.shape], 'float32');
  const dx = args.backend.typedArrayFromHeap(out) as Float32Array;
  dx.fill(0);
  // Read the inputs after allocating the output: an allocation can grow (and move) the wasm heap.
  const x = args.backend.typedArrayFromHeap(input) as Float32Array;
  const g = args.backend.typedArrayFromHeap(dy) as Float32Array;
  const best = new Float32Array(c);
  const at = new Int32Array(c);
  for (let b = 0; b < n; b++) {
    const base = b * ih * iw * c;
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        best.fill(Number.NEGATIVE_INFINITY);
        at.fill(-1);
        for (let ky = 0; ky < kh; ky++) {
          const y = oy * sh - top + ky;
          if (y < 0 || y >= ih) continue;
          for (let kx = 0; kx < kw; kx++) {
            const xx = ox * sw - left + kx;
            if (xx < 0 || xx >= iw) continue;
            const row = base + (y * iw + xx) * c;
            for (let ch = 0; ch < c; ch++) {
              const v = x[row + ch]!;
              if (at[ch] === -1 || v > best[ch]!) {
                best[ch] = v;
                at[ch] = row + ch;
              }
            }
          }
        }
        const gRow = ((b * oh + oy) * ow + ox) * c;
        for (let ch = 0; ch < c; ch++) {
          const i = at[ch]!;
          if (i >= 0) dx[i] = dx[i]! + g[gRow + ch]!;
        }
      }
    }
  }
  return out;
}
