import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { evaluateCorruptions } from '../../src/corruptions/evaluateCorruptions.js';
import { evaluatePerturbations } from '../../src/corruptions/evaluatePerturbations.js';
import { FileError, FormatError, InvalidArgumentError, ShardMergeError } from '../../src/errors.js';
import { evaluateRobustness, type RobustnessAttack } from '../../src/metrics/evaluateRobustness.js';
import { atomicIo } from '../../src/node/atomic.js';
import { configHash, mergeResults, readShardResult, writeShardResult } from '../../src/node/shardFiles.js';
import { canonicalJson } from '../../src/shard/mergeShards.js';
import type { Batch } from '../../src/types.js';
import { useTestBackend } from '../helpers/backends.js';
import { buildSmallNet } from '../helpers/smallNet.js';
import { texturedImages } from '../corruptions/images.js';
import type * as tfl from '@tensorflow/tfjs-layers';

let dir: string;
let net: tfl.LayersModel;
let batches: Batch[];
const attacks: RobustnessAttack[] = [
  { name: 'PGD-2', attack: 'pgd', epsilons: [4 / 255], options: { steps: 2 } },
  // no epsilons: its rows carry ε = NaN through the file
  { name: 'identity', run: (_m, x) => tf.clone(x) },
];
const config = { model: 'net-v1', data: { test: 9 }, weights: [1, -0, Number.NaN] };

async function shardFiles(count: number, sub: string, cfg: unknown = config): Promise<string[]> {
  const files: string[] = [];
  for (let index = 0; index < count; index++) {
    const shard = { index, count };
    const file = path.join(dir, sub, `shard-${index}-of-${count}.json`);
    await writeShardResult(file, {
      shard,
      config: cfg,
      environment: { backend: 'cpu' },
      results: {
        robustness: await evaluateRobustness(net, batches, attacks, { seed: 3, shard }),
        corruptions: await evaluateCorruptions(net, batches, { seed: 3, shard, types: ['shot_noise', 'fog'], severities: [3] }),
        perturbations: await evaluatePerturbations(net, batches, { seed: 3, shard, frames: 3, types: ['gaussian_noise', 'rotate'] }),
      },
    });
    files.push(file);
  }
  return files;
}

beforeAll(async () => {
  await useTestBackend('cpu');
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'medrobust-shards-'));
  net = buildSmallNet({ inputShape: [16, 16, 3], outputs: 3, seed: 2 });
  const images = texturedImages(9, 16, 3, 2);
  const labels = tf.tensor1d([0, 1, 2, 0, 1, 2, 0, 1, 2], 'int32');
  batches = [{ images, labels }];
});
afterAll(async () => {
  net.dispose();
  tf.dispose(batches.flatMap((b) => [b.images, b.labels]));
  await fs.rm(dir, { recursive: true, force: true });
});

