import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError, ShardMergeError } from '../../src/errors.js';
import { evaluateWorstCase, type EvaluateWorstCaseOptions, type WorstCaseAttack, type WorstCaseBatch, type WorstCaseReport } from '../../src/metrics/evaluateWorstCase.js';
import { mergeShards } from '../../src/shard/mergeShards.js';
import { mergeWorstCase } from '../../src/shard/mergeWorstCase.js';
import { BACKENDS, useTestBackend } from '../helpers/backends.js';
import { expectNoLeak } from '../helpers/expectNoLeak.js';
import { buildSmallNet, trainNet } from '../helpers/smallNet.js';
import { toyMultiLabel, toySingleLabel, type ToySet } from '../helpers/toyData.js';

/** Every kind of attack (batch-independence of each is what sharding relies on), with few steps. */
const ATTACKS: WorstCaseAttack[] = [
  { attack: 'pgd', steps: 4 },
  { attack: 'apgd-ce', steps: 6 },
  { attack: 'apgd-t', steps: 4, targets: 2 },
  { attack: 'noise', draws: 4 },
  { attack: 'square', queries: 30 },
];
/** Uneven batches over 13 images: shards regroup rows across batch borders. */
const SIZES = [5, 5, 3];

function batchesOf(set: ToySet, sizes: readonly number[], mask?: tf.Tensor4D): WorstCaseBatch[] {
  let at = 0;
  return sizes.map((k) => {
    const b: WorstCaseBatch = {
      images: tf.slice(set.images, [at, 0, 0, 0], [k, -1, -1, -1]) as tf.Tensor4D,
      labels: tf.slice(set.labels, at, k),
      ...(mask ? { mask: tf.slice(mask, [at, 0, 0, 0], [k, -1, -1, -1]) as tf.Tensor4D } : {}),
    };
    at += k;
    return b;
  });
}

const free = (bs: WorstCaseBatch[]): void => bs.forEach((b) => tf.dispose([b.images, b.labels, ...(b.mask ? [b.mask] : [])]));

/** The report without its timings (the only fields a merge does not reproduce). */
function untimed(r: WorstCaseReport): unknown {
  const strip = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(strip);
    if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).filter(([k]) => k !== 'seconds').map(([k, x]) => [k, strip(x)]));
    return v;
  };
  return strip(r);
}

async function shards(model: tfl.LayersModel, data: WorstCaseBatch[], options: EvaluateWorstCaseOptions, count: number): Promise<WorstCaseReport[]> {
  const out: WorstCaseReport[] = [];
  for (let index = 0; index < count; index++) out.push(await evaluateWorstCase(model, data, { ...options, shard: { index, count } }));
  return out;
}

