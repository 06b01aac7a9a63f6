import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { gap } from '../../src/attacks/gap.js';
import { gapUnet } from '../../src/attacks/gapGenerators.js';
import { forgetStepMemory, measurePeak } from '../../src/internal/memory.js';
import { InvalidArgumentError, MemoryBudgetError } from '../../src/errors.js';
import { BACKENDS, useTestBackend } from '../helpers/backends.js';
import { expectClose } from '../helpers/close.js';
import { expectNoLeak } from '../helpers/expectNoLeak.js';
import { tinyGenerator } from '../helpers/gapFixtures.js';

/** A fixed 1×1-conv generator: G(x) = tanh(x·W + b) on 2 channels, so its output is known in closed form. */
function fixedGenerator(size = 4): tfl.LayersModel {
  const net = tfl.sequential({ layers: [tfl.layers.conv2d({ inputShape: [size, size, 2], filters: 2, kernelSize: 1, activation: 'tanh' })] });
  net.setWeights([tf.tensor4d([3, -1, 0.5, 2], [1, 1, 2, 2]), tf.tensor1d([-0.5, 0.25])]);
  return net;
}

/** GAP's _normalize_and_scale written out in plain JS (paper.md §4.2), per image and channel. */
function referenceDelta(raw: Float32Array, n: number, hw: number, c: number, m: number, center: number[], std: number[]): Float32Array {
  const out = new Float32Array(raw.length);
  for (let i = 0; i < n; i++) {
    for (let ch = 0; ch < c; ch++) {
      let norm = 0;
      const d: number[] = [];
      for (let p = 0; p < hw; p++) {
        const v = ((raw[(i * hw + p) * c + ch]! + 1) / 2 - center[ch]!) / std[ch]!;
        d.push(v);
        norm = Math.max(norm, Math.abs(v));
      }
      const factor = Math.min(1, m / (255 * std[ch]!) / norm);
      d.forEach((v, p) => { out[(i * hw + p) * c + ch] = v * factor; });
    }
  }
  return out;
}

