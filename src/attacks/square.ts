import * as tf from '@tensorflow/tfjs-core';
import { drain, driveAsync, type Tick } from '../internal/drive.js';
import {
  COMMON_KEYS, Health, intOption, MAX_ASYNC_RESTARTS, MAX_SYNC_GRADIENTS, maskSlice, planAttack, resolveSeed, type AttackPlan,
} from '../internal/gradientAttack.js';
import { goalLabels, goalMargin, goalSuccess, parseGoal, type Goal, type MultiLabelGoal } from '../internal/goals.js';
import { asMemoryBudgetError, planChunks, sampleSlice } from '../internal/memory.js';
import { clipBounds, clipTo, perSample } from '../internal/project.js';
import { createRng, type Rng } from '../internal/random.js';
import { entry, entryAsync } from '../internal/scope.js';
import { assertBoolean, assertFunction, assertNumber, assertOptionsObject, assertSignal, describeValue } from '../internal/validate.js';
import { InvalidArgumentError } from '../errors.js';
import type { ClipRange, MemoryOptions, Model, Progress, Task } from '../types.js';

/**
 * Options of {@link squareAttack}.
 * @category Attacks
 */
export interface SquareAttackOptions extends MemoryOptions {
  /** The budget, in the units of `images`: one number, or one per image. Required (no default). */
  epsilon: number | readonly number[];
  /**
   * The threat model: `'linf'` (squares of ±2ε, clipped to the box) or `'l2'` (the paper's centred
   * square patterns, rescaled to ‖δ‖₂ = ε).
   * @defaultValue 'linf'
   */
  norm?: 'linf' | 'l2';
  /**
   * The query budget per image and run (model calls, the first one included). The synchronous
   * {@link squareAttack} accepts queries × restarts ≤ 10000; {@link squareAttackAsync} up to 1e6.
   * @defaultValue 5000
   */
  queries?: number;
  /**
   * p_init: the first squares cover this fraction of the image (of the region of interest with `mask`);
   * the fraction then halves on the paper's schedule (at 10, 50, 200, 500, 1000, 2000, 4000, 6000 and
   * 8000 queries of a 10000-query run).
   * @defaultValue 0.8
   */
  pInit?: number;
  /**
   * Stretch the schedule of p to the query budget (the paper's code); false keeps the 10000-query
   * schedule (AutoAttack's setting for 5000 queries).
   * @defaultValue true
   */
  rescaleSchedule?: boolean;
  /**
   * Runs from fresh random starts; a run attacks only the images no earlier run fooled.
   * @defaultValue 1
   */
  restarts?: number;
  /**
   * When true, `labels` are the targets (a class, or for multi-label a label set to reach).
   * @defaultValue false
   */
  targeted?: boolean;
  /**
   * Multi-label only: what the attack tries to reach (see {@link MultiLabelGoal}).
   * @defaultValue 'flip-any'
   */
  goal?: MultiLabelGoal;
  /**
   * Multi-label decision threshold on sigmoid probabilities.
   * @defaultValue 0.5
   */
  threshold?: number;
  /**
   * The valid range every candidate is clipped to (see {@link ClipRange}).
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
   * perturbation is exactly 0 elsewhere. L∞ squares are sized to the region's area and placed inside its
   * bounding box; L2 squares are placed on the whole image and masked. Borrowed.
   * @defaultValue the whole image
   */
  mask?: tf.Tensor4D;
  /**
   * The seed of the random squares (drawn once per query and shared by the images, so an image's
   * result does not depend on its batch).
   * @defaultValue drawn at random
   */
  seed?: number;
}

/**
 * Options of {@link squareAttackAsync}: those of {@link squareAttack}, plus a way to stop and to watch
 * a long run.
 * @category Attacks
 */
export interface SquareAttackAsyncOptions extends SquareAttackOptions {
  /**
   * Stops the attack between two queries with an {@link AbortError}; everything made is freed.
   * @defaultValue none
   */
  signal?: AbortSignal;
  /**
   * Called after every query (phase `'step'`; `total` = chunks × restarts × queries, an upper bound:
   * a chunk stops when every image in it is fooled).
   * @defaultValue none
   */
  onProgress?: (progress: Progress) => void;
}

