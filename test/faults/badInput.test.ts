/**
 * Bad input over every export of the data and node modules: each argument in turn gets values of
 * the wrong type, range or shape while the others stay valid. Every call must either succeed or throw
 * one of medrobust's typed errors (never a TypeError, RangeError or a raw system error), must not
 * hang, and must leave no tensor behind.
 */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import sharp from 'sharp';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError, MedrobustError } from '../../src/errors.js';
import { medmnistFromNpz } from '../../src/data/medmnist.js';
import { parseChestXray14List, parseLabelCsv } from '../../src/data/labelFiles.js';
import { readNpy, writeNpy, type NpyArray } from '../../src/data/npy.js';
import { npyToTensor, tensorToNpy } from '../../src/data/npyTensor.js';
import { readNpz, writeNpz } from '../../src/data/npz.js';
import { fileCheckpoint } from '../../src/node/fileCheckpoint.js';
import { chestXray14, decodeImage, imageFolder, labelCsvDataset } from '../../src/node/images.js';
import { fileIO, loadModel, saveModel } from '../../src/node/modelFiles.js';
import { loadMedmnist, loadNpz, saveNpz } from '../../src/node/npzFiles.js';
import { smallCnn } from '../../src/models/smallCnn.js';
import { BACKENDS, useTestBackend } from '../helpers/backends.js';

let dir: string;
const p = (name: string): string => path.join(dir, name);

/** Values of every wrong kind. Path arguments get only those that cannot name a writable file. */
function badValues(): unknown[] {
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  return [
    undefined, null, 0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, -0, 2 ** 53, true, '', ' ', '\u0000',
    [], [1, 2], [[]], {}, { a: 1 }, cyclic, () => 1, Symbol('s'), 10n, new Date(0), new Map(), new Uint8Array(0),
    new Uint8Array([1, 2, 3]), new Float32Array([Number.NaN]), new ArrayBuffer(4), Buffer.from('PK\u0005\u0006'),
    Object.create(null), new Proxy({}, {}), { dtype: 'float32', shape: [2], data: new Float32Array(3) },
    { dtype: 'float32', shape: [-1], data: new Float32Array(0) }, { dtype: 'complex64', shape: [1], data: new Float32Array(2) },
    { keys: 'x' }, { keys: [1] }, { maxBytes: -1 }, { name: 5 }, { split: 'dev' }, { channels: 2 }, { dataset: 'x' },
    { compress: 'yes' }, { preprocess: { resize: -1 } }, { batchSize: 0 }, { classNames: [] }, { extension: 3 },
  ];
}

interface Case { fn: string; args: () => unknown[]; paths?: number[]; after?: (out: unknown) => Promise<void> | void }

const failures: string[] = [];
const stats = { calls: 0, typed: 0, ok: 0 };

/** Calls `f` with each bad value at each position; asserts the outcome and the tensor count. */
async function fuzz(c: Case, call: (...a: unknown[]) => unknown): Promise<void> {
  const base = c.args();
  for (let pos = 0; pos < base.length; pos++) {
    for (const bad of badValues()) {
      if (c.paths?.includes(pos) && typeof bad === 'string' && bad !== '' && !bad.includes('\u0000')) continue; // would name a real file
      const args = c.args();
      args[pos] = bad;
      const before = tf.memory().numTensors;
      stats.calls++;
      let out: unknown;
      try {
        out = await call(...args);
      } catch (err) {
        const what = `${c.fn} argument ${pos} = ${show(bad)}: ${(err as Error)?.constructor?.name} ${(err as Error)?.message}`;
        const base = c.fn.replace(/\(.*$/, '');
        if (!(err instanceof MedrobustError)) failures.push(`untyped: ${what}`);
        else {
          if (!err.message.startsWith(`${base}:`)) failures.push(`message does not start with the function's name: ${what}`);
          if (err instanceof InvalidArgumentError && (err.fn !== base || !err.argument || !err.expected || !err.received)) failures.push(`InvalidArgumentError fields: ${what}`);
        }
        if (tf.memory().numTensors !== before) failures.push(`leak of ${tf.memory().numTensors - before} tensors: ${what}`);
        stats.typed++;
        continue;
      }
      stats.ok++;
      await c.after?.(out);
      tf.dispose(collect(out));
      if (tf.memory().numTensors !== before) failures.push(`leak after ${c.fn} argument ${pos} = ${show(bad)}`);
    }
  }
}

function show(v: unknown): string {
  try { return typeof v === 'symbol' ? v.toString() : typeof v === 'bigint' ? `${v}n` : JSON.stringify(v) ?? String(v); } catch { return Object.prototype.toString.call(v); }
}

function collect(v: unknown): tf.Tensor[] {
  if (v instanceof tf.Tensor) return [v];
  if (v && typeof v === 'object' && !ArrayBuffer.isView(v)) {
    if ((v as { dispose?: unknown }).dispose && (v as { weights?: unknown }).weights) { (v as { dispose(): void }).dispose(); return []; }
    return Object.values(v).flatMap(collect);
  }
  return [];
}

const arr: NpyArray = { dtype: 'float32', shape: [2], data: new Float32Array([1, 2]) };

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'medrobust-fuzz-'));
  await useTestBackend('cpu');
  process.chdir(dir); // whatever a bad path names, it lands in the temporary folder
  await fs.writeFile(p('a.npz'), writeNpz({ x: arr }));
  await fs.writeFile(p('dermamnist.npz'), writeNpz({
    test_images: { dtype: 'uint8', shape: [2, 28, 28, 3], data: new Uint8Array(2 * 28 * 28 * 3) },
    test_labels: { dtype: 'uint8', shape: [2, 1], data: new Uint8Array([0, 6]) },
  }));
  await fs.mkdir(p('imgs/a'), { recursive: true });
  const raw = Buffer.alloc(4 * 4 * 3, 100);
  await sharp(raw, { raw: { width: 4, height: 4, channels: 3 } }).png().toFile(p('imgs/a/x.png'));
  await fs.writeFile(p('gt.csv'), 'x.png,benign\n');
  await fs.writeFile(p('list.txt'), `x.png ${Array(14).fill(0).join(' ')}\n`);
  const net = smallCnn({ classes: 2, width: 0.125, seed: 1 });
  await saveModel(net, p('model'));
  net.dispose();
});
const home = process.cwd();
afterAll(async () => { process.chdir(home); await fs.rm(dir, { recursive: true, force: true }); });

