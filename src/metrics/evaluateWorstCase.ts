import * as tf from '@tensorflow/tfjs-core';
import { apgdAsync } from '../attacks/apgd.js';
import { pgdAsync } from '../attacks/pgd.js';
import { squareAttackAsync } from '../attacks/square.js';
import { AbortError, InvalidArgumentError, NonFiniteError, PerturbationBudgetError } from '../errors.js';
import { assertBatchInput, iterateBatches } from '../internal/batches.js';
import { assertShard, inShard } from '../internal/shard.js';
import { nextTick } from '../internal/drive.js';
import { ascentLoss, goalEligible, goalLabels, goalMargin, goalSuccess, parseGoal, type Goal, type MultiLabelGoal } from '../internal/goals.js';
import { mapInChunks, MEMORY_KEYS, readMemoryOptions } from '../internal/memory.js';
import { clipBounds, clipTo } from '../internal/project.js';
import { createRng, drawSeed } from '../internal/random.js';
import { entryAsync, reattribute, type TensorBag } from '../internal/scope.js';
import {
  assertBoolean, assertClip, assertFunction, assertImages, assertKnownKeys, assertMask, assertNumber, assertOneOf, assertOptionalNumber,
  assertOptionsObject, assertSignal, describeValue,
} from '../internal/validate.js';
import { assertModelInput, toModelFn } from '../model.js';
import type { Batch, BatchInput, ClipRange, MemoryOptions, Model, ModelFn, Progress, Shard, Task } from '../types.js';
import { averagePrecision } from './averagePrecision.js';
import { hammingLoss } from './hammingLoss.js';
import { classProbabilities, labelProbabilities } from './labels.js';
import { rocAuc, rocAucPerClass } from './rocAuc.js';
import {
  blackBoxWarning, checkGradients, checkMonotone, checkProbabilities, checkStochastic, largeEpsilonWarning, type WorstCaseWarning,
} from './worstCaseChecks.js';

export type { WorstCaseWarning } from './worstCaseChecks.js';

/**
 * One attack of the {@link evaluateWorstCase} ensemble.
 * - `'pgd'`: PGD with the task's cross-entropy (Madry's step 2.5ε/steps, random start), the paper's
 *   attack; run first, its robust accuracy is reported next to the worst case.
 * - `'apgd-ce'`, `'apgd-margin'`, `'apgd-dlr'`: {@link apgd} with that loss (DLR: single-label, C ≥ 3).
 * - `'apgd-t'`: APGD-T, {@link apgd} with the targeted DLR aimed at the classes ranked 2 … `targets` + 1
 *   on the clean image, one run per target (single-label, C ≥ 4).
 * - `'noise'`: random corners of the ε-ball (L∞: ±ε per value; L2: a Gaussian direction of length ε).
 * - `'square'`: {@link squareAttack} on the goal margin.
 * @category Metrics
 */
export interface WorstCaseAttack {
  /** Which attack. */
  readonly attack: 'pgd' | 'apgd-ce' | 'apgd-margin' | 'apgd-dlr' | 'apgd-t' | 'noise' | 'square';
  /**
   * Iterations of a gradient attack.
   * @defaultValue 10 for pgd, 100 for apgd
   */
  readonly steps?: number;
  /**
   * Restarts (pgd, apgd, square).
   * @defaultValue 1
   */
  readonly restarts?: number;
  /**
   * APGD-T: the number of target classes (capped at C − 1).
   * @defaultValue 9
   */
  readonly targets?: number;
  /**
   * Square: queries per image.
   * @defaultValue 5000
   */
  readonly queries?: number;
  /**
   * Noise: random draws per image.
   * @defaultValue 20
   */
  readonly draws?: number;
  /**
   * A fixed seed for this attack, e.g. the seed of an earlier `pgd` run to reproduce it image by image
   * (attacks are batch-consistent, so the ensemble's PGD then breaks exactly the images that run broke).
   * @defaultValue derived from `options.seed`, the attack's name and the budget's position
   */
  readonly seed?: number;
}

/**
 * A batch for {@link evaluateWorstCase}: a {@link Batch}, optionally with a region of interest per
 * image (`mask`, 0/1 `[B or 1, H, W, 1 or C]`): the attacks then change only the pixels inside it.
 * @category Metrics
 */
export interface WorstCaseBatch extends Batch {
  /** The region each image may change in (1) or not (0). */
  readonly mask?: tf.Tensor4D;
}

/**
 * Options of {@link evaluateWorstCase}.
 * @category Metrics
 */
export interface EvaluateWorstCaseOptions extends MemoryOptions {
  /**
   * Evaluate only one shard of the data: the images at positions p with p mod count = index (see
   * {@link Shard}). Every shard still reads and validates every batch, and runs the sanity checks on
   * the data's first batch, so its warnings are the unsharded run's; only its own images are attacked.
   * Merge the shards' reports with {@link mergeWorstCase}: the result equals the unsharded report
   * (timings aside). Give every shard the same `seed`.
   * @defaultValue the whole data set
   */
  shard?: Shard;
  /** The budget ε in the units of the images, or several (one report row each). Required. */
  epsilon: number | readonly number[];
  /**
   * The threat model.
   * @defaultValue 'linf'
   */
  norm?: 'linf' | 'l2';
  /**
   * The ensemble, as AutoAttack's versions:
   * - `'standard'`: PGD-10, APGD-CE (100 steps), APGD-T (up to 9 targets × 100 steps; with 3 classes
   *   APGD-DLR, and for 2 classes, a single logit or multi-label APGD on the margin loss, 100 steps),
   *   random noise (20 draws) and Square (5000 queries);
   * - `'cheap'`, for training curves: PGD-10, APGD-CE and APGD-DLR (margin where DLR is undefined),
   *   20 steps each.
   * @defaultValue 'standard'
   */
  version?: 'standard' | 'cheap';
  /**
   * A custom ensemble, run in this order (replaces `version`).
   * @defaultValue the version's list
   */
  attacks?: readonly WorstCaseAttack[];
  /**
   * The task (see {@link Task}).
   * @defaultValue 'single-label'
   */
  task?: Task;
  /**
   * Multi-label: what counts as broken (see {@link MultiLabelGoal}). `'flip-any'`: any finding wrong
   * (robust accuracy is then the exact-match accuracy); `{ hide: k }`, `{ add: k }`: only images that
   * have (lack) finding k count, and robust accuracy is the share still detected (still absent).
   * @defaultValue 'flip-any'
   */
  goal?: MultiLabelGoal;
  /**
   * Multi-label decision threshold on sigmoid probabilities.
   * @defaultValue 0.5
   */
  threshold?: number;
  /**
   * The valid input range (a fixed range: `'batch'` would depend on which images are still robust).
   * @defaultValue [0, 1]
   */
  clip?: ClipRange;
  /**
   * The AUC averaging (see {@link RocAucOptions}).
   * @defaultValue 'macro'
   */
  aucAverage?: 'macro' | 'micro' | 'weighted';
  /**
   * Run the sanity checks on the first batch (stochastic model, probabilities, gradients, accuracy at a
   * large ε); the checks on the results (monotonicity in ε, black-box beating white-box) always run.
   * @defaultValue true
   */
  checks?: boolean;
  /**
   * The seed every attack's seed derives from (the same for every batch, so an image's result does not
   * depend on its batch).
   * @defaultValue drawn at random
   */
  seed?: number;
  /**
   * Dispose each batch's tensors after use (the rule of {@link BatchInput} by default).
   * @defaultValue Array.isArray(data) ? false : true
   */
  disposeBatches?: boolean;
  /**
   * Cancels the evaluation with an {@link AbortError}, between attacks and between their steps.
   * @defaultValue none
   */
  signal?: AbortSignal;
  /**
   * Called after every attack run (phase `'attack'`; `total` is NaN for a stream of unknown length;
   * `metrics.robustAccuracy` is the running figure of the current ε).
   * @defaultValue none
   */
  onProgress?: (progress: Progress) => void;
}

