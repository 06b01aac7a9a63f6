import * as tf from '@tensorflow/tfjs-core';
import { InvalidArgumentError } from './errors.js';
import { describeValue } from './internal/validate.js';
import type { LayersModelLike, Model, ModelFn } from './types.js';

const SOURCE = Symbol.for('medrobust.modelSource');

/** True for a `tf.LayersModel` (or anything with the same `apply`/`predict` pair). */
export function isLayersModel(model: unknown): model is LayersModelLike {
  return typeof model === 'object' && model !== null && typeof (model as LayersModelLike).apply === 'function' && typeof (model as LayersModelLike).predict === 'function';
}

/**
 * Turns a {@link Model} into a {@link ModelFn}. A LayersModel is called with `training: false`, so
 * dropout is off and batch norm uses its moving statistics (attacks on a model in training mode
 * are weaker and depend on the batch; torchattacks #21, Foolbox #74).
 *
 * @param model - a ModelFn or a single-output LayersModel.
 * @param fn - the calling function's name, for error messages.
 * @returns a function from NHWC images to logits `[N, C]`.
 * @throws {InvalidArgumentError} when `model` is neither, or (at call time) when it returns
 *   several outputs or not a rank-2 tensor.
 *
 * @example
 * ```ts
 * const net = tf.sequential({ layers: [tf.layers.flatten({ inputShape: [8, 8, 1] }), tf.layers.dense({ units: 3 })] });
 * const logits = toModelFn(net)(tf.zeros([2, 8, 8, 1])); // [2, 3]
 * ```
 * @category Core
 */
export function toModelFn(model: Model, fn = 'toModelFn'): ModelFn {
  if (typeof model === 'function') {
    return (images) => checkLogits(fn, model(images), images.shape[0]);
  }
  if (isLayersModel(model)) {
    return (images) => checkLogits(fn, model.apply(images, { training: false }), images.shape[0]);
  }
  throw new InvalidArgumentError(fn, 'model', 'a function (images) => logits or a tf.LayersModel', describeValue(model));
}

function checkLogits(fn: string, out: unknown, n: number): tf.Tensor2D {
  if (Array.isArray(out)) {
    throw new InvalidArgumentError(fn, 'model', `a model with one output of logits [${n}, C]; wrap a multi-output model with selectOutput(model, index)`, `${out.length} outputs`);
  }
  if (!(out instanceof tf.Tensor) || out.rank !== 2 || out.shape[0] !== n) {
    throw new InvalidArgumentError(fn, 'model', `a model that returns logits of shape [${n}, C]`, `a model that returned ${describeValue(out)}`);
  }
  return out as tf.Tensor2D;
}

/**
 * Wraps a multi-output LayersModel (AttnVGG returns `[logits, a1, a2]`) as a {@link ModelFn}
 * that returns output `index`, in inference mode. The other outputs are left to the caller's
 * `tf.tidy` (every medrobust attack runs the model inside one).
 *
 * @param model - a LayersModel with several outputs.
 * @param index - which output holds the logits.
 * @defaultValue index 0
 * @returns a ModelFn returning output `index`.
 * @throws {InvalidArgumentError} when `index` is not a non-negative integer or `model` is not a LayersModel.
 *
 * @example
 * ```ts
 * const input = tf.input({ shape: [8, 8, 1] });
 * const flat = tf.layers.flatten().apply(input) as tf.SymbolicTensor;
 * const logits = tf.layers.dense({ units: 2 }).apply(flat) as tf.SymbolicTensor;
 * const extra = tf.layers.dense({ units: 4 }).apply(flat) as tf.SymbolicTensor;
 * const net = tf.model({ inputs: input, outputs: [logits, extra] });
 * const adv = pgd(selectOutput(net, 0), images, labels, { epsilon: 0.03 });
 * ```
 * @category Core
 */
export function selectOutput(model: LayersModelLike, index = 0): ModelFn {
  if (!isLayersModel(model)) throw new InvalidArgumentError('selectOutput', 'model', 'a tf.LayersModel', describeValue(model));
  if (!Number.isInteger(index) || index < 0) throw new InvalidArgumentError('selectOutput', 'index', 'a non-negative integer', describeValue(index));
  const wrapped: ModelFn = (images) => {
    const out = model.apply(images, { training: false });
    const outputs = Array.isArray(out) ? (out as tf.Tensor[]) : [out as tf.Tensor];
    const chosen = outputs[index];
    if (chosen === undefined) throw new InvalidArgumentError('selectOutput', 'index', `an output index below ${outputs.length}`, String(index));
    return chosen as tf.Tensor2D;
  };
  Object.defineProperty(wrapped, SOURCE, { value: model });
  return wrapped;
}

/**
 * The per-sample input shape `[H, W, C]` a model declares (`null` for a free dimension), when it can
 * be known: a LayersModel's first input, or the LayersModel behind a {@link selectOutput} wrapper.
 * A plain function declares nothing.
 * @internal
 */
export function modelInputShape(model: unknown): Array<number | null> | undefined {
  const source = typeof model === 'function' ? (model as unknown as Record<symbol, unknown>)[SOURCE] : model;
  const inputs = (source as { inputs?: Array<{ shape?: Array<number | null> }> } | undefined)?.inputs;
  const shape = Array.isArray(inputs) ? inputs[0]?.shape : undefined;
  return Array.isArray(shape) && shape.length === 4 ? shape.slice(1) : undefined;
}

/**
 * Checks images against the input shape the model declares (before anything runs), so that a wrong
 * size or channel count reads `pgd: images must be [N, 224, 224, 3] to match the model's input` instead
 * of tfjs' `ValueError … incompatible with layer conv1`.
 * @internal
 */
export function assertModelInput(fn: string, argument: string, model: unknown, images: tf.Tensor4D): void {
  const expected = modelInputShape(model);
  if (!expected) return;
  const ok = expected.every((d, i) => d === null || d === undefined || d === images.shape[i + 1]);
  if (!ok) {
    const want = `[N, ${expected.map((d) => (d == null ? '?' : String(d))).join(', ')}]`;
    throw new InvalidArgumentError(fn, argument, `a batch of shape ${want} to match the model's input`, `shape [${images.shape.join(',')}]`);
  }
}