/**
 * The result of {@link squareAttack}.
 * @category Attacks
 */
export interface SquareAttackResult {
  /** The adversarial images `[N, H, W, C]`, a new tensor owned by the caller. */
  images: tf.Tensor4D;
  /** Model calls spent on each image (the first query included; 0 for none). */
  queries: number[];
  /** Whether the attack met its goal on each image. */
  success: boolean[];
}

const KEYS = [...COMMON_KEYS.filter((k) => k !== 'loss'), 'queries', 'pInit', 'rescaleSchedule', 'restarts', 'goal', 'threshold', 'seed'] as const;
const ASYNC_KEYS = [...KEYS, 'signal', 'onProgress'] as const;

/** A validated Square Attack configuration (`base.steps` is the query budget). */
export interface SquarePlan {
  base: AttackPlan;
  goal: Goal;
  pInit: number;
  rescale: boolean;
}

/** Validates the arguments of squareAttack/squareAttackAsync. */
export function planSquare(fn: string, model: Model, images: unknown, labels: unknown, options: unknown, keys: readonly string[], async: boolean): { plan: SquarePlan; images: tf.Tensor4D } {
  const o = assertOptionsObject(fn, options);
  const { pInit, rescaleSchedule, goal, threshold, queries, ...rest } = o;
  const { plan: base, images: x } = planAttack(fn, model, images, labels, rest, keys, (r, epsilon) => {
    const budget = queries === undefined ? 5000 : assertNumber(fn, 'options.queries', queries, { integer: true, min: 1, max: async ? 1_000_000 : MAX_SYNC_GRADIENTS });
    const restarts = intOption(fn, r, 'restarts', 1, 1, async ? MAX_ASYNC_RESTARTS : undefined);
    if (!async && budget * restarts > MAX_SYNC_GRADIENTS) {
      throw new InvalidArgumentError(fn, 'options.restarts', `at most ${MAX_SYNC_GRADIENTS} queries (queries × restarts) for the synchronous ${fn}, which cannot be stopped once started; use squareAttackAsync for longer runs`, `queries ${budget} × restarts ${restarts}`);
    }
    return { steps: budget, restarts, stepSize: epsilon, randomStart: true, seed: resolveSeed(fn, r.seed) };
  });
  const p = pInit === undefined ? 0.8 : assertNumber(fn, 'options.pInit', pInit, { min: 0, max: 1, minExclusive: true });
  const rescale = assertBoolean(fn, 'options.rescaleSchedule', rescaleSchedule) ?? true;
  if (threshold !== undefined && base.task !== 'multi-label') throw new InvalidArgumentError(fn, 'options.threshold', "no value unless task is 'multi-label'", describeValue(threshold));
  const thr = threshold === undefined ? 0.5 : assertNumber(fn, 'options.threshold', threshold, { min: 0, max: 1, minExclusive: true, maxExclusive: true });
  const classes = base.labels.rank === 2 ? base.labels.shape[1]! : 0;
  const g = parseGoal(fn, 'options.goal', goal, base.task, base.targeted, classes, thr);
  return { plan: { base, goal: g, pInit: p, rescale }, images: x };
}

/** The fraction of the image a square covers at query `it` (the paper's schedule for 10000 queries). */
export function squareFraction(it: number, pInit: number, queries: number, rescale: boolean): number {
  const i = rescale ? Math.floor((it / queries) * 10000) : it;
  const bounds = [10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000];
  let halvings = 0;
  for (const b of bounds) if (i > b) halvings++;
  return pInit / 2 ** halvings;
}

