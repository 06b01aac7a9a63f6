import { InvalidArgumentError } from '../errors.js';
import { assertKnownKeys, assertOneOf, assertOptionsObject } from '../internal/validate.js';
import type { Task } from '../types.js';
import { readLabels, readScores } from './labels.js';
import type { MatrixLike, VectorLike } from './matrix.js';

/**
 * Options of {@link rocAuc}.
 * @category Metrics
 */
export interface RocAucOptions {
  /**
   * How the per-class (one-vs-rest) AUCs are combined, as in scikit-learn's `roc_auc_score`:
   * `'macro'` the unweighted mean over classes, `'weighted'` the mean weighted by each class's
   * positives, `'micro'` one AUC over all (score, label) pairs pooled.
   * @defaultValue 'macro'
   */
  average?: 'macro' | 'micro' | 'weighted';
  /**
   * The task, which picks the label format: class indices `[N]` / one-hot for `'single-label'`,
   * multi-hot `[N, C]` for `'multi-label'`.
   * @defaultValue 'single-label'
   */
  task?: Task;
}

/**
 * Area under the ROC curve of one score column against 0/1 labels, with ties handled like
 * scikit-learn (the trapezoid over distinct thresholds, which equals the Mann-Whitney statistic with
 * tied pairs counted ½): AUC = (Σ ranks of positives − P(P+1)/2) / (P·N), average ranks for ties.
 * NaN when the labels hold only one class (scikit-learn raises there).
 */
export function binaryAuc(scores: ArrayLike<number>, labels: ArrayLike<number>, stride = 1, offset = 0, count = scores.length): number {
  const order = new Int32Array(count);
  for (let i = 0; i < count; i++) order[i] = i;
  const at = (i: number): number => scores[offset + i * stride]!;
  order.sort((a, b) => at(a) - at(b));
  let pos = 0;
  let rankSum = 0;
  let i = 0;
  while (i < count) {
    let j = i;
    const v = at(order[i]!);
    while (j + 1 < count && at(order[j + 1]!) === v) j++;
    const avgRank = (i + j) / 2 + 1;
    for (let t = i; t <= j; t++) {
      if (labels[offset + order[t]! * stride] === 1) {
        pos++;
        rankSum += avgRank;
      }
    }
    i = j + 1;
  }
  const neg = count - pos;
  if (pos === 0 || neg === 0) return Number.NaN;
  return (rankSum - (pos * (pos + 1)) / 2) / (pos * neg);
}

function perClass(fn: string, scores: MatrixLike | VectorLike, labels: MatrixLike | VectorLike, task: Task): { auc: number[]; positives: number[]; scores: Float64Array; indicator: Float64Array } {
  const s = readScores(fn, 'scores', scores);
  const { indicator } = readLabels(fn, 'labels', labels, s.rows, s.cols, task);
  const auc: number[] = [];
  const positives: number[] = [];
  for (let c = 0; c < s.cols; c++) {
    auc.push(binaryAuc(s.data, indicator, s.cols, c, s.rows));
    let p = 0;
    for (let i = 0; i < s.rows; i++) p += indicator[i * s.cols + c]!;
    positives.push(p);
  }
  return { auc, positives, scores: s.data, indicator };
}

/**
 * ROC AUC, one-vs-rest per class, averaged (scikit-learn's `roc_auc_score` with
 * `average='macro' | 'micro' | 'weighted'`, ties handled the same way). A single score column (or a
 * vector) with 0/1 labels is the binary AUC. Classes whose labels hold a single value have no
 * AUC; the macro and weighted means skip them, and a result with no defined class is NaN.
 *
 * Which scores: the AUC depends only on the order of each column's values (all values pooled, for
 * `'micro'`), so a transform applied value by value with one monotone function leaves it unchanged.
 * - Multi-label: sigmoid is such a transform, so logits and sigmoid probabilities give the same AUC
 *   for every `average`.
 * - Single-label, one-vs-rest: softmax is **not**: class k's probability depends on every logit of the
 *   row, so logits and softmax probabilities rank the images differently and give different AUCs (also
 *   with 2 classes: p₁ orders by z₁ − z₀, the logit column by z₁ alone). Pass softmax probabilities, as
 *   scikit-learn's `roc_auc_score(multi_class='ovr')` requires and {@link evaluateRobustness} does.
 * Tensors are read once and never disposed.
 *
 * @param scores - `[N, C]` scores (or `[N]` for a binary problem).
 * @param labels - class indices `[N]` or one-hot `[N, C]` (single-label), multi-hot `[N, C]`
 *   (multi-label), or 0/1 `[N]` for binary scores.
 * @param options - see {@link RocAucOptions}.
 * @returns the averaged AUC in [0, 1], or NaN when undefined.
 * @throws {InvalidArgumentError} for mismatched counts, labels that are not 0/1 or valid class
 *   indices, ragged rows, NaN scores, or an unknown option.
 *
 * @example
 * ```ts
 * rocAuc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]); // 0.75
 * ```
 * @category Metrics
 */
export function rocAuc(scores: MatrixLike | VectorLike, labels: MatrixLike | VectorLike, options: RocAucOptions = {}): number {
  const fn = 'rocAuc';
  const o = assertOptionsObject(fn, options);
  assertKnownKeys(fn, o, ['average', 'task']);
  const average = assertOneOf(fn, 'options.average', o.average, ['macro', 'micro', 'weighted'] as const) ?? 'macro';
  const task = assertOneOf<Task>(fn, 'options.task', o.task, ['single-label', 'multi-label']) ?? 'single-label';
  const r = perClass(fn, scores, labels, task);
  if (average === 'micro') return binaryAuc(r.scores, r.indicator);
  let sum = 0;
  let weight = 0;
  r.auc.forEach((a, c) => {
    if (Number.isNaN(a)) return;
    const w = average === 'weighted' ? r.positives[c]! : 1;
    sum += w * a;
    weight += w;
  });
  return weight > 0 ? sum / weight : Number.NaN;
}

