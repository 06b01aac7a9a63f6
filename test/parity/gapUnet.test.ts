/**
 * gapUnet's 'isic' and 'messidor' presets against a port of the authors' generators (test/parity/
 * gap_port.py: libadver's UnetGenerator and Messidor's UGenerator_Net), item by item: PyTorch's default
 * init (their weights_init does nothing), 4 batch norms shared by 9 uses (parameter count, and the moving
 * statistics every use updates), and skips that carry LeakyReLU(eᵢ) (their in-place LeakyReLU): the
 * outputs with the same weights, in eval and training mode, equal theirs; the 'raw' option equals
 * their network with the LeakyReLU made out of place.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { gapUnet } from '../../src/attacks/gapGenerators.js';
import { gapDropoutLayers } from '../../src/attacks/gapLayers.js';
import { readNpz } from '../../src/data/npz.js';
import { loadTorchWeights } from '../../src/models/torchWeights.js';
import { useTestBackend } from '../helpers/backends.js';
import { HAS_TORCH, maxDiff, npy, report, runPort, warnIfSkipped } from './python.js';

warnIfSkipped('GAP U-Net parity');

const NGF = 2;
const CASES = [
  { kind: 'isic', side: 224, preset: 'isic' },
  { kind: 'messidor', side: 299, preset: 'messidor' },
] as const;

/** A generator with a fixed dropout mask (seed 123 for every call), and that mask. */
function withFixedDropout(g: tfl.LayersModel, shape: number[]): tf.Tensor {
  gapDropoutLayers(g).forEach((d) => { d.seedSource = () => 123; });
  return tf.tidy(() => tf.dropout(tf.ones(shape), 0.5, undefined, 123));
}

describe.skipIf(!HAS_TORCH)('GAP U-Net presets against the authors\' generators', () => {
  beforeAll(() => useTestBackend('wasm'));

  it.each(CASES)('$kind: parameter count, PyTorch default init, and outputs (eval, training) with the same weights', (c) => {
    const shape: [number, number, number, number] = [2, c.side, c.side, 3];
    const x = tf.randomUniform(shape, -2, 2, 'float32', 5) as tf.Tensor4D;
    const ours = gapUnet({ inputShape: [c.side, c.side, 3], preset: c.preset, ngf: NGF, seed: 1 });
    const inner = ours.getLayer('dconv1').outputShape as number[];
    const mask = withFixedDropout(ours, [2, inner[1]! - 2, inner[2]! - 2, inner[3]!]);
    const { out, files } = runPort('gap_unet.py', { x: npy(x), mask: npy(mask) }, { kind: c.kind, ngf: NGF, seed: 3 }, ['checkpoint.npz']);

    // 1. the same trainable parameter count (4 shared batch norms)
    const count = ours.trainableWeights.reduce((s, w) => s + w.shape.reduce((a: number, b) => a * (b ?? 1), 1), 0);
    expect(count).toBe((out.params!.data as Int32Array)[0]);
    // 2. PyTorch's default init: every conv weight inside ±1/√fan_in with the uniform's spread, BN 1 and 0
    for (const layer of ours.layers.filter((l) => /^d?conv\d$/.test(l.name))) {
      const bound = (out[`fan_bound_${layer.name}.weight`]!.data as Float32Array)[0]!;
      const w = layer.getWeights()[0]!.dataSync();
      const b = layer.getWeights()[1]!.dataSync();
      const theirs = out[`init_${layer.name}.weight`]!.data as Float32Array;
      expect(w.length).toBe(theirs.length);
      expect(Math.max(...w.map(Math.abs))).toBeLessThanOrEqual(bound * (1 + 1e-6));
      expect(Math.max(...b.map(Math.abs))).toBeLessThanOrEqual(bound * (1 + 1e-6));
      if (w.length >= 500) {
        const std = (v: ArrayLike<number>) => Math.sqrt(Array.from(v).reduce((s, a) => s + a * a, 0) / v.length);
        expect(std(w) / std(theirs)).toBeGreaterThan(0.85);
        expect(std(w) / std(theirs)).toBeLessThan(1.15);
      }
    }
    for (const name of ['norm', 'norm2', 'norm4', 'norm8']) {
      const [gamma, beta] = ours.getLayer(name).getWeights();
      expect(Array.from(gamma!.dataSync()).every((v) => v === 1)).toBe(true);
      expect(Array.from(beta!.dataSync()).every((v) => v === 0)).toBe(true);
    }
    // 3. the same outputs from the same weights
    loadTorchWeights(ours, readNpz(files['checkpoint.npz']!));
    const evalOut = tf.tidy(() => ours.apply(x, { training: false }) as tf.Tensor);
    const trainOut = tf.tidy(() => ours.apply(x, { training: true }) as tf.Tensor);
    const dEval = maxDiff(evalOut.dataSync(), out.eval!.data as Float32Array);
    const dTrain = maxDiff(trainOut.dataSync(), out.train!.data as Float32Array);
    // 4. the moving statistics after that training pass: every use of a shared norm updated them in turn
    const dMean = Math.max(...['norm', 'norm2', 'norm4', 'norm8'].map((n) => maxDiff(ours.getLayer(n).getWeights()[2]!.dataSync(), out[`mean_${n}`]!.data as Float32Array).abs));
    const dVar = Math.max(...['norm', 'norm2', 'norm4', 'norm8'].map((n) => maxDiff(ours.getLayer(n).getWeights()[3]!.dataSync(), out[`var_${n}`]!.data as Float32Array).rel));
    // 5. 'raw' skips equal their network with an out-of-place LeakyReLU; the quirk's size
    const raw = gapUnet({ inputShape: [c.side, c.side, 3], preset: c.preset, ngf: NGF, seed: 1, skips: 'raw' });
    withFixedDropout(raw, [1]).dispose();
    loadTorchWeights(raw, readNpz(files['checkpoint.npz']!));
    const rawEval = tf.tidy(() => raw.apply(x, { training: false }) as tf.Tensor);
    const dRaw = maxDiff(rawEval.dataSync(), out.eval_raw!.data as Float32Array);
    const quirk = maxDiff(out.eval!.data as Float32Array, out.eval_raw!.data as Float32Array);
    report(`GAP U-Net ${c.kind} (ngf ${NGF})`, `${count} parameters as theirs; eval max |Δ| ${dEval.abs.toExponential(2)}, training ${dTrain.abs.toExponential(2)}, raw skips ${dRaw.abs.toExponential(2)}; moving means ${dMean.toExponential(2)}, variances rel ${dVar.toExponential(2)}; LeakyReLU skips vs raw: ${quirk.abs.toFixed(3)}`);
    expect(dEval.abs).toBeLessThanOrEqual(1e-4);
    expect(dTrain.abs).toBeLessThanOrEqual(1e-4);
    expect(dRaw.abs).toBeLessThanOrEqual(1e-4);
    expect(dMean).toBeLessThanOrEqual(1e-5);
    if (c.kind === 'messidor') expect(quirk.abs).toBeGreaterThan(1e-2); // SELU(LeakyReLU(e)) ≠ SELU(e)
    else expect(quirk.abs).toBeLessThanOrEqual(1e-5); // ReLU(LeakyReLU(e)) = ReLU(e)
    tf.dispose([x, mask, evalOut, trainOut, rawEval]);
    ours.dispose();
    raw.dispose();
  });
});