/** The centred pattern of the L2 Square Attack, one rectangle (a sum of nested squares weighted 1/(r+1)²), unit L2 norm. */
function etaRectangle(rows: number, cols: number): Float64Array {
  const out = new Float64Array(rows * cols);
  if (rows === 0 || cols === 0) return out;
  let r0 = Math.floor(rows / 2);
  let c0 = Math.floor(cols / 2);
  const rounds = Math.max(Math.floor(rows / 2) + 1, Math.floor(cols / 2) + 1);
  for (let k = 0; k < rounds; k++) {
    for (let r = Math.max(r0, 0); r < Math.min(r0 + 2 * k + 1, rows); r++) {
      for (let c = Math.max(c0, 0); c < Math.min(c0 + 2 * k + 1, cols); c++) out[r * cols + c]! += 1 / (k + 1) ** 2;
    }
    r0--;
    c0--;
  }
  let norm = 0;
  for (const v of out) norm += v * v;
  norm = Math.sqrt(norm);
  for (let i = 0; i < out.length; i++) out[i]! /= norm;
  return out;
}

/** The L2 square pattern of side s: the top half positive, the bottom half negative, unit norm, transposed with probability ½. */
export function squarePattern(s: number, rng: Rng): Float64Array {
  const top = Math.floor(s / 2);
  const a = etaRectangle(top, s);
  const b = etaRectangle(s - top, s);
  const out = new Float64Array(s * s);
  out.set(a, 0);
  for (let i = 0; i < b.length; i++) out[top * s + i] = -b[i]!;
  let norm = 0;
  for (const v of out) norm += v * v;
  norm = Math.sqrt(norm);
  for (let i = 0; i < out.length; i++) out[i]! /= norm;
  if (rng.next() > 0.5) {
    const t = new Float64Array(s * s);
    for (let r = 0; r < s; r++) for (let c = 0; c < s; c++) t[c * s + r] = out[r * s + c]!;
    return t;
  }
  return out;
}

/** Region of interest of each image: its area and bounding box in pixels (the whole image without a mask). */
interface Region { area: number; top: number; left: number; height: number; width: number }

function regions(mask: tf.Tensor4D | null, n: number, h: number, w: number): Region[] {
  if (!mask) return Array.from({ length: n }, () => ({ area: h * w, top: 0, left: 0, height: h, width: w }));
  const spatial = tf.tidy(() => tf.max(tf.broadcastTo(mask, [n, h, w, mask.shape[3]]), 3));
  const v = spatial.dataSync();
  spatial.dispose();
  return Array.from({ length: n }, (_, i) => {
    let area = 0; let top = h; let left = w; let bottom = -1; let right = -1;
    for (let r = 0; r < h; r++) {
      for (let c = 0; c < w; c++) {
        if (v[(i * h + r) * w + c]! > 0) {
          area++; top = Math.min(top, r); bottom = Math.max(bottom, r); left = Math.min(left, c); right = Math.max(right, c);
        }
      }
    }
    return area === 0 ? { area: 0, top: 0, left: 0, height: 0, width: 0 } : { area, top, left, height: bottom - top + 1, width: right - left + 1 };
  });
}

/** 1 inside the rows [top, top + size) and columns [left, left + size) of each image, `[n, h, w, 1]`. */
function windows(top: number[], left: number[], size: number[], n: number, h: number, w: number): tf.Tensor4D {
  return tf.tidy(() => {
    const rows = tf.reshape(tf.range(0, h), [1, h, 1, 1]);
    const cols = tf.reshape(tf.range(0, w), [1, 1, w, 1]);
    const t = tf.tensor4d(top, [n, 1, 1, 1]);
    const l = tf.tensor4d(left, [n, 1, 1, 1]);
    const s = tf.tensor4d(size, [n, 1, 1, 1]);
    const inRows = tf.logicalAnd(tf.greaterEqual(rows, t), tf.less(rows, tf.add(t, s)));
    const inCols = tf.logicalAnd(tf.greaterEqual(cols, l), tf.less(cols, tf.add(l, s)));
    return tf.cast(tf.logicalAnd(inRows, inCols), 'float32') as tf.Tensor4D;
  });
}

