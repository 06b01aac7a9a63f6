import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evaluateCorruptions } from '../../src/corruptions/evaluateCorruptions.js';
import { evaluatePerturbations } from '../../src/corruptions/evaluatePerturbations.js';
import { CORRUPTION_TYPES } from '../../src/corruptions/corruptionTypes.js';
import { PERTURBATION_TYPES } from '../../src/corruptions/perturbationSequence.js';
import { InvalidArgumentError, ShardMergeError } from '../../src/errors.js';
import { evaluateRobustness, type RobustnessAttack } from '../../src/metrics/evaluateRobustness.js';
import { canonicalJson, mergeShards, type ShardableReport, type ShardResult } from '../../src/shard/mergeShards.js';
import type { Batch, Shard } from '../../src/types.js';
import { BACKENDS, useTestBackend } from '../helpers/backends.js';
import { expectNoLeak } from '../helpers/expectNoLeak.js';
import { buildSmallNet } from '../helpers/smallNet.js';
import { texturedImages } from '../corruptions/images.js';

const N = 13;
/**
 * Perturbation types of the sequence tests: by default a noise type (flips against the first frame), a
 * geometric one and a random-field one (against the previous frame); every type with MEDROBUST_SLOW=1.
 */
const SLOW = process.env.MEDROBUST_SLOW === '1';
/** Shard counts: 2 and 7 by default, 1 too with MEDROBUST_SLOW=1. */
const COUNTS = SLOW ? [1, 2, 7] : [2, 7];
const SEQUENCE_TYPES = SLOW ? PERTURBATION_TYPES : (['gaussian_noise', 'rotate', 'snow'] as const);
const SIZES = [5, 5, 3];

/** Batches of `sizes` over the same 13 images and labels (slices: the caller disposes them). */
function batchesOf(images: tf.Tensor4D, labels: tf.Tensor, sizes: readonly number[]): Batch[] {
  let at = 0;
  return sizes.map((n) => {
    const b = { images: tf.slice(images, [at, 0, 0, 0], [n, -1, -1, -1]), labels: tf.slice(labels, [at], [n]) };
    at += n;
    return b;
  });
}

const shardsOf = (count: number): Shard[] => Array.from({ length: count }, (_, index) => ({ index, count }));
const part = (shard: Shard, report: ShardableReport, config: unknown = { run: 'test' }): ShardResult => ({ shard, config, results: { r: report } });

/** Bit-for-bit equality, −0 and NaN included (canonicalJson spells them out). */
function expectIdentical(a: unknown, b: unknown): void {
  expect(canonicalJson(a)).toBe(canonicalJson(b));
}

