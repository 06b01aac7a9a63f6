import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { jpegRoundTrip, quantizationTable } from '../../src/corruptions/jpeg.js';
import { BACKENDS, useTestBackend } from '../helpers/backends.js';
import { expectNoLeak } from '../helpers/expectNoLeak.js';
import { texturedImages } from './images.js';

describe('quantizationTable', () => {
  const base = Array.from({ length: 64 }, (_, i) => 10 + i);
  it('follows the IJG scaling: q = 50 keeps the table, q = 25 doubles it, q = 100 gives ones, values stay in 1…255', () => {
    expect(Array.from(quantizationTable(base, 50))).toEqual(base);
    expect(Array.from(quantizationTable(base, 25))).toEqual(base.map((v) => Math.min(255, 2 * v)));
    expect(Array.from(quantizationTable(base, 100))).toEqual(base.map(() => 1));
    expect(Math.max(...quantizationTable(base, 1))).toBe(255);
    expect(Array.from(quantizationTable([16], 7))).toEqual([114]); // floor((16·714.29 + 50)/100)
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
});
