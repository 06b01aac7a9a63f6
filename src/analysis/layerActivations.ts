import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { InvalidArgumentError } from '../errors.js';
import { assertModelInput } from '../model.js';
import { asMemoryBudgetError, MEMORY_KEYS, planChunks, readMemoryOptions, runInChunks, sampleSlice } from '../internal/memory.js';
import { entry } from '../internal/scope.js';
import { assertImages, assertImageValues, assertKnownKeys, assertOptionsObject, describeValue } from '../internal/validate.js';
import type { MemoryOptions } from '../types.js';

/**
 * Options of {@link layerActivations} and {@link activationShift}.
 * @category Analysis
 */
export interface LayerActivationsOptions extends MemoryOptions {
  /** Names of the layers whose outputs to return (e.g. `['block2']`, §5b). Required, non-empty. */
  layers: readonly string[];
}

const KEYS = ['layers', ...MEMORY_KEYS] as const;

function runSub(sub: tfl.LayersModel, x: tf.Tensor4D): tf.Tensor[] {
  const r = sub.apply(x, { training: false });
  return Array.isArray(r) ? (r as tf.Tensor[]) : [r as tf.Tensor];
}

function subModel(fn: string, model: tfl.LayersModel, o: Record<string, unknown>): { sub: tfl.LayersModel; names: string[] } {
  if (!(model instanceof tfl.LayersModel)) throw new InvalidArgumentError(fn, 'model', 'a tf.LayersModel', describeValue(model));
  const names = o.layers;
  if (!Array.isArray(names) || names.length === 0 || names.some((n) => typeof n !== 'string')) {
    throw new InvalidArgumentError(fn, 'options.layers', 'a non-empty array of layer names', describeValue(names));
  }
  const known = model.layers.map((l) => l.name);
  const outputs = (names as string[]).map((name) => {
    if (!known.includes(name)) throw new InvalidArgumentError(fn, 'options.layers', `names of layers of the model (${known.join(', ')})`, JSON.stringify(name));
    const out = model.getLayer(name).output;
    if (Array.isArray(out)) throw new InvalidArgumentError(fn, 'options.layers', 'layers with a single output', `layer ${JSON.stringify(name)} with ${out.length} outputs`);
    return out;
  });
  return { sub: tfl.model({ inputs: model.inputs, outputs }), names: names as string[] };
}

/**
 * The activations of named layers of a LayersModel (the paper's intermediate features, §5b: AttnVGG
 * returns block1…block5 with `vis=True`), in inference mode. A functional sub-model sharing the
 * model's weights is built on the fly; nothing is copied and the model is untouched.
 *
 * @param model - a functional or sequential `tf.LayersModel` with one input.
 * @param images - the input batch `[N, H, W, C]`.
 * @param options - `layers`: the layer names.
 * @returns one tensor per name (e.g. `[N, h, w, channels]` for a conv layer), owned by the caller.
 * @throws {InvalidArgumentError} for an unknown layer name (the message lists the model's layers),
 *   a multi-output layer, or images that are not a rank-4 float32 tensor or hold NaN or ±Infinity values.
 *
 * @example
 * ```ts
 * const { conv1 } = layerActivations(net, images, { layers: ['conv1'] });
 * const maps = featureMapImages(conv1, { channels: [0, 1, 2] });
 * conv1.dispose();
 * ```
 * @category Analysis
 */
export function layerActivations(model: tfl.LayersModel, images: tf.Tensor4D, options: LayerActivationsOptions): Record<string, tf.Tensor> {
  return entry('layerActivations', () => {
    const fn = 'layerActivations';
    const o = assertOptionsObject(fn, options);
    assertKnownKeys(fn, o, KEYS);
    const x = assertImages(fn, 'images', images);
    const { sub, names } = subModel(fn, model, o);
    assertModelInput(fn, 'images', model, x);
    const memory = readMemoryOptions(fn, o);
    assertImageValues(fn, 'images', x, undefined); // NaN images would give NaN activations silently
    const n = x.shape[0];
    const plan = planChunks(fn, n, memory, { model, kind: `activations:${names.join(',')}`, sampleShape: x.shape.slice(1) }, (k) => runSub(sub, sampleSlice(x, 0, k)));
    const outs = names.map(() => [] as tf.Tensor[]);
    try {
      for (let start = 0; start < n; start += plan.size) {
        const count = Math.min(plan.size, n - start);
        tf.tidy(() => runSub(sub, sampleSlice(x, start, count))).forEach((t, i) => outs[i]!.push(t));
      }
    } catch (err) {
      throw asMemoryBudgetError(fn, plan, err);
    }
    const joined = outs.map((p) => (p.length === 1 ? p[0]! : tf.concat(p, 0)));
    const result: Record<string, tf.Tensor> = {};
    names.forEach((name, i) => {
      if (!(name in result)) result[name] = joined[i]!;
    });
    return result;
  });
}

