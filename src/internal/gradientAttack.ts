/**
 * The loop shared by fgsm and pgd (Foolbox's six lines: gradient, direction, step, project, clip),
 * plus option parsing and validation. Everything is validated before the first allocation.
 *
 * The loop is a generator that yields after every step, so one implementation serves the synchronous
 * attacks (run to completion inside one {@link entry} scope) and the async ones (which await between
 * steps, honour an AbortSignal and report progress). The batch runs in chunks that fit in memory
 * ({@link planChunks}); each chunk restarts the seeded generator, so a sample's result does not depend
 * on the chunk it is in and chunked results equal unchunked ones bit for bit.
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import { AbortError, InvalidArgumentError, NonFiniteError } from '../errors.js';
import { assertModelInput, toModelFn } from '../model.js';
import type { ClipRange, LossFn, Model, ModelFn, Progress, Task } from '../types.js';
import { inputGradient } from './inputGradient.js';
import { withInputGradientOnly } from './inputGradientOnly.js';
import { taskLoss, totalLoss } from './loss.js';
import { asMemoryBudgetError, MEMORY_KEYS, planChunks, readMemoryOptions, sampleSlice, type ChunkPlan, type MemoryOptions } from './memory.js';
import { clipBounds, clipTo, l2Norm, linfBox, perSample, projectL2, projectLinf, steepestDirection } from './project.js';
import { drain, driveAsync, type Tick } from './drive.js';
import { createRng, drawSeed } from './random.js';
import {
  assertBoolean, assertClip, assertFunction, assertImages, assertImageValues, assertKnownKeys, assertLabelsShape,
  assertMask, assertNumber, assertOneOf, assertOptionalNumber, assertOptionsObject, assertPerSample, describeValue,
} from './validate.js';
import { warnOnce } from './warnings.js';

export type Norm = 'linf' | 'l2';

/**
 * The most gradient evaluations (steps × restarts) a synchronous attack accepts: a synchronous call
 * cannot be stopped once started (no event can reach it), so it is bounded. PGD-1000 with 10 restarts
 * fits; longer runs use `pgdAsync`, which takes an AbortSignal and reports progress.
 */
export const MAX_SYNC_GRADIENTS = 10_000;
/** Bounds of the async attacks (they can be aborted, but 1e9 steps is a typo, not an experiment). */
export const MAX_ASYNC_STEPS = 1_000_000;
export const MAX_ASYNC_RESTARTS = 10_000;

/** A fully validated attack configuration. */
export interface AttackPlan {
  fn: string;
  /** The model as given (its identity keys the memory measurements). */
  model: Model;
  modelFn: ModelFn;
  lossFn: LossFn;
  task: Task;
  labels: tf.Tensor;
  epsilon: number[];
  stepSize: number[];
  norm: Norm;
  steps: number;
  randomStart: boolean;
  /** Clip the random start to the clip range (false: the first gradient is taken at the raw start, as the paper's code does). Default true. */
  clipStart?: boolean;
  restarts: number;
  targeted: boolean;
  /** The clip range, with `'batch'` already resolved to the whole batch's [min, max]. */
  clip: ClipRange;
  seed: number;
  memory: MemoryOptions;
  /** The region of interest `[N or 1, H, W, 1 or C]` (any dtype, 0/1): δ = 0 where it is 0; null for the whole image. */
  mask: tf.Tensor4D | null;
  /** Checks the model's logits against the labels (shapes only; the label values were read once). */
  checkLogits: (logits: tf.Tensor2D) => void;
}

/** Option keys every gradient attack accepts. */
export const COMMON_KEYS = ['epsilon', 'norm', 'targeted', 'clip', 'task', 'loss', 'mask', ...MEMORY_KEYS] as const;

/** The extra fields of a plan that each attack resolves from its own options. */
export type ExtraPlan = Pick<AttackPlan, 'stepSize' | 'steps' | 'randomStart' | 'clipStart' | 'restarts' | 'seed'>;

