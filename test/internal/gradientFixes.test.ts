import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { fgsm } from '../../src/attacks/fgsm.js';
import { ensureGradientFixes, withStockSaving } from '../../src/internal/gradientFixes.js';
import { inputGradient } from '../../src/internal/inputGradient.js';
import { withInputGradientOnly } from '../../src/internal/inputGradientOnly.js';
import { measurePeak } from '../../src/internal/memory.js';
import { denseNet121 } from '../../src/models/denseNet121.js';
import { BACKENDS, useTestBackend } from '../helpers/backends.js';
import { maxAbsDiff } from '../helpers/close.js';
import { expectNoLeak } from '../helpers/expectNoLeak.js';

/** conv → batch norm → dense, with the batch norm's scale (γ) and/or offset (β) switched off. */
function net(scale: boolean, center: boolean): tfl.LayersModel {
  const m = tfl.sequential({
    layers: [
      tfl.layers.conv2d({ inputShape: [6, 6, 2], filters: 3, kernelSize: 3, useBias: false, kernelInitializer: tfl.initializers.glorotUniform({ seed: 1 }) }),
      tfl.layers.batchNormalization({ scale, center, movingMeanInitializer: tfl.initializers.constant({ value: 0.1 }), movingVarianceInitializer: tfl.initializers.constant({ value: 2 }) }),
      tfl.layers.flatten(),
      tfl.layers.dense({ units: 2, kernelInitializer: tfl.initializers.glorotUniform({ seed: 2 }) }),
    ],
  });
  return m;
}

describe.each(BACKENDS)('gradient fixes on %s', (backend) => {
  beforeAll(() => useTestBackend(backend));

  it('differentiates a Keras batch norm without scale (γ) or without offset (β): same gradient as γ = 1, β = 0', () => {
    ensureGradientFixes();
    const x = tf.randomUniform([2, 6, 6, 2], 0, 1, 'float32', 3);
    const full = net(true, true);
    const grad = (m: tfl.LayersModel) => tf.grad((t: tf.Tensor) => tf.sum(tf.square(m.apply(t, { training: false }) as tf.Tensor)))(x);
    const reference = grad(full);
    for (const [scale, center] of [[false, true], [true, false], [false, false]] as const) {
      const m = net(scale, center);
      const g = grad(m);
      expect(maxAbsDiff(g.dataSync(), reference.dataSync()), `scale ${scale} center ${center}`).toBeLessThan(1e-5);
      g.dispose();
      m.dispose();
    }
    reference.dispose();
    full.dispose();
    x.dispose();
  });

  it('lets an attack run through a batch norm without scale, leaking nothing', async () => {
    const m = net(false, true);
    const x = tf.randomUniform([3, 6, 6, 2], 0, 1, 'float32', 4) as tf.Tensor4D;
    const y = tf.tensor1d([0, 1, 0], 'int32');
    await expectNoLeak(() => fgsm(m, x, y, { epsilon: 0.1 }));
    const adv = fgsm(m, x, y, { epsilon: 0.1 });
    expect(maxAbsDiff(adv.dataSync(), x.dataSync())).toBeGreaterThan(0.05);
    tf.dispose([adv, x, y]);
    m.dispose();
  });

  it('saving less (ReLU output, no batch-norm input for input gradients, shapes only for Concat/Reshape/Sum/Mean) changes no value and lowers the peak', () => {
    const dense = denseNet121({ inputShape: [32, 32, 3], classes: 4, width: 0.25, blocks: [3, 3], seed: 2 });
    const x = tf.randomUniform([2, 32, 32, 3], 0, 1, 'float32', 5);
    const loss = (t: tf.Tensor) => ({ loss: tf.sum(tf.square(dense.apply(t, { training: false }) as tf.Tensor)) as tf.Scalar });
    loss(x).loss.dispose();
    const run = () => measurePeak(() => withInputGradientOnly(() => inputGradient(loss, x)));
    const stock = withStockSaving(run);
    const lean = run();
    expect(Array.from(lean.result.grad.dataSync())).toEqual(Array.from(stock.result.grad.dataSync()));
    expect(lean.peakBytes, `peak ${lean.peakBytes} vs stock saving ${stock.peakBytes}`).toBeLessThan(0.8 * stock.peakBytes);
    // Training gradients (batch-norm statistics and scale) still work outside input-gradient mode.
    const wGrads = tf.variableGrads(() => tf.sum(dense.apply(x, { training: true }) as tf.Tensor) as tf.Scalar);
    expect(Object.keys(wGrads.grads).length).toBeGreaterThan(4);
    tf.dispose([x, stock.result.loss, stock.result.grad, lean.result.loss, lean.result.grad, wGrads.value, ...Object.values(wGrads.grads)]);
    dense.dispose();
  });
});
