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
import type * as tf from '@tensorflow/tfjs-core';
import { LUMA } from './linear.js';
import { shapeOf, tensorOf, valuesOf } from './planes.js';

/**
 * Runs `edit` on every RGB pixel (r, g, b → out[0..2]); a 1-channel pixel v is edited as (v, v, v)
 * and reduced to its Rec. 601 luma after.
 */
function perPixel(images: tf.Tensor4D, edit: (r: number, g: number, b: number, out: Float64Array) => void, values?: Float32Array): tf.Tensor4D {
  const s = shapeOf(images);
  const src = values ?? valuesOf(images);
  const out = new Float32Array(src.length);
  const px = new Float64Array(3);
  if (s.c === 3) {
    for (let i = 0; i < src.length; i += 3) {
      edit(src[i]!, src[i + 1]!, src[i + 2]!, px);
      out[i] = px[0]!;
      out[i + 1] = px[1]!;
      out[i + 2] = px[2]!;
    }
  } else {
    for (let i = 0; i < src.length; i++) {
      const v = src[i]!;
      edit(v, v, v, px);
      out[i] = LUMA[0] * Math.fround(px[0]!) + LUMA[1] * Math.fround(px[1]!) + LUMA[2] * Math.fround(px[2]!);
    }
  }
  return tensorOf(out, s);
}

/** V ← clip(V + shift, 0, 1) in HSV (ImageNet-C brightness; negative shifts darken). */
export function shiftValue(images: tf.Tensor4D, shift: number, values?: Float32Array): tf.Tensor4D {
  return perPixel(images, (r, g, b, out) => {
    const v = Math.max(r, g, b);
    const v2 = Math.min(1, Math.max(0, v + shift));
    if (v > 0) {
      const k = v2 / v;
      out[0] = r * k;
      out[1] = g * k;
      out[2] = b * k;
    } else out.fill(v2);
  }, values);
}

/** S ← clip(S·scale + offset, 0, 1) in HSV (ImageNet-C saturate). */
export function scaleSaturation(images: tf.Tensor4D, scale: number, offset: number, values?: Float32Array): tf.Tensor4D {
  return perPixel(images, (r, g, b, out) => {
    const v = Math.max(r, g, b);
    const delta = v - Math.min(r, g, b);
    const s = delta > 0 ? delta / v : 0;
    const s2 = Math.min(1, Math.max(0, s * scale + offset));
    if (delta > 0) {
      out[0] = v * (1 - (s2 * (v - r)) / delta);
      out[1] = v * (1 - (s2 * (v - g)) / delta);
      out[2] = v * (1 - (s2 * (v - b)) / delta);
    } else {
      // skimage gives grey pixels hue 0: weights (0, 1, 1)
      out[0] = v;
      out[1] = v * (1 - s2);
      out[2] = v * (1 - s2);
    }
  }, values);
}
