/**
 * Reading scores and labels for the classification metrics (shared conventions of {@link Task}).
 * @internal
 */
import { InvalidArgumentError } from '../errors.js';
import { assertKnownKeys, assertNumber, assertOneOf, assertOptionsObject, describeValue } from '../internal/validate.js';
import type { Task } from '../types.js';
import { readMatrix, type Mat } from './matrix.js';

/** Scores `[N, C]` (a vector counts as one column). */
export function readScores(fn: string, argument: string, value: unknown): Mat {
  return readMatrix(fn, argument, value, { allowVector: true });
}

/**
 * Labels as a 0/1 indicator matrix `[N, C]` and, for single-label, class indices.
 * Single-label accepts class indices `[N]` or one-hot rows `[N, C]`; multi-label multi-hot `[N, C]`.
 * A binary problem with one score column accepts labels `[N]` in {0, 1}.
 */
export function readLabels(fn: string, argument: string, value: unknown, n: number, c: number, task: Task): { indicator: Float64Array; indices?: Int32Array } {
  const m = readMatrix(fn, argument, value, { allowVector: true });
  if (m.rows !== n) throw new InvalidArgumentError(fn, argument, `${n} labels (one per row of scores)`, `${m.rows} rows`);
  const indicator = new Float64Array(n * c);
  if (m.cols === 1) {
    if (task === 'multi-label' && c !== 1) throw new InvalidArgumentError(fn, argument, `multi-hot labels [${n}, ${c}] (task 'multi-label')`, `shape [${n}]`);
    const indices = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const v = m.data[i]!;
      const max = c === 1 ? 1 : c - 1;
      if (!Number.isInteger(v) || v < 0 || v > max) throw new InvalidArgumentError(fn, `${argument}[${i}]`, c === 1 ? 'a binary label 0 or 1' : `a class index in [0, ${max}]`, describeValue(v));
      indices[i] = v;
      if (c === 1) indicator[i] = v;
      else indicator[i * c + v] = 1;
    }
    return task === 'single-label' ? { indicator, indices } : { indicator };
  }
  if (m.cols !== c) throw new InvalidArgumentError(fn, argument, `${task === 'multi-label' ? 'multi-hot' : 'one-hot'} rows of ${c} values (one per score column)`, `${m.cols} columns`);
  for (let p = 0; p < n * c; p++) {
    const v = m.data[p]!;
    if (v !== 0 && v !== 1) throw new InvalidArgumentError(fn, `${argument}[${Math.floor(p / c)}][${p % c}]`, 'a 0/1 indicator value', describeValue(v));
    indicator[p] = v;
  }
  if (task === 'multi-label') return { indicator };
  const indices = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let k = 0; k < c; k++) {
      s += indicator[i * c + k]!;
      if (indicator[i * c + k] === 1) indices[i] = k;
    }
    if (s !== 1) throw new InvalidArgumentError(fn, `${argument}[${i}]`, "a one-hot row with exactly one 1 (multi-hot labels need task: 'multi-label')", `a row summing to ${s}`);
  }
  return { indicator, indices };
}

/** Options shared by the thresholded metrics. */
export interface ThresholdSettings {
  task: Task;
  threshold: number;
  from: 'logits' | 'probabilities';
  /** Whether the caller stated `from` (the default is 'logits'). */
  fromGiven: boolean;
}

export function parseThreshold(fn: string, options: unknown, extraKeys: readonly string[] = []): ThresholdSettings & { o: Record<string, unknown> } {
  const o = assertOptionsObject(fn, options);
  assertKnownKeys(fn, o, ['task', 'threshold', 'from', ...extraKeys]);
  const task = assertOneOf<Task>(fn, 'options.task', o.task, ['single-label', 'multi-label']) ?? 'single-label';
  const threshold = o.threshold === undefined ? 0.5 : assertNumber(fn, 'options.threshold', o.threshold, { min: 0, max: 1 });
  const from = assertOneOf(fn, 'options.from', o.from, ['logits', 'probabilities'] as const) ?? 'logits';
  return { task, threshold, from, fromGiven: o.from !== undefined, o };
}

/**
 * Refuses to guess when the scores look like probabilities and `from` was not stated: every value in
 * [0, 1] (and, for single-label, rows summing to 1). Read as logits (the default), probabilities would go
 * through a second sigmoid (every label "present" at threshold 0.5) or softmax: a silently wrong result.
 * @throws {InvalidArgumentError} naming `options.from`.
 */
export function assertFromStated(fn: string, argument: string, s: Mat, settings: ThresholdSettings, task: Task): void {
  if (settings.fromGiven || s.data.length === 0) return;
  let sumsToOne = true;
  for (let i = 0; i < s.rows; i++) {
    let sum = 0;
    for (let k = 0; k < s.cols; k++) {
      const v = s.data[i * s.cols + k]!;
      if (!(v >= 0 && v <= 1)) return;
      sum += v;
    }
    if (Math.abs(sum - 1) > 1e-4) sumsToOne = false;
  }
  if (task === 'single-label' && !sumsToOne) return;
  throw new InvalidArgumentError(fn, 'options.from',
    `'logits' or 'probabilities', stated explicitly when every value of ${argument} lies in [0, 1]${task === 'single-label' ? ' and each row sums to 1' : ''} (read as logits, the default, probabilities would go through a second ${task === 'single-label' ? 'softmax' : 'sigmoid'})`,
    'undefined');
}

export function sigmoid(z: number): number {
  return z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z));
}

/** Per-element probability of each label: sigmoid of logits, or the given probabilities. */
export function labelProbabilities(s: Mat, from: 'logits' | 'probabilities'): Float64Array {
  if (from === 'probabilities') return s.data;
  const out = new Float64Array(s.data.length);
  for (let p = 0; p < out.length; p++) out[p] = sigmoid(s.data[p]!);
  return out;
}

/** Row-wise softmax of logits (or the given probabilities). */
export function classProbabilities(s: Mat, from: 'logits' | 'probabilities'): Float64Array {
  if (from === 'probabilities') return s.data;
  const { rows, cols, data } = s;
  const out = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    let max = -Infinity;
    for (let k = 0; k < cols; k++) max = Math.max(max, data[i * cols + k]!);
    let sum = 0;
    for (let k = 0; k < cols; k++) { const e = Math.exp(data[i * cols + k]! - max); out[i * cols + k] = e; sum += e; }
    for (let k = 0; k < cols; k++) out[i * cols + k]! /= sum;
  }
  return out;
}

/** Index of the largest value of each row (the first one on ties, like argmax). */
export function argmaxRows(s: Mat): Int32Array {
  const out = new Int32Array(s.rows);
  for (let i = 0; i < s.rows; i++) {
    let best = 0;
    for (let k = 1; k < s.cols; k++) if (s.data[i * s.cols + k]! > s.data[i * s.cols + best]!) best = k;
    out[i] = best;
  }
  return out;
}

/** Multi-label hard predictions 1[p > threshold] (or single-label one-hot argmax). */
export function hardPredictions(s: Mat, settings: ThresholdSettings): Uint8Array {
  const out = new Uint8Array(s.rows * s.cols);
  if (settings.task === 'single-label' && s.cols > 1) {
    const am = argmaxRows(s);
    for (let i = 0; i < s.rows; i++) out[i * s.cols + am[i]!] = 1;
    return out;
  }
  const p = labelProbabilities(s, settings.from);
  for (let q = 0; q < out.length; q++) out[q] = p[q]! > settings.threshold ? 1 : 0;
  return out;
}