/** Reads a scalar computed in a tidy, and frees it. */
function readScalar(f: () => tf.Tensor): number {
  const t = tf.tidy(f);
  const v = t.dataSync()[0]!;
  t.dispose();
  return v;
}

interface SquareRun { best: tf.Tensor4D; margin: tf.Tensor1D; won: tf.Tensor1D; queries: tf.Tensor1D }

/**
 * One run on a chunk (Andriushchenko et al. 2020, Alg. 1 and 3). `open` (float 0/1) marks the images
 * still to attack; the others neither change nor spend queries. Yields after every query.
 */
function* squareRun(images: tf.Tensor4D, labels: tf.Tensor, epsilon: number[], mask: tf.Tensor4D | null, open: tf.Tensor1D, p: SquarePlan, rng: Rng, health: Health, restart: number, tick: () => Tick): Generator<Tick, SquareRun> {
  const { modelFn, checkLogits, norm, steps: budget } = p.base;
  const [n, h, w, c] = images.shape;
  const own: tf.Tensor[] = [];
  const state = new Map<string, tf.Tensor>();
  const put = (k: string, t: tf.Tensor): void => { const old = state.get(k); state.set(k, t); if (old && old !== t) old.dispose(); };
  const get = <T extends tf.Tensor>(k: string): T => state.get(k) as T;
  try {
    const eps = perSample(epsilon);
    own.push(eps);
    const bounds = clipBounds(p.base.clip, images);
    if (bounds) own.push(bounds.lower, bounds.upper);
    const box = tf.tidy(() => {
      const radius = mask ? tf.mul(eps, mask) : eps;
      const lower = tf.sub(images, radius);
      const upper = tf.add(images, radius);
      return bounds ? { lower: tf.maximum(lower, bounds.lower), upper: tf.minimum(upper, bounds.upper) } : { lower, upper };
    });
    own.push(box.lower, box.upper);
    const four = (v: tf.Tensor): tf.Tensor => tf.reshape(v, [n, 1, 1, 1]);
    const unitL2 = (d: tf.Tensor): tf.Tensor => tf.div(d, tf.add(four(tf.sqrt(tf.sum(tf.square(tf.reshape(d, [n, -1])), 1))), 1e-12));
    let t = restart * (budget + 1);
    const query = (x: tf.Tensor4D, first: boolean): [tf.Tensor1D, tf.Tensor1D] => tf.tidy(() => {
      const logits = modelFn(x);
      checkLogits(logits);
      const m = goalMargin(logits, labels, p.goal);
      health.record(t, logits, m, null, first && restart === 0);
      return [m, tf.cast(goalSuccess(logits, labels, p.goal), 'float32') as tf.Tensor1D];
    });
    const signs = (count: number): number[] => Array.from({ length: count }, () => (rng.next() < 0.5 ? -1 : 1));

    // The start: vertical stripes of ±ε (L∞), or a grid of L2 squares rescaled to ‖δ‖₂ = ε.
    let start: tf.Tensor4D;
    if (norm === 'linf') {
      const stripes = tf.tensor4d(signs(w * c), [1, 1, w, c]);
      start = tf.tidy(() => tf.minimum(tf.maximum(tf.add(images, tf.mul(eps, mask ? tf.mul(stripes, mask) : stripes)), box.lower), box.upper) as tf.Tensor4D);
      stripes.dispose();
    } else {
      const s0 = Math.max(Math.floor(h / 5), 1);
      const origin = Math.max(Math.floor((h - 5 * s0) / 2), 0);
      const grid = new Float32Array(h * w * c);
      for (let vh = origin, i = 0; i < Math.floor(h / s0); i++, vh += s0) {
        for (let vw = origin, j = 0; j < Math.floor(w / s0); j++, vw += s0) {
          const pattern = squarePattern(s0, rng);
          const sg = signs(c);
          for (let r = 0; r < s0; r++) for (let q = 0; q < s0; q++) {
            if (vh + r >= h || vw + q >= w) continue;
            for (let k = 0; k < c; k++) grid[((vh + r) * w + vw + q) * c + k]! += pattern[r * s0 + q]! * sg[k]!;
          }
        }
      }
      const g = tf.tensor4d(grid, [1, h, w, c]);
      start = tf.tidy(() => clipTo(tf.add(images, tf.mul(eps, unitL2(mask ? tf.mul(tf.tile(g, [n, 1, 1, 1]), mask) : tf.tile(g, [n, 1, 1, 1])))) as tf.Tensor4D, bounds));
      g.dispose();
    }
    put('best', start);
    const [m0, won0] = query(start, true);
    t++;
    put('margin', m0);
    put('won', tf.tidy(() => tf.mul(won0, open)));
    won0.dispose();
    put('queries', tf.clone(open));
    put('active', tf.tidy(() => tf.mul(open, tf.sub(1, get('won')))));
    const area = regions(mask, n, h, w);

    for (let it = 0; it < budget - 1; it++) {
      if (it % 10 === 0 && readScalar(() => tf.max(get('active'))) === 0) break;
      const frac = squareFraction(it, p.pInit, budget, p.rescale);
      let candidate: tf.Tensor4D;
      if (norm === 'linf') {
        const size = area.map((a) => (a.area === 0 ? 0 : Math.min(Math.max(Math.round(Math.sqrt(frac * a.area)), 1), a.height, a.width)));
        const uh = rng.next();
        const uw = rng.next();
        const top = area.map((a, i) => a.top + Math.floor(uh * (a.height - size[i]! + 1)));
        const left = area.map((a, i) => a.left + Math.floor(uw * (a.width - size[i]! + 1)));
        const sg = tf.tensor4d(signs(c), [1, 1, 1, c]);
        const win = windows(top, left, size, n, h, w);
        candidate = tf.tidy(() => {
          const delta = tf.mul(tf.mul(tf.mul(2, eps), sg), mask ? tf.mul(win, mask) : win);
          return tf.minimum(tf.maximum(tf.add(get('best'), delta), box.lower), box.upper) as tf.Tensor4D;
        });
        tf.dispose([sg, win]);
      } else {
        let s = Math.max(Math.round(Math.sqrt(frac * h * w)), 3);
        if (s % 2 === 0) s++;
        s = Math.min(s, h, w);
        const place = (): [number, number] => [Math.floor(rng.next() * (h - s + 1)), Math.floor(rng.next() * (w - s + 1))];
        const [vh, vw] = place();
        const [vh2, vw2] = place();
        const pattern = squarePattern(s, rng);
        const sg = signs(c);
        const placed = new Float32Array(h * w * c);
        for (let r = 0; r < s; r++) for (let q = 0; q < s; q++) for (let k = 0; k < c; k++) placed[((vh + r) * w + vw + q) * c + k] = pattern[r * s + q]! * sg[k]!;
        const e = tf.tensor4d(placed, [1, h, w, c]);
        const w1 = windows([vh], [vw], [s], 1, h, w);
        const w2 = windows([vh2], [vw2], [s], 1, h, w);
        candidate = tf.tidy(() => {
          const delta = tf.sub(get('best'), images);
          const channelNorm = (d: tf.Tensor): tf.Tensor => tf.sqrt(tf.sum(tf.square(d), [1, 2], true));
          const both = tf.maximum(w1, w2);
          const inWindow = tf.mul(delta, w1);
          const imageNorm = four(tf.sqrt(tf.sum(tf.square(tf.reshape(delta, [n, -1])), 1)));
          let fresh = tf.add(e, tf.div(inWindow, tf.add(channelNorm(inWindow), 1e-12)));
          const room = tf.sqrt(tf.add(tf.div(tf.relu(tf.sub(tf.square(eps), tf.square(imageNorm))), c), tf.square(channelNorm(tf.mul(delta, both)))));
          fresh = tf.mul(tf.div(fresh, tf.add(channelNorm(fresh), 1e-12)), room);
          let next = tf.add(tf.mul(delta, tf.mul(tf.sub(1, w2), tf.sub(1, w1))), tf.mul(fresh, w1));
          if (mask) next = tf.mul(next, mask);
          return clipTo(tf.add(images, tf.mul(eps, unitL2(next))) as tf.Tensor4D, bounds);
        });
        tf.dispose([e, w1, w2]);
      }
      put('candidate', candidate);
      const [m, won] = query(candidate, false);
      t++;
      const updated = tf.tidy(() => {
        const active = get('active');
        const accept = tf.logicalAnd(tf.greater(active, 0), tf.logicalOr(tf.greater(m, get('margin')), tf.greater(won, 0)));
        const nowWon = tf.maximum(get('won'), tf.mul(active, won));
        return {
          best: tf.where(four(accept), candidate, get('best')),
          margin: tf.where(accept, m, get('margin')),
          won: nowWon,
          queries: tf.add(get('queries'), active),
          active: tf.mul(active, tf.sub(1, nowWon)),
        };
      });
      tf.dispose([m, won]);
      for (const [k, v] of Object.entries(updated)) put(k, v);
      yield tick();
    }
    const out: SquareRun = { best: get('best'), margin: get('margin'), won: get('won'), queries: get('queries') };
    for (const k of ['best', 'margin', 'won', 'queries']) state.delete(k);
    return out;
  } finally {
    tf.dispose([...state.values()]);
    tf.dispose(own);
  }
}

