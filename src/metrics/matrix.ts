/**
 * Reading the plain-array and tensor inputs of the metrics into flat Float64 layouts, with the
 * validation every metric shares (ragged rows, NaN, empty input).
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import { InvalidArgumentError } from '../errors.js';
import { describeValue } from '../internal/validate.js';

/**
 * A row-major matrix stored in one flat typed array, `data[i * shape[1] + j]`.
 * @category Metrics
 */
export interface FlatMatrix {
  /** The values, row after row. */
  readonly data: Float32Array | Float64Array | readonly number[];
  /** `[rows, columns]`; `data.length` must equal `rows * columns`. */
  readonly shape: readonly [number, number];
}

/**
 * A 2-D array of numbers, as the metrics and t-SNE accept it: rows of numbers (`number[][]`,
 * `Float32Array[]`), a {@link FlatMatrix}, or a rank-2 tensor (read back once, never disposed).
 * @category Metrics
 */
export type MatrixLike = readonly (readonly number[] | Float32Array | Float64Array)[] | FlatMatrix | tf.Tensor;

/**
 * A list of numbers: a plain array, a typed array or a rank-1 tensor (read back once).
 * @category Metrics
 */
export type VectorLike = readonly number[] | Float32Array | Float64Array | Int32Array | Uint8Array | tf.Tensor;

/** A dense matrix read from a {@link MatrixLike}. */
export interface Mat {
  data: Float64Array;
  rows: number;
  cols: number;
}

export interface ReadOptions {
  /** Accept NaN and ±Infinity (default false). */
  allowNonFinite?: boolean;
  /** Accept a rank-1 input as a column `[N, 1]` (default false). */
  allowVector?: boolean;
  /** Minimum number of rows (default 1). */
  minRows?: number;
}

function isFlat(value: unknown): value is FlatMatrix {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof tf.Tensor) && 'data' in value && 'shape' in value;
}

/** True for a number[] / typed array (a vector rather than a matrix). */
function isNumberList(value: unknown): value is ArrayLike<number> {
  if (ArrayBuffer.isView(value)) return true;
  return Array.isArray(value) && (value.length === 0 || typeof value[0] === 'number');
}

const expectedMatrix = 'a 2-D array of numbers (number[][], Float32Array[], { data, shape: [rows, cols] } or a rank-2 tensor)';

/** Reads a {@link MatrixLike} into a flat Float64 layout, validating its shape and values. */
export function readMatrix(fn: string, argument: string, value: unknown, options: ReadOptions = {}): Mat {
  const { allowNonFinite = false, allowVector = false, minRows = 1 } = options;
  let out: Mat;
  if (value instanceof tf.Tensor) {
    if (value.isDisposed) throw new InvalidArgumentError(fn, argument, 'a live tensor', 'a disposed tensor');
    if (!(value.rank === 2 || (allowVector && value.rank === 1))) throw new InvalidArgumentError(fn, argument, allowVector ? 'a rank-1 or rank-2 tensor' : 'a rank-2 tensor', `shape [${value.shape.join(',')}]`);
    const rows = value.shape[0]!;
    const cols = value.rank === 2 ? value.shape[1]! : 1;
    out = { data: Float64Array.from(value.dataSync() as ArrayLike<number>), rows, cols };
  } else if (isFlat(value)) {
    const { data, shape } = value;
    const ok = Array.isArray(shape) && shape.length === 2 && Number.isInteger(shape[0]) && Number.isInteger(shape[1]) && shape[0] >= 0 && shape[1] >= 0 && data !== null && typeof (data as ArrayLike<number>).length === 'number' && (data as ArrayLike<number>).length === shape[0] * shape[1];
    if (!ok) throw new InvalidArgumentError(fn, argument, '{ data, shape: [rows, cols] } with data.length = rows * cols', describeValue(value));
    out = { data: Float64Array.from(data as ArrayLike<number>), rows: shape[0], cols: shape[1] };
  } else if (allowVector && isNumberList(value)) {
    out = { data: Float64Array.from(value), rows: value.length, cols: 1 };
  } else if (Array.isArray(value)) {
    const rows = value.length;
    const first = value[0] as unknown;
    if (rows > 0 && !(Array.isArray(first) || ArrayBuffer.isView(first))) throw new InvalidArgumentError(fn, argument, expectedMatrix, describeValue(value));
    const cols = rows > 0 ? (first as ArrayLike<number>).length : 0;
    const data = new Float64Array(rows * cols);
    for (let i = 0; i < rows; i++) {
      const row = value[i] as unknown;
      if (!(Array.isArray(row) || ArrayBuffer.isView(row)) || (row as ArrayLike<number>).length !== cols) {
        throw new InvalidArgumentError(fn, `${argument}[${i}]`, `a row of ${cols} numbers like row 0 (no ragged rows)`, describeValue(row));
      }
      const r = row as ArrayLike<unknown>;
      for (let j = 0; j < cols; j++) {
        const v = r[j];
        if (typeof v !== 'number') throw new InvalidArgumentError(fn, `${argument}[${i}][${j}]`, 'a number', describeValue(v));
        data[i * cols + j] = v;
      }
    }
    out = { data, rows, cols };
  } else {
    throw new InvalidArgumentError(fn, argument, expectedMatrix, describeValue(value));
  }
  if (out.rows < minRows || out.cols < 1) throw new InvalidArgumentError(fn, argument, `a matrix with at least ${minRows} row${minRows === 1 ? '' : 's'} and 1 column`, `shape [${out.rows},${out.cols}]`);
  if (!allowNonFinite) {
    const d = out.data;
    for (let i = 0; i < d.length; i++) {
      if (!Number.isFinite(d[i]!)) throw new InvalidArgumentError(fn, `${argument}[${Math.floor(i / out.cols)}][${i % out.cols}]`, 'a finite number (no NaN or Infinity)', describeValue(d[i]));
    }
  }
  return out;
}

