import * as tf from '@tensorflow/tfjs-core';
import { InvalidArgumentError } from '../errors.js';
import { drain, driveAsync, type Tick } from '../internal/drive.js';
import {
  assertSyncBudget, COMMON_KEYS, Health, intOption, MAX_ASYNC_RESTARTS, MAX_ASYNC_STEPS, maskSlice, planAttack, resolveSeed, type AttackPlan,
} from '../internal/gradientAttack.js';
import { ascentLoss, goalLabels, goalSuccess, parseGoal, rankedClass, type AscentLoss, type Goal, type MultiLabelGoal } from '../internal/goals.js';
import { inputGradient } from '../internal/inputGradient.js';
import { withInputGradientOnly } from '../internal/inputGradientOnly.js';
import { asMemoryBudgetError, planChunks, sampleSlice } from '../internal/memory.js';
import { clipBounds, clipTo, linfBox, perSample, projectL2, steepestDirection } from '../internal/project.js';
import { createRng } from '../internal/random.js';
import { entry, entryAsync } from '../internal/scope.js';
import { assertFunction, assertNumber, assertOneOf, assertOptionsObject, assertSignal, describeValue } from '../internal/validate.js';
import { warnOnce } from '../internal/warnings.js';
import type { ClipRange, MemoryOptions, Model, Progress, Task } from '../types.js';

/**
 * Options of {@link apgd}.
 * @category Attacks
 */
export interface ApgdOptions extends MemoryOptions {
  /** The budget, in the units of `images`: one number, or one per image. Required (no default). */
  epsilon: number | readonly number[];
  /**
   * The threat model: `'linf'` (sign steps, box projection) or `'l2'` (normalised-gradient steps, ball
   * projection).
   * @defaultValue 'linf'
   */
  norm?: 'linf' | 'l2';
  /**
   * The loss APGD ascends (per image, so an image's result never depends on its batch):
   * - `'ce'`: cross-entropy (softmax; multi-label: sigmoid BCE, aimed at `goal`);
   * - `'margin'`: the goal margin, positive exactly when the attack succeeds: max_{j≠y} z_j − z_y for
   *   single-label (defined for 2 classes), −(2y − 1)·z for a single logit, and per finding for
   *   multi-label (see `goal`; for goals that need every finding, 'flip-all' and target sets, the sum of
   *   the margins of the findings still on the wrong side, so that all of them move at each step);
   * - `'dlr'`: the Difference of Logits Ratio (Croce & Hein 2020, eq. 6), invariant to shifting and
   *   scaling the logits; single-label with C ≥ 3;
   * - `'dlr-targeted'`: the targeted DLR of APGD-T (their eq. 7), aimed at the class ranked `targetRank`
   *   on the clean image; an untargeted attack (success: the argmax leaves the label); C ≥ 4 (its
   *   denominator holds the 4th largest logit; with 3 classes use `'dlr'`).
   * @defaultValue 'ce'
   */
  loss?: 'ce' | 'margin' | 'dlr' | 'dlr-targeted';
  /**
   * Iterations N_iter. The step-size checkpoints are placed as in the reference implementation:
   * after 0.22·N_iter iterations, then shrinking by 0.03·N_iter down to 0.06·N_iter. The synchronous
   * {@link apgd} accepts steps × restarts ≤ 10000; {@link apgdAsync} up to 1e6 steps.
   * @defaultValue 100
   */
  steps?: number;
  /**
   * Runs from fresh random starts. A restart runs only on the images no earlier run has fooled (as in
   * AutoAttack); each image keeps the first run that fooled it, or else its highest-loss point.
   * @defaultValue 1
   */
  restarts?: number;
  /**
   * ρ: at a checkpoint the step size of an image halves (and it restarts from its best point) when its
   * loss rose in at most ρ of the steps since the previous checkpoint, or when neither its step size nor
   * its best loss changed since then.
   * @defaultValue 0.75
   */
  rho?: number;
  /**
   * α, the weight of the new step against the previous move: x ← P(x + α(z − x) + (1 − α)(x − x_prev))
   * with z = P(x + η·direction). The first step takes none.
   * @defaultValue 0.75
   */
  momentum?: number;
  /**
   * What each image returns: `'success'` the last point of the first run that met the goal, or else its
   * highest-loss point (restarts run only on the images not yet fooled); `'loss'` its highest-loss point
   * over all runs (every restart runs on every image; AutoAttack's `best_loss=True`), e.g. to compare
   * losses or to train on.
   * @defaultValue 'success'
   */
  select?: 'success' | 'loss';
  /**
   * With `loss: 'dlr-targeted'`: the rank of the target class in the clean logits (2 = the runner-up).
   * AutoAttack's APGD-T runs ranks 2 to 10 (see {@link evaluateWorstCase}).
   * @defaultValue 2
   */
  targetRank?: number;
  /**
   * When true, `labels` are the targets (a class, or for multi-label a whole label set to reach) and the
   * loss is descended. Not with the DLR losses.
   * @defaultValue false
   */
  targeted?: boolean;
  /**
   * Multi-label only: what the attack tries to reach (see {@link MultiLabelGoal}).
   * @defaultValue 'flip-any'
   */
  goal?: MultiLabelGoal;
  /**
   * Multi-label decision threshold on sigmoid probabilities (a finding is predicted when p > threshold).
   * @defaultValue 0.5
   */
  threshold?: number;
  /**
   * The valid range every iterate is clipped to (see {@link ClipRange}).
   * @defaultValue [0, 1]
   */
  clip?: ClipRange;
  /**
   * The task, which picks the label format.
   * @defaultValue 'single-label'
   */
  task?: Task;
  /**
   * A region of interest: a 0/1 tensor `[N or 1, H, W, 1 or C]`, 1 where the image may change; the
   * perturbation is exactly 0 elsewhere. Borrowed.
   * @defaultValue the whole image
   */
  mask?: tf.Tensor4D;
  /**
   * The seed of the random starts (one pattern per restart, scaled to each image's ball).
   * @defaultValue drawn at random
   */
  seed?: number;
}

