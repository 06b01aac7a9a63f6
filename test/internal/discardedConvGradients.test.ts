import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withStockSaving } from '../../src/internal/gradientFixes.js';
import { ensureGradientFixes } from '../../src/internal/gradientFixes.js';
import { inputGradientDiscarded, inputGradientOnly, withDiscardedConvGradients } from '../../src/internal/inputGradientOnly.js';
import { leanVariableGrads } from '../../src/internal/leanGradients.js';
import { BACKENDS, useTestBackend } from '../helpers/backends.js';
import { expectNoLeak } from '../helpers/expectNoLeak.js';

/** One call of a conv-gradient kernel: its output shape and the discard flags it ran under. */
interface Call { kernel: string; shape: number[]; inputDiscarded: boolean; filterDiscarded: boolean }

/** Runs `fn` with the backend's two conv-gradient kernels wrapped to record each call; returns its result and the log. */
function recordConvGradients<T>(backend: string, fn: () => T): { result: T; calls: Call[] } {
  const calls: Call[] = [];
  const originals: tf.KernelConfig[] = [];
  for (const kernel of ['Conv2DBackpropInput', 'Conv2DBackpropFilter']) {
    const config = tf.getKernel(kernel, backend)!;
    originals.push(config);
    tf.unregisterKernel(kernel, backend);
    tf.registerKernel({
      ...config,
      kernelFunc: ((args: { attrs?: tf.NamedAttrMap }) => {
        const attrs = args.attrs as { inputShape?: number[]; filterShape?: number[] };
        calls.push({ kernel, shape: [...(attrs.inputShape ?? attrs.filterShape ?? [])], inputDiscarded: inputGradientDiscarded(), filterDiscarded: inputGradientOnly() });
        return (config.kernelFunc as (a: unknown) => tf.TensorInfo)(args);
      }) as unknown as tf.KernelFunc,
    });
  }
  try {
    return { result: fn(), calls };
  } finally {
    for (const config of originals) {
      tf.unregisterKernel(config.kernelName, backend);
      tf.registerKernel(config);
    }
  }
}

/** conv 3→4 (the images' conv) → batch norm → ReLU → conv 4→4 → global pool → dense: tfjs-layers' fused convs. */
function net(): tfl.LayersModel {
  const init = (seed: number) => tfl.initializers.glorotUniform({ seed });
  return tfl.sequential({
    layers: [
      tfl.layers.conv2d({ inputShape: [8, 8, 3], filters: 4, kernelSize: 3, padding: 'same', useBias: false, kernelInitializer: init(1) }),
      tfl.layers.batchNormalization({}),
      tfl.layers.activation({ activation: 'relu' }),
      tfl.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', kernelInitializer: init(2) }),
      tfl.layers.globalAveragePooling2d({}),
      tfl.layers.dense({ units: 2, kernelInitializer: init(3) }),
    ],
  });
}

describe.each(BACKENDS)('conv gradients the tape does not ask for, on %s', (backend) => {
  let model: tfl.LayersModel;
  let x: tf.Tensor4D;
  beforeAll(async () => {
    await useTestBackend(backend);
    ensureGradientFixes();
    model = net();
    x = tf.randomUniform([2, 8, 8, 3], 0, 1, 'float32', 7) as tf.Tensor4D;
  });
  afterAll(() => {
    x.dispose();
    model.dispose();
  });

  const weights = () => model.trainableWeights.map((w) => w.read() as tf.Variable);
  const loss = (input: tf.Tensor, training: boolean) => tf.sum(tf.square(model.apply(input, { training }) as tf.Tensor)) as tf.Scalar;
  /** The weights' gradients of a training-mode loss through `variableGrads` (tfjs-core's tape or leanVariableGrads). */
  const weightGrads = (variableGrads: typeof leanVariableGrads = tf.variableGrads as typeof leanVariableGrads) => {
    const { value, grads } = variableGrads(() => loss(x, true), weights());
    value.dispose();
    return weights().map((w) => grads[w.name]!);
  };

  it("a training step skips the images' input gradient and computes every other, values bit for bit tfjs-core's", () => {
    const { result: grads, calls } = recordConvGradients(backend, () => weightGrads());
    const inputs = calls.filter((c) => c.kernel === 'Conv2DBackpropInput');
    const filters = calls.filter((c) => c.kernel === 'Conv2DBackpropFilter');
    // the images' dx is marked discarded (zeros on medrobust's kernels), the second conv's dx is computed
    expect(inputs.filter((c) => c.inputDiscarded).map((c) => c.shape)).toEqual([[2, 8, 8, 3]]);
    expect(inputs.filter((c) => !c.inputDiscarded).map((c) => c.shape)).toEqual([[2, 8, 8, 4]]);
    expect(filters).toHaveLength(2);
    expect(filters.every((c) => !c.filterDiscarded)).toBe(true);
    const stock = withStockSaving(() => weightGrads());
    for (let i = 0; i < grads.length; i++) expect(Array.from(grads[i]!.dataSync())).toEqual(Array.from(stock[i]!.dataSync()));
    expect(tf.max(tf.abs(grads[0]!)).dataSync()[0]).toBeGreaterThan(0);
    tf.dispose([...grads, ...stock]);
  });

  it('the training loops\' own backward pass (leanVariableGrads) skips the images\' input gradient too, values bit for bit', () => {
    const { result: grads, calls } = recordConvGradients(backend, () => weightGrads(leanVariableGrads));
    const inputs = calls.filter((c) => c.kernel === 'Conv2DBackpropInput');
    expect(inputs.filter((c) => c.inputDiscarded).map((c) => c.shape)).toEqual([[2, 8, 8, 3]]);
    expect(inputs.filter((c) => !c.inputDiscarded).map((c) => c.shape)).toEqual([[2, 8, 8, 4]]);
    const stock = withStockSaving(() => weightGrads());
    for (let i = 0; i < grads.length; i++) expect(Array.from(grads[i]!.dataSync())).toEqual(Array.from(stock[i]!.dataSync()));
    tf.dispose([...grads, ...stock]);
  });

  it('an input gradient through frozen weights skips every filter gradient, values bit for bit', () => {
    const dx = () => tf.grad((t: tf.Tensor) => loss(t, false))(x);
    const { result: got, calls } = recordConvGradients(backend, dx);
    const filters = calls.filter((c) => c.kernel === 'Conv2DBackpropFilter');
    expect(filters).toHaveLength(2);
    expect(filters.every((c) => c.filterDiscarded)).toBe(true);
    expect(calls.filter((c) => c.kernel === 'Conv2DBackpropInput').every((c) => !c.inputDiscarded)).toBe(true);
    const stock = withStockSaving(dx);
    expect(Array.from(got.dataSync())).toEqual(Array.from(stock.dataSync()));
    expect(tf.max(tf.abs(got)).dataSync()[0]).toBeGreaterThan(0);
    tf.dispose([got, stock]);
  });

  it('leaves both flags off after the step, and after a call that throws', () => {
    weightGrads().forEach((g) => g.dispose());
    expect([inputGradientDiscarded(), inputGradientOnly()]).toEqual([false, false]);
    expect(withDiscardedConvGradients({ input: true, filter: true }, () => [inputGradientDiscarded(), inputGradientOnly()])).toEqual([true, true]);
    expect(() => withDiscardedConvGradients({ input: true, filter: false }, () => { throw new Error('boom'); })).toThrow('boom');
    expect([inputGradientDiscarded(), inputGradientOnly()]).toEqual([false, false]);
  });

  it('leaks nothing across a training step', async () => {
    await expectNoLeak(() => weightGrads());
  });
});