/**
 * Validates the arguments of a gradient attack and resolves the defaults.
 * `resolveExtra` supplies the per-attack fields (stepSize, steps, ...), validated there.
 */
export function planAttack(
  fn: string,
  model: Model,
  images: unknown,
  labels: unknown,
  rawOptions: unknown,
  knownKeys: readonly string[],
  resolveExtra: (o: Record<string, unknown>, epsilon: number[], n: number) => ExtraPlan,
): { plan: AttackPlan; images: tf.Tensor4D } {
  const o = assertOptionsObject(fn, rawOptions);
  assertKnownKeys(fn, o, knownKeys);
  const modelFn = toModelFn(model, fn);
  const x = assertImages(fn, 'images', images);
  assertModelInput(fn, 'images', model, x);
  const n = x.shape[0];
  const task = assertOneOf<Task>(fn, 'options.task', o.task, ['single-label', 'multi-label']) ?? 'single-label';
  const y = assertLabelsShape(fn, 'labels', labels, n, task);
  if (o.epsilon === undefined) throw new InvalidArgumentError(fn, 'options.epsilon', 'a finite number >= 0 or an array of them, one per image (it has no default: the budget is the experiment)', 'undefined');
  const epsilon = assertPerSample(fn, 'options.epsilon', o.epsilon, n, { min: 0 });
  const norm = assertOneOf<Norm>(fn, 'options.norm', o.norm, ['linf', 'l2']) ?? 'linf';
  const targeted = assertBoolean(fn, 'options.targeted', o.targeted) ?? false;
  const clipOption = (o.clip === undefined ? [0, 1] : o.clip) as ClipRange;
  assertClip(fn, 'options.clip', clipOption, x.shape[3]);
  assertFunction(fn, 'options.loss', o.loss);
  const lossFn = (o.loss as LossFn | undefined) ?? taskLoss(task);
  const memory = readMemoryOptions(fn, o);
  const extra = resolveExtra(o, epsilon, n);
  const mask = assertMask(fn, 'options.mask', o.mask, x.shape);

  const labelInfo = readLabels(fn, y, task);
  const range = assertImageValues(fn, 'images', x, clipOption);
  const clip: ClipRange = clipOption === 'batch' ? [range.min, range.max] : clipOption;
  warnEpsilonScale(fn, epsilon, norm, clip, x.shape);
  const checkLogits = (logits: tf.Tensor2D): void => {
    const c = logits.shape[1];
    if (y.rank === 2 && y.shape[1] !== c) {
      throw new InvalidArgumentError(fn, 'labels', `a [${n}, ${c}] tensor to match the model's ${c} logits`, `shape [${y.shape.join(',')}]`);
    }
    if (y.rank === 1 && labelInfo.maxIndex >= c) {
      throw new InvalidArgumentError(fn, 'labels', `class indices in [0, ${c - 1}] for the model's ${c} logits`, `index ${labelInfo.maxIndex}`);
    }
    if (task === 'single-label' && c < 2 && !o.loss) {
      throw new InvalidArgumentError(fn, 'model', "at least 2 logits for task 'single-label' (a single-logit sigmoid model is task 'multi-label' with one label)", `${c} logit`);
    }
  };
  return { plan: { fn, model, modelFn, lossFn, task, labels: y, epsilon, norm, targeted, clip, memory, mask, checkLogits, ...extra }, images: x };
}

/** Warns (once per process) when ε exceeds the scale of the clip range: ε = 8 on [0, 1] images. */
function warnEpsilonScale(fn: string, epsilon: number[], norm: Norm, clip: ClipRange, shape: readonly number[]): void {
  if (clip === null || clip === 'batch') return;
  const width = Array.isArray(clip) ? (clip as readonly number[])[1]! - (clip as readonly number[])[0]! : Math.max(...(clip as { min: readonly number[]; max: readonly number[] }).max.map((m, i) => m - (clip as { min: readonly number[] }).min[i]!));
  if (!(width > 0)) return;
  const scale = norm === 'linf' ? width : width * Math.sqrt(shape[1]! * shape[2]! * shape[3]!);
  const largest = Math.max(...epsilon);
  if (largest > scale) {
    warnOnce('MEDROBUST_EPSILON_SCALE', `${fn}: options.epsilon ${largest} exceeds the ${norm === 'linf' ? 'width' : 'L2 diameter'} of the clip range (${scale.toPrecision(4)}): every input in the range is allowed. ε is in the units of the images (8/255 on [0, 1] images, not 8).`);
  }
}

