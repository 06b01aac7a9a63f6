export { markdownTable, toCsv, type Row } from './tables.js';
export { heatmapSpec, lineChartSpec, scatterSpec, type VegaLiteSpec } from './plots.js';
