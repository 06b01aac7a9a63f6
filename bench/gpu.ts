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
 * steps on a CPU backend of the same machine. `--reference <n>` times nothing: it writes the logits of the
 * first n images only (on `--backend cpu`, the reference the GPU run's logits are compared with: weights and
 * images are seeded and generated on the CPU, so every backend sees the same values).
 * bench/gpu-bundle.sh packs this script for the device machine (bench/gpu_torch.py is the PyTorch half).
 *
 * What is timed (medians after one warm-up run; every timing ends with an awaited read, so queued GPU work
 * is included):
 * - forward: one inference pass;
 * - PGD-10: ten steps of gradient, sign, step and box clamp (ε = 8/255, step 2/255), the steps medrobust's
 *   `pgd` takes; in Node WebGPU has no synchronous reads, and `pgd` validates its inputs with one, so the
 *   loop is written out here; on backends with synchronous reads `pgd` itself is timed as well;
 * - training step: one SGD (momentum 0.9) step of the task loss in training mode (batch norm batch statistics).
 *
 * Also recorded: the first (warm-up) run of each step, shader compilation included; the peak of
 * `tf.memory().numBytes` (live tensors) and of the WebGPU buffer manager's bytes in use, read after every
 * kernel, per step; the pool of GPU buffers tfjs holds at the end; a check of one PGD-10 result (‖δ‖∞ ≤ ε,
 * inside [0, 1], finite, loss before and after); and the logits of the first two images (compared with
 * `--reference` on cpu by bench/gpu-bundle.sh's run script).
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { useBackend, type BackendName } from '../src/backend/index.js';
import { installKernels } from '../src/backend/kernels/register.js';
import { withInputGradientOnly } from '../src/internal/inputGradientOnly.js';
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
const reference = process.argv.includes('--reference') ? Number(arg('reference', '2')) : 0;
const HEAD = 2; // images whose logits are written for the cross-backend check
for (const m of models) if (!NETS[m]) throw new Error(`bench/gpu: unknown model '${m}' (densenet121, inceptionv3, attnvgg)`);

const t0 = performance.now();
const progress = (msg: string) => console.log(`[gpu.ts +${((performance.now() - t0) / 1000).toFixed(1)} s] ${msg}`);

const choice = await useBackend(backend, { threads: 2 });
// --composed: medrobust's convolution gradients built from forward kernels (src/backend/kernels/conv.ts)
// instead of the backend's own Conv2DBackpropInput/Filter; during an attack the filter gradient is skipped.
const composedKernels = process.argv.includes('--composed') ? installKernels(choice.tfjsBackend, ['Conv2DBackpropInput', 'Conv2DBackpropFilter']) : [];
if (composedKernels.length) console.log(`composed kernels on ${choice.tfjsBackend}: ${composedKernels.join(', ')}`);
// tfjs-backend-webgpu reads synchronously through an OffscreenCanvas, which Node lacks.
const syncReads = !(choice.tfjsBackend === 'webgpu' && typeof (globalThis as { OffscreenCanvas?: unknown }).OffscreenCanvas === 'undefined');
console.log(`backend ${choice.name}${choice.gpu ? ` on ${choice.gpu.description}${choice.gpu.software ? ' (software adapter)' : ''}` : ''}; synchronous reads: ${syncReads ? 'yes' : 'no'}`);
const device = choice.gpu ? `${choice.gpu.description}${choice.gpu.software ? ' (software)' : ''}` : choice.name;
// The limits the WebGPU device was created with (tfjs-backend-webgpu asks for the adapter's own).
const gpuDevice = (tf.backend() as unknown as { device?: { limits?: Record<string, number> } }).device;
const deviceLimits = gpuDevice?.limits
  ? Object.fromEntries(['maxBufferSize', 'maxStorageBufferBindingSize', 'maxComputeWorkgroupStorageSize', 'maxComputeWorkgroupsPerDimension', 'maxComputeInvocationsPerWorkgroup'].map((k) => [k, gpuDevice.limits![k]]))
  : null;
if (deviceLimits) console.log(`WebGPU device limits: ${JSON.stringify(deviceLimits)}`);

// Peaks read after every kernel: live tensor bytes (engine) and GPU buffer bytes in use (WebGPU buffer manager).
interface GpuMemory { numBytesInGPU?: number; numBytesAllocatedInGPU?: number }
const engine = tf.engine() as unknown as { runKernelFunc: (...a: unknown[]) => unknown; state: { numBytes: number }; backend: { memory(): GpuMemory } };
const peaks = { tensorBytes: 0, gpuBytesInUse: 0 };
const gpuMemory = (): GpuMemory => engine.backend.memory();
{
  const original = engine.runKernelFunc;
  engine.runKernelFunc = function (this: typeof engine, ...a: unknown[]) {
    const out = original.apply(this, a);
    peaks.tensorBytes = Math.max(peaks.tensorBytes, this.state.numBytes);
    const used = (this.backend as unknown as { bufferManager?: { numBytesUsed?: number } }).bufferManager?.numBytesUsed;
    if (used !== undefined) peaks.gpuBytesInUse = Math.max(peaks.gpuBytesInUse, used);
    return out;
  };
}
const resetPeaks = () => { peaks.tensorBytes = tf.memory().numBytes; peaks.gpuBytesInUse = gpuMemory().numBytesInGPU ?? 0; };
const MiB = (b: number) => Math.round((b / 2 ** 20) * 10) / 10;

async function timed(label: string, run: () => Promise<void>): Promise<{ firstMs: number; medianMs: number; allMs: number[]; peakTensorMiB: number; peakGpuInUseMiB: number }> {
  resetPeaks();
  let s = performance.now();
  await run(); // warm-up: shader compilation, buffer pools
  const firstMs = performance.now() - s;
  progress(`  ${label}: warm-up ${firstMs.toFixed(0)} ms`);
  const allMs: number[] = [];
  for (let r = 0; r < reps; r++) {
    s = performance.now();
    await run();
    allMs.push(performance.now() - s);
  }
  const sorted = [...allMs].sort((a, b) => a - b);
  const medianMs = sorted[Math.floor(sorted.length / 2)]!;
  progress(`  ${label}: median ${medianMs.toFixed(1)} ms of [${allMs.map((t) => t.toFixed(1)).join(', ')}]`);
  return { firstMs, medianMs, allMs, peakTensorMiB: MiB(peaks.tensorBytes), peakGpuInUseMiB: MiB(peaks.gpuBytesInUse) };
}

type Timing = Awaited<ReturnType<typeof timed>>;
interface PgdCheck { linfDelta: number; epsilon: number; withinEpsilon: boolean; min: number; max: number; inBox: boolean; finite: boolean; changedFraction: number; cleanLoss: number; advLoss: number; lossIncrease: number; lossIncreased: boolean; ok: boolean }
interface Row {
  key: ModelKey; model: string; input: string; side: number; width: number; batch: number; parameters: number;
  forward?: Timing; pgd10?: Timing; pgdCall?: Timing | null; trainStep?: Timing;
  forwardMs?: number; pgd10Ms?: number; trainStepMs?: number; peakMiB?: number;
  gpuPoolEndMiB?: number | null; shaderPipelines?: number | null; pgdCheck?: PgdCheck; logitsHead: number[][]; seconds: number;
}
const rows: Row[] = [];
const save = () => {
  if (!jsonOut) return;
  mkdirSync(dirname(jsonOut), { recursive: true });
  writeFileSync(jsonOut, JSON.stringify({ backend: choice.name, device, deviceLimits, syncReads, batch, reps, reference: reference > 0, rows, date: new Date().toISOString() }, null, 2));
};

for (const key of models) {
  const spec = NETS[key];
  const side = size ?? spec.side;
  const started = performance.now();
  progress(`${key}: building ${side}×${side}, width ${width}, batch ${batch}`);
  const net = spec.build(side, width);
  const parameters = net.countParams();
  const logits = selectOutput(net, 0);
  const lossOf = spec.task === 'multi-label' ? sigmoidBinaryCrossEntropy : softmaxCrossEntropy;
  const images = tf.randomUniform([batch, side, side, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
  const labels = spec.task === 'multi-label'
    ? tf.cast(tf.greater(tf.randomUniform([batch, spec.classes], 0, 1, 'float32', 2), 0.8), 'float32')
    : tf.tensor1d(Array.from({ length: batch }, (_, i) => i % spec.classes), 'int32');
  const base: Row = { key, model: spec.title, input: `${side}×${side}×3${width !== 1 ? `, width ${width}` : ''}`, side, width, batch, parameters, logitsHead: [], seconds: 0 };

  if (reference > 0) {
    const head = tf.slice(images, [0, 0, 0, 0], [Math.min(reference, batch), side, side, 3]);
    const z = tf.tidy(() => logits(head));
    base.logitsHead = (await z.array()) as number[][];
    tf.dispose([head, z, images, labels]);
    net.dispose();
    base.seconds = (performance.now() - started) / 1000;
    rows.push(base);
    save();
    progress(`${key}: reference logits of ${base.logitsHead.length} image(s) in ${base.seconds.toFixed(1)} s`);
    continue;
  }

  const epsilon = 8 / 255;
  const alpha = 2 / 255;
  let logitsHead: number[][] = [];
  const forward = await timed('forward', async () => {
    const z = tf.tidy(() => logits(images));
    const values = (await z.array()) as number[][];
    logitsHead = values.slice(0, HEAD);
    z.dispose();
  });

  const gradient = tf.grad((x: tf.Tensor) => tf.mean(lossOf(logits(x as tf.Tensor4D), labels)));
  const lower = tf.tidy(() => tf.maximum(tf.sub(images, epsilon), 0));
  const upper = tf.tidy(() => tf.minimum(tf.add(images, epsilon), 1));
  const pgd10 = async (): Promise<tf.Tensor4D> => {
    let adv: tf.Tensor4D = tf.clone(images);
    for (let t = 0; t < 10; t++) {
      const next = tf.tidy(() => tf.minimum(tf.maximum(tf.add(adv, tf.mul(alpha, tf.sign(withInputGradientOnly(() => gradient(adv))))), lower), upper) as tf.Tensor4D);
      adv.dispose();
      adv = next;
    }
    return adv;
  };
  const pgdTiming = await timed('PGD-10', async () => {
    const adv = await pgd10();
    await adv.data();
    adv.dispose();
  });

  // One PGD-10 result checked: the box, the ε-ball, finiteness, and what it did to the loss.
  const adv = await pgd10();
  const [stats, advLossT, cleanLossT] = [
    tf.tidy(() => {
      const d = tf.sub(adv, images);
      return tf.stack([tf.max(tf.abs(d)), tf.min(adv), tf.max(adv), tf.mean(tf.cast(tf.greater(tf.abs(d), 1e-7), 'float32')), tf.sum(tf.cast(tf.logicalNot(tf.isFinite(adv)), 'float32'))]);
    }),
    tf.tidy(() => tf.mean(lossOf(logits(adv), labels))),
    tf.tidy(() => tf.mean(lossOf(logits(images), labels))),
  ];
  const [linfDelta, lo, hi, changedFraction, nonFinite] = Array.from(await stats.data());
  const advLoss = (await advLossT.data())[0]!;
  const cleanLoss = (await cleanLossT.data())[0]!;
  tf.dispose([adv, stats, advLossT, cleanLossT]);
  const withinEpsilon = linfDelta! <= epsilon + 1e-6;
  const inBox = lo! >= 0 && hi! <= 1;
  const finite = nonFinite === 0 && Number.isFinite(advLoss) && Number.isFinite(cleanLoss);
  const pgdCheck: PgdCheck = {
    linfDelta: linfDelta!, epsilon, withinEpsilon, min: lo!, max: hi!, inBox, finite, changedFraction: changedFraction!,
    cleanLoss, advLoss, lossIncrease: advLoss - cleanLoss, lossIncreased: advLoss > cleanLoss,
    // PGD ascends the loss: it must not have fallen (beyond float noise); strictly up is reported apart
    ok: withinEpsilon && inBox && finite && advLoss >= cleanLoss - 1e-6 * Math.max(1, Math.abs(cleanLoss)),
  };
  progress(`  PGD check: ‖δ‖∞ ${linfDelta!.toFixed(6)} (ε ${epsilon.toFixed(6)}), range [${lo!.toFixed(4)}, ${hi!.toFixed(4)}], changed ${(100 * changedFraction!).toFixed(1)} %, loss ${cleanLoss.toPrecision(6)} → ${advLoss.toPrecision(6)}: ${pgdCheck.ok ? 'ok' : 'FAILED'}`);

  const pgdCall = syncReads
    ? await timed('pgd()', async () => {
      const a = pgd(logits, images, labels, { epsilon, stepSize: alpha, steps: 10, randomStart: false, task: spec.task });
      await a.data();
      a.dispose();
    })
    : null;

  const optimizer = tf.train.momentum(0.01, 0.9);
  const trainStep = await timed('training step', async () => {
    const cost = optimizer.minimize(() => {
      const out = net.apply(images, { training: true });
      const z = (Array.isArray(out) ? out[0] : out) as tf.Tensor2D;
      return tf.mean(lossOf(z, labels)) as tf.Scalar;
    }, true);
    await cost!.data();
    cost!.dispose();
  });

  const pool = gpuMemory().numBytesAllocatedInGPU;
  // compute pipelines tfjs-backend-webgpu compiled so far in this process (one per shader key)
  const cache = (tf.backend() as unknown as { pipelineCache?: Record<string, unknown> }).pipelineCache;
  const row: Row = {
    ...base, forward, pgd10: pgdTiming, pgdCall, trainStep,
    forwardMs: forward.medianMs, pgd10Ms: pgdTiming.medianMs, trainStepMs: trainStep.medianMs,
    peakMiB: Math.max(forward.peakTensorMiB, pgdTiming.peakTensorMiB, trainStep.peakTensorMiB),
    gpuPoolEndMiB: pool === undefined ? null : MiB(pool), shaderPipelines: cache ? Object.keys(cache).length : null, pgdCheck, logitsHead,
    seconds: (performance.now() - started) / 1000,
  };
  rows.push(row);
  save();
  console.log(`${row.model} ${row.input} b${batch}: forward ${forward.medianMs.toFixed(1)} ms, PGD-10 ${pgdTiming.medianMs.toFixed(0)} ms${pgdCall ? ` (pgd() ${pgdCall.medianMs.toFixed(0)} ms)` : ''}, training step ${trainStep.medianMs.toFixed(0)} ms, tensors peak ${row.peakMiB!.toFixed(0)} MiB${row.gpuPoolEndMiB !== null ? `, GPU buffer pool ${row.gpuPoolEndMiB!.toFixed(0)} MiB` : ''}${row.shaderPipelines ? `, ${row.shaderPipelines} shader pipelines` : ''}; PGD check ${pgdCheck.ok ? 'ok' : 'FAILED'} (${row.seconds.toFixed(1)} s)`);
  optimizer.dispose();
  tf.dispose([images, labels, lower, upper]);
  net.dispose();
}

if (reference === 0) {
  console.log(`\n| model | input | batch | forward | PGD-10 | training step | tensors peak | PGD check |\n|---|---|---:|---:|---:|---:|---:|---|`);
  for (const r of rows) console.log(`| ${r.model} | ${r.input} | ${r.batch} | ${r.forwardMs!.toFixed(1)} ms | ${r.pgd10Ms!.toFixed(0)} ms | ${r.trainStepMs!.toFixed(0)} ms | ${r.peakMiB!.toFixed(0)} MiB | ${r.pgdCheck!.ok ? 'ok' : 'FAILED'} |`);
  console.log(`(${choice.name} on ${device}; medians of ${reps} after a warm-up)`);
}
save();