/** Reads the labels once: integer indices >= 0, or rows in [0,1] (summing to 1 for single-label). */
function readLabels(fn: string, labels: tf.Tensor, task: Task): { maxIndex: number } {
  const values = labels.dataSync();
  if (labels.rank === 1) {
    let maxIndex = 0;
    values.forEach((v, i) => {
      if (!Number.isInteger(v) || v < 0) throw new InvalidArgumentError(fn, `labels[${i}]`, 'a non-negative integer class index', describeValue(v));
      maxIndex = Math.max(maxIndex, v);
    });
    return { maxIndex };
  }
  const c = labels.shape[1]!;
  values.forEach((v, i) => {
    if (!(v >= 0 && v <= 1)) {
      throw new InvalidArgumentError(fn, `labels[${Math.floor(i / c)}][${i % c}]`, task === 'multi-label' ? 'a multi-hot value in [0, 1]' : 'a one-hot value in [0, 1]', describeValue(v));
    }
  });
  if (task === 'single-label') {
    for (let r = 0; r < values.length / c; r++) {
      let s = 0;
      for (let k = 0; k < c; k++) s += values[r * c + k]!;
      if (Math.abs(s - 1) > 1e-3) throw new InvalidArgumentError(fn, `labels[${r}]`, "a one-hot row summing to 1 (multi-hot labels need task: 'multi-label')", `a row summing to ${s}`);
    }
  }
  return { maxIndex: 0 };
}

/** Resolves `seed`: validated when given, drawn once otherwise. */
export function resolveSeed(fn: string, value: unknown): number {
  return assertOptionalNumber(fn, 'options.seed', value, { integer: true, min: 0 }) ?? drawSeed();
}

/** Validates a positive integer option with a default. */
export function intOption(fn: string, o: Record<string, unknown>, key: string, fallback: number, min = 1, max?: number): number {
  return o[key] === undefined ? fallback : assertNumber(fn, `options.${key}`, o[key], { integer: true, min, ...(max === undefined ? {} : { max }) });
}

/**
 * Rejects step and restart counts a synchronous attack cannot stop (see {@link MAX_SYNC_GRADIENTS}).
 * @throws {InvalidArgumentError} naming `steps` (or `restarts`) and the async alternative.
 */
export function assertSyncBudget(fn: string, steps: number, restarts: number, asyncName: string): void {
  if (steps * restarts <= MAX_SYNC_GRADIENTS) return;
  const argument = steps > MAX_SYNC_GRADIENTS || restarts === 1 ? 'options.steps' : 'options.restarts';
  throw new InvalidArgumentError(fn, argument,
    `at most ${MAX_SYNC_GRADIENTS} gradient evaluations (steps × restarts) for the synchronous ${fn}, which cannot be stopped once started; use ${asyncName}(…, { signal, onProgress }) for longer runs`,
    `steps ${steps} × restarts ${restarts}`);
}

// ---------------------------------------------------------------------------------------------
// Health checks: one read per chunk, no read per step.

const CODE_WORDS = ['', "the model's logits", 'the loss', 'the input gradient'] as const;
const QUANTITIES = ['', 'logits', 'loss', 'gradient'] as const;

/**
 * Device-side record of the first step whose logits, loss or gradient was NaN/Infinity (no read per
 * step), and of the first logits' range (to recognise probabilities). Read once per chunk.
 */
export class Health {
  private badStep: tf.Scalar = tf.keep(tf.scalar(Number.POSITIVE_INFINITY));
  private badCode: tf.Scalar = tf.keep(tf.scalar(0));
  private range: tf.Tensor1D | null = null;

