import { InvalidArgumentError } from '../errors.js';
import { assertFromStated, hardPredictions, parseThreshold, readLabels, readScores } from './labels.js';
import type { ThresholdOptions } from './accuracy.js';
import type { MatrixLike, VectorLike } from './matrix.js';

/**
 * Hamming loss (scikit-learn's `hamming_loss`): the fraction of (image, label) pairs predicted wrong.
 * Multi-label: each finding is predicted present when its probability exceeds `threshold`, and the loss
 * is the mean over images and findings of 1[prediction ≠ truth] (one minus {@link accuracy}'s per-label
 * accuracy). Single-label: the fraction of images whose argmax is wrong. Tensors are read once.
 *
 * @param logits - scores `[N, C]` (logits by default; see `options.from`).
 * @param labels - class indices `[N]` or one-hot `[N, C]` (single-label), multi-hot `[N, C]` (multi-label).
 * @param options - see {@link ThresholdOptions}.
 * @returns the loss in [0, 1].
 * @throws {InvalidArgumentError} as {@link accuracy}.
 *
 * @example
 * ```ts
 * hammingLoss([[3, -3], [-3, 3]], [[1, 0], [1, 1]], { task: 'multi-label' }); // 0.25
 * ```
 * @category Metrics
 */
export function hammingLoss(logits: MatrixLike, labels: MatrixLike | VectorLike, options: ThresholdOptions = {}): number {
  const fn = 'hammingLoss';
  const settings = parseThreshold(fn, options);
  const s = readScores(fn, 'logits', logits);
  if (settings.task === 'single-label' && s.cols < 2) throw new InvalidArgumentError(fn, 'logits', "at least 2 columns for task 'single-label' (one sigmoid output is task 'multi-label')", `${s.cols} column`);
  const { indicator } = readLabels(fn, 'labels', labels, s.rows, s.cols, settings.task);
  if (settings.task === 'multi-label') assertFromStated(fn, 'logits', s, settings, 'multi-label');
  const pred = hardPredictions(s, settings);
  let wrong = 0;
  if (settings.task === 'single-label') {
    for (let i = 0; i < s.rows; i++) {
      for (let k = 0; k < s.cols; k++) {
        if (pred[i * s.cols + k] === 1 && indicator[i * s.cols + k] !== 1) { wrong++; break; }
      }
    }
    return wrong / s.rows;
  }
  for (let p = 0; p < pred.length; p++) if (pred[p] !== indicator[p]) wrong++;
  return wrong / pred.length;
}
