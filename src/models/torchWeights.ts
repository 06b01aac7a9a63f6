/**
 * PyTorch `state_dict` → tfjs-layers weights, by name. The builders name their layers after the PyTorch
 * modules of the reference code, so a checkpoint maps by its keys once the wrappers around them are
 * peeled off; this file knows the wrappers of the paper's real checkpoints.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { FormatError, InvalidArgumentError } from '../errors.js';
import { assertBoolean, assertKnownKeys, assertOptionsObject, describeValue } from '../internal/validate.js';
import { entry } from '../internal/scope.js';

/**
 * One tensor of a checkpoint: row-major values and the PyTorch shape. An {@link NpyArray} from
 * `readNpz`/`loadNpz` is one (a `state_dict` saved with `np.savez`).
 * @category Models
 */
export interface TorchTensor {
  /** The PyTorch shape, e.g. `[out, in, kh, kw]` for a conv weight. */
  readonly shape: readonly number[];
  /** The values in C order (any numeric typed array; converted to float32). */
  readonly data: ArrayLike<number | bigint>;
}

/**
 * Options of {@link loadTorchWeights}.
 * @category Models
 */
export interface LoadTorchWeightsOptions {
  /**
   * Throw when a weight of the model has no tensor in the checkpoint, or a checkpoint tensor is not
   * used (both are listed in the error). With false, missing weights keep their values and both lists
   * are returned in the report.
   * @defaultValue true
   */
  strict?: boolean;
}

/**
 * What {@link loadTorchWeights} did.
 * @category Models
 */
export interface LoadTorchWeightsReport {
  /** Checkpoint tensors copied into the model. */
  loaded: number;
  /** Model weights (tfjs names) that had no tensor (only with `strict: false`). */
  missing: string[];
  /** Checkpoint keys that matched no weight (only with `strict: false`; `num_batches_tracked` is never listed). */
  unused: string[];
}

/** Wrappers the paper's checkpoints put around the network's own module names. */
const PREFIXES = [
  'module.', // nn.DataParallel (every checkpoint the authors saved from a DataParallel model)
  'model.', // Messidor's InceptionV3 wrapper (Messidor/networks.py: self.model = inception_v3(...))
  'densenet121.', // CheXNet's DenseNet121 wrapper (arnoweng/CheXNet: self.densenet121 = densenet121(...))
];

/** PyTorch parameter → tfjs weight suffix, for batch norms and for every other layer. */
const BN_PARAMS: Record<string, string> = { weight: 'gamma', bias: 'beta', running_mean: 'moving_mean', running_var: 'moving_variance' };
const PARAMS: Record<string, string> = { weight: 'kernel', bias: 'bias' };

/**
 * The module path and parameter of a checkpoint key once the known wrappers are peeled off:
 * `nn.DataParallel`'s `module.` (any number of them), Messidor's `model.` and CheXNet's `densenet121.`;
 * torchvision's pre-0.3 DenseNet names (`denselayer1.norm.1` → `denselayer1.norm1`, the rename
 * CheXNet's loaders apply); a classifier wrapped in `nn.Sequential(Linear, Sigmoid)`
 * (`classifier.0` → `classifier`, when the model has no layer `classifier.0`).
 *
 * @param key - a `state_dict` key, e.g. `module.densenet121.features.denseblock1.denselayer1.norm.1.weight`.
 * @param layerNames - the model's layer names (to decide between ambiguous readings).
 * @returns `{ module, param }`, e.g. `{ module: 'features.denseblock1.denselayer1.norm1', param: 'weight' }`.
 * @example
 * ```ts
 * torchModuleOf('module.model.Conv2d_1a_3x3.conv.weight', new Set(['Conv2d_1a_3x3.conv'])); // { module: 'Conv2d_1a_3x3.conv', param: 'weight' }
 * ```
 * @category Models
 */
