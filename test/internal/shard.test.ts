import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/errors.js';
import { assertShard, inShard, releaseShardBatch, sampleSeed, shardBatches, shardOf, shardPositions, streamId, type ShardCounter } from '../../src/internal/shard.js';
import { BACKENDS, useTestBackend } from '../helpers/backends.js';
import { expectNoLeak } from '../helpers/expectNoLeak.js';

const check = (batch: unknown) => batch as { images: tf.Tensor4D; labels: tf.Tensor };

/** Batches of the given sizes whose pixel value is the image's position (labels = position too). */
function numbered(sizes: readonly number[]): { images: tf.Tensor4D; labels: tf.Tensor1D }[] {
  let at = 0;
  return sizes.map((n) => {
    const ids = Array.from({ length: n }, (_, i) => at + i);
    at += n;
    return { images: tf.tidy(() => tf.tile(tf.reshape(tf.tensor1d(ids), [n, 1, 1, 1]), [1, 2, 2, 1]) as tf.Tensor4D), labels: tf.tensor1d(ids, 'int32') };
  });
}

describe('shard assignment and per-sample seeds', () => {
  it('the shards partition the positions: each exactly once, strided, balanced within one', () => {
    for (const [total, count] of [[13, 7], [100, 3], [5, 8], [1, 1]] as const) {
      const all = Array.from({ length: count }, (_, index) => shardPositions(total, { index, count }));
      expect(all.flat().sort((a, b) => a - b)).toEqual(Array.from({ length: total }, (_, p) => p));
      const sizes = all.map((s) => s.length);
      expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
      all.forEach((positions, index) => positions.forEach((p) => {
        expect(inShard(p, { index, count })).toBe(true);
        expect(shardOf(p, count)).toBe(index);
      }));
    }
  });

  it('sampleSeed is a pure 31-bit function of (seed, position, streams) that separates its inputs', () => {
    const seeds = new Set<number>();
    for (let p = 0; p < 2000; p++) {
      const s = sampleSeed(7, p, streamId('fog'), 3);
      expect(s).toBe(sampleSeed(7, p, streamId('fog'), 3));
      expect(Number.isInteger(s) && s >= 0 && s < 2 ** 31).toBe(true);
      seeds.add(s);
    }
    expect(seeds.size).toBe(2000);
    expect(sampleSeed(7, 1, 5)).not.toBe(sampleSeed(8, 1, 5));
    expect(sampleSeed(7, 1, 5)).not.toBe(sampleSeed(7, 1, 6));
    expect(sampleSeed(7, 1, 5, 1)).not.toBe(sampleSeed(7, 1, 5, 2));
    expect(sampleSeed(7, 2 ** 32 + 1)).not.toBe(sampleSeed(7, 1));
    expect(streamId('fog')).not.toBe(streamId('frost'));
  });

  it('assertShard validates and names the argument', () => {
    expect(assertShard('f', 'options.shard', undefined)).toEqual({ index: 0, count: 1 });
    expect(assertShard('f', 'options.shard', { index: 2, count: 3 })).toEqual({ index: 2, count: 3 });
    expect(() => assertShard('f', 'options.shard', { index: 3, count: 3 })).toThrow(InvalidArgumentError);
    expect(() => assertShard('f', 'options.shard', null)).toThrow(/f: options\.shard must be a shard \{ index, count \}/);
    expect(() => assertShard('f', 'options.shard', { index: 0, count: 2, idx: 1 })).toThrow(/options\.shard\.idx/);
    expect(() => assertShard('f', 'options.shard', { index: 0, count: Number.NaN })).toThrow(/options\.shard\.count/);
  });
});

describe.each(BACKENDS)('shardBatches (%s)', (backend) => {
  beforeAll(() => useTestBackend(backend));

  it('yields each shard its images, regrouped to the first batch size, with their positions', async () => {
    const data = numbered([4, 4, 4, 1]);
    try {
      for (const count of [1, 2, 3, 7]) {
        const seen: number[] = [];
        for (let index = 0; index < count; index++) {
          const counter: ShardCounter = { total: 0, batches: 0 };
          const groups: number[] = [];
          for await (const b of shardBatches('t', data, { index, count }, { check }, counter)) {
            const ids = Array.from(b.images.dataSync()).filter((_, i) => i % 4 === 0);
            expect(ids).toEqual(b.positions);
            expect(Array.from(b.labels!.dataSync())).toEqual(b.positions);
            expect(b.positions.every((p) => p % count === index)).toBe(true);
            groups.push(b.positions.length);
            expect(b.owned).toBe(count > 1);
            seen.push(...b.positions);
            releaseShardBatch(b);
          }
          expect(counter).toEqual({ total: 13, batches: 4 });
          // groups of at least the first batch's size (4), but the last
          if (count > 1) expect(groups.slice(0, -1).every((g) => g >= 4)).toBe(true);
          else expect(groups).toEqual([4, 4, 4, 1]);
        }
        expect(seen.sort((a, b) => a - b)).toEqual(Array.from({ length: 13 }, (_, p) => p));
      }
      expect(data.every((b) => !b.images.isDisposed && !b.labels.isDisposed)).toBe(true);
    } finally {
      tf.dispose(data.flatMap((b) => [b.images, b.labels]));
    }
  });

  it('cuts a group where the image shape changes', async () => {
    const a = numbered([3]);
    const b = { images: tf.zeros([3, 3, 3, 1]) as tf.Tensor4D, labels: tf.tensor1d([3, 4, 5], 'int32') };
    const groups: number[][] = [];
    await expectNoLeak(async () => {
      for await (const part of shardBatches('t', [...a, b], { index: 0, count: 2 }, { check }, { total: 0, batches: 0 })) {
        groups.push(part.positions);
        releaseShardBatch(part);
      }
    });
    expect(groups).toEqual([[0, 2], [4]]);
    tf.dispose([a[0]!.images, a[0]!.labels, b.images, b.labels]);
  });

  it('disposes streamed batches as it reads them, and everything it holds on early exit or error', async () => {
    const made: tf.Tensor[] = [];
    async function* stream() {
      for (const b of numbered([4, 4, 4])) { made.push(b.images, b.labels); yield b; }
    }
    await expectNoLeak(async () => {
      for await (const part of shardBatches('t', stream(), { index: 1, count: 5 }, { check }, { total: 0, batches: 0 })) {
        releaseShardBatch(part);
        break;
      }
    });
    await expectNoLeak(async () => {
      const failing = (batch: unknown, i: number) => { if (i === 2) throw new InvalidArgumentError('t', `data[${i}]`, 'ok', 'bad'); return check(batch); };
      await expect((async () => {
        for await (const part of shardBatches('t', stream(), { index: 0, count: 2 }, { check: failing }, { total: 0, batches: 0 })) releaseShardBatch(part);
      })()).rejects.toThrow(/t: data\[2\] must be ok/);
    });
    // a whole-data stream (count 1) hands its batches over: the consumer frees them
    await expectNoLeak(async () => {
      for await (const part of shardBatches('t', stream(), { index: 0, count: 1 }, { check }, { total: 0, batches: 0 })) {
        expect(part.owned).toBe(true);
        releaseShardBatch(part);
      }
    });
    expect(made.every((t) => t.isDisposed)).toBe(true);
  });
});
