/**
 * GPU figures: PGD-10 and one training step on the paper's three networks (DenseNet-121 224×224 multi-label,
 * Inception-v3 299×299, AttnVGG 224×224) with WebGPU in Node (tfjs-backend-webgpu over the `webgpu` package,
 * Dawn). Never run by `npm test`. On a machine with a GPU:
 *
 *   npm i -D webgpu            # when not installed (Dawn ships in the package; no CUDA/cuDNN)
 *   npx tsx bench/gpu.ts [--backend webgpu] [--models densenet121,inceptionv3,attnvgg] [--batch 8]
 *                         [--reps 3] [--size <px>] [--width <w>] [--json bench/out/gpu.json]
 *
 * `--size` and `--width` shrink the nets (e.g. `--size 64 --width 0.125`) to prove the script on a software
 * adapter; the figures in BENCHMARKS.md are for the paper's sizes only. `--backend wasm|cpu` times the same
 * steps on a CPU backend of the same machine.
 *
 * What is timed (medians after one warm-up run; every timing ends with an awaited read, so queued GPU work
 * is included):
 * - forward: one inference pass;
 * - PGD-10: ten steps of gradient, sign, step and box clamp (ε = 8/255, step 2/255), the steps medrobust's
 *   `pgd` takes; in Node WebGPU has no synchronous reads, and `pgd` validates its inputs with one, so the
 *   loop is written out here; on backends with synchronous reads `pgd` itself is timed as well;
 * - training step: one SGD (momentum 0.9) step of the task loss in training mode (batch norm batch statistics).
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { useBackend, type BackendName } from '../src/backend/index.js';
import { attnVgg, denseNet121, inceptionV3, pgd, selectOutput } from '../src/index.js';
import { sigmoidBinaryCrossEntropy, softmaxCrossEntropy } from '../src/internal/loss.js';

type ModelKey = 'densenet121' | 'inceptionv3' | 'attnvgg';

interface NetSpec {
  title: string;
  side: number;
  classes: number;
  task: 'single-label' | 'multi-label';
  build: (side: number, width: number) => tfl.LayersModel;
}

const NETS: Record<ModelKey, NetSpec> = {
  densenet121: { title: 'DenseNet-121 (ChestX-ray14, 14 labels)', side: 224, classes: 14, task: 'multi-label', build: (s, w) => denseNet121({ inputShape: [s, s, 3], classes: 14, width: w, seed: 1 }) },
  inceptionv3: { title: 'Inception-v3 (Messidor, 4 grades)', side: 299, classes: 4, task: 'single-label', build: (s, w) => inceptionV3({ inputShape: [s, s, 3], classes: 4, width: w, seed: 1 }) },
  attnvgg: { title: 'AttnVGG (ISIC 2016, 2 classes)', side: 224, classes: 2, task: 'single-label', build: (s, w) => attnVgg({ inputShape: [s, s, 3], classes: 2, width: w, seed: 1 }) },
};

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

const backend = arg('backend', 'webgpu') as BackendName;
const models = arg('models', 'densenet121,inceptionv3,attnvgg').split(',') as ModelKey[];
const batch = Number(arg('batch', '8'));
const reps = Number(arg('reps', '3'));
const size = process.argv.includes('--size') ? Number(arg('size', '0')) : undefined;
const width = Number(arg('width', '1'));
const jsonOut = process.argv.includes('--json') ? arg('json', 'bench/out/gpu.json') : undefined;
for (const m of models) if (!NETS[m]) throw new Error(`bench/gpu: unknown model '${m}' (densenet121, inceptionv3, attnvgg)`);

const choice = await useBackend(backend, { threads: 2 });
// tfjs-backend-webgpu reads synchronously through an OffscreenCanvas, which Node lacks.
const syncReads = !(choice.tfjsBackend === 'webgpu' && typeof (globalThis as { OffscreenCanvas?: unknown }).OffscreenCanvas === 'undefined');
console.log(`backend ${choice.name}${choice.gpu ? ` on ${choice.gpu.description}${choice.gpu.software ? ' (software adapter)' : ''}` : ''}; synchronous reads: ${syncReads ? 'yes' : 'no'}`);

async function median(run: () => Promise<void>): Promise<number> {
  await run(); // warm-up: shader compilation, buffer pools
  const times: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    await run();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

interface Row { model: string; input: string; batch: number; forwardMs: number; pgd10Ms: number; pgdCallMs: number | null; trainStepMs: number; peakMiB: number }
const rows: Row[] = [];

for (const key of models) {
  const spec = NETS[key];
  const side = size ?? spec.side;
  const net = spec.build(side, width);
  const logits = selectOutput(net, 0);
  const lossOf = spec.task === 'multi-label' ? sigmoidBinaryCrossEntropy : softmaxCrossEntropy;
  const images = tf.randomUniform([batch, side, side, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
  const labels = spec.task === 'multi-label'
    ? tf.cast(tf.greater(tf.randomUniform([batch, spec.classes], 0, 1, 'float32', 2), 0.8), 'float32')
    : tf.tensor1d(Array.from({ length: batch }, (_, i) => i % spec.classes), 'int32');
  const epsilon = 8 / 255;
  const alpha = 2 / 255;
  let peak = tf.memory().numBytes;
  const note = () => { peak = Math.max(peak, tf.memory().numBytes); };

  const forwardMs = await median(async () => {
    const z = tf.tidy(() => logits(images));
    await z.data();
    z.dispose();
  });

  const gradient = tf.grad((x: tf.Tensor) => tf.mean(lossOf(logits(x as tf.Tensor4D), labels)));
  const lower = tf.tidy(() => tf.maximum(tf.sub(images, epsilon), 0));
  const upper = tf.tidy(() => tf.minimum(tf.add(images, epsilon), 1));
  const pgd10Ms = await median(async () => {
    let adv: tf.Tensor4D = tf.clone(images);
    for (let t = 0; t < 10; t++) {
      const next = tf.tidy(() => tf.minimum(tf.maximum(tf.add(adv, tf.mul(alpha, tf.sign(gradient(adv)))), lower), upper) as tf.Tensor4D);
      note();
      adv.dispose();
      adv = next;
    }
    await adv.data();
    adv.dispose();
  });

  const pgdCallMs = syncReads
    ? await median(async () => {
      const adv = pgd(logits, images, labels, { epsilon, stepSize: alpha, steps: 10, randomStart: false, task: spec.task });
      await adv.data();
      adv.dispose();
    })
    : null;

  const optimizer = tf.train.momentum(0.01, 0.9);
  const trainStepMs = await median(async () => {
    const cost = optimizer.minimize(() => {
      const out = net.apply(images, { training: true });
      const z = (Array.isArray(out) ? out[0] : out) as tf.Tensor2D;
      return tf.mean(lossOf(z, labels)) as tf.Scalar;
    }, true);
    note();
    await cost!.data();
    cost!.dispose();
  });

  const row: Row = { model: spec.title, input: `${side}×${side}×3${width !== 1 ? `, width ${width}` : ''}`, batch, forwardMs, pgd10Ms, pgdCallMs, trainStepMs, peakMiB: peak / 2 ** 20 };
  rows.push(row);
  console.log(`${row.model} ${row.input} b${batch}: forward ${forwardMs.toFixed(0)} ms, PGD-10 ${pgd10Ms.toFixed(0)} ms${pgdCallMs !== null ? ` (pgd() ${pgdCallMs.toFixed(0)} ms)` : ''}, training step ${trainStepMs.toFixed(0)} ms, tensors peak ${row.peakMiB.toFixed(0)} MiB`);
  optimizer.dispose();
  tf.dispose([images, labels, lower, upper]);
  net.dispose();
}

const device = choice.gpu ? `${choice.gpu.description}${choice.gpu.software ? ' (software)' : ''}` : choice.name;
console.log(`\n| model | input | batch | forward | PGD-10 | training step | tensors peak |\n|---|---|---:|---:|---:|---:|---:|`);
for (const r of rows) console.log(`| ${r.model} | ${r.input} | ${r.batch} | ${r.forwardMs.toFixed(0)} ms | ${r.pgd10Ms.toFixed(0)} ms | ${r.trainStepMs.toFixed(0)} ms | ${r.peakMiB.toFixed(0)} MiB |`);
console.log(`(${choice.name} on ${device}; medians of ${reps} after a warm-up)`);
if (jsonOut) {
  mkdirSync(dirname(jsonOut), { recursive: true });
  writeFileSync(jsonOut, JSON.stringify({ backend: choice.name, device, syncReads, batch, reps, rows, date: new Date().toISOString() }, null, 2));
}