/**
 * Options of {@link apgdAsync}: those of {@link apgd}, plus a way to stop and to watch a long run.
 * @category Attacks
 */
export interface ApgdAsyncOptions extends ApgdOptions {
  /**
   * Stops the attack between two steps with an {@link AbortError}; everything made is freed.
   * @defaultValue none
   */
  signal?: AbortSignal;
  /**
   * Called after every step (phase `'step'`; `total` = chunks × restarts × steps, an upper bound).
   * @defaultValue none
   */
  onProgress?: (progress: Progress) => void;
}

export const APGD_KEYS = [...COMMON_KEYS, 'steps', 'restarts', 'rho', 'momentum', 'targetRank', 'goal', 'threshold', 'select', 'seed'] as const;
const ASYNC_KEYS = [...APGD_KEYS, 'signal', 'onProgress'] as const;

/** A validated APGD configuration. */
export interface ApgdPlan {
  base: AttackPlan;
  loss: AscentLoss;
  goal: Goal;
  rho: number;
  momentum: number;
  targetRank: number;
  select: 'success' | 'loss';
}

/** One step of a run, for the parity suite (reads the device: tests only). */
export interface ApgdTrace {
  restart: number;
  /** −1 for the starting point, then 0 … steps − 1. */
  step: number;
  /** The iterate. */
  x: Float32Array;
  /** The loss at the iterate, per image. */
  loss: Float32Array;
  /** The step size η per image, after this step's checkpoint. */
  stepSize: Float32Array;
  /** The best loss so far, per image. */
  lossBest: Float32Array;
}