  /** Records step `t` (inside a tidy): code 1 logits, 2 loss, 3 gradient; 0 when all finite. */
  record(t: number, logits: tf.Tensor, loss: tf.Tensor | null, grad: tf.Tensor | null, captureRange: boolean): void {
    const allFinite = (v: tf.Tensor): tf.Tensor => tf.all(tf.isFinite(tf.reshape(v, [-1])));
    let code: tf.Tensor = tf.where(allFinite(logits), tf.scalar(0), tf.scalar(1));
    if (loss) code = tf.where(tf.logicalAnd(tf.equal(code, 0), tf.logicalNot(allFinite(loss))), tf.scalar(2), code);
    if (grad) code = tf.where(tf.logicalAnd(tf.equal(code, 0), tf.logicalNot(allFinite(grad))), tf.scalar(3), code);
    const fresh = tf.logicalAnd(tf.greater(code, 0), tf.equal(this.badStep, Number.POSITIVE_INFINITY));
    const step = tf.keep(tf.where(fresh, tf.scalar(t), this.badStep) as tf.Scalar);
    const c = tf.keep(tf.where(fresh, code, this.badCode) as tf.Scalar);
    this.badStep.dispose();
    this.badCode.dispose();
    this.badStep = step;
    this.badCode = c;
    if (captureRange && !this.range) {
      const rowSums = tf.sum(logits, 1);
      this.range = tf.keep(tf.stack([tf.min(logits), tf.max(logits), tf.max(tf.abs(tf.sub(rowSums, 1)))]) as tf.Tensor1D);
    }
  }

  /** Reads the record once; throws {@link NonFiniteError} for a bad step, warns for probabilities. */
  check(fn: string, task: Task, where: string, stepName: (t: number) => string): void {
    const parts = [this.badStep, this.badCode, ...(this.range ? [this.range] : [])];
    const record = tf.tidy(() => tf.concat(parts.map((p) => tf.reshape(p, [-1]))));
    const v = record.dataSync();
    record.dispose();
    if (Number.isFinite(v[0]!)) {
      const code = v[1]! as 1 | 2 | 3;
      throw new NonFiniteError(fn, QUANTITIES[code], `${CODE_WORDS[code]} held NaN or Infinity at ${stepName(v[0]!)} for ${where}. ` +
        (code === 1 ? "Check the model's weights (a NaN learning rate trains NaN weights) and its inputs." : 'Check the loss function and the model; the attack would otherwise return its starting point unchanged.'));
    }
    if (v.length >= 5) {
      const [mn, mx, dev] = [v[2]!, v[3]!, v[4]!];
      if (mn >= 0 && mx <= 1 && (task === 'multi-label' || dev < 1e-3)) {
        warnOnce('MEDROBUST_PROBABILITIES', `${fn}: the model's outputs all lie in [0, 1]${task === 'single-label' ? ' and sum to 1 per image' : ''}: they look like probabilities, but attacks expect logits (a softmax/sigmoid output saturates and hides the gradient). Remove the final activation, or wrap the model to return logits.`);
      }
    }
  }

  dispose(): void {
    tf.dispose([this.badStep, this.badCode, ...(this.range ? [this.range] : [])]);
  }
}

// ---------------------------------------------------------------------------------------------
// The attack on one chunk, as a generator that yields after every step.

/** Per-sample "the attack succeeded": argmax changed (or hit the target); any label flipped (all hit). */
function successMask(logits: tf.Tensor2D, labels: tf.Tensor, task: Task, targeted: boolean): tf.Tensor1D {
  return tf.tidy(() => {
    if (task === 'multi-label') {
      const pred = tf.greater(logits, 0);
      const truth = tf.greater(labels, 0.5);
      return (targeted ? tf.all(tf.equal(pred, truth), 1) : tf.any(tf.notEqual(pred, truth), 1)) as tf.Tensor1D;
    }
    const pred = tf.argMax(logits, 1);
    const truth = labels.rank === 1 ? tf.cast(labels, 'int32') : tf.argMax(labels, 1);
    return (targeted ? tf.equal(pred, truth) : tf.notEqual(pred, truth)) as tf.Tensor1D;
  });
}

