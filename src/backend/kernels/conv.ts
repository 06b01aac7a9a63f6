/**
 * Convolution gradients composed from forward kernels that a backend runs natively (wasm: XNNPACK conv,
 * matmul; plus transpose, pad, slice, reverse). Each equals the reference kernel of tfjs-backend-cpu.
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import { inputGradientDiscarded, inputGradientOnly } from '../../internal/inputGradientOnly.js';
import { nativeKernels } from './native.js';
import { nativeFilterGrad, nativeInputGrad } from './nativeConv.js';
import { composed, type KernelScope } from './scope.js';

type Info = tf.TensorInfo;
type Pad = 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
type Pair = [number, number] | number;

const pair = (v: Pair): [number, number] => (typeof v === 'number' ? [v, v] : v);

/**
 * A gradient the tape discards: zeros of the right shape instead of a convolution over the whole batch.
 * Filter gradients while an attack evaluates an input gradient, or of a conv whose filter the tape does not
 * ask for (`inputGradientOnly`); input gradients of a conv whose input it does not ask for, such as a
 * training step's first conv (`inputGradientDiscarded`; both in internal/inputGradientOnly).
 */
function discardedGradient(backend: tf.KernelBackend, backendName: string, shape: number[]): Info {
  return composed(backend, backendName, (s) => s.run('Fill', {}, { shape, value: 0, dtype: 'float32' }));
}

function assertNHWC(kernel: string, dataFormat: unknown): void {
  if (dataFormat !== undefined && dataFormat !== 'NHWC' && dataFormat !== 'channelsLast') {
    throw new Error(`medrobust: the composed ${kernel} kernel supports NHWC only, received dataFormat ${String(dataFormat)}`);
  }
}

/** Forward conv2d through the backend's own kernel (stride 1 unless given, 'valid' padding). */
function conv(s: KernelScope, x: Info, filter: Info, strides: [number, number], dilations: [number, number]): Info {
  return s.run('Conv2D', { x, filter }, { strides, pad: 'valid', dataFormat: 'NHWC', dilations, dimRoundingMode: undefined });
}

/** `a @ b` for 2-D operands, optionally with `b` transposed (the forms XNNPACK runs fast). */
function matmul(s: KernelScope, a: Info, b: Info, transposeB: boolean): Info {
  const a3 = s.reshape(a, [1, ...a.shape]);
  const b3 = s.reshape(b, [1, ...b.shape]);
  const out = s.run('BatchMatMul', { a: a3, b: b3 }, { transposeA: false, transposeB });
  return s.reshape(out, out.shape.slice(1));
}

/**
 * dx of conv2d: a stride-1 forward conv of the zero-inserted, padded dy with the spatially flipped
 * filter whose in/out channels are swapped. A 1×1 filter is a matmul followed by zero insertion. With
 * stride 1 nothing is inserted and the conv's own (explicit) padding replaces the padded copy of dy.
 */
