import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { inputGradient } from '../../src/internal/inputGradient.js';
import { measurePeak } from '../../src/internal/memory.js';
import { releaseStaleTape } from '../../src/internal/scope.js';
import { denseNet121 } from '../../src/models/denseNet121.js';
import { smallResNet } from '../../src/models/smallResNet.js';
import { BACKENDS, useTestBackend } from '../helpers/backends.js';
import { expectNoLeak } from '../helpers/expectNoLeak.js';

describe.each(BACKENDS)('inputGradient on %s', (backend) => {
  beforeAll(() => useTestBackend(backend));

  it('equals tf.valueAndGrad bit for bit (conv + batch norm + residuals) and returns forward outputs', () => {
    const net = smallResNet({ inputShape: [16, 16, 3], classes: 3, width: 0.25, seed: 1 });
    const x = tf.randomUniform([2, 16, 16, 3], 0, 1, 'float32', 4);
    const loss = (t: tf.Tensor) => tf.sum(tf.square(net.apply(t, { training: false }) as tf.Tensor)) as tf.Scalar;
    const ref = tf.valueAndGrad(loss)(x);
    const ours = inputGradient((t) => {
      const logits = net.apply(t, { training: false }) as tf.Tensor;
      return { loss: tf.sum(tf.square(logits)) as tf.Scalar, aux: [logits] };
    }, x);
    expect(Array.from(ours.grad.dataSync())).toEqual(Array.from(ref.grad.dataSync()));
    expect(ours.loss.dataSync()[0]).toBe(ref.value.dataSync()[0]);
    expect(ours.aux[0]!.shape).toEqual([2, 3]);
    tf.dispose([x, ref.value, ref.grad, ours.loss, ours.grad, ...ours.aux]);
    net.dispose();
  });

  it('holds less memory than tf.grad at its peak (frees saved tensors and gradients as the backward pass goes)', () => {
    const net = denseNet121({ inputShape: [32, 32, 3], classes: 4, width: 0.25, blocks: [3, 3], seed: 2 });
    const x = tf.randomUniform([2, 32, 32, 3], 0, 1, 'float32', 5);
    const f = (t: tf.Tensor) => tf.sum(net.apply(t, { training: false }) as tf.Tensor) as tf.Scalar;
    f(x).dispose(); // build the weights first
    const stock = measurePeak(() => tf.tidy(() => { tf.grad(f)(x); }));
    const ours = measurePeak(() => tf.tidy(() => { inputGradient((t) => ({ loss: f(t) }), x); }));
    expect(ours.peakBytes, `peak ${ours.peakBytes} vs tf.grad ${stock.peakBytes}`).toBeLessThan(0.8 * stock.peakBytes);
    tf.dispose(x);
    net.dispose();
  });

  it('a loss that ignores the input has a zero gradient', () => {
    const x = tf.ones([2, 3]);
    const c = tf.scalar(4);
    const r = inputGradient(() => ({ loss: tf.mul(c, 2) as tf.Scalar }), x);
    expect(Array.from(r.grad.dataSync())).toEqual([0, 0, 0, 0, 0, 0]);
    tf.dispose([x, c, r.loss, r.grad]);
  });

  it('frees everything when the forward or the backward pass throws', async () => {
    const x = tf.ones([2, 3]);
    await expectNoLeak(() => {
      expect(() => inputGradient((t) => { tf.relu(t); throw new Error('forward'); }, x)).toThrow('forward');
    });
    const broken = tf.customGrad(((a: tf.Tensor) => ({ value: tf.square(a), gradFunc: () => { throw new Error('backward'); } })) as never) as (a: tf.Tensor) => tf.Tensor;
    await expectNoLeak(() => {
      expect(() => inputGradient((t) => ({ loss: tf.sum(broken(tf.exp(t))) as tf.Scalar }), x)).toThrow('backward');
    });
    expect(releaseStaleTape()).toBe(0);
    x.dispose();
  });

  it("inside a caller's tf.grad it leaves the caller's tape alone (second-order use)", () => {
    const x = tf.tensor1d([1, 2, 3]);
    // d/dx Σ (d/dx Σ x³) = d/dx Σ 3x² = 6x
    const g2 = tf.grad((t: tf.Tensor) => {
      const inner = inputGradient((u) => ({ loss: tf.sum(tf.pow(u, 3)) as tf.Scalar }), t);
      return tf.sum(inner.grad);
    })(x);
    expect(Array.from(g2.dataSync())).toEqual([6, 12, 18]);
    tf.dispose([x, g2]);
  });
});
