/**
 * One optimizer step of the training loop: the batch is split into micro-batches, each makes its
 * adversarial images and its share of the gradient, the gradients are summed, one reduction checks
 * that loss, gradients, weights and adversarial images are finite, and only then is the update
 * applied. Also: batch-norm handling under micro-batching, and the micro-batch from core's memory model.
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { NonFiniteError } from '../errors.js';
import { addAll, taskLoss } from '../internal/loss.js';
import { applyGradientsBounded, assertUpdateFits, chunkRanges, isHeapExhausted, planChunks, sampleSlice, type MemoryOptions } from '../internal/memory.js';
import type { Rng } from '../internal/random.js';
import type { ClipRange, ModelFn, Task } from '../types.js';
import { reattribute, releaseStaleTape } from '../internal/scope.js';
import { leanVariableGrads } from '../internal/leanGradients.js';
import { nonFiniteFlag } from '../internal/nonFiniteFlag.js';

/** What a method sees for one micro-batch when it makes adversarial images. */
export interface ChunkContext {
  /** The model in inference mode, as a ModelFn returning the selected output. */
  readonly inference: ModelFn;
  /** The micro-batch's images (the whole batch when it is not split). */
  readonly images: tf.Tensor4D;
  /** Their labels. */
  readonly labels: tf.Tensor;
  readonly task: Task;
  /** The clip range; `'batch'` was resolved to the whole batch's [min, max] when the batch is split. */
  readonly clip: ClipRange;
  /** The whole batch's size and the micro-batch's first row in it (noise is drawn for the batch and sliced). */
  readonly batch: { readonly size: number; readonly offset: number };
  /** The run's `batchSize` and `memoryBudget`, for the inner attack's chunks. */
  readonly memory: MemoryOptions;
}

/** A defense, as the loop sees it. */
export interface TrainingMethod<D = unknown> {
  /**
   * The batch's random draws, from the loop's seeded generator in a fixed order (coin, ε, T, attack
   * seed), once per batch however it is split; null for a clean batch.
   */
  draw(rng: Rng): D | null;
  /** Adversarial images for one micro-batch (a new tensor the loop disposes), or null to train it clean. */
  generate(ctx: ChunkContext, draw: D): tf.Tensor4D | null;
  /** The objective to minimise (batch mean), in training mode (`train` runs the model with `training: true`); runs inside a tidy. */
  objective(train: ModelFn, images: tf.Tensor4D, adv: tf.Tensor4D | null, labels: tf.Tensor): tf.Scalar;
}

/** What every step of a run shares. */
export interface StepSetup {
  readonly fn: string;
  readonly model: LayersModel;
  readonly vars: tf.Variable[];
  readonly optimizer: tf.Optimizer;
  readonly method: TrainingMethod;
  readonly inference: ModelFn;
  readonly train: ModelFn;
  readonly task: Task;
  readonly clip: ClipRange;
  readonly l1: number;
  readonly weightDecay: number;
  readonly batchNorm: 'micro' | 'frozen';
  /** The run's `batchSize` and `memoryBudget` (passed to the inner attack). */
  readonly memory: MemoryOptions;
}

interface Layerish { getClassName(): string; call: (inputs: unknown, kwargs: Record<string, unknown>) => unknown; layers?: Layerish[] }

/** The model's batch-normalisation layers, nested models included. */
export function batchNormLayers(model: LayersModel): Layerish[] {
  const out: Layerish[] = [];
  const visit = (layer: Layerish): void => {
    if (layer.getClassName() === 'BatchNormalization') out.push(layer);
    for (const inner of layer.layers ?? []) visit(inner);
  };
  for (const layer of (model as unknown as { layers: Layerish[] }).layers) visit(layer);
  return out;
}

/**
 * Runs `f` with every batch-norm layer in inference mode (running statistics, not updated) while the
 * rest of the model (dropout) stays in training mode; the layers are restored afterwards, also on throw.
 */
function withFrozenBatchNorm<T>(layers: readonly Layerish[], f: () => T): T {
  if (layers.length === 0) return f();
  const saved = layers.map((layer) => {
    const own = Object.prototype.hasOwnProperty.call(layer, 'call');
    const original = layer.call;
    layer.call = (inputs, kwargs) => original.call(layer, inputs, { ...kwargs, training: false });
    return { layer, own, original };
  });
  try {
    return f();
  } finally {
    for (const { layer, own, original } of saved) {
      if (own) layer.call = original;
      else delete (layer as Partial<Layerish>).call;
    }
  }
}