/** Validates the arguments of apgd/apgdAsync. */
export function planApgd(fn: string, model: Model, images: unknown, labels: unknown, options: unknown, keys: readonly string[], limits: { steps?: number; restarts?: number }): { plan: ApgdPlan; images: tf.Tensor4D } {
  const o = assertOptionsObject(fn, options);
  const { loss, rho, momentum, targetRank, goal, threshold, select, ...rest } = o;
  const { plan: base, images: x } = planAttack(fn, model, images, labels, rest, keys, (r, epsilon) => {
    const steps = intOption(fn, r, 'steps', 100, 1, limits.steps);
    const restarts = intOption(fn, r, 'restarts', 1, 1, limits.restarts);
    if (limits.steps === undefined) assertSyncBudget(fn, steps, restarts, 'apgdAsync');
    return { steps, restarts, stepSize: epsilon.map((e) => 2 * e), randomStart: true, seed: resolveSeed(fn, r.seed) };
  });
  if (typeof loss === 'function') throw new InvalidArgumentError(fn, 'options.loss', "one of 'ce', 'margin', 'dlr', 'dlr-targeted' (APGD's losses; pgd takes a custom loss function)", 'a function');
  const lossKind = assertOneOf<AscentLoss>(fn, 'options.loss', loss, ['ce', 'margin', 'dlr', 'dlr-targeted']) ?? 'ce';
  const task = base.task;
  if ((lossKind === 'dlr' || lossKind === 'dlr-targeted') && task !== 'single-label') {
    throw new InvalidArgumentError(fn, 'options.loss', "'ce' or 'margin' for task 'multi-label' (DLR compares classes of one softmax)", `'${lossKind}'`);
  }
  if ((lossKind === 'dlr' || lossKind === 'dlr-targeted') && base.targeted) {
    throw new InvalidArgumentError(fn, 'options.targeted', `false with loss '${lossKind}' (APGD-T's targeted DLR is an untargeted attack aimed at the class ranked targetRank)`, 'true');
  }
  const rhoValue = rho === undefined ? 0.75 : assertNumber(fn, 'options.rho', rho, { min: 0, max: 1 });
  const momentumValue = momentum === undefined ? 0.75 : assertNumber(fn, 'options.momentum', momentum, { min: 0, max: 1 });
  if (targetRank !== undefined && lossKind !== 'dlr-targeted') throw new InvalidArgumentError(fn, 'options.targetRank', "no value unless loss is 'dlr-targeted'", describeValue(targetRank));
  const rank = targetRank === undefined ? 2 : assertNumber(fn, 'options.targetRank', targetRank, { integer: true, min: 2 });
  if (threshold !== undefined && task !== 'multi-label') throw new InvalidArgumentError(fn, 'options.threshold', "no value unless task is 'multi-label'", describeValue(threshold));
  const thr = threshold === undefined ? 0.5 : assertNumber(fn, 'options.threshold', threshold, { min: 0, max: 1, minExclusive: true, maxExclusive: true });
  const classes = base.labels.rank === 2 ? base.labels.shape[1]! : 0;
  const g = parseGoal(fn, 'options.goal', goal, task, base.targeted, classes, thr);
  // The class-count rules of the losses, checked against the model's logits at the first forward pass.
  const checkLogits = base.checkLogits;
  base.checkLogits = (logits) => {
    checkLogits(logits);
    const c = logits.shape[1];
    if (lossKind === 'dlr' && c < 3) throw new InvalidArgumentError(fn, 'options.loss', `'ce' or 'margin' for a model with ${c} logit${c === 1 ? '' : 's'} (DLR needs 3 classes: its denominator is z_π1 − z_π3)`, "'dlr'");
    if (lossKind === 'dlr-targeted' && c < 4) throw new InvalidArgumentError(fn, 'options.loss', `${c === 3 ? "'dlr', 'ce' or 'margin'" : "'ce' or 'margin'"} for a model with ${c} logit${c === 1 ? '' : 's'} (the targeted DLR needs 4 classes: its denominator is z_π1 − ½(z_π3 + z_π4))`, "'dlr-targeted'");
    if (lossKind === 'dlr-targeted' && rank > c) throw new InvalidArgumentError(fn, 'options.targetRank', `a rank in [2, ${c}] for the model's ${c} classes`, String(rank));
  };
  const selectValue = assertOneOf(fn, 'options.select', select, ['success', 'loss'] as const) ?? 'success';
  return { plan: { base, loss: lossKind, goal: g, rho: rhoValue, momentum: momentumValue, targetRank: rank, select: selectValue }, images: x };
}

/**
 * Images whose input gradient is exactly 0, or holds NaN/Infinity, at the starting point, among those
 * the attack has not already fooled there (device counts, read once per chunk).
 */
export class GradientCounts {
  zero: tf.Scalar = tf.keep(tf.scalar(0));
  nonFinite: tf.Scalar = tf.keep(tf.scalar(0));

  /** Adds the counts of `grad` `[N, …]` over the images where `open` `[N]` (bool) holds. */
  add(grad: tf.Tensor4D, open: tf.Tensor1D): void {
    const flat = tf.reshape(grad, [grad.shape[0], -1]);
    const finite = tf.isFinite(flat);
    const bad = tf.logicalAnd(open, tf.any(tf.logicalNot(finite), 1));
    const flatZero = tf.equal(tf.max(tf.abs(tf.where(finite, flat, tf.zerosLike(flat))), 1), 0);
    const zero = tf.logicalAnd(tf.logicalAnd(open, flatZero), tf.logicalNot(bad));
    const z = tf.keep(tf.add(this.zero, tf.sum(tf.cast(zero, 'float32'))) as tf.Scalar);
    const b = tf.keep(tf.add(this.nonFinite, tf.sum(tf.cast(bad, 'float32'))) as tf.Scalar);
    this.zero.dispose();
    this.nonFinite.dispose();
    this.zero = z;
    this.nonFinite = b;
  }

  read(): { zero: number; nonFinite: number } {
    return { zero: this.zero.dataSync()[0]!, nonFinite: this.nonFinite.dataSync()[0]! };
  }

  dispose(): void {
    tf.dispose([this.zero, this.nonFinite]);
  }
}

/** The checkpoint lengths of the reference implementation (autopgd_base.py): first, decrement, floor. */
export function checkpointSchedule(steps: number): { first: number; decrement: number; minimum: number } {
  return { first: Math.max(Math.floor(0.22 * steps), 1), decrement: Math.max(Math.floor(0.03 * steps), 1), minimum: Math.max(Math.floor(0.06 * steps), 1) };
}

interface RunResult { best: tf.Tensor4D; lossBest: tf.Tensor1D; bestAdv: tf.Tensor4D; fooled: tf.Tensor1D }

