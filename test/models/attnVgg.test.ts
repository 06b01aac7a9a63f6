import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/errors.js';
import * as tfl from '@tensorflow/tfjs-layers';
import { attnVgg } from '../../src/models/attnVgg.js';
import { BilinearUpsampling } from '../../src/models/layers.js';
import { BACKENDS, useTestBackend } from '../helpers/backends.js';
import { expectNoLeak } from '../helpers/expectNoLeak.js';
import { ensureGradients, paramCounts, trainSteps } from './trainStep.js';

describe('attnVgg at full size', () => {
  beforeAll(() => useTestBackend('cpu'));
  it('has the VGG16-BN backbone count plus the attention and classifier parameters; 224 → [logits, a1 28², a2 14²]', () => {
    const net = attnVgg({ seed: 1 });
    // torchvision vgg16_bn: 138,365,992 parameters, of which the classifier holds 123,642,856
    const vgg16bnFeatures = 138_365_992 - 123_642_856;
    const attn1 = 256 * 256 + 512 * 256 + 256 + 1; // W_l, W_g (no bias), phi
    const attn2 = 512 * 256 + 512 * 256 + 256 + 1;
    const cls = (512 + 256 + 512) * 2 + 2;
    expect(paramCounts(net).trainable).toBe(vgg16bnFeatures + attn1 + attn2 + cls);
    expect(net.outputs.map((o) => o.shape)).toEqual([[null, 2], [null, 28, 28, 1], [null, 14, 14, 1]]);
    net.dispose();
  });
});

describe.each(BACKENDS)('attnVgg, reduced (%s)', (backend) => {
  beforeAll(() => useTestBackend(backend));
  const reduced = { inputShape: [32, 32, 3] as const, width: 1 / 16, seed: 2 };

  it('softmax attention maps sum to 1 over positions; sigmoid maps lie in (0, 1)', async () => {
    const soft = attnVgg(reduced);
    const sig = attnVgg({ ...reduced, attention: 'sigmoid' });
    const x = tf.randomUniform([2, 32, 32, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
    const [logits, a1, a2] = soft.predict(x) as tf.Tensor[];
    expect(logits!.shape).toEqual([2, 2]);
    expect(a1!.shape).toEqual([2, 4, 4, 1]);
    expect(a2!.shape).toEqual([2, 2, 2, 1]);
    const sums = tf.sum(a1!, [1, 2, 3]);
    for (const s of await sums.data()) expect(s).toBeCloseTo(1, 5);
    const [, s1] = sig.predict(x) as tf.Tensor[];
    const v = await s1!.data();
    expect(v.every((p) => p > 0 && p < 1)).toBe(true);
    tf.dispose([x, logits!, a1!, a2!, sums, ...(sig.predict(x) as tf.Tensor[])]);
    soft.dispose();
    sig.dispose();
  });

  it('trains: SGD steps lower the loss of the logits output', async () => {
    if (backend === 'wasm' && !(await ensureGradients())) return;
    const net = attnVgg(reduced);
    const x = tf.randomUniform([4, 32, 32, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
    const y = tf.tensor1d([0, 1, 1, 0], 'int32');
    const { before, after } = await trainSteps(net, x, y, 3);
    expect(after).toBeLessThan(before);
    tf.dispose([x, y]);
    net.dispose();
  });

  it("upsamples with half-pixel centres (PyTorch's align_corners=False) and survives serialisation", async () => {
    // 1-D closed form of a 2× upsampling: [a, b] → [a, .75a + .25b, .25a + .75b, b]
    const up = new BilinearUpsampling({ factor: 2 });
    const y = up.apply(tf.tensor4d([1, 5], [1, 1, 2, 1])) as tf.Tensor;
    expect(Array.from(y.dataSync())).toEqual([1, 2, 4, 5, 1, 2, 4, 5]);
    const net = attnVgg(reduced);
    const copy = await tfl.models.modelFromJSON({ modelTopology: net.toJSON(null, false) as tf.io.ModelJSON['modelTopology'] });
    copy.setWeights(net.getWeights());
    const x = tf.randomUniform([1, 32, 32, 3], 0, 1, 'float32', 4) as tf.Tensor4D;
    const [a, b] = [(net.predict(x) as tf.Tensor[])[1]!, (copy.predict(x) as tf.Tensor[])[1]!];
    expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
    expect(copy.getLayer('attn1.up')).toBeInstanceOf(BilinearUpsampling);
    tf.dispose([y, x, a, b]);
    net.dispose();
    copy.dispose();
  });

  it('does not leak', async () => {
    await expectNoLeak(() => { attnVgg(reduced).dispose(); });
  });

  describe('rejects bad input', () => {
    it('bad options', () => {
      expect(() => attnVgg({ inputShape: [48, 48, 3] })).toThrow(/multiples of 32/);
      expect(() => attnVgg({ attention: 'tanh' as never })).toThrow(InvalidArgumentError);
      expect(() => attnVgg({ normalizeAttn: true } as never)).toThrow(/unknown option/);
    });
  });
});