/**
 * Square Attack with restarts on one chunk. Returns the adversarial images, the queries spent and the
 * success (float 0/1) per image, all new tensors.
 */
export function* squareChunk(images: tf.Tensor4D, labels: tf.Tensor, epsilon: number[], roi: tf.Tensor4D | null, p: SquarePlan, health: Health, tick: () => Tick): Generator<Tick, { adv: tf.Tensor4D; queries: tf.Tensor1D; won: tf.Tensor1D }> {
  const rng = createRng(p.base.seed);
  const n = images.shape[0];
  const keep: tf.Tensor[] = [];
  let adv: tf.Tensor4D | null = null;
  let margin: tf.Tensor1D | null = null;
  let won: tf.Tensor1D | null = null;
  let queries: tf.Tensor1D | null = null;
  try {
    const y = goalLabels(p.goal, labels);
    if (y !== labels) keep.push(y);
    const mask = roi ? tf.cast(roi, 'float32') as tf.Tensor4D : null;
    if (mask) keep.push(mask);
    for (let r = 0; r < p.base.restarts; r++) {
      if (won && readScalar(() => tf.min(won!)) === 1) break;
      const open = won ? tf.tidy(() => tf.sub(1, won!)) as tf.Tensor1D : tf.ones([n]) as tf.Tensor1D;
      let run: SquareRun | null = null;
      try {
        run = yield* squareRun(images, y, epsilon, mask, open, p, rng, health, r, tick);
        const res: SquareRun = run;
        if (adv === null) {
          adv = res.best; margin = res.margin; won = res.won; queries = res.queries;
          run = null;
        } else {
          const [a, m, w, q] = tf.tidy(() => {
            const take = tf.logicalAnd(tf.greater(open, 0), tf.logicalOr(tf.greater(res.won, 0), tf.greater(res.margin, margin!)));
            return [tf.where(tf.reshape(take, [-1, 1, 1, 1]), res.best, adv!), tf.where(take, res.margin, margin!), tf.maximum(won!, res.won), tf.add(queries!, res.queries)];
          });
          tf.dispose([adv, margin!, won!, queries!]);
          adv = a as tf.Tensor4D; margin = m as tf.Tensor1D; won = w as tf.Tensor1D; queries = q as tf.Tensor1D;
        }
      } finally {
        if (run) tf.dispose([run.best, run.margin, run.won, run.queries]);
        open.dispose();
      }
    }
    const out = { adv: adv!, queries: queries!, won: won! };
    adv = null; queries = null; won = null;
    return out;
  } finally {
    tf.dispose([...keep, ...([adv, margin, won, queries] as Array<tf.Tensor | null>).filter((v): v is tf.Tensor => v !== null)]);
  }
}

