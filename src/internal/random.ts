/**
 * Seeded randomness. The only `Math.random` in src is in {@link drawSeed}, used once when a caller
 * gives no seed (the drawn seed is then reported so the run can be replayed).
 * @internal
 */

/** A seeded generator (mulberry32): uniform numbers, integers and fresh seeds for tf.random ops. */
export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [lo, hi] (both inclusive). */
  nextInt(lo: number, hi: number): number;
  /** Uniform in [lo, hi). */
  uniform(lo: number, hi: number): number;
  /** Standard normal (Box-Muller). */
  normal(): number;
  /** A fresh 31-bit seed for a tf.random call: tfjs reseeds on every call, so never reuse one. */
  nextSeed(): number;
  /** The generator's internal state, for checkpoints. */
  state(): number;
}

/** Creates a generator from a 32-bit seed, or from a state saved by {@link Rng.state}. */
export function createRng(seed: number): Rng {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    nextInt: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    uniform: (lo, hi) => lo + (hi - lo) * next(),
    normal: () => {
      const u = 1 - next();
      return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * next());
    },
    nextSeed: () => Math.floor(next() * 0x7fffffff),
    state: () => a,
  };
}

/** Draws a seed when the caller gave none; the caller reports it so the run can be replayed. */
export function drawSeed(): number {
  return Math.floor(Math.random() * 0x7fffffff);
}
