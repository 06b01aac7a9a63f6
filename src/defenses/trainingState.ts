/**
 * Snapshots of model and optimizer weights as plain typed arrays, for checkpoints and for the best
 * weights kept during training (plain arrays, so that they never count as live tensors), and the
 * optimizer checks that make a resumed run continue bit for bit.
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { FormatError, InvalidArgumentError } from '../errors.js';

/**
 * One tensor of a checkpoint, as plain data.
 * @category Defenses
 */
export interface SavedTensor {
  /** The variable's name when saved (informative; restoring matches by position and shape). */
  readonly name: string;
  /** The tensor's shape. */
  readonly shape: readonly number[];
  /** The tensor's dtype. */
  readonly dtype: 'float32' | 'int32';
  /** The values in row-major order (a copy, never a backend's buffer). */
  readonly values: Float32Array | Int32Array;
}

/**
 * The tfjs optimizers whose whole state the loop can save and restore: `getWeights()` holds every
 * slot, and Adam's two running powers β₁ᵗ, β₂ᵗ (kept outside `getWeights`) are saved apart.
 * Adamax keeps an iteration variable and β₁ᵗ outside `getWeights` and has no `getWeights`, so it
 * cannot be checkpointed; neither can a custom class whose hidden state is unknown.
 */
export const CHECKPOINTABLE_OPTIMIZERS = ['SGD', 'Momentum', 'Adam', 'Adagrad', 'Adadelta', 'RMSProp'] as const;

/** Hyperparameters of the tfjs optimizers, with the range each must lie in. */
const HYPERPARAMETERS: Readonly<Record<string, { min: number; max?: number; minExclusive?: boolean; maxExclusive?: boolean }>> = {
  learningRate: { min: 0, minExclusive: true },
  momentum: { min: 0 },
  beta1: { min: 0, max: 1, maxExclusive: true },
  beta2: { min: 0, max: 1, maxExclusive: true },
  epsilon: { min: 0 },
  rho: { min: 0, max: 1 },
  decay: { min: 0 },
  initialAccumulatorValue: { min: 0 },
};

/**
 * Checks the optimizer's hyperparameters (a NaN learning rate trains NaN weights that a ReLU can
 * hide from the loss) and, when the run checkpoints, that its state can be saved whole.
 * @throws {InvalidArgumentError} naming `options.optimizer`.
 */
export function assertOptimizer(fn: string, optimizer: tf.Optimizer, checkpointed: boolean): void {
  const o = optimizer as unknown as Record<string, unknown>;
  const name = optimizer.getClassName();
  for (const [key, c] of Object.entries(HYPERPARAMETERS)) {
    const v = o[key];
    if (typeof v !== 'number') continue;
    const ok = Number.isFinite(v) && (c.minExclusive ? v > c.min : v >= c.min) && (c.max === undefined || (c.maxExclusive ? v < c.max : v <= c.max));
    if (!ok) {
      const range = `${c.minExclusive ? '>' : '>='} ${c.min}${c.max === undefined ? '' : ` and ${c.maxExclusive ? '<' : '<='} ${c.max}`}`;
      throw new InvalidArgumentError(fn, 'options.optimizer', `an optimizer whose ${key} is a finite number ${range}`, `${name} with ${key} ${v}`);
    }
  }
  if (name === 'RMSProp' && o.centered === true) {
    // tfjs 4.22 computes sqrt(ms − mg² − ε) for the centred variant: NaN wherever a gradient is 0 (a dead ReLU unit).
    throw new InvalidArgumentError(fn, 'options.optimizer', "an optimizer that tfjs computes correctly, not centered RMSProp (tfjs 4.22 takes sqrt(ms - mg^2 - eps), NaN wherever a gradient is 0); use tf.train.rmsprop(lr, decay, momentum) or Adam", 'RMSProp with centered true');
  }
  if (checkpointed && !(CHECKPOINTABLE_OPTIMIZERS as readonly string[]).includes(name)) {
    throw new InvalidArgumentError(fn, 'options.optimizer', `an optimizer whose state a checkpoint can hold (${CHECKPOINTABLE_OPTIMIZERS.join(', ')}), or no checkpoint`, name);
  }
}

/** The optimizer's configuration without its learning rate (which a schedule may change), for comparing runs. */
export function optimizerConfig(optimizer: tf.Optimizer): Record<string, number | boolean | string | null> {
  const out: Record<string, number | boolean | string | null> = {};
  const config = optimizer.getConfig() as Record<string, unknown>;
  for (const [k, v] of Object.entries(config)) {
    if (k === 'learningRate') continue;
    if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'string' || v === null) out[k] = v;
  }
  return out;
}

async function save(name: string, t: tf.Tensor): Promise<SavedTensor> {
  const dtype = t.dtype === 'int32' ? 'int32' : 'float32';
  const data = await t.data();
  const values = dtype === 'int32' ? Int32Array.from(data as Int32Array) : Float32Array.from(data as Float32Array);
  return { name, shape: [...t.shape], dtype, values };
}

function load(s: SavedTensor): tf.Tensor {
  return tf.tensor(s.values, s.shape as number[], s.dtype);
}

