/**
 * One GAP training step of the paper preset against the authors' code (test/parity/gap_port.py: their
 * UnetGenerator, _normalize_and_scale and clamp on `.data`, Adam(2e-4, (0.9, 0.999))), with identical
 * weights, images and dropout mask: the ISIC step (AttnVGG with softmax attention, cross-entropy toward
 * the least-likely class) and the ChestX-ray step (a reduced DenseNet, BCE toward the flipped decisions).
 * Compared: the loss, the adversarial logits, the generator's gradients (where their in-place writes make
 * the pre-tanh gradient ∂L/∂x′·(1 − δ²)) and the weights after the Adam step. The library's exact
 * gradient is measured against theirs, for the record.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FMA_FLAG, WINOGRAD_FLAG, registerNativeFlag } from '../../src/backend/kernels/native.js';
import { gapUnet } from '../../src/attacks/gapGenerators.js';
import { gapStepGradients, trainGap } from '../../src/attacks/trainGap.js';
import { readNpz } from '../../src/data/npz.js';
import type { NpyArray } from '../../src/data/npy.js';
import { createRng } from '../../src/internal/random.js';
import { attnVgg } from '../../src/models/attnVgg.js';
import { denseNet121 } from '../../src/models/denseNet121.js';
import { loadTorchWeights } from '../../src/models/torchWeights.js';
import { useTestBackend } from '../helpers/backends.js';
import { HAS_TORCH, maxDiff, npy, report, runPort, warnIfSkipped } from './python.js';

warnIfSkipped('GAP training-step parity');

const NGF = 2;
const MEAN = [0.7012, 0.5517, 0.4875];
const STD = [0.0942, 0.1331, 0.1521];
const SEED = 5;

/** Generator weights (tfjs layout, by originalName) from PyTorch-layout tensors: loaded into a twin generator. */
function asGeneratorWeights(arrays: Record<string, NpyArray>, prefix: string): Map<string, Float32Array> {
  const twin = gapUnet({ inputShape: [224, 224, 3], preset: 'isic', ngf: NGF, seed: 1 });
  const state = Object.fromEntries(Object.entries(arrays).filter(([k]) => k.startsWith(prefix)).map(([k, v]) => [k.slice(prefix.length), v]));
  loadTorchWeights(twin, state, { strict: false });
  const out = new Map(twin.trainableWeights.map((w) => [w.originalName, Float32Array.from(w.read().dataSync())]));
  twin.dispose();
  return out;
}

const norm = (v: ArrayLike<number>): number => Math.sqrt(Array.from(v).reduce((s, a) => s + a * a, 0));

/**
 * The parameters whose reference gradient is not rounding noise: a bias followed by a batch norm in
 * training mode has a gradient of exactly 0 (the norm removes the mean), so both frameworks give noise
 * there (and Adam turns noise into ±lr steps). Kept: norms above 1e-4 of the largest.
 */
function significant(theirs: Map<string, Float32Array>): Set<string> {
  const top = Math.max(...[...theirs.values()].map(norm));
  return new Set([...theirs].filter(([, v]) => norm(v) > 1e-4 * top).map(([k]) => k));
}

/** Largest over the kept tensors of ‖a − b‖ / ‖b‖. */
function worstRelative(ours: Map<string, ArrayLike<number>>, theirs: Map<string, Float32Array>, keep: Set<string>): { rel: number; name: string } {
  let worst = { rel: 0, name: '' };
  for (const [name, b] of theirs) {
    if (!keep.has(name)) continue;
    const a = ours.get(name)!;
    let d = 0; let n = 0;
    for (let i = 0; i < b.length; i++) { d += (a[i]! - b[i]!) ** 2; n += b[i]! ** 2; }
    const rel = Math.sqrt(d / Math.max(n, 1e-30));
    if (rel > worst.rel) worst = { rel, name };
  }
  return worst;
}

function cosine(a: Map<string, ArrayLike<number>>, b: Map<string, ArrayLike<number>>): number {
  let dot = 0; let na = 0; let nb = 0;
  for (const [k, va] of a) { const vb = b.get(k)!; for (let i = 0; i < va.length; i++) { dot += va[i]! * vb[i]!; na += va[i]! ** 2; nb += vb[i]! ** 2; } }
  return dot / Math.sqrt(na * nb);
}

const CASES = [
  { name: 'ISIC (AttnVGG, softmax attention)', classifier: 'attnvgg', magnitude: 11, task: 'single-label' as const },
  { name: 'ChestX-ray (DenseNet, 14 labels)', classifier: 'densenet', magnitude: 15, task: 'multi-label' as const },
];

