import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileError, FormatError, InvalidArgumentError } from '../../src/errors.js';
import { gapUnet } from '../../src/attacks/gapGenerators.js';
import { attnVgg } from '../../src/models/attnVgg.js';
import { smallCnn } from '../../src/models/smallCnn.js';
import { fileIO, loadModel, saveModel } from '../../src/node/modelFiles.js';
import { expectNoLeak } from '../helpers/expectNoLeak.js';
import { BACKENDS, useTestBackend } from '../helpers/backends.js';

let dir: string;
beforeAll(async () => { dir = await fs.mkdtemp(path.join(os.tmpdir(), 'medrobust-model-')); });
afterAll(async () => { await fs.rm(dir, { recursive: true, force: true }); });

describe.each(BACKENDS)('saveModel / loadModel (%s)', (backend) => {
  beforeAll(() => useTestBackend(backend));

  it('round-trips topology and weights: the loaded model gives the same outputs (multi-output, normalisation layer)', async () => {
    const nets = [
      smallCnn({ inputShape: [12, 12, 3], classes: 3, width: 0.25, seed: 1, normalization: { mean: [0.5, 0.5, 0.5], std: [0.2, 0.3, 0.4] } }),
      attnVgg({ inputShape: [32, 32, 3], width: 1 / 16, seed: 1 }),
    ];
    for (const [i, net] of nets.entries()) {
      const folder = path.join(dir, backend, `m${i}`);
      await saveModel(net, folder);
      expect((await fs.readdir(folder)).sort()).toEqual(['model.json', 'weights.bin']);
      const again = await loadModel(folder);
      const side = net.inputs[0]!.shape[1]!;
      const x = tf.randomUniform([2, side, side, 3], 0, 1, 'float32', 5);
      const a = [net.predict(x)].flat() as tf.Tensor[];
      const b = [again.predict(x)].flat() as tf.Tensor[];
      expect(b.length).toBe(a.length);
      for (let k = 0; k < a.length; k++) expect(Array.from(await b[k]!.data())).toEqual(Array.from(await a[k]!.data()));
      tf.dispose([x, ...a, ...b]);
      again.dispose();
      net.dispose();
    }
  });

  // tfjs-layers' dispose releases one reference per layer; a layer applied k times holds k. The authors' U-Net
  // applies its shared batch norms 2–4 times, so a loaded copy kept their weights after dispose (issue 13).
  it('dispose() of a loaded model that shares layers frees every weight it loaded', async () => {
    const net = gapUnet({ inputShape: [64, 64, 1], preset: 'isic', ngf: 2 });
    const folder = path.join(dir, backend, 'shared');
    await saveModel(net, folder);
    net.dispose();
    const before = tf.memory().numTensors;
    const again = await loadModel(folder);
    expect(again.layers.filter((l) => l.inboundNodes.length > 1).length).toBeGreaterThan(0);
    const loaded = tf.memory().numTensors - before;
    expect(again.dispose()).toEqual({ refCountAfterDispose: 0, numDisposedVariables: loaded });
    expect(tf.memory().numTensors).toBe(before);
  });

  describe('weight paths are confined to the model folder (issue 15)', () => {
    it.each([
      ['../secret.bin'], ['sub/../../secret.bin'], ['/etc/passwd'], ['C:\\Windows\\win.ini'], ['..\\secret.bin'], ['.'], [''],
    ])('%j is refused before anything is opened, and nothing about the outside file is revealed', async (listed) => {
      const root = path.join(dir, backend, 'confine');
      const folder = path.join(root, 'model');
      const net = smallCnn({ classes: 2, width: 0.125, seed: 1 });
      await saveModel(net, folder);
      net.dispose();
      // A file outside the folder whose size would match the manifest exactly.
      const weights = await fs.readFile(path.join(folder, 'weights.bin'));
      await fs.writeFile(path.join(root, 'secret.bin'), weights);
      const json = JSON.parse(await fs.readFile(path.join(folder, 'model.json'), 'utf8')) as { weightsManifest: Array<{ paths: string[] }> };
      json.weightsManifest[0]!.paths = [listed];
      await fs.writeFile(path.join(folder, 'model.json'), JSON.stringify(json));
      const before = tf.memory().numTensors;
      const err = await loadModel(folder).then(() => undefined, (e: unknown) => e as Error);
      expect(err).toBeInstanceOf(FormatError);
      expect(err!.message).toBe(`loadModel: ${path.join(folder, 'model.json')} lists the weight path ${JSON.stringify(listed)}, which leads outside the model folder; weight files must be named relative to the folder that holds model.json (e.g. 'weights.bin' or 'group1-shard1of2.bin')`);
      expect(err!.message).not.toContain(String(weights.length));
      expect(tf.memory().numTensors).toBe(before);
    });

    it('relative paths inside the folder (sharded, in a subfolder, with ./) still load', async () => {
      const folder = path.join(dir, backend, 'sharded');
      const net = smallCnn({ classes: 2, width: 0.125, seed: 1 });
      await saveModel(net, folder);
      const weights = await fs.readFile(path.join(folder, 'weights.bin'));
      await fs.mkdir(path.join(folder, 'shards'));
      const cut = 40;
      await fs.writeFile(path.join(folder, 'shards', 'group1-shard1of2.bin'), weights.subarray(0, cut));
      await fs.writeFile(path.join(folder, 'group1-shard2of2.bin'), weights.subarray(cut));
      await fs.rm(path.join(folder, 'weights.bin'));
      const json = JSON.parse(await fs.readFile(path.join(folder, 'model.json'), 'utf8')) as { weightsManifest: Array<{ paths: string[] }> };
      json.weightsManifest[0]!.paths = ['shards/group1-shard1of2.bin', './group1-shard2of2.bin'];
      await fs.writeFile(path.join(folder, 'model.json'), JSON.stringify(json));
      const again = await loadModel(folder);
      const x = tf.ones([1, 28, 28, 3]);
      const [a, b] = [net.predict(x) as tf.Tensor, again.predict(x) as tf.Tensor];
      expect(Array.from(await b.data())).toEqual(Array.from(await a.data()));
      tf.dispose([x, a, b]);
      again.dispose();
      net.dispose();
    });
  });

  describe('rejects bad input', () => {
    it('a missing folder or weight file is a FileError that names it', async () => {
      const none = path.join(dir, 'none');
      const err = await loadModel(none).then(() => undefined, (e: unknown) => e as FileError);
      expect(err).toBeInstanceOf(FileError);
      expect(err).toMatchObject({ fn: 'loadModel', code: 'ENOENT', path: path.join(none, 'model.json') });
      const folder = path.join(dir, backend, 'noweights');
      const net = smallCnn({ classes: 2, width: 0.125, seed: 1 });
      await saveModel(net, folder);
      net.dispose();
      await fs.rm(path.join(folder, 'weights.bin'));
      await expect(loadModel(folder)).rejects.toThrow(/loadModel: the weight file 'weights.bin' listed in .*model.json: .*weights.bin does not exist \[ENOENT\]/);
      await fs.mkdir(path.join(folder, 'weights.bin'));
      await expect(loadModel(folder)).rejects.toThrow(/weight file 'weights.bin' listed in .* is not a regular file/);
    });

    it('missing, malformed and truncated files; bad arguments; no tensor left behind', async () => {
      const folder = path.join(dir, backend, 'broken');
      const net = smallCnn({ classes: 2, width: 0.125, seed: 1 });
      await saveModel(net, folder);
      net.dispose();
      const before = tf.memory().numTensors;
      const weights = await fs.readFile(path.join(folder, 'weights.bin'));
      await fs.writeFile(path.join(folder, 'weights.bin'), weights.subarray(0, 100));
      await expect(loadModel(folder)).rejects.toThrow(/truncated or mismatched/);
      await fs.writeFile(path.join(folder, 'weights.bin'), weights);
      const good = await fs.readFile(path.join(folder, 'model.json'), 'utf8');
      const manifest = JSON.parse(good) as { weightsManifest: unknown };
      await fs.writeFile(path.join(folder, 'model.json'), JSON.stringify({ ...manifest, weightsManifest: [{ paths: 'weights.bin', weights: [] }] }));
      await expect(loadModel(folder)).rejects.toThrow(/malformed weightsManifest: group 0 has no list of paths/);
      await fs.writeFile(path.join(folder, 'model.json'), JSON.stringify({ ...manifest, weightsManifest: [{ paths: ['weights.bin'], weights: [{ name: 'w', dtype: 'float32', shape: [-1] }] }] }));
      await expect(loadModel(folder)).rejects.toThrow(/weight 0 of group 0 needs a name, a dtype and a shape of non-negative integers/);
      await fs.writeFile(path.join(folder, 'model.json'), '{"format": "layers-model"}');
      await expect(loadModel(folder)).rejects.toThrow(/not a TensorFlow.js model.json/);
      await fs.writeFile(path.join(folder, 'model.json'), '{not json');
      await expect(loadModel(folder)).rejects.toThrow(/cannot parse/);
      expect(tf.memory().numTensors).toBe(before);
      await expect(saveModel({} as never, folder)).rejects.toThrow('saveModel: model must be a tf.LayersModel, received an object with keys {}');
      await expect(loadModel('' as never)).rejects.toThrow('loadModel: dir must be a folder path (a non-empty string without NUL bytes), received ""');
      await expect(saveModel(smallCnn({ classes: 2, width: 0.125, seed: 1 }), 7 as never)).rejects.toThrow('saveModel: dir must be a folder path (a non-empty string without NUL bytes), received 7');
      expect(() => fileIO(null as never)).toThrow('fileIO: dir must be a folder path (a non-empty string without NUL bytes), received null');
    });

    it('a model that cannot be written is a FileError; the loaded model is the caller\'s to dispose', async () => {
      const plain = path.join(dir, backend, 'plain');
      await fs.writeFile(plain, 'x');
      const net = smallCnn({ classes: 2, width: 0.125, seed: 1 });
      await expect(saveModel(net, path.join(plain, 'm'))).rejects.toBeInstanceOf(FileError);
      const folder = path.join(dir, backend, 'leak');
      await saveModel(net, folder);
      net.dispose();
      await expectNoLeak(async () => { (await loadModel(folder)).dispose(); });
    });
  });
});
