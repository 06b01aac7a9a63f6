/**
 * The library's one warning channel. Hints that are not errors (ε larger than the input range, a model
 * that seems to return probabilities) go through Node's standard `process.emitWarning` with the type
 * `'MedrobustWarning'` and a stable code, once per code per process: Node prints
 * `(node:PID) [MEDROBUST_EPSILON_SCALE] MedrobustWarning: …` to stderr, `--no-warnings` silences it,
 * and `process.on('warning', w => …)` receives it (`w.name === 'MedrobustWarning'`, `w.code`). Where there
 * is no `process` (a browser) it falls back to one `console.warn` per code. No other `console` call is
 * made by library code.
 * @internal
 */
import type { Task } from '../types.js';

/**
 * The codes of medrobust's warnings.
 * - `MEDROBUST_EPSILON_SCALE`: ε is larger than the clip range's width (e.g. ε = 8 for images in [0, 1]:
 *   ε is in the units of the images, 8/255 was probably meant).
 * - `MEDROBUST_PROBABILITIES`: the model's outputs all lie in [0, 1] (and sum to 1 per row for a
 *   single-label task): attacks and metrics expect logits; a softmax/sigmoid output flattens the gradient.
 * - `MEDROBUST_GRADIENT`: input gradients that are exactly 0, NaN or vanishing at the clean or starting
 *   points (gradient masking: gradient attacks cannot move there).
 * - `MEDROBUST_STOCHASTIC`: the model returns different outputs for the same input across calls.
 * - `MEDROBUST_LARGE_EPSILON`: robust accuracy does not reach 0 at an ε that allows every valid input.
 * - `MEDROBUST_NON_MONOTONE`: robust accuracy rises with ε.
 * - `MEDROBUST_BLACK_BOX`: random noise or Square Attack broke images the white-box attacks did not.
 */
export type WarningCode = 'MEDROBUST_EPSILON_SCALE' | 'MEDROBUST_PROBABILITIES' | 'MEDROBUST_GRADIENT' | 'MEDROBUST_STOCHASTIC'
  | 'MEDROBUST_LARGE_EPSILON' | 'MEDROBUST_NON_MONOTONE' | 'MEDROBUST_BLACK_BOX';

const emitted = new Set<string>();

interface WarningProcess {
  emitWarning?: (message: string, options: { type: string; code: string }) => void;
}

/** Emits `message` under `code` unless that code was already emitted in this process. */
export function warnOnce(code: WarningCode, message: string): void {
  if (emitted.has(code)) return;
  emitted.add(code);
  const proc = (globalThis as { process?: WarningProcess }).process;
  if (typeof proc?.emitWarning === 'function') proc.emitWarning(message, { type: 'MedrobustWarning', code });
  // eslint-disable-next-line no-console
  else if (typeof console !== 'undefined') console.warn(`[${code}] MedrobustWarning: ${message}`);
}

/** Forgets which codes were emitted (tests). */
export function resetWarnings(): void {
  emitted.clear();
}

/**
 * Whether a model's outputs (`values`, `c` per image) look like probabilities rather than logits: all in
 * [0, 1], and for single-label also summing to 1 per image (within 1e-3). The probability warnings of
 * evaluateRobustness and evaluateWorstCase both read it.
 */
export function looksLikeProbabilities(values: ArrayLike<number>, c: number, task: Task): boolean {
  let inUnit = true;
  let sumsToOne = true;
  for (let i = 0; i < values.length; i += c) {
    let s = 0;
    for (let k = 0; k < c; k++) {
      const v = values[i + k]!;
      if (!(v >= 0 && v <= 1)) inUnit = false;
      s += v;
    }
    if (Math.abs(s - 1) > 1e-3) sumsToOne = false;
  }
  return inUnit && (task === 'multi-label' || sumsToOne);
}
