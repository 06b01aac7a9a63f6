import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FormatError, InvalidArgumentError } from '../../src/errors.js';
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

  describe('rejects bad input', () => {
    it('corrupt and missing files, bad paths', async () => {
      const bad = path.join(dir, backend, 'bad.npz');
      await fs.writeFile(bad, 'PK not really a zip file, just text that goes on');
      await expect(loadNpz(bad)).rejects.toThrow(FormatError);
      await expect(loadNpz(bad)).rejects.toThrow(/bad.npz/);
      await expect(loadNpz(path.join(dir, 'missing.npz'))).rejects.toThrow(/ENOENT/);
      await expect(loadNpz('' as never)).rejects.toThrow(InvalidArgumentError);
      await expect(saveNpz(path.join(dir, 'x.npz'), {})).rejects.toThrow(/at least one array/);
      await expect(loadMedmnist(bad, { split: 'dev' as never })).rejects.toThrow(/options.split/);
    });
  });
});
