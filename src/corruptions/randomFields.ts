/**
 * Seeded random fields computed on the CPU in plain JavaScript: Poisson counts (shot noise), the
 * diamond-square plasma fractal (fog, frost haze) and small helpers on single-channel fields.
 * Every draw comes from an {@link Rng}, so a seed replays the same field on every backend.
 * @internal
 */
import type { Rng } from '../internal/random.js';
import { gaussianKernel } from './linear.js';

const LOG_FACTORIAL_TABLE = (() => {
  const t = new Float64Array(16);
  for (let k = 2; k < 16; k++) t[k] = t[k - 1]! + Math.log(k);
  return t;
})();

/** log(k!) exactly for k < 16, by Stirling's series beyond (error < 1e-10). */
function logFactorial(k: number): number {
  if (k < 16) return LOG_FACTORIAL_TABLE[k]!;
  const x = k + 1;
  return (x - 0.5) * Math.log(x) - x + 0.5 * Math.log(2 * Math.PI) + 1 / (12 * x) - 1 / (360 * x * x * x);
}

/**
 * One Poisson(λ) draw: multiplication method below λ = 10, Hörmann's transformed rejection with
 * squeeze (PTRS, 1993; also numpy's method) above, so large λ (ImageNet-P's 300·x) stay cheap.
 */
export function poisson(rng: Rng, lambda: number): number {
  if (!(lambda > 0)) return 0;
  if (lambda < 10) {
    const limit = Math.exp(-lambda);
    let k = 0;
    let p = rng.next();
    while (p > limit) {
      k++;
      p *= rng.next();
    }
    return k;
  }
  const slam = Math.sqrt(lambda);
  const loglam = Math.log(lambda);
  const b = 0.931 + 2.53 * slam;
  const a = -0.059 + 0.02483 * b;
  const invAlpha = 1.1239 + 1.1328 / (b - 3.4);
  const vr = 0.9277 - 3.6224 / (b - 2);
  for (;;) {
    const u = rng.next() - 0.5;
    const v = rng.next();
    const us = 0.5 - Math.abs(u);
    const k = Math.floor(((2 * a) / us + b) * u + lambda + 0.43);
    if (us >= 0.07 && v <= vr) return k;
    if (k < 0 || (us < 0.013 && v > us)) continue;
    if (Math.log(v) + Math.log(invAlpha) - Math.log(a / (us * us) + b) <= -lambda + k * loglam - logFactorial(k)) return k;
  }
}

/** The smallest power of two ≥ n (at least 2). */
export function nextPowerOfTwo(n: number): number {
  let p = 2;
  while (p < n) p *= 2;
  return p;
}

/**
 * A periodic plasma fractal (diamond-square) of side `size` (a power of two), min-max
 * normalised to [0, 1]. As in ImageNet-C's `plasma_fractal`: every new point is the mean of its
 * four neighbours plus wibble·U(−wibble, wibble), with wibble = 100 divided by `decay` per level.
 */
export function plasmaFractal(rng: Rng, size: number, decay: number): Float32Array {
  const map = new Float64Array(size * size);
  // indices wrap around the (power-of-two) side; a non-power of two falls back to modulo
  const mask = size - 1;
  const wrap = (size & mask) === 0 ? (i: number) => i & mask : (i: number) => ((i % size) + size) % size;
  let step = size;
  let wibble = 100;
  while (step >= 2) {
    const half = step / 2;
    for (let r = 0; r < size; r += step) {
      const row = r * size;
      const below = wrap(r + step) * size;
      const middle = (r + half) * size;
      for (let c = 0; c < size; c += step) {
        const right = wrap(c + step);
        const sum = map[row + c]! + map[below + c]! + map[row + right]! + map[below + right]!;
        map[middle + c + half] = sum / 4 + wibble * (2 * rng.next() - 1) * wibble;
      }
    }
    for (let r = 0; r < size; r += step) {
      const row = r * size;
      const above = wrap(r - half) * size;
      const middle = (r + half) * size;
      const below = wrap(r + step) * size;
      for (let c = 0; c < size; c += step) {
        const right = wrap(c + step);
        // the diamond point on the top edge (r, c + half) and on the left edge (r + half, c)
        const top = map[above + c + half]! + map[middle + c + half]! + map[row + c]! + map[row + right]!;
        map[row + c + half] = top / 4 + wibble * (2 * rng.next() - 1) * wibble;
        const left = map[middle + wrap(c - half)]! + map[middle + c + half]! + map[row + c]! + map[below + c]!;
        map[middle + c] = left / 4 + wibble * (2 * rng.next() - 1) * wibble;
      }
    }
    step = half;
    wibble /= decay;
  }
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < map.length; i++) {
    const v = map[i]!;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const out = new Float32Array(size * size);
  const span = hi - lo || 1;
  for (let i = 0; i < map.length; i++) out[i] = (map[i]! - lo) / span;
  return out;
}

/** The top-left h×w window of a square field of side `size`. */
export function cropField(field: Float32Array, size: number, h: number, w: number): Float32Array {
  const out = new Float32Array(h * w);
  for (let r = 0; r < h; r++) out.set(field.subarray(r * size, r * size + w), r * w);
  return out;
}

/** Gaussian blur of a single-channel h×w field in place (edge replication). */
export function blurField(field: Float32Array, h: number, w: number, sigma: number): Float32Array {
  const k = gaussianKernel(sigma);
  const r = (k.length - 1) / 2;
  const tmp = new Float32Array(h * w);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let s = 0;
      for (let i = -r; i <= r; i++) s += k[i + r]! * field[y * w + Math.min(w - 1, Math.max(0, x + i))]!;
      tmp[y * w + x] = s;
    }
  }
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let s = 0;
      for (let i = -r; i <= r; i++) s += k[i + r]! * tmp[Math.min(h - 1, Math.max(0, y + i)) * w + x]!;
      field[y * w + x] = s;
    }
  }
  return field;
}
