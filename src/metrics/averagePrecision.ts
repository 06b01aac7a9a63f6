import { assertKnownKeys, assertOneOf, assertOptionsObject } from '../internal/validate.js';
import type { Task } from '../types.js';
import { readLabels, readScores } from './labels.js';
import type { MatrixLike, VectorLike } from './matrix.js';

/**
 * Options of {@link averagePrecision}.
 * @category Metrics
 */
export interface AveragePrecisionOptions {
  /**
   * How the per-class (one-vs-rest) APs are combined, as in scikit-learn's `average_precision_score`:
   * `'macro'` the unweighted mean over classes with positives, `'weighted'` weighted by each class's
   * positives, `'micro'` one AP over all (score, label) pairs pooled, `'none'` the per-class values.
   * @defaultValue 'macro'
   */
  average?: 'macro' | 'micro' | 'weighted' | 'none';
  /**
   * The task, which picks the label format (see {@link RocAucOptions}).
   * @defaultValue 'single-label'
   */
  task?: Task;
}

/**
 * Average precision of one score column against 0/1 labels, scikit-learn's step-wise definition:
 * AP = Σ_k (R_k − R_{k−1})·P_k over the distinct thresholds in decreasing order (tied scores enter
 * together). NaN when there is no positive.
 */
export function binaryAveragePrecision(scores: ArrayLike<number>, labels: ArrayLike<number>, stride = 1, offset = 0, count = scores.length): number {
  const order = Array.from({ length: count }, (_, i) => i);
  const at = (i: number): number => scores[offset + i * stride]!;
  order.sort((a, b) => at(b) - at(a));
  let positives = 0;
  for (let i = 0; i < count; i++) if (labels[offset + i * stride] === 1) positives++;
  if (positives === 0) return Number.NaN;
  let tp = 0;
  let seen = 0;
  let ap = 0;
  let lastRecall = 0;
  let i = 0;
  while (i < count) {
    const v = at(order[i]!);
    while (i < count && at(order[i]!) === v) {
      if (labels[offset + order[i]! * stride] === 1) tp++;
      seen++;
      i++;
    }
    const recall = tp / positives;
    ap += (recall - lastRecall) * (tp / seen);
    lastRecall = recall;
  }
  return ap;
}

/**
 * Average precision (the area under the precision-recall curve, scikit-learn's
 * `average_precision_score`), one-vs-rest per class, averaged. For multi-label findings it is the
 * metric ChestX-ray14 reports next to AUROC; unlike AUROC it depends on the prevalence. Scores may be
 * logits or probabilities (only their order matters per column; see {@link rocAuc} for single-label
 * softmax). Classes without a positive have no AP; the means skip them. Tensors are read once and never
 * disposed.
 *
 * @param scores - `[N, C]` scores (or `[N]` for a binary problem).
 * @param labels - class indices `[N]` or one-hot `[N, C]` (single-label), multi-hot `[N, C]`
 *   (multi-label), or 0/1 `[N]` for binary scores.
 * @param options - see {@link AveragePrecisionOptions}.
 * @returns the averaged AP in [0, 1] (NaN when undefined), or one value per class for `'none'`.
 * @throws {InvalidArgumentError} for mismatched counts, invalid labels, ragged rows, NaN scores or an
 *   unknown option.
 *
 * @example
 * ```ts
 * averagePrecision([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]); // 0.8333…
 * averagePrecision([[2, -1], [-1, 3], [1, 1]], [[1, 0], [0, 1], [1, 1]], { task: 'multi-label', average: 'none' }); // [1, 1]
 * ```
 * @category Metrics
 */
export function averagePrecision(scores: MatrixLike | VectorLike, labels: MatrixLike | VectorLike, options?: AveragePrecisionOptions & { average?: 'macro' | 'micro' | 'weighted' }): number;
export function averagePrecision(scores: MatrixLike | VectorLike, labels: MatrixLike | VectorLike, options: AveragePrecisionOptions & { average: 'none' }): number[];
export function averagePrecision(scores: MatrixLike | VectorLike, labels: MatrixLike | VectorLike, options: AveragePrecisionOptions = {}): number | number[] {
  const fn = 'averagePrecision';
  const o = assertOptionsObject(fn, options);
  assertKnownKeys(fn, o, ['average', 'task']);
  const average = assertOneOf(fn, 'options.average', o.average, ['macro', 'micro', 'weighted', 'none'] as const) ?? 'macro';
  const task = assertOneOf<Task>(fn, 'options.task', o.task, ['single-label', 'multi-label']) ?? 'single-label';
  const s = readScores(fn, 'scores', scores);
  const { indicator } = readLabels(fn, 'labels', labels, s.rows, s.cols, task);
  if (average === 'micro') return binaryAveragePrecision(s.data, indicator);
  const per: number[] = [];
  const positives: number[] = [];
  for (let c = 0; c < s.cols; c++) {
    per.push(binaryAveragePrecision(s.data, indicator, s.cols, c, s.rows));
    let p = 0;
    for (let i = 0; i < s.rows; i++) p += indicator[i * s.cols + c]!;
    positives.push(p);
  }
  if (average === 'none') return per;
  let sum = 0;
  let weight = 0;
  per.forEach((a, c) => {
    if (Number.isNaN(a)) return;
    const w = average === 'weighted' ? positives[c]! : 1;
    sum += w * a;
    weight += w;
  });
  return weight > 0 ? sum / weight : Number.NaN;
}