/**
 * One attack's share of a {@link WorstCaseRow}.
 * @category Metrics
 */
export interface WorstCaseAttackRow {
  /** The attack's name, e.g. `'apgd-ce'` or `'pgd-10'`. */
  name: string;
  /** Images it ran on (those still robust when its turn came). */
  attacked: number;
  /** Images it broke. */
  broken: number;
  /** Robust accuracy after it (cumulative over the attacks so far). */
  robustAccuracy: number;
  /** Model calls per attacked image on average (gradient steps for gradient attacks, queries for Square and noise). */
  meanQueries: number;
  /** Seconds it took. */
  seconds: number;
}

/**
 * Per-label metrics of a multi-label model (clean, or under the worst case).
 * @category Metrics
 */
export interface WorstCasePerLabel {
  /** ROC AUC per finding (NaN where the labels hold one value). */
  auc: number[];
  /** Average precision per finding (NaN without positives). */
  averagePrecision: number[];
  /** The fraction of (image, finding) pairs predicted wrong. */
  hammingLoss: number;
}

/**
 * The worst case at one ε.
 * @category Metrics
 */
export interface WorstCaseRow {
  /** The budget. */
  epsilon: number;
  /** Share of the counted images no attack broke (see `goal`). */
  robustAccuracy: number;
  /** Number of those images. */
  robustCount: number;
  /** ROC AUC on each image's worst-case logits. */
  auc: number;
  /** Robust accuracy after the first attack when it is PGD (the paper's figure), else NaN. */
  pgdAccuracy: number;
  /** `pgdAccuracy − robustAccuracy`: how much PGD alone over-states robustness (≥ 0 by construction). */
  gap: number;
  /** One entry per attack, in order. */
  attacks: WorstCaseAttackRow[];
  /** Multi-label only: per-finding metrics under the worst case. */
  perLabel?: WorstCasePerLabel;
  /** Per image, in data order. */
  samples: {
    /** Broken by the clean prediction or an attack. */
    broken: boolean[];
    /** `'clean'`, the attack that broke it, or null. */
    brokenBy: Array<string | null>;
    /** The goal margin of the worst-case logits (> 0: broken). */
    margin: number[];
    /** Model calls spent on it. */
    queries: number[];
  };
  /** Seconds spent on this ε. */
  seconds: number;
}

/**
 * An attack of a {@link WorstCaseReport}: its settings with every default filled in, and its name.
 * @category Metrics
 */
export interface WorstCaseAttackInfo extends WorstCaseAttack {
  /** The name used in the rows, e.g. `'pgd-10'` or `'apgd-t'`. */
  name: string;
}

/**
 * The result of {@link evaluateWorstCase}.
 * @category Metrics
 */
export interface WorstCaseReport {
  /** Images evaluated. */
  n: number;
  /** Images the goal applies to (all but `{ hide }`/`{ add }` goals). */
  counted: number;
  /** The threat model. */
  norm: 'linf' | 'l2';
  /** The task. */
  task: Task;
  /** `'standard'`, `'cheap'` or `'custom'`. */
  version: string;
  /** The attacks run, with their budgets. */
  attacks: WorstCaseAttackInfo[];
  /** Clean metrics. */
  clean: {
    /** Share of the counted images not broken at ε = 0. */
    accuracy: number;
    /** ROC AUC of the clean logits. */
    auc: number;
    /** Multi-label only. */
    perLabel?: WorstCasePerLabel;
  };
  /** One row per ε, in the order given. */
  rows: WorstCaseRow[];
  /** Whether each image counts (see `goal`). */
  eligible: boolean[];
  /** The sanity checks that fired. */
  warnings: WorstCaseWarning[];
  /** The seed, to replay the run. */
  seed: number;
  /** Total seconds (summed over the shards for a merged report). */
  seconds: number;
  /** The shard evaluated (`{ index: 0, count: 1 }` for the whole data set or a merged report). */
  shard: Shard;
  /** The per-sample records every figure above is computed from; {@link mergeWorstCase} merges shards by them. */
  records: WorstCaseRecords;
}

/**
 * The settings of a worst-case run that decide its results (shards merge only when they are equal).
 * @category Metrics
 */
export interface WorstCaseSettings {
  /** The budgets, in order. */
  epsilons: number[];
  /** The threat model. */
  norm: 'linf' | 'l2';
  /** The task. */
  task: Task;
  /** `'standard'`, `'cheap'` or `'custom'`. */
  version: string;
  /** The attacks with every default filled in. */
  attacks: WorstCaseAttackInfo[];
  /** The run's seed. */
  seed: number;
  /** The multi-label threshold (0.5 for single-label). */
  threshold: number;
  /** The multi-label goal as given, or null. */
  goal: unknown;
  /** The clip range. */
  clip: ClipRange;
  /** The AUROC average. */
  aucAverage: 'macro' | 'micro' | 'weighted';
  /** Whether the sanity checks ran. */
  checks: boolean;
}

/**
 * An attack's counts at one ε, summed over the images of a run or shard.
 * @category Metrics
 */
export interface WorstCaseTally {
  /** Images it attacked. */
  attacked: number;
  /** Images it broke. */
  broken: number;
  /** Model calls it spent. */
  queries: number;
  /** Seconds it took. */
  seconds: number;
}

/**
 * The per-sample records of an {@link evaluateWorstCase} run or shard, in data-set order: enough to
 * recompute every figure of the report (AUROC, AP and Hamming loss from the logits, never averaged).
 * @category Metrics
 */
