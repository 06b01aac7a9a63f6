import { InvalidArgumentError } from '../errors.js';
import { assertKnownKeys, assertNumber, assertOptionsObject, describeValue } from '../internal/validate.js';

/**
 * An RGB image: `height × width` pixels, 3 bytes each, row-major (like `ImageData` without alpha).
 * The report module writes these to PNG; nothing here writes files.
 * @category Analysis
 */
export interface RgbImage {
  /** Width in pixels. */
  readonly width: number;
  /** Height in pixels. */
  readonly height: number;
  /** `width · height · 3` bytes: R, G, B of pixel (y, x) at `3·(y·width + x)`. */
  readonly data: Uint8Array;
}

/**
 * Options of {@link jetColormap}.
 * @category Analysis
 */
export interface ColormapOptions {
  /**
   * The value mapped to the first colour (dark blue); lower values saturate.
   * @defaultValue 0
   */
  min?: number;
  /**
   * The value mapped to the last colour (dark red); higher values saturate.
   * @defaultValue 1
   */
  max?: number;
}

// matplotlib's jet: piecewise-linear segments (x, value) per channel (_cm.py `_jet_data`)
const JET: readonly (readonly (readonly [number, number])[])[] = [
  [[0, 0], [0.35, 0], [0.66, 1], [0.89, 1], [1, 0.5]],
  [[0, 0], [0.125, 0], [0.375, 1], [0.64, 1], [0.91, 0], [1, 0]],
  [[0, 0.5], [0.11, 1], [0.34, 1], [0.65, 0], [1, 0]],
];

let lut: Uint8Array | undefined;

/** matplotlib's 256-entry lookup table, sampled at i/255 and truncated to bytes as `bytes=True` does. */
function jetLut(): Uint8Array {
  if (lut) return lut;
  const table = new Uint8Array(256 * 3);
  // as matplotlib's _create_lookup_table: positions in index units, xind = 255·(i·(1/255))
  const step = 1 / 255;
  for (let i = 0; i < 256; i++) {
    const xind = i === 255 ? 255 : 255 * (i * step);
    for (let ch = 0; ch < 3; ch++) {
      const seg = JET[ch]!;
      let v = seg[seg.length - 1]![1];
      if (i === 0) v = seg[0]![1];
      else if (i < 255) {
        for (let s = 1; s < seg.length; s++) {
          const x0 = seg[s - 1]![0] * 255;
          const x1 = seg[s]![0] * 255;
          if (xind <= x1) {
            const distance = (xind - x0) / (x1 - x0);
            v = distance * (seg[s]![1] - seg[s - 1]![1]) + seg[s - 1]![1];
            break;
          }
        }
      }
      table[i * 3 + ch] = Math.floor(Math.min(1, Math.max(0, v)) * 255);
    }
  }
  lut = table;
  return table;
}

/**
 * Maps values to RGB with matplotlib's `'jet'` colormap (the paper's feature maps, §5b), byte for
 * byte as `matplotlib.colormaps['jet'](x, bytes=True)`: x = (v − min)/(max − min), index
 * ⌊256·x⌋ clipped to [0, 255] (values outside [min, max] saturate; the paper uses min 0, max 1 on
 * raw activations, "no normalization"). NaN maps to black.
 *
 * @param values - the values, any length.
 * @param options - see {@link ColormapOptions}.
 * @returns `3 · values.length` bytes, RGB per value.
 * @throws {InvalidArgumentError} when `values` is not a list of numbers or min ≥ max.
 *
 * @example
 * ```ts
 * jetColormap([0, 0.5, 1]); // Uint8Array [0,0,127, 124,255,121, 127,0,0]
 * ```
 * @category Analysis
 */
export function jetColormap(values: ArrayLike<number>, options: ColormapOptions = {}): Uint8Array {
  const fn = 'jetColormap';
  const o = assertOptionsObject(fn, options);
  assertKnownKeys(fn, o, ['min', 'max']);
  if (values === null || typeof values !== 'object' || typeof (values as ArrayLike<number>).length !== 'number') {
    throw new InvalidArgumentError(fn, 'values', 'an array or typed array of numbers', describeValue(values));
  }
  const min = o.min === undefined ? 0 : assertNumber(fn, 'options.min', o.min);
  const max = o.max === undefined ? 1 : assertNumber(fn, 'options.max', o.max);
  if (!(max > min)) throw new InvalidArgumentError(fn, 'options.max', `a number above options.min (${min})`, String(max));
  return colorize(values, min, max);
}

