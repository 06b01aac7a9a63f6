import { InvalidArgumentError } from '../errors.js';
import { assertKnownKeys, assertNumber, assertOneOf, assertOptionsObject, describeValue } from '../internal/validate.js';
import { readMatrix, type MatrixLike } from '../metrics/matrix.js';

/**
 * Options of {@link labelCooccurrence}, {@link labelCorrelation} and {@link labelCorrelationShift}.
 * @category Analysis
 */
export interface LabelMatrixOptions {
  /**
   * Binarise scores first: a label is present when its value exceeds the threshold (the paper's
   * 1[p > 0.5] on sigmoid outputs). Without it the input must hold only 0 and 1.
   * @defaultValue none (the input is already 0/1)
   */
  threshold?: number;
  /**
   * Keep only the first k labels of the result (the paper crops ChestX-ray14's 14 findings to the 8
   * of ChestX-ray8, after counting: an image with findings 2 and 10 has no "only label" at k = 8).
   * @defaultValue every label
   */
  classes?: number;
}

/**
 * Options of {@link labelCooccurrence}.
 * @category Analysis
 */
export interface LabelCooccurrenceOptions extends LabelMatrixOptions {
  /**
   * The diagonal: `'only-label'` counts images whose only positive label is i (the paper's matrix,
   * §5d); `'count'` counts images with label i (the notebook's variant).
   * @defaultValue 'only-label'
   */
  diagonal?: 'only-label' | 'count';
}

/** Reads the 0/1 matrix (all columns) and the number of labels to keep (`classes`). */
function readBinary(fn: string, argument: string, value: unknown, o: Record<string, unknown>): { y: Uint8Array; n: number; c: number; keep: number } {
  const m = readMatrix(fn, argument, value);
  const threshold = o.threshold === undefined ? undefined : assertNumber(fn, 'options.threshold', o.threshold);
  const keep = o.classes === undefined ? m.cols : assertNumber(fn, 'options.classes', o.classes, { integer: true, min: 1, max: m.cols });
  const c = m.cols;
  const y = new Uint8Array(m.rows * c);
  for (let i = 0; i < m.rows; i++) {
    for (let k = 0; k < c; k++) {
      const v = m.data[i * m.cols + k]!;
      if (threshold === undefined) {
        if (v !== 0 && v !== 1) throw new InvalidArgumentError(fn, `${argument}[${i}][${k}]`, 'a 0/1 value (pass options.threshold to binarise scores)', describeValue(v));
        y[i * c + k] = v;
      } else y[i * c + k] = v > threshold ? 1 : 0;
    }
  }
  return { y, n: m.rows, c, keep };
}

/** The top-left k×k block (the paper crops after counting, so that 'only label' sees every label). */
function crop(m: number[][], k: number): number[][] {
  return m.slice(0, k).map((row) => row.slice(0, k));
}

function cooccurrence(y: Uint8Array, n: number, c: number, diagonal: 'only-label' | 'count'): number[][] {
  const out = Array.from({ length: c }, () => new Array<number>(c).fill(0));
  for (let i = 0; i < n; i++) {
    let count = 0;
    for (let k = 0; k < c; k++) count += y[i * c + k]!;
    for (let a = 0; a < c; a++) {
      if (!y[i * c + a]) continue;
      for (let b = 0; b < c; b++) {
        if (a === b) {
          if (diagonal === 'count' || count === 1) out[a]![a]!++;
        } else if (y[i * c + b]) out[a]![b]!++;
      }
    }
  }
  return out;
}

