/**
 * The liquid layer of ImageNet-P's `spatter` sequence (paper.md §9.2): drops of a pale-turquoise
 * liquid that run down the image, one column convolution with [.05, .1, .15, .7] per frame.
 *
 * The layer is N(0.65, 0.27) noise smoothed by a Gaussian (σ = 3.7 px), zeroed below 0.69. Each
 * frame shades it as ImageNet-P does, with one simplification: Canny edges of the layer are taken
 * as the boundary of its non-zero region (the layer jumps from 0 to ≥ 0.69 there, which is what
 * Canny finds). Then: distance to the nearest edge (chamfer 1/√2), truncated at 20, 3×3 box blur,
 * histogram equalisation, the emboss kernel [[−2,−1,0],[−1,1,1],[0,1,2]] (8-bit saturation),
 * 3×3 box blur; mask = layer·shading, normalised to a maximum of 0.6.
 * @internal
 */
import type { Rng } from '../internal/random.js';
import { foldIndex } from './linear.js';
import { blurField } from './randomFields.js';

/** Pale turquoise (175, 238, 238)/255, the colour of the liquid. */
export const LIQUID_RGB = [175 / 255, 238 / 255, 238 / 255] as const;

/** The initial liquid layer of one image, `h × w`. */
export function liquidLayer(rng: Rng, h: number, w: number, pixelScale: number): Float32Array {
  const field = new Float32Array(h * w);
  for (let i = 0; i < field.length; i++) field[i] = 0.65 + 0.27 * rng.normal();
  blurField(field, h, w, 3.7 * pixelScale);
  for (let i = 0; i < field.length; i++) if (field[i]! < 0.69) field[i] = 0;
  return field;
}

/** One frame of flow: every column convolved with [.05, .1, .15, .7] (numpy 'same', zeros outside). */
export function flowLayer(layer: Float32Array, h: number, w: number): Float32Array {
  const out = new Float32Array(h * w);
  const at = (y: number, x: number) => (y >= 0 && y < h ? layer[y * w + x]! : 0);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) out[y * w + x] = 0.05 * at(y + 1, x) + 0.1 * at(y, x) + 0.15 * at(y - 1, x) + 0.7 * at(y - 2, x);
  return out;
}

function box3(src: Float32Array, h: number, w: number): Float32Array {
  const out = new Float32Array(h * w);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      let s = 0;
      for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) s += src[foldIndex(y + dy, h, 'reflect') * w + foldIndex(x + dx, w, 'reflect')]!;
      out[y * w + x] = s / 9;
    }
  return out;
}

/** The liquid mask of one frame (values in [0, 0.6]). */
export function liquidMask(layer: Float32Array, h: number, w: number): Float32Array {
  const n = h * w;
  const inside = (y: number, x: number) => y >= 0 && y < h && x >= 0 && x < w && layer[y * w + x]! > 0;
  const dist = new Float32Array(n).fill(1e9);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      if (inside(y, x) && (!inside(y - 1, x) && y > 0 || !inside(y + 1, x) && y < h - 1 || !inside(y, x - 1) && x > 0 || !inside(y, x + 1) && x < w - 1)) dist[y * w + x] = 0;
  const d2 = Math.SQRT2;
  const relax = (y: number, x: number, dy: number, dx: number, c: number) => {
    const yy = y + dy;
    const xx = x + dx;
    if (yy < 0 || yy >= h || xx < 0 || xx >= w) return;
    const v = dist[yy * w + xx]! + c;
    if (v < dist[y * w + x]!) dist[y * w + x] = v;
  };
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      relax(y, x, -1, -1, d2);
      relax(y, x, -1, 0, 1);
      relax(y, x, -1, 1, d2);
      relax(y, x, 0, -1, 1);
    }
  for (let y = h - 1; y >= 0; y--)
    for (let x = w - 1; x >= 0; x--) {
      relax(y, x, 1, 1, d2);
      relax(y, x, 1, 0, 1);
      relax(y, x, 1, -1, d2);
      relax(y, x, 0, 1, 1);
    }
  for (let i = 0; i < n; i++) dist[i] = Math.min(dist[i]!, 20);
  const blurred = box3(dist, h, w);
  // to 8 bits and equalise the histogram (cv2.equalizeHist)
  const bytes = Uint8Array.from(blurred, (v) => Math.floor(v));
  const hist = new Uint32Array(256);
  for (const v of bytes) hist[v]! += 1;
  let first = 0;
  while (first < 255 && hist[first] === 0) first++;
  const lut = new Uint8Array(256);
  const total = n - hist[first]!;
  let cum = 0;
  for (let v = 0; v < 256; v++) {
    cum += hist[v]!;
    lut[v] = total > 0 ? Math.min(255, Math.max(0, Math.round(((cum - hist[first]!) * 255) / total))) : v;
  }
  const eq = Uint8Array.from(bytes, (v) => lut[v]!);
  const ker = [-2, -1, 0, -1, 1, 1, 0, 1, 2];
  const embossed = new Float32Array(n);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      let s = 0;
      for (let dy = -1; dy <= 1; dy++)
        for (let dx = -1; dx <= 1; dx++) s += ker[(dy + 1) * 3 + dx + 1]! * eq[foldIndex(y + dy, h, 'reflect') * w + foldIndex(x + dx, w, 'reflect')]!;
      embossed[y * w + x] = Math.min(255, Math.max(0, Math.round(s)));
    }
  const shade = box3(embossed, h, w);
  const mask = new Float32Array(n);
  let max = 0;
  for (let i = 0; i < n; i++) {
    mask[i] = layer[i]! * shade[i]!;
    max = Math.max(max, mask[i]!);
  }
  if (max > 0) for (let i = 0; i < n; i++) mask[i] = (mask[i]! / max) * 0.6;
  return mask;
}
