import { InvalidArgumentError } from '../errors.js';
import { assertOneOf } from '../internal/validate.js';
import type { CorruptionFn } from './context.js';
import { defocusBlur, gaussianBlurCorruption, glassBlur, motionBlurCorruption, zoomBlur } from './blur.js';
import { contrast, elasticTransform, jpegCompression, pixelate, saturate } from './digital.js';
import { gaussianNoise, impulseNoise, shotNoise, speckleNoise } from './noise.js';
import { brightness, fog, frost, snow } from './weather.js';

/**
 * The 18 corruption types of the journal version's Benchmark-C (paper.md §9.1), in ImageNet-C's
 * names and order (noise, blur, weather, digital). `spatter` is not among them: the paper's code
 * lists it but excludes it from the benchmark.
 * @category Corruptions
 */
export const CORRUPTION_TYPES = [
  'gaussian_noise',
  'shot_noise',
  'impulse_noise',
  'speckle_noise',
  'gaussian_blur',
  'glass_blur',
  'defocus_blur',
  'motion_blur',
  'zoom_blur',
  'snow',
  'frost',
  'fog',
  'brightness',
  'contrast',
  'saturate',
  'jpeg_compression',
  'pixelate',
  'elastic_transform',
] as const;

/**
 * One of the {@link CORRUPTION_TYPES}.
 * @category Corruptions
 */
export type CorruptionType = (typeof CORRUPTION_TYPES)[number];

/**
 * ImageNet-C's four families of corruptions.
 * @category Corruptions
 */
export type CorruptionCategory = 'noise' | 'blur' | 'weather' | 'digital';

/**
 * A corruption severity: 1 (mild) to 5 (strong), each with ImageNet-C's parameters.
 * @category Corruptions
 */
export type Severity = 1 | 2 | 3 | 4 | 5;

/**
 * The five severities, in order.
 * @category Corruptions
 */
export const SEVERITIES: readonly Severity[] = [1, 2, 3, 4, 5];

const CATEGORY: Record<CorruptionType, CorruptionCategory> = {
  gaussian_noise: 'noise',
  shot_noise: 'noise',
  impulse_noise: 'noise',
  speckle_noise: 'noise',
  gaussian_blur: 'blur',
  glass_blur: 'blur',
  defocus_blur: 'blur',
  motion_blur: 'blur',
  zoom_blur: 'blur',
  snow: 'weather',
  frost: 'weather',
  fog: 'weather',
  brightness: 'weather',
  contrast: 'digital',
  saturate: 'digital',
  jpeg_compression: 'digital',
  pixelate: 'digital',
  elastic_transform: 'digital',
};

/**
 * The family of a corruption type (as ImageNet-C groups them).
 *
 * @param type - a corruption type.
 * @returns `'noise'`, `'blur'`, `'weather'` or `'digital'`.
 * @throws {InvalidArgumentError} when `type` is not one of {@link CORRUPTION_TYPES}.
 *
 * @example
 * ```ts
 * corruptionCategory('frost'); // 'weather'
 * ```
 * @category Corruptions
 */
export function corruptionCategory(type: CorruptionType): CorruptionCategory {
  const known = assertOneOf('corruptionCategory', 'type', type, CORRUPTION_TYPES);
  if (known === undefined) throw new InvalidArgumentError('corruptionCategory', 'type', `one of ${CORRUPTION_TYPES.map((t) => `'${t}'`).join(', ')}`, 'undefined');
  return CATEGORY[known];
}

/** The implementation of each type. @internal */
export const CORRUPTIONS: Record<CorruptionType, CorruptionFn> = {
  gaussian_noise: gaussianNoise,
  shot_noise: shotNoise,
  impulse_noise: impulseNoise,
  speckle_noise: speckleNoise,
  gaussian_blur: gaussianBlurCorruption,
  glass_blur: glassBlur,
  defocus_blur: defocusBlur,
  motion_blur: motionBlurCorruption,
  zoom_blur: zoomBlur,
  snow,
  frost,
  fog,
  brightness,
  contrast,
  saturate,
  jpeg_compression: jpegCompression,
  pixelate,
  elastic_transform: elasticTransform,
};