describe.skipIf(!HAS_TORCH)('one GAP training step, paper preset vs the authors\' code', () => {
  // The plain kernel build: with the FMA build (one rounding per multiply-add) this fixture's gradients move by
  // 5e-3–8e-3 relative (every generator tensor alike) while the cpu backend and the plain build agree with the
  // authors' code to 1e-5. Measured (2026-11-28): FMA in the conv kernels alone, or in batch norm's statistics
  // alone, stays at 1e-5; both together flip it; and on four other inputs and generators (no loaded weights)
  // the FMA and plain builds' GAP gradients agree to 1.1e-5. So this step is not continuous in the last bits
  // at this fixture (the reduced U-Net's batch norms over 7×7 maps of 2 images); the test pins the build whose
  // rounding it was written against rather than loosening the 2e-3 bound for every build. Winograd's 3×3
  // convolutions (MEDROBUST_WINOGRAD, rounding of the same size as FMA's) move the AttnVGG case's Adam-step
  // distance from below to 6.3e-5 against its 5e-5 bound in the same way, so they are pinned off too.
  beforeAll(async () => {
    await useTestBackend('wasm');
    registerNativeFlag();
    tf.env().set(FMA_FLAG, false);
    tf.env().set(WINOGRAD_FLAG, false);
  });
  afterAll(() => {
    tf.env().set(FMA_FLAG, true);
    tf.env().set(WINOGRAD_FLAG, true);
  });

  it.each(CASES)('$name', async (c) => {
    const pixels = tf.randomUniform([2, 224, 224, 3], 0, 1, 'float32', 3);
    const x = tf.tidy(() => tf.div(tf.sub(pixels, MEAN), STD) as tf.Tensor4D);
    const labels = c.task === 'single-label' ? tf.tensor1d([0, 1], 'int32') : tf.tidy(() => tf.cast(tf.greater(tf.randomUniform([2, 14], 0, 1, 'float32', 4), 0.7), 'float32'));
    const gen = gapUnet({ inputShape: [224, 224, 3], preset: 'isic', ngf: NGF, seed: 1 });
    // the mask of the first decoder stage (7×7, 8·ngf channels): the first dropout seed of the step's generator
    const mask = tf.tidy(() => tf.dropout(tf.ones([2, 7, 7, 8 * NGF]), 0.5, undefined, createRng(SEED).nextSeed()));
    const { out, files } = runPort('gap_step.py', { x: npy(x), labels: npy(labels), mask: npy(mask) }, { classifier: c.classifier, ngf: NGF, mag_in: c.magnitude, mean: MEAN, std: STD, lr: 2e-4, seed: 11 }, ['clf.npz', 'gen.npz']);
    const clf: tfl.LayersModel = c.classifier === 'attnvgg'
      ? attnVgg({ inputShape: [224, 224, 3], width: 1 / 16, attention: 'softmax', seed: 1 })
      : denseNet121({ inputShape: [224, 224, 3], classes: 14, width: 0.125, blocks: [2, 2, 2, 2], seed: 1 });
    loadTorchWeights(clf, readNpz(files['clf.npz']!));
    loadTorchWeights(gen, readNpz(files['gen.npz']!));
    const model = (t: tf.Tensor4D): tf.Tensor2D => { const o = clf.apply(t, { training: false }); return (Array.isArray(o) ? o[0] : o) as tf.Tensor2D; };
    const options = { magnitude: c.magnitude, mean: MEAN, std: STD, center: 'mean' as const, clip: 'batch-per-channel' as const, task: c.task, seed: SEED, learningRate: 2e-4 };

    // the gradients, before any step
    const names = new Map(gen.trainableWeights.map((w) => [(w.read() as tf.Variable).name, w.originalName]));
    const gradsOf = (gradient: 'paper' | 'exact') => {
      const { grads, loss } = gapStepGradients(model, gen, { images: x }, { ...options, gradient });
      const m = new Map([...Object.entries(grads)].map(([k, g]) => [names.get(k)!, Float32Array.from(g.dataSync())]));
      tf.dispose(Object.values(grads));
      return { m, loss };
    };
    const paper = gradsOf('paper');
    const exact = gradsOf('exact');
    const theirs = asGeneratorWeights(out, 'grad.');
    const keep = significant(theirs);
    const dGrad = worstRelative(paper.m, theirs, keep);
    const cosExact = cosine(exact.m, theirs);
    const dLoss = Math.abs(paper.loss - (out.loss!.data as Float32Array)[0]!);

    // one trainGap step from the same weights: the adversarial logits, and the weights after Adam
    const logits: tf.Tensor2D[] = [];
    let calls = 0;
    // trainGap calls the model on the clean batch, then on the adversarial one (microBatch: the whole
    // batch, so no memory probe calls it first)
    const probe = (t: tf.Tensor4D) => { const l = model(t); if (++calls === 2) logits.push(tf.keep(l.clone())); return l; };
    await trainGap(probe, gen, [{ images: x, labels }], { ...options, epochs: 1, gradient: 'paper', maxBatchesPerEpoch: 1, microBatch: 2 });
    const dLogits = maxDiff(logits[0]!.dataSync(), out.logits!.data as Float32Array);
    const after = asGeneratorWeights(out, 'after.');
    const oursAfter = new Map(gen.trainableWeights.map((w) => [w.originalName, Float32Array.from(w.read().dataSync())]));
    let dAfter = 0;
    for (const [k, v] of after) if (keep.has(k)) dAfter = Math.max(dAfter, maxDiff(oursAfter.get(k)!, v).abs);

    report(`GAP step ${c.name}`, `loss |Δ| ${dLoss.toExponential(2)}, adversarial logits max |Δ| ${dLogits.abs.toExponential(2)}, generator gradients worst rel L2 ${dGrad.rel.toExponential(2)} (${dGrad.name}; ${theirs.size - keep.size} biases before batch norms, gradient 0 but for rounding, left out), weights after Adam max |Δ| ${dAfter.toExponential(2)} (${(dAfter / 2e-4).toFixed(3)} of a step); the exact gradient's cosine with theirs: ${cosExact.toFixed(3)}`);
    expect(dLoss).toBeLessThanOrEqual(1e-5 * Math.max(1, paper.loss));
    expect(dLogits.abs).toBeLessThanOrEqual(1e-4 * Math.max(1, dLogits.scale));
    expect(dGrad.rel).toBeLessThanOrEqual(2e-3);
    // Adam divides by |g| + 1e-8, so components with |g| near 1e-8 turn the gradients' rounding (≈1e-9 in
    // absolute terms) into a visible share of the step: at most a quarter of one (a sign error would be 2).
    expect(dAfter).toBeLessThanOrEqual(0.25 * 2e-4);
    expect(cosExact).toBeLessThan(0.999); // the exact gradient is not theirs
    tf.dispose([pixels, x, labels, mask, ...logits]);
    gen.dispose();
    clf.dispose();
  });
});