describe.each(BACKENDS)('gap on %s', (backend) => {
  beforeAll(() => useTestBackend(backend));

  it('scales the generator output exactly as GAP does, per image and channel, with mean/std', () => {
    const g = fixedGenerator();
    const images = tf.randomUniform([3, 4, 4, 2], 0.2, 0.8, 'float32', 4) as tf.Tensor4D;
    const mean = [0.5, 0.4];
    const std = [0.25, 0.5];
    const x = tf.div(tf.sub(images, mean), std) as tf.Tensor4D;
    const raw = (g.predict(x) as tf.Tensor).dataSync() as Float32Array;
    for (const center of [undefined, 'mean'] as const) {
      const { images: adv, perturbation } = gap(g, x, { magnitude: 10, mean, std, clip: null, ...(center ? { center } : {}) });
      const expected = referenceDelta(raw, 3, 16, 2, 10, center === 'mean' ? mean : [0.5, 0.5], std);
      expectClose(perturbation.dataSync(), expected, 1e-6);
      expectClose(adv.dataSync(), tf.add(x, perturbation).dataSync(), 1e-6);
      tf.dispose([adv, perturbation]);
    }
    tf.dispose([images, x]);
    g.dispose();
  });

  it('keeps ‖δ_c‖∞ ≤ m/255 in pixels for every image and channel, and the image inside the valid range', () => {
    const g = fixedGenerator();
    const images = tf.randomUniform([4, 4, 4, 2], 0, 1, 'float32', 5) as tf.Tensor4D;
    const std = [0.2, 0.6];
    const mean = [0.1, 0.3];
    const x = tf.div(tf.sub(images, mean), std) as tf.Tensor4D;
    const before = x.dataSync().slice();
    const { images: adv, perturbation } = gap(g, x, { magnitude: 8, mean, std });
    const pixelDelta = tf.mul(perturbation, std);
    const norms = tf.max(tf.abs(pixelDelta), [1, 2]).dataSync();
    norms.forEach((v) => expect(v).toBeLessThanOrEqual(8 / 255 + 1e-6));
    expect(Math.max(...norms)).toBeGreaterThan(8 / 255 - 1e-5); // the budget is used, not just respected
    const pixels = tf.add(tf.mul(adv, std), mean).dataSync();
    pixels.forEach((v) => { expect(v).toBeGreaterThanOrEqual(-1e-5); expect(v).toBeLessThanOrEqual(1 + 1e-5); });
    expect(Array.from(x.dataSync())).toEqual(Array.from(before)); // input not mutated
    tf.dispose([images, x, adv, perturbation, pixelDelta]);
    g.dispose();
  });

  it("clips to the clean batch's per-channel range with clip 'batch-per-channel'", () => {
    const g = fixedGenerator();
    const x = tf.randomUniform([2, 4, 4, 2], 0.3, 0.6, 'float32', 6) as tf.Tensor4D;
    const { images: adv, perturbation } = gap(g, x, { magnitude: 40, clip: 'batch-per-channel' });
    const lo = tf.min(x, [0, 1, 2]).dataSync();
    const hi = tf.max(x, [0, 1, 2]).dataSync();
    const expected = tf.tidy(() => tf.minimum(tf.maximum(tf.add(x, perturbation), tf.tensor1d(Array.from(lo))), tf.tensor1d(Array.from(hi))));
    expectClose(adv.dataSync(), expected.dataSync(), 1e-6);
    tf.dispose([x, adv, perturbation, expected]);
    g.dispose();
  });

  it('gives one perturbation for every image in universal mode, whatever the images', () => {
    const g = tinyGenerator();
    const a = tf.randomUniform([3, 8, 8, 1], 0, 1, 'float32', 7) as tf.Tensor4D;
    const b = tf.randomUniform([2, 8, 8, 1], 0, 1, 'float32', 8) as tf.Tensor4D;
    const ra = gap(g, a, { magnitude: 12, universal: true, noiseSeed: 42 });
    const rb = gap(g, b, { magnitude: 12, universal: true, noiseSeed: 42 });
    const rows = ra.perturbation.arraySync();
    expect(rows[1]).toEqual(rows[0]);
    expect(rows[2]).toEqual(rows[0]);
    expect(rb.perturbation.arraySync()[0]).toEqual(rows[0]);
    const other = gap(g, a, { magnitude: 12, universal: true, noiseSeed: 43 });
    expect(other.perturbation.arraySync()[0]).not.toEqual(rows[0]);
    tf.dispose([a, b, ra.images, ra.perturbation, rb.images, rb.perturbation, other.images, other.perturbation]);
    g.dispose();
  });

  it('is image-dependent by default: different images get different perturbations', () => {
    const g = tinyGenerator();
    const x = tf.randomUniform([2, 8, 8, 1], 0, 1, 'float32', 9) as tf.Tensor4D;
    const { images: adv, perturbation } = gap(g, x, { magnitude: 12 });
    const [p0, p1] = perturbation.arraySync();
    expect(p0).not.toEqual(p1);
    tf.dispose([x, adv, perturbation]);
    g.dispose();
  });

  it('applies the generator in chunks, bit for bit the unchunked result (U-Net with batch norm, batch clip)', () => {
    const g = gapUnet({ inputShape: [16, 16, 3], preset: 'isic', ngf: 4, seed: 2 });
    const x = tf.randomUniform([7, 16, 16, 3], -1.5, 1.5, 'float32', 11) as tf.Tensor4D;
    const opts = { magnitude: 11, mean: [0.7, 0.55, 0.49], std: [0.09, 0.13, 0.15], center: 'mean' as const, clip: 'batch-per-channel' as const };
    const whole = gap(g, x, opts);
    for (const batchSize of [1, 2, 3, 6]) {
      const parts = gap(g, x, { ...opts, batchSize });
      expect(Array.from(parts.images.dataSync())).toEqual(Array.from(whole.images.dataSync()));
      expect(Array.from(parts.perturbation.dataSync())).toEqual(Array.from(whole.perturbation.dataSync()));
      tf.dispose([parts.images, parts.perturbation]);
    }
    // A budget of about 2.5 images' worth (the one-image peak measured, with the results kept): chunks, the same result.
    const x1 = tf.slice(x, 0, 1);
    const one = measurePeak(() => { const r = gap(g, x1, { ...opts, memoryBudget: Infinity }); tf.dispose([r.images, r.perturbation]); }).peakBytes;
    x1.dispose();
    forgetStepMemory(g);
    const budgeted = gap(g, x, { ...opts, memoryBudget: 2.5 * one + 4 * 7 * 16 * 16 * 3 * 4 });
    expect(Array.from(budgeted.images.dataSync())).toEqual(Array.from(whole.images.dataSync()));
    tf.dispose([x, whole.images, whole.perturbation, budgeted.images, budgeted.perturbation]);
    g.dispose();
  });

  it("bounds memory: a call's measured peak stays within memoryBudget, and a budget below one image throws", () => {
    const g = gapUnet({ inputShape: [32, 32, 3], preset: 'isic', ngf: 4, seed: 2 });
    const x = tf.randomUniform([6, 32, 32, 3], 0, 1, 'float32', 12) as tf.Tensor4D;
    const x1 = tf.slice(x, 0, 1);
    const one = measurePeak(() => { const r = gap(g, x1, { magnitude: 8, memoryBudget: Infinity }); tf.dispose([r.images, r.perturbation]); }).peakBytes;
    x1.dispose();
    const budget = 1.5 * one + 4 * 6 * 32 * 32 * 3 * 4; // 1.5 images' peak, and the results kept (reserved up front)
    const { result, peakBytes } = measurePeak(() => gap(g, x, { magnitude: 8, memoryBudget: budget }));
    expect(peakBytes).toBeLessThanOrEqual(budget);
    expect(peakBytes).toBeLessThan(measurePeak(() => { const r = gap(g, x, { magnitude: 8, batchSize: 6 }); tf.dispose([r.images, r.perturbation]); }).peakBytes);
    tf.dispose([result.images, result.perturbation]);
    const before = tf.memory().numTensors;
    let err: unknown;
    try { gap(g, x, { magnitude: 8, memoryBudget: one / 4 }); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(MemoryBudgetError);
    expect((err as MemoryBudgetError).message).toMatch(/gap: a batch of 1 needs about .* MiB, more than the .* available; one sample does not fit: raise options.memoryBudget/);
    const x2 = tf.slice(x, 0, 1);
    const oneTraining = measurePeak(() => { const r = gap(g, x2, { magnitude: 8, training: true, memoryBudget: Infinity }); tf.dispose([r.images, r.perturbation]); }).peakBytes;
    x2.dispose();
    expect(() => gap(g, x, { magnitude: 8, training: true, memoryBudget: 2.5 * oneTraining + 4 * 6 * 32 * 32 * 3 * 4 }))
      .toThrow(/gap: a batch of 6 needs about .*; in training mode the batch is the unit and [1-5] images fit/);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose(x);
    g.dispose();
  });

  it("training: true runs the generator as the authors' test code does (batch statistics), leaving its moving statistics as they were", () => {
    const g = gapUnet({ inputShape: [16, 16, 3], preset: 'isic', ngf: 4, seed: 2, dropout: 0 });
    const x = tf.randomUniform([3, 16, 16, 3], 0, 1, 'float32', 13) as tf.Tensor4D;
    const moving = () => g.weights.filter((w) => w.originalName.includes('moving')).map((w) => Array.from(w.read().dataSync()));
    const before = moving();
    const r = gap(g, x, { magnitude: 8, training: true });
    expect(moving()).toEqual(before);
    const expected = tf.tidy(() => {
      const raw = g.apply(x, { training: true }) as tf.Tensor4D; // batch statistics (this updates the moving ones)
      const d = tf.sub(tf.mul(tf.add(raw, 1), 0.5), 0.5);
      const delta = tf.mul(d, tf.minimum(1, tf.div(8 / 255, tf.max(tf.abs(d), [1, 2], true))));
      return tf.clipByValue(tf.add(x, delta), 0, 1);
    });
    expectClose(r.images.dataSync(), expected.dataSync(), 1e-6);
    const inference = gap(g, x, { magnitude: 8 });
    expect(Array.from(inference.images.dataSync())).not.toEqual(Array.from(r.images.dataSync()));
    tf.dispose([x, r.images, r.perturbation, expected, inference.images, inference.perturbation]);
    g.dispose();
  });

  describe('rejects bad input', () => {
    it('throws typed errors before allocating', () => {
      const g = tinyGenerator();
      const wrongOut = gapUnet({ inputShape: [8, 8, 1], outputChannels: 2, preset: 'small', ngf: 2 });
      const x = tf.zeros([2, 8, 8, 1]) as tf.Tensor4D;
      const big = tf.zeros([1, 16, 16, 1]) as tf.Tensor4D;
      const outside = tf.fill([1, 8, 8, 1], 2) as tf.Tensor4D;
      const rank3 = tf.zeros([8, 8, 1]);
      const before = tf.memory().numTensors;
      expect(() => gap(g, x, { magnitude: 0 })).toThrow(/gap: options.magnitude must be a finite number > 0/);
      expect(() => gap(g, x, { magnitude: -3 })).toThrow(InvalidArgumentError);
      expect(() => gap(g, x, {} as never)).toThrow(/options.magnitude/);
      expect(() => gap(wrongOut, x, { magnitude: 8 })).toThrow(/gap: generator must be a generator whose output matches the images \[N, 8, 8, 1\]/);
      expect(() => gap(g, big, { magnitude: 8 })).toThrow(/generator must be a generator taking \[N, 16, 16, C\]/);
      expect(() => gap(g, outside, { magnitude: 8 })).toThrow(/values inside the clip range/);
      expect(() => gap(g, x, { magnitude: 8, universal: true })).toThrow(/options.noiseSeed/);
      expect(() => gap(g, x, { magnitude: 8, noiseSeed: 3 })).toThrow(/unless universal/);
      expect(() => gap(g, x, { magnitude: 8, std: 0 })).toThrow(/options.std must be a finite number > 0/);
      expect(() => gap(g, x, { magnitude: 8, mean: [0, 0] })).toThrow(/options.mean must be a number or 1 numbers/);
      expect(() => gap(g, x, { magnitude: 8, magnitud: 3 } as never)).toThrow(/did you mean 'magnitude'/);
      expect(() => gap({} as never, x, { magnitude: 8 })).toThrow(/gap: generator must be a tf.LayersModel/);
      expect(() => gap(g, rank3 as never, { magnitude: 8 })).toThrow(/images must be a rank-4/);
      expect(() => gap(g, x, { magnitude: 8, batchSize: 0 })).toThrow(/options.batchSize/);
      expect(() => gap(g, x, { magnitude: 8, chunkSize: 2 } as never)).toThrow(/did you mean 'batchSize'/);
      expect(() => gap(g, x, { magnitude: 8, batchSize: 1, training: true })).toThrow(/options.batchSize must be undefined when training is true/);
      expect(() => gap(g, x, { magnitude: 8, memoryBudget: -1 })).toThrow(/options.memoryBudget/);
      expect(() => gap(g, x, { magnitude: 8, training: 'yes' } as never)).toThrow(/options.training/);
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose([x, big, outside, rank3]);
      g.dispose();
      wrongOut.dispose();
    });
  });

  it('does not leak', async () => {
    const g = tinyGenerator();
    const x = tf.randomUniform([2, 8, 8, 1], 0, 1, 'float32', 10) as tf.Tensor4D;
    await expectNoLeak(() => gap(g, x, { magnitude: 8 }));
    await expectNoLeak(() => gap(g, x, { magnitude: 8, universal: true, noiseSeed: 1, clip: 'batch' }));
    await expectNoLeak(() => gap(g, x, { magnitude: 8, batchSize: 1, clip: 'batch-per-channel' }));
    await expectNoLeak(() => gap(g, x, { magnitude: 8, training: true, seed: 3 }));
    x.dispose();
    g.dispose();
  });
});
