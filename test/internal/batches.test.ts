import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { batchesFromTensors } from '../../src/data/batchesFromTensors.js';
import { InvalidArgumentError } from '../../src/errors.js';
import { assertBatchInput, iterateBatches } from '../../src/internal/batches.js';
import type { Batch, BatchInput } from '../../src/types.js';
import { BACKENDS, useTestBackend } from '../helpers/backends.js';
import { expectNoLeak } from '../helpers/expectNoLeak.js';

const make = (v: number): Batch => ({ images: tf.fill([1, 2, 2, 1], v) as tf.Tensor4D, labels: tf.tensor1d([v], 'int32') });

/** Reads one epoch: the first image value of each batch and its ownership flag; disposes owned batches. */
async function readEpoch(input: BatchInput, epoch: number): Promise<Array<[number, boolean]>> {
  const out: Array<[number, boolean]> = [];
  for await (const { batch, owned } of iterateBatches('f', 'data', input, epoch)) {
    out.push([(await batch.labels.data())[0]!, owned]);
    if (owned) tf.dispose([batch.images, batch.labels]);
  }
  return out;
}

describe.each(BACKENDS)('iterateBatches on %s', (backend) => {
  beforeAll(() => useTestBackend(backend));

  it('borrows array batches: yielded in order, owned false, never disposed, every epoch', async () => {
    const arr = [make(1), make(2)];
    expect(await readEpoch(arr, 0)).toEqual([[1, false], [2, false]]);
    expect(await readEpoch(arr, 1)).toEqual([[1, false], [2, false]]);
    expect(arr.every((b) => !b.images.isDisposed && !b.labels.isDisposed)).toBe(true);
    tf.dispose(arr.flatMap((b) => [b.images, b.labels]));
  });

  it('hands over the batches of a sync iterable and an async iterable (owned true)', async () => {
    function* sync(): Generator<Batch> { yield make(3); yield make(4); }
    async function* stream(): AsyncGenerator<Batch> { yield make(5); }
    expect(await readEpoch(sync(), 0)).toEqual([[3, true], [4, true]]);
    expect(await readEpoch(stream(), 0)).toEqual([[5, true]]);
  });

  it('iterates a re-iterable source once per epoch (batchesFromTensors)', async () => {
    const x = tf.stack([make(0).images, make(0).images, make(0).images].map((t) => tf.squeeze(t, [0]))) as tf.Tensor4D;
    const y = tf.tensor1d([7, 8, 9], 'int32');
    const source = batchesFromTensors(x, y, { batchSize: 2 });
    expect(await readEpoch(source, 0)).toEqual([[7, true], [9, true]]);
    expect(await readEpoch(source, 1)).toEqual([[7, true], [9, true]]);
    tf.dispose([x, y]);
  });

  it('calls a factory once per epoch with the epoch index; its batches are owned', async () => {
    const calls: number[] = [];
    const factory = (epoch: number): Iterable<Batch> => { calls.push(epoch); return [make(10 + epoch)]; };
    expect(await readEpoch(factory, 0)).toEqual([[10, true]]);
    expect(await readEpoch(factory, 3)).toEqual([[13, true]]);
    expect(calls).toEqual([0, 3]);
  });

  it('stops asking a lazy source when the consumer stops early', async () => {
    let made = 0;
    function* lazy(): Generator<Batch> { for (let i = 0; i < 5; i++) { made++; yield make(i); } }
    for await (const { batch } of iterateBatches('f', 'data', lazy(), 0)) {
      tf.dispose([batch.images, batch.labels]);
      break;
    }
    expect(made).toBe(1);
  });

  it('rejects bad input', async () => {
    for (const bad of [null, undefined, 3, 'abc', { images: 1 }]) {
      expect(() => assertBatchInput('f', 'data', bad)).toThrow(InvalidArgumentError);
      await expect(readEpoch(bad as never, 0)).rejects.toThrow(/f: data must be an array of batches, an \(async\) iterable of batches, or a function/);
    }
    await expect(readEpoch((() => 42) as never, 2)).rejects.toThrow(/f: data\(epoch\) must be an iterable or async iterable of batches, received 42 for epoch 2/);
    expect(() => assertBatchInput('f', 'data', [])).not.toThrow();
  });

  it('leaks nothing: owned batches disposed by the consumer, borrowed ones left to the caller', async () => {
    await expectNoLeak(async () => {
      await readEpoch((e) => (async function* () { yield make(e); yield make(e + 1); })(), 1);
      function* sync(): Generator<Batch> { yield make(1); }
      await readEpoch(sync(), 0);
    });
    const arr = [make(1)];
    await expectNoLeak(() => readEpoch(arr, 0));
    tf.dispose([arr[0]!.images, arr[0]!.labels]);
  });
});
