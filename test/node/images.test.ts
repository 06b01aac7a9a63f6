import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileError, FormatError, InvalidArgumentError } from '../../src/errors.js';
import { chestXray14, decodeImage, imageFolder, labelCsvDataset } from '../../src/node/images.js';
import { BACKENDS, useTestBackend } from '../helpers/backends.js';
import { expectNoLeak } from '../helpers/expectNoLeak.js';

let dir: string;
/** Writes a w×h RGB PNG (or JPEG) whose red channel is `value` and green the column index. */
async function image(file: string, w: number, h: number, value: number, format: 'png' | 'jpeg' = 'png'): Promise<void> {
  const raw = Buffer.alloc(w * h * 3);
  for (let i = 0; i < w * h; i++) { raw[i * 3] = value; raw[i * 3 + 1] = i % w; raw[i * 3 + 2] = 0; }
  await fs.mkdir(path.dirname(file), { recursive: true });
  await sharp(raw, { raw: { width: w, height: h, channels: 3 } })[format]().toFile(file);
}

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'medrobust-img-'));
  await image(path.join(dir, 'isic', 'benign', 'b1.png'), 10, 8, 10);
  await image(path.join(dir, 'isic', 'benign', 'b2.png'), 12, 12, 20);
  await image(path.join(dir, 'isic', 'malignant', 'm1.png'), 9, 9, 200);
  await fs.writeFile(path.join(dir, 'isic', 'benign', 'notes.txt'), 'not an image');
  await fs.writeFile(path.join(dir, 'gt.csv'), 'image,label\nb1.png,benign\nm1,1.0\n');
  await image(path.join(dir, 'flat', 'm1.jpg'), 9, 9, 200, 'jpeg');
  await fs.copyFile(path.join(dir, 'isic', 'benign', 'b1.png'), path.join(dir, 'flat', 'b1.png'));
  await fs.mkdir(path.join(dir, 'cxr'), { recursive: true });
  for (const [i, v] of [30, 60, 90].entries()) await image(path.join(dir, 'cxr', `0000000${i}_000.png`), 16, 16, v);
  await fs.writeFile(path.join(dir, 'list.txt'), ['00000000_000.png 0 1 0 0 0 0 0 0 0 0 0 0 0 0', '00000001_000.png 1 0 1 0 0 0 0 0 0 0 0 0 0 0', '00000002_000.png 0 0 0 0 0 0 0 0 0 0 0 0 0 1'].join('\n'));
  await fs.writeFile(path.join(dir, 'corrupt.png'), Buffer.from([0x89, 0x50, 0x4e, 0x47, 1, 2, 3]));
});
afterAll(async () => { await fs.rm(dir, { recursive: true, force: true }); });