export function conv2dBackpropInput(args: { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend; attrs?: tf.NamedAttrMap }, backendName: string): Info {
  const { dy, filter } = args.inputs as { dy: Info; filter: Info };
  const { strides, pad, dataFormat, dimRoundingMode, inputShape } = args.attrs as unknown as {
    strides: Pair; pad: Pad; dataFormat: string; dimRoundingMode?: 'floor' | 'round' | 'ceil'; inputShape: [number, number, number, number];
  };
  assertNHWC('Conv2DBackpropInput', dataFormat);
  if (inputGradientDiscarded()) return discardedGradient(args.backend, backendName, inputShape);
  const info = tf.backend_util.computeConv2DInfo(inputShape, filter.shape as [number, number, number, number], strides, 1, pad, dimRoundingMode, false, 'channelsLast');
  const { strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw, inHeight: ih, inWidth: iw, inChannels: ci, outChannels: co } = info;
  const { top, left } = info.padInfo;
  const [n, oh, ow] = dy.shape as [number, number, number, number];
  const native = nativeKernels(args.backend);
  if (native) return nativeInputGrad(native, args.backend, dy, filter, info);
  return composed(args.backend, backendName, (s) => {
    if (kh === 1 && kw === 1) {
      const cols = matmul(s, s.reshape(dy, [n * oh * ow, co]), s.reshape(filter, [ci, co]), true);
      return s.place(s.reshape(cols, [n, oh, ow, ci]), sh, sw, -top, -left, ih, iw);
    }
    const flipped = s.transpose(s.run('Reverse', { x: filter }, { dims: [0, 1] }), [0, 1, 3, 2]);
    if (sh === 1 && sw === 1) {
      // Stride 1: the conv pads dy itself (explicit padding) instead of a padded copy the size of the input.
      const pt = kh - 1 - top;
      const pl = kw - 1 - left;
      const pb = ih + kh - 1 - oh - pt;
      const pr = iw + kw - 1 - ow - pl;
      if (Math.min(pt, pl, pb, pr) >= 0) {
        return s.run('Conv2D', { x: dy, filter: flipped }, { strides: [1, 1], pad: [[0, 0], [pt, pb], [pl, pr], [0, 0]], dataFormat: 'NHWC', dilations: [1, 1], dimRoundingMode: undefined });
      }
    }
    const padded = s.place(dy, sh, sw, kh - 1 - top, kw - 1 - left, ih + kh - 1, iw + kw - 1);
    return conv(s, padded, flipped, [1, 1], [1, 1]);
  });
}

/**
 * dW of conv2d: with the input's channels as the batch and its batch as the channels, the filter
 * gradient is a forward conv of x with dy as the filter, dilated by the stride. A 1×1 filter is
 * one matmul of the strided input with dy.
 */
export function conv2dBackpropFilter(args: { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend; attrs?: tf.NamedAttrMap }, backendName: string): Info {
  const { x, dy } = args.inputs as { x: Info; dy: Info };
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = args.attrs as unknown as {
    strides: Pair; pad: Pad; dataFormat: string; dimRoundingMode?: 'floor' | 'round' | 'ceil'; filterShape: [number, number, number, number];
  };
  assertNHWC('Conv2DBackpropFilter', dataFormat);
  if (inputGradientOnly()) return discardedGradient(args.backend, backendName, filterShape);
  const info = tf.backend_util.computeConv2DInfo(x.shape as [number, number, number, number], filterShape, strides, 1, pad, dimRoundingMode, false, 'channelsLast');
  const { strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw, inChannels: ci, outChannels: co } = info;
  const { top, left } = info.padInfo;
  const [n, oh, ow] = dy.shape as [number, number, number, number];
  const native = nativeKernels(args.backend);
  if (native) return nativeFilterGrad(native, args.backend, x, dy, info);
  return composed(args.backend, backendName, (s) => {
    // Rows of the (padded) input that the conv reads: top-padding offset, then (o-1)·s + k of them.
    const ph = (oh - 1) * sh + kh;
    const pw = (ow - 1) * sw + kw;
    if (kh === 1 && kw === 1) {
      const xs = s.window(s.windowGrid(x, top, left, 1, 1, 1, 1, oh, ow, sh, sw), 0, 0, oh, ow, sh, sw);
      const xt = s.transpose(s.reshape(xs, [n * oh * ow, ci]), [1, 0]);
      const dw = matmul(s, xt, s.reshape(dy, [n * oh * ow, co]), false);
      return s.reshape(dw, [1, 1, ci, co]);
    }
    const xc = s.transpose(x, [3, 1, 2, 0]); // [ci, h, w, n]
    const xp = s.padOrCrop(xc, [[0, 0], [top, ph - top - x.shape[1]!], [left, pw - left - x.shape[2]!], [0, 0]]);
    const f = s.transpose(dy, [1, 2, 0, 3]); // [oh, ow, n, co]
    const out = conv(s, xp, f, [1, 1], [sh, sw]); // [ci, kh, kw, co]
    return s.transpose(out, [1, 2, 0, 3]);
  });
}

