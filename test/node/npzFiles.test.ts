import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { FileError, FormatError, InvalidArgumentError } from '../../src/errors.js';
import { atomicIo } from '../../src/node/atomic.js';
import { loadMedmnist, loadNpz, saveNpz } from '../../src/node/npzFiles.js';
import { BACKENDS, useTestBackend } from '../helpers/backends.js';
import { expectNoLeak } from '../helpers/expectNoLeak.js';

let dir: string;
beforeAll(async () => { dir = await fs.mkdtemp(path.join(os.tmpdir(), 'medrobust-npz-')); });
afterAll(async () => { await fs.rm(dir, { recursive: true, force: true }); });

describe.each(BACKENDS)('loadNpz / saveNpz / loadMedmnist (%s)', (backend) => {
  beforeAll(() => useTestBackend(backend));

  it('round-trips through a file, atomically replacing an old one and leaving no temporary files', async () => {
    const file = path.join(dir, backend, 'sets', 'adv.npz');
    await saveNpz(file, { x: { dtype: 'float32', shape: [2], data: new Float32Array([1, 2]) } });
    await saveNpz(file, { x: { dtype: 'float32', shape: [3], data: new Float32Array([4, 5, 6]) } }, { compress: true });
    const back = await loadNpz(file);
    expect(Array.from(back.x!.data as Float32Array)).toEqual([4, 5, 6]);
    expect(await fs.readdir(path.dirname(file))).toEqual(['adv.npz']);
  });

  it('loads a MedMNIST file made here, taking the data set from the file name', async () => {
    const file = path.join(dir, backend, 'pneumoniamnist_64.npz');
    const n = 3;
    await saveNpz(file, {
      test_images: { dtype: 'uint8', shape: [n, 64, 64], data: new Uint8Array(n * 64 * 64).fill(51) },
      test_labels: { dtype: 'uint8', shape: [n, 1], data: new Uint8Array([0, 1, 1]) },
    });
    const d = await loadMedmnist(file);
    expect(d.dataset).toBe('pneumoniamnist');
    expect(d.classNames).toEqual(['normal', 'pneumonia']);
    expect(d.images.shape).toEqual([3, 64, 64, 1]);
    expect((await d.images.data())[0]).toBeCloseTo(0.2, 6);
    tf.dispose([d.images, d.labels]);
    await expectNoLeak(() => loadMedmnist(file, { channels: 3 }));
  });

  it('reads only the keys asked for, within maxBytes', async () => {
    const file = path.join(dir, backend, 'two.npz');
    await saveNpz(file, { a: { dtype: 'uint8', shape: [1000], data: new Uint8Array(1000) }, b: { dtype: 'uint8', shape: [2], data: new Uint8Array([1, 2]) } }, { compress: true });
    expect(Object.keys(await loadNpz(file, { keys: ['b'] }))).toEqual(['b']);
    await expect(loadNpz(file, { maxBytes: 500 })).rejects.toThrow(/two.npz member 'a.npy' declares 1128 bytes, more than the 500 left of options.maxBytes/);
    expect(Object.keys(await loadNpz(file, { maxBytes: 500, keys: ['b'] }))).toEqual(['b']);
  });

  describe('file errors are typed and say what to do (issue 15)', () => {
    it('a missing file, a folder, a path through a file', async () => {
      const missing = path.join(dir, 'missing.npz');
      const err = await loadNpz(missing).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(FileError);
      expect(err).toMatchObject({ fn: 'loadNpz', path: missing, code: 'ENOENT' });
      expect((err as Error).message).toBe(`loadNpz: the .npz file ${missing} does not exist [ENOENT]; check the path`);
      const relative = await loadNpz('no/such.npz').catch((e: unknown) => e as Error);
      expect(relative.message).toContain(`no/such.npz (${path.resolve('no/such.npz')}) does not exist`);
      await expect(loadNpz(dir)).rejects.toThrow(/loadNpz: the .npz file .* is a folder, not a file \[EISDIR\]; pass the path of the file inside it/);
      await expect(loadMedmnist(dir)).rejects.toMatchObject({ fn: 'loadMedmnist', code: 'EISDIR' });
      const plain = path.join(dir, backend, 'plain.txt');
      await fs.writeFile(plain, 'x');
      await expect(saveNpz(path.join(plain, 'a.npz'), { x: { dtype: 'uint8', shape: [1], data: new Uint8Array(1) } })).rejects.toThrow(/saveNpz: the .npz file .*plain.txt\/a.npz has a part that exists but is not a folder \[EEXIST\]/);
    });

    it('a full disk while saving: typed, the previous file unchanged, no temporary file left', async () => {
      const file = path.join(dir, backend, 'full.npz');
      await saveNpz(file, { x: { dtype: 'uint8', shape: [1], data: new Uint8Array([7]) } });
      const write = vi.spyOn(atomicIo, 'write').mockRejectedValue(Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }));
      try {
        const err = (await saveNpz(file, { x: { dtype: 'uint8', shape: [1], data: new Uint8Array([8]) } }).then(() => undefined, (e: unknown) => e)) as FileError;
        expect(err).toBeInstanceOf(FileError);
        expect(err.code).toBe('ENOSPC');
        expect(err.message).toMatch(/saveNpz: the .npz file .*full.npz could not be written: the disk is full \[ENOSPC\]; free some space; any previous file at that path is unchanged/);
      } finally {
        write.mockRestore();
      }
      expect(Array.from((await loadNpz(file)).x!.data as Uint8Array)).toEqual([7]);
      expect((await fs.readdir(path.dirname(file))).filter((f) => f.includes('full'))).toEqual(['full.npz']);
    });
  });

  describe('rejects bad input', () => {
    it('corrupt and missing files, bad paths and options', async () => {
      const bad = path.join(dir, backend, 'bad.npz');
      await fs.writeFile(bad, 'PK not really a zip file, just text that goes on');
      await expect(loadNpz(bad)).rejects.toThrow(FormatError);
      await expect(loadNpz(bad)).rejects.toThrow(/bad.npz/);
      // The parser's error names the function called, and keeps the parser's as cause.
      await expect(loadNpz(bad)).rejects.toThrow(/^loadNpz: .*from readNpz\)$/);
      await expect(loadNpz('' as never)).rejects.toThrow(InvalidArgumentError);
      await expect(loadNpz(bad, ['x'] as never)).rejects.toThrow('loadNpz: options must be a plain options object, received an array of length 1 ["x"]');
      await expect(loadNpz(bad, { key: ['x'] } as never)).rejects.toThrow(/loadNpz: options.key must be one of the known options .*did you mean 'keys'/);
      await expect(loadNpz(bad, { keys: 'x' } as never)).rejects.toThrow('loadNpz: options.keys must be an array of array names, received "x"');
      await expect(loadNpz(bad, { maxBytes: -1 })).rejects.toThrow('loadNpz: options.maxBytes must be a non-negative integer number of bytes (or Infinity), received -1');
      await expect(saveNpz(path.join(dir, 'x.npz'), {})).rejects.toThrow(/at least one array/);
      await expect(saveNpz(42 as never, {})).rejects.toThrow('saveNpz: file must be a file path (a non-empty string without NUL bytes), received 42');
      await expect(loadMedmnist(bad, { split: 'dev' as never })).rejects.toThrow(/options.split/);
      await expect(loadMedmnist(bad, { maxBytes: 'big' } as never)).rejects.toThrow(/loadMedmnist: options.maxBytes/);
      await expect(loadMedmnist(bad, { chanels: 3 } as never)).rejects.toThrow(/loadMedmnist: options.chanels .*did you mean 'channels'/);
      await expect(loadMedmnist(bad, 3 as never)).rejects.toThrow(/loadMedmnist: options must be a plain options object/);
    });

    it('frees every tensor on error paths', async () => {
      const file = path.join(dir, backend, 'dermamnist.npz');
      await saveNpz(file, {
        test_images: { dtype: 'uint8', shape: [2, 28, 28, 3], data: new Uint8Array(2 * 28 * 28 * 3) },
        test_labels: { dtype: 'uint8', shape: [2, 1], data: new Uint8Array([0, 9]) }, // dermamnist has 7 classes
      });
      await expectNoLeak(async () => {
        await expect(loadMedmnist(file)).rejects.toThrow(/class indices in \[0, 6\], found 9/);
        await expect(loadMedmnist(file, { channels: 1 })).rejects.toThrow(InvalidArgumentError);
        await expect(loadMedmnist(path.join(dir, 'nope.npz'))).rejects.toThrow(FileError);
      });
    });
  });
});
