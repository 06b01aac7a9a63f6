/**
 * Deterministic shards of a data set, for evaluations split over processes or machines and merged
 * exactly afterwards (see `mergeShards`).
 *
 * **Assignment: strided by position.** Shard `{ index: i, count: n }` holds the images whose 0-based
 * position p in the data set (counted over the batches in order) satisfies p mod n = i. Strided
 * rather than contiguous because:
 * - a shard needs no data-set size up front, so streamed data (a factory reading files lazily) can be
 *   sharded as it is read, and every shard learns the total when the stream ends;
 * - the shards stay balanced when the cost per image varies along the data set (a data set sorted by
 *   class; an evaluation that attacks only the images still robust);
 * - any shard can be rerun alone: its images depend only on (i, n) and the data's order.
 * A shard regroups its images into batches as large as the data's first batch, so it computes on
 * full batches; the evaluations are batch-independent, so a sample's result does not depend on
 * the batch (or the shard) it lands in.
 *
 * **Per-sample seeds.** {@link sampleSeed} derives a seed from (run seed, position, stream ids):
 * a random corruption or perturbation sequence of an image is the same whatever its batch or shard.
 *
 * Reused by every sharded evaluation (robustness, corruptions, perturbations; the worst-case
 * evaluation uses {@link inShard} on each whole batch).
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import { InvalidArgumentError } from '../errors.js';
import type { BatchInput, Shard } from '../types.js';
import { iterateBatches } from './batches.js';
import { assertKnownKeys, assertNumber, describeValue } from './validate.js';

/** The whole data set as one shard. */
export const WHOLE: Shard = Object.freeze({ index: 0, count: 1 });

/** Validates `{ index, count }` (integers, 0 ≤ index < count); undefined is the whole data set. */
export function assertShard(fn: string, argument: string, value: unknown): Shard {
  if (value === undefined) return WHOLE;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidArgumentError(fn, argument, 'a shard { index, count } with integers 0 ≤ index < count', describeValue(value));
  }
  const o = value as Record<string, unknown>;
  assertKnownKeys(fn, o, ['index', 'count'], argument);
  const count = assertNumber(fn, `${argument}.count`, o.count, { integer: true, min: 1, max: 2 ** 31 - 1 });
  const index = assertNumber(fn, `${argument}.index`, o.index, { integer: true, min: 0, max: count - 1 });
  return { index, count };
}

/** True when the image at data-set `position` belongs to `shard`. */
export function inShard(position: number, shard: Shard): boolean {
  return position % shard.count === shard.index;
}

/** The positions of `shard` in a data set of `total` images, ascending. */
export function shardPositions(total: number, shard: Shard): number[] {
  const out: number[] = [];
  for (let p = shard.index; p < total; p += shard.count) out.push(p);
  return out;
}

/** The shard that holds `position` among `count` shards. */
export function shardOf(position: number, count: number): number {
  return position % count;
}

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A 32-bit id of a name (FNV-1a), for {@link sampleSeed} streams named by a type (`'fog'`). */
export function streamId(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * The seed of one image's randomness: a hash (MurmurHash3's finaliser, chained) of the run's seed,
 * the image's data-set position and any stream ids (a corruption type and severity), as a 31-bit
 * integer for `createRng` or a tf.random op. Independent of batches and shards by construction.
 */
export function sampleSeed(seed: number, position: number, ...streams: number[]): number {
  let h = fmix32((seed >>> 0) ^ 0x9e3779b9);
  const words = [position >>> 0, Math.floor(position / 2 ** 32) >>> 0, ...streams.map((s) => s >>> 0)];
  for (const w of words) h = fmix32((h ^ fmix32((w + 0x632be5ab) >>> 0)) + 0x7f4a7c15);
  return h & 0x7fffffff;
}

/** A batch of a shard: its images (and labels), where they came from, and who disposes them. */
export interface ShardBatch {
  /** NHWC images of this shard's samples. */
  images: tf.Tensor4D;
  /** Their labels (undefined when the source batches have none). */
  labels: tf.Tensor | undefined;
  /** The data-set position of each image, ascending. */
  positions: number[];
  /** The source batches, for messages: `data[3]`, or `data[3..5]` when regrouped. */
  where: string;
  /** True when the consumer must free the batch with {@link releaseShardBatch} (also on error). */
  owned: boolean;
  /** The source batch itself when it is yielded whole (its every tensor is freed on release). */
  source?: unknown;
  /** Source batches read so far (for progress). */
  read: number;
}

/** A source batch as the evaluation's own check accepts it. */
export interface CheckedBatch {
  images: tf.Tensor4D;
  labels?: tf.Tensor;
}

export interface ShardBatchesOptions {
  /** Validates a source batch (throws a typed error naming `data[index]`); returns its tensors. */
  check: (batch: unknown, index: number) => CheckedBatch;
  /** Dispose the source batches after use: default the {@link BatchInput} rule (arrays borrowed, streams owned). */
  dispose?: boolean;
}

/** Filled in while {@link shardBatches} runs: the images read so far, all shards together. */
export interface ShardCounter {
  total: number;
  batches: number;
}

