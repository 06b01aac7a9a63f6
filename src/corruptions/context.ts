/**
 * What every corruption receives besides the images: its random generator and the factor that
 * converts the paper's pixel-valued parameters to this image size.
 * @internal
 */
import type * as tf from '@tensorflow/tfjs-core';
import type { Rng } from '../internal/random.js';

/** Per-call state of a corruption. */
export interface CorruptionContext {
  /** The seeded generator: JS draws use it directly, tf.random ops get `rng.nextSeed()`. */
  readonly rng: Rng;
  /** Multiplier for pixel-valued parameters (blur σ and radii, shifts): 1 = the paper's values. */
  readonly pixelScale: number;
  /**
   * The images' values when the caller has already read them (`corrupt` reads and validates them
   * once); read-only. Absent: the corruption reads the tensor itself.
   */
  readonly values?: Float32Array;
}

/** A corruption at a given severity (1…5): new tensor, same shape, values in [0, 1]. */
export type CorruptionFn = (images: tf.Tensor4D, severity: number, ctx: CorruptionContext) => tf.Tensor4D;

/** The parameter of `severity` (1-based) from a five-entry table. */
export function level<T>(table: readonly T[], severity: number): T {
  return table[severity - 1]!;
}