export function torchModuleOf(key: string, layerNames: ReadonlySet<string>): {
  /** The module path, i.e. the medrobust layer name. */
  module: string;
  /** The parameter (`weight`, `bias`, `running_mean`, …). */
  param: string;
} {
  const dot = key.lastIndexOf('.');
  const param = dot < 0 ? key : key.slice(dot + 1);
  let module = dot < 0 ? '' : key.slice(0, dot);
  module = module.replace(/(denselayer\d+\.(?:norm|relu|conv))\.([12])(?=$|\.)/g, '$1$2');
  for (let changed = true; changed && !layerNames.has(module);) {
    changed = false;
    for (const p of PREFIXES) {
      if (module.startsWith(p) && !layerNames.has(module)) {
        module = module.slice(p.length);
        changed = true;
      }
    }
  }
  if (!layerNames.has(module) && module.endsWith('.0') && layerNames.has(module.slice(0, -2))) module = module.slice(0, -2);
  return { module, param };
}

/** PyTorch layout → tfjs layout of one tensor for a layer class. */
function convert(className: string, suffix: string, t: TorchTensor, key: string, target: readonly number[]): Float32Array {
  const src = Float32Array.from(t.data as ArrayLike<number>, (v) => Number(v));
  const shape = t.shape;
  let out = src;
  let outShape: number[] = [...shape];
  if (suffix === 'kernel' && shape.length === 4) {
    // Conv2d [out, in, kh, kw] → [kh, kw, in, out]; ConvTranspose2d [in, out, kh, kw] → [kh, kw, out, in]: the same permutation.
    const [a, b, kh, kw] = shape as [number, number, number, number];
    out = new Float32Array(src.length);
    for (let i = 0; i < a; i++) for (let j = 0; j < b; j++) for (let y = 0; y < kh; y++) for (let x = 0; x < kw; x++) out[((y * kw + x) * b + j) * a + i] = src[((i * b + j) * kh + y) * kw + x]!;
    outShape = [kh, kw, b, a];
  } else if (suffix === 'kernel' && shape.length === 2 && className === 'Dense') {
    const [o, i] = shape as [number, number];
    out = new Float32Array(src.length);
    for (let r = 0; r < o; r++) for (let c = 0; c < i; c++) out[c * o + r] = src[r * i + c]!;
    outShape = [i, o];
  }
  if (outShape.length !== target.length || outShape.some((d, i) => d !== target[i])) {
    throw new FormatError(`loadTorchWeights: ${key} has PyTorch shape [${shape.join(',')}] → [${outShape.join(',')}], the model's weight has [${target.join(',')}]`);
  }
  return out;
}

/**
 * Copies a PyTorch `state_dict` into a medrobust model by name. Works for the paper's real checkpoints:
 * the IPMI2019-AttnMel AttnVGG (`conv_block1.0.weight` … `cls.weight`, in `checkpoint['state_dict']`),
 * CheXNet's `model.pth.tar` (`module.densenet121.features…norm.1.weight`, `…classifier.0.weight`), the
 * authors' Messidor Inception-v3 (`module.model.Conv2d_1a_3x3.conv.weight`, `…AuxLogits.fc.weight`), plain
 * torchvision `densenet121`/`inception_v3` state dicts, and the GAP U-Net generators (`conv1` … `dconv6`,
 * `norm8`). See {@link torchModuleOf} for the renames. Layouts are converted: conv and
 * conv-transpose weights `permute(2, 3, 1, 0)`, linear weights transposed; batch-norm `weight`, `bias`,
 * `running_mean`, `running_var` become `gamma`, `beta`, `moving_mean`, `moving_variance`;
 * `num_batches_tracked` is dropped. The frozen `normalize` layer has no counterpart and is skipped.
 *
 * Save the `state_dict` without torch on the reading side:
 * `np.savez('w.npz', **{k: v.numpy() for k, v in state_dict.items()})`, then `loadNpz('w.npz')`.
 * Mutates the model's weights.
 *
 * @param model - the medrobust model (e.g. `attnVgg()`, `denseNet121()`, `inceptionV3({ auxLogits: true })`).
 * @param stateDict - key → tensor, e.g. from `loadNpz` (medrobust/node) or `readNpz`.
 * @param options - see {@link LoadTorchWeightsOptions}.
 * @returns what was loaded, missing and unused (no tensors).
 * @throws {InvalidArgumentError} when the model or state dict is not one, or for an unknown option.
 * @throws {FormatError} for a shape mismatch, or (strict) a missing weight or an unused tensor; the model
 *   is left unchanged then.
 * @example
 * ```ts
 * const net = denseNet121({ classes: 14, normalization: PAPER_PRESETS.chestXray14.normalization });
 * loadTorchWeights(net, await loadNpz('chexnet.npz'));
 * ```
 * @category Models
 */
