import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/errors.js';
import { smallResNet } from '../../src/models/smallResNet.js';
import { BACKENDS, useTestBackend } from '../helpers/backends.js';
import { expectNoLeak } from '../helpers/expectNoLeak.js';
import { ensureGradients, paramCounts, trainSteps } from './trainStep.js';

describe.each(BACKENDS)('smallResNet (%s)', (backend) => {
  beforeAll(() => useTestBackend(backend));

  it('has the parameter count of its definition and logits [N, classes]', () => {
    const net = smallResNet({ classes: 10, stages: [8, 16], blocksPerStage: 1, seed: 1 });
    const bn = (c: number): number => 2 * c;
    const stem = 3 * 9 * 8 + bn(8);
    const block1 = 2 * (8 * 9 * 8 + bn(8));
    const block2 = 8 * 9 * 16 + bn(16) + 16 * 9 * 16 + bn(16) + 8 * 16 + bn(16); // with the projection shortcut
    expect(paramCounts(net).trainable).toBe(stem + block1 + block2 + 16 * 10 + 10);
    const y = net.predict(tf.zeros([2, 28, 28, 3])) as tf.Tensor;
    expect(y.shape).toEqual([2, 10]);
    y.dispose();
    net.dispose();
  });

  it('trains: SGD steps lower the loss', async () => {
    if (backend === 'wasm' && !(await ensureGradients())) return;
    const net = smallResNet({ inputShape: [16, 16, 3], classes: 2, stages: [4, 8], blocksPerStage: 1, seed: 1 });
    const x = tf.randomUniform([4, 16, 16, 3], 0, 1, 'float32', 2) as tf.Tensor4D;
    const y = tf.tensor1d([0, 1, 0, 1], 'int32');
    const { before, after } = await trainSteps(net, x, y, 3);
    expect(after).toBeLessThan(before);
    tf.dispose([x, y]);
    net.dispose();
  });

  it('does not leak', async () => {
    await expectNoLeak(() => { smallResNet({ classes: 2, stages: [4], seed: 1 }).dispose(); });
  });

  describe('rejects bad input', () => {
    it('bad stages and options', () => {
      expect(() => smallResNet({ classes: 2, stages: [] })).toThrow(/non-empty array/);
      expect(() => smallResNet({ classes: 2, blocksPerStage: 0 })).toThrow(InvalidArgumentError);
      expect(() => smallResNet({ classes: 2, inputShape: [2, 2, 3], stages: [4, 4, 4] })).toThrow(/>= 4/);
    });
  });
});