export interface WorstCaseRecords {
  /** Always `'worst-case'`. */
  kind: 'worst-case';
  /** Images in the whole data set (all shards). */
  total: number;
  /** The data-set position of each record, ascending. */
  positions: number[];
  /** The settings that decide the results. */
  settings: WorstCaseSettings;
  /** Logits per image. */
  classes: number;
  /** Label columns per image (1 for class indices). */
  labelColumns: number;
  /** The labels, flat `[n, labelColumns]`. */
  labels: number[];
  /** The clean logits, flat `[n, classes]`. */
  clean: number[];
  /** Whether the clean prediction already breaks each image. */
  cleanBroken: boolean[];
  /** Per ε: each image's worst-case logits, flat `[n, classes]`. */
  worst: number[][];
  /** Per ε, per attack: its counts. */
  tallies: WorstCaseTally[][];
  /** The sanity checks' warnings from the data's first batch (equal in every shard). */
  checkWarnings: WorstCaseWarning[];
}

const KEYS = ['epsilon', 'norm', 'version', 'attacks', 'task', 'goal', 'threshold', 'clip', 'aucAverage', 'checks', 'seed', 'shard', 'disposeBatches', 'signal', 'onProgress', ...MEMORY_KEYS] as const;
const ATTACK_KINDS = ['pgd', 'apgd-ce', 'apgd-margin', 'apgd-dlr', 'apgd-t', 'noise', 'square'] as const;
/** Images the sanity checks look at (from the first batch). */
const CHECK_IMAGES = 16;

interface Resolved { name: string; spec: Required<Pick<WorstCaseAttack, 'attack'>> & WorstCaseAttack; whiteBox: boolean }

function validateAttacks(fn: string, value: unknown): WorstCaseAttack[] {
  if (!Array.isArray(value) || value.length === 0) throw new InvalidArgumentError(fn, 'options.attacks', 'a non-empty array of { attack, steps?, restarts?, targets?, queries?, draws? }', describeValue(value));
  return value.map((a: unknown, i) => {
    const arg = `options.attacks[${i}]`;
    const o = assertOptionsObject(fn, a);
    assertKnownKeys(fn, o, ['attack', 'steps', 'restarts', 'targets', 'queries', 'draws', 'seed'], arg);
    if (o.seed !== undefined) assertNumber(fn, `${arg}.seed`, o.seed, { integer: true, min: 0 });
    const kind = assertOneOf(fn, `${arg}.attack`, o.attack, ATTACK_KINDS);
    if (kind === undefined) throw new InvalidArgumentError(fn, `${arg}.attack`, `one of ${ATTACK_KINDS.map((k) => `'${k}'`).join(', ')}`, 'undefined');
    const allowed: Record<string, readonly string[]> = { pgd: ['steps', 'restarts'], noise: ['draws'], square: ['queries', 'restarts'], 'apgd-t': ['steps', 'targets'] };
    const ok = allowed[kind] ?? ['steps', 'restarts'];
    for (const k of ['steps', 'restarts', 'targets', 'queries', 'draws']) {
      if (o[k] === undefined) continue;
      if (!ok.includes(k)) throw new InvalidArgumentError(fn, `${arg}.${k}`, `no ${k} for attack '${kind}' (it takes ${ok.join(', ')})`, describeValue(o[k]));
      assertNumber(fn, `${arg}.${k}`, o[k], { integer: true, min: 1, max: k === 'queries' ? 1_000_000 : 100_000 });
    }
    return { ...(o as unknown as WorstCaseAttack) };
  });
}

/** The version's ensemble for a single-label model with `classes` classes (0: not single-label). */
function versionAttacks(version: 'standard' | 'cheap', classes: number): WorstCaseAttack[] {
  const dlr = classes >= 3;
  if (version === 'cheap') return [{ attack: 'pgd', steps: 10 }, { attack: 'apgd-ce', steps: 20 }, { attack: dlr ? 'apgd-dlr' : 'apgd-margin', steps: 20 }];
  return [
    { attack: 'pgd', steps: 10 },
    { attack: 'apgd-ce', steps: 100 },
    classes >= 4 ? { attack: 'apgd-t', steps: 100, targets: 9 } : { attack: dlr ? 'apgd-dlr' : 'apgd-margin', steps: 100 },
    { attack: 'noise', draws: 20 },
    { attack: 'square', queries: 5000 },
  ];
}

function resolveAttacks(list: WorstCaseAttack[], classes: number): Resolved[] {
  const names = new Map<string, number>();
  return list.map((a) => {
    const spec = {
      ...a,
      ...(a.attack === 'pgd' ? { steps: a.steps ?? 10, restarts: a.restarts ?? 1 } : {}),
      ...(a.attack.startsWith('apgd') ? { steps: a.steps ?? 100 } : {}),
      ...(a.attack.startsWith('apgd') && a.attack !== 'apgd-t' ? { restarts: a.restarts ?? 1 } : {}),
      ...(a.attack === 'apgd-t' ? { targets: Math.min(a.targets ?? 9, Math.max(classes - 1, 1)) } : {}),
      ...(a.attack === 'square' ? { queries: a.queries ?? 5000, restarts: a.restarts ?? 1 } : {}),
      ...(a.attack === 'noise' ? { draws: a.draws ?? 20 } : {}),
    };
    let name = a.attack === 'pgd' ? `pgd-${spec.steps}` : a.attack;
    const seen = names.get(name) ?? 0;
    names.set(name, seen + 1);
    if (seen > 0) name = `${name}#${seen + 1}`;
    return { name, spec, whiteBox: a.attack !== 'noise' && a.attack !== 'square' };
  });
}

/**
 * The seed of an attack (by name, target rank and the budget's position in the list): the same for every
 * batch, whatever the other attacks and the units of ε, so an image broken by an attack alone is broken
 * by any ensemble that holds it, and an evaluation in native units equals the one in [0, 1].
 */
function seedFor(seed: number, name: string, budget: number, rank: number): number {
  let h = seed >>> 0;
  for (const ch of `${name}|${budget}|${rank}`) h = Math.imul(h ^ ch.charCodeAt(0), 0x9e3779b1) >>> 0;
  return createRng(h).nextSeed();
}

interface Tally { attacked: number; broken: number; queries: number; seconds: number }
interface EpsState { worst: number[]; broken: boolean[]; brokenBy: Array<string | null>; margin: number[]; queries: number[]; tallies: Tally[]; seconds: number }

