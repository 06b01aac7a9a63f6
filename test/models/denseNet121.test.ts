import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/errors.js';
import { denseNet121 } from '../../src/models/denseNet121.js';
import { BACKENDS, useTestBackend } from '../helpers/backends.js';
import { expectNoLeak } from '../helpers/expectNoLeak.js';
import { ensureGradients, paramCounts, trainSteps } from './trainStep.js';

describe('denseNet121 at full size', () => {
  beforeAll(() => useTestBackend('cpu'));
  it("has torchvision's parameter count (7,978,856 with 1000 classes) and 224 → [N, classes]", () => {
    const net = denseNet121({ classes: 1000, seed: 1 });
    // torchvision densenet121: 7,978,856 parameters; Keras DenseNet121: 8,062,504 incl. BN moving stats
    expect(paramCounts(net)).toEqual({ trainable: 7_978_856, total: 8_062_504 });
    expect(net.outputs[0]!.shape).toEqual([null, 1000]);
    expect(net.getLayer('features.denseblock4.denselayer16.conv2').getWeights()[0]!.shape).toEqual([3, 3, 128, 32]);
    net.dispose();
    const chexnet = denseNet121();
    expect(chexnet.outputs[0]!.shape).toEqual([null, 14]);
    expect(paramCounts(chexnet).trainable).toBe(7_978_856 - 1025 * 1000 + 1025 * 14);
    chexnet.dispose();
  });
});

describe.each(BACKENDS)('denseNet121, reduced (%s)', (backend) => {
  beforeAll(() => useTestBackend(backend));
  const reduced = { inputShape: [32, 32, 3] as const, classes: 3, width: 0.125, blocks: [1, 1, 1, 1], seed: 2 };

  it('gives logits of the right shape, the same for the same seed, and builds the normalisation in', async () => {
    const a = denseNet121(reduced);
    const b = denseNet121(reduced);
    const x = tf.randomUniform([2, 32, 32, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
    const [ya, yb] = [a.predict(x) as tf.Tensor, b.predict(x) as tf.Tensor];
    expect(ya.shape).toEqual([2, 3]);
    expect(Array.from(await ya.data())).toEqual(Array.from(await yb.data()));
    const norm = denseNet121({ ...reduced, normalization: { mean: [0.5, 0.4, 0.3], std: [0.2, 0.25, 0.5] } });
    const layer = norm.getLayer('normalize');
    const z = layer.apply(tf.fill([1, 1, 1, 3], 0.5)) as tf.Tensor;
    const zs = await z.data();
    [(0.5 - 0.5) / 0.2, (0.5 - 0.4) / 0.25, (0.5 - 0.3) / 0.5].forEach((v, i) => expect(zs[i]).toBeCloseTo(v, 5));
    expect(layer.trainable).toBe(false);
    tf.dispose([x, ya, yb, z]);
    [a, b, norm].forEach((m) => m.dispose());
  });

  it('trains: SGD steps lower the loss (multi-label)', async () => {
    if (backend === 'wasm' && !(await ensureGradients())) return;
    const net = denseNet121(reduced);
    const x = tf.randomUniform([4, 32, 32, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
    const y = tf.tensor2d([[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 1]]);
    const { before, after } = await trainSteps(net, x, y, 3);
    expect(after).toBeLessThan(before);
    tf.dispose([x, y]);
    net.dispose();
  });

  it('does not leak', async () => {
    await expectNoLeak(() => { denseNet121(reduced).dispose(); });
  });

  describe('rejects bad input', () => {
    it('bad options', () => {
      expect(() => denseNet121({ inputShape: [16, 16, 3] })).toThrow(/>= 32/);
      expect(() => denseNet121({ blocks: [] })).toThrow(InvalidArgumentError);
      expect(() => denseNet121({ width: 0 })).toThrow(/options.width/);
      expect(() => denseNet121({ classes: 0 })).toThrow(/options.classes/);
      expect(() => denseNet121({ normalization: { mean: [0], std: [1] } })).toThrow(/number\[3\]/);
      expect(() => denseNet121({ growthRate: 12 } as never)).toThrow(/unknown option/);
    });
  });
});
