import * as tf from '@tensorflow/tfjs-core';
import { InvalidArgumentError } from '../errors.js';
import { assertKnownKeys, assertOptionalNumber, assertOptionsObject, describeValue } from '../internal/validate.js';

/** A table row: column name to a number, string or boolean (undefined prints as empty). */
export type Row = Readonly<Record<string, number | string | boolean | undefined>>;

/** Throws unless `rows` is an array of plain row objects. @internal */
export function assertRows(fn: string, argument: string, rows: unknown): readonly Row[] {
  if (!Array.isArray(rows)) throw new InvalidArgumentError(fn, argument, 'an array of row objects', describeValue(rows));
  rows.forEach((r: unknown, i) => {
    if (typeof r !== 'object' || r === null || Array.isArray(r) || r instanceof tf.Tensor || ArrayBuffer.isView(r)) {
      throw new InvalidArgumentError(fn, `${argument}[${i}]`, 'a row object ({ column: value })', describeValue(r));
    }
    for (const [k, v] of Object.entries(r as object)) {
      if (v instanceof tf.Tensor || typeof v === 'function' || typeof v === 'symbol' || typeof v === 'bigint') {
        throw new InvalidArgumentError(fn, `${argument}[${i}].${k}`, 'a number, string or boolean (read tensors with dataSync() first)', describeValue(v));
      }
    }
  });
  return rows as readonly Row[];
}

/** Throws unless `value` is a string (non-empty when `nonEmpty`); `undefined` passes when `optional`. @internal */
export function assertText(fn: string, argument: string, value: unknown, { optional = false, nonEmpty = false } = {}): string | undefined {
  if (value === undefined && optional) return undefined;
  if (typeof value !== 'string' || (nonEmpty && value === '')) throw new InvalidArgumentError(fn, argument, nonEmpty ? 'a non-empty string' : 'a string', describeValue(value));
  return value;
}

/** Throws unless `value` is an array of strings; `undefined` passes. @internal */
export function assertTextList(fn: string, argument: string, value: unknown): string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value)) throw new InvalidArgumentError(fn, argument, 'an array of strings', describeValue(value));
  value.forEach((v: unknown, i) => assertText(fn, `${argument}[${i}]`, v));
  return value as string[];
}

/**
 * Formats a cell: numbers with at most `digits` significant decimals (integers as they are).
 */
function formatCell(value: Row[string], digits: number): string {
  if (value === undefined) return '';
  if (typeof value === 'number') {
    if (Number.isNaN(value)) return 'NaN';
    return Number.isInteger(value) ? String(value) : value.toFixed(digits);
  }
  return String(value);
}

function columnsOf(rows: readonly Row[], columns?: readonly string[]): string[] {
  if (columns) return [...columns];
  const seen: string[] = [];
  for (const row of rows) for (const key of Object.keys(row)) if (!seen.includes(key)) seen.push(key);
  return seen;
}

/**
 * A GitHub-flavoured Markdown table of `rows`. Numbers are right-aligned and printed with `digits`
 * decimals; pipes inside cells are escaped.
 *
 * @param rows - the table rows.
 * @param options - `columns` (order and subset; default: keys in first-seen order), `digits` (default 4).
 * @throws {InvalidArgumentError} when `rows` is not an array of row objects, or for an unknown option, non-string columns or `digits` outside 0–20.
 * @returns the Markdown text, one line per row plus header and separator.
 * @example
 * ```ts
 * markdownTable([{ attack: 'pgd', epsilon: 2, accuracy: 0.125 }]);
 * // | attack | epsilon | accuracy |
 * // |---|---:|---:|
 * // | pgd | 2 | 0.1250 |
 * ```
 * @category Report
 */
export function markdownTable(rows: readonly Row[], options: { columns?: readonly string[]; digits?: number } = {}): string {
  const fn = 'markdownTable';
  assertRows(fn, 'rows', rows);
  const o = assertOptionsObject(fn, options);
  assertKnownKeys(fn, o, ['columns', 'digits']);
  const digits = assertOptionalNumber(fn, 'options.digits', o.digits, { integer: true, min: 0, max: 20 }) ?? 4;
  const columns = columnsOf(rows, assertTextList(fn, 'options.columns', o.columns));
  const numeric = columns.map((c) => rows.length > 0 && rows.every((r) => r[c] === undefined || typeof r[c] === 'number'));
  const esc = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
  const lines = [
    `| ${columns.map(esc).join(' | ')} |`,
    `|${numeric.map((n) => (n ? '---:' : '---')).join('|')}|`,
    ...rows.map((r) => `| ${columns.map((c) => esc(formatCell(r[c], digits))).join(' | ')} |`),
  ];
  return lines.join('\n');
}

/**
 * RFC 4180 CSV of `rows` (header line first; fields with commas, quotes or newlines are quoted).
 * Numbers keep full precision.
 *
 * @param rows - the table rows.
 * @param options - `columns`: order and subset (default: keys in first-seen order).
 * @throws {InvalidArgumentError} when `rows` is not an array of row objects, or for an unknown option or non-string columns.
 * @returns the CSV text, ending with a newline.
 * @example
 * ```ts
 * toCsv([{ name: 'a,b', value: 1 }]); // 'name,value\n"a,b",1\n'
 * ```
 * @category Report
 */
export function toCsv(rows: readonly Row[], options: { columns?: readonly string[] } = {}): string {
  const fn = 'toCsv';
  assertRows(fn, 'rows', rows);
  const o = assertOptionsObject(fn, options);
  assertKnownKeys(fn, o, ['columns']);
  const columns = columnsOf(rows, assertTextList(fn, 'options.columns', o.columns));
  const field = (v: Row[string]) => {
    const s = v === undefined ? '' : String(v);
    return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  return [columns.map(field).join(','), ...rows.map((r) => columns.map((c) => field(r[c])).join(','))].join('\n') + '\n';
}