/**
 * One run of APGD (Croce & Hein 2020, Alg. 1) on `images`, from the start drawn from `pattern`
 * (`[1, H, W, C]`, scaled to each image's ball). Yields after every step. Returns the highest-loss
 * point, its loss, the last point that met the goal and whether one did (float 0/1), all new tensors.
 */
function* singleRun(images: tf.Tensor4D, labels: tf.Tensor, epsilon: number[], mask: tf.Tensor4D | null, targets: tf.Tensor1D | null, pattern: tf.Tensor4D,
  p: ApgdPlan, health: Health, counts: GradientCounts | null, restart: number, tick: () => Tick, trace?: (t: ApgdTrace) => void): Generator<Tick, RunResult> {
  const { modelFn, checkLogits, norm, steps } = p.base;
  const n = images.shape[0];
  const state = new Map<string, tf.Tensor>();
  const own: tf.Tensor[] = [];
  const get = <T extends tf.Tensor>(k: string): T => state.get(k) as T;
  const put = (k: string, t: tf.Tensor): void => {
    const old = state.get(k);
    state.set(k, t);
    if (old && old !== t && ![...state.values()].includes(old)) old.dispose();
  };
  try {
    const eps = perSample(epsilon);
    own.push(eps);
    const bounds = clipBounds(p.base.clip, images);
    if (bounds) own.push(bounds.lower, bounds.upper);
    const box = norm === 'linf' ? linfBox(images, eps, mask, bounds) : null;
    if (box) own.push(box.lower, box.upper);
    const project = (y: tf.Tensor4D): tf.Tensor4D => (box
      ? tf.minimum(tf.maximum(y, box.lower), box.upper) as tf.Tensor4D
      : clipTo(projectL2(y, images, eps), bounds));
    const perImage = (v: tf.Tensor): tf.Tensor4D => tf.reshape(v, [n, 1, 1, 1]) as tf.Tensor4D;

    // The start: x + ε·t/‖t‖ (the L∞ or L2 norm of the pattern inside the region), clipped.
    const x0 = tf.tidy(() => {
      const tiled = tf.tile(pattern, [n, 1, 1, 1]);
      const t = mask ? tf.mul(tiled, mask) : tiled;
      const flat = tf.reshape(t, [n, -1]);
      const size = norm === 'linf' ? tf.max(tf.abs(flat), 1) : tf.sqrt(tf.sum(tf.square(flat), 1));
      // On the ball's surface already; the projection only absorbs rounding.
      return project(tf.add(images, tf.mul(eps, tf.div(t, tf.add(perImage(size), 1e-12)))) as tf.Tensor4D);
    });
    let t = restart * (steps + 1);
    const forward = (x: tf.Tensor): { loss: tf.Scalar; aux: tf.Tensor[] } => {
      const logits = modelFn(x as tf.Tensor4D);
      checkLogits(logits);
      const l = ascentLoss(p.loss, logits, labels, p.goal, targets ?? undefined);
      return { loss: tf.sum(l) as tf.Scalar, aux: [logits, l] };
    };
    /** Loss `[N]`, gradient (non-finite values read as 0; masked), and success at `x`. */
    const evaluate = (x: tf.Tensor4D, first: boolean): [tf.Tensor1D, tf.Tensor4D, tf.Tensor1D] => tf.tidy(() => {
      const { grad, aux } = withInputGradientOnly(() => inputGradient(forward, x));
      const [logits, l] = aux as [tf.Tensor2D, tf.Tensor1D];
      health.record(t, logits, l, null, first && restart === 0);
      let g = tf.where(tf.isFinite(grad), grad, tf.zerosLike(grad)) as tf.Tensor4D;
      if (mask) g = tf.mul(g, mask) as tf.Tensor4D;
      const won = goalSuccess(logits, labels, p.goal);
      if (first && counts) counts.add((mask ? tf.mul(grad, mask) : grad) as tf.Tensor4D, tf.logicalNot(won) as tf.Tensor1D);
      return [l, g, tf.cast(won, 'float32') as tf.Tensor1D];
    });

    put('xAdv', x0);
    const [loss0, grad0, won0] = evaluate(x0, true);
    t++;
    put('xOld', tf.clone(x0));
    put('grad', grad0);
    put('xBest', tf.clone(x0));
    put('gradBest', tf.clone(grad0));
    put('lossBest', loss0);
    put('lossPrev', tf.clone(loss0));
    put('lossBestLast', tf.clone(loss0));
    put('reducedLast', tf.ones([n]));
    put('counter', tf.zeros([n]));
    put('bestAdv', tf.clone(x0));
    put('fooled', won0);
    put('eta', tf.mul(2, eps));
    const emit = (step: number, x: Float32Array | null, loss: tf.Tensor): void => {
      if (!trace || !x) return;
      trace({ restart, step, x, loss: loss.dataSync() as Float32Array, stepSize: tf.tidy(() => tf.reshape(get('eta'), [n])).dataSync() as Float32Array, lossBest: get('lossBest').dataSync() as Float32Array });
    };
    emit(-1, trace ? x0.dataSync() as Float32Array : null, loss0);

    const schedule = checkpointSchedule(steps);
    let window = schedule.first;
    let sinceCheck = 0;
    for (let i = 0; i < steps; i++) {
      const a = i > 0 ? p.momentum : 1;
      const xAdv = get<tf.Tensor4D>('xAdv');
      const xOld = get<tf.Tensor4D>('xOld');
      const grad = get<tf.Tensor4D>('grad');
      const eta = get<tf.Tensor4D>('eta');
      const next = tf.tidy(() => {
        const z = project(tf.add(xAdv, tf.mul(eta, steepestDirection(grad, norm))) as tf.Tensor4D);
        if (a === 1) return z;
        return project(tf.add(tf.add(xAdv, tf.mul(a, tf.sub(z, xAdv))), tf.mul(1 - a, tf.sub(xAdv, xOld))) as tf.Tensor4D);
      });
      state.set('xOld', xAdv);
      xOld.dispose();
      state.set('xAdv', next);
      const [loss, g, won] = evaluate(next, false);
      t++;
      put('grad', g);
      const updated = tf.tidy(() => {
        const wonMask = tf.greater(won, 0);
        const improved = tf.greater(loss, get('lossBest'));
        return {
          bestAdv: tf.where(perImage(wonMask), next, get('bestAdv')),
          fooled: tf.maximum(get('fooled'), won),
          counter: tf.add(get('counter'), tf.cast(tf.greater(loss, get('lossPrev')), 'float32')),
          lossPrev: tf.clone(loss),
          xBest: tf.where(perImage(improved), next, get('xBest')),
          gradBest: tf.where(perImage(improved), g, get('gradBest')),
          lossBest: tf.where(improved, loss, get('lossBest')),
        };
      });
      for (const [k, v] of Object.entries(updated)) put(k, v);
      won.dispose();
      const iterate = trace ? next.dataSync().slice() as Float32Array : null;
      sinceCheck++;
      if (sinceCheck === window) {
        // Checkpoint: halve η where the loss rose in at most ρ·window steps, or where neither η nor the
        // best loss changed since the last checkpoint; those images restart from their best point.
        const k = window;
        const after = tf.tidy(() => {
          const oscillating = tf.lessEqual(get('counter'), k * p.rho);
          const stalled = tf.logicalAnd(tf.equal(get('reducedLast'), 0), tf.greaterEqual(get('lossBestLast'), get('lossBest')));
          const reduce = tf.logicalOr(oscillating, stalled);
          const r4 = perImage(reduce);
          return {
            eta: tf.where(r4, tf.div(get('eta'), 2), get('eta')),
            xAdv: tf.where(r4, get('xBest'), get('xAdv')),
            grad: tf.where(r4, get('gradBest'), get('grad')),
            reducedLast: tf.cast(reduce, 'float32'),
            lossBestLast: tf.clone(get('lossBest')),
            counter: tf.zerosLike(get('counter')),
          };
        });
        for (const [key, v] of Object.entries(after)) put(key, v);
        window = Math.max(window - schedule.decrement, schedule.minimum);
        sinceCheck = 0;
      }
      emit(i, iterate, loss);
      loss.dispose();
      yield tick();
    }
    const result: RunResult = { best: get('xBest'), lossBest: get('lossBest'), bestAdv: get('bestAdv'), fooled: get('fooled') };
    for (const k of ['xBest', 'lossBest', 'bestAdv', 'fooled']) state.delete(k);
    return result;
  } finally {
    tf.dispose([...new Set(state.values())]);
    tf.dispose(own);
  }
}

