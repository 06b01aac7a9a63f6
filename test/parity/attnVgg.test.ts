/**
 * AttnVGG's attention upsampling against the authors' network (test/parity/attnvgg_port.py, F.interpolate
 * with align_corners=False): with half-pixel centres and the ResizeBilinearGrad registerWasmGradients
 * installs, logits, attention maps and input gradients equal PyTorch's; the figures of the two things this
 * replaced (tfjs-layers' bilinear upSampling2d, and tfjs 4.22's gradient that ignores the flag) are measured
 * on the same network, for the record.
 */
import * as tf from '@tensorflow/tfjs-core';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { resizeBilinearGrad } from '../../src/backend/kernels/resizeBilinearGrad.js';
import { readNpz } from '../../src/data/npz.js';
import { attnVgg } from '../../src/models/attnVgg.js';
import { BilinearUpsampling } from '../../src/models/layers.js';
import { loadTorchWeights } from '../../src/models/torchWeights.js';
import { useTestBackend } from '../helpers/backends.js';
import { HAS_TORCH, maxDiff, npy, report, runPort, warnIfSkipped } from './python.js';

warnIfSkipped('AttnVGG upsampling parity');

/** Swaps the registered ResizeBilinearGrad of `backend` for `kernelFunc`; returns the undo. */
function swapGradient(backend: string, kernelFunc: tf.KernelFunc): () => void {
  const current = tf.getKernel('ResizeBilinearGrad', backend)!;
  tf.unregisterKernel('ResizeBilinearGrad', backend);
  tf.registerKernel({ ...current, kernelFunc });
  return () => { tf.unregisterKernel('ResizeBilinearGrad', backend); tf.registerKernel(current); };
}

describe.skipIf(!HAS_TORCH).each(['softmax', 'sigmoid'] as const)('AttnVGG (%s attention) against PyTorch', (attention) => {
  beforeAll(() => useTestBackend('wasm'));
  const undo: (() => void)[] = [];
  afterEach(() => { undo.splice(0).reverse().forEach((f) => f()); });

  it('upsamples as F.interpolate(align_corners=False), forward and backward', () => {
    const x = tf.randomUniform([2, 224, 224, 3], -1, 1, 'float32', 7) as tf.Tensor4D;
    const weights = [1, -1];
    const { out, files } = runPort('checkpoints.py', { x: npy(x) }, { layout: 'attnvgg', classes: 2, weights, width: 1 / 16, attention }, ['checkpoint.npz']);
    const net = attnVgg({ inputShape: [224, 224, 3], width: 1 / 16, attention, seed: 1 });
    loadTorchWeights(net, readNpz(files['checkpoint.npz']!));
    const w = tf.tensor1d(weights);
    const run = () => tf.tidy(() => {
      const [logits, a1, a2] = net.apply(x, { training: false }) as tf.Tensor[];
      const grad = tf.grad((t: tf.Tensor) => tf.sum(tf.mul((net.apply(t, { training: false }) as tf.Tensor[])[0]!, w)))(x);
      return { logits: logits!.dataSync(), a1: a1!.dataSync(), a2: a2!.dataSync(), grad: grad.dataSync() };
    });
    const ours = run();
    const dLogits = maxDiff(ours.logits, out.logits!.data as Float32Array);
    const dA1 = maxDiff(ours.a1, out.a1!.data as Float32Array);
    const dA2 = maxDiff(ours.a2, out.a2!.data as Float32Array);
    const dGrad = maxDiff(ours.grad, out.grad64!.data as Float32Array);
    const torchGrad = maxDiff(out.grad!.data as Float32Array, out.grad64!.data as Float32Array);

    // tfjs 4.22's ResizeBilinearGrad, which ignores halfPixelCenters (the same as ours with the flag off)
    undo.push(swapGradient('wasm', ((args: Parameters<typeof resizeBilinearGrad>[0]) => resizeBilinearGrad({ ...args, attrs: { ...args.attrs, halfPixelCenters: false } })) as unknown as tf.KernelFunc));
    const stockGrad = maxDiff(run().grad, out.grad64!.data as Float32Array);
    undo.splice(0).forEach((f) => f());
    // tfjs-layers' upSampling2d({interpolation: 'bilinear'}): no half-pixel centres
    const call = BilinearUpsampling.prototype.call;
    BilinearUpsampling.prototype.call = function (this: BilinearUpsampling, inputs: tf.Tensor | tf.Tensor[]) {
      const t = (Array.isArray(inputs) ? inputs[0]! : inputs) as tf.Tensor4D;
      return tf.image.resizeBilinear(t, [t.shape[1] * this.factor, t.shape[2] * this.factor], false, false);
    };
    undo.push(() => { BilinearUpsampling.prototype.call = call; });
    const old = run();
    const oldLogits = maxDiff(old.logits, out.logits!.data as Float32Array);
    const oldA1 = maxDiff(old.a1, out.a1!.data as Float32Array);

    report(`AttnVGG ${attention}`, `logits max |Δ| ${dLogits.abs.toExponential(2)} (rel ${dLogits.rel.toExponential(2)}), maps a1 ${dA1.abs.toExponential(2)} / a2 ${dA2.abs.toExponential(2)}, input gradient vs float64 rel ${dGrad.rel.toExponential(2)} (PyTorch float32: ${torchGrad.rel.toExponential(2)}); before: tfjs-layers upsampling logits rel ${oldLogits.rel.toExponential(2)}, map a1 ${oldA1.abs.toExponential(2)}; stock gradient rel ${stockGrad.rel.toExponential(2)}`);
    expect(dLogits.rel).toBeLessThanOrEqual(1e-5);
    expect(dA1.abs).toBeLessThanOrEqual(1e-5 * Math.max(1, dA1.scale));
    expect(dA2.abs).toBeLessThanOrEqual(1e-5 * Math.max(1, dA2.scale));
    expect(dGrad.rel).toBeLessThanOrEqual(Math.max(1e-4, 3 * torchGrad.rel));
    expect(oldLogits.rel).toBeGreaterThan(10 * dLogits.rel);
    expect(stockGrad.rel).toBeGreaterThan(10 * dGrad.rel);
    tf.dispose([x, w]);
    net.dispose();
  });
});
