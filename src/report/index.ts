export { markdownTable, toCsv, type Row } from './tables.js';
export { heatmapGridSpec, heatmapSpec, lineChartSpec, scatterSpec, type HeatmapOptions, type VegaLiteSpec } from './plots.js';