/**
 * The worst case over an ensemble of attacks, in the manner of AutoAttack (Croce & Hein 2020), for
 * binary, multi-class, single-logit and multi-label models: each attack runs only on the images still
 * robust, and an image counts as broken when any attack (or restart) breaks it. Where AutoAttack's DLR
 * losses are undefined (2 classes, one logit, multi-label) APGD runs on a margin loss, per finding for
 * multi-label goals (see {@link MultiLabelGoal}). PGD-10 runs first, so the worst case is at most
 * PGD-10's robust accuracy by construction and the gap is reported.
 *
 * The report gives per ε the robust accuracy, the AUROC on each image's worst-case logits (the logits of
 * the image that broke it, or of its highest-margin adversarial image), per-finding AUROC, AP and
 * Hamming loss for multi-label models, each attack's share, queries and time, and per image whether,
 * by what and at what margin it broke. Sanity checks warn (`MedrobustWarning`, listed in
 * `report.warnings`) when the evaluation is unreliable: a stochastic model, probabilities instead of
 * logits, zero/NaN/vanishing gradients, accuracy above 0 at an ε that allows every input, robust accuracy
 * rising with ε, and random noise or Square breaking images the white-box attacks did not.
 *
 * Batches stream (only logits are kept), may carry a region-of-interest `mask`, run in memory-bounded
 * chunks, and an image's result does not depend on its batch. Every attack's output is checked: NaN
 * throws {@link NonFiniteError}, a perturbation beyond ε (or outside the mask) throws
 * {@link PerturbationBudgetError}.
 *
 * @param model - a {@link ModelFn} returning logits or a single-output `tf.LayersModel`.
 * @param data - {@link WorstCaseBatch} batches in any {@link BatchInput} form, read once.
 * @param options - see {@link EvaluateWorstCaseOptions}.
 * @returns the {@link WorstCaseReport}.
 * @throws {InvalidArgumentError} for bad options, batches, labels or masks, or an attack that does not
 *   fit the model (DLR with fewer than 3 classes).
 * @throws {NonFiniteError} when the model returns NaN or Infinity.
 * @throws {AbortError} when `signal` fires.
 *
 * @example
 * ```ts
 * const report = await evaluateWorstCase(model, [{ images, labels }], { epsilon: [2 / 255, 8 / 255], seed: 1 });
 * for (const row of report.rows) console.log(row.epsilon, row.pgdAccuracy, row.robustAccuracy, row.gap);
 * // A multi-label chest model: can an attacker hide finding 3?
 * await evaluateWorstCase(model, batches, { epsilon: 4 / 255, task: 'multi-label', goal: { hide: 3 }, version: 'cheap' });
 * ```
 * @category Metrics
 */
export async function evaluateWorstCase(model: Model, data: BatchInput<WorstCaseBatch>, options: EvaluateWorstCaseOptions): Promise<WorstCaseReport> {
  const fn = 'evaluateWorstCase';
  return entryAsync(fn, (bag) => evaluate(fn, bag, model, data, options));
}

