/**
 * Vega-Lite specifications for the report's plots. They are plain JSON objects: render them with
 * any Vega-Lite runtime (the CLI renders SVG with `vega` headless and PNG through `sharp`).
 */
import type { Row } from './tables.js';

/** A Vega-Lite top-level specification (plain JSON). */
export type VegaLiteSpec = Readonly<Record<string, unknown>>;

/**
 * A line chart of `y` against `x`, one line per `color` value — e.g. accuracy vs ε per attack.
 *
 * @param rows - data rows holding the x, y and color fields.
 * @param options - field names, axis titles and the chart title.
 * @returns a Vega-Lite spec.
 * @example
 * ```ts
 * const spec = lineChartSpec(rows, { x: 'epsilon', y: 'accuracy', color: 'attack', title: 'Accuracy under attack' });
 * ```
 * @category Report
 */
export function lineChartSpec(rows: readonly Row[], options: { x: string; y: string; color?: string; title: string; xTitle?: string; yTitle?: string; width?: number; height?: number }): VegaLiteSpec {
  const { x, y, color, title, xTitle = x, yTitle = y, width = 420, height = 260 } = options;
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
 * @example
 * ```ts
 * scatterSpec([{ x: 0.1, y: 2, label: 'benign', source: 'clean' }], { color: 'label', shape: 'source', title: 't-SNE' });
 * ```
 * @category Report
 */
export function scatterSpec(points: readonly Row[], options: { color: string; shape?: string; title: string; width?: number; height?: number }): VegaLiteSpec {
  const { color, shape, title, width = 420, height = 360 } = options;
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
 * @example
 * ```ts
 * heatmapSpec([[3, 1], [1, 5]], ['Effusion', 'Cardiomegaly'], { title: 'Co-occurrence (clean)', legendTitle: 'images' });
 * ```
 * @category Report
 */
export function heatmapSpec(matrix: readonly (readonly number[])[], names: readonly string[], options: HeatmapOptions): VegaLiteSpec {
  const { title, size = 28, domain, legendTitle = 'value' } = options;
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
 * @returns a Vega-Lite spec (horizontal concatenation with a shared colour scale).
 * @example
 * ```ts
 * heatmapGridSpec([{ title: 'truth', matrix: [[3, 1], [1, 5]] }, { title: 'clean', matrix: [[2, 0], [0, 6]] }],
 *   ['Effusion', 'Cardiomegaly'], { title: 'Label co-occurrence', legendTitle: 'images' });
 * ```
 * @category Report
 */
export function heatmapGridSpec(panels: readonly { title: string; matrix: readonly (readonly number[])[] }[], names: readonly string[], options: { title: string; legendTitle?: string; size?: number }): VegaLiteSpec {
  const { title, legendTitle = 'value', size = 28 } = options;
  const all = panels.flatMap((p) => p.matrix.flat());
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
