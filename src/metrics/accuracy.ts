import { InvalidArgumentError } from '../errors.js';
import type { Task } from '../types.js';
import { argmaxRows, assertFromStated, hardPredictions, parseThreshold, readLabels, readScores } from './labels.js';
import type { MatrixLike, VectorLike } from './matrix.js';

/**
 * Options of {@link accuracy}, {@link foolingRate} and {@link sensitivitySpecificity}.
 * @category Metrics
 */
export interface ThresholdOptions {
  /**
   * `'single-label'`: the prediction is the argmax of each row. `'multi-label'`: each label is
   * predicted present when its probability exceeds `threshold`.
   * @defaultValue 'single-label'
   */
  task?: Task;
  /**
   * Decision threshold on probabilities (multi-label; and for sensitivity/specificity). The paper
   * uses 0.5, and 0.7 in its ChestX-ray14 PGD script (paper.md §3.3).
   * @defaultValue 0.5
   */
  threshold?: number;
  /**
   * What the scores are: `'logits'` (sigmoid per label for multi-label, softmax for single-label)
   * or `'probabilities'`. Where it matters (thresholded predictions) and the scores all lie in [0, 1]
   * (rows summing to 1 for single-label), it must be stated: the functions refuse to guess.
   * @defaultValue 'logits'
   */
  from?: 'logits' | 'probabilities';
}

/**
 * Accuracy, as in the paper (§5a): single-label, the fraction of rows whose argmax is the true
 * class; multi-label, the accuracy of each label's thresholded prediction 1[p > threshold],
 * averaged over labels (and images). Robust accuracy is the accuracy on adversarial logits.
 * Tensors are read once and never disposed.
 *
 * @param logits - scores `[N, C]` (logits by default; see `from`).
 * @param labels - class indices `[N]` or one-hot `[N, C]` (single-label), multi-hot `[N, C]` (multi-label).
 * @param options - see {@link ThresholdOptions}.
 * @returns the accuracy in [0, 1].
 * @throws {InvalidArgumentError} for mismatched counts, invalid labels, ragged rows, NaN, an unknown
 *   option, or multi-label scores all in [0, 1] without `options.from`.
 *
 * @example
 * ```ts
 * accuracy([[2, 1], [0, 3], [1, 0]], [0, 1, 1]); // 2/3
 * accuracy([[3, -3], [-3, 3]], [[1, 0], [1, 1]], { task: 'multi-label' }); // 0.75
 * ```
 * @category Metrics
 */
export function accuracy(logits: MatrixLike, labels: MatrixLike | VectorLike, options: ThresholdOptions = {}): number {
  const fn = 'accuracy';
  const settings = parseThreshold(fn, options);
  const s = readScores(fn, 'logits', logits);
  if (settings.task === 'single-label') {
    if (s.cols < 2) throw new InvalidArgumentError(fn, 'logits', "at least 2 columns for task 'single-label' (one sigmoid output is task 'multi-label')", `${s.cols} column`);
    const { indices } = readLabels(fn, 'labels', labels, s.rows, s.cols, 'single-label');
    const pred = argmaxRows(s);
    let correct = 0;
    for (let i = 0; i < s.rows; i++) if (pred[i] === indices![i]) correct++;
    return correct / s.rows;
  }
  const { indicator } = readLabels(fn, 'labels', labels, s.rows, s.cols, 'multi-label');
  assertFromStated(fn, 'logits', s, settings, 'multi-label');
  const pred = hardPredictions(s, settings);
  let correct = 0;
  for (let p = 0; p < pred.length; p++) if (pred[p] === indicator[p]) correct++;
  return correct / pred.length;
}
