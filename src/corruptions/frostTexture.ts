/**
 * A procedural frost texture, standing in for the six photographs of ice that ImageNet-C crops
 * (image files cannot ship in this package). It has the two ingredients of those photographs:
 * - a cloudy haze: a plasma fractal (diamond-square, decay 1.8) with structure at every scale;
 * - ice crystals: seeds scattered at random, each growing 4–7 straight needles (bright at the
 *   root, fading to the tip) with dendrite side branches at ±60°, softened by a Gaussian of
 *   σ = 0.6 px.
 * texture = clip(0.2 + 0.4·haze + 0.8·crystals, 0, 1), mean about 0.45 like the photographs;
 * colour images get a cold tint (R, G, B) × (0.86, 0.93, 1). Lengths scale with the image side.
 * @internal
 */
import type { Rng } from '../internal/random.js';
import { blurField, cropField, nextPowerOfTwo, plasmaFractal } from './randomFields.js';

/** Cold tint of frost on colour images (per RGB channel). */
export const FROST_TINT = [0.86, 0.93, 1] as const;

/** Deposits v at a fractional position, bilinearly split over 4 pixels, keeping the maximum. */
function deposit(field: Float32Array, h: number, w: number, y: number, x: number, v: number): void {
  const y0 = Math.floor(y);
  const x0 = Math.floor(x);
  const fy = y - y0;
  const fx = x - x0;
  if (y0 >= 0 && y0 < h) {
    const row = y0 * w;
    if (x0 >= 0 && x0 < w) field[row + x0] = Math.max(field[row + x0]!, v * ((1 - fy) * (1 - fx)));
    if (x0 + 1 >= 0 && x0 + 1 < w) field[row + x0 + 1] = Math.max(field[row + x0 + 1]!, v * ((1 - fy) * fx));
  }
  if (y0 + 1 >= 0 && y0 + 1 < h) {
    const row = (y0 + 1) * w;
    if (x0 >= 0 && x0 < w) field[row + x0] = Math.max(field[row + x0]!, v * (fy * (1 - fx)));
    if (x0 + 1 >= 0 && x0 + 1 < w) field[row + x0 + 1] = Math.max(field[row + x0 + 1]!, v * (fy * fx));
  }
}

function needle(field: Float32Array, h: number, w: number, rng: Rng, y: number, x: number, angle: number, length: number, strength: number, depth: number): void {
  const dy = Math.sin(angle);
  const dx = Math.cos(angle);
  const nextBranch = () => length * (0.15 + 0.25 * rng.next());
  let branchAt = nextBranch();
  for (let s = 0; s < length; s += 0.5) {
    deposit(field, h, w, y + s * dy, x + s * dx, strength * Math.sqrt(1 - s / length));
    if (depth > 0 && s >= branchAt) {
      const side = rng.next() < 0.5 ? -1 : 1;
      needle(field, h, w, rng, y + s * dy, x + s * dx, angle + (side * Math.PI) / 3, (length - s) * 0.4, strength * 0.7, depth - 1);
      branchAt += nextBranch();
    }
  }
}

/** One frost texture `h × w` with values in [0, 1]. */
export function frostTexture(rng: Rng, h: number, w: number): Float32Array {
  const side = Math.max(h, w);
  const size = nextPowerOfTwo(side);
  const haze = cropField(plasmaFractal(rng, size, 1.8), size, h, w);
  const crystals = new Float32Array(h * w);
  const seeds = Math.max(3, Math.round((h * w) / 300));
  for (let k = 0; k < seeds; k++) {
    const y = rng.next() * h;
    const x = rng.next() * w;
    const arms = rng.nextInt(4, 7);
    const turn = rng.next() * 2 * Math.PI;
    for (let a = 0; a < arms; a++) {
      const angle = turn + (2 * Math.PI * a) / arms + 0.3 * (rng.next() - 0.5);
      needle(crystals, h, w, rng, y, x, angle, side * (0.08 + 0.22 * rng.next()), 0.5 + 0.5 * rng.next(), 1);
    }
  }
  blurField(crystals, h, w, 0.6);
  const out = new Float32Array(h * w);
  for (let i = 0; i < out.length; i++) out[i] = Math.min(1, Math.max(0, 0.2 + 0.4 * haze[i]! + 0.8 * crystals[i]!));
  return out;
}
