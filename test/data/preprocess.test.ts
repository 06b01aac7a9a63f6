import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/errors.js';
import { PAPER_PRESETS, preprocess } from '../../src/data/preprocess.js';
import { BACKENDS, useTestBackend } from '../helpers/backends.js';
import { expectNoLeak } from '../helpers/expectNoLeak.js';

describe.each(BACKENDS)('preprocess (%s)', (backend) => {
  beforeAll(() => useTestBackend(backend));
  // 2 images of 10×8×1 whose pixel value is its row·10 + column
  const make = (): tf.Tensor4D => tf.tidy(() => {
    const one = tf.add(tf.mul(tf.reshape(tf.range(0, 10), [10, 1]), 10), tf.reshape(tf.range(0, 8), [1, 8]));
    return tf.div(tf.reshape(tf.stack([one, one]), [2, 10, 8, 1]), 100) as tf.Tensor4D;
  });

  it('ratioCenterCrop keeps the centred square of side ratio·min(H, W)', async () => {
    const x = make();
    const y = preprocess(x, { ratioCenterCrop: 0.5 });
    expect(y.shape).toEqual([2, 4, 4, 1]);
    // rows 3..6, columns 2..5
    expect((await y.data())[0]).toBeCloseTo(0.32, 6);
    tf.dispose([x, y]);
  });

  it('resize, resizeShorter and centerCrop give the stated sizes; resizing a constant image keeps it constant', async () => {
    const x = tf.fill([1, 10, 8, 3], 0.3) as tf.Tensor4D;
    const a = preprocess(x, { resize: 6, centerCrop: 4 });
    const b = preprocess(x, { resizeShorter: 4 });
    const c = preprocess(x, { resize: [5, 7] });
    expect(a.shape).toEqual([1, 4, 4, 3]);
    expect(b.shape).toEqual([1, 5, 4, 3]);
    expect(c.shape).toEqual([1, 5, 7, 3]);
    for (const v of await a.data()) expect(v).toBeCloseTo(0.3, 6);
    tf.dispose([x, a, b, c]);
  });

  it('random steps permute pixels only, and are reproducible from the seed', async () => {
    const x = tf.tidy(() => tf.reshape(tf.div(tf.range(0, 2 * 6 * 6), 72), [2, 6, 6, 1])) as tf.Tensor4D;
    const spec = { randomCrop: 6, rotate90: true, horizontalFlip: true, verticalFlip: true };
    const a = preprocess(x, spec, { seed: 3 });
    const b = preprocess(x, spec, { seed: 3 });
    const xs = await x.data();
    const as = await a.data();
    expect(Array.from(as)).toEqual(Array.from(await b.data()));
    for (let i = 0; i < 2; i++) {
      const before = Array.from(xs.subarray(i * 36, i * 36 + 36)).sort();
      expect(Array.from(as.subarray(i * 36, i * 36 + 36)).sort()).toEqual(before);
    }
    const seeds = await Promise.all([1, 2, 3, 4, 5, 6].map(async (s) => { const t = preprocess(x, spec, { seed: s }); const d = Array.from(await t.data()); t.dispose(); return d.join(); }));
    expect(new Set(seeds).size).toBeGreaterThan(1);
    tf.dispose([x, a, b]);
  });

  it('applies the paper presets (ISIC 2016 test: 0.8 crop, 256, centre 224)', () => {
    const x = tf.zeros([1, 300, 400, 3]) as tf.Tensor4D;
    const y = preprocess(x, PAPER_PRESETS.isic2016.test);
    expect(y.shape).toEqual([1, 224, 224, 3]);
    expect(PAPER_PRESETS.chestXray14.normalization.mean).toEqual([0.485, 0.456, 0.406]);
    tf.dispose([x, y]);
  });

  it('does not leak', async () => {
    const x = make();
    await expectNoLeak(() => preprocess(x, { resize: 6, randomCrop: 4, rotation: 20, horizontalFlip: true }, { seed: 1 }));
    x.dispose();
  });

  describe('rejects bad input', () => {
    it('bad specs, crops larger than the image, unknown keys', () => {
      const x = make();
      expect(() => preprocess(x, { centerCrop: 20 })).toThrow(/no larger than the resized image/);
      expect(() => preprocess(x, { rotate90: true })).toThrow(/square images/);
      expect(() => preprocess(x, { ratioCenterCrop: 1.5 })).toThrow(InvalidArgumentError);
      expect(() => preprocess(x, { resize: 4, resizeShorter: 4 })).toThrow(/not both/);
      expect(() => preprocess(x, { centreCrop: 4 } as never)).toThrow(/did you mean 'centerCrop'/);
      expect(() => preprocess(x, {}, { sead: 1 } as never)).toThrow(/unknown option/);
      x.dispose();
    });
  });
});
