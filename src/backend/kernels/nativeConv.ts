/**
 * Convolutions with medrobust's wasm kernel module (native/kernels.c): the forward conv (Conv2D,
 * FusedConv2D with a bias and a linear or ReLU activation), its input gradient and its filter gradient,
 * each a direct implicit GEMM over the filter taps in the backend's heap (no im2col copy, no zero insertion
 * for strides). The filter is packed into panels of 8 output channels per call (a scratch buffer).
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import { nativeKernels, WINOGRAD_FLAG, type Native, type WasmBackendLike } from './native.js';
import { runStock } from './nativeOps.js';

type Info = tf.TensorInfo;
type Args = { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend; attrs?: tf.NamedAttrMap };
type ConvInfo = tf.backend_util.Conv2DInfo;

/**
 * Makes an output of `shape`, allocates scratch blocks of the given byte sizes in the backend's heap (0: none,
 * address 0) and runs `run` with their addresses; frees every block, and the output if `run` throws.
 */
function intoNewOutput(native: Native, backend: tf.KernelBackend, shape: number[], bytes: number[], run: (out: Info, blocks: number[]) => void): Info {
  const out = (backend as unknown as WasmBackendLike).makeOutput(shape, 'float32');
  const blocks: number[] = [];
  try {
    for (const b of bytes) blocks.push(b > 0 ? native.malloc(b) : 0);
    run(out, blocks);
  } catch (err) {
    backend.disposeData(out.dataId);
    throw err;
  } finally {
    for (const block of blocks) if (block) native.free(block);
  }
  return out;
}

/**
 * Whether a conv (or its input gradient) runs through Winograd F(2×2, 3×3): 3×3, stride 1, no dilation, with
 * {@link WINOGRAD_FLAG} on, output maps of at least WINOGRAD_MIN_TILES_PER_IMAGE tiles and at least
 * WINOGRAD_MIN_DEPTH reduced channels.
 */
function useWinograd(info: ConvInfo, depth: number): boolean {
  // the tiles of the conv's output map (the forward's; the input gradient's output, the input map, is as large or larger)
  const tiles = Math.ceil(info.outHeight / 2) * Math.ceil(info.outWidth / 2);
  return info.filterHeight === 3 && info.filterWidth === 3 && info.strideHeight === 1 && info.strideWidth === 1 && info.dilationHeight === 1 &&
    info.dilationWidth === 1 && depth >= WINOGRAD_MIN_DEPTH && tiles >= WINOGRAD_MIN_TILES_PER_IMAGE && tf.env().getBool(WINOGRAD_FLAG);
}

/**
 * Reduced channels from which a 3×3 stride-1 conv runs through Winograd. Its smallest measured layers, 32
 * channels, gain 1.15–1.2× (bench/winograd.ts); 16 is where the transforms (O(channels) per tile) still weigh
 * less than the products (O(channels²)), not a measured crossing.
 */
const WINOGRAD_MIN_DEPTH = 16;

/**
 * Output tiles (2×2) per image from which Winograd runs: maps of at least 13×13 outputs. Its scratch holds the
 * transformed tiles of a block per part, 4× the data they cover, which on a small map is a transient several
 * times the layer's own data (and visible to a tight memoryBudget, e.g. test/cli/paperLeak.test.ts's 1 MiB), for
 * the least gain (edge tiles). Decided per image, never per batch or per thread count, so that chunked and
 * unchunked runs, and 1 or 2 threads, take the same path and agree bit for bit.
 */
const WINOGRAD_MIN_TILES_PER_IMAGE = 49;

/**
 * A 3×3 stride-1 conv (transposed = false) or its input gradient (true, itself a 3×3 stride-1 conv with the
 * filter flipped and its channels swapped, padded 2 − top / 2 − left) through the module's Winograd F(2×2, 3×3).
 */
