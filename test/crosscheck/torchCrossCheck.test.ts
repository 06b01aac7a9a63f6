/**
 * Cross-check of fgsm and pgd against PyTorch on the same tiny CNN with fixed weights (AdverTorch's
 * habit of cross-library numerical equivalence). Runs when /usr/bin/python3 (or $MEDROBUST_PYTHON)
 * can import torch — Debian's python3-torch; otherwise it says so and skips.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fgsm } from '../../src/attacks/fgsm.js';
import { pgd } from '../../src/attacks/pgd.js';
import { createRng } from '../../src/internal/random.js';
import { BACKENDS, useTestBackend } from '../helpers/backends.js';

const PYTHON = process.env.MEDROBUST_PYTHON ?? '/usr/bin/python3';
const hasTorch = spawnSync(PYTHON, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;
if (!hasTorch) console.warn(`[medrobust] PyTorch cross-check SKIPPED: ${PYTHON} cannot import torch (apt-get install python3-torch to run it).`);

const H = 8;
const C_IN = 2;
const FILTERS = 4;
const CLASSES = 3;
const N = 6;

interface Spec {
  kernel: number[][][][]; bias: number[]; denseKernel: number[][]; denseBias: number[];
  images: number[][][][]; labels: number[]; epsilon: number; stepSize: number; steps: number;
}

function makeSpec(logitScale: number): Spec {
  const rng = createRng(1234);
  const arr = (n: number, s: number) => Array.from({ length: n }, () => s * rng.normal());
  const d = (H / 2) * (H / 2) * FILTERS;
  const kernelFlat = arr(3 * 3 * C_IN * FILTERS, 0.4);
  const denseFlat = arr(d * CLASSES, logitScale * 0.3);
  const imagesFlat = Array.from({ length: N * H * H * C_IN }, () => 0.05 + 0.9 * rng.next());
  return {
    kernel: tf.tidy(() => tf.tensor4d(kernelFlat, [3, 3, C_IN, FILTERS]).arraySync()),
    bias: arr(FILTERS, 0.1),
    denseKernel: tf.tidy(() => tf.tensor2d(denseFlat, [d, CLASSES]).arraySync()),
    denseBias: arr(CLASSES, 0.1),
    images: tf.tidy(() => tf.tensor4d(imagesFlat, [N, H, H, C_IN]).arraySync()),
    labels: [0, 1, 2, 0, 1, 2],
    epsilon: 8 / 255,
    stepSize: 2 / 255,
    steps: 10,
  };
}

function buildNet(spec: Spec): tfl.LayersModel {
  const net = tfl.sequential({
    layers: [
      tfl.layers.conv2d({ inputShape: [H, H, C_IN], filters: FILTERS, kernelSize: 3, padding: 'same', activation: 'relu' }),
      tfl.layers.maxPooling2d({ poolSize: 2 }),
      tfl.layers.flatten(),
      tfl.layers.dense({ units: CLASSES }),
    ],
  });
  net.setWeights([tf.tensor4d(spec.kernel), tf.tensor1d(spec.bias), tf.tensor2d(spec.denseKernel), tf.tensor1d(spec.denseBias)]);
  return net;
}

function runTorch(spec: Spec): { fgsm: number[]; pgd: number[]; grad: number[]; logits: number[] } {
  const dir = mkdtempSync(join(tmpdir(), 'medrobust-xcheck-'));
  try {
    writeFileSync(join(dir, 'spec.json'), JSON.stringify(spec));
    const r = spawnSync(PYTHON, [join(__dirname, 'torch_attack.py'), join(dir, 'spec.json'), join(dir, 'out.json')], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`torch reference failed: ${r.stderr}`);
    return JSON.parse(readFileSync(join(dir, 'out.json'), 'utf8'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Max |a − b| over pixels whose reference gradient is not ~0: where |∇| is below 1e-6·max|∇| the
 * sign is decided by rounding in either framework, so those pixels are excluded (counted apart).
 */
function compare(ours: ArrayLike<number>, ref: number[], grad: number[]): { maxDiff: number; excluded: number } {
  const gmax = Math.max(...grad.map(Math.abs));
  let maxDiff = 0;
  let excluded = 0;
  for (let i = 0; i < ref.length; i++) {
    if (Math.abs(grad[i]!) < 1e-6 * gmax) { excluded++; continue; }
    maxDiff = Math.max(maxDiff, Math.abs(ours[i]! - ref[i]!));
  }
  return { maxDiff, excluded };
}

describe.each(BACKENDS)('fgsm and pgd agree with PyTorch on %s', (backend) => {
  beforeAll(() => useTestBackend(backend));
  afterAll(() => tf.disposeVariables());

  it.each([
    ['an ordinary model', 1],
    ['a confident model (top-1 margins of many logits)', 12],
  ] as const)('%s', (_name, scale) => {
    if (!hasTorch) return;
    const spec = makeSpec(scale);
    const ref = runTorch(spec);
    const net = buildNet(spec);
    const images = tf.tensor4d(spec.images);
    const labels = tf.tensor1d(spec.labels, 'int32');
    const logits = tf.tidy(() => (net.predict(images) as tf.Tensor).dataSync());
    if (scale > 1) {
      // The premise of the case: margins of several logits.
      const margins = spec.labels.map((_, i) => { const row = Array.from(logits.slice(i * 3, i * 3 + 3)).sort((a, b) => b - a); return row[0]! - row[1]!; });
      expect(Math.min(...margins)).toBeGreaterThan(3);
    }
    for (let i = 0; i < logits.length; i++) expect(Math.abs(logits[i]! - ref.logits[i]!)).toBeLessThan(1e-4 * Math.max(1, Math.abs(ref.logits[i]!)));
    const advF = fgsm(net, images, labels, { epsilon: spec.epsilon });
    const advP = pgd(net, images, labels, { epsilon: spec.epsilon, stepSize: spec.stepSize, steps: spec.steps, randomStart: false });
    const f = compare(advF.dataSync(), ref.fgsm, ref.grad);
    const p = compare(advP.dataSync(), ref.pgd, ref.grad);
    expect(f.maxDiff, `fgsm max |diff| ${f.maxDiff} (excluded ${f.excluded} zero-gradient values)`).toBeLessThanOrEqual(1e-4);
    expect(p.maxDiff, `pgd max |diff| ${p.maxDiff} (excluded ${p.excluded} zero-gradient values)`).toBeLessThanOrEqual(1e-4);
    tf.dispose([images, labels, advF, advP]);
    net.dispose();
  });
});