function phi(y: Uint8Array, n: number, c: number): number[][] {
  const mean = new Float64Array(c);
  for (let i = 0; i < n; i++) for (let k = 0; k < c; k++) mean[k]! += y[i * c + k]!;
  for (let k = 0; k < c; k++) mean[k]! /= n;
  const out = Array.from({ length: c }, () => new Array<number>(c).fill(0));
  for (let a = 0; a < c; a++) {
    for (let b = a; b < c; b++) {
      let joint = 0;
      for (let i = 0; i < n; i++) joint += y[i * c + a]! & y[i * c + b]!;
      const cov = joint / n - mean[a]! * mean[b]!;
      const den = Math.sqrt(mean[a]! * (1 - mean[a]!) * mean[b]! * (1 - mean[b]!));
      const r = den > 0 ? Math.max(-1, Math.min(1, cov / den)) : Number.NaN;
      out[a]![b] = r;
      out[b]![a] = r;
    }
  }
  return out;
}

/**
 * The paper's label co-occurrence matrix (paper.md §5d), from a binary label matrix Y ∈ {0,1}^{N×C}
 * (ground truth, or thresholded clean or adversarial predictions): C[i][j] = Σ_n Y[n,i]·Y[n,j] for
 * i ≠ j (images where both labels are present; symmetric), and C[i][i] = #{n : Y[n,i] = 1 and
 * Σ_k Y[n,k] = 1} (images where i is the only label).
 *
 * @param multiHot - `[N, C]` 0/1 labels, or scores with `threshold`.
 * @param options - see {@link LabelCooccurrenceOptions}.
 * @returns the C×C count matrix.
 * @throws {InvalidArgumentError} for ragged rows, NaN, values other than 0/1 without a threshold, or bad options.
 *
 * @example
 * ```ts
 * labelCooccurrence([[1, 1, 0], [1, 0, 0], [0, 1, 1]]); // [[1,1,0],[1,0,1],[0,1,0]]
 * ```
 * @category Analysis
 */
export function labelCooccurrence(multiHot: MatrixLike, options: LabelCooccurrenceOptions = {}): number[][] {
  const fn = 'labelCooccurrence';
  const o = assertOptionsObject(fn, options);
  assertKnownKeys(fn, o, ['threshold', 'classes', 'diagonal']);
  const diagonal = assertOneOf(fn, 'options.diagonal', o.diagonal, ['only-label', 'count'] as const) ?? 'only-label';
  const { y, n, c, keep } = readBinary(fn, 'multiHot', multiHot, o);
  return crop(cooccurrence(y, n, c, diagonal), keep);
}

/**
 * Pairwise label correlation: the phi coefficient of each pair of binary labels, which is Pearson's
 * r on 0/1 values: φ_ij = (p_ij − p_i p_j) / √(p_i(1 − p_i) p_j(1 − p_j)), p the label frequencies.
 * NaN for a label that is always or never present (no variance).
 *
 * @param multiHot - `[N, C]` 0/1 labels, or scores with `threshold`.
 * @param options - see {@link LabelMatrixOptions}.
 * @returns the C×C correlation matrix (1 on the diagonal of labels with variance).
 * @throws {InvalidArgumentError} as {@link labelCooccurrence}.
 *
 * @example
 * ```ts
 * labelCorrelation([[1, 1], [0, 0], [1, 0], [0, 1]]); // [[1, 0], [0, 1]]
 * ```
 * @category Analysis
 */
export function labelCorrelation(multiHot: MatrixLike, options: LabelMatrixOptions = {}): number[][] {
  const fn = 'labelCorrelation';
  const o = assertOptionsObject(fn, options);
  assertKnownKeys(fn, o, ['threshold', 'classes']);
  const { y, n, c, keep } = readBinary(fn, 'multiHot', multiHot, o);
  return crop(phi(y, n, c), keep);
}

/**
 * A clean and an adversarial matrix and how they differ.
 * @category Analysis
 */
export interface MatrixShift {
  /** The matrix of the clean labels or predictions. */
  clean: number[][];
  /** The matrix of the adversarial predictions. */
  adversarial: number[][];
  /** adversarial − clean, entry by entry (NaN where either is NaN). */
  difference: number[][];
  /** Frobenius norm of the difference over the defined entries. */
  frobenius: number;
  /** `frobenius` divided by the Frobenius norm of the clean matrix (NaN when that is 0). */
  relativeFrobenius: number;
}

