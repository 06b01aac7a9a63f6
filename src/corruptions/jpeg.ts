/**
 * A baseline JPEG round trip without an encoder library: what PIL's `save(..., 'JPEG', quality)`
 * followed by decoding does to the pixels, minus the entropy coding (which is lossless).
 * 1. pixels to 8-bit values (rounded), RGB → YCbCr (JFIF, full range);
 * 2. chroma subsampled 4:2:0 by 2×2 averaging (libjpeg's default, also Pillow's);
 * 3. each plane padded to whole 8×8 blocks by edge replication, level-shifted by −128,
 *    transformed by the 8×8 DCT-II (orthonormal, as the JPEG FDCT), divided by the IJG quality-
 *    scaled standard tables (Annex K: luminance for Y, chrominance for Cb/Cr), rounded, and
 *    multiplied back;
 * 4. inverse DCT, chroma upsampled by libjpeg's "fancy" triangle filter (= bilinear with half-pixel
 *    centres for ×2), YCbCr → RGB, rounded and clipped to 0…255.
 * Float arithmetic replaces libjpeg's fixed-point integer DCT, so values can differ by a grey level.
 * A 1-channel image is coded as a greyscale JPEG (Y only).
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import { padTensor } from './linear.js';

/** ITU-T T.81 Annex K.1, luminance, in natural (row-major) order. */
const LUMA_TABLE = [
  16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
  18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
];
/** ITU-T T.81 Annex K.2, chrominance. */
const CHROMA_TABLE = [
  17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99, 47, 66, 99, 99, 99, 99, 99, 99,
  99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
];

/** The IJG (libjpeg `jpeg_quality_scaling`) table for a quality in 1…100, baseline-clamped to 1…255. */
export function quantizationTable(base: readonly number[], quality: number): Float32Array {
  const q = Math.min(100, Math.max(1, Math.round(quality)));
  const scale = q < 50 ? 5000 / q : 200 - 2 * q;
  return Float32Array.from(base, (v) => Math.min(255, Math.max(1, Math.floor((v * scale + 50) / 100))));
}

/** The 64×64 matrix of the orthonormal 2-D 8×8 DCT-II acting on row-major blocks: coef = K·block. */
function dctMatrix(): Float32Array {
  const d = new Float64Array(64); // 1-D DCT, d[u*8 + x]
  for (let u = 0; u < 8; u++) {
    const cu = u === 0 ? Math.SQRT1_2 : 1;
    for (let x = 0; x < 8; x++) d[u * 8 + x] = 0.5 * cu * Math.cos(((2 * x + 1) * u * Math.PI) / 16);
  }
  const k = new Float32Array(64 * 64);
  for (let u = 0; u < 8; u++)
    for (let v = 0; v < 8; v++)
      for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) k[(u * 8 + v) * 64 + y * 8 + x] = d[u * 8 + y]! * d[v * 8 + x]!;
  return k;
}

const DCT = dctMatrix();

/** Quantises one plane `[N, H, W, 1]` (values 0…255) in 8×8 blocks; returns the decoded plane. */
function codePlane(plane: tf.Tensor4D, table: Float32Array): tf.Tensor4D {
  return tf.tidy(() => {
    const [n, h, w] = plane.shape;
    const hp = Math.ceil(h / 8) * 8;
    const wp = Math.ceil(w / 8) * 8;
    const padded = hp === h && wp === w ? plane : tf.slice(padTensor(plane, hp - h, wp - w, 'edge'), [0, hp - h, wp - w, 0], [n, hp, wp, 1]);
    const blocks = tf.reshape(tf.transpose(tf.reshape(tf.sub(padded, 128), [n, hp / 8, 8, wp / 8, 8]), [0, 1, 3, 2, 4]), [-1, 64]);
    const k = tf.tensor2d(DCT, [64, 64]);
    const q = tf.tensor1d(table);
    const coef = tf.matMul(blocks, k, false, true);
    const quantised = tf.mul(tf.round(tf.div(coef, q)), q);
    const back = tf.add(tf.matMul(quantised, k), 128);
    const image = tf.reshape(tf.transpose(tf.reshape(back, [n, hp / 8, wp / 8, 8, 8]), [0, 1, 3, 2, 4]), [n, hp, wp, 1]);
    return (hp === h && wp === w ? image : tf.slice(image, [0, 0, 0, 0], [n, h, w, 1])) as tf.Tensor4D;
  });
}

/**
 * The JPEG round trip of an NHWC batch in [0, 1] (1 or 3 channels) at `quality`.
 * @returns the decoded batch in [0, 1], quantised to multiples of 1/255.
 */
export function jpegRoundTrip(images: tf.Tensor4D, quality: number): tf.Tensor4D {
  return tf.tidy(() => {
    const [n, h, w, c] = images.shape;
    const bytes = tf.round(tf.mul(tf.clipByValue(images, 0, 1), 255)) as tf.Tensor4D;
    const lumaTable = quantizationTable(LUMA_TABLE, quality);
    if (c === 1) return tf.div(tf.clipByValue(tf.round(codePlane(bytes, lumaTable)), 0, 255), 255) as tf.Tensor4D;
    const [r, g, b] = tf.split(bytes, 3, 3) as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D];
    const y = tf.addN([tf.mul(r, 0.299), tf.mul(g, 0.587), tf.mul(b, 0.114)]) as tf.Tensor4D;
    const cb = tf.add(tf.addN([tf.mul(r, -0.168736), tf.mul(g, -0.331264), tf.mul(b, 0.5)]), 128) as tf.Tensor4D;
    const cr = tf.add(tf.addN([tf.mul(r, 0.5), tf.mul(g, -0.418688), tf.mul(b, -0.081312)]), 128) as tf.Tensor4D;
    const chromaTable = quantizationTable(CHROMA_TABLE, quality);
    const he = Math.ceil(h / 2) * 2;
    const we = Math.ceil(w / 2) * 2;
    const sub = (p: tf.Tensor4D) => {
      const even = he === h && we === w ? p : tf.slice(padTensor(p, he - h, we - w, 'edge'), [0, he - h, we - w, 0], [n, he, we, 1]);
      const small = tf.avgPool(even, 2, 2, 'valid') as tf.Tensor4D;
      const decoded = codePlane(small, chromaTable);
      const up = tf.image.resizeBilinear(decoded, [he, we], false, true);
      return tf.slice(up, [0, 0, 0, 0], [n, h, w, 1]) as tf.Tensor4D;
    };
    const yd = codePlane(y, lumaTable);
    const cbd = tf.sub(sub(cb), 128);
    const crd = tf.sub(sub(cr), 128);
    const rd = tf.add(yd, tf.mul(crd, 1.402));
    const gd = tf.sub(tf.sub(yd, tf.mul(cbd, 0.344136)), tf.mul(crd, 0.714136));
    const bd = tf.add(yd, tf.mul(cbd, 1.772));
    return tf.div(tf.clipByValue(tf.round(tf.concat([rd, gd, bd], 3)), 0, 255), 255) as tf.Tensor4D;
  });
}
