import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { addAll, sigmoidBinaryCrossEntropy, softmaxCrossEntropy } from '../../src/internal/loss.js';
import { BACKENDS, useTestBackend } from '../helpers/backends.js';
import { expectClose } from '../helpers/close.js';
import { expectNoLeak } from '../helpers/expectNoLeak.js';

describe.each(BACKENDS)('losses on %s', (backend) => {
  beforeAll(() => useTestBackend(backend));

  it('softmax cross-entropy equals lse(z) − z_y, for indices and one-hot rows', () => {
    const z = tf.tensor2d([[1, 2, 3], [0.5, -1, 2]]);
    const ref = [Math.log(Math.exp(1) + Math.exp(2) + Math.exp(3)) - 1, Math.log(Math.exp(0.5) + Math.exp(-1) + Math.exp(2)) - 2];
    const byIndex = softmaxCrossEntropy(z, tf.tensor1d([0, 2], 'int32'));
    const byOneHot = softmaxCrossEntropy(z, tf.tensor2d([[1, 0, 0], [0, 0, 1]]));
    expectClose(byIndex.dataSync(), ref, 1e-5);
    expectClose(byOneHot.dataSync(), ref, 1e-5);
  });

  it('keeps the gradient of a confident model exact where p_y − 1 would round to 0', () => {
    // margin 30: p_other = e^-30/(1+2e^-30) ≈ 9.36e-14; ∂/∂z_y = −2·p_other, which float32 p_y − 1 loses.
    const z = tf.tensor2d([[0, 30, 0]]);
    const g = tf.grad((x: tf.Tensor) => tf.sum(softmaxCrossEntropy(x as tf.Tensor2D, tf.tensor1d([1], 'int32'))))(z).dataSync();
    const pOther = Math.exp(-30) / (1 + 2 * Math.exp(-30));
    expect(g[0]! / pOther).toBeCloseTo(1, 4);
    expect(g[1]! / (-2 * pOther)).toBeCloseTo(1, 4);
    expect(g[2]! / pOther).toBeCloseTo(1, 4);
  });

  it('matches p − t for ordinary logits and soft targets', () => {
    const z = tf.tensor2d([[0.3, -1.2, 2.0, 0.1]]);
    const t = tf.tensor2d([[0.1, 0.2, 0.6, 0.1]]);
    const g = tf.grad((x: tf.Tensor) => tf.sum(softmaxCrossEntropy(x as tf.Tensor2D, t)))(z).dataSync();
    const p = tf.softmax(z).dataSync();
    const tv = t.dataSync();
    expectClose(g, Array.from(p, (v, i) => v - tv[i]!), 1e-6);
  });

  it('sigmoid BCE is the mean over labels of −y log σ(z) − (1−y) log(1−σ(z)), finite at large |z|', () => {
    const z = tf.tensor2d([[2, -1, 0], [100, -100, 3]]);
    const y = tf.tensor2d([[1, 0, 1], [1, 0, 0]]);
    const s = (v: number) => 1 / (1 + Math.exp(-v));
    const bce = (v: number, t: number) => -(t * Math.log(s(v)) + (1 - t) * Math.log(1 - s(v)));
    const ref = [(bce(2, 1) + bce(-1, 0) + bce(0, 1)) / 3, (0 + 0 + bce(3, 0)) / 3];
    expectClose(sigmoidBinaryCrossEntropy(z, y).dataSync(), ref, 1e-5);
    const g = tf.grad((x: tf.Tensor) => tf.sum(sigmoidBinaryCrossEntropy(x as tf.Tensor2D, y)))(z).dataSync();
    expect(Array.from(g).every(Number.isFinite)).toBe(true);
    expect(g[0]!).toBeCloseTo((s(2) - 1) / 3, 6);
  });

  it('does not leak tensors', async () => {
    const z = tf.tensor2d([[1, 2, 3]]);
    const y = tf.tensor1d([2], 'int32');
    const yy = tf.tensor2d([[0, 1, 1]]);
    await expectNoLeak(() => softmaxCrossEntropy(z, y));
    await expectNoLeak(() => sigmoidBinaryCrossEntropy(z, yy));
    await expectNoLeak(() => tf.grad((x: tf.Tensor) => tf.sum(softmaxCrossEntropy(x as tf.Tensor2D, y)))(z));
    tf.dispose([z, y, yy]);
  });

  it('addAll equals tf.addN bit for bit, for more inputs than a WebGPU shader may bind, and leaks nothing', async () => {
    // 24 inputs: tfjs-backend-webgpu's AddN binds one storage buffer each and fails silently past the
    // device's limit (8 on SwiftShader); the fold of two-input adds is what the browser suite runs there.
    const parts = Array.from({ length: 24 }, (_, i) => tf.tensor1d([Math.sin(i) * 1e3, 1 / (i + 3), -i * 0.1]));
    const a = addAll(parts);
    const b = tf.addN(parts);
    expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
    tf.dispose([a, b]);
    await expectNoLeak(() => addAll(parts));
    tf.dispose(parts);
  });
});