/**
 * `model.apply(x, { training: true })` that frees each layer output once its last consumer has run
 * (PyTorch frees an activation when nothing refers to it any more). tfjs-layers' executor frees dead
 * intermediates only when called with `training: false`, so the model is called that way while every
 * top-level layer's `call` gets `training: true` (an override such as {@link withFrozenBatchNorm}'s,
 * installed before, still wins: it sits below this one). Inside a gradient this is safe: the tape keeps
 * its own references to what the backward pass reads, and only the shapes and ids of the freed tensors.
 * Without it every layer output (a batch norm's output before its ReLU, which nothing saves) is alive
 * until the forward pass ends. Same values, bit for bit.
 */
export function applyTraining(model: LayersModel, x: tf.Tensor): tf.Tensor | tf.Tensor[] {
  const layers = (model as unknown as { layers: Layerish[] }).layers;
  const saved = layers.map((layer) => {
    const own = Object.prototype.hasOwnProperty.call(layer, 'call');
    const original = layer.call;
    layer.call = (inputs, kwargs) => original.call(layer, inputs, { ...kwargs, training: true });
    return { layer, own, original };
  });
  try {
    return model.apply(x, { training: false }) as tf.Tensor | tf.Tensor[];
  } finally {
    for (const { layer, own, original } of saved) {
      if (own) layer.call = original;
      else delete (layer as Partial<Layerish>).call;
    }
  }
}

/**
 * The gradient of `loss()` with respect to `vars`, in the batch-norm mode of the run. In a tidy: when
 * the backward pass throws (a failed allocation), tfjs has already returned the loss from its forward
 * scope into the caller's, and the training step runs outside any tidy, so it would be left behind.
 */
function gradients(s: StepSetup, bn: readonly Layerish[], loss: () => tf.Scalar): { value: tf.Scalar; grads: tf.NamedTensorMap } {
  const run = (): { value: tf.Scalar; grads: tf.NamedTensorMap } => tf.tidy(() => leanVariableGrads(loss, s.vars));
  return s.batchNorm === 'frozen' ? withFrozenBatchNorm(bn, run) : run();
}

/**
 * The sum of `f(t)` for each tensor, each in its own scope: the weight-sized `f(t)` is freed before
 * the next is made (in one scope, every weight's temporary would be alive at once: the weights' size
 * again). Inside a gradient, what the tape saves is kept regardless.
 */
function sumEach(tensors: readonly tf.Tensor[], f: (t: tf.Tensor) => tf.Tensor): tf.Tensor[] {
  return tensors.map((t) => tf.tidy(() => tf.sum(f(t))));
}

function describeNonFinite(v: number): string {
  return Number.isNaN(v) ? 'NaN' : v > 0 ? 'Infinity' : '-Infinity';
}

async function firstNonFinite(t: tf.Tensor): Promise<number | undefined> {
  const values = await t.data();
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i]!)) return values[i];
  return undefined;
}

/**
 * One optimizer step on a batch, split into micro-batches of `microBatch` images: the loss of
 * micro-batch k is its mean scaled by n_k/N, so the summed gradient is the full batch's (the
 * penalties are added once). Nothing is applied unless loss, gradients, weights and adversarial
 * images are all finite (one reduction, one read).
 * @returns the batch's loss (penalties included) and whether it was trained on adversarial images.
 * @throws {NonFiniteError} naming the quantity, epoch and batch; the weights are then left as they were.
 */
