import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PERTURBATION_TYPES, perturbationSequence, type PerturbationType } from '../../src/corruptions/perturbationSequence.js';
import { InvalidArgumentError } from '../../src/errors.js';
import { BACKENDS, useTestBackend } from '../helpers/backends.js';
import { expectClose, maxAbsDiff } from '../helpers/close.js';
import { expectNoLeak } from '../helpers/expectNoLeak.js';
import { texturedImages } from './images.js';

/** Frame t of a [N, T, H, W, C] sequence. */
const frameOf = (seq: tf.Tensor5D, t: number) => tf.tidy(() => {
  const [n, , h, w, c] = seq.shape;
  return tf.reshape(tf.slice(seq, [0, t, 0, 0, 0], [n, 1, h, w, c]), [n, h, w, c]) as tf.Tensor4D;
});

describe.each(BACKENDS)('perturbationSequence on %s', (backend) => {
  let images: tf.Tensor4D;
  let grey: tf.Tensor4D;
  beforeAll(async () => {
    await useTestBackend(backend);
    images = texturedImages(2, 16, 3);
    grey = texturedImages(1, 16, 1, 5);
  });
  afterAll(() => tf.dispose([images, grey]));

  it.each(PERTURBATION_TYPES)('%s: [N, T, H, W, C] in [0, 1], deterministic for a seed, input untouched', (type) => {
    const before = images.dataSync().slice();
    const a = perturbationSequence(images, type, { seed: 3 });
    const b = perturbationSequence(images, type, { seed: 3 });
    expect(a.shape).toEqual([2, 10, 16, 16, 3]);
    const [lo, hi] = tf.tidy(() => [tf.min(a).dataSync()[0]!, tf.max(a).dataSync()[0]!]);
    expect(lo).toBeGreaterThanOrEqual(0);
    expect(hi).toBeLessThanOrEqual(1);
    expectClose(a.dataSync(), b.dataSync(), 0);
    expectClose(images.dataSync(), before, 0);
    // consecutive frames differ: the sequence moves
    const f3 = frameOf(a, 3);
    const f4 = frameOf(a, 4);
    expect(maxAbsDiff(f3.dataSync(), f4.dataSync())).toBeGreaterThan(1e-4);
    tf.dispose([a, b, f3, f4]);
  });

  it('noise types start from the clean image and draw fresh noise per frame', () => {
    for (const type of ['gaussian_noise', 'shot_noise', 'speckle_noise'] as const) {
      const seq = perturbationSequence(images, type, { seed: 1, frames: 4 });
      const f0 = frameOf(seq, 0);
      const f1 = frameOf(seq, 1);
      const f2 = frameOf(seq, 2);
      expectClose(f0.dataSync(), images.dataSync(), 0);
      expect(maxAbsDiff(f1.dataSync(), f2.dataSync())).toBeGreaterThan(1e-3);
      tf.dispose([seq, f0, f1, f2]);
    }
  });

  it("difficulty 2 and 3 are ImageNet-P's stronger noise sets (σ .05/.08, λ 120/60, σ .10/.15); other types' frames do not change", () => {
    const mid = tf.fill([2, 24, 24, 3], 0.5) as tf.Tensor4D;
    const spread = (type: 'gaussian_noise' | 'shot_noise' | 'speckle_noise', difficulty: 1 | 2 | 3) =>
      tf.tidy(() => {
        const seq = perturbationSequence(mid, type, { seed: 2, frames: 5, difficulty });
        const noisy = tf.slice(seq, [0, 1, 0, 0, 0], [2, 4, 24, 24, 3]);
        return Math.sqrt(tf.moments(tf.sub(noisy, 0.5)).variance.dataSync()[0]!);
      });
    const expected = { gaussian_noise: [0.03, 0.05, 0.08], shot_noise: [300, 120, 60].map((l) => Math.sqrt(0.5 * l) / l), speckle_noise: [0.025, 0.05, 0.075] };
    for (const type of ['gaussian_noise', 'shot_noise', 'speckle_noise'] as const) {
      for (const d of [1, 2, 3] as const) expect(Math.abs(spread(type, d) / expected[type][d - 1]! - 1), `${type} difficulty ${d}`).toBeLessThan(0.05);
    }
    const a = perturbationSequence(images, 'rotate', { seed: 1, frames: 4, difficulty: 3 });
    const b = perturbationSequence(images, 'rotate', { seed: 1, frames: 4 });
    expectClose(a.dataSync(), b.dataSync(), 0);
    expect(() => perturbationSequence(images, 'rotate', { difficulty: 0 as never })).toThrow(/perturbationSequence: options.difficulty/);
    tf.dispose([mid, a, b]);
  });

  it("'centered' indexing puts the neutral parameter in the middle frame; 'paper' is one-sided", () => {
    for (const type of ['rotate', 'shear', 'scale', 'translate', 'brightness'] as const) {
      const seq = perturbationSequence(images, type, { frames: 11, seed: 1 });
      const mid = frameOf(seq, 5);
      expect(maxAbsDiff(mid.dataSync(), images.dataSync()), type).toBeLessThan(1e-5);
      const paper = perturbationSequence(images, type, { frames: 11, indexing: 'paper', seed: 1 });
      for (const t of [0, 5, 10]) {
        const f = frameOf(paper, t);
        expect(maxAbsDiff(f.dataSync(), images.dataSync()), `${type} paper frame ${t}`).toBeGreaterThan(0.02);
        f.dispose();
      }
      tf.dispose([seq, mid, paper]);
    }
  });

  it('brightness on grey images is clip(x + (i − 15)·0.02) with i = t (paper) or t + 10.5 (centered, T = 10)', () => {
    for (const indexing of ['paper', 'centered'] as const) {
      const seq = perturbationSequence(grey, 'brightness', { indexing });
      for (const t of [0, 4, 9]) {
        const i = indexing === 'paper' ? t : t + 10.5;
        const expected = tf.tidy(() => tf.clipByValue(tf.add(grey, ((i - 15) * 2) / 100), 0, 1));
        const f = frameOf(seq, t);
        expectClose(f.dataSync(), expected.dataSync(), 1e-5);
        tf.dispose([expected, f]);
      }
      seq.dispose();
    }
  });

  it('translate moves by whole pixels (T = 11, centered: frame t shifts by t − 5) and fills with zeros', () => {
    const seq = perturbationSequence(grey, 'translate', { frames: 11 });
    const f7 = frameOf(seq, 7); // 2 px to the right
    const expected = tf.tidy(() => tf.pad(tf.slice(grey, [0, 0, 0, 0], [1, 16, 14, 1]), [[0, 0], [0, 0], [2, 0], [0, 0]]));
    expectClose(f7.dataSync(), expected.dataSync(), 1e-5);
    const edge = perturbationSequence(grey, 'translate', { frames: 11, fill: 'edge' });
    const e7 = frameOf(edge, 7);
    const firstColumn = tf.tidy(() => tf.slice(e7, [0, 0, 0, 0], [1, 16, 1, 1]).dataSync());
    const source = tf.tidy(() => tf.slice(grey, [0, 0, 0, 0], [1, 16, 1, 1]).dataSync());
    expectClose(firstColumn, source, 1e-5);
    tf.dispose([seq, f7, expected, edge, e7]);
  });

  it('zoom_blur and gaussian_blur drift away from the clean image frame by frame; spatter only adds liquid', () => {
    for (const type of ['zoom_blur', 'gaussian_blur'] as const) {
      const seq = perturbationSequence(images, type);
      const d = [0, 3, 6, 9].map((t) => { const f = frameOf(seq, t); const v = maxAbsDiff(f.dataSync(), images.dataSync()); f.dispose(); return v; });
      for (let k = 1; k < d.length; k++) expect(d[k]!, `${type}: ${d.join(', ')}`).toBeGreaterThan(d[k - 1]!);
      seq.dispose();
    }
    const spatter = perturbationSequence(images, 'spatter', { seed: 2, referenceSize: 64 });
    const diff = tf.tidy(() => tf.min(tf.sub(spatter, tf.expandDims(images, 1))).dataSync()[0]!);
    expect(diff).toBeGreaterThanOrEqual(-1e-6);
    spatter.dispose();
  });

  describe('rejects bad input', () => {
    it('unknown type, frames, indexing, fill, seed and unknown options', () => {
      expect(() => perturbationSequence(images, 'wobble' as PerturbationType)).toThrow(InvalidArgumentError);
      expect(() => perturbationSequence(images, 'wobble' as PerturbationType)).toThrow(/perturbationSequence: type must be one of 'gaussian_noise'/);
      expect(() => perturbationSequence(images, 'rotate', { frames: 1 })).toThrow(/options.frames must be a finite integer >= 2/);
      expect(() => perturbationSequence(images, 'rotate', { frames: 2.5 })).toThrow(/options.frames/);
      expect(() => perturbationSequence(images, 'rotate', { indexing: 'odd' as never })).toThrow(/options.indexing must be one of 'centered', 'paper'/);
      expect(() => perturbationSequence(images, 'rotate', { fill: 'wrap' as never })).toThrow(/options.fill/);
      expect(() => perturbationSequence(images, 'rotate', { seed: 1.5 })).toThrow(/options.seed/);
      expect(() => perturbationSequence(images, 'rotate', { frame: 3 } as never)).toThrow(/did you mean 'frames'/);
    });
    it('images outside [0, 1] or with 2 channels', () => {
      const big = tf.fill([1, 4, 4, 1], 1.5);
      const two = tf.zeros([1, 4, 4, 2]);
      expect(() => perturbationSequence(big as tf.Tensor4D, 'rotate')).toThrow(/clip range \[0, 1\]/);
      expect(() => perturbationSequence(two as tf.Tensor4D, 'rotate')).toThrow(/channels/);
      tf.dispose([big, two]);
    });
  });

  it('leaks no tensors', async () => {
    for (const type of PERTURBATION_TYPES) await expectNoLeak(() => perturbationSequence(grey, type, { frames: 3, seed: 1 }));
  });
});