async function evaluate(fn: string, bag: TensorBag, model: Model, data: BatchInput<WorstCaseBatch>, options: EvaluateWorstCaseOptions): Promise<WorstCaseReport> {
  const t0 = Date.now();
  const o = assertOptionsObject(fn, options);
  assertKnownKeys(fn, o, KEYS);
  const modelFn = toModelFn(model, fn);
  assertBatchInput(fn, 'data', data);
  if (o.epsilon === undefined) throw new InvalidArgumentError(fn, 'options.epsilon', 'a finite number >= 0 or a non-empty array of them (it has no default: the budget is the experiment)', 'undefined');
  const epsilons = Array.isArray(o.epsilon) ? o.epsilon.map((e, i) => assertNumber(fn, `options.epsilon[${i}]`, e, { min: 0 })) : [assertNumber(fn, 'options.epsilon', o.epsilon, { min: 0 })];
  if (epsilons.length === 0) throw new InvalidArgumentError(fn, 'options.epsilon', 'a finite number >= 0 or a non-empty array of them', 'an empty array');
  const norm = assertOneOf(fn, 'options.norm', o.norm, ['linf', 'l2'] as const) ?? 'linf';
  const version = assertOneOf(fn, 'options.version', o.version, ['standard', 'cheap'] as const) ?? 'standard';
  if (o.attacks !== undefined && o.version !== undefined) throw new InvalidArgumentError(fn, 'options.version', 'no version with a custom attacks list', JSON.stringify(o.version));
  const custom = o.attacks === undefined ? null : validateAttacks(fn, o.attacks);
  const task = assertOneOf<Task>(fn, 'options.task', o.task, ['single-label', 'multi-label']) ?? 'single-label';
  if (o.threshold !== undefined && task !== 'multi-label') throw new InvalidArgumentError(fn, 'options.threshold', "no value unless task is 'multi-label'", describeValue(o.threshold));
  const threshold = o.threshold === undefined ? 0.5 : assertNumber(fn, 'options.threshold', o.threshold, { min: 0, max: 1, minExclusive: true, maxExclusive: true });
  if (o.goal !== undefined && task !== 'multi-label') throw new InvalidArgumentError(fn, 'options.goal', "no goal for task 'single-label' (an image is broken when its argmax leaves the label)", describeValue(o.goal));
  const clip = (o.clip === undefined ? [0, 1] : o.clip) as ClipRange;
  if (clip === 'batch') throw new InvalidArgumentError(fn, 'options.clip', "a fixed range [min, max], per-channel { min, max } or null ('batch' would depend on which images are still robust)", "'batch'");
  const aucAverage = assertOneOf(fn, 'options.aucAverage', o.aucAverage, ['macro', 'micro', 'weighted'] as const) ?? 'macro';
  const checks = assertBoolean(fn, 'options.checks', o.checks) ?? true;
  const seed = assertOptionalNumber(fn, 'options.seed', o.seed, { integer: true, min: 0 }) ?? drawSeed();
  const shard = assertShard(fn, 'options.shard', o.shard);
  const disposeOption = assertBoolean(fn, 'options.disposeBatches', o.disposeBatches);
  const signal = assertSignal(fn, 'options.signal', o.signal);
  assertFunction(fn, 'options.onProgress', o.onProgress);
  const onProgress = o.onProgress as ((p: Progress) => void) | undefined;
  const memory = readMemoryOptions(fn, o);
  const checkAbort = (): void => {
    if (signal?.aborted) throw new AbortError(`${fn} was aborted`);
  };
  checkAbort();
  const forward = (x: tf.Tensor4D): tf.Tensor2D => mapInChunks(fn, x, memory, { model, kind: 'forward' }, (chunk) => modelFn(chunk));

  let classes = -1;
  let labelCols = -1;
  let goal: Goal | null = null;
  let attacks: Resolved[] = [];
  const warnings: WorstCaseWarning[] = [];
  const cleanLogits: number[] = [];
  const labelRows: number[] = [];
  const eligible: boolean[] = [];
  const cleanBroken: boolean[] = [];
  const states: EpsState[] = epsilons.map(() => ({ worst: [], broken: [], brokenBy: [], margin: [], queries: [], tallies: [], seconds: 0 }));
  let n = 0;
  let total = 0;
  const positions: number[] = [];
  let b = 0;
  let runs = 0;
  const totalRuns = Array.isArray(data) ? data.length * epsilons.length : Number.NaN;

  for await (const { batch, owned } of iterateBatches<WorstCaseBatch>(fn, 'data', data, 0)) {
    try {
      if (typeof batch !== 'object' || batch === null || !(batch.images instanceof tf.Tensor) || !(batch.labels instanceof tf.Tensor)) {
        throw new InvalidArgumentError(fn, `data[${b}]`, 'a batch { images: Tensor4D, labels: Tensor, mask?: Tensor4D }', describeValue(batch));
      }
      assertKnownKeys(fn, batch as unknown as Record<string, unknown>, ['images', 'labels', 'mask'], `data[${b}]`);
      const images = assertImages(fn, `data[${b}].images`, batch.images);
      assertModelInput(fn, `data[${b}].images`, model, images);
      const labels = batch.labels;
      const bn = images.shape[0];
      const okRank = task === 'multi-label' ? labels.rank === 2 : labels.rank === 1 || labels.rank === 2;
      if (!okRank || labels.shape[0] !== bn) {
        throw new InvalidArgumentError(fn, `data[${b}].labels`, task === 'multi-label' ? `a multi-hot [${bn}, C] tensor` : `class indices [${bn}] or one-hot [${bn}, C]`, `shape [${labels.shape.join(',')}]`);
      }
      const mask = assertMask(fn, `data[${b}].mask`, batch.mask, images.shape);
      assertClip(fn, 'options.clip', clip, images.shape[3]);
      const clean = tf.tidy(() => forward(images));
      const c = clean.shape[1];
      const values = clean.dataSync();
      clean.dispose();
      for (const v of values) if (!Number.isFinite(v)) throw new NonFiniteError(fn, 'logits', `the model returned NaN or Infinity on the clean images of data[${b}]`);
      const lab = labels.dataSync();
      const cols = labels.rank === 1 ? 1 : labels.shape[1]!;
      if (classes === -1) {
        classes = c;
        labelCols = cols;
        goal = parseGoal(fn, 'options.goal', o.goal, task, false, c, threshold);
        const single = task === 'single-label' ? c : 0;
        attacks = resolveAttacks(custom ?? versionAttacks(version, single), c);
        attacks.forEach((a, i) => {
          const need = a.spec.attack === 'apgd-t' ? 4 : a.spec.attack === 'apgd-dlr' ? 3 : 0;
          if (need > 0 && single < need) {
            throw new InvalidArgumentError(fn, `options.attacks[${i}].attack`, `an attack defined for this model ('apgd-margin'${single === 3 ? " or 'apgd-dlr'" : ''}): ${a.spec.attack === 'apgd-t' ? 'the targeted DLR needs a single-label model with at least 4 classes' : 'DLR needs a single-label model with at least 3 classes'}, this one is ${task} with ${c} output${c === 1 ? '' : 's'}`, `'${a.spec.attack}'`);
          }
        });
        if (task === 'single-label' && c < 2) throw new InvalidArgumentError(fn, 'model', "at least 2 logits for task 'single-label' (a single-logit sigmoid model is task 'multi-label' with one label)", `${c} logit`);
        if (checks) {
          const w = checkProbabilities(fn, values, c, task);
          if (w) warnings.push(w);
        }
      } else if (c !== classes) throw new InvalidArgumentError(fn, 'model', `the same number of logits for every batch (${classes})`, `${c} in batch ${b}`);
      if (cols !== labelCols) throw new InvalidArgumentError(fn, `data[${b}].labels`, `labels with ${labelCols} column(s) like the first batch`, `shape [${labels.shape.join(',')}]`);
      for (let i = 0; i < lab.length; i++) {
        const v = lab[i]!;
        if (labels.rank === 1 ? !(Number.isInteger(v) && v >= 0 && v < c) : !(v === 0 || v === 1)) {
          throw new InvalidArgumentError(fn, `data[${b}].labels`, labels.rank === 1 ? `class indices in [0, ${c - 1}]` : '0/1 values', `${describeValue(v)} at flat index ${i}`);
        }
      }
      if (labels.rank === 2 && cols !== c) throw new InvalidArgumentError(fn, `data[${b}].labels`, `[${bn}, ${c}] to match the model's ${c} logits`, `shape [${labels.shape.join(',')}]`);
      const g = goal!;
      const yGoal = goalLabels(g, labels);
      if (yGoal !== labels) bag.own(yGoal);
      const [cleanMargin, cleanWon, ok] = tf.tidy(() => {
        const z = tf.tensor2d(values, [bn, c]);
        return [goalMargin(z, yGoal, g).dataSync(), goalSuccess(z, yGoal, g).dataSync(), goalEligible(labels, g).dataSync()];
      });
      const batchEligible = Array.from(ok, (v) => v !== 0);
      const batchBroken = Array.from(cleanWon, (v, i) => v !== 0 && batchEligible[i]!);

      if (checks && b === 0) {
        const probe = batchEligible.map((e, i) => (e && !batchBroken[i] ? i : -1)).filter((i) => i >= 0).slice(0, CHECK_IMAGES);
        const all = Array.from({ length: Math.min(bn, CHECK_IMAGES) }, (_, i) => i);
        const xs = bag.own(tf.gather(images, all));
        const w1 = checkStochastic(fn, modelFn, xs, values.subarray(0, all.length * c));
        bag.free(xs);
        if (w1) warnings.push(w1);
        if (probe.length > 0) {
          const sub = subset(bag, images, yGoal, labels, mask, probe);
          const positive = epsilons.filter((e) => e > 0);
          const w2 = checkGradients(fn, modelFn, sub.x, sub.y, g, positive.length > 0 ? Math.min(...positive) : 0, norm, sub.m);
          if (w2) warnings.push(w2);
          if (!mask && clip !== null) {
            const widths = Array.isArray(clip) ? [(clip as readonly number[])[1]! - (clip as readonly number[])[0]!] : (clip as { min: readonly number[]; max: readonly number[] }).max.map((v, k) => v - (clip as { min: readonly number[] }).min[k]!);
            const width = Math.max(...widths);
            const dims = images.shape[1] * images.shape[2] * images.shape[3];
            const large = norm === 'linf' ? width : width * Math.sqrt(dims);
            const adv = bag.own(await inner(fn, 'the large-ε check', b, -1, () => apgdAsync(model, sub.x, sub.truth, {
              epsilon: large, norm, loss: 'margin', steps: 25, clip, task, seed: seedFor(seed, 'large-epsilon check', -1, 0), ...memory,
              ...(task === 'multi-label' ? { goal: o.goal as MultiLabelGoal ?? 'flip-any', threshold } : {}), ...(signal ? { signal } : {}),
            })));
            const won = tf.tidy(() => goalSuccess(forward(adv), sub.y, g).dataSync());
            bag.free(adv);
            const w3 = largeEpsilonWarning(fn, large, won.filter((v) => v === 0).length, probe.length);
            if (w3) warnings.push(w3);
          }
          freeSubset(bag, sub, mask);
        }
      }

      // The shard's rows of this batch (every row for the whole data set). Everything above ran on the
      // whole batch, so every shard validates the data and its sanity checks see the unsharded run's images.
      const offset = total;
      total += bn;
      const rows = shard.count === 1 ? null : Array.from({ length: bn }, (_, i) => i).filter((i) => inShard(offset + i, shard));
      const pick = <T>(xs: ArrayLike<T>, width = 1): T[] => (rows === null ? Array.from(xs) : rows.flatMap((i) => Array.from({ length: width }, (_, q) => xs[i * width + q]!)));
      for (const v of pick(lab, cols)) labelRows.push(v);
      for (const v of pick(values, c)) cleanLogits.push(v);
      const here = rows === null ? Array.from({ length: bn }, (_, i) => offset + i) : rows.map((i) => offset + i);
      positions.push(...here);
      const shardEligible = pick(batchEligible);
      const shardBroken = pick(batchBroken);
      eligible.push(...shardEligible);
      cleanBroken.push(...shardBroken);
      const sn = here.length;
      const part = rows === null || sn === 0 ? null : subset(bag, images, yGoal, labels, mask, rows);
      const sImages = part ? part.x : images;
      const sGoal = part ? part.y : yGoal;
      const sLabels = part ? part.truth : labels;
      const sMask = part ? part.m : mask;
      const sValues = pick(values, c);
      const sMargin = pick(cleanMargin);

      for (let e = 0; e < epsilons.length && sn > 0; e++) {
        const epsilon = epsilons[e]!;
        const st = states[e]!;
        const te = Date.now();
        const robust = shardEligible.map((v, i) => v && !shardBroken[i]!);
        const worst = Array.from(sValues);
        const margin = Array.from(sMargin);
        const brokenBy: Array<string | null> = shardBroken.map((v) => (v ? 'clean' : null));
        const queries = new Array<number>(sn).fill(0);
        for (let a = 0; a < attacks.length; a++) {
          checkAbort();
          const att = attacks[a]!;
          const tally = (st.tallies[a] ??= { attacked: 0, broken: 0, queries: 0, seconds: 0 });
          const ta = Date.now();
          const ranks = att.spec.attack === 'apgd-t' ? Array.from({ length: att.spec.targets! }, (_, k) => k + 2) : [0];
          let firstPass = true;
          for (const rank of ranks) {
            const idx = robust.map((v, i) => (v ? i : -1)).filter((i) => i >= 0);
            if (firstPass) tally.attacked += idx.length;
            firstPass = false;
            if (idx.length === 0) break;
            const sub = subset(bag, sImages, sGoal, sLabels, sMask, idx);
            const seedA = att.spec.seed ?? seedFor(seed, att.name, e, rank);
            const result = await inner(fn, `attack '${att.name}'${rank ? ` (target rank ${rank})` : ''} at ε = ${epsilon}`, b, custom ? a : -1, () => runAttack(att, rank, model, modelFn, sub, g, {
              epsilon, norm, clip, task, threshold, goal: o.goal as MultiLabelGoal | undefined, seed: seedA, memory, signal, forward,
            }));
            const adv = bag.own(result.adv);
            const read = tf.tidy(() => {
              const z = forward(adv);
              const delta = tf.reshape(tf.sub(adv, sub.x), [idx.length, -1]);
              const finite = tf.isFinite(delta);
              const safe = tf.where(finite, delta, tf.zerosLike(delta));
              const outside = sub.m ? tf.max(tf.abs(tf.reshape(tf.mul(tf.sub(adv, sub.x), tf.sub(1, tf.cast(sub.m, 'float32'))), [idx.length, -1])), 1) : tf.zeros([idx.length]);
              return tf.concat([tf.reshape(z, [-1]), goalMargin(z, sub.y, g), tf.cast(goalSuccess(z, sub.y, g), 'float32'),
                norm === 'linf' ? tf.max(tf.abs(safe), 1) : tf.sqrt(tf.sum(tf.square(safe), 1)), outside, tf.sum(tf.cast(tf.logicalNot(finite), 'float32'), 1)]).dataSync();
            });
            bag.free(adv);
            freeSubset(bag, sub, sMask);
            const k = idx.length;
            const base = k * c;
            for (let j = 0; j < k; j++) {
              const i = idx[j]!;
              if (read[base + 4 * k + j]! > 0) throw new NonFiniteError(fn, `the adversarial images of attack '${att.name}'`, `${read[base + 4 * k + j]} values of image ${i} of data[${b}] are NaN or Infinity at ε = ${epsilon}`);
              for (let q = 0; q < c; q++) if (!Number.isFinite(read[j * c + q]!)) throw new NonFiniteError(fn, 'logits', `the model returned NaN or Infinity on the adversarial images of attack '${att.name}' (data[${b}])`);
              const size = read[base + 2 * k + j]!;
              if (size > epsilon + epsilon * 1e-5 + 1e-6 || read[base + 3 * k + j]! > 0) {
                throw new PerturbationBudgetError(fn, att.name, epsilon, norm, read[base + 3 * k + j]! > 0 ? Number.POSITIVE_INFINITY : size, here[i]!);
              }
              queries[i] = queries[i]! + result.queries[j]!;
              tally.queries += result.queries[j]!;
              const m = read[base + j]!;
              if (read[base + k + j]! > 0) {
                robust[i] = false;
                brokenBy[i] = att.name;
                margin[i] = m;
                for (let q = 0; q < c; q++) worst[i * c + q] = read[j * c + q]!;
                tally.broken++;
              } else if (m > margin[i]!) {
                margin[i] = m;
                for (let q = 0; q < c; q++) worst[i * c + q] = read[j * c + q]!;
              }
            }
          }
          tally.seconds += (Date.now() - ta) / 1000;
          runs++;
          if (onProgress) {
            const elapsedSeconds = (Date.now() - t0) / 1000;
            const left = robust.filter(Boolean).length;
            const counted = shardEligible.filter(Boolean).length;
            const total = totalRuns * attacks.length;
            onProgress({ phase: 'attack', done: runs, total, elapsedSeconds, etaSeconds: (elapsedSeconds / runs) * (total - runs), metrics: { epsilon, robustAccuracy: counted > 0 ? left / counted : Number.NaN } });
          }
          await nextTick();
        }
        st.worst.push(...worst);
        st.broken.push(...robust.map((r, i) => shardEligible[i]! && !r));
        st.brokenBy.push(...brokenBy);
        st.margin.push(...margin);
        st.queries.push(...queries);
        st.seconds += (Date.now() - te) / 1000;
      }
      if (part) freeSubset(bag, part, mask);
      n += sn;
      b++;
    } finally {
      if ((disposeOption ?? owned) && batch && typeof batch === 'object') {
        for (const t of [batch.images, batch.labels, batch.mask]) if (t instanceof tf.Tensor) t.dispose();
      }
    }
  }
  if (total === 0) throw new InvalidArgumentError(fn, 'data', 'at least one batch', 'no batches');

  const records: WorstCaseRecords = {
    kind: 'worst-case',
    total,
    positions,
    settings: {
      epsilons, norm, task, version: custom ? 'custom' : version, attacks: attacks.map((a) => ({ ...a.spec, name: a.name })), seed, threshold,
      goal: (o.goal ?? null) as WorstCaseSettings['goal'], clip, aucAverage, checks,
    },
    classes,
    labelColumns: labelCols,
    labels: labelRows,
    clean: cleanLogits,
    cleanBroken,
    worst: states.map((st) => st.worst),
    tallies: states.map((st) => attacks.map((_, i) => st.tallies[i] ?? { attacked: 0, broken: 0, queries: 0, seconds: 0 })),
    checkWarnings: warnings,
  };
  return summarizeWorstCase(fn, {
    records, eligible, shard,
    samples: states.map((st) => ({ broken: st.broken, brokenBy: st.brokenBy, margin: st.margin, queries: st.queries })),
    rowSeconds: states.map((st) => st.seconds),
    seconds: (Date.now() - t0) / 1000,
  });
}