/** The whole batch in chunks; yields a tick after every query. */
export function* squareBatch(images: tf.Tensor4D, p: SquarePlan): Generator<Tick, { adv: tf.Tensor4D; queries: number[]; success: boolean[] }> {
  const { fn, labels, mask, epsilon, memory, restarts, steps } = p.base;
  const n = images.shape[0];
  const sampleBytes = (images.size / n) * 4;
  const probe = (k: number): void => {
    const health = new Health();
    try {
      const r = drain(squareChunk(sampleSlice(images, 0, k), sampleSlice(labels, 0, k), epsilon.slice(0, k), maskSlice(mask, n, 0, k),
        { ...p, base: { ...p.base, steps: 2, restarts: 1 } }, health, () => ({ done: 0, total: 0 })));
      tf.dispose([r.adv, r.queries, r.won]);
    } finally {
      health.dispose();
    }
  };
  const chunks = planChunks(fn, n, memory, { model: p.base.model, kind: 'square-query', sampleShape: images.shape.slice(1) }, probe, 2 * sampleBytes);
  const chunkCount = Math.ceil(n / chunks.size);
  const total = chunkCount * restarts * Math.max(steps - 1, 1);
  let done = 0;
  const tick = (): Tick => ({ done: ++done, total });
  const parts: tf.Tensor4D[] = [];
  const queries: number[] = [];
  const success: boolean[] = [];
  let result: tf.Tensor4D | null = null;
  const stepName = (t: number): string => `query ${(t % (steps + 1)) + 1}${restarts > 1 ? ` of restart ${Math.floor(t / (steps + 1)) + 1}` : ''}`;
  try {
    for (let start = 0; start < n; start += chunks.size) {
      const count = Math.min(chunks.size, n - start);
      const health = new Health();
      const x = sampleSlice(images, start, count);
      const y = sampleSlice(labels, start, count);
      const m = maskSlice(mask, n, start, count);
      const g = squareChunk(x, y, epsilon.slice(start, start + count), m, p, health, tick);
      try {
        let r = g.next();
        while (!r.done) {
          yield r.value;
          r = g.next();
        }
        parts.push(r.value.adv);
        const q = r.value.queries.dataSync();
        const w = r.value.won.dataSync();
        tf.dispose([r.value.queries, r.value.won]);
        for (let i = 0; i < count; i++) { queries.push(q[i]!); success.push(w[i]! > 0); }
        health.check(fn, p.base.task, chunkCount === 1 ? `images 0–${n - 1}` : `images ${start}–${start + count - 1}`, stepName);
      } finally {
        g.return(undefined as never);
        health.dispose();
        if (x !== images) x.dispose();
        if (y !== labels) y.dispose();
        if (m && m !== mask) m.dispose();
      }
    }
    result = parts.length === 1 ? parts[0]! : (tf.concat(parts, 0) as tf.Tensor4D);
    return { adv: result, queries, success };
  } catch (err) {
    throw asMemoryBudgetError(fn, chunks, err);
  } finally {
    for (const part of parts) if (part !== result) part.dispose();
  }
}

