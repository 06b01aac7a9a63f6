import * as tfl from '@tensorflow/tfjs-layers';
import { InvalidArgumentError } from '../errors.js';
import { assertBoolean, assertKnownKeys, assertNumber, assertOneOf, assertOptionsObject, assertOptionalNumber, describeValue } from '../internal/validate.js';
type Initializer = ReturnType<typeof tfl.initializers.zeros>;
import { GapDropout, GapReflectionPad2D } from './gapLayers.js';
import { entry } from '../internal/scope.js';
import { disposingSharedLayers } from '../internal/sharedLayers.js';

/**
 * Options of {@link gapUnet}.
 * @category Attacks
 */
export interface GapUnetOptions {
  /** The image shape `[H, W, C]` (any H, W ≥ 4; e.g. 224, 299, 28, 64 or 8). Required. */
  inputShape: readonly [number, number, number];
  /**
   * Channels of the output (the perturbation).
   * @defaultValue C of `inputShape`
   */
  outputChannels?: number;
  /**
   * Starting point for the other defaults (each explicit option overrides it):
   * - `'isic'`: the authors' 224 generator of ISIC 2016 and ChestX-ray14 exactly as their code builds it
   *   (libadver `UnetGenerator`, `define(…, gen_type='unet', norm='batch', act='relu')`): ngf 64, ReLU
   *   decoder, PyTorch's default init (their `weights_init` is applied to the container and does
   *   nothing), 4 batch norms shared by 9 uses, skips carrying LeakyReLU(eᵢ) (their LeakyReLU is
   *   in place).
   * - `'messidor'`: the authors' 299 generator `UGenerator_Net`: the same with a SELU decoder.
   * - `'small'`: ngf 8, ReLU, N(0, 0.02), a batch norm per use, raw skips (pix2pix's intent): for
   *   8–64 px images on a CPU.
   * For the generator the authors meant to build at 224/299 px, pass `{ init: 'normal', sharedNorms:
   * false, skips: 'raw' }` with the preset.
   * @defaultValue 'isic'
   */
  preset?: 'isic' | 'messidor' | 'small';
  /**
   * Filters of the first encoder level; level i has ngf·min(2^i, 8).
   * @defaultValue 64 ('small': 8)
   */
  ngf?: number;
  /**
   * Number of stride-2 encoder levels (and decoder levels). The default halves min(H, W) while it
   * is at least 6 (6 for 224 and 299: 224→…→7→4, 299→…→9→5), and is at least 2.
   * @defaultValue from the image size
   */
  depth?: number;
  /**
   * Activation before each transposed convolution.
   * @defaultValue 'relu' ('messidor': 'selu')
   */
  decoderActivation?: 'relu' | 'selu';
  /**
   * Weight init: `'normal'`: conv weights N(0, 0.02), biases 0, batch-norm scales N(1, 0.02) (pix2pix,
   * GAP, and what libadver's `weights_init` was meant to do); `'pytorch'`: PyTorch's defaults, conv
   * weights and biases U(−1/√fan_in, 1/√fan_in) (fan_in = in·k² for a conv, out·k² for a transposed
   * conv, as PyTorch computes it), batch-norm scales 1 and shifts 0.
   * @defaultValue 'pytorch' ('small': 'normal')
   */
  init?: 'normal' | 'pytorch';
  /**
   * One batch norm per channel width, shared by every level of that width, as the authors' generators
   * do (`norm`, `norm2`, `norm4`, `norm8`: 4 modules for 9 uses at 224/299 px, 60·ngf fewer parameters
   * and moving statistics updated by every use); false gives each level its own.
   * @defaultValue true ('small': false)
   */
  sharedNorms?: boolean;
  /**
   * What the skip connections carry: `'activated'`, LeakyReLU₀.₂(eᵢ), as in the authors' code, whose
   * in-place LeakyReLU overwrites eᵢ before the decoder concatenates it (the same as `'raw'` in the
   * forward pass of a ReLU decoder, not with SELU); `'raw'`, eᵢ itself.
   * @defaultValue 'activated' ('small': 'raw')
   */
  skips?: 'activated' | 'raw';
  /**
   * Dropout rate after the batch norm of the first `dropoutStages` decoder levels.
   * @defaultValue 0.5
   */
  dropout?: number;
  /**
   * How many decoder levels (from the innermost) get dropout; the paper's generator has 1, the
   * official GAP U-Net 3.
   * @defaultValue 1
   */
  dropoutStages?: number;
  /**
   * Seed of the weight initialisers (level i uses seed + i).
   * @defaultValue 1
   */
  seed?: number;
}