interface ChunkOptions {
  steps: number;
  restarts: number;
  randomStart: boolean;
  /** Capture the first logits' range (for the probabilities warning). */
  captureRange: boolean;
}

/**
 * Runs the attack on one chunk: optional random start, `steps` steepest-ascent steps of `stepSize`
 * projected on the ε-ball and clipped, repeated `restarts` times. Each sample keeps its best restart:
 * one that fools the model beats one that does not (as in AutoAttack); among equals, the higher loss
 * (lower when targeted) wins. Yields after every step; returns a new tensor owned by the caller.
 */
function* attackChunk(images: tf.Tensor4D, labels: tf.Tensor, epsilon: number[], stepSize: number[], plan: AttackPlan, run: ChunkOptions, health: Health, roi: tf.Tensor4D | null): Generator<void, tf.Tensor4D> {
  const { modelFn, lossFn, norm, targeted, checkLogits, task } = plan;
  const { steps, restarts, randomStart } = run;
  const rng = createRng(plan.seed);
  const keep: tf.Tensor[] = [];
  let adv: tf.Tensor4D | null = null;
  let best: tf.Tensor4D | null = null;
  let bestLoss: tf.Tensor | null = null;
  let bestWon: tf.Tensor | null = null;
  const n = images.shape[0];
  try {
    const alpha = perSample(stepSize);
    // With a region of interest, ε is 0 outside it: the box, the random start and the steps all vanish there.
    const mask = roi ? tf.cast(roi, 'float32') as tf.Tensor4D : null;
    const eps = perSample(epsilon);
    keep.push(eps, alpha, ...(mask ? [mask] : []));
    const bounds = clipBounds(plan.clip, images);
    if (bounds) keep.push(bounds.lower, bounds.upper);
    const project = norm === 'linf' ? projectLinf : projectL2;
    const signedAlpha = tf.mul(alpha, targeted ? -1 : 1);
    keep.push(signedAlpha);
    const box = norm === 'linf' ? linfBox(images, eps, mask, bounds) : null;
    if (box) keep.push(box.lower, box.upper);
    const forward = (x: tf.Tensor): { loss: tf.Scalar; aux: tf.Tensor[] } => {
      const logits = modelFn(x as tf.Tensor4D);
      checkLogits(logits);
      return { loss: totalLoss(lossFn(logits, labels)), aux: [logits] };
    };

    let t = 0;
    for (let r = 0; r < restarts; r++) {
      adv = randomStart ? tf.tidy(() => {
        const start = project(tf.add(images, randomDelta(images, eps, norm, rng, mask)) as tf.Tensor4D, images, eps);
        return plan.clipStart === false ? start : clipTo(start, bounds);
      }) : tf.clone(images);
      for (let s = 0; s < steps; s++, t++) {
        const current: tf.Tensor4D = adv;
        const next: tf.Tensor4D = tf.tidy(() => {
          const { loss, grad, aux } = withInputGradientOnly(() => inputGradient(forward, current));
          health.record(t, aux[0]!, loss, grad, run.captureRange && t === 0);
          const step = tf.mul(signedAlpha, steepestDirection((mask ? tf.mul(grad, mask) : grad) as tf.Tensor4D, norm));
          const moved = tf.add(current, step) as tf.Tensor4D;
          // L∞: projection and clip are one clamp to a box computed once per call.
          return box ? (tf.minimum(tf.maximum(moved, box.lower), box.upper) as tf.Tensor4D) : clipTo(project(moved, images, eps), bounds);
        });
        current.dispose();
        adv = next;
        yield;
      }
      if (restarts === 1) {
        const out: tf.Tensor4D = adv;
        adv = null;
        return out;
      }
      const finalAdv: tf.Tensor4D = adv;
      const [loss, won] = tf.tidy(() => {
        const logits = modelFn(finalAdv);
        health.record(-1 - r, logits, null, null, false);
        const l = lossFn(logits, labels);
        return [l.rank === 0 ? tf.fill([n], l.dataSync()[0]!) : l, tf.cast(successMask(logits, labels, task, targeted), 'float32')];
      });
      if (best === null) {
        best = finalAdv;
        bestLoss = loss!;
        bestWon = won!;
        adv = null;
        continue;
      }
      const prevBest: tf.Tensor4D = best;
      const prevLoss: tf.Tensor = bestLoss!;
      const prevWon: tf.Tensor = bestWon!;
      const [nextBest, nextLoss, nextWon] = tf.tidy((): tf.Tensor[] => {
        const higher = targeted ? tf.less(loss!, prevLoss) : tf.greater(loss!, prevLoss);
        // Success first, then loss: a restart that fools the model beats one that only raises the loss.
        const better: tf.Tensor = tf.logicalOr(tf.greater(won!, prevWon), tf.logicalAnd(tf.equal(won!, prevWon), higher));
        const mask: tf.Tensor = tf.broadcastTo(tf.reshape(better, [-1, 1, 1, 1]), images.shape);
        return [tf.where(mask, finalAdv, prevBest) as tf.Tensor4D, tf.where(better, loss!, prevLoss), tf.where(better, won!, prevWon)];
      });
      tf.dispose([prevBest, prevLoss, prevWon, finalAdv, loss!, won!]);
      adv = null;
      best = nextBest! as tf.Tensor4D;
      bestLoss = nextLoss!;
      bestWon = nextWon!;
    }
    const out = best!;
    best = null;
    return out;
  } finally {
    tf.dispose([...keep, ...(adv ? [adv] : []), ...(best ? [best] : []), ...(bestLoss ? [bestLoss] : []), ...(bestWon ? [bestWon] : [])]);
  }
}