const disposeSource = (batch: unknown): void => {
  if (typeof batch !== 'object' || batch === null) return;
  const b = batch as { images?: unknown; labels?: unknown };
  if (b.images instanceof tf.Tensor) b.images.dispose();
  if (b.labels instanceof tf.Tensor) b.labels.dispose();
};

/**
 * Yields the batches of `shard` from a {@link BatchInput} read once (a factory is called with epoch 0).
 * The whole data set (`count` 1) yields the source batches themselves, borrowed or owned by the
 * {@link BatchInput} rule. A shard gathers its rows of every source batch into fresh tensors and
 * yields them in groups of at least the first batch's size (a group is cut early where the image or
 * label shape changes); the source batches are disposed as the rule says, as soon as they are read.
 * On error or early exit everything it still holds is freed. `counter.total` ends as the data-set size.
 */
export async function* shardBatches(fn: string, data: BatchInput<unknown>, shard: Shard, options: ShardBatchesOptions, counter: ShardCounter): AsyncGenerator<ShardBatch> {
  counter.total = 0;
  counter.batches = 0;
  let pending: { images: tf.Tensor4D[]; labels: tf.Tensor[]; positions: number[]; from: number; to: number } | undefined;
  let target = 0;
  const flush = (): ShardBatch | undefined => {
    if (!pending || pending.positions.length === 0) return undefined;
    const p = pending;
    pending = undefined;
    const parts = [...p.images, ...p.labels];
    let images: tf.Tensor4D | undefined;
    let labels: tf.Tensor | undefined;
    try {
      images = p.images.length === 1 ? p.images[0]! : tf.concat(p.images, 0);
      labels = p.labels.length === 0 ? undefined : p.labels.length === 1 ? p.labels[0]! : tf.concat(p.labels, 0);
    } catch (err) {
      tf.dispose([...parts, ...(images ? [images] : [])]);
      throw err;
    }
    tf.dispose(parts.filter((t) => t !== images && t !== labels));
    return { images: images!, labels, positions: p.positions, where: p.from === p.to ? `data[${p.from}]` : `data[${p.from}..${p.to}]`, owned: true, read: counter.batches };
  };
  try {
    for await (const { batch, owned } of iterateBatches<unknown>(fn, 'data', data, 0)) {
      const index = counter.batches;
      const dispose = options.dispose ?? owned;
      let handedOver = false;
      try {
        const { images, labels } = options.check(batch, index);
        const n = images.shape[0];
        const offset = counter.total;
        counter.total += n;
        counter.batches += 1;
        if (shard.count === 1) {
          handedOver = true;
          yield { images, labels, positions: Array.from({ length: n }, (_, i) => offset + i), where: `data[${index}]`, owned: dispose, source: batch, read: counter.batches };
          continue;
        }
        if (target === 0) target = n;
        const rows: number[] = [];
        for (let i = (shard.index - (offset % shard.count) + shard.count) % shard.count; i < n; i += shard.count) rows.push(i);
        if (rows.length === 0) continue;
        const compatible = pending !== undefined && sameShape(pending.images[0]!, images, 1) && (labels === undefined ? pending.labels.length === 0 : pending.labels.length > 0 && sameShape(pending.labels[0]!, labels, 1) && pending.labels[0]!.dtype === labels.dtype);
        if (pending !== undefined && !compatible) {
          const out = flush();
          if (out) yield out;
        }
        pending ??= { images: [], labels: [], positions: [], from: index, to: index };
        const at = tf.tensor1d(rows, 'int32');
        try {
          pending.images.push(tf.gather(images, at) as tf.Tensor4D);
          if (labels) pending.labels.push(tf.gather(labels, at));
        } finally {
          at.dispose();
        }
        pending.to = index;
        for (const r of rows) pending.positions.push(offset + r);
        if (pending.positions.length >= target) {
          const out = flush();
          if (out) yield out;
        }
      } finally {
        // A yielded whole-data batch belongs to the consumer from the yield on (it disposes it when owned).
        if (dispose && !handedOver) disposeSource(batch);
      }
    }
    const out = flush();
    if (out) yield out;
  } finally {
    if (pending) tf.dispose([...pending.images, ...pending.labels]);
  }
}

function sameShape(a: tf.Tensor, b: tf.Tensor, from: number): boolean {
  return a.rank === b.rank && a.shape.every((d, i) => i < from || d === b.shape[i]);
}

/** Frees a yielded batch when the consumer owns it (a whole source batch: its images and labels). */
export function releaseShardBatch(batch: ShardBatch): void {
  if (!batch.owned) return;
  if (batch.source !== undefined) disposeSource(batch.source);
  else {
    batch.images.dispose();
    batch.labels?.dispose();
  }
}

/**
 * Which shard indices of `count` the given shards cover: where each index stands among them (`at`), the
 * indices given more than once (ascending), and those given none.
 */
export function shardCoverage(indices: readonly number[], count: number): { at: Map<number, number[]>; duplicated: number[]; missing: number[] } {
  const at = new Map<number, number[]>();
  indices.forEach((index, i) => at.set(index, [...(at.get(index) ?? []), i]));
  const duplicated = [...at.entries()].filter(([, where]) => where.length > 1).map(([index]) => index).sort((a, b) => a - b);
  const missing: number[] = [];
  for (let k = 0; k < count; k++) if (!at.has(k)) missing.push(k);
  return { at, duplicated, missing };
}
