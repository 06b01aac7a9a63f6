/**
 * Parity of the paper presets of the defenses with Python ports of the authors' code paths
 * (test/parity/defenses_ports.py): one MAAdvT step (MART's mart_loss as the authors run it on
 * ISIC 2016 and Messidor) and one MPAdvT step (adversarial_training.py on ISIC 2016, Messidor and
 * ChestX-ray14), each on a tiny MLP with identical weights, normalised images (values far outside
 * [0, 1], as in the paper's code) and the random draws of medrobust's seeded loop handed to the port.
 * The largest differences are printed and asserted. Runs when /usr/bin/python3 (or $MEDROBUST_PYTHON)
 * can import torch (Debian's python3-torch); otherwise it says so and skips.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { PAPER_PRESETS } from '../../src/data/preprocess.js';
import { maAdvTrain } from '../../src/defenses/maAdvTrain.js';
import { mpAdvTrain } from '../../src/defenses/mpAdvTrain.js';
import { maAdvTrainPreset, mpAdvTrainPreset, type PaperDataset } from '../../src/defenses/paperPresets.js';
import { createRng } from '../../src/internal/random.js';
import { BACKENDS, useTestBackend } from '../helpers/backends.js';

const PYTHON = process.env.MEDROBUST_PYTHON ?? '/usr/bin/python3';
const hasTorch = spawnSync(PYTHON, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;
if (!hasTorch) console.warn(`[medrobust] defense parity SKIPPED: ${PYTHON} cannot import torch (apt-get install python3-torch to run it).`);
const PORTS = fileURLToPath(new URL('./defenses_ports.py', import.meta.url));

const H = 4;
const C = 3;
const N = 6;
const HIDDEN = 8;

interface Case {
  name: string;
  kind: 'mart' | 'mpadvt';
  dataset: PaperDataset;
  classes: number;
  seed: number;
}

const CASES: Case[] = [
  { name: 'MAAdvT ISIC 2016 (mart_loss, ε 0.031, T 4, β 6)', kind: 'mart', dataset: 'isic2016', classes: 2, seed: 11 },
  { name: 'MAAdvT Messidor (mart_loss, ε 4/255, T ~ U{1..9}, β 8)', kind: 'mart', dataset: 'messidor', classes: 4, seed: 12 },
  { name: 'MPAdvT ISIC 2016 (focal loss, SGD)', kind: 'mpadvt', dataset: 'isic2016', classes: 2, seed: 0 },
  { name: 'MPAdvT Messidor (CE + 0.01·Σ|θ|, SGD)', kind: 'mpadvt', dataset: 'messidor', classes: 4, seed: 0 },
  { name: 'MPAdvT ChestX-ray14 (BCE, Adam)', kind: 'mpadvt', dataset: 'chestXray14', classes: 14, seed: 0 },
];

/** The first seed ≥ `from` whose first coin makes the batch adversarial (MPAdvT trains it clean with probability ½). */
function adversarialSeed(from: number): number {
  for (let s = from; ; s++) if (createRng(s).next() >= 0.5) return s;
}

interface Inputs {
  net: { k1: number[]; b1: number[]; k2: number[]; b2: number[]; inDim: number; hidden: number; classes: number };
  images: number[];
  labels: number[];
}

function makeInputs(c: Case): Inputs {
  const rng = createRng(1000 + c.seed);
  const inDim = H * H * C;
  const arr = (n: number, s: number) => Array.from({ length: n }, () => s * rng.normal());
  const { mean, std } = PAPER_PRESETS[c.dataset].normalization;
  const images: number[] = [];
  for (let i = 0; i < N * H * H; i++) for (let ch = 0; ch < C; ch++) images.push((0.05 + 0.9 * rng.next() - mean[ch]!) / std[ch]!);
  const labels = c.dataset === 'chestXray14'
    ? Array.from({ length: N * c.classes }, () => (rng.next() < 0.3 ? 1 : 0))
    : Array.from({ length: N }, (_, i) => i % c.classes);
  return {
    net: { k1: arr(inDim * HIDDEN, 0.3), b1: arr(HIDDEN, 0.1), k2: arr(HIDDEN * c.classes, 0.5), b2: arr(c.classes, 0.1), inDim, hidden: HIDDEN, classes: c.classes },
    images, labels,
  };
}

function buildNet(inputs: Inputs): tfl.LayersModel {
  const { net } = inputs;
  const model = tfl.sequential({
    layers: [
      tfl.layers.flatten({ inputShape: [H, H, C] }),
      tfl.layers.dense({ units: net.hidden, activation: 'relu' }),
      tfl.layers.dense({ units: net.classes }),
    ],
  });
  const w = [tf.tensor2d(net.k1, [net.inDim, net.hidden]), tf.tensor1d(net.b1), tf.tensor2d(net.k2, [net.hidden, net.classes]), tf.tensor1d(net.b2)];
  model.setWeights(w);
  tf.dispose(w);
  return model;
}