function runWinograd(native: Native, backend: tf.KernelBackend, a: Info, filter: Info, bias: Info | undefined, relu: boolean, info: ConvInfo, transposed: boolean): Info {
  const { batchSize: n, inHeight: ih, inWidth: iw, inChannels: ci, outHeight: oh, outWidth: ow, outChannels: co } = info;
  const [outShape, ah, aw, depth, outc] = transposed ? [[n, ih, iw, ci], oh, ow, co, ci] : [[n, oh, ow, co], ih, iw, ci, co];
  const [top, left] = transposed ? [2 - info.padInfo.top, 2 - info.padInfo.left] : [info.padInfo.top, info.padInfo.left];
  // Tiles per block: what keeps a block in L2 (the module's winograd_block_tiles), no more than a part's share.
  const maxBlock = (native.exports as unknown as Record<string, (...args: number[]) => number>).winograd_block_tiles!(depth, outc);
  const tiles = n * Math.ceil(outShape[1]! / 2) * Math.ceil(outShape[2]! / 2);
  const block = Math.min(maxBlock, 4 * Math.ceil(tiles / native.parts / 4));
  const perPart = 16 * block * (depth + outc) + 16;
  const zeroBytes = Math.ceil(depth / 4) * 16;
  return intoNewOutput(native, backend, outShape, [16 * Math.ceil(outc / 8) * 8 * depth * 4, zeroBytes + native.parts * perPart * 4], (out, [packed, scratch]) => {
    native.module.HEAPU8.fill(0, scratch!, scratch! + zeroBytes);
    native.parallel('winograd_filter', [native.address(filter), packed!, ci, co, transposed ? 1 : 0]);
    native.parallel('conv2d_winograd', [native.address(a), packed!, bias ? native.address(bias) : 0, native.address(out), scratch!, scratch! + zeroBytes, n, ah, aw, depth,
      outShape[1]!, outShape[2]!, outc, top, left, relu ? 1 : 0, block]);
  });
}

