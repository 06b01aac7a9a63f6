import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { FormatError } from '../errors.js';

/**
 * One saved tensor of a {@link TrainGapState}.
 * @category Attacks
 */
export interface GapSavedTensor {
  /** The variable's name when saved (informative; restoring goes by position). */
  name: string;
  /** The tensor's shape. */
  shape: number[];
  /** The tensor's dtype. */
  dtype: 'float32' | 'int32';
  /** The values, row-major (a copy, owned by the state). */
  values: Float32Array | Int32Array;
}

/**
 * Statistics of one GAP training epoch.
 * @category Attacks
 */
export interface GapEpochStats {
  /** The epoch's index, from 0. */
  epoch: number;
  /** Mean over the epoch's batches of the loss the generator descended. */
  loss: number;
  /**
   * Fraction of the epoch's images whose prediction the training-mode perturbation changed
   * (single-label: the argmax; multi-label: at least one label decision at `threshold`).
   */
  foolingRate: number;
  /** Multi-label only: fraction of all label decisions flipped (0 for single-label). */
  flipRate: number;
  /**
   * Training accuracy: the fraction of the epoch's adversarial predictions that equal the batches'
   * labels (multi-label: of label decisions at `threshold`), what the authors select on; null when no
   * batch had labels.
   */
  accuracy: number | null;
  /** Images seen. */
  images: number;
  /** Batches (generator updates). */
  batches: number;
  /** Wall-clock seconds of the epoch. */
  seconds: number;
}

/**
 * What {@link trainGap} saves to its checkpoint store after each epoch: plain data (typed arrays
 * for the tensors), so any store can keep it; restoring needs a generator of the same architecture.
 * @category Attacks
 */
export interface TrainGapState {
  /** Format tag, `'medrobust-gap/1'`. */
  format: 'medrobust-gap/1';
  /** Epochs finished. */
  epochsDone: number;
  /** The run's seed. */
  seed: number;
  /** State of the run's random generator after `epochsDone` epochs. */
  rngState: number;
  /** Universal mode: the seed of the generator's fixed noise input; null when image-dependent. */
  noiseSeed: number | null;
  /** All generator weights (trainable and batch-norm statistics), in `generator.weights` order. */
  generator: GapSavedTensor[];
  /** The Adam state: iteration count, then first and second moments (tfjs `getWeights` order). */
  optimizer: GapSavedTensor[];
  /**
   * Adam's running powers β₁ᵗ and β₂ᵗ (float32), so that a resumed run continues bit for bit (tfjs
   * recomputes them as powers on restore, which differs in the last bits from the running product).
   */
  adamPowers?: [number, number];
  /** The finished epochs' statistics. */
  history: GapEpochStats[];
  /** With `keep: 'lowest-accuracy'`: the epoch kept so far, its accuracy and its generator weights. */
  best?: {
    /** The epoch kept so far. */
    epoch: number;
    /** Its training accuracy. */
    accuracy: number;
    /** Its generator weights, in `generator.weights` order. */
    generator: GapSavedTensor[];
  };
}

/** tfjs 4.x Adam keeps β₁ᵗ, β₂ᵗ in these (undocumented) variables; absent elsewhere. */
interface AdamPowers { accBeta1?: tf.Variable; accBeta2?: tf.Variable }

/** A tensor's values as plain data (a copy). */
export async function savedTensor(name: string, t: tf.Tensor): Promise<GapSavedTensor> {
  const data = await t.data();
  const dtype = t.dtype === 'int32' ? 'int32' : 'float32';
  return { name, shape: [...t.shape], dtype, values: dtype === 'int32' ? Int32Array.from(data as Int32Array) : Float32Array.from(data as Float32Array) };
}