/**
 * The result of {@link labelCorrelationShift}.
 * @category Analysis
 */
export interface LabelCorrelationShift {
  /** Co-occurrence matrices (paper's definition) and their change. */
  cooccurrence: MatrixShift;
  /** Phi-correlation matrices and their change. */
  correlation: MatrixShift;
  /**
   * The label-correlation shift score: the root-mean-square change of φ over the label pairs i < j
   * where both are defined, in [0, 2]. 0: the attack kept the label dependencies.
   */
  score: number;
  /** Label pairs i < j ordered by |Δφ|, largest first. */
  largestChanges: {
    /** First label index. */
    i: number;
    /** Second label index. */
    j: number;
    /** φ_adv − φ_clean of the pair. */
    change: number;
  }[];
}

function shift(a: number[][], b: number[][]): MatrixShift {
  let f = 0;
  let base = 0;
  const difference = a.map((row, i) => row.map((v, j) => {
    const d = b[i]![j]! - v;
    if (!Number.isNaN(d)) { f += d * d; base += v * v; }
    return d;
  }));
  const frobenius = Math.sqrt(f);
  return { clean: a, adversarial: b, difference, frobenius, relativeFrobenius: base > 0 ? frobenius / Math.sqrt(base) : Number.NaN };
}

/**
 * Compares the label dependencies of clean and adversarial predictions (§5d made numeric): the
 * co-occurrence and phi-correlation matrices of both, their differences, Frobenius distances, and
 * a shift score (RMS change of φ over label pairs). An attack on a multi-label model that flips
 * findings independently destroys correlations such as Effusion–Atelectasis; one that keeps the
 * score low changes them together.
 *
 * @param clean - `[N, C]` clean labels or predictions (0/1, or scores with `threshold`).
 * @param adversarial - `[M, C]` adversarial predictions (M may differ from N).
 * @param options - see {@link LabelMatrixOptions}.
 * @returns both matrices, their changes and the score.
 * @throws {InvalidArgumentError} for different label counts, or as {@link labelCooccurrence}.
 *
 * @example
 * ```ts
 * const s = labelCorrelationShift(cleanProbs, advProbs, { threshold: 0.5, classes: 8 });
 * console.log(s.score, s.largestChanges[0]);
 * ```
 * @category Analysis
 */
export function labelCorrelationShift(clean: MatrixLike, adversarial: MatrixLike, options: LabelMatrixOptions = {}): LabelCorrelationShift {
  const fn = 'labelCorrelationShift';
  const o = assertOptionsObject(fn, options);
  assertKnownKeys(fn, o, ['threshold', 'classes']);
  const a = readBinary(fn, 'clean', clean, o);
  const b = readBinary(fn, 'adversarial', adversarial, o);
  if (a.c !== b.c) throw new InvalidArgumentError(fn, 'adversarial', `${a.c} labels per row like clean`, `${b.c} labels`);
  const k = a.keep;
  const co = shift(crop(cooccurrence(a.y, a.n, a.c, 'only-label'), k), crop(cooccurrence(b.y, b.n, b.c, 'only-label'), k));
  const corr = shift(crop(phi(a.y, a.n, a.c), k), crop(phi(b.y, b.n, b.c), k));
  const changes: { i: number; j: number; change: number }[] = [];
  let sum = 0;
  for (let i = 0; i < k; i++) {
    for (let j = i + 1; j < k; j++) {
      const d = corr.difference[i]![j]!;
      if (Number.isNaN(d)) continue;
      changes.push({ i, j, change: d });
      sum += d * d;
    }
  }
  changes.sort((p, q) => Math.abs(q.change) - Math.abs(p.change));
  return { cooccurrence: co, correlation: corr, score: changes.length ? Math.sqrt(sum / changes.length) : Number.NaN, largestChanges: changes };
}
