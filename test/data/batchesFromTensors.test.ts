import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/errors.js';
import { batchesFromTensors } from '../../src/data/batchesFromTensors.js';
import type { Batch } from '../../src/types.js';
import { BACKENDS, useTestBackend } from '../helpers/backends.js';

async function pass(source: AsyncIterable<Batch>): Promise<{ ids: number[]; sizes: number[] }> {
  const ids: number[] = [];
  const sizes: number[] = [];
  for await (const b of source) {
    // image i is filled with the value i and its label is i: both must travel together
    const meanT = tf.mean(b.images, [1, 2, 3]);
    const img = await meanT.data();
    meanT.dispose();
    const lab = await b.labels.data();
    img.forEach((v, j) => expect(v).toBeCloseTo(lab[j]!, 5));
    ids.push(...Array.from(lab));
    sizes.push(b.images.shape[0]);
    tf.dispose([b.images, b.labels]);
  }
  return { ids, sizes };
}

describe.each(BACKENDS)('batchesFromTensors (%s)', (backend) => {
  beforeAll(() => useTestBackend(backend));
  const make = (): { images: tf.Tensor4D; labels: tf.Tensor1D } => ({
    images: tf.tidy(() => tf.mul(tf.ones([10, 2, 2, 1]), tf.reshape(tf.range(0, 10), [10, 1, 1, 1]))) as tf.Tensor4D,
    labels: tf.range(0, 10, 1, 'int32') as tf.Tensor1D,
  });

  it('visits every image once per pass, in order without shuffling', async () => {
    const { images, labels } = make();
    const r = await pass(batchesFromTensors(images, labels, { batchSize: 4 }));
    expect(r.ids).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(r.sizes).toEqual([4, 4, 2]);
    expect((await pass(batchesFromTensors(images, labels, { batchSize: 4, dropRemainder: true }))).sizes).toEqual([4, 4]);
    tf.dispose([images, labels]);
  });

  it('shuffles with a fresh permutation per pass, reproducible from the seed', async () => {
    const { images, labels } = make();
    const a = batchesFromTensors(images, labels, { batchSize: 3, shuffle: true, seed: 7 });
    const b = batchesFromTensors(images, labels, { batchSize: 3, shuffle: true, seed: 7 });
    const [a1, a2, b1, b2] = [await pass(a), await pass(a), await pass(b), await pass(b)];
    expect([...a1.ids].sort((x, y) => x - y)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(a1.ids).not.toEqual(a2.ids);
    expect(a1.ids).toEqual(b1.ids);
    expect(a2.ids).toEqual(b2.ids);
    tf.dispose([images, labels]);
  });

  it('called with an epoch, gives that epoch\'s order whatever came before: the k-th plain pass of a fresh source', async () => {
    const { images, labels } = make();
    const opts = { batchSize: 3, shuffle: true, seed: 7 };
    const plain = batchesFromTensors(images, labels, opts);
    const passes = [await pass(plain), await pass(plain), await pass(plain)];
    const keyed = batchesFromTensors(images, labels, opts);
    // Out of order, repeated, and on a source that was iterated before: only (seed, epoch) matters.
    expect((await pass(keyed(2))).ids).toEqual(passes[2]!.ids);
    expect((await pass(keyed(0))).ids).toEqual(passes[0]!.ids);
    expect((await pass(keyed(2))).ids).toEqual(passes[2]!.ids);
    await pass(keyed);
    expect((await pass(keyed(1))).ids).toEqual(passes[1]!.ids);
    expect(() => keyed(-1)).toThrow(/batchesFromTensors: epoch must be a whole number >= 0/);
    expect(() => keyed(1.5)).toThrow(InvalidArgumentError);
    tf.dispose([images, labels]);
  });

  it('does not leak when the consumer disposes each batch, and keeps its inputs', async () => {
    const { images, labels } = make();
    const before = tf.memory().numTensors;
    await pass(batchesFromTensors(images, labels, { batchSize: 4, shuffle: true, seed: 1 }));
    expect(tf.memory().numTensors).toBe(before);
    expect(images.isDisposed || labels.isDisposed).toBe(false);
    tf.dispose([images, labels]);
  });

  describe('rejects bad input', () => {
    it('mismatched counts, bad batch sizes, unknown options, disposed inputs', async () => {
      const { images, labels } = make();
      expect(() => batchesFromTensors(images, tf.zeros([3]) as tf.Tensor, {})).toThrow(/first dimension 10/);
      expect(() => batchesFromTensors(images, labels, { batchSize: 0 })).toThrow(InvalidArgumentError);
      expect(() => batchesFromTensors(images, labels, { batchsize: 2 } as never)).toThrow(/did you mean 'batchSize'/);
      expect(() => batchesFromTensors(tf.zeros([2, 2]) as never, labels)).toThrow(/rank-4/);
      const source = batchesFromTensors(images, labels);
      tf.dispose([images, labels]);
      await expect(pass(source)).rejects.toThrow(/disposed/);
    });
  });
});