/** Snapshot of the generator and optimizer (tensors are read, never held). */
export async function snapshot(generator: tfl.LayersModel, optimizer: tf.Optimizer): Promise<Pick<TrainGapState, 'generator' | 'optimizer' | 'adamPowers'>> {
  const g = await Promise.all(generator.weights.map((w) => savedTensor(w.name, w.read())));
  const named = await optimizer.getWeights();
  try {
    const opt = await Promise.all(named.map((nt) => savedTensor(nt.name, nt.tensor)));
    const { accBeta1, accBeta2 } = optimizer as unknown as AdamPowers;
    const powers = accBeta1 instanceof tf.Tensor && accBeta2 instanceof tf.Tensor ? ([(await accBeta1.data())[0]!, (await accBeta2.data())[0]!] as [number, number]) : undefined;
    return { generator: g, optimizer: opt, ...(powers ? { adamPowers: powers } : {}) };
  } finally {
    // getWeights makes a fresh scalar for the iteration count; the moments are the optimizer's own.
    named[0]?.tensor.dispose();
  }
}

function isSaved(v: unknown): v is GapSavedTensor {
  const t = v as GapSavedTensor;
  return typeof t === 'object' && t !== null && Array.isArray(t.shape) && (t.values instanceof Float32Array || t.values instanceof Int32Array) && t.values.length === t.shape.reduce((a, b) => a * b, 1);
}

/** Checks a loaded state against the generator before anything is restored. */
export function assertState(state: unknown, generator: tfl.LayersModel): TrainGapState {
  const s = state as TrainGapState;
  const where = 'trainGap: checkpoint';
  if (typeof s !== 'object' || s === null || s.format !== 'medrobust-gap/1') throw new FormatError(`${where} is not a medrobust GAP state (format 'medrobust-gap/1')`);
  if (!Number.isInteger(s.epochsDone) || s.epochsDone < 0 || !Array.isArray(s.history) || !Array.isArray(s.generator) || !Array.isArray(s.optimizer)) throw new FormatError(`${where} has missing or invalid fields`);
  const weights = generator.weights;
  if (s.generator.length !== weights.length) throw new FormatError(`${where} holds ${s.generator.length} generator weights, the generator has ${weights.length}: another architecture`);
  s.generator.forEach((t, i) => {
    if (!isSaved(t) || t.shape.join(',') !== weights[i]!.shape.join(',')) throw new FormatError(`${where}: generator weight ${i} (${weights[i]!.name}) has shape [${weights[i]!.shape.join(',')}], saved [${isSaved(t) ? t.shape.join(',') : '?'}]`);
  });
  if (!s.optimizer.every(isSaved) || (s.optimizer.length > 0 && s.optimizer.length % 2 !== 1)) throw new FormatError(`${where}: the optimizer state is malformed`);
  if (s.best !== undefined) {
    const b = s.best;
    const ok = typeof b === 'object' && b !== null && Number.isInteger(b.epoch) && typeof b.accuracy === 'number' && Array.isArray(b.generator) && b.generator.length === weights.length
      && b.generator.every((t, i) => isSaved(t) && t.shape.join(',') === weights[i]!.shape.join(','));
    if (!ok) throw new FormatError(`${where}: the kept (lowest-accuracy) generator is malformed or of another architecture`);
  }
  return s;
}

/** Restores generator weights and Adam moments from a checked state. */
export async function restore(state: TrainGapState, generator: tfl.LayersModel, optimizer: tf.Optimizer): Promise<void> {
  const toTensor = (t: GapSavedTensor): tf.Tensor => tf.tensor(t.values, t.shape, t.dtype);
  const weights = state.generator.map(toTensor);
  try {
    generator.setWeights(weights);
  } finally {
    tf.dispose(weights);
  }
  if (state.optimizer.length === 0) return;
  const named = state.optimizer.map((t) => ({ name: t.name, tensor: toTensor(t) }));
  try {
    await optimizer.setWeights(named);
  } finally {
    // setWeights wraps each moment in a new variable sharing the data; ours can go.
    tf.dispose(named.map((n) => n.tensor));
  }
  const { accBeta1, accBeta2 } = optimizer as unknown as AdamPowers;
  if (state.adamPowers && accBeta1 instanceof tf.Variable && accBeta2 instanceof tf.Variable) {
    tf.tidy(() => {
      accBeta1.assign(tf.scalar(state.adamPowers![0]));
      accBeta2.assign(tf.scalar(state.adamPowers![1]));
    });
  }
}