/** What {@link summarizeWorstCase} computes a report from: a run's (or merged shards') records. @internal */
export interface WorstCaseParts {
  records: WorstCaseRecords;
  eligible: boolean[];
  shard: Shard;
  samples: WorstCaseRow['samples'][];
  rowSeconds: number[];
  seconds: number;
}

/**
 * The report of per-sample records: every figure computed from the records alone (the unsharded run,
 * a shard, and {@link mergeWorstCase} over all shards all go through here).
 * @internal
 */
export function summarizeWorstCase(fn: string, p: WorstCaseParts): WorstCaseReport {
  const { records: rec, eligible, samples } = p;
  const { task, threshold, aucAverage, norm } = rec.settings;
  const classes = rec.classes;
  const n = rec.positions.length;
  const attacks = rec.settings.attacks.map((a) => ({ name: a.name, whiteBox: a.attack !== 'noise' && a.attack !== 'square', attack: a.attack }));
  const warnings: WorstCaseWarning[] = [...rec.checkWarnings];
  const counted = eligible.filter(Boolean).length;
  const labelsMat = { data: rec.labels, shape: [n, rec.labelColumns] as [number, number] };
  const scores = (logits: number[]): { data: Float64Array; shape: [number, number] } => {
    const mat = { data: Float64Array.from(logits), rows: n, cols: classes };
    return { data: task === 'multi-label' ? labelProbabilities(mat, 'logits') : classProbabilities(mat, 'logits'), shape: [n, classes] };
  };
  const auc = (logits: number[]): number => (n === 0 ? Number.NaN : rocAuc(scores(logits), labelsMat, { average: aucAverage, task }));
  const perLabel = (logits: number[]): WorstCasePerLabel | undefined => (task !== 'multi-label' ? undefined : n === 0 ? {
    auc: new Array<number>(classes).fill(Number.NaN), averagePrecision: new Array<number>(classes).fill(Number.NaN), hammingLoss: Number.NaN,
  } : {
    auc: rocAucPerClass(scores(logits), labelsMat, { task }),
    averagePrecision: averagePrecision(logits.length === 0 ? [] : { data: logits, shape: [n, classes] }, labelsMat, { task, average: 'none' }),
    hammingLoss: hammingLoss({ data: logits, shape: [n, classes] }, labelsMat, { task, threshold, from: 'logits' }),
  });
  const share = (broken: boolean[]): number => (counted === 0 ? Number.NaN : eligible.filter((v, i) => v && !broken[i]).length / counted);
  const cleanAccuracy = share(rec.cleanBroken);
  const rows: WorstCaseRow[] = rec.settings.epsilons.map((epsilon, e) => {
    const s = samples[e]!;
    const robustCount = eligible.filter((v, i) => v && !s.broken[i]).length;
    const robustAccuracy = counted === 0 ? Number.NaN : robustCount / counted;
    let remaining = eligible.filter((v, i) => v && !rec.cleanBroken[i]).length;
    const attackRows = attacks.map((a, i) => {
      const t = rec.tallies[e]![i]!;
      remaining -= t.broken;
      return { name: a.name, attacked: t.attacked, broken: t.broken, robustAccuracy: counted === 0 ? Number.NaN : remaining / counted, meanQueries: t.attacked > 0 ? t.queries / t.attacked : 0, seconds: t.seconds };
    });
    const pgdAccuracy = attacks[0]?.attack === 'pgd' ? attackRows[0]!.robustAccuracy : Number.NaN;
    const row: WorstCaseRow = {
      epsilon,
      robustAccuracy,
      robustCount,
      auc: auc(rec.worst[e]!),
      pgdAccuracy,
      gap: pgdAccuracy - robustAccuracy,
      attacks: attackRows,
      samples: s,
      seconds: p.rowSeconds[e]!,
    };
    const pl = perLabel(rec.worst[e]!);
    if (pl) row.perLabel = pl;
    // Black-box attacks that broke images after a white-box attack had its turn.
    const firstWhite = attacks.findIndex((a) => a.whiteBox);
    if (firstWhite >= 0) {
      const late = attacks.map((a, i) => ({ a, i })).filter(({ a, i }) => !a.whiteBox && i > firstWhite);
      const w = blackBoxWarning(fn, epsilon, late.map(({ a, i }) => ({ name: a.name, broken: attackRows[i]!.broken, attacked: attackRows[i]!.attacked })));
      if (w) warnings.push(w);
    }
    return row;
  });
  const mono = checkMonotone(fn, rows);
  if (mono) warnings.push(mono);
  const cleanRow: WorstCaseReport['clean'] = { accuracy: cleanAccuracy, auc: auc(rec.clean) };
  const cleanPerLabel = perLabel(rec.clean);
  if (cleanPerLabel) cleanRow.perLabel = cleanPerLabel;
  return {
    n,
    counted,
    norm,
    task,
    version: rec.settings.version,
    attacks: rec.settings.attacks.map((a) => ({ ...a })),
    clean: cleanRow,
    rows,
    eligible,
    warnings,
    seed: rec.settings.seed,
    seconds: p.seconds,
    shard: p.shard,
    records: rec,
  };
}