export async function trainingStep(
  s: StepSetup, bn: readonly Layerish[], images: tf.Tensor4D, labels: tf.Tensor, draw: unknown, microBatch: number, where: string,
): Promise<{ loss: number; adversarial: boolean }> {
  const n = images.shape[0];
  const parts = chunkRanges(n, microBatch);
  const split = parts.length > 1;
  const grads = new Map<string, tf.Tensor>();
  const advChecks: tf.Tensor[] = [];
  let lossTotal: tf.Tensor | null = null;
  let adversarial = false;
  try {
    let clip = s.clip;
    if (split && clip === 'batch') {
      // The paper's batch-global clip is the whole batch's range, whatever the micro-batch.
      const range = tf.tidy(() => tf.stack([tf.min(images), tf.max(images)]));
      const [lo, hi] = await range.data();
      range.dispose();
      if (lo! < hi!) clip = [lo!, hi!];
    }
    for (const [k, part] of parts.entries()) {
      const xs = split ? tf.slice(images, [part.start, 0, 0, 0], [part.size, -1, -1, -1]) : images;
      const ys = split ? tf.slice(labels, [part.start], [part.size]) : labels;
      let adv: tf.Tensor4D | null = null;
      try {
        if (draw !== null) {
          try {
            adv = s.method.generate({ inference: s.inference, images: xs, labels: ys, task: s.task, clip, batch: { size: n, offset: part.start }, memory: s.memory }, draw);
          } catch (err) {
            throw await explainInner(s, err, xs, ys, where);
          }
          if (adv !== null) {
            adversarial = true;
            advChecks.push(tf.tidy(() => tf.sum(tf.mul(adv!, 0))));
          }
        }
        const scale = part.size / n;
        const { value, grads: g } = gradients(s, bn, () => {
          let loss: tf.Tensor = s.method.objective(s.train, xs, adv, ys);
          if (split) loss = tf.mul(loss, scale);
          if (k === 0 && s.l1 > 0) loss = tf.add(loss, tf.mul(s.l1, addAll(sumEach(s.vars, tf.abs))));
          if (k === 0 && s.weightDecay > 0) loss = tf.add(loss, tf.mul(s.weightDecay / 2, addAll(sumEach(s.vars, tf.square))));
          return loss as tf.Scalar;
        });
        for (const [name, t] of Object.entries(g)) {
          const previous = grads.get(name);
          if (previous === undefined) {
            grads.set(name, t);
          } else {
            grads.set(name, tf.add(previous, t));
            previous.dispose();
            t.dispose();
          }
        }
        if (lossTotal === null) {
          lossTotal = value;
        } else {
          const sum: tf.Tensor = tf.add(lossTotal, value);
          lossTotal.dispose();
          value.dispose();
          lossTotal = sum;
        }
      } finally {
        adv?.dispose();
        if (split) tf.dispose([xs, ys]);
      }
    }
    const total = lossTotal!;
    const status = tf.tidy(() => tf.stack([total, nonFiniteFlag([total, ...grads.values(), ...s.vars, ...advChecks])]));
    const [loss, flag] = await status.data();
    status.dispose();
    if (!Number.isFinite(flag!)) throw await diagnose(s, total, grads, advChecks, where);
    applyGradientsBounded(s.optimizer, s.vars.map((v) => ({ name: v.name, tensor: grads.get(v.name)! })));
    return { loss: loss!, adversarial };
  } catch (err) {
    releaseStaleTape();
    throw reattribute(err, s.fn, {}, where);
  } finally {
    tf.dispose([...grads.values(), ...advChecks]);
    lossTotal?.dispose();
  }
}

/** The error naming the first non-finite weight before the update at `where`, or undefined when all are finite. */
async function nonFiniteWeights(s: StepSetup, where: string): Promise<NonFiniteError | undefined> {
  for (const v of s.vars) {
    const bad = await firstNonFinite(v);
    if (bad !== undefined) {
      return new NonFiniteError(s.fn, `weights of ${v.name}`, `they hold ${describeNonFinite(bad)} before the update at ${where}: the model came in with non-finite weights, or an earlier update made them so (lower the learning rate)`);
    }
  }
  return undefined;
}

/**
 * Restates a NonFiniteError raised while the adversarial images were made (the inner attack checks the
 * logits before the step's own check can run) in the step's terms, with the inner error as `cause`: the
 * first non-finite weight when there is one; otherwise, when the clean images' loss is not finite
 * either (finite weights too large: a learning rate that blew them up), the loss. Any other error, or
 * one the clean images do not explain, is returned unchanged.
 */
async function explainInner(s: StepSetup, err: unknown, images: tf.Tensor4D, labels: tf.Tensor, where: string): Promise<unknown> {
  if (!(err instanceof NonFiniteError) || err.fn === s.fn) return err;
  releaseStaleTape();
  let out = await nonFiniteWeights(s, where);
  if (out === undefined) {
    const clean = tf.tidy(() => tf.mean(taskLoss(s.task)(s.inference(images), labels)));
    const value = (await clean.data())[0]!;
    clean.dispose();
    if (Number.isFinite(value)) return err;
    out = new NonFiniteError(s.fn, 'loss', `it is ${describeNonFinite(value)} on the clean images at ${where}, before the attack: the weights are finite but too large (an earlier update blew them up: lower the learning rate)`);
  }
  Object.defineProperty(out, 'cause', { value: err, enumerable: false, writable: true, configurable: true });
  return out;
}

