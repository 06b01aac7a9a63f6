import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { inputGradientOnly, withInputGradientOnly } from '../../src/internal/inputGradientOnly.js';
import { smallResNet } from '../../src/models/smallResNet.js';
import { BACKENDS, useTestBackend } from '../helpers/backends.js';
import { expectNoLeak } from '../helpers/expectNoLeak.js';

describe.each(BACKENDS)('input-gradient-only flag on %s', (backend) => {
  beforeAll(() => useTestBackend(backend));

  it('leaves input gradients of a conv+batch-norm net bit for bit unchanged (the fused-conv path)', () => {
    const net = smallResNet({ inputShape: [16, 16, 3], classes: 3, width: 0.25, seed: 1 });
    const x = tf.randomUniform([2, 16, 16, 3], 0, 1, 'float32', 4);
    const loss = (t: tf.Tensor) => tf.sum(net.apply(t, { training: false }) as tf.Tensor);
    const plain = tf.grad(loss)(x);
    const flagged = withInputGradientOnly(() => tf.grad(loss)(x));
    expect(Array.from(flagged.dataSync())).toEqual(Array.from(plain.dataSync()));
    tf.dispose([x, plain, flagged]);
    net.dispose();
  });

  it('is on only inside the call, and restored when the call throws', () => {
    expect(inputGradientOnly()).toBe(false);
    expect(withInputGradientOnly(() => inputGradientOnly())).toBe(true);
    expect(() => withInputGradientOnly(() => { throw new Error('boom'); })).toThrow('boom');
    expect(inputGradientOnly()).toBe(false);
  });

  it('skips the filter gradient that the attack would discard (wasm kernels), without leaking', async () => {
    const x = tf.randomUniform([1, 6, 6, 2], 0, 1, 'float32', 1) as tf.Tensor4D;
    const w = tf.randomUniform([3, 3, 2, 2], -1, 1, 'float32', 2) as tf.Tensor4D;
    const dw = (flag: boolean) => (flag ? withInputGradientOnly : (f: () => tf.Tensor) => f())(() => tf.grad((f: tf.Tensor) => tf.sum(tf.conv2d(x, f as tf.Tensor4D, 1, 'same')))(w));
    const normal = dw(false);
    const skipped = dw(true);
    expect(tf.max(tf.abs(normal)).dataSync()[0]).toBeGreaterThan(0);
    if (backend === 'wasm') expect(tf.max(tf.abs(skipped)).dataSync()[0]).toBe(0);
    tf.dispose([normal, skipped]);
    await expectNoLeak(() => dw(true));
    tf.dispose([x, w]);
  });
});