/**
 * Options of {@link gapResnet}.
 * @category Attacks
 */
export interface GapResnetOptions {
  /** The image shape `[H, W, C]`; H and W must be multiples of 4. Required. */
  inputShape: readonly [number, number, number];
  /**
   * Channels of the output (the perturbation).
   * @defaultValue C of `inputShape`
   */
  outputChannels?: number;
  /**
   * Filters of the first convolution (the residual blocks have 4·ngf).
   * @defaultValue 64
   */
  ngf?: number;
  /**
   * Number of residual blocks (CycleGAN uses 6 for 128 px and 9 for 256 px).
   * @defaultValue 6
   */
  blocks?: number;
  /**
   * Padding of the 7×7 and residual convolutions: `'reflect'` (Poursaeed) or `'zero'`.
   * @defaultValue 'reflect'
   */
  padding?: 'reflect' | 'zero';
  /**
   * Activation after each batch norm (outside the residual blocks, which use ReLU).
   * @defaultValue 'relu'
   */
  activation?: 'relu' | 'selu';
  /**
   * Dropout rate between the two convolutions of each residual block (GAP: 0.5).
   * @defaultValue 0.5
   */
  dropout?: number;
  /**
   * Seed of the weight initialisers.
   * @defaultValue 1
   */
  seed?: number;
}

const UNET_KEYS = ['inputShape', 'outputChannels', 'preset', 'ngf', 'depth', 'decoderActivation', 'init', 'sharedNorms', 'skips', 'dropout', 'dropoutStages', 'seed'] as const;
const RESNET_KEYS = ['inputShape', 'outputChannels', 'ngf', 'blocks', 'padding', 'activation', 'dropout', 'seed'] as const;

function assertShape(fn: string, value: unknown, minSide: number): [number, number, number] {
  const ok = Array.isArray(value) && value.length === 3 && value.every((v) => Number.isInteger(v) && v > 0) && value[0] >= minSide && value[1] >= minSide;
  if (!ok) throw new InvalidArgumentError(fn, 'options.inputShape', `[H, W, C] with integer H, W >= ${minSide} and C >= 1`, describeValue(value));
  return value as [number, number, number];
}

/** Spatial size after a PyTorch conv (kernel k, stride 2, padding 1). */
const down = (s: number, k: number): number => Math.floor((s + 2 - k) / 2) + 1;

/** Default depth: halve while the side is at least 6, and at least 2 levels. */
function autoDepth(side: number): number {
  let d = 0;
  for (let s = side; s >= 6; s = down(s, 4)) d++;
  return Math.max(2, d);
}

/**
 * The U-Net generator of the paper's GAP attack (paper.md §4.2; Poursaeed et al., CVPR 2018):
 * encoder levels e_i = BN(conv_{4×4, s2}(LeakyReLU_{0.2}(e_{i−1}))) (no activation before e_1, no
 * BN on e_1 and on the innermost level, whose kernel is 3×3); decoder levels
 * d_j = Dropout(BN(convT_{s2}(act(d_{j−1} ⊕ s)))) concatenated with the mirror encoder level's skip
 * s (LeakyReLU(e) in the authors' code, see `skips`), and output tanh(convT(act(d ⊕ s_1))) ∈ [−1, 1].
 * The presets `'isic'` and `'messidor'` are the authors' generators layer for layer (init, shared
 * batch norms, skips; tested against a port of their code), with their module names (`conv1` …
 * `conv6`, `dconv1` … `dconv6`, `norm`, `norm2`, `norm4`, `norm8`), so their state dicts load with
 * {@link loadTorchWeights}. Convolutions are PyTorch's (padding 1), and each
 * transposed kernel (3, 4 or 5) is chosen so the decoder restores every encoder size exactly:
 * 224 → 112, 56, 28, 14, 7, 4 and back; 299 → 149, 74, 37, 18, 9, 5 with kernels 3, 4, 5, 4, 5, 5
 * (paper.md §4.2). Batch norms use PyTorch's momentum 0.1 (Keras 0.9) and ε = 1e-5.
 *
 * @param options - see {@link GapUnetOptions}; unknown keys are rejected.
 * @returns a new, untrained `tf.LayersModel` from `[N, H, W, C]` to `[N, H, W, outputChannels]`
 *   in [−1, 1]; the caller owns (and disposes) it.
 * @throws {InvalidArgumentError} for a bad shape, a non-positive ngf, a depth too large for the
 *   image, a dropout rate outside [0, 1), or an unknown option.
 *
 * @example
 * ```ts
 * const generator = gapUnet({ inputShape: [8, 8, 1], preset: 'small', ngf: 4 });
 * const report = await trainGap(model, generator, [{ images }], { magnitude: 40, epochs: 5, seed: 1 });
 * ```
 * @category Attacks
 */
