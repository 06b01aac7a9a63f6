import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { advTrain } from '../../src/defenses/advTrain.js';
import { applyTraining } from '../../src/defenses/trainingStep.js';
import { installHeapGuard } from '../../src/internal/memory.js';
import { BACKENDS, useTestBackend } from '../helpers/backends.js';
import { startPeakMeter } from '../helpers/bufferPeak.js';
import { activationBytes, chainNet } from '../helpers/chainNet.js';

/** Peak bytes of one clean SGD step of advTrain on one batch (after a warm-up step), no split. */
async function stepPeak(model: tfl.LayersModel, images: tf.Tensor4D, labels: tf.Tensor, extra: { l1?: number; weightDecay?: number } = {}): Promise<number> {
  const optimizer = tf.train.sgd(0.01);
  const options = { generator: () => null, epochs: 1, optimizer, seed: 1, microBatch: images.shape[0], ...extra };
  await advTrain(model, [{ images, labels }], options);
  const stop = startPeakMeter();
  let peak = 0;
  try {
    await advTrain(model, [{ images, labels }], options);
  } finally {
    peak = stop();
    optimizer.dispose();
  }
  return peak;
}

describe.each(BACKENDS)('training step memory on %s', (backend) => {
  beforeAll(async () => {
    await useTestBackend(backend);
    installHeapGuard();
  });

  it('holds the activations once: no gradient per activation, no batch-norm output past its ReLU (a deep conv net whose activations outweigh its weights)', async () => {
    const batch = 4;
    const model = chainNet(12);
    const images = tf.randomUniform([batch, 12, 12, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
    const labels = tf.tensor1d([0, 1, 2, 1], 'int32');
    const weightBytes = model.trainableWeights.reduce((s, w) => s + 4 * w.read().size, 0);
    const { total, largest, ofClass: batchNormOutputs } = activationBytes(model, batch);
    const peak = await stepPeak(model, images, labels);
    // Saved for the backward pass: every layer output but the batch-norm outputs (the ReLU after each
    // saves its own output; PyTorch's in-place ReLU overwrites it). On top: the weight gradients and the
    // update's and finiteness check's weight-sized temporaries, a layer's temporaries in the forward
    // pass and a few layer-sized gradients in the backward pass. tfjs-core's own backward pass keeps
    // every intermediate gradient too (about `total` more: see test/internal/leanGradients.test.ts), and
    // model.apply in training mode every batch-norm output until the forward pass ends.
    // On cpu, tfjs-layers' batch-norm statistics (tf.moments) also save x − mean for each batch norm
    // (Square's input); on wasm one kernel computes them and saves nothing image-sized.
    const moments = backend === 'cpu' ? batchNormOutputs : 0;
    expect(peak).toBeLessThanOrEqual(total - batchNormOutputs + moments + 2 * weightBytes + 4 * largest);
    tf.dispose([images, labels]);
    model.dispose();
  });

  it('applyTraining equals model.apply in training mode bit for bit (outputs, gradients, batch-norm statistics)', () => {
    const run = (apply: (m: tfl.LayersModel, x: tf.Tensor) => tf.Tensor): Float32Array[] => {
      const model = chainNet(4);
      const x = tf.randomUniform([3, 12, 12, 3], 0, 1, 'float32', 2);
      const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
      const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(apply(model, x))) as tf.Scalar, vars);
      const out = [value, ...vars.map((v) => grads[v.name]!), ...model.nonTrainableWeights.map((w) => w.read())].map((t) => t.dataSync() as Float32Array);
      tf.dispose([value, x, ...Object.values(grads)]);
      model.dispose();
      return out;
    };
    const stock = run((m, x) => m.apply(x, { training: true }) as tf.Tensor);
    const before = tf.memory().numTensors;
    const ours = run((m, x) => applyTraining(m, x) as tf.Tensor);
    expect(tf.memory().numTensors).toBe(before);
    expect(ours.length).toBe(stock.length);
    ours.forEach((a, i) => expect(Array.from(a), `tensor ${i}`).toEqual(Array.from(stock[i]!)));
  });

  it('adds no weight-sized temporary per weight for the penalties and the finiteness check (a net whose weights outweigh its activations)', async () => {
    const layers = 6;
    const width = 128;
    const input = tfl.input({ shape: [4, 4, 2] });
    let x = tfl.layers.flatten().apply(input) as tfl.SymbolicTensor;
    for (let i = 0; i < layers; i++) x = tfl.layers.dense({ units: width, activation: 'relu', kernelInitializer: tfl.initializers.glorotUniform({ seed: i }) }).apply(x) as tfl.SymbolicTensor;
    const model = tfl.model({ inputs: input, outputs: tfl.layers.dense({ units: 3 }).apply(x) as tfl.SymbolicTensor });
    const images = tf.randomUniform([2, 4, 4, 2], 0, 1, 'float32', 1) as tf.Tensor4D;
    const labels = tf.tensor1d([0, 2], 'int32');
    const sizes = model.trainableWeights.map((w) => 4 * w.read().size);
    const weightBytes = sizes.reduce((a, b) => a + b, 0);
    const largestWeight = Math.max(...sizes);
    const { total } = activationBytes(model, 2);
    const peak = await stepPeak(model, images, labels, { l1: 1e-5, weightDecay: 1e-4 });
    // The gradients (one weights' worth) plus a few of the largest weight's temporaries at a time:
    // |w|, w², their gradients, w·0 and the update, each freed before the next weight's is made.
    expect(peak).toBeLessThanOrEqual(weightBytes + 5 * largestWeight + 4 * total);
    tf.dispose([images, labels]);
    model.dispose();
  });

  // Issue 13: `reproduce`'s train stage peaked at the same ~1.25 GiB of tensors at --memory-budget 1024 and 300:
  // tfjs's Adam held every weight's update temporaries at once (~12× the weights, 1 GiB for Inception-v3)
  // after the micro-batches, whatever the budget. Now the update goes weight group by weight group and counts.
  it('memoryBudget bounds the whole step, Adam\'s update included: a smaller budget, a smaller peak, each within its budget', async () => {
    // Convolutions at 24 px (activations that grow with the micro-batch), then six dense 128×128 layers
    // (weights of the same size, so that updating them one at a time holds a sixth of what all at once does).
    const input = tfl.input({ shape: [24, 24, 3] });
    let x = input as tfl.SymbolicTensor;
    for (let i = 0; i < 3; i++) x = tfl.layers.conv2d({ filters: 8, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: tfl.initializers.glorotUniform({ seed: i + 1 }) }).apply(x) as tfl.SymbolicTensor;
    x = tfl.layers.dense({ units: 128, activation: 'relu', kernelInitializer: tfl.initializers.glorotUniform({ seed: 9 }) }).apply(tfl.layers.globalAveragePooling2d({}).apply(x)) as tfl.SymbolicTensor;
    for (let i = 0; i < 6; i++) x = tfl.layers.dense({ units: 128, activation: 'relu', kernelInitializer: tfl.initializers.glorotUniform({ seed: 10 + i }) }).apply(x) as tfl.SymbolicTensor;
    const model = tfl.model({ inputs: input, outputs: tfl.layers.dense({ units: 4 }).apply(x) as tfl.SymbolicTensor });
    const images = tf.randomUniform([16, 24, 24, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
    const labels = tf.tensor1d(Array.from({ length: 16 }, (_, i) => i % 4), 'int32');
    const weightBytes = model.trainableWeights.reduce((s, w) => s + 4 * w.read().size, 0);
    const optimizer = tf.train.adam(1e-3);
    const MiB = 2 ** 20;
    const run = async (memoryBudget: number) => {
      const stop = startPeakMeter();
      let peak = 0;
      let report;
      try {
        report = await advTrain(model, [{ images, labels }], { generator: () => null, epochs: 1, optimizer, seed: 1, memoryBudget });
      } finally {
        peak = stop();
      }
      return { peak, microBatch: report.microBatch! };
    };
    // The first update makes Adam's moments (twice the weights: optimizer state, which no budget covers).
    await run(64 * MiB);
    const [small, large] = [await run(1.5 * MiB), await run(4 * MiB)];
    expect(small.microBatch).toBeLessThan(large.microBatch);
    expect(small.peak).toBeLessThan(large.peak);
    expect(small.peak).toBeLessThanOrEqual(1.5 * MiB);
    expect(large.peak).toBeLessThanOrEqual(4 * MiB);
    // tfjs's one-scope update alone held ≥ 8 weights' worth of temporaries, over the small budget.
    expect(8 * weightBytes).toBeGreaterThan(1.5 * MiB);
    optimizer.dispose();
    tf.dispose([images, labels]);
    model.dispose();
  });
});
