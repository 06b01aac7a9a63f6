import * as tf from '@tensorflow/tfjs-core';
import { InvalidArgumentError } from '../errors.js';
import { entry } from '../internal/scope.js';
import { assertKnownKeys, assertNumber, assertOneOf, assertOptionsObject, assertTensor, describeValue } from '../internal/validate.js';
import { colorize, type RgbImage } from './colormap.js';

/**
 * Options of {@link featureMapImages}.
 * @category Analysis
 */
export interface FeatureMapOptions {
  /**
   * Which image of the batch.
   * @defaultValue 0
   */
  image?: number;
  /**
   * Which channels, one picture each.
   * @defaultValue every channel
   */
  channels?: readonly number[];
  /**
   * `'none'`: raw activations through jet on [0, 1], saturating outside (the paper's code, §5b).
   * `'minmax'`: each channel scaled to its own [min, max] first.
   * @defaultValue 'none'
   */
  normalize?: 'none' | 'minmax';
  /**
   * Output size `[height, width]`: activations are resized bilinearly before colouring (the paper
   * resizes to 224×224).
   * @defaultValue the activation's own size
   */
  size?: readonly [number, number];
}

/**
 * Feature-map pictures of one image (paper.md §5b, figure 2): each channel of an activation
 * `[N, h, w, C]` rendered with matplotlib's jet colormap, by default without normalisation as the
 * paper's code does. Compare the pictures of clean, PGD and GAP inputs at the same layer.
 *
 * @param activations - a rank-4 activation `[N, h, w, C]` (e.g. from {@link layerActivations}) or rank 3 `[h, w, C]`.
 * @param options - see {@link FeatureMapOptions}.
 * @returns one {@link RgbImage} per requested channel.
 * @throws {InvalidArgumentError} for a tensor of another rank, an image or channel index out of
 *   range, or bad options.
 *
 * @example
 * ```ts
 * const pictures = featureMapImages(acts, { channels: [0, 5], size: [224, 224] });
 * ```
 * @category Analysis
 */
export function featureMapImages(activations: tf.Tensor, options: FeatureMapOptions = {}): RgbImage[] {
  return entry('featureMapImages', () => featureMapImagesBody(activations, options));
}

function featureMapImagesBody(activations: tf.Tensor, options: FeatureMapOptions = {}): RgbImage[] {
  const fn = 'featureMapImages';
  const o = assertOptionsObject(fn, options);
  assertKnownKeys(fn, o, ['image', 'channels', 'normalize', 'size']);
  const t = assertTensor(fn, 'activations', activations, [3, 4], 'an activation tensor [N, h, w, C] or [h, w, C]');
  const shape = t.rank === 4 ? t.shape : [1, ...t.shape];
  const [n, h, w, c] = shape as [number, number, number, number];
  const image = o.image === undefined ? 0 : assertNumber(fn, 'options.image', o.image, { integer: true, min: 0, max: n - 1 });
  let channels: number[];
  if (o.channels === undefined) channels = Array.from({ length: c }, (_, i) => i);
  else {
    if (!Array.isArray(o.channels) || o.channels.length === 0) throw new InvalidArgumentError(fn, 'options.channels', 'a non-empty array of channel indices', describeValue(o.channels));
    channels = (o.channels as unknown[]).map((v, i) => assertNumber(fn, `options.channels[${i}]`, v, { integer: true, min: 0, max: c - 1 }));
  }
  const normalize = assertOneOf(fn, 'options.normalize', o.normalize, ['none', 'minmax'] as const) ?? 'none';
  let size: [number, number] = [h, w];
  if (o.size !== undefined) {
    if (!Array.isArray(o.size) || o.size.length !== 2) throw new InvalidArgumentError(fn, 'options.size', '[height, width]', describeValue(o.size));
    size = [assertNumber(fn, 'options.size[0]', o.size[0], { integer: true, min: 1 }), assertNumber(fn, 'options.size[1]', o.size[1], { integer: true, min: 1 })];
  }
  const [oh, ow] = size;
  const maps = tf.tidy(() => {
    let x = tf.reshape(tf.slice(tf.reshape(tf.cast(t, 'float32'), [n, h, w, c]), [image, 0, 0, 0], [1, h, w, c]), [1, h, w, c]) as tf.Tensor4D;
    if (oh !== h || ow !== w) x = tf.image.resizeBilinear(x, [oh, ow]);
    return tf.transpose(tf.gather(tf.reshape(x, [oh * ow, c]), tf.tensor1d(channels, 'int32'), 1));
  });
  const v = maps.dataSync();
  maps.dispose();
  const px = oh * ow;
  return channels.map((_, k) => {
    const values = v.subarray(k * px, (k + 1) * px);
    let lo = 0;
    let hi = 1;
    if (normalize === 'minmax') {
      lo = Infinity;
      hi = -Infinity;
      for (const val of values) { if (val < lo) lo = val; if (val > hi) hi = val; }
      if (!(hi > lo)) hi = lo + 1;
    }
    return { width: ow, height: oh, data: colorize(values, lo, hi) };
  });
}
