import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fgsm } from '../../src/attacks/fgsm.js';
import { InvalidArgumentError } from '../../src/errors.js';
import { BACKENDS, useTestBackend } from '../helpers/backends.js';
import { expectClose } from '../helpers/close.js';
import { expectNoLeak } from '../helpers/expectNoLeak.js';
import { linearCeGradient, linearModel, type LinearModel } from '../helpers/linearModel.js';

describe.each(BACKENDS)('fgsm on %s', (backend) => {
  let lin: LinearModel;
  let images: tf.Tensor4D;
  let labels: tf.Tensor1D;
  beforeAll(async () => {
    await useTestBackend(backend);
    lin = linearModel(4 * 4 * 2, 3);
    images = tf.tidy(() => tf.add(0.25, tf.mul(0.5, tf.randomUniform([5, 4, 4, 2], 0, 1, 'float32', 11)))) as tf.Tensor4D;
    labels = tf.tensor1d([0, 1, 2, 1, 0], 'int32');
  });
  afterAll(() => { lin.dispose(); images.dispose(); labels.dispose(); });

  it('equals x + ε·sign(∇) on a linear model (L∞ closed form)', () => {
    const eps = 0.05;
    const adv = fgsm(lin.model, images, labels, { epsilon: eps, clip: null });
    const x = images.dataSync();
    const a = adv.dataSync();
    const y = labels.dataSync();
    const expected = new Float32Array(x.length);
    for (let i = 0; i < 5; i++) {
      const xi = x.subarray(i * lin.dims, (i + 1) * lin.dims);
      const g = linearCeGradient(lin, xi, y[i]!);
      for (let d = 0; d < lin.dims; d++) expected[i * lin.dims + d] = xi[d]! + eps * Math.sign(g[d]!);
    }
    expectClose(a, expected, 1e-6);
    adv.dispose();
  });

  it.each(['linf', 'l2'] as const)('with a region-of-interest mask m equals the closed form on the masked gradient g⊙m (%s): δ = 0 outside', (norm) => {
    const eps = norm === 'linf' ? 0.05 : 0.3;
    const mask = tf.tidy(() => tf.cast(tf.greater(tf.randomUniform([5, 4, 4, 2], 0, 1, 'float32', 12), 0.4), 'float32') as tf.Tensor4D);
    const adv = fgsm(lin.model, images, labels, { epsilon: eps, norm, clip: null, mask });
    const [x, a, m, y] = [images.dataSync(), adv.dataSync(), mask.dataSync(), labels.dataSync()];
    const expected = new Float32Array(x.length);
    for (let i = 0; i < 5; i++) {
      const xi = x.subarray(i * lin.dims, (i + 1) * lin.dims);
      const g = linearCeGradient(lin, xi, y[i]!).map((v, d) => v * m[i * lin.dims + d]!);
      const n2 = Math.sqrt(g.reduce((t, v) => t + v * v, 0));
      for (let d = 0; d < lin.dims; d++) expected[i * lin.dims + d] = xi[d]! + eps * (norm === 'linf' ? Math.sign(g[d]!) : g[d]! / n2);
    }
    expectClose(a, expected, 1e-6);
    for (let p = 0; p < x.length; p++) if (m[p] === 0) expect(a[p]).toBe(x[p]);
    tf.dispose([adv, mask]);
  });

  it('equals x + ε·∇/‖∇‖₂ on a linear model (L2 closed form)', () => {
    const eps = 0.3;
    const adv = fgsm(lin.model, images, labels, { epsilon: eps, norm: 'l2', clip: null });
    const x = images.dataSync();
    const a = adv.dataSync();
    const y = labels.dataSync();
    const expected = new Float32Array(x.length);
    for (let i = 0; i < 5; i++) {
      const xi = x.subarray(i * lin.dims, (i + 1) * lin.dims);
      const g = linearCeGradient(lin, xi, y[i]!);
      const norm = Math.hypot(...g);
      for (let d = 0; d < lin.dims; d++) expected[i * lin.dims + d] = xi[d]! + (eps * g[d]!) / norm;
    }
    expectClose(a, expected, 1e-5);
    adv.dispose();
  });

  it('reaches the dual norm: the first-order loss gain Σ g·δ equals ε‖g‖₁ (L∞)', () => {
    const eps = 0.02;
    const adv = fgsm(lin.model, images, labels, { epsilon: eps, clip: null });
    const x = images.dataSync();
    const a = adv.dataSync();
    const y = labels.dataSync();
    for (let i = 0; i < 5; i++) {
      const xi = x.subarray(i * lin.dims, (i + 1) * lin.dims);
      const g = linearCeGradient(lin, xi, y[i]!);
      let gain = 0;
      let l1 = 0;
      for (let d = 0; d < lin.dims; d++) {
        gain += g[d]! * (a[i * lin.dims + d]! - xi[d]!);
        l1 += Math.abs(g[d]!);
      }
      expect(gain).toBeCloseTo(eps * l1, 4);
    }
    adv.dispose();
  });

  it('targeted FGSM steps against the gradient of the target loss', () => {
    const eps = 0.05;
    const targets = tf.tensor1d([2, 2, 0, 0, 1], 'int32');
    const adv = fgsm(lin.model, images, targets, { epsilon: eps, targeted: true, clip: null });
    const x = images.dataSync();
    const a = adv.dataSync();
    const t = targets.dataSync();
    for (let i = 0; i < 5; i++) {
      const xi = x.subarray(i * lin.dims, (i + 1) * lin.dims);
      const g = linearCeGradient(lin, xi, t[i]!);
      for (let d = 0; d < lin.dims; d++) expect(a[i * lin.dims + d]!).toBeCloseTo(xi[d]! - eps * Math.sign(g[d]!), 5);
    }
    adv.dispose();
    targets.dispose();
  });

  it('keeps ‖δ‖∞ ≤ ε and the clip range, and ε = 0 returns the input', () => {
    const adv = fgsm(lin.model, images, labels, { epsilon: 0.4 });
    const [lo, hi, dmax] = tf.tidy(() => [tf.min(adv), tf.max(adv), tf.max(tf.abs(tf.sub(adv, images)))].map((t) => t.dataSync()[0]!));
    expect(lo).toBeGreaterThanOrEqual(0);
    expect(hi).toBeLessThanOrEqual(1);
    expect(dmax).toBeLessThanOrEqual(0.4 + 1e-6);
    adv.dispose();
    const same = fgsm(lin.model, images, labels, { epsilon: 0 });
    expectClose(same.dataSync(), images.dataSync(), 0);
    same.dispose();
  });

  it('accepts one-hot labels and gives the same result as class indices', () => {
    const oneHot = tf.cast(tf.oneHot(labels, 3), 'float32');
    const a = fgsm(lin.model, images, labels, { epsilon: 0.03 });
    const b = fgsm(lin.model, images, oneHot, { epsilon: 0.03 });
    expectClose(a.dataSync(), b.dataSync(), 1e-7);
    tf.dispose([a, b, oneHot]);
  });

  it('uses a custom per-sample loss: ascending −z₀ steps along −sign(W[:,0]) exactly', () => {
    const eps = 0.05;
    const adv = fgsm(lin.model, images, labels, { epsilon: eps, clip: null, loss: (logits) => tf.neg(tf.squeeze(tf.slice(logits, [0, 0], [-1, 1]), [1])) });
    const x = images.dataSync();
    const a = adv.dataSync();
    for (let i = 0; i < 5; i++) {
      for (let d = 0; d < lin.dims; d++) expect(a[i * lin.dims + d]!).toBeCloseTo(x[i * lin.dims + d]! - eps * Math.sign(lin.weights[d * lin.classes]!), 5);
    }
    adv.dispose();
  });

  it('steps by the exact sign and direction of tiny gradients (a confident model), on every backend', () => {
    // Logits scaled by 1e-9: input gradients are ~1e-9, below where the stock wasm Sign kernel returns 0.
    const tiny = (x: tf.Tensor4D) => tf.mul(lin.model(x), 1e-9) as tf.Tensor2D;
    const ref = fgsm(lin.model, images, labels, { epsilon: 0.05, clip: null });
    const adv = fgsm(tiny, images, labels, { epsilon: 0.05, clip: null });
    const refL2 = fgsm(lin.model, images, labels, { epsilon: 0.3, norm: 'l2', clip: null });
    const advL2 = fgsm((x) => tf.mul(lin.model(x), 1e-25) as tf.Tensor2D, images, labels, { epsilon: 0.3, norm: 'l2', clip: null });
    // Softmax of near-zero logits is uniform, so the direction is W·(1/3 − y), not the reference's; compare
    // the achieved norms instead, which a zero step would fail.
    const dmax = tf.tidy(() => tf.max(tf.abs(tf.sub(adv, images))).dataSync()[0]!);
    const dmin = tf.tidy(() => tf.min(tf.abs(tf.sub(adv, images))).dataSync()[0]!);
    expect(dmax).toBeCloseTo(0.05, 6);
    expect(dmin).toBeCloseTo(0.05, 6);
    const l2 = tf.tidy(() => tf.norm(tf.reshape(tf.sub(advL2, images), [5, -1]), 'euclidean', 1).dataSync());
    l2.forEach((v) => expect(v).toBeCloseTo(0.3, 4));
    tf.dispose([ref, adv, refL2, advL2]);
  });

  it('does not leak tensors', async () => {
    await expectNoLeak(() => fgsm(lin.model, images, labels, { epsilon: 0.03 }));
    await expectNoLeak(() => fgsm(lin.model, images, labels, { epsilon: 0.03, norm: 'l2' }));
  });

  it('rejects bad input with typed errors naming the argument', () => {
    const bad = (opts: unknown, x: unknown = images, y: unknown = labels) => () => fgsm(lin.model, x as tf.Tensor4D, y as tf.Tensor, opts as never);
    expect(bad({ epsilon: -0.1 })).toThrow(/fgsm: options.epsilon must be a finite number >= 0, received -0.1/);
    expect(bad({ epsilon: Number.NaN })).toThrow(InvalidArgumentError);
    expect(bad({})).toThrow(/options.epsilon/);
    expect(bad({ epsilon: 0.1, norm: 'l1' })).toThrow(/options.norm/);
    expect(bad({ epsilon: 0.1, stepSize: 0.1 })).toThrow(/unknown option 'stepSize'/);
    const flat = tf.zeros([5, 32]);
    expect(bad({ epsilon: 0.1 }, flat)).toThrow(/fgsm: images must be a rank-4 NHWC tensor, received shape \[5,32\]/);
    const few = tf.tensor1d([0, 1], 'int32');
    expect(bad({ epsilon: 0.1 }, images, few)).toThrow(/fgsm: labels must be class indices \[5\]/);
    const big = tf.tensor1d([0, 1, 2, 3, 0], 'int32');
    expect(bad({ epsilon: 0.1 }, images, big)).toThrow(/labels must be class indices in \[0, 2\]/);
    const nan = tf.tidy(() => tf.where(tf.equal(tf.reshape(tf.range(0, 160), [5, 4, 4, 2]), 7), tf.fill([5, 4, 4, 2], Number.NaN), images));
    expect(bad({ epsilon: 0.1 }, nan)).toThrow(/images must be finite values \(no NaN or Infinity\), received 1 non-finite/);
    const outside = tf.add(images, 2);
    expect(bad({ epsilon: 0.1 }, outside)).toThrow(/inside the clip range \[0, 1\]/);
    tf.dispose([flat, few, big, nan, outside]);
  });

  it('keeps its closed form when chunked, and frees everything when it throws after the model ran', async () => {
    const whole = fgsm(lin.model, images, labels, { epsilon: 0.05, clip: null });
    const chunked = fgsm(lin.model, images, labels, { epsilon: 0.05, clip: null, batchSize: 2 });
    expect(Array.from(chunked.dataSync())).toEqual(Array.from(whole.dataSync()));
    tf.dispose([whole, chunked]);
    const big = tf.tensor1d([0, 1, 2, 3, 0], 'int32');
    await expectNoLeak(() => { expect(() => fgsm(lin.model, images, big, { epsilon: 0.1 })).toThrow(/labels must be class indices in \[0, 2\]/); });
    await expectNoLeak(() => { expect(() => fgsm(lin.model, images, big, { epsilon: 0.1, batchSize: 2 })).toThrow(InvalidArgumentError); });
    big.dispose();
  });
});
