/**
 * Vega-Lite specifications for the report's plots. They are plain JSON objects: render them with
 * any Vega-Lite runtime (the CLI renders SVG with `vega` headless and PNG through `sharp`).
 */
import { InvalidArgumentError } from '../errors.js';
import { assertKnownKeys, assertNumber, assertOptionalNumber, assertOptionsObject, describeValue } from '../internal/validate.js';
import { assertRows, assertText, type Row } from './tables.js';

/** A Vega-Lite top-level specification (plain JSON). */
export type VegaLiteSpec = Readonly<Record<string, unknown>>;

/**
 * A line chart of `y` against `x`, one line per `color` value — e.g. accuracy vs ε per attack.
 *
 * @param rows - data rows holding the x, y and color fields.
 * @param options - field names, axis titles and the chart title.
 * @returns a Vega-Lite spec.
 * @throws {InvalidArgumentError} for arguments of the wrong type or shape, an unknown option, or a size that is not a positive number.
 * @example
 * ```ts
 * const spec = lineChartSpec(rows, { x: 'epsilon', y: 'accuracy', color: 'attack', title: 'Accuracy under attack' });
 * ```
 * @category Report
 */
export function lineChartSpec(rows: readonly Row[], options: { x: string; y: string; color?: string; title: string; xTitle?: string; yTitle?: string; width?: number; height?: number }): VegaLiteSpec {
  const fn = 'lineChartSpec';
  assertRows(fn, 'rows', rows);
  const o = assertOptionsObject(fn, options);
  if (options === undefined) throw new InvalidArgumentError(fn, 'options', 'an object with x, y and title', 'undefined');
  assertKnownKeys(fn, o, ['x', 'y', 'color', 'title', 'xTitle', 'yTitle', 'width', 'height']);
  const x = assertText(fn, 'options.x', o.x, { nonEmpty: true })!;
  const y = assertText(fn, 'options.y', o.y, { nonEmpty: true })!;
  const color = assertText(fn, 'options.color', o.color, { optional: true, nonEmpty: true });
  const title = assertText(fn, 'options.title', o.title)!;
  const xTitle = assertText(fn, 'options.xTitle', o.xTitle, { optional: true }) ?? x;
  const yTitle = assertText(fn, 'options.yTitle', o.yTitle, { optional: true }) ?? y;
  const width = assertOptionalNumber(fn, 'options.width', o.width, { min: 0, minExclusive: true }) ?? 420;
  const height = assertOptionalNumber(fn, 'options.height', o.height, { min: 0, minExclusive: true }) ?? 260;
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title, width, height, background: 'white',
    data: { values: rows },
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: x, type: 'quantitative', title: xTitle },
      y: { field: y, type: 'quantitative', title: yTitle, scale: { domain: [0, 1] } },
      ...(color ? { color: { field: color, type: 'nominal', title: color } } : {}),
    },
  };
}

/**
 * A scatter plot of 2-D points coloured by `color` and shaped by `shape` — e.g. a t-SNE map of
 * clean (circles) and adversarial (crosses) features coloured by class.
 *
 * @param points - rows with `x`, `y` and the colour/shape fields.
 * @param options - field names and the title.
 * @returns a Vega-Lite spec.
 * @throws {InvalidArgumentError} for arguments of the wrong type or shape, an unknown option, or a size that is not a positive number.
 * @example
 * ```ts
 * scatterSpec([{ x: 0.1, y: 2, label: 'benign', source: 'clean' }], { color: 'label', shape: 'source', title: 't-SNE' });
 * ```
 * @category Report
 */
export function scatterSpec(points: readonly Row[], options: { color: string; shape?: string; title: string; width?: number; height?: number }): VegaLiteSpec {
  const fn = 'scatterSpec';
  assertRows(fn, 'points', points);
  const o = assertOptionsObject(fn, options);
  if (options === undefined) throw new InvalidArgumentError(fn, 'options', 'an object with color and title', 'undefined');
  assertKnownKeys(fn, o, ['color', 'shape', 'title', 'width', 'height']);
  const color = assertText(fn, 'options.color', o.color, { nonEmpty: true })!;
  const shape = assertText(fn, 'options.shape', o.shape, { optional: true, nonEmpty: true });
  const title = assertText(fn, 'options.title', o.title)!;
  const width = assertOptionalNumber(fn, 'options.width', o.width, { min: 0, minExclusive: true }) ?? 420;
  const height = assertOptionalNumber(fn, 'options.height', o.height, { min: 0, minExclusive: true }) ?? 360;
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title, width, height, background: 'white',
    data: { values: points },
    mark: { type: 'point', filled: true, size: 28, opacity: 0.75 },
    encoding: {
      x: { field: 'x', type: 'quantitative', axis: null },
      y: { field: 'y', type: 'quantitative', axis: null },
      color: { field: color, type: 'nominal' },
      ...(shape ? { shape: { field: shape, type: 'nominal' } } : {}),
    },
  };
}