describe('shard files', () => {
  it('write → read keeps every number exactly (NaN, −0) and the configuration hash', async () => {
    const [file] = await shardFiles(1, 'one');
    const back = await readShardResult(file!);
    expect(back.source).toBe(file);
    expect(back.shard).toEqual({ index: 0, count: 1 });
    expect(canonicalJson(back.config)).toBe(canonicalJson(config));
    expect(Object.is((back.config as typeof config).weights[1], -0)).toBe(true);
    expect((back.results.robustness as Awaited<ReturnType<typeof evaluateRobustness>>).rows[1]!.epsilon).toBeNaN();
    const direct = await evaluateRobustness(net, batches, attacks, { seed: 3 });
    expect(canonicalJson(back.results.robustness)).toBe(canonicalJson(direct));
    const text = await fs.readFile(file!, 'utf8');
    expect(text).toMatch(/^\{"format":"medrobust-shard\/1","sha256":"[0-9a-f]{64}","content":\{"shard":\{"index":0,"count":1\},"config":/);
    expect(JSON.parse(text).content.configHash).toBe(configHash(config));
    expect(configHash({ b: 1, a: 2 })).toBe(configHash({ a: 2, b: 1 }));
  });

  it('mergeResults over 1, 3 and 4 shard files equals the unsharded run bit for bit', async () => {
    const single = {
      robustness: await evaluateRobustness(net, batches, attacks, { seed: 3 }),
      corruptions: await evaluateCorruptions(net, batches, { seed: 3, types: ['shot_noise', 'fog'], severities: [3] }),
      perturbations: await evaluatePerturbations(net, batches, { seed: 3, frames: 3, types: ['gaussian_noise', 'rotate'] }),
    };
    for (const count of [1, 3, 4]) {
      const merged = await mergeResults((await shardFiles(count, `m${count}`)).reverse());
      expect(merged.shards).toBe(count);
      expect(canonicalJson(merged.results)).toBe(canonicalJson(single));
      expect(merged.environments).toEqual(Array.from({ length: count }, () => ({ backend: 'cpu' })));
    }
  });

  it('refuses a missing, a duplicated and a differently configured shard file, naming the files', async () => {
    const files = await shardFiles(3, 'three');
    await expect(mergeResults([files[0]!, files[2]!])).rejects.toThrow(expect.objectContaining({ constructor: ShardMergeError, problem: 'missing', missing: [1] }));
    await expect(mergeResults([...files, files[1]!])).rejects.toThrow(new RegExp(`mergeResults: shard 1 \\(${files[1]!.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}, .*\\) of 3 is given more than once`));
    const other = await shardFiles(3, 'other', { ...config, model: 'net-v2' });
    const err = await mergeResults([files[0]!, other[1]!, files[2]!]).catch((e: unknown) => e) as ShardMergeError;
    expect(err).toBeInstanceOf(ShardMergeError);
    expect(err.problem).toBe('config');
    expect(err.message).toContain(other[1]!);
    expect(err.message).toMatch(/config\.model: "net-v1" → "net-v2"/);
  });

  it('refuses edited, truncated and foreign files with FormatError, and missing ones with FileError', async () => {
    const [file] = await shardFiles(1, 'edit');
    const text = await fs.readFile(file!, 'utf8');
    const edited = path.join(dir, 'edit', 'edited.json');
    await fs.writeFile(edited, text.replace('"index":0', '"index":1'));
    await expect(readShardResult(edited)).rejects.toThrow(/is corrupt or was edited: its content does not match its SHA-256 checksum/);
    await fs.writeFile(edited, text.slice(0, text.length - 200));
    await expect(readShardResult(edited)).rejects.toThrow(FormatError);
    await fs.writeFile(edited, JSON.stringify(JSON.parse(text), null, 2));
    await expect(readShardResult(edited)).rejects.toThrow(/is not a medrobust shard file/);
    await expect(readShardResult(path.join(dir, 'nope.json'))).rejects.toThrow(FileError);
    await expect(mergeResults([path.join(dir, 'nope.json')])).rejects.toThrow(/mergeResults: the shard file .*nope\.json.* does not exist \[ENOENT\]/);
  });

  it('writes atomically: a failed write leaves the previous file intact', async () => {
    const [file] = await shardFiles(1, 'atomic');
    const before = await fs.readFile(file!, 'utf8');
    const spy = vi.spyOn(atomicIo, 'write').mockRejectedValue(Object.assign(new Error('no space'), { code: 'ENOSPC' }));
    try {
      await expect(shardFiles(1, 'atomic', { other: true })).rejects.toThrow(expect.objectContaining({ constructor: FileError, code: 'ENOSPC' }));
    } finally {
      spy.mockRestore();
    }
    expect(await fs.readFile(file!, 'utf8')).toBe(before);
    expect((await fs.readdir(path.dirname(file!))).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('rejects bad input', async () => {
    const report = await evaluateRobustness(net, batches, attacks.slice(1), { seed: 1 });
    await expect(writeShardResult('', { shard: { index: 0, count: 1 }, config: 1, results: { r: report } })).rejects.toThrow(InvalidArgumentError);
    await expect(writeShardResult(path.join(dir, 'x.json'), { shard: { index: 1, count: 1 }, config: 1, results: { r: report } })).rejects.toThrow(/writeShardResult: result\.shard\.index/);
    await expect(writeShardResult(path.join(dir, 'x.json'), { shard: { index: 0, count: 1 }, config: { $number: 'NaN' }, results: { r: report } })).rejects.toThrow(/reserved by the shard file format/);
    await expect(writeShardResult(path.join(dir, 'x.json'), { shard: { index: 0, count: 1 }, config: 1, results: {} })).rejects.toThrow(/result\.results must be an object of named reports/);
    await expect(mergeResults([])).rejects.toThrow(/mergeResults: files must be a non-empty array/);
    await expect(mergeResults([3 as never])).rejects.toThrow(/mergeResults: files\[0\] must be a file path/);
  });
});
