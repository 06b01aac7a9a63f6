import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { corrupt } from '../../src/corruptions/corrupt.js';
import { evaluateCorruptions } from '../../src/corruptions/evaluateCorruptions.js';
import { AbortError, InvalidArgumentError } from '../../src/errors.js';
import { sampleSeed, streamId } from '../../src/internal/shard.js';
import type { ModelFn } from '../../src/types.js';
import { BACKENDS, useTestBackend } from '../helpers/backends.js';
import { expectNoLeak } from '../helpers/expectNoLeak.js';
import { texturedImages } from './images.js';

/** Class 1 when the image is brighter than 0.5 on average: brightness flips it, contrast does not. */
const meanModel: ModelFn = (x) => tf.tidy(() => {
  const m = tf.mean(x, [1, 2, 3]);
  return tf.stack([tf.zerosLike(m), tf.mul(tf.sub(m, 0.5), 50)], 1) as tf.Tensor2D;
});
const constantModel: ModelFn = (x) => tf.tidy(() => tf.tile(tf.tensor2d([[0, 1, 0]]), [x.shape[0], 1]) as tf.Tensor2D);

describe.each(BACKENDS)('evaluateCorruptions on %s', (backend) => {
  let images: tf.Tensor4D;
  let labels: tf.Tensor1D;
  beforeAll(async () => {
    await useTestBackend(backend);
    images = tf.tidy(() => tf.concat([tf.mul(texturedImages(2, 16, 3), 0.8), tf.add(tf.mul(texturedImages(2, 16, 3, 3), 0.4), 0.55)]) as tf.Tensor4D); // means < .5, > .5
    labels = tf.tensor1d([0, 0, 1, 1], 'int32');
  });
  afterAll(() => tf.dispose([images, labels]));

  it('counts accuracy per type and severity as corrupt() + argmax would, with the documented summaries', async () => {
    const types = ['brightness', 'contrast', 'gaussian_noise'] as const;
    const table = await evaluateCorruptions(meanModel, [{ images, labels }], { types, seed: 11 });
    expect(table.images).toBe(4);
    expect(table.clean.accuracy).toBe(1);
    expect(table.rows.map((r) => `${r.type}/${r.severity}`)).toEqual(types.flatMap((t) => [1, 2, 3, 4, 5].map((s) => `${t}/${s}`)));
    // replay the seeds: one per image, type and severity (sampleSeed of the image's position)
    for (const row of table.rows) {
      const x = tf.tidy(() => tf.concat([0, 1, 2, 3].map((i) => corrupt(tf.slice(images, [i, 0, 0, 0], [1, -1, -1, -1]), row.type, { severity: row.severity, seed: sampleSeed(11, i, streamId(row.type), row.severity) }))) as tf.Tensor4D);
      const acc = tf.tidy(() => tf.mean(tf.cast(tf.equal(tf.argMax(meanModel(x), 1), labels), 'float32')).dataSync()[0]!);
      x.dispose();
      expect(row.accuracy, `${row.type}/${row.severity}`).toBeCloseTo(acc, 10);
      expect(row.error).toBeCloseTo(1 - row.accuracy, 12);
    }
    // brightness pushes the dark images over 0.5 at high severity; contrast keeps the mean
    expect(table.rows.find((r) => r.type === 'brightness' && r.severity === 5)!.accuracy).toBe(0.5);
    expect(table.byType.find((s) => s.type === 'contrast')!.meanError).toBe(0);
    for (const s of table.byType) {
      const errs = table.rows.filter((r) => r.type === s.type).map((r) => r.error);
      expect(s.meanError).toBeCloseTo(errs.reduce((a, e) => a + e, 0) / 5, 12);
      expect(s.relativeError).toBeCloseTo(s.meanError - table.clean.error, 12);
      expect(s.errorAuc).toBeCloseTo((errs[0]! / 2 + errs[1]! + errs[2]! + errs[3]! + errs[4]! / 2) / 4, 12);
    }
    expect(table.meanError).toBeCloseTo(table.byType.reduce((a, s) => a + s.meanError, 0) / 3, 12);
    expect(JSON.parse(JSON.stringify(table))).toEqual(table);
  });

  it('a model that ignores its input scores its clean accuracy everywhere; results replay with the seed', async () => {
    const mixed = tf.tensor1d([1, 1, 0, 2], 'int32');
    const table = await evaluateCorruptions(constantModel, [{ images, labels: mixed }], { seed: 2, severities: [1, 5] });
    mixed.dispose();
    for (const row of table.rows) expect(row.accuracy).toBe(0.5);
    expect(table.rows).toHaveLength(18 * 2);
    const a = await evaluateCorruptions(meanModel, [{ images, labels }], { seed: 5, types: ['snow', 'frost'] });
    const b = await evaluateCorruptions(meanModel, [{ images, labels }], { seed: 5, types: ['snow', 'frost'] });
    expect(a).toEqual(b);
  });

  it('borrows arrays, disposes streamed batches, and gives the same table for both', async () => {
    const slices = () => [0, 2].map((s) => ({ images: tf.slice(images, [s, 0, 0, 0], [2, -1, -1, -1]), labels: tf.slice(labels, [s], [2]) }));
    const array = slices();
    const fromArray = await evaluateCorruptions(meanModel, array, { seed: 4, types: ['fog'] });
    expect(array.every((b) => !b.images.isDisposed && !b.labels.isDisposed)).toBe(true);
    const streamed = slices();
    async function* stream() { yield* streamed; }
    const fromStream = await evaluateCorruptions(meanModel, stream(), { seed: 4, types: ['fog'] });
    expect(streamed.every((b) => b.images.isDisposed && b.labels.isDisposed)).toBe(true);
    expect(fromStream).toEqual(fromArray);
    tf.dispose(array.flatMap((b) => [b.images, b.labels]));
  });

  it('multi-label accuracy counts per-finding decisions at the threshold', async () => {
    const multi: ModelFn = (x) => tf.tidy(() => tf.stack([tf.mul(tf.sub(tf.mean(x, [1, 2, 3]), 0.5), 50), tf.fill([x.shape[0]], -3)], 1) as tf.Tensor2D);
    const truth = tf.tensor2d([[0, 0], [0, 1], [1, 0], [1, 1]]);
    const table = await evaluateCorruptions(multi, [{ images, labels: truth }], { task: 'multi-label', types: ['contrast'], severities: [1] });
    expect(table.clean.accuracy).toBe(6 / 8);
    expect(table.rows[0]!.accuracy).toBe(6 / 8);
    truth.dispose();
  });

  it('reports progress and stops on abort', async () => {
    const seen: number[] = [];
    await evaluateCorruptions(meanModel, [{ images, labels }, { images, labels }], { types: ['contrast'], severities: [1], onProgress: (p) => seen.push(p.done) });
    expect(seen).toEqual([1, 2]);
    const controller = new AbortController();
    controller.abort();
    await expect(evaluateCorruptions(meanModel, [{ images, labels }], { signal: controller.signal })).rejects.toThrow(AbortError);
  });

  describe('rejects bad input', () => {
    it.each([
      [{ types: ['blur'] }, /options.types\[0\] must be one of/],
      [{ types: [] }, /options.types must be a non-empty array/],
      [{ severities: [0] }, /options.severities\[0\] must be a finite integer >= 1 and <= 5/],
      [{ severities: [2, 2] }, /without repeated entries/],
      [{ task: 'multi' }, /options.task/],
      [{ seeds: 1 }, /did you mean 'seed'/],
      [{ onProgress: 3 }, /options.onProgress must be a function/],
    ])('options %j', async (options, message) => {
      await expect(evaluateCorruptions(meanModel, [{ images, labels }], options as never)).rejects.toThrow(message);
    });
    it('data, batches and labels', async () => {
      await expect(evaluateCorruptions(meanModel, 3 as never)).rejects.toThrow(InvalidArgumentError);
      await expect(evaluateCorruptions(meanModel, [])).rejects.toThrow(/at least one batch/);
      await expect(evaluateCorruptions(meanModel, [null as never])).rejects.toThrow(/data\[0\] must be a \{ images, labels \} batch/);
      const wrong = tf.tensor1d([0, 1], 'int32');
      await expect(evaluateCorruptions(meanModel, [{ images, labels: wrong }])).rejects.toThrow(/data\[0\].labels must be class indices \[4\]/);
      const oneHot = tf.tidy(() => tf.oneHot(tf.tensor1d([0, 0, 1, 1], 'int32'), 3));
      await expect(evaluateCorruptions(meanModel, [{ images, labels: oneHot }], { types: ['fog'] })).rejects.toThrow(/match the model's 2 outputs/);
      await expect(evaluateCorruptions('net' as never, [{ images, labels }])).rejects.toThrow(/model must be/);
      tf.dispose([wrong, oneHot]);
    });
  });

  it('leaks no tensors, also when it throws', async () => {
    await expectNoLeak(() => evaluateCorruptions(meanModel, [{ images, labels }], { types: ['shot_noise', 'glass_blur', 'elastic_transform'], severities: [2] }));
    const oneHot = tf.tidy(() => tf.oneHot(tf.tensor1d([0, 0, 1, 1], 'int32'), 3));
    await expectNoLeak(async () => { try { await evaluateCorruptions(meanModel, [{ images, labels: oneHot }], { types: ['fog'] }); } catch { /* expected */ } });
    oneHot.dispose();
  });
});