/** Runs the module's conv2d (forward or transposed) into a new output; frees scratch, and the output on error. */
function runConv(native: Native, backend: tf.KernelBackend, a: Info, filter: Info, bias: Info | undefined, relu: boolean, info: ConvInfo, transposed: boolean): Info {
  const { batchSize: n, inHeight: ih, inWidth: iw, inChannels: ci, outHeight: oh, outWidth: ow, outChannels: co, filterHeight: kh, filterWidth: kw,
    strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = info;
  const [outShape, ah, aw, depth, outc] = transposed ? [[n, ih, iw, ci], oh, ow, co, ci] : [[n, oh, ow, co], ih, iw, ci, co];
  if (useWinograd(info, depth)) return runWinograd(native, backend, a, filter, bias, relu, info, transposed);
  // A row of `depth` zeros (read where a tap falls outside the input), then 9·kh·kw words per part.
  const zeroBytes = Math.ceil(depth / 4) * 16;
  return intoNewOutput(native, backend, outShape, [kh * kw * Math.ceil(outc / 8) * 8 * depth * 4, zeroBytes + native.parts * 9 * kh * kw * 4], (out, [packed, scratch]) => {
    native.module.HEAPU8.fill(0, scratch!, scratch! + zeroBytes);
    native.parallel('pack_filter', [native.address(filter), packed!, kh, kw, ci, co, transposed ? 1 : 0]);
    native.parallel('conv2d', [native.address(a), packed!, bias ? native.address(bias) : 0, native.address(out), scratch!, scratch! + zeroBytes, n, ah, aw, depth, outShape[1]!, outShape[2]!, outc,
      kh, kw, sh, sw, dh, dw, info.padInfo.top, info.padInfo.left, transposed ? 1 : 0, relu ? 1 : 0]);
  });
}

/** The forward conv without bias or activation (a matmul as a 1×1 conv: matMul.ts). */
export function nativeConvForward(native: Native, backend: tf.KernelBackend, x: Info, filter: Info, info: ConvInfo): Info {
  return runConv(native, backend, x, filter, undefined, false, info, false);
}

/** dx of conv2d: every input pixel sums, over the taps that reach it, dy times the filter. */
export function nativeInputGrad(native: Native, backend: tf.KernelBackend, dy: Info, filter: Info, info: ConvInfo): Info {
  return runConv(native, backend, dy, filter, undefined, false, info, true);
}

/**
 * Floats of scratch per part for conv2d_filter_grad's repacked dy and x (x: the part's input-channel groups, at
 * most its share of the taps × groups units), or 0 for no repacking. A block of output rows takes at least
 * max(BLOCK_FLOATS, (MIN_POSITIONS + ow) * (co + 4 * groups)) floats; where dw is large (more than
 * DW_FLOATS_TAP_OUTER floats: one tap at a time) up to TAP_BLOCK_FLOATS, the whole batch's rows at most
 * (native/kernels.c; a smaller scratch only shortens the blocks). Repacking only where every part's scratch stays
 * within the dy and x it repacks: the paper nets' layers, where it pays; a small product (a dense layer's weight
 * gradient, a small net's layer) would otherwise pay 64 KiB per part, more than its own data, and a tight
 * memoryBudget would see it (two threads run 8 parts). The results are the same with or without it.
 */
export function filterGradScratchFloats(info: ConvInfo, parts: number): number {
  const { batchSize: n, inHeight: ih, inWidth: iw, inChannels: ci, outHeight: oh, outWidth: ow, outChannels: co, filterHeight: kh, filterWidth: kw } = info;
  const data = n * oh * ow * co + n * ih * iw * ci;
  const groups = Math.ceil(ci / 4);
  let perPart = Math.max(16 * 1024, (32 + ow) * (co + 4 * groups));
  if (kh * kw * ci * co > 64 * 1024) {
    const perPosition = co + 4 * Math.min(groups, Math.ceil((kh * kw * groups) / parts));
    perPart = Math.max(perPart, Math.min(128 * 1024, n * oh * ow * perPosition, Math.floor(data / parts)));
  }
  return parts * perPart <= data ? perPart : 0;
}

/**
 * Floats of transformed x and dy one chunk of winogradFilterGrad holds at most (4 MiB; measured against 1 and
 * 16 MiB on the paper nets' layers: the product then reads each transform position's tiles from L2).
 */
const WINOGRAD_GRAD_CHUNK_FLOATS = 1 << 20;

/**
 * Input × output channels from which the filter gradient runs through Winograd: with 32 and 32 its
 * transforms cost what the 2.25× fewer multiply-adds save (measured 0.97–1.04× the direct kernel), from 32
 * and 64 on it is 1.3–2.2× faster (bench/winograd.ts, one thread).
 */
const WINOGRAD_GRAD_MIN_CHANNELS_PRODUCT = 2048;

/**
 * dW of a 3×3 stride-1 conv through Winograd F(2×2, 3×3): per chunk of 2×2 output tiles, x's and dy's tiles
 * transformed (winograd_grad_transform), their products summed into dU (winograd_grad_gemm, in tile order, so
 * the sum does not depend on the chunking's threads), then dW = Gᵀ dU G. The chunk keeps the transformed
 * tiles within WINOGRAD_GRAD_CHUNK_FLOATS and about x's and dy's own size (a quarter of the tiles).
 */
function winogradFilterGrad(native: Native, backend: tf.KernelBackend, x: Info, dy: Info, info: ConvInfo): Info {
  const { batchSize: n, inHeight: ih, inWidth: iw, inChannels: ci, outHeight: oh, outWidth: ow, outChannels: co } = info;
  const g4 = Math.ceil(ci / 4);
  const g8 = Math.ceil(co / 8);
  const tiles = n * Math.ceil(oh / 2) * Math.ceil(ow / 2);
  const perTile = 16 * (g4 * 4 + g8 * 8);
  // a quarter of the tiles per chunk (at least 64: each chunk loads and stores dU once), at most the 4 MiB cap
  const chunk = Math.max(4, Math.min(tiles, Math.floor(WINOGRAD_GRAD_CHUNK_FLOATS / perTile), Math.max(64, Math.ceil(tiles / 4))));
  const zeroBytes = Math.max(g4 * 4, g8 * 8) * 4;
  // zeros, dU, the chunk's transformed x (v) and dy (m)
  return intoNewOutput(native, backend, [3, 3, ci, co], [zeroBytes, 16 * g4 * g8 * 32 * 4, 16 * g4 * 4 * chunk * 4, 16 * g8 * 8 * chunk * 4], (out, [zeros, du, v, m]) => {
    native.module.HEAPU8.fill(0, zeros!, zeros! + zeroBytes);
    for (let t0 = 0; t0 < tiles; t0 += chunk) {
      const nt = Math.min(chunk, tiles - t0);
      native.parallel('winograd_grad_transform', [native.address(x), native.address(dy), v!, m!, zeros!, n, ih, iw, ci, oh, ow, co, info.padInfo.top, info.padInfo.left, t0, nt]);
      native.parallel('winograd_grad_gemm', [v!, m!, du!, ci, co, nt, t0 === 0 ? 1 : 0]);
    }
    native.parallel('winograd_grad_filter', [du!, native.address(out), ci, co]);
  });
}

/** dW of conv2d: direct sums over positions, blocked so that rows stay in cache, dy and x repacked per block. */
export function nativeFilterGrad(native: Native, backend: tf.KernelBackend, x: Info, dy: Info, info: ConvInfo): Info {
  const { batchSize: n, inHeight: ih, inWidth: iw, inChannels: ci, outHeight: oh, outWidth: ow, outChannels: co, filterHeight: kh, filterWidth: kw,
    strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = info;
  if (useWinograd(info, Math.min(ci, co)) && ci * co >= WINOGRAD_GRAD_MIN_CHANNELS_PRODUCT) return winogradFilterGrad(native, backend, x, dy, info);
  const floats = filterGradScratchFloats(info, native.parts);
  return intoNewOutput(native, backend, [kh, kw, ci, co], [native.parts * floats * 4], (out, [scratch]) => {
    native.parallel('conv2d_filter_grad', [native.address(x), native.address(dy), native.address(out), n, ih, iw, ci, oh, ow, co, kh, kw, sh, sw, dh, dw, info.padInfo.top, info.padInfo.left,
      scratch!, floats]);
  });
}

function convInfo(x: Info, filter: Info, attrs: tf.NamedAttrMap): ConvInfo | undefined {
  const { strides, pad, dataFormat, dilations, dimRoundingMode } = attrs as unknown as tf.Conv2DAttrs;
  if (dataFormat !== undefined && dataFormat !== 'NHWC') return undefined;
  if (x.dtype !== 'float32' || filter.dtype !== 'float32' || x.shape.length !== 4) return undefined;
  return tf.backend_util.computeConv2DInfo(x.shape as [number, number, number, number], filter.shape as [number, number, number, number], strides, dilations ?? 1, pad, dimRoundingMode, false, 'channelsLast');
}

/** Conv2D: the module's forward conv, else the stock kernel (XNNPACK). */
export function conv2d(args: Args, backendName: string): Info | Info[] {
  const { x, filter } = args.inputs as { x: Info; filter: Info };
  const native = nativeKernels(args.backend);
  const info = native ? convInfo(x, filter, args.attrs ?? {}) : undefined;
  if (!native || !info || info.outHeight * info.outWidth * info.batchSize === 0) return runStock('Conv2D', backendName, args);
  return runConv(native, args.backend, x, filter, undefined, false, info, false);
}

/** FusedConv2D with a per-channel bias (or none) and a linear or ReLU activation; other cases the stock kernel. */
export function fusedConv2d(args: Args, backendName: string): Info | Info[] {
  const { x, filter, bias, preluActivationWeights } = args.inputs as { x: Info; filter: Info; bias?: Info; preluActivationWeights?: Info };
  const activation = (args.attrs as { activation?: string } | undefined)?.activation ?? 'linear';
  const native = nativeKernels(args.backend);
  const info = native ? convInfo(x, filter, args.attrs ?? {}) : undefined;
  const co = filter.shape[3]!;
  const biasOk = !bias || (bias.dtype === 'float32' && tf.util.sizeFromShape(bias.shape) === co);
  if (!native || !info || preluActivationWeights || (activation !== 'linear' && activation !== 'relu') || !biasOk || info.outHeight * info.outWidth * info.batchSize === 0) {
    return runStock('FusedConv2D', backendName, args);
  }
  return runConv(native, args.backend, x, filter, bias, activation === 'relu', info, false);
}