/**
 * Per-class one-vs-rest ROC AUC (scikit-learn's `average=None`); NaN for a class whose labels hold
 * a single value.
 *
 * @param scores - `[N, C]` scores (or `[N]` for a binary problem).
 * @param labels - as for {@link rocAuc}.
 * @param options - `task` as for {@link rocAuc}.
 * @returns C AUCs.
 * @throws {InvalidArgumentError} as {@link rocAuc}.
 *
 * @example
 * ```ts
 * rocAucPerClass([[0.9, 0.2], [0.1, 0.7], [0.8, 0.6]], [[1, 0], [0, 1], [1, 1]], { task: 'multi-label' }); // [1, 0.5]
 * ```
 * @category Metrics
 */
export function rocAucPerClass(scores: MatrixLike | VectorLike, labels: MatrixLike | VectorLike, options: Pick<RocAucOptions, 'task'> = {}): number[] {
  const fn = 'rocAucPerClass';
  const o = assertOptionsObject(fn, options);
  assertKnownKeys(fn, o, ['task']);
  const task = assertOneOf<Task>(fn, 'options.task', o.task, ['single-label', 'multi-label']) ?? 'single-label';
  return perClass(fn, scores, labels, task).auc;
}

/**
 * Options of {@link paperAuc}.
 * @category Metrics
 */
export interface PaperAucOptions {
  /**
   * Which of the paper's three AUCs (paper.md §3, §5a):
   * - `'hard-label'` (ISIC 2016): the AUC of the hard argmax predictions of a 2-class model against
   *   the labels, which equals the balanced accuracy (TPR + TNR) / 2;
   * - `'micro-sigmoid'` (Messidor): micro-averaged AUC of sigmoid(logits) over the one-hot columns
   *   (sigmoid, not softmax, as in the paper's code);
   * - `'mean-per-class'` (ChestX-ray14): the mean over classes of the per-class AUROC of
   *   sigmoid(logits) against multi-hot labels (classes without both values skipped).
   */
  variant: 'hard-label' | 'micro-sigmoid' | 'mean-per-class';
}

/**
 * The paper's AUC variants from logits (paper.md §3 and §5a), for paper-faithful tables. Prefer
 * {@link rocAuc} on scores for new work: the hard-label variant ignores the ranking entirely.
 *
 * @param logits - the model's logits `[N, C]` (C = 2 for `'hard-label'`).
 * @param labels - class indices `[N]` or one-hot `[N, C]` (`'hard-label'`, `'micro-sigmoid'`),
 *   multi-hot `[N, C]` (`'mean-per-class'`).
 * @param options - see {@link PaperAucOptions}; `variant` is required.
 * @returns the AUC, or NaN when undefined (a single class present).
 * @throws {InvalidArgumentError} for a missing variant, C ≠ 2 with `'hard-label'`, or bad scores/labels.
 *
 * @example
 * ```ts
 * paperAuc([[2, 1], [0, 3], [1, 0], [0, 1]], [0, 1, 1, 0], { variant: 'hard-label' }); // 0.5
 * ```
 * @category Metrics
 */
export function paperAuc(logits: MatrixLike, labels: MatrixLike | VectorLike, options: PaperAucOptions): number {
  const fn = 'paperAuc';
  const o = assertOptionsObject(fn, options);
  assertKnownKeys(fn, o, ['variant']);
  if (o.variant === undefined) throw new InvalidArgumentError(fn, 'options.variant', "one of 'hard-label', 'micro-sigmoid', 'mean-per-class'", 'undefined');
  const variant = assertOneOf(fn, 'options.variant', o.variant, ['hard-label', 'micro-sigmoid', 'mean-per-class'] as const)!;
  const s = readScores(fn, 'logits', logits);
  if (variant === 'hard-label') {
    if (s.cols !== 2) throw new InvalidArgumentError(fn, 'logits', "logits [N, 2] of a 2-class model (variant 'hard-label')", `${s.cols} columns`);
    const { indices } = readLabels(fn, 'labels', labels, s.rows, 2, 'single-label');
    const hard = new Float64Array(s.rows);
    for (let i = 0; i < s.rows; i++) hard[i] = s.data[2 * i + 1]! > s.data[2 * i]! ? 1 : 0;
    return binaryAuc(hard, Float64Array.from(indices!));
  }
  const task: Task = variant === 'micro-sigmoid' ? 'single-label' : 'multi-label';
  const { indicator } = readLabels(fn, 'labels', labels, s.rows, s.cols, task);
  const prob = new Float64Array(s.data.length);
  for (let p = 0; p < prob.length; p++) prob[p] = 1 / (1 + Math.exp(-s.data[p]!));
  if (variant === 'micro-sigmoid') return binaryAuc(prob, indicator);
  let sum = 0;
  let count = 0;
  for (let c = 0; c < s.cols; c++) {
    const a = binaryAuc(prob, indicator, s.cols, c, s.rows);
    if (!Number.isNaN(a)) { sum += a; count++; }
  }
  return count > 0 ? sum / count : Number.NaN;
}