/**
 * How much an attack changes each named layer's activations, per image.
 * @category Analysis
 */
export interface ActivationShift {
  /** The layer name. */
  layer: string;
  /** ‖a(x_adv) − a(x)‖₂ / ‖a(x)‖₂ per image (Infinity where the clean activation is all zero and the adversarial is not). */
  relativeChange: number[];
  /** Mean of `relativeChange`. */
  meanRelativeChange: number;
}

/**
 * Measures the change of named layers' activations between clean and adversarial images (§5b in
 * numbers): the relative L2 change per image and layer. Deeper layers usually change more; a
 * defence that works keeps the change small.
 *
 * @param model - a `tf.LayersModel`.
 * @param clean - clean images `[N, H, W, C]`.
 * @param adversarial - adversarial images, same shape.
 * @param options - `layers`: the layer names.
 * @returns one entry per layer, in the order given.
 * @throws {InvalidArgumentError} as {@link layerActivations}, or for mismatched shapes.
 *
 * @example
 * ```ts
 * const shifts = activationShift(net, images, adv, { layers: ['conv1', 'dense'] });
 * ```
 * @category Analysis
 */
export function activationShift(model: tfl.LayersModel, clean: tf.Tensor4D, adversarial: tf.Tensor4D, options: LayerActivationsOptions): ActivationShift[] {
  return entry('activationShift', () => shift(model, clean, adversarial, options));
}

function shift(model: tfl.LayersModel, clean: tf.Tensor4D, adversarial: tf.Tensor4D, options: LayerActivationsOptions): ActivationShift[] {
  const fn = 'activationShift';
  const o = assertOptionsObject(fn, options);
  assertKnownKeys(fn, o, KEYS);
  const a = assertImages(fn, 'clean', clean);
  const b = assertImages(fn, 'adversarial', adversarial);
  if (b.shape.some((d, i) => d !== a.shape[i])) throw new InvalidArgumentError(fn, 'adversarial', `a tensor of shape [${a.shape.join(',')}] like clean`, `shape [${b.shape.join(',')}]`);
  const { sub, names } = subModel(fn, model, o);
  assertModelInput(fn, 'clean', model, a);
  const memory = readMemoryOptions(fn, o);
  assertImageValues(fn, 'clean', a, undefined); // NaN images would give NaN shifts silently
  assertImageValues(fn, 'adversarial', b, undefined);
  const n = a.shape[0];
  // Per image and layer: ‖a(x_adv) − a(x)‖₂ and ‖a(x)‖₂, as [count, L, 2].
  const chunkStats = (start: number, count: number): tf.Tensor3D => tf.tidy(() => {
    const ca = runSub(sub, sampleSlice(a, start, count));
    const cb = runSub(sub, sampleSlice(b, start, count));
    return tf.stack(ca.map((t, i) => {
      const fa = tf.reshape(t, [count, -1]);
      const fb = tf.reshape(cb[i]!, [count, -1]);
      return tf.stack([tf.sqrt(tf.sum(tf.square(tf.sub(fb, fa)), 1)), tf.sqrt(tf.sum(tf.square(fa), 1))], 1);
    }), 1) as tf.Tensor3D;
  });
  const plan = planChunks(fn, n, memory, { model, kind: `shift:${names.join(',')}`, sampleShape: a.shape.slice(1) }, (k) => chunkStats(0, k));
  const stats = tf.tidy(() => tf.transpose(runInChunks(fn, n, plan, chunkStats), [1, 2, 0]));
  const v = stats.dataSync();
  stats.dispose();
  return names.map((layer, l) => {
    const relativeChange: number[] = [];
    for (let i = 0; i < n; i++) {
      const diff = v[l * 2 * n + i]!;
      const norm = v[l * 2 * n + n + i]!;
      relativeChange.push(norm > 0 ? diff / norm : diff > 0 ? Infinity : 0);
    }
    return { layer, relativeChange, meanRelativeChange: relativeChange.reduce((s, x) => s + x, 0) / n };
  });
}