/** The preset's options with the seed that the case uses, and the draws medrobust's loop makes for the first batch (documented order). */
function plan(c: Case) {
  const shape: [number, number, number, number] = [N, H, H, C];
  if (c.kind === 'mart') {
    const preset = maAdvTrainPreset(c.dataset);
    const rng = createRng(c.seed);
    const s = preset.options.steps!;
    const steps = Array.isArray(s) ? rng.nextInt(s[0]!, s[1]!) : (s as number);
    const noise = tf.tidy(() => Array.from(tf.randomNormal(shape, 0, 1, 'float32', rng.nextSeed()).dataSync()));
    return { preset, seed: c.seed, draws: { steps, epsilon: preset.options.epsilon, noise } };
  }
  const preset = mpAdvTrainPreset(c.dataset);
  const seed = adversarialSeed(c.seed);
  const rng = createRng(seed);
  rng.next(); // the coin
  const [eLo, eHi] = preset.options.epsilon as readonly [number, number];
  const epsilon = rng.uniform(eLo, eHi);
  const [tLo, tHi] = preset.options.steps as readonly [number, number];
  const steps = rng.nextInt(tLo, tHi);
  const noise = tf.tidy(() => Array.from(tf.randomUniform(shape, -1, 1, 'float32', rng.nextSeed()).dataSync()));
  return { preset, seed, draws: { steps, epsilon, noise } };
}

interface PortResult { name: string; loss: number; weights: number[]; advMin: number; advMax: number }

function runPorts(): PortResult[] {
  const dir = mkdtempSync(join(tmpdir(), 'medrobust-defense-parity-'));
  try {
    const cases = CASES.map((c) => {
      const inputs = makeInputs(c);
      const { preset, draws } = plan(c);
      const o = preset.options as Record<string, unknown>;
      const optimizer = preset.createOptimizer();
      const config = optimizer.getConfig() as Record<string, number | boolean>;
      optimizer.dispose();
      const lr = typeof o.learningRate === 'function' ? (o.learningRate as (e: number) => number)(0) : config.learningRate;
      return {
        name: c.name, kind: c.kind, task: o.task ?? 'single-label', loss: c.dataset === 'isic2016' && c.kind === 'mpadvt' ? 'focal' : 'ce',
        net: inputs.net, images: inputs.images, labels: inputs.labels, shape: [N, H, H, C], noise: draws.noise,
        epsilon: draws.epsilon, steps: draws.steps, stepSize: o.stepSize, beta: o.beta, l1: o.l1 ?? 0,
        optimizer: optimizer.getClassName() === 'Adam'
          ? { type: 'adam', lr, betas: [config.beta1, config.beta2], eps: config.epsilon }
          : { type: 'sgd', lr, momentum: config.momentum, nesterov: config.useNesterov, weightDecay: o.weightDecay ?? 0 },
      };
    });
    writeFileSync(join(dir, 'spec.json'), JSON.stringify({ cases }));
    const r = spawnSync(PYTHON, [PORTS, join(dir, 'spec.json'), join(dir, 'out.json')], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`the Python ports failed: ${r.stderr}`);
    return JSON.parse(readFileSync(join(dir, 'out.json'), 'utf8')) as PortResult[];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe.skipIf(!hasTorch)('defense paper presets against Python ports of the authors\' code', () => {
  let reference: PortResult[];
  beforeAll(async () => {
    await useTestBackend('cpu');
    reference = runPorts();
  });

  describe.each(BACKENDS)('on %s', (backend) => {
    beforeAll(() => useTestBackend(backend));

    it.each(CASES.map((c, i) => [c.name, i] as const))('%s: one step gives the same loss and weights', async (_name, i) => {
      const c = CASES[i]!;
      const inputs = makeInputs(c);
      const { preset, seed } = plan(c);
      const model = buildNet(inputs);
      const images = tf.tensor4d(inputs.images, [N, H, H, C]);
      const labels = c.dataset === 'chestXray14' ? tf.tensor2d(inputs.labels, [N, c.classes]) : tf.tensor1d(inputs.labels, 'int32');
      const optimizer = preset.createOptimizer();
      const options = { ...(preset.options as Record<string, unknown>), epochs: 1, seed, optimizer };
      const report = c.kind === 'mart'
        ? await maAdvTrain(model, [{ images, labels }], options as never)
        : await mpAdvTrain(model, [{ images, labels }], options as never);
      const ours = model.getWeights().flatMap((w) => Array.from(w.dataSync()));
      const ref = reference[i]!;
      expect(report.history[0]!.adversarialBatches).toBe(1);
      let maxWeight = 0;
      for (let k = 0; k < ours.length; k++) maxWeight = Math.max(maxWeight, Math.abs(ours[k]! - ref.weights[k]!));
      const lossDiff = Math.abs(report.history[0]!.loss - ref.loss);
      console.log(`[parity] ${backend} ${c.name}: loss ${report.history[0]!.loss.toFixed(7)} vs ${ref.loss.toFixed(7)} (|Δ| ${lossDiff.toExponential(2)}), max |Δw| ${maxWeight.toExponential(2)}; port's x' in [${ref.advMin.toFixed(3)}, ${ref.advMax.toFixed(3)}]`);
      expect(lossDiff).toBeLessThan(1e-5 * Math.max(1, Math.abs(ref.loss)));
      expect(maxWeight).toBeLessThan(1e-6);
      optimizer.dispose();
      tf.dispose([images, labels]);
      model.dispose();
    });
  });
});