export function loadTorchWeights(model: tfl.LayersModel, stateDict: Readonly<Record<string, TorchTensor>>, options: LoadTorchWeightsOptions = {}): LoadTorchWeightsReport {
  return entry('loadTorchWeights', () => {
    const fn = 'loadTorchWeights';
    const o = assertOptionsObject(fn, options);
    assertKnownKeys(fn, o, ['strict']);
    const strict = assertBoolean(fn, 'options.strict', o.strict) ?? true;
    const m = model as tfl.LayersModel;
    if (typeof m !== 'object' || m === null || !Array.isArray(m.layers) || typeof m.getLayer !== 'function') throw new InvalidArgumentError(fn, 'model', 'a tf.LayersModel', describeValue(model));
    if (typeof stateDict !== 'object' || stateDict === null || Array.isArray(stateDict)) throw new InvalidArgumentError(fn, 'stateDict', 'an object of key → { shape, data }', describeValue(stateDict));

    const layers = new Map(m.layers.filter((l) => l.name !== 'normalize' && l.weights.length > 0).map((l) => [l.name, l]));
    const names = new Set(layers.keys());
    const values = new Map<string, { data: Float32Array; key: string }>(); // tfjs weight name → values
    const unused: string[] = [];
    for (const [key, t] of Object.entries(stateDict)) {
      if (typeof t !== 'object' || t === null || !Array.isArray(t.shape) || t.data === undefined) throw new InvalidArgumentError(fn, `stateDict['${key}']`, '{ shape, data }', describeValue(t));
      const { module, param } = torchModuleOf(key, names);
      if (param === 'num_batches_tracked') continue;
      const layer = layers.get(module);
      const suffix = layer ? (layer.getClassName() === 'BatchNormalization' ? BN_PARAMS : PARAMS)[param] : undefined;
      const weight = layer && suffix ? layer.weights.find((w) => w.originalName.endsWith(`/${suffix}`)) : undefined;
      if (!layer || !weight) {
        unused.push(key);
        continue;
      }
      if (values.has(weight.originalName)) throw new FormatError(`${fn}: ${key} and ${values.get(weight.originalName)!.key} both map to ${weight.originalName}`);
      values.set(weight.originalName, { data: convert(layer.getClassName(), suffix!, t, key, weight.shape as number[]), key });
    }
    const missing = [...layers.values()].flatMap((l) => l.weights.map((w) => w.originalName).filter((n) => !values.has(n)));
    if (strict && (missing.length > 0 || unused.length > 0)) {
      const list = (xs: string[]): string => `${xs.slice(0, 8).join(', ')}${xs.length > 8 ? ` … (${xs.length} in all)` : ''}`;
      throw new FormatError(`${fn}: the checkpoint does not fit the model${missing.length ? `; no tensor for ${list(missing)}` : ''}${unused.length ? `; unused: ${list(unused)}` : ''} (pass { strict: false } to load what matches)`);
    }
    for (const layer of layers.values()) {
      if (!layer.weights.some((w) => values.has(w.originalName))) continue;
      const tensors = layer.weights.map((w) => {
        const v = values.get(w.originalName);
        return v ? tf.tensor(v.data, w.shape as number[], 'float32') : w.read().clone();
      });
      try {
        layer.setWeights(tensors);
      } finally {
        tf.dispose(tensors);
      }
    }
    return { loaded: values.size, missing, unused };
  });
}