/** The images, goal labels, labels and mask rows of `idx` (new tensors registered in the bag; a shared mask as is). */
function subset(bag: TensorBag, images: tf.Tensor4D, yGoal: tf.Tensor, labels: tf.Tensor, mask: tf.Tensor4D | null, idx: number[]): SubBatch {
  const sub = bag.own({ x: tf.gather(images, idx) as tf.Tensor4D, y: tf.gather(yGoal, idx), truth: tf.gather(labels, idx) });
  const m = mask && mask.shape[0] === images.shape[0] ? bag.own(tf.gather(mask, idx) as tf.Tensor4D) : mask;
  return { ...sub, m };
}

function freeSubset(bag: TensorBag, sub: SubBatch, mask: tf.Tensor4D | null): void {
  bag.free([sub.x, sub.y, sub.truth]);
  if (sub.m && sub.m !== mask) bag.free(sub.m);
}

/** Runs an inner attack, restating its typed errors under evaluateWorstCase. */
async function inner<T>(fn: string, what: string, b: number, a: number, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    throw reattribute(err, fn, { images: `data[${b}].images`, labels: `data[${b}].labels`, model: 'model', options: a >= 0 ? `options.attacks[${a}]` : 'options' }, `${what} on data[${b}]`);
  }
}

interface RunSettings {
  epsilon: number;
  norm: 'linf' | 'l2';
  clip: ClipRange;
  task: Task;
  threshold: number;
  goal: MultiLabelGoal | undefined;
  seed: number;
  memory: MemoryOptions;
  signal: AbortSignal | undefined;
  forward: (x: tf.Tensor4D) => tf.Tensor2D;
}

