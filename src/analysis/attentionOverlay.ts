import * as tf from '@tensorflow/tfjs-core';
import { InvalidArgumentError } from '../errors.js';
import { entry } from '../internal/scope.js';
import { assertKnownKeys, assertNumber, assertOptionsObject, assertTensor } from '../internal/validate.js';
import { colorize, type RgbImage } from './colormap.js';

/**
 * Options of {@link attentionOverlay}.
 * @category Analysis
 */
export interface AttentionOverlayOptions {
  /**
   * Weight of the heat-map: pixel = (1 − alpha)·image + alpha·heatmap (the paper's 0.6/0.4).
   * @defaultValue 0.4
   */
  alpha?: number;
}

/**
 * An attention map over its image, as the paper's visualisation code draws AttnVGG's a1 (28×28) and
 * a2 (14×14) (paper.md §5b): the map is upsampled bilinearly to the image size, min-max normalised,
 * coloured with jet and blended as 0.6·image + 0.4·heatmap.
 *
 * @param image - the image `[H, W, 3]` or `[H, W, 1]` (or a batch of one) with values in [0, 1].
 * @param attention - the attention map `[h, w]`, `[h, w, 1]` or `[1, h, w, 1]`.
 * @param options - see {@link AttentionOverlayOptions}.
 * @returns the blended picture, H×W.
 * @throws {InvalidArgumentError} for tensors of other shapes or alpha outside [0, 1].
 *
 * @example
 * ```ts
 * const [logits, a1, a2] = attnVgg.apply(x, { training: false }) as tf.Tensor[];
 * const picture = attentionOverlay(x, a1);
 * ```
 * @category Analysis
 */
export function attentionOverlay(image: tf.Tensor, attention: tf.Tensor, options: AttentionOverlayOptions = {}): RgbImage {
  return entry('attentionOverlay', () => attentionOverlayBody(image, attention, options));
}

function attentionOverlayBody(image: tf.Tensor, attention: tf.Tensor, options: AttentionOverlayOptions = {}): RgbImage {
  const fn = 'attentionOverlay';
  const o = assertOptionsObject(fn, options);
  assertKnownKeys(fn, o, ['alpha']);
  const img = assertTensor(fn, 'image', image, [3, 4], 'an image [H, W, 3|1] or [1, H, W, 3|1]');
  const shape = img.rank === 4 ? img.shape : [1, ...img.shape];
  if (shape[0] !== 1 || (shape[3] !== 3 && shape[3] !== 1)) throw new InvalidArgumentError(fn, 'image', 'one image with 1 or 3 channels', `shape [${img.shape.join(',')}]`);
  const att = assertTensor(fn, 'attention', attention, [2, 3, 4], 'an attention map [h, w], [h, w, 1] or [1, h, w, 1]');
  if (att.size !== att.shape[att.rank === 2 ? 0 : att.rank - 3]! * att.shape[att.rank === 2 ? 1 : att.rank - 2]!) {
    throw new InvalidArgumentError(fn, 'attention', 'a single-channel map of one image', `shape [${att.shape.join(',')}]`);
  }
  const alpha = o.alpha === undefined ? 0.4 : assertNumber(fn, 'options.alpha', o.alpha, { min: 0, max: 1 });
  const [, H, W, C] = shape as [number, number, number, number];
  const hw = att.rank === 2 ? att.shape : att.shape.slice(att.rank - 3, att.rank - 1);
  const both = tf.tidy(() => {
    const a = tf.reshape(tf.cast(att, 'float32'), [1, hw[0]!, hw[1]!, 1]) as tf.Tensor4D;
    const up = tf.reshape(tf.image.resizeBilinear(a, [H, W]), [H * W]);
    const rgb = tf.reshape(C === 1 ? tf.tile(tf.reshape(img, [H, W, 1]), [1, 1, 3]) : tf.reshape(img, [H, W, 3]), [H * W * 3]);
    return tf.concat([up, tf.cast(rgb, 'float32')]);
  });
  const v = both.dataSync();
  both.dispose();
  const map = v.subarray(0, H * W);
  let lo = Infinity;
  let hi = -Infinity;
  for (const x of map) { if (x < lo) lo = x; if (x > hi) hi = x; }
  const heat = colorize(map, lo, hi > lo ? hi : lo + 1);
  const data = new Uint8Array(H * W * 3);
  for (let p = 0; p < H * W * 3; p++) {
    const pix = Math.min(1, Math.max(0, v[H * W + p]!)) * 255;
    data[p] = Math.round((1 - alpha) * pix + alpha * heat[p]!);
  }
  return { width: W, height: H, data };
}
