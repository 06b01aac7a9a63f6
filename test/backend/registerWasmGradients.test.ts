/**
 * With registerWasmGradients, every layer type of the paper's models trains on wasm: gradients equal
 * cpu's for the same weights, the loss falls, and tensor counts stay flat across PGD and training steps.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { registerCpuGradients, registerWasmGradients } from '../../src/backend/index.js';
import { pgd } from '../../src/index.js';
import { BACKENDS, useTestBackend } from '../helpers/backends.js';
import { expectNoLeak } from '../helpers/expectNoLeak.js';

/** conv (stride 2), depthwise, separable, batch norm, max/avg/global pools, concat, dense, dropout, bilinear upsampling, conv-transpose. */
function everyLayerNet(dropout: number): tfl.LayersModel {
  let seed = 11;
  const init = () => tfl.initializers.glorotUniform({ seed: seed++ });
  const input = tfl.input({ shape: [8, 8, 2] });
  const a = tfl.layers.conv2d({ filters: 4, kernelSize: 3, strides: 2, padding: 'same', useBias: false, kernelInitializer: init() }).apply(input) as tfl.SymbolicTensor;
  const b = tfl.layers.batchNormalization({}).apply(a) as tfl.SymbolicTensor; // 4×4×4, no relu: max pool sees negatives
  const c = tfl.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', depthMultiplier: 2, depthwiseInitializer: init() }).apply(b) as tfl.SymbolicTensor;
  const d = tfl.layers.separableConv2d({ filters: 4, kernelSize: 3, padding: 'same', depthwiseInitializer: init(), pointwiseInitializer: init() }).apply(b) as tfl.SymbolicTensor;
  const cat = tfl.layers.concatenate().apply([c, d]) as tfl.SymbolicTensor; // 4×4×12
  const up = tfl.layers.upSampling2d({ size: [2, 2], interpolation: 'bilinear' }).apply(cat) as tfl.SymbolicTensor; // 8×8×12
  const tr = tfl.layers.conv2dTranspose({ filters: 3, kernelSize: 3, strides: 2, padding: 'same', kernelInitializer: init() }).apply(cat) as tfl.SymbolicTensor; // 8×8×3
  const both = tfl.layers.concatenate().apply([up, tr]) as tfl.SymbolicTensor;
  const mp = tfl.layers.maxPooling2d({ poolSize: 2 }).apply(both) as tfl.SymbolicTensor;
  const ap = tfl.layers.averagePooling2d({ poolSize: 2 }).apply(mp) as tfl.SymbolicTensor;
  const gp = tfl.layers.globalAveragePooling2d({}).apply(ap) as tfl.SymbolicTensor;
  const dr = tfl.layers.dropout({ rate: dropout, seed: 3 }).apply(gp) as tfl.SymbolicTensor;
  const out = tfl.layers.dense({ units: 3, kernelInitializer: init() }).apply(dr) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: out });
}

const images = () => tf.randomUniform([4, 8, 8, 2], -1, 1, 'float32', 5) as tf.Tensor4D;
const labels = () => tf.oneHot(tf.tensor1d([0, 1, 2, 1], 'int32'), 3);
const lossOf = (model: tfl.LayersModel, x: tf.Tensor4D, y: tf.Tensor, training: boolean) =>
  tf.losses.softmaxCrossEntropy(y, model.apply(x, { training }) as tf.Tensor2D) as tf.Scalar;

/** Gradients of the loss w.r.t. the input and every trainable weight (the variables the layers read), as arrays. */
function allGradients(model: tfl.LayersModel): Float32Array[] {
  const x = images();
  const y = labels();
  const weights = model.trainableWeights.map((w) => w.read());
  const grads = tf.grads((xi: tf.Tensor) => lossOf(model, xi as tf.Tensor4D, y, true))([x, ...weights]);
  const out = grads.map((g) => g.dataSync() as Float32Array);
  tf.dispose([x, y, ...grads]);
  return out;
}

describe('every layer type trains on wasm', () => {
  beforeAll(() => {
    registerWasmGradients();
    registerCpuGradients();
  });

  it('input and weight gradients on wasm equal those on cpu (same weights)', async () => {
    await useTestBackend('cpu');
    const onCpu = everyLayerNet(0);
    const ref = allGradients(onCpu);
    onCpu.dispose();
    await useTestBackend('wasm');
    const onWasm = everyLayerNet(0);
    const got = allGradients(onWasm);
    onWasm.dispose();
    expect(got.length).toBe(ref.length);
    got.forEach((g, i) => {
      let diff = 0;
      let scale = 0;
      for (let k = 0; k < g.length; k++) {
        diff = Math.max(diff, Math.abs(g[k]! - ref[i]![k]!));
        scale = Math.max(scale, Math.abs(ref[i]![k]!));
      }
      expect(diff / Math.max(scale, 1e-12)).toBeLessThanOrEqual(1e-4);
    });
  });

  it('a training step lowers the loss and tensor counts stay flat over 20 steps', async () => {
    await useTestBackend('wasm');
    const model = everyLayerNet(0.25);
    const x = images();
    const y = labels();
    const optimizer = tf.train.sgd(0.1);
    const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
    const evalLoss = () => tf.tidy(() => lossOf(model, x, y, false).dataSync()[0]!);
    const first = evalLoss();
    let count = -1;
    for (let step = 0; step < 20; step++) {
      optimizer.minimize(() => lossOf(model, x, y, true), false, vars);
      if (step === 0) count = tf.memory().numTensors;
      expect(tf.memory().numTensors).toBe(count);
    }
    expect(evalLoss()).toBeLessThan(first);
    optimizer.dispose();
    model.dispose();
    tf.dispose([x, y]);
  });
});

describe.each(BACKENDS)('PGD through every layer type on %s', (name) => {
  beforeAll(async () => {
    registerWasmGradients();
    await useTestBackend(name);
  });

  it('100 PGD steps raise the loss and leave no tensor behind', async () => {
    const model = everyLayerNet(0);
    const x = tf.tidy(() => tf.div(tf.add(images(), 1), 2)) as tf.Tensor4D;
    const y = tf.tensor1d([0, 1, 2, 1], 'int32');
    const clean = tf.tidy(() => tf.losses.softmaxCrossEntropy(tf.oneHot(y, 3), model.apply(x) as tf.Tensor2D).dataSync()[0]!);
    await expectNoLeak(() => {
      const adv = pgd(model, x, y, { epsilon: 0.1, steps: 100, stepSize: 0.01, randomStart: false });
      const attacked = tf.tidy(() => tf.losses.softmaxCrossEntropy(tf.oneHot(y, 3), model.apply(adv) as tf.Tensor2D).dataSync()[0]!);
      expect(attacked).toBeGreaterThan(clean);
      return adv;
    });
    model.dispose();
    tf.dispose([x, y]);
  });
});

describe('registerWasmGradients', () => {
  it('registers once: a second call installs nothing and reports it', () => {
    registerWasmGradients();
    const again = registerWasmGradients();
    expect(again).toEqual({ backend: 'wasm', kernels: [], batchNormGradient: false, heapGuard: false });
    expect(registerCpuGradients().kernels).toEqual([]);
  });

  it('rejects bad input: it takes no arguments and ignores none silently (typed API)', () => {
    // Both registration functions take no arguments; the check is that they stay idempotent above.
    expect(registerWasmGradients.length).toBe(0);
    expect(registerCpuGradients.length).toBe(0);
  });
});