/**
 * A random start inside the ball. One noise pattern is drawn per restart and scaled by each
 * sample's ε, so a sample's result never depends on the batch it is in (batch consistency).
 * L∞: U(−ε, ε) per value. L2: uniform in the ball (Gaussian direction, radius ε·u^{1/d}).
 */
function randomDelta(images: tf.Tensor4D, eps: tf.Tensor4D, norm: Norm, rng: ReturnType<typeof createRng>, mask: tf.Tensor4D | null = null): tf.Tensor4D {
  const [, h, w, c] = images.shape;
  if (norm === 'linf') {
    const u = tf.randomUniform([1, h, w, c], -1, 1, 'float32', rng.nextSeed());
    return tf.mul(eps, mask ? tf.mul(u, mask) : u) as tf.Tensor4D;
  }
  const drawn = tf.randomNormal([1, h, w, c], 0, 1, 'float32', rng.nextSeed()) as tf.Tensor4D;
  // With a region of interest the direction is drawn inside it (one per image, as the masks differ).
  const direction = (mask ? tf.mul(drawn, mask) : drawn) as tf.Tensor4D;
  const radius = Math.pow(rng.next(), 1 / (h * w * c));
  return tf.mul(eps, tf.mul(radius, tf.div(direction, tf.maximum(l2Norm(direction), 1e-12)))) as tf.Tensor4D;
}

// ---------------------------------------------------------------------------------------------
// The whole batch: chunk plan, then the chunks one after the other.


/** The rows of a region-of-interest mask for samples `[start, start + count)` (a shared `[1, …]` mask as is). */
export function maskSlice(mask: tf.Tensor4D | null, n: number, start: number, count: number): tf.Tensor4D | null {
  if (!mask) return null;
  return mask.shape[0] === n ? sampleSlice(mask, start, count) : mask;
}

