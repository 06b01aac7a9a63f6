/**
 * Small pure-TypeScript drawing helpers for the generated demo data (no tfjs, no Math.random).
 * @internal
 */
import type { Rng } from '../internal/random.js';

/** A soft 0→1 edge: 0 for d ≥ w, 1 for d ≤ −w, smooth in between (d: signed distance). */
export function inside(d: number, w: number): number {
  const t = Math.min(1, Math.max(0, 0.5 - d / (2 * w)));
  return t * t * (3 - 2 * t);
}

/** Smooth value noise on [0,1]²: a g×g grid of random values, bicubically blended. */
export function valueNoise(rng: Rng, g: number): (u: number, v: number) => number {
  const grid = new Float64Array((g + 1) * (g + 1));
  for (let i = 0; i < grid.length; i++) grid[i] = rng.next() * 2 - 1;
  return (u, v) => {
    const x = Math.min(g - 1e-9, Math.max(0, u * g));
    const y = Math.min(g - 1e-9, Math.max(0, v * g));
    const i = Math.floor(x);
    const j = Math.floor(y);
    const fx = x - i;
    const fy = y - j;
    const sx = fx * fx * (3 - 2 * fx);
    const sy = fy * fy * (3 - 2 * fy);
    const a = grid[j * (g + 1) + i]!;
    const b = grid[j * (g + 1) + i + 1]!;
    const c = grid[(j + 1) * (g + 1) + i]!;
    const d = grid[(j + 1) * (g + 1) + i + 1]!;
    return a + (b - a) * sx + (c - a) * sy + (a - b - c + d) * sx * sy;
  };
}

/** Clamps to [0, 1]. */
export function clamp01(x: number): number {
  return x < 0 ? 0 : x > 1 ? 1 : x;
}

/** Linear interpolation of two RGB colours. */
export function mix3(a: readonly number[], b: readonly number[], t: number): [number, number, number] {
  return [a[0]! + (b[0]! - a[0]!) * t, a[1]! + (b[1]! - a[1]!) * t, a[2]! + (b[2]! - a[2]!) * t];
}