/** Indices where `flags` (float 0/1) is 0. */
function unfooled(flags: tf.Tensor): number[] {
  const v = flags.dataSync();
  const out: number[] = [];
  for (let i = 0; i < v.length; i++) if (v[i] === 0) out.push(i);
  return out;
}

/**
 * APGD with restarts on one chunk. Restart r draws its start pattern from the seeded generator whatever
 * the chunk, and runs on the images no earlier restart fooled, so an image's result does not depend on
 * its chunk. Returns the adversarial images: the first fooling run's last fooling point, or else the
 * highest-loss point over the runs.
 */
export function* apgdChunk(images: tf.Tensor4D, labels: tf.Tensor, epsilon: number[], roi: tf.Tensor4D | null, p: ApgdPlan, health: Health, counts: GradientCounts | null, tick: () => Tick, trace?: (t: ApgdTrace) => void): Generator<Tick, tf.Tensor4D> {
  const { restarts, seed, norm } = p.base;
  const [n, h, w, c] = images.shape;
  const rng = createRng(seed);
  const keep: tf.Tensor[] = [];
  let out: tf.Tensor4D | null = null;
  let outLoss: tf.Tensor1D | null = null;
  let outFooled: tf.Tensor1D | null = null;
  try {
    const y = goalLabels(p.goal, labels);
    if (y !== labels) keep.push(y);
    const mask = roi ? tf.cast(roi, 'float32') as tf.Tensor4D : null;
    if (mask) keep.push(mask);
    let targets: tf.Tensor1D | null = null;
    if (p.loss === 'dlr-targeted') {
      targets = tf.tidy(() => {
        const z = p.base.modelFn(images);
        p.base.checkLogits(z);
        return rankedClass(z, p.targetRank);
      });
      keep.push(targets);
    }
    for (let r = 0; r < restarts; r++) {
      const pattern = tf.tidy(() => (norm === 'linf'
        ? tf.randomUniform([1, h, w, c], -1, 1, 'float32', rng.nextSeed())
        : tf.randomNormal([1, h, w, c], 0, 1, 'float32', rng.nextSeed())) as tf.Tensor4D);
      try {
        const idx: number[] | null = r === 0 || p.select === 'loss' ? null : unfooled(outFooled!);
        if (idx !== null && idx.length === 0) break;
        const pick = <T extends tf.Tensor>(t: T | null): T | null => (t === null ? null : idx === null ? t : (tf.gather(t, idx) as T));
        const xs = pick(images)!;
        const ys = pick(y)!;
        const ms = mask && mask.shape[0] === n ? pick(mask) : mask;
        const ts = pick(targets);
        const picked = [xs, ys, ms, ts].filter((v): v is tf.Tensor => v !== null && v !== images && v !== y && v !== mask && v !== targets);
        let run: RunResult | null = null;
        try {
          run = yield* singleRun(xs, ys, idx === null ? epsilon : idx.map((i) => epsilon[i]!), ms, ts, pattern, p, health, r === 0 ? counts : null, r, tick, trace);
          const res: RunResult = run;
          if (out === null) {
            out = p.select === 'loss' ? tf.clone(res.best) : tf.tidy(() => tf.where(tf.reshape(tf.greater(res.fooled, 0), [-1, 1, 1, 1]), res.bestAdv, res.best) as tf.Tensor4D);
            outLoss = tf.clone(res.lossBest);
            outFooled = tf.clone(res.fooled);
          } else {
            // Scatter the subset's results back: gather them to full size, then select the members.
            const member = new Float32Array(n);
            const position = new Int32Array(n);
            (idx ?? Array.from({ length: n }, (_, i) => i)).forEach((i, j) => { member[i] = 1; position[i] = j; });
            const [o, l, f] = tf.tidy(() => {
              const pos = tf.tensor1d(position, 'int32');
              const isMember = tf.greater(tf.tensor1d(member), 0);
              const fooled = p.select === 'loss' ? tf.zeros([n], 'bool') : tf.logicalAnd(isMember, tf.logicalAnd(tf.greater(tf.gather(res.fooled, pos), 0), tf.equal(outFooled!, 0)));
              const higher = tf.logicalAnd(isMember, tf.greater(tf.gather(res.lossBest, pos), outLoss!));
              const four = (v: tf.Tensor): tf.Tensor => tf.reshape(v, [-1, 1, 1, 1]);
              const merged = tf.where(four(fooled), tf.gather(res.bestAdv, pos), tf.where(four(higher), tf.gather(res.best, pos), out!));
              return [merged, tf.where(higher, tf.gather(res.lossBest, pos), outLoss!), tf.maximum(outFooled!, tf.where(isMember, tf.gather(res.fooled, pos), tf.zerosLike(outFooled!)))];
            });
            tf.dispose([out, outLoss!, outFooled!]);
            out = o as tf.Tensor4D;
            outLoss = l as tf.Tensor1D;
            outFooled = f as tf.Tensor1D;
          }
        } finally {
          if (run) tf.dispose([run.best, run.lossBest, run.bestAdv, run.fooled]);
          tf.dispose(picked);
        }
      } finally {
        pattern.dispose();
      }
    }
    const result = out!;
    out = null;
    return result;
  } finally {
    tf.dispose([...keep, ...(out ? [out] : []), ...(outLoss ? [outLoss] : []), ...(outFooled ? [outFooled] : [])]);
  }
}

