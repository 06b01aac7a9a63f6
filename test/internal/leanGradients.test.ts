import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { leanVariableGrads } from '../../src/internal/leanGradients.js';
import { softmaxCrossEntropy } from '../../src/internal/loss.js';
import { installHeapGuard } from '../../src/internal/memory.js';
import { ensureGradientFixes } from '../../src/internal/gradientFixes.js';
import { BACKENDS, useTestBackend } from '../helpers/backends.js';
import { peakBufferBytes } from '../helpers/bufferPeak.js';
import { activationBytes, chainNet } from '../helpers/chainNet.js';

describe.each(BACKENDS)('leanVariableGrads on %s', (backend) => {
  beforeAll(async () => {
    await useTestBackend(backend);
    installHeapGuard();
    ensureGradientFixes();
  });

  const loss = (model: tfl.LayersModel, x: tf.Tensor4D, y: tf.Tensor) => (): tf.Scalar => {
    const logits = model.apply(x, { training: true }) as tf.Tensor2D;
    // An unused half of a split (its gradient is the engine's zeros) and a tensor used twice.
    const [used] = tf.split(logits, [2, 1], 1);
    return tf.add(tf.mean(softmaxCrossEntropy(logits, y)), tf.mul(1e-3, tf.sum(tf.mul(used!, used!)))) as tf.Scalar;
  };

  it('gives tfjs-core\'s gradients bit for bit, and leaks nothing', async () => {
    const model = chainNet(5);
    const x = tf.randomUniform([4, 12, 12, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
    const y = tf.tensor1d([0, 1, 2, 1], 'int32');
    const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
    const stock = tf.variableGrads(loss(model, x, y), vars);
    const before = tf.memory().numTensors;
    const lean = leanVariableGrads(loss(model, x, y), vars);
    expect(tf.memory().numTensors - before).toBe(1 + Object.keys(lean.grads).length);
    expect(Object.keys(lean.grads).sort()).toEqual(Object.keys(stock.grads).sort());
    expect(lean.value.dataSync()).toEqual(stock.value.dataSync());
    for (const [name, g] of Object.entries(stock.grads)) expect(Array.from(lean.grads[name]!.dataSync()), name).toEqual(Array.from(g.dataSync()));
    tf.dispose([stock.value, lean.value, ...Object.values(stock.grads), ...Object.values(lean.grads), x, y]);
    // The tape is released: a throw in the forward pass leaves nothing behind either.
    expect((tf.engine() as unknown as { state: { activeTape: unknown } }).state.activeTape).toBeNull();
    const n = tf.memory().numTensors;
    expect(() => leanVariableGrads(() => { tf.mul(vars[0]!, 2); throw new Error('boom'); }, vars)).toThrow('boom');
    expect(tf.memory().numTensors).toBe(n);
    model.dispose();
  });

  it('holds at most the activations, the weight gradients and a few layers\' worth in flight (tfjs-core holds every gradient too)', () => {
    const depth = 12;
    const batch = 4;
    const model = chainNet(depth);
    const x = tf.randomUniform([batch, 12, 12, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
    const y = tf.tensor1d([0, 1, 2, 1], 'int32');
    const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
    const weightBytes = vars.reduce((s, v) => s + 4 * v.size, 0);
    const { total, largest } = activationBytes(model, batch);
    // Warm-up (kernel set-up, lazily made constants).
    tf.dispose(Object.values(leanVariableGrads(loss(model, x, y), vars).grads));
    const peak = (grads: typeof leanVariableGrads): number => peakBufferBytes(() => tf.tidy(() => {
      const { value, grads: g } = grads(loss(model, x, y), vars);
      tf.dispose([value, ...Object.values(g)]);
    }));
    // Saved for the backward pass: at most every layer output (total). In flight on top: the weight
    // gradients, a layer's temporaries in the forward pass (batch norm's centred input and its square
    // where the backend composes it) and a few layer-sized gradients on the backward frontier.
    const bound = total + weightBytes + 8 * largest;
    const lean = peak(leanVariableGrads);
    const stock = peak((f, v) => tf.variableGrads(f, [...v]) as ReturnType<typeof leanVariableGrads>);
    expect(lean).toBeLessThanOrEqual(bound);
    // The bound is tight enough to catch tfjs-core's backward pass (every intermediate gradient kept).
    expect(stock).toBeGreaterThan(bound);
    tf.dispose([x, y]);
    model.dispose();
  });
});