export function gapUnet(options: GapUnetOptions): tfl.LayersModel {
  return entry('gapUnet', () => {
    const fn = 'gapUnet';
    const o = assertOptionsObject(fn, options);
    assertKnownKeys(fn, o, UNET_KEYS);
    const [h0, w0, c0] = assertShape(fn, o.inputShape, 2);
    const preset = assertOneOf(fn, 'options.preset', o.preset, ['isic', 'messidor', 'small'] as const) ?? 'isic';
    const ngf = assertOptionalNumber(fn, 'options.ngf', o.ngf, { integer: true, min: 1 }) ?? (preset === 'small' ? 8 : 64);
    const outC = assertOptionalNumber(fn, 'options.outputChannels', o.outputChannels, { integer: true, min: 1 }) ?? c0;
    const act = assertOneOf(fn, 'options.decoderActivation', o.decoderActivation, ['relu', 'selu'] as const) ?? (preset === 'messidor' ? 'selu' : 'relu');
    const authors = preset !== 'small';
    const init = assertOneOf(fn, 'options.init', o.init, ['normal', 'pytorch'] as const) ?? (authors ? 'pytorch' : 'normal');
    const sharedNorms = assertBoolean(fn, 'options.sharedNorms', o.sharedNorms) ?? authors;
    const skips = assertOneOf(fn, 'options.skips', o.skips, ['activated', 'raw'] as const) ?? (authors ? 'activated' : 'raw');
    const rate = assertOptionalNumber(fn, 'options.dropout', o.dropout, { min: 0, max: 1, maxExclusive: true }) ?? 0.5;
    const dropoutStages = assertOptionalNumber(fn, 'options.dropoutStages', o.dropoutStages, { integer: true, min: 0 }) ?? 1;
    const seed = assertOptionalNumber(fn, 'options.seed', o.seed, { integer: true, min: 0 }) ?? 1;
    const depth = assertOptionalNumber(fn, 'options.depth', o.depth, { integer: true, min: 1 }) ?? autoDepth(Math.min(h0, w0));

    // Encoder sizes: kernel 4 at every level but the innermost (3), as in the paper's generators.
    const sizes = (d: number): { kernels: number[]; hs: number[]; ws: number[] } | null => {
      const kernels = Array.from({ length: d }, (_, i) => (i === d - 1 ? 3 : 4));
      const hs = [h0];
      const ws = [w0];
      for (let i = 0; i < d; i++) {
        if (hs[i]! + 2 < kernels[i]! || ws[i]! + 2 < kernels[i]!) return null;
        hs.push(down(hs[i]!, kernels[i]!));
        ws.push(down(ws[i]!, kernels[i]!));
      }
      return { kernels, hs, ws };
    };
    const plan = sizes(depth);
    if (plan === null) {
      let max = 1;
      while (sizes(max + 1) !== null) max++;
      throw new InvalidArgumentError(fn, 'options.depth', `at most ${max} for a ${h0}×${w0} image (a level would shrink below 1 pixel)`, String(depth));
    }
    const { kernels, hs, ws } = plan;

    let s = seed;
    // PyTorch's default: kaiming_uniform(a=√5) = U(±1/√fan_in) for weights, U(±1/√fan_in) for biases.
    const kernelInit = (): Initializer =>
      init === 'normal' ? tfl.initializers.randomNormal({ mean: 0, stddev: 0.02, seed: s++ }) : tfl.initializers.varianceScaling({ scale: 1 / 3, mode: 'fanIn', distribution: 'uniform', seed: s++ });
    const biasInit = (fanIn: number): Initializer =>
      init === 'normal' ? tfl.initializers.zeros() : tfl.initializers.randomUniform({ minval: -1 / Math.sqrt(fanIn), maxval: 1 / Math.sqrt(fanIn), seed: s++ });
    const norms = new Map<string, tfl.layers.Layer>();
    /** The batch norm of `name`; with shared norms, one layer per channel width, reused. */
    const bn = (name: string): tfl.layers.Layer => {
      const existing = norms.get(name);
      if (existing) return existing;
      const layer = tfl.layers.batchNormalization({ name, axis: -1, momentum: 0.9, epsilon: 1e-5, gammaInitializer: init === 'normal' ? tfl.initializers.randomNormal({ mean: 1, stddev: 0.02, seed: s++ }) : 'ones' });
      norms.set(name, layer);
      return layer;
    };
    const filters = (i: number): number => ngf * Math.min(2 ** i, 8);
    const normName = (i: number, own: string): string => (sharedNorms ? (filters(i) === ngf ? 'norm' : `norm${filters(i) / ngf}`) : own);
    const channels = (t: tfl.SymbolicTensor): number => t.shape[3] as number;

    const input = tfl.input({ shape: [h0, w0, c0] });
    const skipOf: tfl.SymbolicTensor[] = []; // what the decoder concatenates for each encoder level
    let x: tfl.SymbolicTensor = input;
    for (let i = 0; i < depth; i++) {
      let y = x;
      if (i > 0) {
        // The authors' nn.LeakyReLU(0.2, inplace=True) overwrites e_i, so their skip carries LeakyReLU(e_i).
        y = tfl.layers.leakyReLU({ alpha: 0.2, name: `lrelu${i}` }).apply(x) as tfl.SymbolicTensor;
        skipOf[i - 1] = skips === 'activated' ? y : x;
      }
      const fanIn = channels(y) * kernels[i]! ** 2;
      y = tfl.layers.zeroPadding2d({ padding: 1 }).apply(y) as tfl.SymbolicTensor;
      y = tfl.layers.conv2d({ name: `conv${i + 1}`, filters: filters(i), kernelSize: kernels[i]!, strides: 2, padding: 'valid', kernelInitializer: kernelInit(), biasInitializer: biasInit(fanIn) }).apply(y) as tfl.SymbolicTensor;
      if (i > 0 && i < depth - 1) y = bn(normName(i, `enorm${i + 1}`)).apply(y) as tfl.SymbolicTensor;
      x = y;
    }
    for (let j = 0; j < depth; j++) {
      const level = depth - 1 - j; // decoder j restores the size of encoder level `level - 1` (the input for 0)
      const [hin, win, hout, wout] = [hs[level + 1]!, ws[level + 1]!, hs[level]!, ws[level]!];
      // PyTorch ConvTranspose(k, stride 2, padding 1): out = 2(in − 1) + k − 2, so k = out − 2·in + 4.
      const kernelSize = [hout - 2 * hin + 4, wout - 2 * win + 4] as [number, number];
      const outer = level === 0;
      const outFilters = outer ? outC : filters(level - 1);
      let y = tfl.layers.activation({ activation: act }).apply(x) as tfl.SymbolicTensor;
      y = tfl.layers.conv2dTranspose({ name: `dconv${j + 1}`, filters: outFilters, kernelSize, strides: 2, padding: 'valid', kernelInitializer: kernelInit(), biasInitializer: biasInit(outFilters * kernelSize[0] * kernelSize[1]) }).apply(y) as tfl.SymbolicTensor;
      y = tfl.layers.cropping2D({ cropping: [[1, 1], [1, 1]] }).apply(y) as tfl.SymbolicTensor;
      if (outer) {
        x = tfl.layers.activation({ activation: 'tanh', name: 'tanh' }).apply(y) as tfl.SymbolicTensor;
        break;
      }
      y = bn(normName(level - 1, `dnorm${j + 1}`)).apply(y) as tfl.SymbolicTensor;
      if (j < dropoutStages && rate > 0) y = new GapDropout({ rate }).apply(y) as tfl.SymbolicTensor;
      x = tfl.layers.concatenate({ axis: -1 }).apply([y, skipOf[level - 1]!]) as tfl.SymbolicTensor;
    }
    return disposingSharedLayers(tfl.model({ inputs: input, outputs: x, name: `gap_unet_${preset}` }));
  });
}