/**
 * The whole batch in chunks that fit in memory; yields a tick after every step. Returns the adversarial
 * images (a new tensor) and the gradient counts at the starting points.
 */
export function* apgdBatch(images: tf.Tensor4D, p: ApgdPlan, trace?: (t: ApgdTrace) => void): Generator<Tick, { adv: tf.Tensor4D; zeroGradients: number; nonFiniteGradients: number }> {
  const { fn, labels, mask, epsilon, memory, restarts, steps } = p.base;
  const n = images.shape[0];
  const sampleBytes = (images.size / n) * 4;
  const probe = (k: number): void => {
    const health = new Health();
    try {
      const g = apgdChunk(sampleSlice(images, 0, k), sampleSlice(labels, 0, k), epsilon.slice(0, k), maskSlice(mask, n, 0, k),
        { ...p, base: { ...p.base, steps: 1, restarts: 1 } }, health, null, () => ({ done: 0, total: 0 }));
      drain(g).dispose();
    } finally {
      health.dispose();
    }
  };
  const chunks = planChunks(fn, n, memory, { model: p.base.model, kind: 'apgd-step', sampleShape: images.shape.slice(1) }, probe, 2 * sampleBytes);
  const chunkCount = Math.ceil(n / chunks.size);
  const total = chunkCount * restarts * steps;
  let done = 0;
  const tick = (): Tick => ({ done: ++done, total });
  const parts: tf.Tensor4D[] = [];
  let result: tf.Tensor4D | null = null;
  let zero = 0;
  let nonFinite = 0;
  const stepName = (t: number): string => {
    const r = Math.floor(t / (steps + 1));
    const s = t % (steps + 1);
    return `${s === 0 ? 'the starting point' : `step ${s} of ${steps}`}${restarts > 1 ? `, restart ${r + 1}` : ''}`;
  };
  try {
    for (let start = 0; start < n; start += chunks.size) {
      const count = Math.min(chunks.size, n - start);
      const health = new Health();
      const counts = new GradientCounts();
      const x = sampleSlice(images, start, count);
      const y = sampleSlice(labels, start, count);
      const m = maskSlice(mask, n, start, count);
      const g = apgdChunk(x, y, epsilon.slice(start, start + count), m, p, health, counts, tick, trace);
      try {
        let r = g.next();
        while (!r.done) {
          yield r.value;
          r = g.next();
        }
        parts.push(r.value);
        health.check(fn, p.base.task, chunkCount === 1 ? `images 0–${n - 1}` : `images ${start}–${start + count - 1}`, stepName);
        const read = counts.read();
        zero += read.zero;
        nonFinite += read.nonFinite;
      } finally {
        g.return(undefined as never);
        health.dispose();
        counts.dispose();
        if (x !== images) x.dispose();
        if (y !== labels) y.dispose();
        if (m && m !== mask) m.dispose();
      }
    }
    result = parts.length === 1 ? parts[0]! : (tf.concat(parts, 0) as tf.Tensor4D);
    return { adv: result, zeroGradients: zero, nonFiniteGradients: nonFinite };
  } catch (err) {
    throw asMemoryBudgetError(fn, chunks, err);
  } finally {
    for (const part of parts) if (part !== result) part.dispose();
  }
}

