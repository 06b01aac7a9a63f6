import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FormatError, InvalidArgumentError } from '../../src/errors.js';
import { attnVgg } from '../../src/models/attnVgg.js';
import { smallCnn } from '../../src/models/smallCnn.js';
import { loadModel, saveModel } from '../../src/node/modelFiles.js';
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

  describe('rejects bad input', () => {
    it('missing, malformed and truncated files; bad arguments', async () => {
      await expect(loadModel(path.join(dir, 'none'))).rejects.toThrow(FormatError);
      const folder = path.join(dir, backend, 'broken');
      const net = smallCnn({ classes: 2, width: 0.125, seed: 1 });
      await saveModel(net, folder);
      net.dispose();
      const weights = await fs.readFile(path.join(folder, 'weights.bin'));
      await fs.writeFile(path.join(folder, 'weights.bin'), weights.subarray(0, 100));
      await expect(loadModel(folder)).rejects.toThrow(/truncated or mismatched/);
      await fs.writeFile(path.join(folder, 'model.json'), '{"format": "layers-model"}');
      await expect(loadModel(folder)).rejects.toThrow(/not a TensorFlow.js model.json/);
      await fs.writeFile(path.join(folder, 'model.json'), '{not json');
      await expect(loadModel(folder)).rejects.toThrow(/cannot read/);
      await expect(saveModel({} as never, folder)).rejects.toThrow(InvalidArgumentError);
      await expect(loadModel('' as never)).rejects.toThrow(InvalidArgumentError);
    });
  });
});
