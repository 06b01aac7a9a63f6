import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/errors.js';
import { generateLesions } from '../../src/data/generateLesions.js';
import { BACKENDS, useTestBackend } from '../helpers/backends.js';
import { expectNoLeak } from '../helpers/expectNoLeak.js';

describe.each(BACKENDS)('generateLesions (%s)', (backend) => {
  beforeAll(() => useTestBackend(backend));

  it('is identical for one seed, different for another, and a larger count extends a smaller one', async () => {
    const a = generateLesions({ count: 6, seed: 11 });
    const b = generateLesions({ count: 6, seed: 11 });
    const c = generateLesions({ count: 6, seed: 12 });
    const longer = generateLesions({ count: 9, seed: 11 });
    const [ia, ib, ic, il] = await Promise.all([a.images.data(), b.images.data(), c.images.data(), longer.images.data()]);
    expect(Array.from(ia)).toEqual(Array.from(ib));
    expect(Array.from(await a.labels.data())).toEqual(Array.from(await b.labels.data()));
    expect(Array.from(ia)).not.toEqual(Array.from(ic));
    expect(Array.from(il.subarray(0, ia.length))).toEqual(Array.from(ia));
    tf.dispose([a, b, c, longer].flatMap((d) => [d.images, d.labels]));
  });

  it('gives 3-channel images in [0, 1], binary labels near the requested fraction, and metadata', async () => {
    const d = generateLesions({ count: 200, seed: 3, size: 20 });
    expect(d.images.shape).toEqual([200, 20, 20, 3]);
    const px = await d.images.data();
    expect(Array.from(px).reduce((m, v) => Math.min(m, v), 1)).toBeGreaterThanOrEqual(0);
    expect(Array.from(px).reduce((m, v) => Math.max(m, v), 0)).toBeLessThanOrEqual(1);
    const labels = Array.from(await d.labels.data());
    const malignant = labels.filter((l) => l === 1).length;
    expect(labels.every((l) => l === 0 || l === 1)).toBe(true);
    expect(malignant).toBeGreaterThan(70);
    expect(malignant).toBeLessThan(130);
    expect(d).toMatchObject({ task: 'single-label', classNames: ['benign', 'malignant'], seed: 3 });
    const all = generateLesions({ count: 20, seed: 3, malignantFraction: 1 });
    expect(Array.from(await all.labels.data())).toEqual(new Array(20).fill(1));
    tf.dispose([d.images, d.labels, all.images, all.labels]);
  });

  it('draws the class cue the classes differ by: malignant lesions have more colour variation', async () => {
    // per-image std of the hue-ish channel difference (R − B) inside the darker (lesion) pixels
    const d = generateLesions({ count: 120, seed: 5 });
    const px = await d.images.data();
    const labels = await d.labels.data();
    const spread = [0, 0];
    const counts = [0, 0];
    for (let i = 0; i < 120; i++) {
      const vals: number[] = [];
      for (let p = 0; p < 28 * 28; p++) {
        const o = (i * 784 + p) * 3;
        const lum = (px[o]! + px[o + 1]! + px[o + 2]!) / 3;
        if (lum < 0.55) vals.push(px[o]! - px[o + 2]!);
      }
      const m = vals.reduce((s, v) => s + v, 0) / Math.max(1, vals.length);
      const sd = Math.sqrt(vals.reduce((s, v) => s + (v - m) ** 2, 0) / Math.max(1, vals.length));
      spread[labels[i]!]! += sd;
      counts[labels[i]!]! += 1;
    }
    expect(spread[1]! / counts[1]!).toBeGreaterThan(1.5 * (spread[0]! / counts[0]!));
    tf.dispose([d.images, d.labels]);
  });

  it('does not leak', async () => {
    await expectNoLeak(() => generateLesions({ count: 2, seed: 1 }));
  });

  describe('rejects bad input', () => {
    it('bad counts, sizes, fractions and unknown options', () => {
      expect(() => generateLesions({ count: 0 })).toThrow(InvalidArgumentError);
      expect(() => generateLesions({ count: 2.5 })).toThrow(/integer/);
      expect(() => generateLesions({ count: 2, size: 8 })).toThrow(/options.size/);
      expect(() => generateLesions({ count: 2, malignantFraction: 1.5 })).toThrow(/malignantFraction/);
      expect(() => generateLesions({ count: 2, seeed: 1 } as never)).toThrow(/did you mean 'seed'/);
      expect(() => generateLesions(undefined as never)).toThrow(/options.count/);
    });
  });
});