/** Warns (once per process) when input gradients were exactly 0 or non-finite at starting points. */
export function warnGradientCounts(fn: string, n: number, zero: number, nonFinite: number): void {
  if (zero === 0 && nonFinite === 0) return;
  const parts = [zero > 0 ? `${zero} of ${n} images have an input gradient that is exactly 0` : '', nonFinite > 0 ? `${nonFinite} of ${n} have NaN or Infinity in it (read as 0)` : ''].filter(Boolean);
  warnOnce('MEDROBUST_GRADIENT', `${fn}: ${parts.join(' and ')} at the starting point: gradient attacks cannot move there, and robust accuracy is over-stated (gradient masking: a non-differentiable step such as rounding or a lookup, a saturated softmax/sigmoid output, or NaN from a log/sqrt of 0). Remove or replace the step with a differentiable approximation (BPDA), return logits, and run squareAttack, which needs no gradient.`);
}

/**
 * Auto-PGD (Croce & Hein, ICML 2020, Alg. 1), the step-size-free PGD of AutoAttack: steps of size η
 * from η = 2ε with momentum α = 0.75, x ← P(x + α(z − x) + (1 − α)(x − x_prev)),
 * z = P(x + η·sign(∇)) (L∞) or P(x + η·∇/‖∇‖₂) (L2); at checkpoints (after 22% of the iterations,
 * then ever shorter intervals) each image whose loss rose in at most ρ = 75% of the steps, or whose step
 * size and best loss did not change since the previous checkpoint, halves its η and restarts from its
 * best point. Losses: cross-entropy, DLR (C ≥ 3) and targeted DLR (C ≥ 4), and a margin loss defined for
 * binary (2 logits), single-logit and multi-label models, where DLR is not (see {@link ApgdOptions}).
 * The reference is autopgd_base.py of fra31/auto-attack; deliberate differences: the first checkpoint
 * compares the first step's loss with the start's (the reference compares it with 0), the start
 * pattern is drawn once per restart and scaled to each image's ball (batch consistency), and each
 * image returns the first restart's fooling point or else its highest-loss point (the reference
 * returns the clean image then).
 *
 * Everything is per image: an image's result never depends on the batch or chunk it is in. The model
 * runs in inference mode; `images` and `labels` are borrowed. Where an input gradient is exactly 0 or
 * NaN at the start, it warns (`MEDROBUST_GRADIENT`: gradient masking). Synchronous and bounded (steps ×
 * restarts ≤ 10000); {@link apgdAsync} for long or stoppable runs.
 *
 * @param model - a {@link ModelFn} returning logits, or a single-output `tf.LayersModel`.
 * @param images - NHWC float32 `[N, H, W, C]`, inside `options.clip`.
 * @param labels - the true labels (the targets when `targeted`): class indices `[N]` or one-hot
 *   `[N, C]` for single-label, multi-hot `[N, C]` for multi-label.
 * @param options - see {@link ApgdOptions}; unknown keys are rejected.
 * @returns the adversarial images `[N, H, W, C]`, a new tensor owned by the caller, each within its ε
 *   (0 outside `mask`) and inside the clip range.
 * @throws {InvalidArgumentError} for bad images, labels, ε, clip, mask, an unknown loss or option, DLR
 *   with fewer than 3 classes (targeted DLR: 4) or with a multi-label task, a goal that does not fit the labels, or
 *   steps × restarts above 10000.
 * @throws {NonFiniteError} when the model's logits or the loss are NaN or Infinity at any step.
 * @throws {MemoryBudgetError} when one image's step does not fit in the memory budget.
 *
 * @example
 * ```ts
 * const adv = apgd(model, images, labels, { epsilon: 8 / 255, loss: 'ce', steps: 100, seed: 1 });
 * const robust = accuracy(model(adv), labels);
 * adv.dispose();
 * // A binary or multi-label model: the margin loss (DLR needs 3 classes).
 * const hidden = apgd(model, images, multiHot, { epsilon: 8 / 255, task: 'multi-label', loss: 'margin', goal: { hide: 2 } });
 * ```
 * @category Attacks
 */
