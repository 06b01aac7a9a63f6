import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/errors.js';
import { generateLesions } from '../../src/data/generateLesions.js';
import { smallCnn } from '../../src/models/smallCnn.js';
import { BACKENDS, useTestBackend } from '../helpers/backends.js';
import { expectNoLeak } from '../helpers/expectNoLeak.js';
import { ensureGradients, paramCounts, trainSteps } from './trainStep.js';

describe.each(BACKENDS)('smallCnn (%s)', (backend) => {
  beforeAll(() => useTestBackend(backend));

  it('has the parameter count of its definition and logits [N, classes]', () => {
    const net = smallCnn({ classes: 2, seed: 1 });
    const convs = (3 * 9 + 1) * 32 + (32 * 9 + 1) * 32 + (32 * 9 + 1) * 64 + (64 * 9 + 1) * 64;
    expect(paramCounts(net)).toEqual({ trainable: convs + (7 * 7 * 64 + 1) * 128 + 129 * 2, total: convs + (7 * 7 * 64 + 1) * 128 + 129 * 2 });
    const y = net.predict(tf.zeros([3, 28, 28, 3])) as tf.Tensor;
    expect(y.shape).toEqual([3, 2]);
    y.dispose();
    net.dispose();
  });

  it('trains on the generated lesions: SGD steps lower the loss', async () => {
    if (backend === 'wasm' && !(await ensureGradients())) return;
    const net = smallCnn({ classes: 2, width: 0.125, seed: 1 });
    const d = generateLesions({ count: 4, seed: 1 });
    const { before, after } = await trainSteps(net, d.images, d.labels, 3);
    expect(after).toBeLessThan(before);
    tf.dispose([d.images, d.labels]);
    net.dispose();
  });

  it('does not leak', async () => {
    await expectNoLeak(() => { smallCnn({ classes: 2 }).dispose(); });
  });

  describe('rejects bad input', () => {
    it('a missing class count and bad options', () => {
      expect(() => smallCnn({} as never)).toThrow(/options.classes must be an integer >= 1 \(required\)/);
      expect(() => smallCnn({ classes: 2, inputShape: [28, 28] as never })).toThrow(InvalidArgumentError);
      expect(() => smallCnn({ classes: 2, widht: 2 } as never)).toThrow(/did you mean 'width'/);
    });
  });
});