describe.each(BACKENDS)('evaluateWorstCase shards and mergeWorstCase on %s', (backend) => {
  let single: ToySet;
  let multi: ToySet;
  let net: tfl.LayersModel;
  let mnet: tfl.LayersModel;
  beforeAll(async () => {
    await useTestBackend(backend);
    const train = toySingleLabel({ n: 64, classes: 4, seed: 1 });
    single = toySingleLabel({ n: 13, classes: 4, seed: 2 });
    net = buildSmallNet({ inputShape: [8, 8, 1], outputs: 4, kind: 'mlp' });
    trainNet(net, train.images, train.labels, { steps: 60 });
    tf.dispose([train.images, train.labels]);
    multi = toyMultiLabel({ n: 13, seed: 3 });
    mnet = buildSmallNet({ inputShape: multi.images.shape.slice(1) as [number, number, number], outputs: multi.labels.shape[1]!, kind: 'mlp' });
    trainNet(mnet, multi.images, multi.labels, { steps: 60, task: 'multi-label' });
  });
  afterAll(() => {
    net.dispose();
    mnet.dispose();
    tf.dispose([single.images, single.labels, multi.images, multi.labels]);
  });

  it('single-label, with the checks: 1, 2 and 3 shards merged equal the unsharded report (timings aside)', async () => {
    const data = batchesOf(single, SIZES);
    const options: EvaluateWorstCaseOptions = { epsilon: [0.05, 0.3], attacks: ATTACKS, seed: 7 };
    const whole = await evaluateWorstCase(net, data, options);
    expect(whole.shard).toEqual({ index: 0, count: 1 });
    expect(whole.records.positions).toEqual(Array.from({ length: 13 }, (_, p) => p));
    // Some images broken and some robust, so the merge has something to interleave.
    expect(whole.rows[1]!.robustCount).toBeLessThan(whole.counted);
    for (const count of [1, 2, 3]) {
      const parts = await shards(net, data, options, count);
      parts.forEach((p, k) => {
        expect(p.shard).toEqual({ index: k, count });
        expect(p.records.positions).toEqual(Array.from({ length: 13 }, (_, i) => i).filter((i) => i % count === k));
        expect(p.warnings.filter((w) => whole.records.checkWarnings.some((x) => x.code === w.code)).length).toBeGreaterThanOrEqual(whole.records.checkWarnings.length);
      });
      const merged = mergeWorstCase([...parts].reverse());
      expect(untimed(merged)).toEqual(untimed(whole));
    }
    free(data);
  });

  it('multi-label with a goal and a per-image mask: 2 and 3 shards merged equal the unsharded report (AUROC, AP, Hamming from all records)', async () => {
    const [n, h, w] = multi.images.shape;
    const mask = tf.tidy(() => tf.pad(tf.ones([n, h / 2, w, 1]), [[0, 0], [0, h / 2], [0, 0], [0, 0]]) as tf.Tensor4D);
    const data = batchesOf(multi, SIZES, mask);
    const options: EvaluateWorstCaseOptions = { epsilon: 0.2, task: 'multi-label', goal: 'flip-any', attacks: ATTACKS.filter((a) => a.attack !== 'apgd-t'), seed: 3, checks: false };
    const whole = await evaluateWorstCase(mnet, data, options);
    expect(whole.clean.perLabel).toBeDefined();
    for (const count of [2, 3]) {
      const merged = mergeWorstCase(await shards(mnet, data, options, count));
      expect(untimed(merged)).toEqual(untimed(whole));
      expect(merged.rows[0]!.perLabel).toEqual(whole.rows[0]!.perLabel);
    }
    free(data);
    mask.dispose();
  });

  it('refuses a missing, a duplicated, a differently configured and a foreign shard, naming them', async () => {
    const data = batchesOf(single, SIZES);
    const options: EvaluateWorstCaseOptions = { epsilon: 0.1, version: 'cheap', seed: 1, checks: false };
    const parts = await shards(net, data, options, 3);
    const other = await evaluateWorstCase(net, data, { ...options, seed: 2, shard: { index: 1, count: 3 } });
    const half = await evaluateWorstCase(net, data, { ...options, shard: { index: 1, count: 2 } });
    free(data);
    const refusal = (f: () => unknown): ShardMergeError => {
      try {
        f();
      } catch (err) {
        expect(err).toBeInstanceOf(ShardMergeError);
        return err as ShardMergeError;
      }
      throw new Error('not refused');
    };
    let e = refusal(() => mergeWorstCase([parts[0]!, parts[2]!]));
    expect([e.problem, e.missing]).toEqual(['missing', [1]]);
    expect(e.message).toMatch(/^mergeWorstCase: shard 1 of 3 is missing/);
    e = refusal(() => mergeWorstCase([parts[0]!, parts[1]!, parts[1]!, parts[2]!]));
    expect([e.problem, e.duplicated]).toEqual(['duplicated', [1]]);
    e = refusal(() => mergeWorstCase([parts[0]!, other, parts[2]!]));
    expect([e.problem, e.shards]).toEqual(['config', [1]]);
    e = refusal(() => mergeWorstCase([parts[0]!, half, parts[2]!]));
    expect([e.problem, e.shards]).toEqual(['count', [1]]);
    const trimmed = { ...parts[2]!, records: { ...parts[2]!.records, positions: parts[2]!.records.positions.slice(1) } };
    e = refusal(() => mergeWorstCase([parts[0]!, parts[1]!, trimmed]));
    expect([e.problem, e.shards]).toEqual(['records', [2]]);
    // The same reports as shard results: mergeShards delegates to the worst-case merge and checks their form.
    const viaShards = mergeShards(parts.map((r) => ({ shard: r.shard, config: { run: 1 }, results: { 'worst-case': r } })));
    expect(untimed(viaShards.results['worst-case'] as WorstCaseReport)).toEqual(untimed(mergeWorstCase(parts)));
    const broken = { ...parts[0]!, records: { ...parts[0]!.records, tallies: [] } };
    expect(() => mergeShards([{ shard: parts[0]!.shard, config: {}, results: { wc: broken } }])).toThrow(/mergeShards: shards\[0\]\.results\["wc"\]\.records\.tallies must be a report of evaluateWorstCase/);
    e = refusal(() => mergeShards([parts[0]!, parts[2]!].map((r) => ({ shard: r.shard, config: {}, results: { wc: r } }))));
    expect([e.problem, e.missing]).toEqual(['missing', [1]]);
    expect(() => mergeWorstCase([])).toThrow(InvalidArgumentError);
    expect(() => mergeWorstCase([{ rows: [] } as unknown as WorstCaseReport])).toThrow(/mergeWorstCase: reports\[0\] must be a report of evaluateWorstCase with its records/);
  });

  it('validates options.shard with typed errors, and a shard beyond the data set holds no images', async () => {
    const data = batchesOf(single, SIZES);
    const run = (shard: unknown) => evaluateWorstCase(net, data, { epsilon: 0.1, version: 'cheap', seed: 1, checks: false, shard } as EvaluateWorstCaseOptions);
    await expect(run({ index: 2, count: 2 })).rejects.toThrow(/evaluateWorstCase: options.shard.index must be/);
    await expect(run({ index: -1, count: 2 })).rejects.toThrow(InvalidArgumentError);
    await expect(run({ index: 0, count: 0 })).rejects.toThrow(/options.shard.count/);
    await expect(run({ index: 0.5, count: 2 })).rejects.toThrow(InvalidArgumentError);
    await expect(run('0/2')).rejects.toThrow(/options.shard must be a shard \{ index, count \}/);
    await expect(run({ index: 0, count: 2, of: 3 })).rejects.toThrow(InvalidArgumentError);
    const empty = await run({ index: 15, count: 16 });
    expect(empty.n).toBe(0);
    expect(empty.records.total).toBe(13);
    expect(empty.rows[0]!.robustAccuracy).toBeNaN();
    free(data);
  });

  it('does not leak, sharded with every attack and a shared mask, nor when it throws', async () => {
    const data = batchesOf(single, SIZES);
    const mask = tf.tidy(() => tf.pad(tf.ones([1, 4, 8, 1]), [[0, 0], [2, 2], [0, 0], [0, 0]]) as tf.Tensor4D);
    const withMask = data.map((b) => ({ ...b, mask }));
    await expectNoLeak(() => evaluateWorstCase(net, withMask, { epsilon: [0.1, 0.2], attacks: ATTACKS, seed: 1, shard: { index: 1, count: 2 } }));
    await expectNoLeak(async () => {
      await expect(evaluateWorstCase(net, withMask, { epsilon: 0.1, attacks: ATTACKS, seed: 1, shard: { index: 1, count: 2 }, signal: AbortSignal.abort() })).rejects.toThrow();
    });
    await expectNoLeak(async () => {
      expect(() => mergeWorstCase([])).toThrow(InvalidArgumentError);
    });
    free(data);
    mask.dispose();
  });
});
