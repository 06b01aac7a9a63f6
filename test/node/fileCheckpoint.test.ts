import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FormatError, InvalidArgumentError } from '../../src/errors.js';
import { readNpz } from '../../src/data/npz.js';
import { fileCheckpoint } from '../../src/node/fileCheckpoint.js';

let dir: string;
beforeAll(async () => { dir = await fs.mkdtemp(path.join(os.tmpdir(), 'medrobust-ckpt-')); });
afterAll(async () => { await fs.rm(dir, { recursive: true, force: true }); });

describe('fileCheckpoint', () => {
  it('loads undefined before the first save, then exactly what was saved (typed arrays, NaN, nesting)', async () => {
    const store = fileCheckpoint(path.join(dir, 'run', 'a.ckpt'));
    expect(await store.load()).toBeUndefined();
    const state = {
      epoch: 3, done: false, name: 'mpadvt', nothing: null, loss: Number.NaN, best: -Infinity,
      history: [{ epoch: 1, acc: 0.5 }, { epoch: 2, acc: 0.75 }],
      weights: { 'conv1/kernel': new Float32Array([0.1, -0.2, 3e-8]), 'bn/moving_mean': new Float64Array([1, 2]) },
      rng: new Uint32Array([4294967295]), counts: new BigInt64Array([5n]), mask: new Uint8Array([1, 0, 1]),
    };
    await store.save(state);
    const back = await store.load();
    expect(back).toEqual(state);
    expect((back!.weights as Record<string, unknown>)['conv1/kernel']).toBeInstanceOf(Float32Array);
    await store.save({ epoch: 4 });
    expect(await store.load()).toEqual({ epoch: 4 });
    expect(await fs.readdir(path.join(dir, 'run'))).toEqual(['a.ckpt']); // no temporary files left
  });

  it('is a valid .npz whose arrays numpy can read, with state.json beside them', async () => {
    const file = path.join(dir, 'b.ckpt');
    await fileCheckpoint(file).save({ w: new Float32Array([1, 2]) });
    const arrays = readNpz(new Uint8Array(await fs.readFile(file)));
    expect(Array.from(arrays.a0!.data as Float32Array)).toEqual([1, 2]);
  });

  describe('rejects bad input', () => {
    it('values a checkpoint cannot hold, reserved keys, corrupt files', async () => {
      const store = fileCheckpoint(path.join(dir, 'c.ckpt'));
      await expect(store.save({ f: (() => 1) as never })).rejects.toThrow(/state.f must be a JSON value/);
      await expect(store.save({ d: new Date() as never })).rejects.toThrow(InvalidArgumentError);
      await expect(store.save({ x: { $ndarray: 'a0' } as never })).rejects.toThrow(/reserved/);
      await expect(store.save([1] as never)).rejects.toThrow(/plain object/);
      await fs.writeFile(path.join(dir, 'c.ckpt'), 'garbage');
      await expect(store.load()).rejects.toThrow(FormatError);
      expect(() => fileCheckpoint('' as never)).toThrow(InvalidArgumentError);
    });
  });
});
