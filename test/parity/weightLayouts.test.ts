/**
 * loadTorchWeights on checkpoints a PyTorch script writes in the paper's real layouts (test/parity/
 * checkpoints.py): the IPMI AttnVGG, CheXNet's DataParallel DenseNet121 wrapper with torchvision's old
 * layer names, the authors' Messidor Inception-v3 wrapper, and a plain torchvision DenseNet. Each is
 * saved with np.savez, read with readNpz (no torch on this side), loaded by name, and the logits and
 * input gradients are compared with PyTorch's on the same images.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { readNpz } from '../../src/data/npz.js';
import { attnVgg } from '../../src/models/attnVgg.js';
import { denseNet121 } from '../../src/models/denseNet121.js';
import { inceptionV3 } from '../../src/models/inceptionV3.js';
import { loadTorchWeights } from '../../src/models/torchWeights.js';
import { BACKENDS, useTestBackend } from '../helpers/backends.js';
import { HAS_TORCH, maxDiff, npy, report, runPort, warnIfSkipped } from './python.js';

warnIfSkipped('Checkpoint layout parity');

interface Case {
  layout: string;
  /** Slow on the cpu backend (a 224/299 px net): cpu only with MEDROBUST_SLOW=1. */
  heavy?: boolean;
  build: () => tfl.LayersModel;
  side: number;
  classes: number;
  args?: Record<string, unknown>;
  logits: (net: tfl.LayersModel, x: tf.Tensor4D) => tf.Tensor2D;
}

const first = (net: tfl.LayersModel, x: tf.Tensor4D): tf.Tensor2D => {
  const out = net.apply(x, { training: false });
  return (Array.isArray(out) ? out[0] : out) as tf.Tensor2D;
};

const CASES: Case[] = [
  { layout: 'attnvgg', heavy: true, side: 224, classes: 2, args: { width: 1 / 16, attention: 'softmax' }, build: () => attnVgg({ inputShape: [224, 224, 3], width: 1 / 16, attention: 'softmax', seed: 1 }), logits: first },
  { layout: 'chexnet', side: 64, classes: 14, build: () => denseNet121({ inputShape: [64, 64, 3], classes: 14, width: 0.125, blocks: [2, 2, 2, 2], seed: 1 }), logits: first },
  { layout: 'messidor', heavy: true, side: 299, classes: 4, build: () => inceptionV3({ inputShape: [299, 299, 3], classes: 4, width: 0.125, auxLogits: true, seed: 1 }), logits: first },
  { layout: 'torchvision-densenet', side: 32, classes: 5, build: () => denseNet121({ inputShape: [32, 32, 3], classes: 5, width: 0.125, blocks: [2, 2, 2, 2], seed: 1 }), logits: first },
];

const SLOW = process.env.MEDROBUST_SLOW === '1';

describe.skipIf(!HAS_TORCH).each(BACKENDS)('checkpoint layouts against PyTorch (%s)', (backend) => {
  beforeAll(() => useTestBackend(backend));

  it.each(CASES.filter((c) => backend === 'wasm' || SLOW || !c.heavy))('$layout $args: loads by name; logits and input gradients equal PyTorch\'s', (c) => {
    const x = tf.randomUniform([2, c.side, c.side, 3], -1, 1, 'float32', 7) as tf.Tensor4D;
    const weights = Array.from({ length: c.classes }, (_, k) => (k % 3) - 1 + 0.5 * k / c.classes);
    const { out, files } = runPort('checkpoints.py', { x: npy(x) }, { layout: c.layout, classes: c.classes, weights, ...c.args }, ['checkpoint.npz']);
    const state = readNpz(files['checkpoint.npz']!);
    const net = c.build();
    const loaded = loadTorchWeights(net, state);
    expect(loaded.unused).toEqual([]);
    expect(loaded.missing).toEqual([]);
    const w = tf.tensor1d(weights);
    const logits = tf.tidy(() => c.logits(net, x));
    const grad = tf.tidy(() => tf.grad((t: tf.Tensor) => tf.sum(tf.mul(c.logits(net, t as tf.Tensor4D), w)))(x));
    const dl = maxDiff(logits.dataSync(), out.logits!.data as Float32Array);
    const dg = maxDiff(grad.dataSync(), out.grad!.data as Float32Array);
    // Judged against the float64 answer: as close to it as PyTorch's own float32 gradient, or within 1e-4.
    const ours = maxDiff(grad.dataSync(), out.grad64!.data as Float32Array);
    const theirs = maxDiff(out.grad!.data as Float32Array, out.grad64!.data as Float32Array);
    report(`${c.layout}${c.args?.attention ? ` (${c.args.attention})` : ''} on ${backend}`, `${loaded.loaded} tensors; logits max |Δ| ${dl.abs.toExponential(2)} (max |logit| ${dl.scale.toFixed(2)}); input gradient vs PyTorch float32 rel ${dg.rel.toExponential(2)}, vs float64 rel ${ours.rel.toExponential(2)} (PyTorch float32 vs float64: ${theirs.rel.toExponential(2)})`);
    expect(dl.abs).toBeLessThanOrEqual(1e-4 * Math.max(1, dl.scale));
    expect(ours.rel).toBeLessThanOrEqual(Math.max(1e-4, 3 * theirs.rel));
    tf.dispose([x, w, logits, grad]);
    net.dispose();
  });
});
