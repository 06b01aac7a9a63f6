/**
 * The optional native backends: @tensorflow/tfjs-node (TensorFlow C library 2.9.1 on CPU) and
 * @tensorflow/tfjs-node-gpu (the same with CUDA 11.2 and cuDNN 8.1). Their installers download libtensorflow,
 * so they cannot install on this project's machines: the suite skips with a message unless one is installed.
 * When one is, it checks what a user relies on: useBackend starts it, and an input gradient, FGSM, PGD and a
 * training step agree with the cpu backend (the tolerances of docs/guides/backends.md), without leaks.
 */
import * as tf from '@tensorflow/tfjs-core';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { fgsm, pgd } from '../../src/attacks/index.js';
import { useBackend, type BackendName } from '../../src/backend/index.js';
import { softmaxCrossEntropy } from '../../src/internal/loss.js';
import { buildSmallNet } from '../helpers/smallNet.js';

const installed = (pkg: string): boolean => {
  try {
    createRequire(import.meta.url).resolve(`${pkg}/package.json`);
    return true;
  } catch {
    return false;
  }
};
const NATIVE: BackendName | undefined = installed('@tensorflow/tfjs-node-gpu') ? 'node-gpu' : installed('@tensorflow/tfjs-node') ? 'node' : undefined;

interface Outcome { gradient: number[]; fgsm: number[]; pgd: number[]; loss: number; weights: number[] }

/** The same seeded net, data and steps on the active backend. */
async function outcome(): Promise<Outcome> {
  const before = tf.memory().numTensors;
  const net = buildSmallNet({ inputShape: [8, 8, 2], outputs: 3, kind: 'cnn', seed: 4 });
  const x = tf.tensor4d(Array.from({ length: 4 * 8 * 8 * 2 }, (_, i) => 0.5 + 0.45 * Math.sin(0.7 * i)), [4, 8, 8, 2]);
  const y = tf.tensor1d([0, 1, 2, 1], 'int32');
  const g = tf.grad((v: tf.Tensor) => tf.mean(softmaxCrossEntropy(net.apply(v, { training: false }) as tf.Tensor2D, y)))(x);
  const a1 = fgsm(net, x, y, { epsilon: 4 / 255 });
  const a2 = pgd(net, x, y, { epsilon: 8 / 255, steps: 5, seed: 3 });
  const optimizer = tf.train.sgd(0.1);
  const cost = optimizer.minimize(() => tf.mean(softmaxCrossEntropy(net.apply(x, { training: true }) as tf.Tensor2D, y)) as tf.Scalar, true)!;
  const out: Outcome = {
    gradient: Array.from(await g.data()),
    fgsm: Array.from(await a1.data()),
    pgd: Array.from(await a2.data()),
    loss: (await cost.data())[0]!,
    weights: (await Promise.all(net.getWeights().map((w) => w.data()))).flatMap((d) => Array.from(d)),
  };
  tf.dispose([x, y, g, a1, a2, cost]);
  optimizer.dispose();
  net.dispose();
  expect(tf.memory().numTensors, 'tensors leaked').toBe(before);
  return out;
}

describe.skipIf(NATIVE === undefined)('tfjs-node / tfjs-node-gpu (installed)', () => {
  it('useBackend starts the native backend, and it agrees with cpu', async () => {
    await useBackend('cpu');
    const reference = await outcome();
    const choice = await useBackend(NATIVE!);
    expect(choice.tfjsBackend).toBe('tensorflow');
    const native = await outcome();
    const dot = reference.gradient.reduce((s, v, i) => s + v * native.gradient[i]!, 0);
    const norm = (a: number[]) => Math.sqrt(a.reduce((s, v) => s + v * v, 0));
    expect(dot / (norm(reference.gradient) * norm(native.gradient))).toBeGreaterThanOrEqual(0.9999);
    for (const k of ['fgsm', 'pgd'] as const) {
      const same = reference[k].filter((v, i) => v === native[k][i]).length / reference[k].length;
      expect(same, k).toBeGreaterThanOrEqual(0.999);
    }
    expect(Math.abs(native.loss - reference.loss) / reference.loss).toBeLessThanOrEqual(1e-5);
    expect(Math.max(...reference.weights.map((v, i) => Math.abs(v - native.weights[i]!)))).toBeLessThanOrEqual(1e-5);
  });

  it("'auto' prefers it over wasm", async () => {
    const choice = await useBackend('auto', { threads: 1 });
    expect(choice.name).toBe(NATIVE);
  });
});

describe.skipIf(NATIVE !== undefined)('tfjs-node / tfjs-node-gpu', () => {
  it.skip('skipped: neither @tensorflow/tfjs-node nor @tensorflow/tfjs-node-gpu is installed (their installers download libtensorflow)', () => {});
});