/** Copies every weight of the model (trainable and not, e.g. batch-norm statistics), in order. */
export async function snapshotModel(model: LayersModel): Promise<SavedTensor[]> {
  const out: SavedTensor[] = [];
  for (const w of model.weights) out.push(await save(w.name, w.read()));
  return out;
}

function isSaved(s: unknown): s is SavedTensor {
  const t = s as SavedTensor;
  return typeof t === 'object' && t !== null && Array.isArray(t.shape) && t.shape.every((d) => Number.isInteger(d) && d >= 0)
    && (t.values instanceof Float32Array || t.values instanceof Int32Array) && t.values.length === t.shape.reduce((a: number, b: number) => a * b, 1);
}

/** Writes a snapshot back into the model; throws FormatError when it belongs to another architecture. */
export function restoreModel(fn: string, model: LayersModel, saved: readonly SavedTensor[], what: string): void {
  const weights = model.weights;
  if (!Array.isArray(saved) || saved.length !== weights.length) {
    throw new FormatError(`${fn}: ${what} holds ${Array.isArray(saved) ? saved.length : 'no'} weight tensors, the model has ${weights.length}: it was saved from another model`);
  }
  weights.forEach((w, i) => {
    const s = saved[i];
    const same = isSaved(s) && s.shape.length === w.shape.length && s.shape.every((d: number, j: number) => d === w.shape[j]);
    if (!same) {
      throw new FormatError(`${fn}: ${what} weight ${i} ('${(s as SavedTensor | undefined)?.name}') has shape [${(s as SavedTensor | undefined)?.shape?.join(',')}], the model's '${w.name}' has [${w.shape.join(',')}]: it was saved from another model`);
    }
  });
  const tensors = saved.map(load);
  try {
    model.setWeights(tensors);
  } finally {
    tf.dispose(tensors);
  }
}

/** tfjs 4.x Adam keeps β₁ᵗ and β₂ᵗ in these (undocumented) variables, outside `getWeights`. */
interface AdamPowers { accBeta1?: tf.Variable; accBeta2?: tf.Variable }

/** The optimizer's whole state: its `getWeights()` and, for Adam, the running powers β₁ᵗ, β₂ᵗ. */
export interface OptimizerSnapshot {
  readonly weights: SavedTensor[];
  readonly adamPowers?: [number, number];
}

/**
 * Copies the optimizer's state (its iteration count and slot variables such as momentum or Adam's
 * moments, plus Adam's β-powers). The iteration scalar that `getWeights` creates is disposed; the
 * slot variables stay the optimizer's.
 */
export async function snapshotOptimizer(optimizer: tf.Optimizer): Promise<OptimizerSnapshot> {
  const named = await optimizer.getWeights();
  const weights: SavedTensor[] = [];
  try {
    for (const { name, tensor } of named) weights.push(await save(name, tensor));
  } finally {
    for (const { tensor } of named) if (!(tensor instanceof tf.Variable)) tensor.dispose();
  }
  const { accBeta1, accBeta2 } = optimizer as unknown as AdamPowers;
  if (accBeta1 instanceof tf.Tensor && accBeta2 instanceof tf.Tensor) {
    return { weights, adamPowers: [(await accBeta1.data())[0]!, (await accBeta2.data())[0]!] };
  }
  return { weights };
}

/**
 * Restores the optimizer's state, disposing the slot variables it replaces. Adam's β-powers are
 * set from the saved values (tfjs would recompute them as β^(t+1), which differs from the running
 * product in the last bits and makes a resumed run drift).
 */
export async function restoreOptimizer(fn: string, optimizer: tf.Optimizer, saved: readonly SavedTensor[], adamPowers: readonly number[] | undefined): Promise<void> {
  if (!Array.isArray(saved) || !saved.every(isSaved)) throw new FormatError(`${fn}: the checkpoint's optimizer state is malformed`);
  const old = await optimizer.getWeights();
  for (const { tensor } of old) if (!(tensor instanceof tf.Variable)) tensor.dispose();
  const tensors = saved.map((s) => ({ name: s.name, tensor: load(s) }));
  try {
    await optimizer.setWeights(tensors);
  } catch (err) {
    throw new FormatError(`${fn}: the checkpoint's optimizer state does not fit this optimizer (${(err as Error).message})`);
  } finally {
    tf.dispose(tensors.map((t) => t.tensor));
  }
  for (const { tensor } of old) if (tensor instanceof tf.Variable && !tensor.isDisposed) tensor.dispose();
  const { accBeta1, accBeta2 } = optimizer as unknown as AdamPowers;
  if (adamPowers !== undefined && accBeta1 instanceof tf.Variable && accBeta2 instanceof tf.Variable) {
    if (!Array.isArray(adamPowers) || adamPowers.length !== 2 || !adamPowers.every((p) => typeof p === 'number' && p >= 0 && p <= 1)) {
      throw new FormatError(`${fn}: the checkpoint's Adam powers must be two numbers in [0, 1], found ${JSON.stringify(adamPowers)}`);
    }
    tf.tidy(() => {
      accBeta1.assign(tf.scalar(adamPowers[0]!));
      accBeta2.assign(tf.scalar(adamPowers[1]!));
    });
  }
}