/**
 * Square Attack (Andriushchenko, Croce, Flammarion & Hein, ECCV 2020): a score-based black-box attack
 * that needs no gradient, the check that catches gradient masking. It ascends the goal margin
 * (single-label max_{j≠y} z_j − z_y, defined for 2 classes; per finding for multi-label, see
 * {@link MultiLabelGoal}) by random search: each query adds a random square of side
 * s = round(√(p·H·W)) to the best point so far, ±2ε per channel for L∞ (clipped to the ε-box) or the
 * paper's centred L2 pattern that moves mass between two squares keeping ‖δ‖₂ = ε, and keeps it when the
 * margin rises; p halves on the paper's schedule. An image stops spending queries once fooled.
 * Deviations from the reference code (square.py of fra31/auto-attack), for batch consistency: the
 * random draws (square positions, signs, the start stripes) are shared by the images of a batch, so an
 * image's result never depends on its batch; a square can also sit at the last row/column.
 *
 * The model runs in inference mode and is only called forward; `images` and `labels` are borrowed.
 * Synchronous and bounded (queries × restarts ≤ 10000); {@link squareAttackAsync} for long runs.
 *
 * @param model - a {@link ModelFn} returning logits, or a single-output `tf.LayersModel`.
 * @param images - NHWC float32 `[N, H, W, C]`, inside `options.clip`.
 * @param labels - the true labels (the targets when `targeted`): class indices `[N]` or one-hot
 *   `[N, C]` for single-label, multi-hot `[N, C]` for multi-label.
 * @param options - see {@link SquareAttackOptions}; unknown keys are rejected.
 * @returns the adversarial images (a new tensor owned by the caller, each within its ε and 0 outside
 *   `mask`), the queries spent per image and the success per image.
 * @throws {InvalidArgumentError} for bad images, labels, ε, clip, mask, goal, an unknown option, or
 *   queries × restarts above 10000.
 * @throws {NonFiniteError} when the model's logits are NaN or Infinity at any query.
 * @throws {MemoryBudgetError} when one image does not fit in the memory budget.
 *
 * @example
 * ```ts
 * const { images: adv, queries, success } = squareAttack(model, images, labels, { epsilon: 8 / 255, queries: 1000, seed: 1 });
 * console.log(`fooled ${success.filter(Boolean).length}, mean queries ${queries.reduce((a, b) => a + b, 0) / queries.length}`);
 * adv.dispose();
 * ```
 * @category Attacks
 */
