import * as tf from '@tensorflow/tfjs-core';
import { InvalidArgumentError } from '../errors.js';
import { createRng, drawSeed } from '../internal/random.js';
import { assertBoolean, assertKnownKeys, assertOptionalNumber, assertOptionsObject, describeValue } from '../internal/validate.js';
import { checkCorruptionImages, checkCorruptionType, checkSeverity, pixelScaleOf } from './corrupt.js';
import { CORRUPTION_TYPES, CORRUPTIONS, SEVERITIES, type CorruptionType, type Severity } from './corruptionTypes.js';
import { entry } from '../internal/scope.js';

/**
 * Options of {@link corruptionGrid}.
 * @category Corruptions
 */
export interface CorruptionGridOptions {
  /**
   * The rows of the grid, top to bottom.
   * @defaultValue all 18 {@link CORRUPTION_TYPES}
   */
  types?: readonly CorruptionType[];
  /**
   * The severity columns, left to right (after the clean column).
   * @defaultValue [1, 2, 3, 4, 5]
   */
  severities?: readonly Severity[];
  /**
   * Whether the first column shows the clean image.
   * @defaultValue true
   */
  includeClean?: boolean;
  /**
   * The seed of the corruptions (each cell draws its own seed from it, row by row).
   * @defaultValue drawn at random
   */
  seed?: number;
  /** See {@link CorruptOptions}. @defaultValue undefined: the paper's pixel values */
  referenceSize?: number;
}

const KEYS = ['types', 'severities', 'includeClean', 'seed', 'referenceSize'] as const;

/**
 * A picture of the benchmark for one image: every corruption type (a row) at every severity (a
 * column), tiled into one image for a report figure (paper.md §8, figure 6). Row r, column k is
 * `corrupt(image, types[r], { severity: severities[k] })` (column 0 is the clean image when
 * `includeClean`), each tile H × W, no gaps.
 *
 * @param image - one image `[H, W, C]` or `[1, H, W, C]`, float32 in [0, 1], C = 1 or 3; borrowed.
 * @param options - see {@link CorruptionGridOptions}; unknown keys are rejected.
 * @returns the grid `[rows·H, cols·W, C]` in [0, 1], rows = types.length, cols = severities.length
 *   (+1 with the clean column); a new tensor owned by the caller.
 * @throws {InvalidArgumentError} for a bad image, type, severity or option.
 *
 * @example
 * ```ts
 * const grid = corruptionGrid(image, { seed: 1 }); // [18·H, 6·W, C]: 18 types × (clean + 5 severities)
 * const pixels = await tf.browser.toPixels(grid); // or encode it with the report's PNG writer
 * grid.dispose();
 * ```
 * @category Corruptions
 */
export function corruptionGrid(image: tf.Tensor3D | tf.Tensor4D, options: CorruptionGridOptions = {}): tf.Tensor3D {
  return entry('corruptionGrid', () => {
    const fn = 'corruptionGrid';
    if (!(image instanceof tf.Tensor) || (image.rank !== 3 && !(image.rank === 4 && image.shape[0] === 1))) {
      throw new InvalidArgumentError(fn, 'image', 'one image [H, W, C] or [1, H, W, C]', describeValue(image));
    }
    const o = assertOptionsObject(fn, options);
    assertKnownKeys(fn, o, KEYS);
    const list = <T>(argument: string, value: unknown, check: (a: string, v: unknown) => T, fallback: readonly T[]): T[] => {
      if (value === undefined) return [...fallback];
      if (!Array.isArray(value) || value.length === 0) throw new InvalidArgumentError(fn, argument, 'a non-empty array', describeValue(value));
      return value.map((v, i) => check(`${argument}[${i}]`, v));
    };
    const types = list('options.types', o.types, (a, v) => checkCorruptionType(fn, a, v), CORRUPTION_TYPES);
    const severities = list('options.severities', o.severities, (a, v) => checkSeverity(fn, a, v), SEVERITIES);
    const includeClean = assertBoolean(fn, 'options.includeClean', o.includeClean) ?? true;
    const seed = assertOptionalNumber(fn, 'options.seed', o.seed, { integer: true, min: 0 }) ?? drawSeed();
    const rng = createRng(seed);
    const x4 = image.rank === 3 ? tf.expandDims(image, 0) as tf.Tensor4D : (image as tf.Tensor4D);
    try {
      const x = checkCorruptionImages(fn, x4);
      const pixelScale = pixelScaleOf(fn, 'options.referenceSize', o.referenceSize, x);
      const rows: tf.Tensor4D[] = [];
      try {
        for (const type of types) {
          const cells: tf.Tensor4D[] = includeClean ? [tf.clone(x)] : [];
          try {
            for (const severity of severities) cells.push(CORRUPTIONS[type](x, severity, { rng: createRng(rng.nextSeed()), pixelScale }));
            rows.push(tf.concat(cells, 2));
          } finally {
            tf.dispose(cells);
          }
        }
        return tf.tidy(() => tf.squeeze(tf.concat(rows, 1), [0]) as tf.Tensor3D);
      } finally {
        tf.dispose(rows);
      }
    } finally {
      if (x4 !== image) x4.dispose();
    }
  });
}
