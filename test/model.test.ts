import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { pgd } from '../src/attacks/pgd.js';
import { InvalidArgumentError, MedrobustError } from '../src/errors.js';
import { selectOutput, toModelFn } from '../src/model.js';
import { BACKENDS, useTestBackend } from './helpers/backends.js';
import { expectClose } from './helpers/close.js';
import { expectNoLeak } from './helpers/expectNoLeak.js';

function twoHeaded(): tfl.LayersModel {
  const input = tfl.input({ shape: [4, 4, 1] });
  const flat = tfl.layers.flatten().apply(input) as tfl.SymbolicTensor;
  const logits = tfl.layers.dense({ units: 2, kernelInitializer: tfl.initializers.glorotUniform({ seed: 1 }) }).apply(flat) as tfl.SymbolicTensor;
  const extra = tfl.layers.dense({ units: 5, kernelInitializer: tfl.initializers.glorotUniform({ seed: 2 }) }).apply(flat) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: [logits, extra] });
}

describe.each(BACKENDS)('model wrapping on %s', (backend) => {
  beforeAll(() => useTestBackend(backend));

  it('calls a LayersModel in inference mode (dropout off: repeated calls agree)', () => {
    const net = tfl.sequential({ layers: [tfl.layers.flatten({ inputShape: [4, 4, 1] }), tfl.layers.dropout({ rate: 0.5 }), tfl.layers.dense({ units: 3 })] });
    const x = tf.ones([2, 4, 4, 1]) as tf.Tensor4D;
    const f = toModelFn(net);
    const a = f(x);
    const b = f(x);
    expect(a.shape).toEqual([2, 3]);
    expectClose(a.dataSync(), b.dataSync(), 0);
    tf.dispose([a, b, x]);
    net.dispose();
  });

  it('selectOutput picks the logits of a multi-output model, and the attack runs through it', () => {
    const net = twoHeaded();
    const x = tf.fill([3, 4, 4, 1], 0.5) as tf.Tensor4D;
    const logits = selectOutput(net, 0)(x);
    const direct = (net.predict(x) as tf.Tensor[])[0]!;
    expectClose(logits.dataSync(), direct.dataSync(), 1e-6);
    const adv = pgd(selectOutput(net, 0), x, tf.tensor1d([0, 1, 0], 'int32'), { epsilon: 0.1, seed: 1 });
    expect(adv.shape).toEqual([3, 4, 4, 1]);
    tf.dispose([logits, direct, adv, x]);
    net.dispose();
  });

  it('rejects a multi-output model without selectOutput, and bad arguments', () => {
    const net = twoHeaded();
    const x = tf.zeros([1, 4, 4, 1]) as tf.Tensor4D;
    expect(() => toModelFn(net, 'pgd')(x)).toThrow(/pgd: model must be a model with one output .*selectOutput\(model, index\), received 2 outputs/);
    expect(() => toModelFn('net' as never)).toThrow(InvalidArgumentError);
    expect(() => selectOutput(net, -1)).toThrow(/selectOutput: index must be a non-negative integer, received -1/);
    expect(() => selectOutput(net, 4)(x)).toThrow(/index must be an output index below 2/);
    expect(() => toModelFn(() => tf.zeros([1, 2, 2]) as never)(x)).toThrow(/model that returns logits of shape \[1, C\]/);
    try { toModelFn(5 as never); } catch (err) {
      expect(err).toBeInstanceOf(MedrobustError);
      expect((err as InvalidArgumentError).argument).toBe('model');
    }
    x.dispose();
    net.dispose();
  });

  it('does not leak tensors', async () => {
    const net = twoHeaded();
    const x = tf.zeros([2, 4, 4, 1]) as tf.Tensor4D;
    await expectNoLeak(() => tf.tidy(() => selectOutput(net, 1)(x)));
    await expectNoLeak(() => toModelFn((t) => tf.reshape(t, [2, 16]) as tf.Tensor2D)(x));
    x.dispose();
    net.dispose();
  });
});
