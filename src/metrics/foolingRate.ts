import { InvalidArgumentError } from '../errors.js';
import { assertFromStated, hardPredictions, parseThreshold, readScores } from './labels.js';
import type { MatrixLike } from './matrix.js';
import type { ThresholdOptions } from './accuracy.js';

/**
 * Fooling rate (paper.md §5a): the fraction of predictions that the attack changed, whatever the
 * true label. Single-label: FR = 1 − (1/N) Σ_i 1[ŷ(x_i^adv) = ŷ(x_i)] with ŷ the argmax.
 * Multi-label: per label with ŷ_k = 1[p_k > threshold], FR = 1 − mean_k (1/N) Σ_i 1[ŷ_k(x_i^adv) = ŷ_k(x_i)],
 * where p = sigmoid(scores) for `from: 'logits'` (the default) and p = scores for `'probabilities'`.
 * Multi-label scores that all lie in [0, 1] are ambiguous (probabilities read as logits would all pass
 * 0.5 after a second sigmoid), so there `from` must be stated. Tensors are read once and never disposed.
 *
 * @param cleanLogits - scores on the clean images `[N, C]`.
 * @param adversarialLogits - scores on their adversarial versions `[N, C]`, row by row.
 * @param options - see {@link ThresholdOptions}.
 * @returns the fooling rate in [0, 1].
 * @throws {InvalidArgumentError} for mismatched shapes, ragged rows, NaN, an unknown option, or
 *   multi-label scores all in [0, 1] without `options.from`.
 *
 * @example
 * ```ts
 * foolingRate([[2, 1], [0, 3]], [[0, 1], [0, 3]]); // 0.5
 * ```
 * @category Metrics
 */
export function foolingRate(cleanLogits: MatrixLike, adversarialLogits: MatrixLike, options: ThresholdOptions = {}): number {
  const fn = 'foolingRate';
  const settings = parseThreshold(fn, options);
  const a = readScores(fn, 'cleanLogits', cleanLogits);
  const b = readScores(fn, 'adversarialLogits', adversarialLogits);
  if (a.rows !== b.rows || a.cols !== b.cols) throw new InvalidArgumentError(fn, 'adversarialLogits', `a [${a.rows}, ${a.cols}] matrix like cleanLogits`, `shape [${b.rows},${b.cols}]`);
  if (settings.task === 'single-label' && a.cols < 2) throw new InvalidArgumentError(fn, 'cleanLogits', "at least 2 columns for task 'single-label'", `${a.cols} column`);
  if (settings.task === 'multi-label') {
    assertFromStated(fn, 'cleanLogits', a, settings, 'multi-label');
    assertFromStated(fn, 'adversarialLogits', b, settings, 'multi-label');
  }
  const pa = hardPredictions(a, settings);
  const pb = hardPredictions(b, settings);
  let same = 0;
  if (settings.task === 'single-label') {
    for (let i = 0; i < a.rows; i++) {
      let eq = true;
      for (let k = 0; k < a.cols; k++) if (pa[i * a.cols + k] !== pb[i * a.cols + k]) { eq = false; break; }
      if (eq) same++;
    }
    return 1 - same / a.rows;
  }
  for (let p = 0; p < pa.length; p++) if (pa[p] === pb[p]) same++;
  return 1 - same / pa.length;
}