/** Options of {@link heatmapSpec}. */
export interface HeatmapOptions {
  /** The chart title. */
  title: string;
  /**
   * Pixels per cell.
   * @defaultValue 28
   */
  size?: number;
  /**
   * The colour scale's `[min, max]`; give several heatmaps the same domain to compare them.
   * @defaultValue the matrix's own range
   */
  domain?: readonly [number, number];
  /**
   * The colour legend's title (what a cell counts or measures).
   * @defaultValue 'value'
   */
  legendTitle?: string;
}

function heatmapLayers(domain: readonly [number, number] | undefined, legendTitle: string): Record<string, unknown>[] {
  return [
    { mark: 'rect', encoding: { color: { field: 'value', type: 'quantitative', title: legendTitle, scale: { scheme: 'blues', ...(domain ? { domain: [...domain] } : {}) } } } },
    { mark: { type: 'text', fontSize: 9 }, encoding: { text: { field: 'value', type: 'quantitative', format: '.3~g' } } },
  ];
}

/** Throws unless `names` are strings and `matrix` is names.length × names.length numbers (NaN allowed: no value). */
function assertSquare(fn: string, argument: string, matrix: unknown, names: readonly string[]): readonly (readonly number[])[] {
  const n = names.length;
  if (!Array.isArray(matrix) || matrix.length !== n) throw new InvalidArgumentError(fn, argument, `an array of ${n} rows (one per name)`, describeValue(matrix));
  matrix.forEach((row: unknown, i) => {
    if (!Array.isArray(row) || row.length !== n) throw new InvalidArgumentError(fn, `${argument}[${i}]`, `an array of ${n} numbers`, describeValue(row));
    row.forEach((v: unknown, j) => {
      if (typeof v !== 'number' || v === Infinity || v === -Infinity) throw new InvalidArgumentError(fn, `${argument}[${i}][${j}]`, 'a finite number (or NaN for no value)', describeValue(v));
    });
  });
  return matrix as number[][];
}

function assertNames(fn: string, names: unknown): readonly string[] {
  if (!Array.isArray(names) || names.length === 0) throw new InvalidArgumentError(fn, 'names', 'a non-empty array of strings', describeValue(names));
  names.forEach((v: unknown, i) => assertText(fn, `names[${i}]`, v));
  return names as string[];
}

function heatmapValues(matrix: readonly (readonly number[])[], names: readonly string[]) {
  return matrix.flatMap((row, i) => row.map((v, j) => ({ row: names[i] ?? String(i), column: names[j] ?? String(j), value: v })));
}

/**
 * A heatmap of a square matrix with row/column names, the value printed in each cell and a titled
 * colour legend — e.g. the label co-occurrence matrix of the paper (§5d).
 *
 * @param matrix - the values, `matrix[i][j]`.
 * @param names - the row and column names.
 * @param options - the title, and optionally the colour domain and the legend's title.
 * @returns a Vega-Lite spec.
 * @throws {InvalidArgumentError} for arguments of the wrong type or shape, an unknown option, or a size that is not a positive number.
 * @example
 * ```ts
 * heatmapSpec([[3, 1], [1, 5]], ['Effusion', 'Cardiomegaly'], { title: 'Co-occurrence (clean)', legendTitle: 'images' });
 * ```
 * @category Report
 */
