/**
 * Headless rendering for reports: Vega-Lite specs to SVG (vega's SVG renderer needs no canvas) and
 * SVG or raw pixels to PNG through sharp. vega, vega-lite and sharp are optional dependencies,
 * loaded on first use with a clear error when absent.
 * @internal
 */
import { MedrobustError } from '../errors.js';
import type { VegaLiteSpec } from '../report/plots.js';

async function load<T>(name: string): Promise<T> {
  try {
    return (await import(name)) as T;
  } catch {
    throw new MedrobustError(`report rendering needs the optional package '${name}': npm install ${name}`);
  }
}

/** Renders a Vega-Lite spec to an SVG string. */
export async function renderSvg(spec: VegaLiteSpec): Promise<string> {
  const vl = await load<typeof import('vega-lite')>('vega-lite');
  const vega = await load<typeof import('vega')>('vega');
  const compiled = vl.compile(spec as never).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

type Sharp = typeof import('sharp');

async function sharpModule(): Promise<Sharp> {
  const mod = await load<{ default: Sharp }>('sharp');
  return mod.default;
}

/** Converts an SVG string to PNG bytes (at 144 dpi, twice the SVG's size, unless `density` says otherwise). */
export async function svgToPng(svg: string, options: { density?: number } = {}): Promise<Uint8Array> {
  const sharp = await sharpModule();
  return new Uint8Array(await sharp(Buffer.from(svg), { density: options.density ?? 144 }).png().toBuffer());
}

/** Encodes 8-bit RGB pixels (row-major, 3 bytes per pixel) as PNG. */
export async function rgbToPng(image: { width: number; height: number; data: Uint8Array }): Promise<Uint8Array> {
  const sharp = await sharpModule();
  return new Uint8Array(await sharp(Buffer.from(image.data), { raw: { width: image.width, height: image.height, channels: 3 } }).png().toBuffer());
}
