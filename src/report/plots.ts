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

/**
 * A heatmap of a square matrix with row/column names and the value printed in each cell — e.g. the
 * label co-occurrence matrix of the paper (§5d).
 *
 * @param matrix - the values, `matrix[i][j]`.
 * @param names - the row and column names.
 * @param options - the title.
 * @returns a Vega-Lite spec.
 * @example
 * ```ts
 * heatmapSpec([[3, 1], [1, 5]], ['Effusion', 'Cardiomegaly'], { title: 'Co-occurrence (clean)' });
 * ```
 * @category Report
 */
export function heatmapSpec(matrix: readonly (readonly number[])[], names: readonly string[], options: { title: string; size?: number }): VegaLiteSpec {
  const { title, size = 28 } = options;
  const values = matrix.flatMap((row, i) => row.map((v, j) => ({ row: names[i] ?? String(i), column: names[j] ?? String(j), value: v })));
  const side = Math.max(120, size * names.length);
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title, width: side, height: side, background: 'white',
    data: { values },
    encoding: {
      x: { field: 'column', type: 'nominal', sort: [...names], title: null },
      y: { field: 'row', type: 'nominal', sort: [...names], title: null },
    },
    layer: [
      { mark: 'rect', encoding: { color: { field: 'value', type: 'quantitative', scale: { scheme: 'blues' } } } },
      { mark: { type: 'text', fontSize: 9 }, encoding: { text: { field: 'value', type: 'quantitative', format: '.3~g' } } },
    ],
  };
}
