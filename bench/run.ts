/**
 * `npm run bench`: forward, one PGD step and one training step of the benchmark nets on tfjs cpu, tfjs wasm
 * (with medrobust's kernels, `--threads` threads) and PyTorch CPU (same nets, same thread count), in one run,
 * with ratios. Timings are medians of repeated runs after two warm-up runs; never run by `npm test`.
 *
 *   npm run bench -- [--threads 2] [--backends cpu,wasm] [--models small,resnet] [--cpu-models small] [--seconds 3] [--no-torch] [--profile]
 *
 * `--paper` runs the paper's networks instead (DenseNet-121 224, Inception-v3 299, AttnVGG 224 at the paper's
 * batch sizes, wasm against PyTorch CPU, peak memory too; bench/paperNets.ts lists its options):
 *   npm run bench -- --paper [--threads 2] [--reps 3] [--nets densenet121,inceptionv3,attnvgg] [--steps forward,pgd,train,maadvt]
 *
 * `--cpu-models` limits the (slow) cpu backend to some of the models (default: small only).
 * `--models` also accepts `densenet121` (224×224, batch 8). `--profile` prints wasm's per-kernel times of a
 * PGD step and a training step (tf.profile).
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { pgd } from '../src/index.js';
import { useBackend, type BackendName } from '../src/backend/index.js';
import { densenet121, resnet, smallCnn } from './models.js';
import { paperBench, type PaperNet, type PaperStep } from './paperNets.js';

interface Case { model: 'smallCnn' | 'resnet' | 'densenet121'; size: number; batch: number; label: string }
const CASES: Record<string, Case> = {
  small: { model: 'smallCnn', size: 28, batch: 32, label: 'small CNN 28×28×3, b32' },
  resnet: { model: 'resnet', size: 64, batch: 16, label: 'ResNet-style 64×64×3, b16' },
  densenet121: { model: 'densenet121', size: 224, batch: 2, label: 'DenseNet-121 224×224×3, b2' },
};
const BUILD = { smallCnn, resnet, densenet121 };

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}
const threads = Number(arg('threads', '2'));
const seconds = Number(arg('seconds', '3'));
const backends = arg('backends', 'cpu,wasm').split(',') as BackendName[];
const cases = arg('models', 'small,resnet').split(',').map((m) => CASES[m]!);
const cpuCases = new Set(arg('cpu-models', 'small').split(',').map((m) => CASES[m]!.label));
const withTorch = !process.argv.includes('--no-torch');
const profile = process.argv.includes('--profile');

async function timed(fn: () => void | Promise<void>, budgetS = seconds, minReps = 3, maxReps = 20): Promise<number> {
  await fn();
  const first = performance.now();
  await fn();
  // A slow backend (cpu) gets fewer repetitions: at least one, within the budget.
  const reps = performance.now() - first > 1000 * budgetS ? 1 : minReps;
  const times: number[] = [];
  const start = performance.now();
  while (times.length < reps || (times.length < maxReps && performance.now() - start < 1000 * budgetS)) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

interface Row { backend: string; label: string; forward: number; grad: number; pgd: number; train: number }

async function measure(backend: string, c: Case): Promise<Row> {
  const model = BUILD[c.model]([c.size, c.size, 3]);
  const x = tf.randomUniform([c.batch, c.size, c.size, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
  const y = tf.tensor1d(Array.from({ length: c.batch }, (_, i) => i % 10), 'int32');
  const yHot = tf.oneHot(y, 10);
  const net = (t: tf.Tensor4D) => model.apply(t, { training: false }) as tf.Tensor2D;
  const loss = (logits: tf.Tensor2D) => tf.losses.softmaxCrossEntropy(yHot, logits, undefined, tf.Reduction.SUM) as tf.Scalar;
  const optimizer = tf.train.sgd(0.01);
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const steps = 10;
  const before = tf.memory().numTensors;
  try {
    const forward = await timed(() => tf.tidy(() => { net(x).dataSync(); }));
    const grad = await timed(() => tf.tidy(() => { tf.grad((t: tf.Tensor) => loss(net(t as tf.Tensor4D)))(x).dataSync(); }));
    const pgdCall = await timed(() => { const adv = pgd(model, x, y, { epsilon: 8 / 255, steps, randomStart: false, seed: 1 }); adv.dataSync(); adv.dispose(); }, seconds, 1, 5);
    const train = await timed(() => {
      const cost = optimizer.minimize(() => tf.div(loss(model.apply(x, { training: true }) as tf.Tensor2D), c.batch) as tf.Scalar, true, vars);
      cost!.dataSync();
      cost!.dispose();
    });
    if (profile && backend === 'wasm') await profileKernels(c, net, loss, x, () => optimizer.minimize(() => tf.div(loss(model.apply(x, { training: true }) as tf.Tensor2D), c.batch) as tf.Scalar, false, vars));
    return { backend, label: c.label, forward, grad, pgd: pgdCall / steps, train };
  } finally {
    optimizer.dispose();
    tf.dispose([x, y, yHot]);
    model.dispose();
    const leaked = tf.memory().numTensors - before;
    if (leaked > 0) console.warn(`  (${leaked} tensors left after ${c.label} on ${backend})`);
  }
}

async function profileKernels(c: Case, net: (t: tf.Tensor4D) => tf.Tensor2D, loss: (l: tf.Tensor2D) => tf.Scalar, x: tf.Tensor4D, trainStep: () => void): Promise<void> {
  for (const [what, fn] of [
    ['input gradient', () => tf.tidy(() => { tf.grad((t: tf.Tensor) => loss(net(t as tf.Tensor4D)))(x).dataSync(); })],
    ['training step', trainStep],
  ] as const) {
    const info = await tf.profile(() => { fn(); });
    const byKernel = new Map<string, number>();
    for (const k of info.kernels) byKernel.set(k.name, (byKernel.get(k.name) ?? 0) + (k.kernelTimeMs as number));
    const total = [...byKernel.values()].reduce((a, b) => a + b, 0);
    const top = [...byKernel.entries()].sort((a, b) => b[1] - a[1]).slice(0, 8);
    console.log(`  profile ${c.label}, ${what} (wasm): ${total.toFixed(0)} ms in kernels; ${top.map(([k, ms]) => `${k} ${ms.toFixed(0)}`).join(', ')}`);
  }
}

function torchRows(): Row[] {
  if (!withTorch) return [];
  const script = fileURLToPath(new URL('./torch_bench.py', import.meta.url));
  const python = '/usr/bin/python3';
  if (!existsSync(python)) {
    console.log('PyTorch part skipped: /usr/bin/python3 not found.');
    return [];
  }
  const cfg = { threads, seconds, cases: cases.map(({ model, size, batch }) => ({ model, size, batch })) };
  const out = JSON.parse(execFileSync(python, [script, JSON.stringify(cfg)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim().split('\n').pop()!) as
    { error?: string; torch?: string; threads?: number; results?: Array<{ model: string; forward: number; pgd: number; train: number; error?: string }> };
  if (out.error) {
    console.log(`PyTorch part skipped: ${out.error}.`);
    return [];
  }
  console.log(`PyTorch ${out.torch}, ${out.threads} thread(s)`);
  return out.results!.flatMap((r, i) => (r.error ? (console.log(`  torch ${cases[i]!.label}: ${r.error}`), []) : [{ backend: 'torch', label: cases[i]!.label, forward: r.forward, grad: NaN, pgd: r.pgd, train: r.train }]));
}

const fmt = (ms: number) => (Number.isNaN(ms) ? '—' : ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(1)} ms`);
const ratio = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined || Number.isNaN(a) || Number.isNaN(b) ? '—' : `${(a / b).toFixed(2)}×`);

async function main(): Promise<void> {
  console.log(`medrobust bench — Node ${process.version}, ${os.cpus().length} logical CPUs (${os.cpus()[0]?.model ?? '?'}), load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  const rows: Row[] = [];
  for (const b of backends) {
    const choice = await useBackend(b, { threads });
    console.log(`${b}: tfjs '${choice.tfjsBackend}', threads ${choice.threads}, composed kernels ${choice.kernels.join(', ') || '(already registered)'}`);
    for (const c of cases) {
      if (b === 'cpu' && !cpuCases.has(c.label)) continue;
      const row = await measure(b, c);
      console.log(`  ${c.label}: forward ${fmt(row.forward)}, input gradient ${fmt(row.grad)}, PGD step ${fmt(row.pgd)}, training step ${fmt(row.train)}`);
      rows.push(row);
    }
  }
  rows.push(...torchRows());
  console.log(`\nload average after: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}\n`);
  console.log('| model | backend | forward | fwd + input grad | PGD step | PGD step / (fwd + input grad) | training step | PGD vs torch | training vs torch |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const c of cases) {
    const t = rows.find((r) => r.backend === 'torch' && r.label === c.label);
    for (const r of rows.filter((q) => q.label === c.label)) {
      console.log(`| ${c.label} | ${r.backend === 'torch' ? `PyTorch CPU` : `tfjs ${r.backend}`} | ${fmt(r.forward)} | ${fmt(r.grad)} | ${fmt(r.pgd)} | ${ratio(r.pgd, r.grad)} | ${fmt(r.train)} | ${ratio(r.pgd, t?.pgd)} | ${ratio(r.train, t?.train)} |`);
    }
  }
}

if (process.argv.includes('--paper')) {
  await paperBench({
    threads, reps: Number(arg('reps', '3')), pgdSteps: Number(arg('pgd-steps', '10')),
    nets: arg('nets', 'densenet121,inceptionv3,attnvgg').split(',') as PaperNet[],
    steps: arg('steps', 'forward,pgd,train,maadvt').split(',') as PaperStep[],
  });
} else {
  await main();
}
// The threaded wasm backend keeps worker threads alive.
process.exit(0);
