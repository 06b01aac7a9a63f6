import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evaluatePerturbations } from '../../src/corruptions/evaluatePerturbations.js';
import { flipProbability } from '../../src/corruptions/flipProbability.js';
import { PERTURBATION_TYPES, perturbationSequence } from '../../src/corruptions/perturbationSequence.js';
import { AbortError, InvalidArgumentError } from '../../src/errors.js';
import { sampleSeed, streamId } from '../../src/internal/shard.js';
import type { ModelFn } from '../../src/types.js';
import { BACKENDS, useTestBackend } from '../helpers/backends.js';
import { expectNoLeak } from '../helpers/expectNoLeak.js';
import { texturedImages } from './images.js';

/** Two logits per image from its mean brightness and its left-right balance: sensitive to most perturbations. */
const model: ModelFn = (x) => tf.tidy(() => {
  const [, , w] = x.shape;
  const half = Math.floor(w / 2);
  const left = tf.mean(tf.slice(x, [0, 0, 0, 0], [-1, -1, half, -1]), [1, 2, 3]);
  const right = tf.mean(tf.slice(x, [0, 0, half, 0], [-1, -1, w - half, -1]), [1, 2, 3]);
  return tf.stack([tf.mul(tf.sub(left, right), 200), tf.mul(tf.sub(tf.mean(x, [1, 2, 3]), 0.5), 200)], 1) as tf.Tensor2D;
});

describe.each(BACKENDS)('evaluatePerturbations on %s', (backend) => {
  let images: tf.Tensor4D;
  let labels: tf.Tensor1D;
  beforeAll(async () => {
    await useTestBackend(backend);
    images = texturedImages(3, 16, 3);
    labels = tf.tensor1d([0, 1, 0], 'int32');
  });
  afterAll(() => tf.dispose([images, labels]));

  it('equals flipProbability of the model on perturbationSequence with the replayed seeds', async () => {
    const types = ['rotate', 'gaussian_noise', 'brightness'] as const;
    for (const task of ['single-label', 'multi-label'] as const) {
      const table = await evaluatePerturbations(model, [{ images, labels }], { types, seed: 8, task, frames: 6 });
      expect(table.rows.map((r) => r.type)).toEqual(types);
      expect(table.sequences).toBe(3);
      for (const row of table.rows) {
        const seq = tf.tidy(() => tf.concat([0, 1, 2].map((i) => perturbationSequence(tf.slice(images, [i, 0, 0, 0], [1, -1, -1, -1]), row.type, { frames: 6, seed: sampleSeed(8, i, streamId(row.type)) }))) as tf.Tensor5D);
        const logits = tf.tidy(() => tf.reshape(model(tf.reshape(seq, [18, 16, 16, 3]) as tf.Tensor4D), [3, 6, 2]));
        expect(row.flipProbability, `${task} ${row.type}`).toBeCloseTo(flipProbability(logits, { task, type: row.type }), 12);
        expect(row.reference).toBe(row.type === 'gaussian_noise' ? 'first' : 'previous');
        tf.dispose([seq, logits]);
      }
      expect(table.meanFlipProbability).toBeCloseTo(table.rows.reduce((a, r) => a + r.flipProbability, 0) / 3, 12);
    }
  });

  it('a constant model never flips; multi-label paper FP is (n − 1)× the mean form for noise types', async () => {
    const constant: ModelFn = (x) => tf.tidy(() => tf.tile(tf.tensor2d([[1, -1]]), [x.shape[0], 1]) as tf.Tensor2D);
    const table = await evaluatePerturbations(constant, [{ images, labels }], { seed: 1, frames: 3 });
    expect(table.rows).toHaveLength(PERTURBATION_TYPES.length);
    for (const row of table.rows) expect(row.flipProbability).toBe(0);
    const mean = await evaluatePerturbations(model, [{ images, labels }], { seed: 3, task: 'multi-label', types: ['gaussian_noise'], frames: 5 });
    const paper = await evaluatePerturbations(model, [{ images, labels }], { seed: 3, task: 'multi-label', types: ['gaussian_noise'], frames: 5, multiLabel: 'paper' });
    expect(mean.rows[0]!.flipProbability).toBeGreaterThan(0);
    expect(paper.rows[0]!.flipProbability).toBeCloseTo(4 * mean.rows[0]!.flipProbability, 12);
  });

  it('disposes streamed batches, borrows arrays, and stops on abort', async () => {
    const batch = { images: tf.clone(images), labels: tf.clone(labels) };
    async function* stream() { yield batch; }
    await evaluatePerturbations(model, stream(), { types: ['scale'], frames: 3 });
    expect(batch.images.isDisposed && batch.labels.isDisposed).toBe(true);
    await evaluatePerturbations(model, [{ images, labels }], { types: ['scale'], frames: 3 });
    expect(images.isDisposed).toBe(false);
    const controller = new AbortController();
    controller.abort();
    await expect(evaluatePerturbations(model, [{ images, labels }], { signal: controller.signal })).rejects.toThrow(AbortError);
  });

  it('difficulty reaches the noise sequences and the frame distance of the flip probability', async () => {
    const table = await evaluatePerturbations(model, [{ images, labels }], { types: ['rotate', 'speckle_noise'], seed: 4, frames: 7, difficulty: 3 });
    expect(table.difficulty).toBe(3);
    for (const row of table.rows) {
      const seq = tf.tidy(() => tf.concat([0, 1, 2].map((i) => perturbationSequence(tf.slice(images, [i, 0, 0, 0], [1, -1, -1, -1]), row.type, { frames: 7, seed: sampleSeed(4, i, streamId(row.type)), difficulty: 3 }))) as tf.Tensor5D);
      const logits = tf.tidy(() => tf.reshape(model(tf.reshape(seq, [21, 16, 16, 3]) as tf.Tensor4D), [3, 7, 2]));
      expect(row.flipProbability, row.type).toBeCloseTo(flipProbability(logits, { type: row.type, difficulty: 3 }), 12);
      tf.dispose([seq, logits]);
    }
    await expect(evaluatePerturbations(model, [{ images, labels }], { frames: 3, difficulty: 3 })).rejects.toThrow(/options.frames must be a finite integer >= 4/);
  });

  describe('rejects bad input', () => {
    it.each([
      [{ types: ['wobble'] }, /options.types\[0\] must be one of/],
      [{ frames: 1 }, /options.frames/],
      [{ indexing: 'x' }, /options.indexing/],
      [{ multiLabel: 'sum' }, /options.multiLabel/],
      [{ threshold: 0 }, /options.threshold/],
      [{ frame: 3 }, /did you mean 'frames'/],
    ])('options %j', async (options, message) => {
      await expect(evaluatePerturbations(model, [{ images, labels }], options as never)).rejects.toThrow(message);
    });
    it('data', async () => {
      await expect(evaluatePerturbations(model, {} as never)).rejects.toThrow(InvalidArgumentError);
      const flat = tf.zeros([2, 2]);
      await expect(evaluatePerturbations(model, [{ images: flat as never, labels }])).rejects.toThrow(/rank-4/);
      flat.dispose();
    });
  });

  it('leaks no tensors', async () => {
    await expectNoLeak(() => evaluatePerturbations(model, [{ images, labels }], { types: ['snow', 'spatter', 'tilt'], frames: 3, seed: 1 }));
  });
});