/** Reads a {@link VectorLike} (or a rank-2 `[N, 1]` tensor) into a Float64Array. */
export function readVector(fn: string, argument: string, value: unknown, options: { allowNonFinite?: boolean } = {}): Float64Array {
  let data: Float64Array;
  if (value instanceof tf.Tensor) {
    if (value.isDisposed) throw new InvalidArgumentError(fn, argument, 'a live tensor', 'a disposed tensor');
    if (!(value.rank === 1 || (value.rank === 2 && value.shape[1] === 1))) throw new InvalidArgumentError(fn, argument, 'a rank-1 tensor', `shape [${value.shape.join(',')}]`);
    data = Float64Array.from(value.dataSync() as ArrayLike<number>);
  } else if (isNumberList(value)) {
    data = Float64Array.from(value);
    if (Array.isArray(value)) {
      (value as unknown[]).forEach((v, i) => {
        if (typeof v !== 'number') throw new InvalidArgumentError(fn, `${argument}[${i}]`, 'a number', describeValue(v));
      });
    }
  } else {
    throw new InvalidArgumentError(fn, argument, 'a list of numbers (number[], a typed array or a rank-1 tensor)', describeValue(value));
  }
  if (!options.allowNonFinite) {
    for (let i = 0; i < data.length; i++) {
      if (!Number.isFinite(data[i]!)) throw new InvalidArgumentError(fn, `${argument}[${i}]`, 'a finite number (no NaN or Infinity)', describeValue(data[i]));
    }
  }
  return data;
}

/** Reads class indices `[N]`: non-negative integers. */
export function readClassIndices(fn: string, argument: string, value: unknown, n: number): Int32Array {
  const v = readVector(fn, argument, value);
  if (v.length !== n) throw new InvalidArgumentError(fn, argument, `${n} class indices (one per row)`, `${v.length} values`);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = v[i]!;
    if (!Number.isInteger(c) || c < 0) throw new InvalidArgumentError(fn, `${argument}[${i}]`, 'a non-negative integer class index', describeValue(c));
    out[i] = c;
  }
  return out;
}

/** Converts a flat matrix back to rows of numbers. */
export function toRows(data: ArrayLike<number>, rows: number, cols: number): number[][] {
  const out: number[][] = new Array(rows);
  for (let i = 0; i < rows; i++) {
    const r = new Array<number>(cols);
    for (let j = 0; j < cols; j++) r[j] = data[i * cols + j]!;
    out[i] = r;
  }
  return out;
}
