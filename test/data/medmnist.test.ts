import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { FormatError, InvalidArgumentError } from '../../src/errors.js';
import { medmnistFromNpz, MEDMNIST_INFO } from '../../src/data/medmnist.js';
import { readNpz, writeNpz } from '../../src/data/npz.js';
import type { NpyArray } from '../../src/data/npy.js';
import { BACKENDS, useTestBackend } from '../helpers/backends.js';
import { expectNoLeak } from '../helpers/expectNoLeak.js';

/** A MedMNIST-format archive made here: uint8 images, uint8 label columns, all three splits. */
function medmnistFile(n: number, size: number, channels: 1 | 3, labelCols: number, classes: number): Uint8Array {
  const arrays: Record<string, NpyArray> = {};
  for (const split of ['train', 'val', 'test']) {
    const pixels = Uint8Array.from({ length: n * size * size * channels }, (_, i) => (i * 7) % 256);
    arrays[`${split}_images`] = { dtype: 'uint8', shape: channels === 3 ? [n, size, size, 3] : [n, size, size], data: pixels };
    arrays[`${split}_labels`] = { dtype: 'uint8', shape: [n, labelCols], data: Uint8Array.from({ length: n * labelCols }, (_, i) => (labelCols > 1 ? i % 2 : i % classes)) };
  }
  return writeNpz(arrays, { compress: true });
}

describe.each(BACKENDS)('medmnistFromNpz (%s)', (backend) => {
  beforeAll(() => useTestBackend(backend));

  it('reads an RGB single-label file (DermaMNIST, 28 px): images /255, labels as int32 indices', async () => {
    const arrays = readNpz(medmnistFile(5, 28, 3, 1, 7));
    const d = medmnistFromNpz(arrays, { dataset: 'dermamnist', split: 'val' });
    expect(d.images.shape).toEqual([5, 28, 28, 3]);
    expect(d.images.dtype).toBe('float32');
    const px = await d.images.data();
    expect(px[10]).toBeCloseTo(70 / 255, 6);
    expect(d.labels.dtype).toBe('int32');
    expect(Array.from(await d.labels.data())).toEqual([0, 1, 2, 3, 4]);
    expect(d.task).toBe('single-label');
    expect(d.classNames).toEqual(MEDMNIST_INFO.dermamnist.classNames);
    expect(d.split).toBe('val');
    tf.dispose([d.images, d.labels]);
  });

  it('reads a gray multi-label file (ChestMNIST, 64 px) as multi-hot float32, and repeats gray over RGB on request', async () => {
    const arrays = readNpz(medmnistFile(3, 64, 1, 14, 2));
    const gray = medmnistFromNpz(arrays, { dataset: 'chestmnist' });
    expect(gray.images.shape).toEqual([3, 64, 64, 1]);
    expect(gray.labels.shape).toEqual([3, 14]);
    expect(gray.labels.dtype).toBe('float32');
    expect(gray.task).toBe('multi-label');
    const rgb = medmnistFromNpz(arrays, { dataset: 'chestmnist', channels: 3 });
    expect(rgb.images.shape).toEqual([3, 64, 64, 3]);
    const [g, c] = [await gray.images.data(), await rgb.images.data()];
    expect([c[300], c[301], c[302]]).toEqual([g[100], g[100], g[100]]);
    tf.dispose([gray.images, gray.labels, rgb.images, rgb.labels]);
  });

  it('infers the task and class names without a data set name', () => {
    const d = medmnistFromNpz(readNpz(medmnistFile(4, 28, 1, 1, 2)));
    expect(d.task).toBe('single-label');
    expect(d.classNames).toEqual(['0', '1']);
    tf.dispose([d.images, d.labels]);
  });

  it('does not leak', async () => {
    const arrays = readNpz(medmnistFile(2, 28, 3, 1, 5));
    await expectNoLeak(() => medmnistFromNpz(arrays, { dataset: 'retinamnist' }));
    await expectNoLeak(() => medmnistFromNpz(readNpz(medmnistFile(2, 28, 1, 1, 2)), { channels: 3 }));
  });

  describe('rejects bad input', () => {
    const good = readNpz(medmnistFile(3, 28, 3, 1, 7));
    it('wrong arrays give a FormatError; bad options an InvalidArgumentError', () => {
      expect(() => medmnistFromNpz({}, {})).toThrow(/no 'test_images'/);
      expect(() => medmnistFromNpz({ ...good, test_images: { dtype: 'float32', shape: [3, 28, 28], data: new Float32Array(3 * 784) } })).toThrow(FormatError);
      expect(() => medmnistFromNpz({ ...good, test_labels: { dtype: 'uint8', shape: [2, 1], data: new Uint8Array(2) } })).toThrow(/\[3, K\]/);
      expect(() => medmnistFromNpz({ ...good, test_labels: { dtype: 'uint8', shape: [3, 1], data: new Uint8Array([0, 9, 1]) } }, { dataset: 'dermamnist' })).toThrow(/class indices in \[0, 6\], found 9/);
      expect(() => medmnistFromNpz(good, { dataset: 'chestmnist' })).toThrow(/1-channel/);
      expect(() => medmnistFromNpz(good, { dataset: 'nomnist' as never })).toThrow(InvalidArgumentError);
      expect(() => medmnistFromNpz(good, { split: 'validation' as never })).toThrow(/options.split/);
      expect(() => medmnistFromNpz(good, { channels: 1 })).toThrow(/3 or more/);
      expect(() => medmnistFromNpz(good, { chanels: 3 } as never)).toThrow(/did you mean 'channels'/);
    });
  });
});