/**
 * Poursaeed et al.'s ResNet generator for GAP (CVPR 2018, after Johnson et al. and CycleGAN):
 * pad₃ → conv 7×7 (ngf) → BN → act; two stride-2 3×3 convs (2·ngf, 4·ngf) with BN and act;
 * `blocks` residual blocks x + BN(conv(pad₁(Dropout(ReLU(BN(conv(pad₁(x)))))))); two stride-2
 * transposed 3×3 convs (PyTorch padding 1, output padding 1) with BN and act; pad₃ → conv 7×7 →
 * tanh. Convolutions followed by batch norm have no bias; weights are N(0, 0.02), batch-norm
 * scales N(1, 0.02).
 *
 * @param options - see {@link GapResnetOptions}; unknown keys are rejected.
 * @returns a new, untrained `tf.LayersModel` from `[N, H, W, C]` to `[N, H, W, outputChannels]`
 *   in [−1, 1]; the caller owns (and disposes) it.
 * @throws {InvalidArgumentError} when H or W is not a multiple of 4 (at least 8), for a
 *   non-positive ngf or block count, a dropout rate outside [0, 1), or an unknown option.
 *
 * @example
 * ```ts
 * const generator = gapResnet({ inputShape: [32, 32, 3], ngf: 8, blocks: 2 });
 * ```
 * @category Attacks
 */
