/**
 * HSV edits written directly on RGB, exact equivalents of skimage's rgb2hsv → edit → hsv2rgb as
 * ImageNet-C uses them, without computing hue:
 * - every channel is x_c = V·(1 − S·w_c(H)) with V = max, S = (V − min)/V, so changing only V
 *   scales the pixel: x' = x·V'/V (a black pixel, V = 0, becomes grey V');
 * - changing only S gives x'_c = V − S'·V·(V − x_c)/(V − min); a grey pixel (S = 0) has hue 0 in
 *   skimage, so it gets w = (0, 1, 1), i.e. x' = (V, V(1−S'), V(1−S')).
 * A 1-channel image is a grey RGB image: it is processed as three equal channels and brought
 * back to one channel with the Rec. 601 luma weights. Brightness then is clip(x + c); saturation
 * is the identity while S' = 0 and, by the hue-0 rule, a darkening V·(1 − 0.701·S') otherwise.
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import { luma } from './linear.js';

/** Runs `edit` on RGB: a 1-channel batch is tiled to RGB first and reduced to luma after. */
export function onRgb(images: tf.Tensor4D, edit: (rgb: tf.Tensor4D) => tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    if (images.shape[3] === 3) return edit(images);
    return luma(edit(tf.tile(images, [1, 1, 1, 3])));
  });
}

/** V ← clip(V + shift, 0, 1) in HSV (ImageNet-C brightness; negative shifts darken). */
export function shiftValue(images: tf.Tensor4D, shift: number): tf.Tensor4D {
  return onRgb(images, (x) => {
    const v = tf.max(x, 3, true);
    const v2 = tf.clipByValue(tf.add(v, shift), 0, 1);
    const safe = tf.maximum(v, 1e-12);
    return tf.where(tf.broadcastTo(tf.greater(v, 0), x.shape), tf.mul(x, tf.div(v2, safe)), tf.broadcastTo(v2, x.shape)) as tf.Tensor4D;
  });
}

/** S ← clip(S·scale + offset, 0, 1) in HSV (ImageNet-C saturate). */
export function scaleSaturation(images: tf.Tensor4D, scale: number, offset: number): tf.Tensor4D {
  return onRgb(images, (x) => {
    const v = tf.max(x, 3, true);
    const mn = tf.min(x, 3, true);
    const delta = tf.sub(v, mn);
    const s = tf.where(tf.greater(delta, 0), tf.div(delta, tf.maximum(v, 1e-12)), tf.zerosLike(v));
    const s2 = tf.clipByValue(tf.add(tf.mul(s, scale), offset), 0, 1);
    const hueWeights = tf.div(tf.sub(v, x), tf.maximum(delta, 1e-12));
    const grey = tf.broadcastTo(tf.reshape(tf.tensor1d([0, 1, 1]), [1, 1, 1, 3]), x.shape);
    const w = tf.where(tf.broadcastTo(tf.greater(delta, 0), x.shape), hueWeights, grey);
    return tf.mul(v, tf.sub(1, tf.mul(s2, w))) as tf.Tensor4D;
  });
}
