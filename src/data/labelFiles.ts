import { FormatError, InvalidArgumentError } from '../errors.js';
import { assertKnownKeys, assertOptionsObject, describeValue } from '../internal/validate.js';

/**
 * One labelled image of a label file: the file name as written in the list, and its label (a
 * class index) or labels (a multi-hot row).
 * @category Data
 */
export interface LabelRow {
  /** The image file (or image id) as written in the list. */
  readonly file: string;
  /** A class index (single-label) or a multi-hot row (multi-label). */
  readonly label: number | readonly number[];
}

/**
 * Parses a CheXNet label list (paper.md §2.3; `labels/train_list.txt` of arnoweng/CheXNet): one
 * line per image, `00000001_000.png 0 1 0 0 0 0 0 0 0 0 0 0 0 0`, the file then one 0/1 per finding
 * in ChestX-ray14 order.
 *
 * @param text - the file's contents.
 * @returns one row per non-empty line, with a multi-hot `label`.
 * @throws {InvalidArgumentError} when `text` is not a string.
 * @throws {FormatError} (naming the line) for a line without labels, with a value other than 0/1,
 *   or with a different label count from the first line.
 *
 * @example
 * ```ts
 * const rows = parseChestXray14List('a.png 0 1 0 0 0 0 0 0 0 0 0 0 0 0\n');
 * rows[0].label; // [0, 1, 0, ...]
 * ```
 * @category Data
 */
export function parseChestXray14List(text: string): LabelRow[] {
  if (typeof text !== 'string') throw new InvalidArgumentError('parseChestXray14List', 'text', 'the label list as a string', describeValue(text));
  return chestXray14Rows('parseChestXray14List', text, '');
}

/** parseChestXray14List under the caller's name; `source` ('file.txt ') prefixes line numbers. @internal */
export function chestXray14Rows(fn: string, text: string, source: string): LabelRow[] {
  const rows: LabelRow[] = [];
  let width = -1;
  text.split(/\r?\n/).forEach((line, i) => {
    const parts = line.trim().split(/\s+/).filter((p) => p.length > 0);
    if (parts.length === 0) return;
    const [file, ...values] = parts as [string, ...string[]];
    if (values.length === 0) throw new FormatError(`${fn}: ${source}line ${i + 1} has a file but no labels: ${JSON.stringify(line.slice(0, 80))}`);
    if (width < 0) width = values.length;
    if (values.length !== width) throw new FormatError(`${fn}: ${source}line ${i + 1} has ${values.length} labels, the first line ${width}`);
    const label = values.map((v) => {
      if (v !== '0' && v !== '1') throw new FormatError(`${fn}: ${source}line ${i + 1} has a label '${v}' (labels must be 0 or 1)`);
      return Number(v);
    });
    rows.push({ file, label });
  });
  return rows;
}

/**
 * Options of {@link parseLabelCsv}.
 * @category Data
 */
export interface ParseLabelCsvOptions {
  /**
   * The class names that labels written as words refer to (their index is the label).
   * @defaultValue ['benign', 'malignant']
   */
  classNames?: readonly string[];
}

/**
 * Parses a two-column image/label CSV such as the ISIC 2016 ground truth (paper.md §2.1):
 * `ISIC_0000000,benign` or `ISIC_0000003,0.0`. A label is a class name (case-insensitive) or an
 * integer-valued number; a first line whose label is neither is taken as a header and skipped.
 * Extra columns are ignored.
 *
 * @param text - the file's contents.
 * @param options - see {@link ParseLabelCsvOptions}.
 * @returns one row per data line, with a class index `label`.
 * @throws {InvalidArgumentError} for a non-string `text` or a bad option.
 * @throws {FormatError} (naming the line) for a line with fewer than two columns or an unknown label.
 *
 * @example
 * ```ts
 * parseLabelCsv('image,label\nISIC_1,benign\nISIC_2,1.0\n'); // [{file:'ISIC_1',label:0},{file:'ISIC_2',label:1}]
 * ```
 * @category Data
 */
export function parseLabelCsv(text: string, options: ParseLabelCsvOptions = {}): LabelRow[] {
  const fn = 'parseLabelCsv';
  if (typeof text !== 'string') throw new InvalidArgumentError(fn, 'text', 'the CSV as a string', describeValue(text));
  const o = assertOptionsObject(fn, options);
  assertKnownKeys(fn, o, ['classNames']);
  const names = (o.classNames ?? ['benign', 'malignant']) as string[];
  if (!Array.isArray(names) || names.length < 1 || names.some((n) => typeof n !== 'string')) throw new InvalidArgumentError(fn, 'options.classNames', 'an array of class names', describeValue(o.classNames));
  return labelCsvRows(fn, text, names, '');
}

/** parseLabelCsv under the caller's name, with checked class names; `source` prefixes line numbers. @internal */
export function labelCsvRows(fn: string, text: string, names: readonly string[], source: string): LabelRow[] {
  const lower = names.map((n) => n.toLowerCase());
  const rows: LabelRow[] = [];
  let first = true;
  text.split(/\r?\n/).forEach((line, i) => {
    if (line.trim().length === 0) return;
    const cols = line.split(',').map((c) => c.trim().replace(/^"(.*)"$/, '$1'));
    const isFirst = first;
    first = false;
    if (cols.length < 2) throw new FormatError(`${fn}: ${source}line ${i + 1} has fewer than two columns: ${JSON.stringify(line.slice(0, 80))}`);
    const raw = cols[1]!;
    let label = lower.indexOf(raw.toLowerCase());
    if (label < 0 && raw !== '' && Number.isFinite(Number(raw)) && Number.isInteger(Number(raw))) label = Number(raw);
    if (label < 0 || label >= names.length) {
      if (isFirst) return; // a header
      throw new FormatError(`${fn}: ${source}line ${i + 1} has the label '${raw}' (expected one of ${names.join(', ')} or an index below ${names.length})`);
    }
    rows.push({ file: cols[0]!, label });
  });
  return rows;
}