describe.each(BACKENDS)('decodeImage and image datasets (%s)', (backend) => {
  beforeAll(() => useTestBackend(backend));

  it('decodes to float32 [H, W, C] in [0, 1], with geometric preprocessing in the decoder', async () => {
    const x = await decodeImage(path.join(dir, 'isic', 'benign', 'b1.png'));
    expect(x.shape).toEqual([8, 10, 3]);
    const v = await x.data();
    expect(v[0]).toBeCloseTo(10 / 255, 6);
    expect(v[3 * 4 + 1]).toBeCloseTo(4 / 255, 6); // green = column
    const y = await decodeImage(path.join(dir, 'isic', 'benign', 'b1.png'), { preprocess: { ratioCenterCrop: 0.5, resize: 6, centerCrop: 4 } });
    expect(y.shape).toEqual([4, 4, 3]);
    const gray = await decodeImage(await fs.readFile(path.join(dir, 'isic', 'malignant', 'm1.png')), { channels: 1 });
    expect(gray.shape).toEqual([9, 9, 1]);
    tf.dispose([x, y, gray]);
    await expectNoLeak(() => decodeImage(path.join(dir, 'isic', 'benign', 'b2.png'), { preprocess: { resize: 4 } }));
  });

  it('imageFolder lists class folders like ImageFolder and streams batches of fresh tensors', async () => {
    const d = await imageFolder(path.join(dir, 'isic'));
    expect(d.classNames).toEqual(['benign', 'malignant']);
    expect(d.items.map((it) => [path.basename(it.file), it.label])).toEqual([['b1.png', 0], ['b2.png', 0], ['m1.png', 1]]);
    const before = tf.memory().numTensors;
    const seen: number[] = [];
    const shapes: number[][] = [];
    const source = d.batches({ batchSize: 2, preprocess: { resize: 8, randomCrop: 6, horizontalFlip: true }, seed: 1, shuffle: true });
    for await (const b of source) {
      shapes.push(b.images.shape);
      seen.push(...Array.from(await b.labels.data()));
      tf.dispose([b.images, b.labels]);
    }
    expect(shapes).toEqual([[2, 6, 6, 3], [1, 6, 6, 3]]);
    expect(seen.sort()).toEqual([0, 0, 1]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('labelCsvDataset and chestXray14 read the paper layouts', async () => {
    const isic = await labelCsvDataset(path.join(dir, 'gt.csv'), path.join(dir, 'flat'));
    expect(isic.items.map((it) => [path.basename(it.file), it.label])).toEqual([['b1.png', 0], ['m1.jpg', 1]]);
    const cxr = await chestXray14(path.join(dir, 'list.txt'), path.join(dir, 'cxr'));
    expect(cxr.task).toBe('multi-label');
    expect(cxr.classNames).toHaveLength(14);
    for await (const b of cxr.batches({ batchSize: 3, channels: 1 })) {
      expect(b.images.shape).toEqual([3, 16, 16, 1]);
      expect(b.labels.shape).toEqual([3, 14]);
      expect(Array.from(await b.labels.data()).slice(14, 17)).toEqual([1, 0, 1]);
      tf.dispose([b.images, b.labels]);
    }
  });

  it('decodes bytes given as views: Node Buffers from the pool and subarrays (issue 15)', async () => {
    const png = await fs.readFile(path.join(dir, 'isic', 'benign', 'b1.png'));
    const host = new Uint8Array(png.length + 17).fill(0xff);
    host.set(png, 9);
    const fromView = await decodeImage(host.subarray(9, 9 + png.length));
    const fromFile = await decodeImage(path.join(dir, 'isic', 'benign', 'b1.png'));
    expect(Array.from(await fromView.data())).toEqual(Array.from(await fromFile.data()));
    tf.dispose([fromView, fromFile]);
    await expectNoLeak(async () => {
      await expect(decodeImage(host.subarray(0, png.length))).rejects.toThrow(FormatError); // starts with the junk bytes
    });
  });

  describe('rejects bad input', () => {
    it('corrupt images, unequal sizes, random steps in decodeImage, bad lists and options', async () => {
      await expect(decodeImage(path.join(dir, 'corrupt.png'))).rejects.toThrow(FormatError);
      await expect(decodeImage(path.join(dir, 'missing.png'))).rejects.toThrow(FileError);
      await expect(decodeImage(path.join(dir, 'missing.png'))).rejects.toThrow(/decodeImage: the image .*missing.png does not exist \[ENOENT\]; check the path/);
      await expect(decodeImage(dir)).rejects.toMatchObject({ fn: 'decodeImage', code: 'EISDIR' });
      await expect(decodeImage(path.join(dir, 'corrupt.png'), { preprocess: { horizontalFlip: true } })).rejects.toThrow(/random steps/);
      await expect(decodeImage(3 as never)).rejects.toThrow(InvalidArgumentError);
      const d = await imageFolder(path.join(dir, 'isic'));
      const drain = async (): Promise<void> => { for await (const b of d.batches({ batchSize: 3 })) tf.dispose([b.images, b.labels]); };
      await expect(drain()).rejects.toThrow(/add resize or a crop/);
      expect(() => d.batches({ batchsize: 2 } as never)).toThrow(/did you mean 'batchSize'/);
      await expect(imageFolder(path.join(dir, 'cxr'))).rejects.toThrow(/no class folders/);
      await expect(imageFolder(path.join(dir, 'nowhere'))).rejects.toMatchObject({ fn: 'imageFolder', code: 'ENOENT' });
      await expect(imageFolder(path.join(dir, 'gt.csv'))).rejects.toMatchObject({ fn: 'imageFolder', code: 'ENOTDIR' });
      await expect(labelCsvDataset(path.join(dir, 'nope.csv'), dir)).rejects.toMatchObject({ fn: 'labelCsvDataset', code: 'ENOENT' });
      await expect(labelCsvDataset(path.join(dir, 'gt.csv'), dir, { classNames: [] })).rejects.toThrow('labelCsvDataset: options.classNames must be a non-empty array of class names, received an array of length 0 []');
      await expect(labelCsvDataset(path.join(dir, 'gt.csv'), dir, { extension: 5 } as never)).rejects.toThrow(/labelCsvDataset: options.extension/);
      await expect(labelCsvDataset(path.join(dir, 'gt.csv'), dir, { classnames: ['a'] } as never)).rejects.toThrow(/did you mean 'classNames'/);
      await expect(labelCsvDataset(3 as never, dir)).rejects.toThrow('labelCsvDataset: csvFile must be a path (a non-empty string without NUL bytes), received 3');
      await expect(chestXray14(dir, dir)).rejects.toMatchObject({ fn: 'chestXray14', code: 'EISDIR' });
      await expect(chestXray14(path.join(dir, 'list.txt'), null as never)).rejects.toThrow('chestXray14: imageDir must be a path (a non-empty string without NUL bytes), received null');
      await expect(decodeImage(path.join(dir, 'corrupt.png'), { channels: 2 } as never)).rejects.toThrow('decodeImage: options.channels must be 1 or 3, received 2');
      // A missing file in a data set surfaces when its batch is decoded, typed, and nothing leaks.
      const ghost = await labelCsvDataset(path.join(dir, 'gt.csv'), path.join(dir, 'empty'));
      await expectNoLeak(async () => {
        const it = ghost.batches({ batchSize: 2 })[Symbol.asyncIterator]();
        await expect(it.next()).rejects.toMatchObject({ fn: 'ImageFileDataset.batches', code: 'ENOENT' });
      });
      await fs.writeFile(path.join(dir, 'short.txt'), 'a.png 0 1\n');
      await expect(chestXray14(path.join(dir, 'short.txt'), dir)).rejects.toThrow(/2 labels; ChestX-ray14 has 14/);
      await fs.writeFile(path.join(dir, 'bad.txt'), 'a.png 0 1\nb.png 0 7\n');
      await expect(chestXray14(path.join(dir, 'bad.txt'), dir)).rejects.toThrow(`chestXray14: ${path.join(dir, 'bad.txt')} line 2 has a label '7' (labels must be 0 or 1)`);
      await fs.writeFile(path.join(dir, 'bad.csv'), 'a,benign\nb,cyst\n');
      await expect(labelCsvDataset(path.join(dir, 'bad.csv'), dir)).rejects.toThrow(`labelCsvDataset: ${path.join(dir, 'bad.csv')} line 2 has the label 'cyst'`);
    });
  });
});
