import * as tf from '@tensorflow/tfjs-core';
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { jpegRoundTrip, jpegRoundTripBytes, quantizationTable } from '../../src/corruptions/jpeg.js';
import { BACKENDS, useTestBackend } from '../helpers/backends.js';
import { expectNoLeak } from '../helpers/expectNoLeak.js';
import { texturedImages } from './images.js';

const reference = JSON.parse(readFileSync(new URL('./fixtures/reference.json', import.meta.url), 'utf8')) as Record<string, number[]>;

describe('quantizationTable', () => {
  const base = Array.from({ length: 64 }, (_, i) => 10 + i);
  it('follows the IJG scaling: q = 50 keeps the table, q = 25 doubles it, q = 100 gives ones, values stay in 1…255', () => {
    expect(Array.from(quantizationTable(base, 50))).toEqual(base);
    expect(Array.from(quantizationTable(base, 25))).toEqual(base.map((v) => Math.min(255, 2 * v)));
    expect(Array.from(quantizationTable(base, 100))).toEqual(base.map(() => 1));
    expect(Math.max(...quantizationTable(base, 1))).toBe(255);
    expect(Array.from(quantizationTable([16], 7))).toEqual([114]); // ⌊(16·714 + 50)/100⌋
  });

  it('scales with libjpeg integer arithmetic, ⌊5000/q⌋ (Pillow: 30, not 31, for 11 at quality 18)', () => {
    expect(Array.from(quantizationTable([11, 16, 99], 18))).toEqual([30, 44, 255]);
  });
});

describe('jpegRoundTripBytes', () => {
  const image = Uint8Array.from(reference.jpeg_odd_image!);
  const grey = Uint8Array.from({ length: 17 * 23 }, (_, i) => image[3 * i + 1]!);
  it.each([25, 7])('reproduces Pillow (libjpeg-turbo) exactly on a 17×23 image at quality %i, colour (4:2:0) and grey', (q) => {
    expect(Array.from(jpegRoundTripBytes(image, 17, 23, 3, q))).toEqual(reference[`jpeg_odd_rgb_${q}`]);
    expect(Array.from(jpegRoundTripBytes(grey, 17, 23, 1, q))).toEqual(reference[`jpeg_odd_grey_${q}`]);
  });

  it('keeps a flat image flat and leaves its input alone', () => {
    const flat = new Uint8Array(3 * 9 * 10).fill(77);
    const out = jpegRoundTripBytes(flat, 9, 10, 3, 7);
    expect(new Set(out).size).toBe(1);
    expect(Math.abs(out[0]! - 77)).toBeLessThanOrEqual(Math.ceil(114 / 16)); // at most half a DC step
    expect(new Set(flat).size).toBe(1);
  });
});

describe.each(BACKENDS)('jpegRoundTrip on %s', (backend) => {
  beforeAll(() => useTestBackend(backend));
  it('is near-lossless at quality 100, loses more as quality falls, and outputs 8-bit values', async () => {
    for (const c of [1, 3]) {
      const x = texturedImages(1, 20, c); // not a multiple of 8 or 16: padded blocks
      const err = (q: number) => tf.tidy(() => tf.mean(tf.abs(tf.sub(jpegRoundTrip(x, q), x))).dataSync()[0]!);
      expect(err(100)).toBeLessThan(c === 1 ? 1.2 / 255 : 8 / 255); // 8-bit rounding (colour: + 4:2:0 chroma subsampling)
      expect(err(50)).toBeLessThan(err(10));
      expect(err(10)).toBeLessThan(err(3));
      const out = jpegRoundTrip(x, 30);
      for (const v of out.dataSync().slice(0, 40)) expect(Math.abs(v * 255 - Math.round(v * 255))).toBeLessThan(1e-3);
      await expectNoLeak(() => jpegRoundTrip(x, 20));
      tf.dispose([x, out]);
    }
  });

  it('codes every image of a batch on its own, as the byte-level round trip', () => {
    const image = reference.jpeg_odd_image!;
    const x = tf.tidy(() => tf.div(tf.tensor4d([...image, ...image.map((v) => 255 - v)], [2, 17, 23, 3]), 255) as tf.Tensor4D);
    const out = jpegRoundTrip(x, 7);
    const bytes = Array.from(out.dataSync(), (v) => Math.round(v * 255));
    expect(bytes.slice(0, 17 * 23 * 3)).toEqual(reference.jpeg_odd_rgb_7);
    expect(bytes.slice(17 * 23 * 3)).toEqual(Array.from(jpegRoundTripBytes(Uint8Array.from(image, (v) => 255 - v), 17, 23, 3, 7)));
    tf.dispose([x, out]);
  });
});
