/**
 * Figures of image panels for the report: every panel is enlarged by an integer factor with
 * nearest-neighbour sampling (so a 28 px image shows its pixels as blocks instead of a blurred
 * thumbnail), laid out in a grid with a title, captions, row labels and, for false-colour panels, a
 * titled colour bar of the shared scale. Drawn as SVG (text needs no font files beyond the system's)
 * and rasterised by sharp.
 * @internal
 */
import { colorize, type RgbImage } from '../analysis/colormap.js';
import { rgbToPng, svgToPng } from './render.js';

export interface FigurePanel {
  image: RgbImage;
  /** A line under the panel. */
  caption?: string;
}

export interface FigureOptions {
  title?: string;
  /** Panels per row (default: all in one row). */
  columns?: number;
  /** A label left of each row. */
  rowLabels?: readonly string[];
  /** Panels are enlarged until they are at least this many pixels tall (default 168). */
  minPanelHeight?: number;
  /** A jet colour bar from `min` to `max` under the panels, with a title (the quantity and its unit). */
  legend?: { title: string; min: number; max: number };
  /** Lines of text under the figure. */
  notes?: readonly string[];
}

/** Enlarges an image by an integer factor, each source pixel becoming a factor × factor block. */
export function upscaleNearest(image: RgbImage, factor: number): RgbImage {
  const f = Math.max(1, Math.floor(factor));
  if (f === 1) return image;
  const width = image.width * f;
  const height = image.height * f;
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const sy = Math.floor(y / f);
    for (let x = 0; x < width; x++) {
      const s = 3 * (sy * image.width + Math.floor(x / f));
      const o = 3 * (y * width + x);
      data[o] = image.data[s]!;
      data[o + 1] = image.data[s + 1]!;
      data[o + 2] = image.data[s + 2]!;
    }
  }
  return { width, height, data };
}

const escapeXml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const FONT = 'font-family="DejaVu Sans, Helvetica, Arial, sans-serif"';

async function dataUri(image: RgbImage): Promise<string> {
  return `data:image/png;base64,${Buffer.from(await rgbToPng(image)).toString('base64')}`;
}

const formatTick = (v: number) => (Math.abs(v) >= 100 || Number.isInteger(v) ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toPrecision(2));

/** Lays out the panels and returns the figure as PNG bytes with its size. */
export async function figurePng(panels: readonly FigurePanel[], options: FigureOptions = {}): Promise<{ png: Uint8Array; width: number; height: number }> {
  const columns = Math.max(1, Math.min(options.columns ?? panels.length, panels.length));
  const rows = Math.ceil(panels.length / columns);
  const source = panels[0]!.image;
  const factor = Math.max(1, Math.ceil((options.minPanelHeight ?? 168) / source.height));
  const pw = source.width * factor;
  const ph = source.height * factor;
  const gap = 10;
  const margin = 14;
  const captionH = panels.some((p) => p.caption) ? 20 : 0;
  const labelW = options.rowLabels ? 12 + 7.5 * Math.max(...options.rowLabels.map((l) => l.length)) : 0;
  const titleH = options.title ? 28 : 0;
  const gridW = columns * pw + (columns - 1) * gap;
  const legendH = options.legend ? 62 : 0;
  const notesH = (options.notes?.length ?? 0) * 18 + (options.notes?.length ? 6 : 0);
  // Text widths estimated from the font size (DejaVu Sans averages about 0.6 em per character).
  const textW = Math.max(options.title ? options.title.length * 9.2 : 0, ...(options.notes ?? []).map((n) => n.length * 7.2));
  const width = Math.ceil(Math.max(margin * 2 + labelW + Math.max(gridW, options.legend ? 300 : 0), margin * 2 + textW));
  const height = Math.ceil(margin * 2 + titleH + rows * (ph + captionH) + (rows - 1) * gap + legendH + notesH);
  const parts: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`, `<rect width="100%" height="100%" fill="white"/>`];
  if (options.title) parts.push(`<text x="${margin}" y="${margin + 16}" ${FONT} font-size="15" font-weight="bold">${escapeXml(options.title)}</text>`);
  for (let i = 0; i < panels.length; i++) {
    const r = Math.floor(i / columns);
    const c = i % columns;
    const x = margin + labelW + c * (pw + gap);
    const y = margin + titleH + r * (ph + captionH + gap);
    const big = upscaleNearest(panels[i]!.image, factor);
    parts.push(`<image x="${x}" y="${y}" width="${big.width}" height="${big.height}" xlink:href="${await dataUri(big)}"/>`);
    if (panels[i]!.caption) parts.push(`<text x="${x + pw / 2}" y="${y + ph + 15}" text-anchor="middle" ${FONT} font-size="12">${escapeXml(panels[i]!.caption!)}</text>`);
    if (c === 0 && options.rowLabels?.[r]) parts.push(`<text x="${margin + labelW - 10}" y="${y + ph / 2 + 4}" text-anchor="end" ${FONT} font-size="12">${escapeXml(options.rowLabels[r]!)}</text>`);
  }
  let y = margin + titleH + rows * (ph + captionH) + (rows - 1) * gap;
  if (options.legend) {
    const { title, min, max } = options.legend;
    const barW = 256;
    const ramp = new Float32Array(barW * 12).map((_, i) => (i % barW) / (barW - 1));
    const bar: RgbImage = { width: barW, height: 12, data: colorize(ramp, 0, 1) };
    const x = margin + labelW;
    parts.push(`<text x="${x}" y="${y + 20}" ${FONT} font-size="12" font-weight="bold">${escapeXml(title)}</text>`);
    parts.push(`<image x="${x}" y="${y + 27}" width="${barW}" height="12" xlink:href="${await dataUri(bar)}"/>`);
    parts.push(`<rect x="${x}" y="${y + 27}" width="${barW}" height="12" fill="none" stroke="#555" stroke-width="0.5"/>`);
    parts.push(`<text x="${x}" y="${y + 53}" ${FONT} font-size="11">${escapeXml(formatTick(min))}</text>`);
    parts.push(`<text x="${x + barW}" y="${y + 53}" text-anchor="end" ${FONT} font-size="11">${escapeXml(formatTick(max))}</text>`);
    y += legendH;
  }
  for (const [k, note] of (options.notes ?? []).entries()) {
    parts.push(`<text x="${margin}" y="${y + 18 + 18 * k}" ${FONT} font-size="12">${escapeXml(note)}</text>`);
  }
  parts.push('</svg>');
  return { png: await svgToPng(parts.join('\n'), { density: 72 }), width, height };
}