function planFor(images: tf.Tensor4D, plan: AttackPlan): ChunkPlan {
  const n = images.shape[0];
  const sampleBytes = (images.size / n) * 4;
  const probe = (k: number): void => {
    const health = new Health();
    try {
      const x = sampleSlice(images, 0, k);
      const y = sampleSlice(plan.labels, 0, k);
      // The task's own loss: a custom loss is [N]-sized work next to the model, and is not called by the probe.
      const probePlan = { ...plan, lossFn: taskLoss(plan.task) };
      const m = maskSlice(plan.mask, n, 0, k);
      const g = attackChunk(x, y, plan.epsilon.slice(0, k), plan.stepSize.slice(0, k), probePlan, { steps: 1, restarts: 1, randomStart: false, captureRange: false }, health, m);
      let r = g.next();
      while (!r.done) r = g.next();
      r.value.dispose();
    } finally {
      health.dispose();
    }
  };
  // Kept across chunks: each chunk's result, and their concatenation at the end.
  return planChunks(plan.fn, n, plan.memory, { model: plan.model, kind: 'input-gradient', sampleShape: images.shape.slice(1) }, probe, 2 * sampleBytes);
}

/**
 * The whole attack as a generator: yields a tick after every step of every chunk; returns the
 * adversarial batch (a new tensor owned by the caller). Stopped early (`return()`), it frees everything.
 */
export function* attackBatch(images: tf.Tensor4D, plan: AttackPlan): Generator<Tick, tf.Tensor4D> {
  const n = images.shape[0];
  const chunks = planFor(images, plan);
  const chunkCount = Math.ceil(n / chunks.size);
  const total = chunkCount * plan.restarts * plan.steps;
  const parts: tf.Tensor4D[] = [];
  let done = 0;
  let result: tf.Tensor4D | null = null;
  const stepName = (t: number): string => (t < 0
    ? `the final iterate${plan.restarts > 1 ? ` of restart ${-t}` : ''}`
    : `step ${(t % plan.steps) + 1} of ${plan.steps}${plan.restarts > 1 ? `, restart ${Math.floor(t / plan.steps) + 1}` : ''}`);
  try {
    for (let start = 0, c = 0; start < n; start += chunks.size, c++) {
      const count = Math.min(chunks.size, n - start);
      const health = new Health();
      const x = sampleSlice(images, start, count);
      const y = sampleSlice(plan.labels, start, count);
      const m = maskSlice(plan.mask, n, start, count);
      const g = attackChunk(x, y, plan.epsilon.slice(start, start + count), plan.stepSize.slice(start, start + count), plan,
        { steps: plan.steps, restarts: plan.restarts, randomStart: plan.randomStart, captureRange: c === 0 }, health, m);
      try {
        let r = g.next();
        while (!r.done) {
          done++;
          yield { done, total };
          r = g.next();
        }
        parts.push(r.value);
        health.check(plan.fn, plan.task, chunkCount === 1 ? `images 0–${n - 1}` : `images ${start}–${start + count - 1}`, stepName);
      } finally {
        g.return(undefined as never);
        health.dispose();
        if (x !== images) x.dispose();
        if (y !== plan.labels) y.dispose();
        if (m && m !== plan.mask) m.dispose();
      }
    }
    result = parts.length === 1 ? parts[0]! : (tf.concat(parts, 0) as tf.Tensor4D);
    return result;
  } catch (err) {
    throw asMemoryBudgetError(plan.fn, chunks, err);
  } finally {
    for (const p of parts) if (p !== result) p.dispose();
  }
}

/** Runs the whole attack synchronously (inside the caller's {@link entry} scope). */
export function runAttack(images: tf.Tensor4D, plan: AttackPlan): tf.Tensor4D {
  return drain(attackBatch(images, plan));
}


/** Runs the whole attack, awaiting between steps: stops with {@link AbortError} on `signal`, reports `onProgress`. */
export function runAttackAsync(images: tf.Tensor4D, plan: AttackPlan, signal: AbortSignal | undefined, onProgress: ((p: Progress) => void) | undefined): Promise<tf.Tensor4D> {
  return driveAsync(plan.fn, attackBatch(images, plan), signal, onProgress);
}