/** Names what was not finite, in causal order: weights, adversarial images, loss, gradients. */
async function diagnose(s: StepSetup, loss: tf.Tensor, grads: Map<string, tf.Tensor>, advChecks: tf.Tensor[], where: string): Promise<NonFiniteError> {
  const kept = 'the update was not applied, so the model keeps the weights it had before this batch';
  const weights = await nonFiniteWeights(s, where);
  if (weights !== undefined) return weights;
  for (const check of advChecks) {
    const bad = await firstNonFinite(check);
    if (bad !== undefined) return new NonFiniteError(s.fn, 'adversarial images', `they hold ${describeNonFinite(bad)} at ${where} (check the generator or the attack's model); ${kept}`);
  }
  const lossValue = (await loss.data())[0]!;
  if (!Number.isFinite(lossValue)) return new NonFiniteError(s.fn, 'loss', `it is ${describeNonFinite(lossValue)} at ${where} (check the images, labels and loss); ${kept}`);
  for (const [name, g] of grads) {
    const bad = await firstNonFinite(g);
    if (bad !== undefined) return new NonFiniteError(s.fn, `gradient of ${name}`, `it holds ${describeNonFinite(bad)} at ${where}; ${kept}`);
  }
  return new NonFiniteError(s.fn, 'training step', `a value was not finite at ${where}; ${kept}`);
}

/** One reduction over the weights after an epoch's last update (the per-step check sees them before each update). */
export async function assertFiniteWeights(fn: string, vars: readonly tf.Variable[], where: string): Promise<void> {
  const flag = nonFiniteFlag(vars);
  const value = (await flag.data())[0]!;
  flag.dispose();
  if (Number.isFinite(value)) return;
  for (const v of vars) {
    const bad = await firstNonFinite(v);
    if (bad !== undefined) throw new NonFiniteError(fn, `weights of ${v.name}`, `they hold ${describeNonFinite(bad)} after the last update of ${where}: lower the learning rate (no checkpoint was saved for it)`);
  }
}

/**
 * The micro-batch of a batch of n images, from core's memory model ({@link planChunks}): `microBatch`
 * when given (checked against an explicit `memoryBudget`), otherwise the largest that fits in
 * `memoryBudget` (default {@link memoryStatus}), from the update's peak measured on 1 (and, when the
 * batch does not fit, 2) clean images and cached per model, method and image shape. The summed
 * gradients (twice the trainable weights while a micro-batch's are added) are reserved up front, and
 * the optimizer's update (after the micro-batches, {@link applyGradientsBounded}) must fit too. The
 * probe leaves the model as it found it (batch-norm statistics restored) and draws nothing from the
 * run's generator.
 * @throws {MemoryBudgetError} when one image (or the given `microBatch`) does not fit, or the optimizer's update.
 */
export function planMicroBatch(s: StepSetup, bn: readonly Layerish[], images: tf.Tensor4D, labels: tf.Tensor, microBatch: number | undefined, memory: MemoryOptions): number {
  const n = images.shape[0];
  const options: MemoryOptions = { ...(microBatch === undefined ? {} : { batchSize: microBatch }), ...(memory.memoryBudget === undefined ? {} : { memoryBudget: memory.memoryBudget }) };
  const gradientBytes = s.vars.reduce((sum, v) => sum + 4 * v.size, 0);
  const probe = (k: number): void => {
    const stats = s.model.weights.filter((w) => !w.trainable);
    const saved = stats.map((w) => tf.clone(w.read()));
    try {
      const xs = sampleSlice(images, 0, k);
      const ys = sampleSlice(labels, 0, k);
      const { value, grads } = gradients(s, bn, () => s.method.objective(s.train, xs, xs, ys));
      tf.dispose([value, ...Object.values(grads)]);
    } catch (err) {
      releaseStaleTape();
      // A failed wasm allocation goes up as it is: planChunks restates it for the probed batch and budget.
      throw isHeapExhausted(err) ? err : reattribute(err, s.fn, {}, 'the memory probe');
    } finally {
      stats.forEach((w, i) => w.write(saved[i]!));
      tf.dispose(saved);
    }
  };
  const plan = planChunks(s.fn, n, options, { model: s.model, kind: `training-step:${s.fn}:${s.batchNorm}`, sampleShape: images.shape.slice(1) }, probe, 0, gradientBytes);
  assertUpdateFits(s.fn, s.optimizer, s.vars, plan.budgetBytes);
  return plan.size;
}