export function heatmapSpec(matrix: readonly (readonly number[])[], names: readonly string[], options: HeatmapOptions): VegaLiteSpec {
  const fn = 'heatmapSpec';
  assertNames(fn, names);
  assertSquare(fn, 'matrix', matrix, names);
  const o = assertOptionsObject(fn, options);
  if (options === undefined) throw new InvalidArgumentError(fn, 'options', 'an object with a title', 'undefined');
  assertKnownKeys(fn, o, ['title', 'size', 'domain', 'legendTitle']);
  const title = assertText(fn, 'options.title', o.title)!;
  const size = assertOptionalNumber(fn, 'options.size', o.size, { min: 0, minExclusive: true }) ?? 28;
  const legendTitle = assertText(fn, 'options.legendTitle', o.legendTitle, { optional: true }) ?? 'value';
  const domain = o.domain as readonly [number, number] | undefined;
  if (domain !== undefined) {
    if (!Array.isArray(domain) || domain.length !== 2) throw new InvalidArgumentError(fn, 'options.domain', 'a [min, max] pair', describeValue(domain));
    assertNumber(fn, 'options.domain[0]', domain[0]);
    assertNumber(fn, 'options.domain[1]', domain[1], { min: domain[0], minExclusive: true });
  }
  const side = Math.max(120, size * names.length);
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title, width: side, height: side, background: 'white',
    data: { values: heatmapValues(matrix, names) },
    encoding: {
      x: { field: 'column', type: 'nominal', sort: [...names], title: null },
      y: { field: 'row', type: 'nominal', sort: [...names], title: null },
    },
    layer: heatmapLayers(domain, legendTitle),
  };
}

/**
 * Heatmaps of several square matrices side by side on ONE colour scale (from the smallest to the
 * largest value of all of them) with one titled legend, so that equal colours mean equal values —
 * e.g. the label co-occurrence of ground truth, clean and adversarial predictions (paper §5d).
 *
 * @param panels - a title and a matrix per heatmap (all over the same `names`).
 * @param names - the row and column names.
 * @param options - the overall title, the legend's title and the pixels per cell.
 * @throws {InvalidArgumentError} for arguments of the wrong type or shape (every matrix names.length square), or bad options.
 * @returns a Vega-Lite spec (horizontal concatenation with a shared colour scale).
 * @example
 * ```ts
 * heatmapGridSpec([{ title: 'truth', matrix: [[3, 1], [1, 5]] }, { title: 'clean', matrix: [[2, 0], [0, 6]] }],
 *   ['Effusion', 'Cardiomegaly'], { title: 'Label co-occurrence', legendTitle: 'images' });
 * ```
 * @category Report
 */
export function heatmapGridSpec(panels: readonly { title: string; matrix: readonly (readonly number[])[] }[], names: readonly string[], options: { title: string; legendTitle?: string; size?: number }): VegaLiteSpec {
  const fn = 'heatmapGridSpec';
  assertNames(fn, names);
  if (!Array.isArray(panels) || panels.length === 0) throw new InvalidArgumentError(fn, 'panels', 'a non-empty array of { title, matrix }', describeValue(panels));
  panels.forEach((p: unknown, k) => {
    if (typeof p !== 'object' || p === null) throw new InvalidArgumentError(fn, `panels[${k}]`, 'an object { title, matrix }', describeValue(p));
    assertText(fn, `panels[${k}].title`, (p as { title?: unknown }).title);
    assertSquare(fn, `panels[${k}].matrix`, (p as { matrix?: unknown }).matrix, names);
  });
  const o = assertOptionsObject(fn, options);
  if (options === undefined) throw new InvalidArgumentError(fn, 'options', 'an object with a title', 'undefined');
  assertKnownKeys(fn, o, ['title', 'legendTitle', 'size']);
  const title = assertText(fn, 'options.title', o.title)!;
  const size = assertOptionalNumber(fn, 'options.size', o.size, { min: 0, minExclusive: true }) ?? 28;
  const legendTitle = assertText(fn, 'options.legendTitle', o.legendTitle, { optional: true }) ?? 'value';
  const all = panels.flatMap((p) => p.matrix.flat()).filter((v) => !Number.isNaN(v));
  const domain: [number, number] = [Math.min(0, ...all), Math.max(1, ...all)];
  const side = Math.max(120, size * names.length);
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title, background: 'white',
    hconcat: panels.map((p, k) => ({
      title: p.title, width: side, height: side,
      data: { values: heatmapValues(p.matrix, names) },
      encoding: {
        x: { field: 'column', type: 'nominal', sort: [...names], title: null },
        y: { field: 'row', type: 'nominal', sort: [...names], title: null, ...(k > 0 ? { axis: { labels: false, ticks: false } } : {}) },
      },
      layer: heatmapLayers(domain, legendTitle),
    })),
    resolve: { scale: { color: 'shared' } },
  };
}
