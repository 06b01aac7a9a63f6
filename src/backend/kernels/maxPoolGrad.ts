/**
 * A correct MaxPoolGrad composed from elementwise kernels. The gradient of each window goes to the
 * first position (row-major) that holds the window's maximum, whatever its sign — as tfjs-backend-cpu
 * and TensorFlow do. (The stock wasm kernel loses windows whose maximum is ≤ 0 and takes the last tie.)
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import { composed } from './scope.js';
import { hasHeap, maxPoolGradDirect } from './maxPoolGradDirect.js';
import { maxPoolGradNative } from './nativeOps.js';

type Info = tf.TensorInfo;

export function maxPoolGrad(args: { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend; attrs?: tf.NamedAttrMap }, backendName: string): Info {
  // On wasm: medrobust's kernel module, else one pass of TypeScript over the heap (both far cheaper than
  // ~6 kernels per window tap).
  const native = maxPoolGradNative(args);
  if (native) return native;
  if (hasHeap(args.backend)) return maxPoolGradDirect({ ...args, backend: args.backend });
  const { dy, input, output } = args.inputs as { dy: Info; input: Info; output: Info };
  const { filterSize, strides, pad, dimRoundingMode } = args.attrs as unknown as tf.MaxPoolGradAttrs;
  const info = tf.backend_util.computePool2DInfo(input.shape as [number, number, number, number], filterSize, strides, 1, pad, dimRoundingMode);
  const { strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw, inHeight: ih, inWidth: iw, outHeight: oh, outWidth: ow, inChannels: c } = info;
  const { top, left } = info.padInfo;
  const n = input.shape[0]!;
  return composed(args.backend, backendName, (s) => {
    const ph = (oh - 1) * sh + kh;
    const pw = (ow - 1) * sw + kw;
    const xp = s.windowGrid(input, top, left, kh, kw, 1, 1, oh, ow, sh, sw, Number.NEGATIVE_INFINITY);
    let free: Info | null = null; // 1 where no earlier tap of the window held the maximum
    const parts: Info[] = [];
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++) {
        const win = s.window(xp, i, j, oh, ow, sh, sw);
        const hit = s.run('Cast', { x: s.run('Equal', { a: win, b: output }) }, { dtype: 'float32' });
        const first: Info = free === null ? hit : s.run('Multiply', { a: hit, b: free });
        free = free === null ? s.run('Sub', { a: s.run('OnesLike', { x: hit }), b: first }) : s.run('Sub', { a: free, b: first });
        parts.push(s.run('Multiply', { a: first, b: dy }));
      }
    }
    let grid: Info;
    if (sh === kh && sw === kw) {
      // Non-overlapping windows: interleave the taps with rank-4 concats, [n·oh, kh, ow, kw·c].
      const rows = Array.from({ length: kh }, (_, i) => {
        const row = parts.slice(i * kw, (i + 1) * kw).map((p) => s.reshape(p, [n * oh, 1, ow, c]));
        return row.length === 1 ? row[0]! : s.run('Concat', row, { axis: 3 });
      });
      grid = s.reshape(rows.length === 1 ? rows[0]! : s.run('Concat', rows, { axis: 1 }), [n, oh * kh, ow * kw, c]);
    } else {
      const placed = parts.map((p, k) => s.place(p, sh, sw, Math.floor(k / kw), k % kw, ph, pw));
      grid = placed.length === 1 ? placed[0]! : s.run('AddN', placed);
    }
    return s.padOrCrop(grid, [[0, 0], [-top, ih + top - ph], [-left, iw + left - pw], [0, 0]]);
  });
}
