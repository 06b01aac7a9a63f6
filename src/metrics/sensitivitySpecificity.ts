import { assertFromStated, classProbabilities, labelProbabilities, parseThreshold, readLabels, readScores } from './labels.js';
import type { MatrixLike, VectorLike } from './matrix.js';
import type { ThresholdOptions } from './accuracy.js';

/**
 * Sensitivity and specificity per class, from {@link sensitivitySpecificity}.
 * @category Metrics
 */
export interface SensitivitySpecificity {
  /** TP / (TP + FN) per class (recall of the positives); NaN for a class without positives. */
  sensitivity: number[];
  /** TN / (TN + FP) per class; NaN for a class without negatives. */
  specificity: number[];
  /** Mean sensitivity over the classes where it is defined. */
  meanSensitivity: number;
  /** Mean specificity over the classes where it is defined. */
  meanSpecificity: number;
}

/**
 * Sensitivity and specificity at a fixed operating point, per class (one-vs-rest): class k is
 * predicted positive when its probability exceeds `threshold` — sigmoid(logit) for multi-label,
 * softmax for single-label (for a 2-class model at 0.5 this is the argmax). The clinical metrics of
 * a screening model under attack.
 *
 * @param logits - scores `[N, C]` (logits by default; see `from`), or `[N]` for one sigmoid output.
 * @param labels - class indices `[N]` or one-hot `[N, C]` (single-label), multi-hot `[N, C]` (multi-label).
 * @param options - see {@link ThresholdOptions}.
 * @returns per-class sensitivity and specificity and their means.
 * @throws {InvalidArgumentError} for mismatched counts, invalid labels, ragged rows, NaN, an unknown
 *   option, or scores all in [0, 1] (rows summing to 1 for single-label) without `options.from`.
 *
 * @example
 * ```ts
 * const { sensitivity, specificity } = sensitivitySpecificity([[0.9], [0.2], [0.6], [0.4]], [1, 0, 0, 1], { from: 'probabilities', task: 'multi-label' });
 * // sensitivity [0.5], specificity [0.5]
 * ```
 * @category Metrics
 */
export function sensitivitySpecificity(logits: MatrixLike | VectorLike, labels: MatrixLike | VectorLike, options: ThresholdOptions = {}): SensitivitySpecificity {
  const fn = 'sensitivitySpecificity';
  const settings = parseThreshold(fn, options);
  const s = readScores(fn, 'logits', logits);
  const task = s.cols === 1 ? 'multi-label' : settings.task;
  const { indicator } = readLabels(fn, 'labels', labels, s.rows, s.cols, task);
  assertFromStated(fn, 'logits', s, settings, task);
  const prob = task === 'multi-label' ? labelProbabilities(s, settings.from) : classProbabilities(s, settings.from);
  const sensitivity: number[] = [];
  const specificity: number[] = [];
  for (let c = 0; c < s.cols; c++) {
    let tp = 0, fn_ = 0, tn = 0, fp = 0;
    for (let i = 0; i < s.rows; i++) {
      const pred = prob[i * s.cols + c]! > settings.threshold;
      const pos = indicator[i * s.cols + c] === 1;
      if (pos) { if (pred) tp++; else fn_++; } else if (pred) fp++; else tn++;
    }
    sensitivity.push(tp + fn_ > 0 ? tp / (tp + fn_) : Number.NaN);
    specificity.push(tn + fp > 0 ? tn / (tn + fp) : Number.NaN);
  }
  const mean = (v: number[]): number => {
    const ok = v.filter((x) => !Number.isNaN(x));
    return ok.length ? ok.reduce((a, b) => a + b, 0) / ok.length : Number.NaN;
  };
  return { sensitivity, specificity, meanSensitivity: mean(sensitivity), meanSpecificity: mean(specificity) };
}