export function gapResnet(options: GapResnetOptions): tfl.LayersModel {
  return entry('gapResnet', () => {
    const fn = 'gapResnet';
    const o = assertOptionsObject(fn, options);
    assertKnownKeys(fn, o, RESNET_KEYS);
    const [h0, w0, c0] = assertShape(fn, o.inputShape, 8);
    if (h0 % 4 !== 0 || w0 % 4 !== 0) throw new InvalidArgumentError(fn, 'options.inputShape', 'H and W multiples of 4 (two stride-2 levels must restore the size exactly)', describeValue(o.inputShape));
    const ngf = assertOptionalNumber(fn, 'options.ngf', o.ngf, { integer: true, min: 1 }) ?? 64;
    const outC = assertOptionalNumber(fn, 'options.outputChannels', o.outputChannels, { integer: true, min: 1 }) ?? c0;
    const blocks = o.blocks === undefined ? 6 : assertNumber(fn, 'options.blocks', o.blocks, { integer: true, min: 0 });
    const padding = assertOneOf(fn, 'options.padding', o.padding, ['reflect', 'zero'] as const) ?? 'reflect';
    const act = assertOneOf(fn, 'options.activation', o.activation, ['relu', 'selu'] as const) ?? 'relu';
    const rate = assertOptionalNumber(fn, 'options.dropout', o.dropout, { min: 0, max: 1, maxExclusive: true }) ?? 0.5;
    let s = assertOptionalNumber(fn, 'options.seed', o.seed, { integer: true, min: 0 }) ?? 1;

    const kernelInit = (): Initializer => tfl.initializers.randomNormal({ mean: 0, stddev: 0.02, seed: s++ });
    const apply = (layer: tfl.layers.Layer, t: tfl.SymbolicTensor | tfl.SymbolicTensor[]): tfl.SymbolicTensor => layer.apply(t) as tfl.SymbolicTensor;
    const bn = (t: tfl.SymbolicTensor): tfl.SymbolicTensor =>
      apply(tfl.layers.batchNormalization({ axis: -1, momentum: 0.9, epsilon: 1e-5, gammaInitializer: tfl.initializers.randomNormal({ mean: 1, stddev: 0.02, seed: s++ }) }), t);
    const pad = (t: tfl.SymbolicTensor, p: number): tfl.SymbolicTensor => apply(padding === 'reflect' ? new GapReflectionPad2D({ padding: p }) : tfl.layers.zeroPadding2d({ padding: p }), t);
    const conv = (t: tfl.SymbolicTensor, f: number, k: number, strides: number, useBias: boolean): tfl.SymbolicTensor =>
      apply(tfl.layers.conv2d({ filters: f, kernelSize: k, strides, padding: 'valid', useBias, kernelInitializer: kernelInit() }), t);
    const activate = (t: tfl.SymbolicTensor, a: 'relu' | 'selu' | 'tanh'): tfl.SymbolicTensor => apply(tfl.layers.activation({ activation: a }), t);

    const input = tfl.input({ shape: [h0, w0, c0] });
    let x = activate(bn(conv(pad(input, 3), ngf, 7, 1, false)), act);
    for (let i = 0; i < 2; i++) x = activate(bn(conv(apply(tfl.layers.zeroPadding2d({ padding: 1 }), x), ngf * 2 ** (i + 1), 3, 2, false)), act);
    const dim = ngf * 4;
    for (let b = 0; b < blocks; b++) {
      let y = activate(bn(conv(pad(x, 1), dim, 3, 1, false)), 'relu');
      if (rate > 0) y = apply(new GapDropout({ rate }), y);
      y = bn(conv(pad(y, 1), dim, 3, 1, false));
      x = apply(tfl.layers.add(), [x, y]);
    }
    for (let i = 0; i < 2; i++) {
      // PyTorch ConvTranspose(3, stride 2, padding 1, output_padding 1) = 'valid' then crop 1 at the top/left.
      const up = apply(tfl.layers.conv2dTranspose({ filters: ngf * 2 ** (1 - i), kernelSize: 3, strides: 2, padding: 'valid', useBias: false, kernelInitializer: kernelInit() }), x);
      x = activate(bn(apply(tfl.layers.cropping2D({ cropping: [[1, 0], [1, 0]] }), up)), act);
    }
    x = activate(conv(pad(x, 3), outC, 7, 1, true), 'tanh');
    return tfl.model({ inputs: input, outputs: x, name: 'gap_resnet' });
  });
}