interface SubBatch { x: tf.Tensor4D; y: tf.Tensor; truth: tf.Tensor; m: tf.Tensor4D | null }

/** Runs one attack of the ensemble on the still-robust images; returns new images and queries per image. */
async function runAttack(att: Resolved, rank: number, model: Model, modelFn: ModelFn, sub: SubBatch, goal: Goal, s: RunSettings): Promise<{ adv: tf.Tensor4D; queries: number[] }> {
  const k = sub.x.shape[0];
  const common = { epsilon: s.epsilon, norm: s.norm, clip: s.clip, task: s.task, seed: s.seed, ...s.memory, ...(s.signal ? { signal: s.signal } : {}), ...(sub.m ? { mask: sub.m } : {}) };
  const multi = s.task === 'multi-label' ? { goal: s.goal ?? 'flip-any', threshold: s.threshold } : {};
  const spec = att.spec;
  switch (spec.attack) {
    case 'pgd': {
      // The goal's cross-entropy, ascended (labels are the goal's: truth, or the target set).
      const adv = await pgdAsync(model, sub.x, sub.y, { ...common, steps: spec.steps!, restarts: spec.restarts!, loss: (z, y) => ascentLoss('ce', z, y, goal) });
      return { adv, queries: new Array<number>(k).fill(spec.steps! * spec.restarts!) };
    }
    case 'square': {
      const r = await squareAttackAsync(model, sub.x, sub.truth, { ...common, ...multi, queries: spec.queries!, restarts: spec.restarts! });
      return { adv: r.images, queries: r.queries };
    }
    case 'noise':
      return noise(modelFn, sub, goal, s, spec.draws!);
    default: {
      const loss = spec.attack === 'apgd-ce' ? 'ce' : spec.attack === 'apgd-margin' ? 'margin' : spec.attack === 'apgd-dlr' ? 'dlr' : 'dlr-targeted';
      const adv = await apgdAsync(model, sub.x, sub.truth, { ...common, ...multi, loss, steps: spec.steps!, ...(loss === 'dlr-targeted' ? { targetRank: rank } : { restarts: spec.restarts! }) });
      return { adv, queries: new Array<number>(k).fill(spec.steps! * (loss === 'dlr-targeted' ? 1 : spec.restarts!)) };
    }
  }
}

/**
 * Random corners of the ε-ball (L∞: ±ε per value; L2: a Gaussian direction of length ε), one pattern
 * per draw shared by the images; each image keeps its first success, or else its highest margin.
 */
async function noise(modelFn: ModelFn, sub: SubBatch, goal: Goal, s: RunSettings, draws: number): Promise<{ adv: tf.Tensor4D; queries: number[] }> {
  const [k, h, w, c] = sub.x.shape;
  const rng = createRng(s.seed);
  let best: tf.Tensor4D | null = tf.clone(sub.x);
  let margin = tf.fill([k], Number.NEGATIVE_INFINITY) as tf.Tensor1D;
  let won = tf.zeros([k]) as tf.Tensor1D;
  let queries = tf.zeros([k]) as tf.Tensor1D;
  try {
    const mask = sub.m ? tf.cast(sub.m, 'float32') : null;
    try {
      for (let d = 0; d < draws; d++) {
        if (s.signal?.aborted) throw new AbortError('evaluateWorstCase was aborted');
        const next = tf.tidy(() => {
          const drawn = s.norm === 'linf'
            ? tf.sub(tf.mul(tf.cast(tf.greater(tf.randomUniform([1, h, w, c], 0, 1, 'float32', rng.nextSeed()), 0.5), 'float32'), 2), 1)
            : tf.randomNormal([1, h, w, c], 0, 1, 'float32', rng.nextSeed());
          let pattern: tf.Tensor = tf.tile(drawn, [k, 1, 1, 1]);
          if (mask) pattern = tf.mul(pattern, mask);
          if (s.norm === 'l2') pattern = tf.div(pattern, tf.add(tf.reshape(tf.sqrt(tf.sum(tf.square(tf.reshape(pattern, [k, -1])), 1)), [k, 1, 1, 1]), 1e-12));
          const bounds = clipBounds(s.clip, sub.x);
          const candidate = clipTo(tf.add(sub.x, tf.mul(s.epsilon, pattern)) as tf.Tensor4D, bounds);
          const z = s.forward(candidate);
          const m = goalMargin(z, sub.y, goal);
          const ok = tf.cast(goalSuccess(z, sub.y, goal), 'float32');
          const open = tf.sub(1, won);
          const accept = tf.logicalAnd(tf.greater(open, 0), tf.logicalOr(tf.greater(ok, 0), tf.greater(m, margin)));
          return {
            best: tf.where(tf.reshape(accept, [k, 1, 1, 1]), candidate, best!),
            margin: tf.where(accept, m, margin),
            won: tf.maximum(won, tf.mul(open, ok)),
            queries: tf.add(queries, open),
          };
        });
        tf.dispose([best!, margin, won, queries]);
        best = next.best as tf.Tensor4D;
        margin = next.margin as tf.Tensor1D;
        won = next.won as tf.Tensor1D;
        queries = next.queries as tf.Tensor1D;
        await nextTick();
      }
    } finally {
      mask?.dispose();
    }
    const q = Array.from(queries.dataSync());
    const adv = best!;
    best = null;
    return { adv, queries: q };
  } finally {
    tf.dispose([...(best ? [best] : []), margin, won, queries]);
  }
}
