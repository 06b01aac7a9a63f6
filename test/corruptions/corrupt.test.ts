import * as tf from '@tensorflow/tfjs-core';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { corrupt } from '../../src/corruptions/corrupt.js';
import { CORRUPTION_TYPES, type CorruptionType, type Severity } from '../../src/corruptions/corruptionTypes.js';
import { InvalidArgumentError } from '../../src/errors.js';
import { BACKENDS, useTestBackend } from '../helpers/backends.js';
import { expectClose, maxAbsDiff } from '../helpers/close.js';
import { expectNoLeak } from '../helpers/expectNoLeak.js';
import { texturedImages } from './images.js';

const reference = JSON.parse(readFileSync(new URL('./fixtures/reference.json', import.meta.url), 'utf8')) as Record<string, number[]> & { size: number };

const psnr = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => -10 * Math.log10(tf.mean(tf.square(tf.sub(a, b))).dataSync()[0]!));
const correlation = (a: tf.Tensor, b: tf.Tensor) =>
  tf.tidy(() => {
    const da = tf.sub(a, tf.mean(a));
    const db = tf.sub(b, tf.mean(b));
    return tf.div(tf.sum(tf.mul(da, db)), tf.sqrt(tf.mul(tf.sum(tf.square(da)), tf.sum(tf.square(db))))).dataSync()[0]!;
  });

/**
 * Closeness to the clean image per severity. PSNR for most types; correlation for frost (a·x + b·f
 * with falling a and rising b keeps the PSNR nearly flat while the image fades behind the frost).
 */
function closeness(type: CorruptionType, clean: tf.Tensor4D, severity: Severity, seed: number): number {
  const out = corrupt(clean, type, { severity, seed });
  const v = type === 'frost' ? correlation(clean, out) : psnr(clean, out);
  out.dispose();
  return v;
}

/**
 * Severity ranges over which ImageNet-C's parameters are monotone (see corrupt's JSDoc). The
 * numpy port of the reference (test/parity) shows the same exceptions on these 32-px images:
 * glass_blur's severity 2 (one pass of δ = 2) and 4 (two passes of δ = 3) stay closer to the clean
 * image than 1 and 3; snow's middle severities change places with the draw.
 */
const MONOTONE: Partial<Record<CorruptionType, Severity[]>> = {
  saturate: [3, 4, 5],
  elastic_transform: [3, 4, 5],
  snow: [1, 2, 5],
  glass_blur: [1, 3, 5],
};

