import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/errors.js';
import { CHEST_COOCCURRENCE, CHEST_FINDINGS, generateChestXrays } from '../../src/data/generateChestXrays.js';
import { BACKENDS, useTestBackend } from '../helpers/backends.js';
import { expectNoLeak } from '../helpers/expectNoLeak.js';

describe.each(BACKENDS)('generateChestXrays (%s)', (backend) => {
  beforeAll(() => useTestBackend(backend));

  it('is identical for one seed and different for another', async () => {
    const a = generateChestXrays({ count: 5, seed: 4, size: 16 });
    const b = generateChestXrays({ count: 5, seed: 4, size: 16 });
    const c = generateChestXrays({ count: 5, seed: 5, size: 16 });
    expect(Array.from(await a.images.data())).toEqual(Array.from(await b.images.data()));
    expect(Array.from(await a.labels.data())).toEqual(Array.from(await b.labels.data()));
    expect(Array.from(await a.images.data())).not.toEqual(Array.from(await c.images.data()));
    tf.dispose([a, b, c].flatMap((d) => [d.images, d.labels]));
  });

  it('gives gray values repeated over 3 channels (or 1), multi-hot labels and the structure', async () => {
    const d = generateChestXrays({ count: 4, seed: 1 });
    expect(d.images.shape).toEqual([4, 28, 28, 3]);
    const px = await d.images.data();
    for (let i = 0; i < px.length; i += 3) expect(px[i]).toBe(px[i + 2]);
    expect(d.labels.shape).toEqual([4, 8]);
    expect(d).toMatchObject({ task: 'multi-label', classNames: [...CHEST_FINDINGS], structure: CHEST_COOCCURRENCE });
    const gray = generateChestXrays({ count: 4, seed: 1, channels: 1 });
    expect(gray.images.shape).toEqual([4, 28, 28, 1]);
    expect(Array.from(await gray.images.data())).toEqual(Array.from(px).filter((_, i) => i % 3 === 0));
    tf.dispose([d.images, d.labels, gray.images, gray.labels]);
  });

  it('draws labels with the stated co-occurrence structure', async () => {
    const n = 3000;
    const d = generateChestXrays({ count: n, seed: 9, size: 16, channels: 1 });
    const y = await d.labels.data();
    const col = (name: string): number => CHEST_FINDINGS.indexOf(name as never);
    for (const rule of CHEST_COOCCURRENCE) {
      const f = col(rule.finding);
      if (rule.given === undefined) {
        let c = 0;
        for (let i = 0; i < n; i++) c += y[i * 8 + f]!;
        expect(Math.abs(c / n - rule.pWith)).toBeLessThan(0.04);
      } else {
        const g = col(rule.given);
        let withG = 0; let fWithG = 0; let withoutG = 0; let fWithoutG = 0;
        for (let i = 0; i < n; i++) {
          if (y[i * 8 + g] === 1) { withG++; fWithG += y[i * 8 + f]!; } else { withoutG++; fWithoutG += y[i * 8 + f]!; }
        }
        expect(Math.abs(fWithG / withG - rule.pWith)).toBeLessThan(0.1);
        expect(Math.abs(fWithoutG / withoutG - rule.pWithout)).toBeLessThan(0.04);
      }
    }
    tf.dispose([d.images, d.labels]);
  });

  it('draws a visible cue: cardiomegaly widens the bright heart', async () => {
    const d = generateChestXrays({ count: 300, seed: 2, channels: 1 });
    const px = await d.images.data();
    const y = await d.labels.data();
    const sum = [0, 0];
    const cnt = [0, 0];
    for (let i = 0; i < 300; i++) {
      let bright = 0;
      for (let x = 0; x < 28; x++) if (px[i * 784 + 18 * 28 + x]! > 0.55) bright++; // row through the heart
      const c = y[i * 8 + 1]!;
      sum[c]! += bright; cnt[c]! += 1;
    }
    expect(sum[1]! / cnt[1]!).toBeGreaterThan(sum[0]! / cnt[0]! + 2);
    tf.dispose([d.images, d.labels]);
  });

  it('does not leak', async () => {
    await expectNoLeak(() => generateChestXrays({ count: 2, seed: 1, size: 16 }));
  });

  describe('rejects bad input', () => {
    it('bad counts, sizes, channels and unknown options', () => {
      expect(() => generateChestXrays({ count: -1 })).toThrow(InvalidArgumentError);
      expect(() => generateChestXrays({ count: 1, size: 300 })).toThrow(/options.size/);
      expect(() => generateChestXrays({ count: 1, channels: 2 as never })).toThrow(/1 or 3/);
      expect(() => generateChestXrays({ count: 1, colour: 1 } as never)).toThrow(/unknown option/);
    });
  });
});