export function apgd(model: Model, images: tf.Tensor4D, labels: tf.Tensor, options: ApgdOptions): tf.Tensor4D {
  const fn = 'apgd';
  return entry(fn, () => {
    const { plan, images: x } = planApgd(fn, model, images, labels, options, APGD_KEYS, {});
    const { adv, zeroGradients, nonFiniteGradients } = drain(apgdBatch(x, plan));
    warnGradientCounts(fn, x.shape[0], zeroGradients, nonFiniteGradients);
    return adv;
  });
}

/**
 * {@link apgd} for long runs: the same attack, bit for bit the same result, but it yields to the event
 * loop after every step, so an `AbortSignal` can stop it and `onProgress` can report it. Up to 1e6
 * steps and 1e4 restarts. On abort or error every tensor made is freed.
 *
 * @param model - a {@link ModelFn} returning logits, or a single-output `tf.LayersModel`.
 * @param images - NHWC float32 `[N, H, W, C]`, inside `options.clip`.
 * @param labels - as for {@link apgd}.
 * @param options - see {@link ApgdAsyncOptions}.
 * @returns the adversarial images `[N, H, W, C]`, a new tensor owned by the caller.
 * @throws {InvalidArgumentError} as {@link apgd} (with the larger bounds), or for a bad signal or callback.
 * @throws {NonFiniteError} as {@link apgd}.
 * @throws {MemoryBudgetError} as {@link apgd}.
 * @throws {AbortError} when `signal` fires.
 *
 * @example
 * ```ts
 * const adv = await apgdAsync(model, images, labels, {
 *   epsilon: 8 / 255, steps: 1000, seed: 1, signal: AbortSignal.timeout(60_000),
 *   onProgress: (p) => console.log(`${p.done}/${p.total}`),
 * });
 * adv.dispose();
 * ```
 * @category Attacks
 */
export async function apgdAsync(model: Model, images: tf.Tensor4D, labels: tf.Tensor, options: ApgdAsyncOptions): Promise<tf.Tensor4D> {
  const fn = 'apgdAsync';
  return entryAsync(fn, async () => {
    const { plan, images: x } = planApgd(fn, model, images, labels, options, ASYNC_KEYS, { steps: MAX_ASYNC_STEPS, restarts: MAX_ASYNC_RESTARTS });
    const o = options as unknown as Record<string, unknown>;
    const signal = assertSignal(fn, 'options.signal', o.signal);
    assertFunction(fn, 'options.onProgress', o.onProgress);
    const { adv, zeroGradients, nonFiniteGradients } = await driveAsync(fn, apgdBatch(x, plan), signal, o.onProgress as ((p: Progress) => void) | undefined);
    warnGradientCounts(fn, x.shape[0], zeroGradients, nonFiniteGradients);
    return adv;
  });
}