/**
 * dx of a depthwise conv: a stride-1 depthwise conv of the zero-inserted, padded dy with the flipped
 * filter (multiplier folded into channels, then summed out).
 */
export function depthwiseBackpropInput(args: { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend; attrs?: tf.NamedAttrMap }, backendName: string): Info {
  const { dy, filter } = args.inputs as { dy: Info; filter: Info };
  const { strides, dilations, pad, dimRoundingMode, inputShape } = args.attrs as unknown as {
    strides: Pair; dilations: Pair; pad: Pad; dimRoundingMode?: 'floor' | 'round' | 'ceil'; inputShape: [number, number, number, number];
  };
  if (inputGradientDiscarded()) return discardedGradient(args.backend, backendName, inputShape);
  const info = tf.backend_util.computeConv2DInfo(inputShape, filter.shape as [number, number, number, number], strides, dilations, pad, dimRoundingMode, true, 'channelsLast');
  const { strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw, dilationHeight: dh, dilationWidth: dw, inHeight: ih, inWidth: iw, inChannels: c } = info;
  const { top, left } = info.padInfo;
  const m = filter.shape[3]!;
  const [n] = dy.shape as [number, number, number, number];
  const ekh = (kh - 1) * dh + 1;
  const ekw = (kw - 1) * dw + 1;
  return composed(args.backend, backendName, (s) => {
    const padded = s.place(dy, sh, sw, ekh - 1 - top, ekw - 1 - left, ih + ekh - 1, iw + ekw - 1);
    const flipped = s.reshape(s.run('Reverse', { x: filter }, { dims: [0, 1] }), [kh, kw, c * m, 1]);
    const out = s.run('DepthwiseConv2dNative', { x: padded, filter: flipped }, { strides: [1, 1], pad: 'valid', dilations: [dh, dw], dimRoundingMode: undefined, dataFormat: 'NHWC' });
    if (m === 1) return out;
    return s.run('Sum', { x: s.reshape(out, [n, ih, iw, c, m]) }, { axis: [4], keepDims: false });
  });
}

/**
 * dW of a depthwise conv: for each filter tap, the strided window of the padded input times dy,
 * summed over batch and space (kh·kw elementwise passes, no scalar loops).
 */
export function depthwiseBackpropFilter(args: { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend; attrs?: tf.NamedAttrMap }, backendName: string): Info {
  const { x, dy } = args.inputs as { x: Info; dy: Info };
  const { strides, dilations, pad, dimRoundingMode, filterShape } = args.attrs as unknown as {
    strides: Pair; dilations: Pair; pad: Pad; dimRoundingMode?: 'floor' | 'round' | 'ceil'; filterShape: [number, number, number, number];
  };
  if (inputGradientOnly()) return discardedGradient(args.backend, backendName, filterShape);
  const info = tf.backend_util.computeConv2DInfo(x.shape as [number, number, number, number], filterShape, strides, dilations, pad, dimRoundingMode, true, 'channelsLast');
  const { strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw, dilationHeight: dh, dilationWidth: dw, inChannels: c } = info;
  const { top, left } = info.padInfo;
  const m = filterShape[3];
  const [n, oh, ow] = dy.shape as [number, number, number, number];
  return composed(args.backend, backendName, (s) => {
    const xp = s.windowGrid(x, top, left, kh, kw, dh, dw, oh, ow, sh, sw);
    const g = s.reshape(dy, m === 1 ? [n * oh * ow, c] : [n * oh * ow, c, m]);
    const taps: Info[] = [];
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++) {
        let win = s.reshape(s.window(xp, i * dh, j * dw, oh, ow, sh, sw), [n * oh * ow, c]);
        if (m > 1) win = s.reshape(win, [n * oh * ow, c, 1]);
        const prod = s.run('Multiply', { a: win, b: g });
        taps.push(s.run('Sum', { x: prod }, { axis: [0], keepDims: false }));
      }
    }
    const stacked = s.run('Pack', taps, { axis: 0 });
    return s.reshape(stacked, [kh, kw, c, m]);
  });
}