/** {@link jetColormap} without validation. */
export function colorize(values: ArrayLike<number>, min: number, max: number): Uint8Array {
  const table = jetLut();
  const out = new Uint8Array(values.length * 3);
  const scale = 256 / (max - min);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (Number.isNaN(v)) continue;
    let k = Math.floor((v - min) * scale);
    if (k < 0) k = 0;
    else if (k > 255) k = 255;
    out[3 * i] = table[3 * k]!;
    out[3 * i + 1] = table[3 * k + 1]!;
    out[3 * i + 2] = table[3 * k + 2]!;
  }
  return out;
}

/**
 * Options of {@link tileImages}.
 * @category Analysis
 */
export interface TileOptions {
  /**
   * Images per row of the grid (more than there are images acts as one row of all of them).
   * @defaultValue ⌈√count⌉
   */
  columns?: number;
  /**
   * Pixels between tiles (filled with white).
   * @defaultValue 2
   */
  gap?: number;
}

/** The largest contact sheet tileImages makes (a typo such as gap: 1e9 must not allocate gigabytes). */
const MAX_TILE_BYTES = 2 ** 30;

/**
 * Tiles equally sized images into one grid image (the notebook's grids of all channels of a block, §5b).
 *
 * @param images - at least one image, all of one size.
 * @param options - see {@link TileOptions}.
 * @returns the grid image.
 * @throws {InvalidArgumentError} for an empty list, images of different sizes, bad options, or a sheet over 1 GiB.
 *
 * @example
 * ```ts
 * const grid = tileImages(featureMapImages(acts, { channels: [0, 1, 2, 3] }), { columns: 2 });
 * ```
 * @category Analysis
 */
export function tileImages(images: readonly RgbImage[], options: TileOptions = {}): RgbImage {
  const fn = 'tileImages';
  const o = assertOptionsObject(fn, options);
  assertKnownKeys(fn, o, ['columns', 'gap']);
  if (!Array.isArray(images) || images.length === 0) throw new InvalidArgumentError(fn, 'images', 'a non-empty array of RGB images', describeValue(images));
  const first: unknown = images[0];
  if (typeof first !== 'object' || first === null) throw new InvalidArgumentError(fn, 'images[0]', 'an RGB image { width, height, data }', describeValue(first));
  const { width: w, height: h } = first as RgbImage;
  if (!Number.isInteger(w) || !Number.isInteger(h) || w < 1 || h < 1) throw new InvalidArgumentError(fn, 'images[0]', 'an RGB image with integer width and height >= 1', `${describeValue(w)}×${describeValue(h)}`);
  images.forEach((im, i) => {
    if (!im || im.width !== w || im.height !== h || !(im.data instanceof Uint8Array) || im.data.length !== w * h * 3) {
      throw new InvalidArgumentError(fn, `images[${i}]`, `an RGB image of ${w}×${h} like images[0]`, describeValue(im));
    }
  });
  const columns = o.columns === undefined ? Math.ceil(Math.sqrt(images.length)) : assertNumber(fn, 'options.columns', o.columns, { integer: true, min: 1 });
  const gap = o.gap === undefined ? 2 : assertNumber(fn, 'options.gap', o.gap, { integer: true, min: 0 });
  const used = Math.min(columns, images.length); // columns beyond the images would only add blank space
  const rows = Math.ceil(images.length / used);
  const width = used * w + (used - 1) * gap;
  const height = rows * h + (rows - 1) * gap;
  if (width * height * 3 > MAX_TILE_BYTES) {
    throw new InvalidArgumentError(fn, 'options.gap', `a gap that keeps the sheet under ${MAX_TILE_BYTES / 2 ** 20} MiB`, `${gap} (a ${width}×${height} sheet)`);
  }
  const data = new Uint8Array(width * height * 3).fill(255);
  images.forEach((im, i) => {
    const x0 = (i % used) * (w + gap);
    const y0 = Math.floor(i / used) * (h + gap);
    for (let y = 0; y < h; y++) data.set(im.data.subarray(y * w * 3, (y + 1) * w * 3), ((y0 + y) * width + x0) * 3);
  });
  return { width, height, data };
}