describe.each(BACKENDS)('corrupt on %s', (backend) => {
  let images: tf.Tensor4D;
  let grey: tf.Tensor4D;
  beforeAll(async () => {
    await useTestBackend(backend);
    images = texturedImages(2, 32, 3);
    grey = texturedImages(2, 16, 1, 11);
  });
  afterAll(() => tf.dispose([images, grey]));

  describe.each(CORRUPTION_TYPES)('%s', (type) => {
    it('keeps the shape and [0, 1], never mutates the input, and is deterministic for a seed', () => {
      for (const x of [images, grey]) {
        const before = x.dataSync().slice();
        const a = corrupt(x, type, { severity: 3, seed: 5 });
        const b = corrupt(x, type, { severity: 3, seed: 5 });
        expect(a.shape).toEqual(x.shape);
        expect(a.dtype).toBe('float32');
        const [lo, hi] = tf.tidy(() => [tf.min(a).dataSync()[0]!, tf.max(a).dataSync()[0]!]);
        expect(lo).toBeGreaterThanOrEqual(0);
        expect(hi).toBeLessThanOrEqual(1);
        expectClose(a.dataSync(), b.dataSync(), 0);
        expectClose(x.dataSync(), before, 0);
        tf.dispose([a, b]);
      }
    });

    it('moves further from the clean image as severity rises', () => {
      const range = MONOTONE[type] ?? [1, 2, 3, 4, 5];
      const values = range.map((s) => closeness(type, images, s, 9));
      for (let i = 1; i < values.length; i++) expect(values[i]!, `severity ${range[i]} vs ${range[i - 1]}: ${values.join(', ')}`).toBeLessThanOrEqual(values[i - 1]! + 1e-3);
      expect(values[values.length - 1]!).toBeLessThan(values[0]!);
    });
  });

  it('random types change with the seed; deterministic ones do not depend on it', () => {
    const deterministic = new Set<CorruptionType>(['gaussian_blur', 'defocus_blur', 'zoom_blur', 'brightness', 'contrast', 'saturate', 'jpeg_compression', 'pixelate']);
    for (const type of CORRUPTION_TYPES) {
      const a = corrupt(images, type, { severity: 4, seed: 1 });
      const b = corrupt(images, type, { severity: 4, seed: 2 });
      const d = maxAbsDiff(a.dataSync(), b.dataSync());
      if (deterministic.has(type)) expect(d, type).toBe(0);
      else expect(d, type).toBeGreaterThan(1e-3);
      tf.dispose([a, b]);
    }
  });

  describe('closed forms', () => {
    it('blurs, zooms, pixelate, elastic and JPEG leave a constant image unchanged', () => {
      const flat = tf.fill([1, 16, 16, 3], 0.4) as tf.Tensor4D;
      for (const type of ['gaussian_blur', 'glass_blur', 'defocus_blur', 'motion_blur', 'zoom_blur', 'pixelate', 'elastic_transform', 'contrast'] as const) {
        const out = corrupt(flat, type, { severity: 5, seed: 3 });
        // ImageNet-C's radius-8 and -10 disks touch the edge of their grids, where cv2's reflect-101
        // anti-aliasing adds about 1% of mass; kept for fidelity
        expect(maxAbsDiff(out.dataSync(), flat.dataSync()), type).toBeLessThan(type === 'defocus_blur' ? 0.01 : 1e-5);
        out.dispose();
      }
      const defocus4 = corrupt(flat, 'defocus_blur', { severity: 3 });
      expect(maxAbsDiff(defocus4.dataSync(), flat.dataSync())).toBeLessThan(1e-5);
      defocus4.dispose();
      const jpeg = corrupt(flat, 'jpeg_compression', { severity: 5 });
      // DC-only blocks: still constant, off by at most half a DC step (Q_dc = 114 at quality 7 → 114/16/2 levels)
      const jv = jpeg.dataSync();
      expect(Math.max(...jv) - Math.min(...jv)).toBeLessThan(1e-6);
      expect(Math.abs(jv[0]! - 0.4)).toBeLessThanOrEqual(114 / 16 / 2 / 255 + 1 / 255);
      tf.dispose([flat, jpeg]);
    });

    it('gaussian_noise and speckle_noise have the standard deviations of ImageNet-C; shot_noise is Poisson(λx)/λ', () => {
      const mid = tf.fill([4, 32, 32, 1], 0.5) as tf.Tensor4D;
      const stats = (t: tf.Tensor): [number, number] => tf.tidy(() => { const m = tf.moments(t); return [m.mean.dataSync()[0]!, Math.sqrt(m.variance.dataSync()[0]!)]; });
      const g = corrupt(mid, 'gaussian_noise', { severity: 1, seed: 1 }); // σ = .08, no clipping at 0.5 ± 6σ
      const [gm, gs] = stats(g);
      expect(Math.abs(gm - 0.5)).toBeLessThan(0.01);
      expect(Math.abs(gs - 0.08)).toBeLessThan(0.006);
      const sp = corrupt(mid, 'speckle_noise', { severity: 1, seed: 1 }); // x·N(0, .15²) → σ = .075
      expect(Math.abs(stats(sp)[1]! - 0.075)).toBeLessThan(0.006);
      const sh = corrupt(mid, 'shot_noise', { severity: 1, seed: 1 }); // Poisson(30)/60: mean .5, sd √30/60
      const [sm, ss] = stats(sh);
      expect(Math.abs(sm - 0.5)).toBeLessThan(0.01);
      expect(Math.abs(ss - Math.sqrt(30) / 60)).toBeLessThan(0.007);
      // every value is a multiple of 1/λ
      const values = sh.dataSync();
      for (let i = 0; i < 50; i++) expect(Math.abs(values[i]! * 60 - Math.round(values[i]! * 60))).toBeLessThan(1e-3);
      tf.dispose([mid, g, sp, sh]);
    });

    it('impulse_noise sets the expected fraction of values to 0 or 1, half each', () => {
      const mid = tf.fill([4, 32, 32, 3], 0.5) as tf.Tensor4D;
      const out = corrupt(mid, 'impulse_noise', { severity: 5, seed: 2 }); // amount .27
      const v = out.dataSync();
      let zeros = 0;
      let ones = 0;
      for (const x of v) (x === 0 ? zeros++ : x === 1 ? ones++ : 0);
      expect(Math.abs((zeros + ones) / v.length - 0.27)).toBeLessThan(0.02);
      expect(Math.abs(zeros / (zeros + ones) - 0.5)).toBeLessThan(0.05);
      tf.dispose([mid, out]);
    });

    it('frost on a black image is the frost weight times one texture shared by all severities', () => {
      const black = tf.zeros([1, 16, 16, 3]) as tf.Tensor4D;
      const weights = [0.4, 0.6, 0.7, 0.7, 0.75];
      const first = corrupt(black, 'frost', { severity: 1, seed: 4 });
      const base = Array.from(first.dataSync());
      first.dispose();
      for (const s of [2, 3, 4, 5] as const) {
        const out = corrupt(black, 'frost', { severity: s, seed: 4 });
        const v = out.dataSync();
        for (let i = 0; i < v.length; i++) if (base[i]! / 0.4 * weights[s - 1]! < 1) expect(Math.abs(v[i]! - (base[i]! / 0.4) * weights[s - 1]!)).toBeLessThan(1e-5);
        out.dispose();
      }
      const meanTexture = base.reduce((a, x) => a + x, 0) / base.length / 0.4;
      expect(meanTexture).toBeGreaterThan(0.25);
      expect(meanTexture).toBeLessThan(0.75);
      black.dispose();
    });

    it('pixelate at an integer factor is the block mean', () => {
      const x = texturedImages(1, 20, 1); // 20 · 0.5 = 10: 2×2 blocks
      const out = corrupt(x, 'pixelate', { severity: 2 });
      const pooled = tf.tidy(() => tf.image.resizeNearestNeighbor(tf.avgPool(x, 2, 2, 'valid') as tf.Tensor4D, [20, 20]));
      expectClose(out.dataSync(), pooled.dataSync(), 1e-5);
      tf.dispose([x, out, pooled]);
    });

    it('on grey images, brightness is clip(x + c) and saturate is the identity at severities 1–3', () => {
      const b = corrupt(grey, 'brightness', { severity: 4 });
      const expected = tf.tidy(() => tf.clipByValue(tf.add(grey, 0.4), 0, 1));
      expectClose(b.dataSync(), expected.dataSync(), 1e-5);
      for (const s of [1, 2, 3] as const) {
        const out = corrupt(grey, 'saturate', { severity: s });
        expectClose(out.dataSync(), grey.dataSync(), 1e-5);
        out.dispose();
      }
      const s5 = corrupt(grey, 'saturate', { severity: 5 }); // hue-0 rule: V·(1 − 0.701·0.2)
      const darker = tf.tidy(() => tf.mul(grey, 1 - (0.587 + 0.114) * 0.2));
      expectClose(s5.dataSync(), darker.dataSync(), 1e-5);
      tf.dispose([b, expected, s5, darker]);
    });

    it('referenceSize scales pixel parameters by min(H, W)/referenceSize (equal sizes change nothing)', () => {
      const a = corrupt(images, 'motion_blur', { severity: 2, seed: 3 });
      const b = corrupt(images, 'motion_blur', { severity: 2, seed: 3, referenceSize: 32 });
      expectClose(a.dataSync(), b.dataSync(), 0);
      const scaled = corrupt(images, 'gaussian_blur', { severity: 4, referenceSize: 128 }); // σ 4 → 1
      const sigma1 = corrupt(images, 'gaussian_blur', { severity: 1 });
      expectClose(scaled.dataSync(), sigma1.dataSync(), 1e-6);
      tf.dispose([a, b, scaled, sigma1]);
    });
  });

  describe('rejects bad input', () => {
    it.each([0, 6, 2.5, Number.NaN, '3'])('severity %s', (severity) => {
      expect(() => corrupt(images, 'fog', { severity: severity as Severity })).toThrow(InvalidArgumentError);
      expect(() => corrupt(images, 'fog', { severity: severity as Severity })).toThrow(/corrupt: options.severity must be a finite integer >= 1 and <= 5/);
    });
    it('unknown type, missing options, unknown option, bad seed and referenceSize', () => {
      expect(() => corrupt(images, 'blur' as CorruptionType, { severity: 1 })).toThrow(/corrupt: type must be one of 'gaussian_noise'/);
      expect(() => corrupt(images, 'fog', undefined as never)).toThrow(/options must be an options object with a severity/);
      expect(() => corrupt(images, 'fog', { severity: 1, sead: 1 } as never)).toThrow(/did you mean 'seed'/);
      expect(() => corrupt(images, 'fog', { severity: 1, seed: -1 })).toThrow(/options.seed/);
      expect(() => corrupt(images, 'fog', { severity: 1, referenceSize: 0 })).toThrow(/options.referenceSize/);
    });
    it('images of the wrong rank, dtype, channel count or range', () => {
      const rank3 = tf.zeros([4, 4, 3]);
      const ints = tf.zeros([1, 4, 4, 3], 'int32');
      const two = tf.zeros([1, 4, 4, 2]);
      const big = tf.fill([1, 4, 4, 3], 2);
      const nan = tf.fill([1, 4, 4, 3], Number.NaN);
      expect(() => corrupt(rank3 as never, 'fog', { severity: 1 })).toThrow(/rank-4/);
      expect(() => corrupt(ints as never, 'fog', { severity: 1 })).toThrow(/float32/);
      expect(() => corrupt(two as never, 'fog', { severity: 1 })).toThrow(/1 \(grey\) or 3 \(RGB\) channels/);
      expect(() => corrupt(big as never, 'fog', { severity: 1 })).toThrow(/inside the clip range \[0, 1\]/);
      expect(() => corrupt(nan as never, 'fog', { severity: 1 })).toThrow(/finite values/);
      // one bad value among good ones: counted, named, and the range error names its channel
      const mixed = new Float32Array(2 * 4 * 4 * 3).fill(0.5);
      mixed[7] = Number.POSITIVE_INFINITY;
      mixed[30] = Number.NaN;
      const oneBad = tf.tensor4d(mixed, [2, 4, 4, 3]);
      expect(() => corrupt(oneBad, 'fog', { severity: 1 })).toThrow(/corrupt.*images.*finite values.*2 non-finite values/s);
      mixed[7] = 0.5;
      mixed[30] = 0.5;
      mixed[41] = -0.25; // channel 2
      const negative = tf.tensor4d(mixed, [2, 4, 4, 3]);
      expect(() => corrupt(negative, 'fog', { severity: 1 })).toThrow(/clip range \[0, 1\] \(channel 2\).*values in \[-0.25, 0.5\]/s);
      tf.dispose([rank3, ints, two, big, nan, oneBad, negative]);
    });
  });

  it('leaks no tensors, for any type, colour or grey', async () => {
    for (const type of CORRUPTION_TYPES) {
      await expectNoLeak(() => corrupt(images, type, { severity: 2, seed: 1 }));
      await expectNoLeak(() => corrupt(grey, type, { severity: 5, seed: 1 }));
    }
    const rank3 = tf.zeros([4, 4, 3]);
    await expectNoLeak(() => { try { corrupt(rank3 as never, 'fog', { severity: 1 }); } catch { /* expected */ } });
    rank3.dispose();
  });

  describe('matches the reference libraries (scipy, Pillow, skimage formulas) on a 24×24 image', () => {
    let x: tf.Tensor4D;
    const size = reference.size;
    beforeAll(() => {
      x = tf.div(tf.tensor4d(reference.image!, [1, size, size, 3]), 255) as tf.Tensor4D;
    });
    afterAll(() => x.dispose());
    const cases: [string, CorruptionType, Severity, number][] = [
      ['gaussian_blur_2', 'gaussian_blur', 2, 1e-5], // scipy gaussian_filter, mode nearest
      ['zoom_blur_1', 'zoom_blur', 1, 1e-5], // scipy zoom order 1 (clipped_zoom)
      ['brightness_3', 'brightness', 3, 1e-5], // skimage rgb2hsv/hsv2rgb
      ['saturate_4', 'saturate', 4, 1e-5],
      ['contrast_2', 'contrast', 2, 1e-5],
      ['pixelate_1', 'pixelate', 1, 1.5 / 255], // Pillow BOX, which rounds to 8 bits after each of its four passes
    ];
    it.each(cases)('%s', (key, type, severity, tol) => {
      const out = corrupt(x, type, { severity, seed: 0 });
      expectClose(out.dataSync(), reference[key]!, tol);
      out.dispose();
    });

    it('jpeg_compression equals Pillow (libjpeg-turbo) at quality 25, every 8-bit value', () => {
      const out = corrupt(x, 'jpeg_compression', { severity: 1 });
      expectClose(out.dataSync(), reference.jpeg_1!, 1e-6);
      out.dispose();
    });
  });
});