describe.each(BACKENDS)('bad input to every data and node export (%s)', (backend) => {
  beforeAll(async () => {
    await useTestBackend(backend);
    Object.assign(stats, { calls: 0, typed: 0, ok: 0 });
  });
  afterAll(() => {
    console.log(`bad-input fuzz on ${backend}: ${stats.calls} calls, ${stats.typed} typed errors, ${stats.ok} accepted`);
    expect(stats.calls).toBeGreaterThan(1500);
  });

  afterEach(() => {
    const found = failures.splice(0);
    expect(found, found.join('\n')).toEqual([]);
  });

  it('data: readNpy, writeNpy, readNpz, writeNpz, npyToTensor, tensorToNpy, medmnistFromNpz, label files', async () => {
    const npz = await fs.readFile(p('dermamnist.npz'));
    await fuzz({ fn: 'readNpy', args: () => [writeNpy(arr), { name: 'x' }] }, readNpy as never);
    await fuzz({ fn: 'writeNpy', args: () => [arr] }, writeNpy as never);
    await fuzz({ fn: 'readNpz', args: () => [new Uint8Array(npz), { keys: ['test_labels'], maxBytes: 1e6 }] }, readNpz as never);
    await fuzz({ fn: 'writeNpz', args: () => [{ x: arr }, { compress: true }] }, writeNpz as never);
    await fuzz({ fn: 'npyToTensor', args: () => [arr] }, npyToTensor as never);
    const t = tf.tensor1d([1, 2]);
    await fuzz({ fn: 'tensorToNpy', args: () => [t] }, tensorToNpy as never);
    t.dispose();
    const arrays = readNpz(new Uint8Array(npz));
    await fuzz({ fn: 'medmnistFromNpz', args: () => [arrays, { dataset: 'dermamnist' }] }, medmnistFromNpz as never);
    await fuzz({ fn: 'medmnistFromNpz(arrays.test_images)', args: () => [arrays.test_images] }, (v) => medmnistFromNpz({ ...arrays, test_images: v as NpyArray }));
    await fuzz({ fn: 'medmnistFromNpz(arrays.test_labels)', args: () => [arrays.test_labels] }, (v) => medmnistFromNpz({ ...arrays, test_labels: v as NpyArray }));
    await fuzz({ fn: 'parseChestXray14List', args: () => ['a.png 0 1\n'] }, parseChestXray14List as never);
    await fuzz({ fn: 'parseLabelCsv', args: () => ['a,benign\n', { classNames: ['benign', 'malignant'] }] }, parseLabelCsv as never);
  });

  it('node: npz files, models, checkpoints, images', async () => {
    await fuzz({ fn: 'loadNpz', args: () => [p('a.npz'), { keys: ['x'] }], paths: [0] }, loadNpz as never);
    await fuzz({ fn: 'saveNpz', args: () => [p(`out-${backend}.npz`), { x: arr }, {}], paths: [0] }, saveNpz as never);
    await fuzz({ fn: 'loadMedmnist', args: () => [p('dermamnist.npz'), { split: 'test' }], paths: [0] }, loadMedmnist as never);
    await fuzz({ fn: 'fileIO', args: () => [p('model')], paths: [0] }, fileIO as never);
    await fuzz({ fn: 'loadModel', args: () => [p('model')], paths: [0] }, loadModel as never);
    const net = smallCnn({ classes: 2, width: 0.125, seed: 1 });
    await fuzz({ fn: 'saveModel', args: () => [net, p(`m-${backend}`)], paths: [1] }, saveModel as never);
    net.dispose();
    await fuzz({ fn: 'fileCheckpoint', args: () => [p(`c-${backend}.ckpt`)], paths: [0] }, fileCheckpoint as never);
    const store = fileCheckpoint(p(`c-${backend}.ckpt`));
    await fuzz({ fn: 'fileCheckpoint.save', args: () => [{ epoch: 1 }] }, (s) => store.save(s as never));
    await fuzz({ fn: 'fileCheckpoint.save(state.x)', args: () => [1] }, (v) => store.save({ x: v } as never));
    await fuzz({ fn: 'decodeImage', args: () => [p('imgs/a/x.png'), { channels: 1 }], paths: [0] }, decodeImage as never);
    await fuzz({ fn: 'imageFolder', args: () => [p('imgs')], paths: [0] }, imageFolder as never);
    await fuzz({ fn: 'labelCsvDataset', args: () => [p('gt.csv'), p('imgs/a'), {}], paths: [0, 1] }, labelCsvDataset as never);
    await fuzz({ fn: 'chestXray14', args: () => [p('list.txt'), p('imgs/a')], paths: [0, 1] }, chestXray14 as never);
    const ds = await imageFolder(p('imgs'));
    await fuzz({ fn: 'ImageFileDataset.batches', args: () => [{ batchSize: 1 }] }, async (o) => {
      const out: tf.Tensor[] = [];
      for await (const b of ds.batches(o as never)) out.push(b.images, b.labels);
      return out;
    });
  });
});