describe.each(BACKENDS)('sharded evaluations merge to the unsharded run (%s)', (backend) => {
  let net: tfl.LayersModel;
  let multiNet: tfl.LayersModel;
  let images: tf.Tensor4D;
  let labels: tf.Tensor1D;
  let multiHot: tf.Tensor2D;
  let batches: Batch[];
  let multiBatches: Batch[];
  const attacks: RobustnessAttack[] = [
    { name: 'FGSM', attack: 'fgsm', epsilons: [2 / 255, 8 / 255] },
    { name: 'PGD-3', attack: 'pgd', epsilons: [8 / 255], options: { steps: 3 } },
    { name: 'nudge', run: (_m, x) => tf.tidy(() => tf.clipByValue(tf.add(x, tf.mul(0.01, tf.sign(tf.sub(x, 0.5)))), 0, 1) as tf.Tensor4D) },
  ];
  beforeAll(async () => {
    await useTestBackend(backend);
    net = buildSmallNet({ inputShape: [16, 16, 3], outputs: 3, seed: 3 });
    multiNet = buildSmallNet({ inputShape: [16, 16, 3], outputs: 4, seed: 4 });
    images = texturedImages(N, 16, 3, 5);
    labels = tf.tensor1d([0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 1], 'int32');
    multiHot = tf.tensor2d(Array.from({ length: N }, (_, i) => [i % 2, (i >> 1) % 2, i % 3 === 0 ? 1 : 0, (i * 7) % 5 > 2 ? 1 : 0]));
    batches = batchesOf(images, labels, SIZES);
    let at = 0;
    multiBatches = SIZES.map((n) => {
      const b = { images: tf.slice(images, [at, 0, 0, 0], [n, -1, -1, -1]), labels: tf.slice(multiHot, [at, 0], [n, -1]) };
      at += n;
      return b;
    });
  });
  afterAll(() => {
    net.dispose();
    multiNet.dispose();
    tf.dispose([images, labels, multiHot, ...batches.flatMap((b) => [b.images, b.labels]), ...multiBatches.flatMap((b) => [b.images, b.labels])]);
  });

  it.each(COUNTS)('robustness (single- and multi-label) over %i shards equals the single run bit for bit', async (count) => {
    for (const [model, data, task] of [[net, batches, 'single-label'], [multiNet, multiBatches, 'multi-label']] as const) {
      const single = await evaluateRobustness(model, data, attacks, { seed: 5, task });
      const parts: ShardResult[] = [];
      for (const shard of shardsOf(count)) {
        const report = await evaluateRobustness(model, data, attacks, { seed: 5, task, shard });
        expect(report.shard).toEqual(shard);
        expect(report.samples.positions).toEqual(Array.from({ length: N }, (_, p) => p).filter((p) => p % count === shard.index));
        parts.push(part(shard, report));
      }
      const merged = mergeShards(parts.reverse()).results.r;
      expectIdentical(merged, single);
      expect(merged).toEqual(single);
      // the AUC is recomputed over all images, not averaged over the shards (a 1-2 image shard has none)
      const r = merged as typeof single;
      expect(r.clean.auc).not.toBeNaN();
      if (count === 7) expect(parts.some((p) => Number.isNaN((p.results.r as typeof single).clean.auc))).toBe(true);
      if (task === 'multi-label') expect(r.cooccurrence!.truth.length).toBe(4);
    }
  });

  it.each(COUNTS)('corruptions over %i shards equal the single run bit for bit', async (count) => {
    const options = { seed: 9, severities: [2, 5] as const };
    const single = await evaluateCorruptions(net, batches, options);
    const parts = [];
    for (const shard of shardsOf(count)) parts.push(part(shard, await evaluateCorruptions(net, batches, { ...options, shard })));
    const merged = mergeShards(parts).results.r;
    expectIdentical(merged, single);
    expect(single.rows).toHaveLength(CORRUPTION_TYPES.length * 2);
  });

  it.each(COUNTS)('perturbation sequences over %i shards equal the single run bit for bit', async (count) => {
    for (const task of ['single-label', 'multi-label'] as const) {
      const options = { seed: 4, frames: 4, task, types: [...SEQUENCE_TYPES] };
      const model = task === 'single-label' ? net : multiNet;
      const single = await evaluatePerturbations(model, batches, options);
      const parts = [];
      for (const shard of shardsOf(count)) parts.push(part(shard, await evaluatePerturbations(model, batches, { ...options, shard })));
      const merged = mergeShards(parts).results.r;
      expectIdentical(merged, single);
      expect(single.rows).toHaveLength(SEQUENCE_TYPES.length);
    }
  });

  it('a sample does not depend on its batch: PGD random starts, corruptions and sequences are per sample', async () => {
    const pgdOnly: RobustnessAttack[] = [{ name: 'PGD-3', attack: 'pgd', epsilons: [8 / 255], options: { steps: 3 } }];
    const layouts = [[N], [5, 5, 3], Array.from({ length: N }, () => 1)];
    const reports = [];
    for (const sizes of layouts) {
      const data = batchesOf(images, labels, sizes);
      try {
        reports.push({
          robustness: (await evaluateRobustness(net, data, pgdOnly, { seed: 5 })).samples,
          corruptions: (await evaluateCorruptions(net, data, { seed: 9, types: ['gaussian_noise', 'glass_blur', 'frost', 'elastic_transform'], severities: [3] })).samples,
          perturbations: (await evaluatePerturbations(net, data, { seed: 4, frames: 3, types: ['shot_noise', 'snow', 'spatter'] })).samples,
        });
      } finally {
        tf.dispose(data.flatMap((b) => [b.images, b.labels]));
      }
    }
    expectIdentical(reports[1], reports[0]);
    expectIdentical(reports[2], reports[0]);
    // the random start is real: another seed moves the adversarial logits
    const other = await evaluateRobustness(net, batches, pgdOnly, { seed: 6 });
    expect(canonicalJson(other.samples.adversarial)).not.toBe(canonicalJson(reports[0]!.robustness.adversarial));
  });

  it('a shard beyond the data holds no images and still merges; streams shard too', async () => {
    const count = 20;
    const single = await evaluateRobustness(net, batches, attacks.slice(0, 1), { seed: 1 });
    const parts = [];
    for (const shard of shardsOf(count)) {
      // a stream of fresh batches, disposed by the evaluation
      async function* stream() { for (const b of batchesOf(images, labels, [4, 4, 4, 1])) yield b; }
      const report = await evaluateRobustness(net, stream(), attacks.slice(0, 1), { seed: 1, shard });
      if (shard.index >= N) {
        expect(report.n).toBe(0);
        expect(report.clean.accuracy).toBeNaN();
      }
      parts.push(part(shard, report));
    }
    expectIdentical(mergeShards(parts).results.r, single);
  });

  describe('refuses what is not one complete run', () => {
    let parts7: ShardResult[];
    beforeAll(async () => {
      parts7 = [];
      for (const shard of shardsOf(7)) parts7.push({ ...part(shard, await evaluateRobustness(net, batches, attacks.slice(0, 1), { seed: 2, shard })), source: `s${shard.index}.json` });
    });

    it('a missing shard, naming it', () => {
      const err = (() => { try { mergeShards(parts7.filter((p) => p.shard.index !== 3 && p.shard.index !== 5)); } catch (e) { return e; } })() as ShardMergeError;
      expect(err).toBeInstanceOf(ShardMergeError);
      expect(err.problem).toBe('missing');
      expect(err.missing).toEqual([3, 5]);
      expect(err.message).toMatch(/shards 3, 5 of 7 are missing.*--shard 3\/7, --shard 5\/7/);
    });

    it('a duplicated shard, naming it and its sources', () => {
      const err = (() => { try { mergeShards([...parts7, { ...parts7[2]!, source: 'copy.json' }]); } catch (e) { return e; } })() as ShardMergeError;
      expect(err).toBeInstanceOf(ShardMergeError);
      expect(err.problem).toBe('duplicated');
      expect(err.duplicated).toEqual([2]);
      expect(err.message).toMatch(/shard 2 \(s2\.json, copy\.json\) of 7 is given more than once/);
    });

    it('a shard with a different configuration or evaluation settings, naming what differs', async () => {
      const changed = [...parts7];
      changed[4] = { ...parts7[4]!, config: { run: 'test', model: 'v2' } };
      const err = (() => { try { mergeShards(changed); } catch (e) { return e; } })() as ShardMergeError;
      expect(err).toBeInstanceOf(ShardMergeError);
      expect(err.problem).toBe('config');
      expect(err.shards).toEqual([4]);
      expect(err.message).toMatch(/shard 4\/7 \(s4\.json\) was made with a different configuration.*config\.model: \(unset\) → "v2"/);
      const reseeded = [...parts7];
      reseeded[1] = part({ index: 1, count: 7 }, await evaluateRobustness(net, batches, attacks.slice(0, 1), { seed: 3, shard: { index: 1, count: 7 } }));
      expect(() => mergeShards(reseeded)).toThrow(expect.objectContaining({ problem: 'config', message: expect.stringMatching(/settings\.seed: 2 → 3/) }));
    });

    it('shards of another count, and records that are not exactly the shard', () => {
      const other = part({ index: 1, count: 2 }, parts7[1]!.results.r!);
      expect(() => mergeShards([...parts7.slice(0, 6), other])).toThrow(expect.objectContaining({ problem: 'count', shards: [1] }));
      const report = parts7[3]!.results.r as Awaited<ReturnType<typeof evaluateRobustness>>;
      const tampered = { ...report, samples: { ...report.samples, positions: [3, 11] } };
      const bad = [...parts7];
      bad[3] = { ...parts7[3]!, results: { r: tampered } };
      expect(() => mergeShards(bad)).toThrow(expect.objectContaining({ problem: 'records', message: expect.stringMatching(/not exactly its 2 positions p ≡ 3 \(mod 7\)/) }));
      const short = { ...report, samples: { ...report.samples, clean: report.samples.clean.slice(1) } };
      bad[3] = { ...parts7[3]!, results: { r: short } };
      expect(() => mergeShards(bad)).toThrow(expect.objectContaining({ problem: 'records' }));
      const otherData = { ...report, samples: { ...report.samples, total: 14 } };
      bad[3] = { ...parts7[3]!, results: { r: otherData } };
      expect(() => mergeShards(bad)).toThrow(expect.objectContaining({ problem: 'records', message: expect.stringMatching(/saw 14 images/) }));
    });

    it('bad input', () => {
      expect(() => mergeShards([])).toThrow(InvalidArgumentError);
      expect(() => mergeShards('x' as never)).toThrow(/mergeShards: shards must be a non-empty array/);
      expect(() => mergeShards([{} as never])).toThrow(/shards\[0\]\.shard must be a shard/);
      expect(() => mergeShards([{ shard: { index: 0, count: 1 }, config: 1, results: {} }])).toThrow(/shards\[0\]\.results must be an object of named reports/);
      expect(() => mergeShards([{ shard: { index: 0, count: 1 }, config: 1, results: { a: { rows: [] } as never } }])).toThrow(/results\["a"\] must be a report/);
      expect(() => mergeShards([{ shard: { index: 2, count: 2 }, config: 1, results: parts7[0]!.results }])).toThrow(/shards\[0\]\.shard\.index must be/);
    });
  });

  it('options.shard is validated before any work, and clip: batch is refused when sharded', async () => {
    for (const [shard, message] of [
      [{ index: 3, count: 3 }, /options\.shard\.index must be a finite integer >= 0 and <= 2, received 3/],
      [{ index: -1, count: 3 }, /options\.shard\.index/],
      [{ index: 0.5, count: 2 }, /options\.shard\.index must be a finite integer/],
      [{ index: 0, count: 0 }, /options\.shard\.count/],
      [{ index: 0, count: 2, size: 4 }, /options\.shard\.size/],
      ['0/2', /options\.shard must be a shard \{ index, count \}/],
    ] as const) {
      await expectNoLeak(async () => {
        await expect(evaluateRobustness(net, batches, attacks, { shard: shard as never })).rejects.toThrow(message);
        await expect(evaluateCorruptions(net, batches, { shard: shard as never })).rejects.toThrow(message);
        await expect(evaluatePerturbations(net, batches, { shard: shard as never })).rejects.toThrow(message);
      });
    }
    await expect(evaluateRobustness(net, batches, [{ name: 'paper', attack: 'pgd', epsilons: [0.1], options: { clip: 'batch' } }], { shard: { index: 0, count: 2 } }))
      .rejects.toThrow(/attacks\[0\]\.options\.clip must be a fixed range when options\.shard is given/);
  });

  it('a shard evaluated in memory chunks (options.batchSize) holds the same records', async () => {
    const shard = { index: 1, count: 2 };
    const corr = { seed: 9, shard, types: ['frost', 'gaussian_noise'] as const, severities: [3] as const };
    const seq = { seed: 4, shard, frames: 3, types: ['rotate', 'shot_noise'] as const };
    expectIdentical((await evaluateCorruptions(net, batches, { ...corr, types: [...corr.types], severities: [...corr.severities], batchSize: 1 })).samples,
      (await evaluateCorruptions(net, batches, { ...corr, types: [...corr.types], severities: [...corr.severities] })).samples);
    expectIdentical((await evaluatePerturbations(net, batches, { ...seq, types: [...seq.types], batchSize: 1 })).samples,
      (await evaluatePerturbations(net, batches, { ...seq, types: [...seq.types] })).samples);
  });

  it('frees every tensor, with borrowed arrays, owned streams and on errors mid-shard', async () => {
    const shard = { index: 1, count: 3 };
    await expectNoLeak(() => evaluateRobustness(net, batches, attacks, { seed: 1, shard }));
    await expectNoLeak(() => evaluateCorruptions(net, batches, { seed: 1, shard, types: ['snow'], severities: [1] }));
    await expectNoLeak(() => evaluatePerturbations(net, batches, { seed: 1, shard, frames: 3, types: ['rotate'] }));
    expect(batches.every((b) => !b.images.isDisposed)).toBe(true);
    // a stream whose third batch is malformed after two were gathered
    const streamed: tf.Tensor[] = [];
    async function* broken() {
      for (const b of batchesOf(images, labels, [4, 4])) { streamed.push(b.images, b.labels); yield b; }
      const bad: Batch = { images: tf.zeros([2, 16, 16, 3]) as tf.Tensor4D, labels: tf.tensor1d([0, 1, 2], 'int32') };
      streamed.push(bad.images, bad.labels);
      yield bad;
    }
    await expectNoLeak(async () => {
      await expect(evaluateRobustness(net, broken(), attacks, { seed: 1, shard })).rejects.toThrow(/data\[2\]\.labels must be one label row per image/);
    });
    expect(streamed.every((t) => t.isDisposed)).toBe(true);
    // an attack that throws in a regrouped batch
    const failing: RobustnessAttack[] = [{ name: 'boom', run: () => { throw new Error('boom'); } }];
    await expectNoLeak(async () => {
      await expect(evaluateRobustness(net, batches, failing, { shard })).rejects.toThrow(/boom/);
    });
  });
});