export function squareAttack(model: Model, images: tf.Tensor4D, labels: tf.Tensor, options: SquareAttackOptions): SquareAttackResult {
  const fn = 'squareAttack';
  return entry(fn, () => {
    const { plan, images: x } = planSquare(fn, model, images, labels, options, KEYS, false);
    const { adv, queries, success } = drain(squareBatch(x, plan));
    return { images: adv, queries, success };
  });
}

/**
 * {@link squareAttack} for long runs: the same attack, the same result, but it yields to the event loop
 * after every query, so an `AbortSignal` can stop it and `onProgress` can report it. Up to 1e6 queries
 * and 1e4 restarts. On abort or error every tensor made is freed.
 *
 * @param model - a {@link ModelFn} returning logits, or a single-output `tf.LayersModel`.
 * @param images - NHWC float32 `[N, H, W, C]`, inside `options.clip`.
 * @param labels - as for {@link squareAttack}.
 * @param options - see {@link SquareAttackAsyncOptions}.
 * @returns as {@link squareAttack}.
 * @throws {InvalidArgumentError} as {@link squareAttack} (with the larger bounds), or for a bad signal or callback.
 * @throws {NonFiniteError} as {@link squareAttack}.
 * @throws {MemoryBudgetError} as {@link squareAttack}.
 * @throws {AbortError} when `signal` fires.
 *
 * @example
 * ```ts
 * const result = await squareAttackAsync(model, images, labels, { epsilon: 8 / 255, queries: 5000, signal: AbortSignal.timeout(60_000) });
 * result.images.dispose();
 * ```
 * @category Attacks
 */
export async function squareAttackAsync(model: Model, images: tf.Tensor4D, labels: tf.Tensor, options: SquareAttackAsyncOptions): Promise<SquareAttackResult> {
  const fn = 'squareAttackAsync';
  return entryAsync(fn, async () => {
    const { plan, images: x } = planSquare(fn, model, images, labels, options, ASYNC_KEYS, true);
    const o = options as unknown as Record<string, unknown>;
    const signal = assertSignal(fn, 'options.signal', o.signal);
    assertFunction(fn, 'options.onProgress', o.onProgress);
    const { adv, queries, success } = await driveAsync(fn, squareBatch(x, plan), signal, o.onProgress as ((p: Progress) => void) | undefined);
    return { images: adv, queries, success };
  });
}
