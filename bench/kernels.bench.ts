/**
 * Per-layer convolution kernels on wasm against PyTorch CPU: the forward conv (XNNPACK, tfjs's own), the
 * input gradient and the weight gradient, each with medrobust's kernel module (native/kernels.c) and with
 * the composed kernels it replaced (forward XNNPACK convs on rearranged tensors, flag MEDROBUST_NATIVE_KERNELS
 * off), and PyTorch's (bench/kernels_torch.py: oneDNN/native, `aten.convolution_backward`). The forward
 * conv's ratio to PyTorch is the floor the backward kernels can be expected to reach: both are the same
 * multiply-adds on the same SIMD width.
 *
 *   npx tsx bench/kernels.bench.ts [--threads 1] [--rounds 3] [--reps 5] [--layers name,name] [--no-torch]
 *
 * Rounds alternate the two frameworks (wasm, then PyTorch) so that both see the same machine load; each
 * figure is the median over rounds of per-round medians (wall ms). With one thread CPU ms are printed too
 * (process CPU time, which a loaded machine inflates far less than wall time).
 */
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers';
import { useBackend } from '../src/backend/index.js';
import { NATIVE_FLAG, nativeKernels } from '../src/backend/kernels/native.js';

type Layer = [name: string, n: number, h: number, w: number, ci: number, co: number, kh: number, kw: number, sh: number, sw: number, pad: 'same' | 'valid'];

/** Layers of the benchmark nets (bench/models.ts) and of the paper's nets, at their sizes and batches. */
const LAYERS: Layer[] = [
  ['small CNN conv1 28px b32 3→32', 32, 28, 28, 3, 32, 3, 3, 1, 1, 'same'],
  ['small CNN conv2 28px b32 32→32', 32, 28, 28, 32, 32, 3, 3, 1, 1, 'same'],
  ['small CNN conv4 14px b32 64→64', 32, 14, 14, 64, 64, 3, 3, 1, 1, 'same'],
  ['ResNet 3×3 64px b16 32→32', 16, 64, 64, 32, 32, 3, 3, 1, 1, 'same'],
  ['ResNet 3×3/2 64px b16 32→64', 16, 64, 64, 32, 64, 3, 3, 2, 2, 'same'],
  ['ResNet 1×1/2 64px b16 32→64', 16, 64, 64, 32, 64, 1, 1, 2, 2, 'same'],
  ['ResNet 3×3 16px b16 128→128', 16, 16, 16, 128, 128, 3, 3, 1, 1, 'same'],
  ['DenseNet-121 stem 7×7/2 224px b2', 2, 224, 224, 3, 64, 7, 7, 2, 2, 'same'],
  ['DenseNet-121 1×1 56px b2 256→128', 2, 56, 56, 256, 128, 1, 1, 1, 1, 'same'],
  ['DenseNet-121 3×3 56px b2 128→32', 2, 56, 56, 128, 32, 3, 3, 1, 1, 'same'],
  ['DenseNet-121 3×3 7px b2 128→32', 2, 7, 7, 128, 32, 3, 3, 1, 1, 'same'],
  ['Inception-v3 1×7 17px b2 128→128', 2, 17, 17, 128, 128, 1, 7, 1, 1, 'same'],
  ['Inception-v3 3×3/2 valid 35px b2 288→384', 2, 35, 35, 288, 384, 3, 3, 2, 2, 'valid'],
  ['GAP U-Net 4×4/2 224px b4 3→64', 4, 224, 224, 3, 64, 4, 4, 2, 2, 'same'],
  ['GAP U-Net 4×4/2 56px b4 128→256', 4, 56, 56, 128, 256, 4, 4, 2, 2, 'same'],
];

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}
const threads = Number(arg('threads', '1'));
const rounds = Number(arg('rounds', '3'));
const reps = Number(arg('reps', '5'));
const only = arg('layers', '');
const layers = only ? LAYERS.filter(([name]) => only.split(',').some((o) => name.includes(o))) : LAYERS;
const withTorch = !process.argv.includes('--no-torch');

interface Timing { wall: number; min: number; cpu: number }
const median = (v: number[]): number => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;

function timed(fn: () => tf.Tensor): Timing {
  fn().dispose();
  const walls: number[] = [];
  const cpus: number[] = [];
  for (let i = 0; i < reps; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const r = fn();
    r.dataSync();
    walls.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpus.push((c.user + c.system) / 1000);
    r.dispose();
  }
  return { wall: median(walls), min: Math.min(...walls), cpu: median(cpus) };
}

type Row = Record<'forward' | 'forwardStock' | 'dxNative' | 'dxComposed' | 'dwNative' | 'dwComposed', Timing>;

function measureWasm(): Row[] {
  return layers.map(([, n, h, w, ci, co, kh, kw, sh, sw, pad]) => {
    const x = tf.randomNormal([n, h, w, ci], 0, 1, 'float32', 1) as tf.Tensor4D;
    const f = tf.randomNormal([kh, kw, ci, co], 0, 1, 'float32', 2) as tf.Tensor4D;
    const y = tf.conv2d(x, f, [sh, sw], pad);
    const dy = tf.randomNormal(y.shape, 0, 1, 'float32', 3) as tf.Tensor4D;
    const attrs = { strides: [sh, sw], pad, dataFormat: 'NHWC' };
    const dx = () => tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: f }, { ...attrs, inputShape: x.shape } as unknown as tf.NamedAttrMap) as tf.Tensor;
    const dw = () => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { ...attrs, filterShape: f.shape } as unknown as tf.NamedAttrMap) as tf.Tensor;
    tf.env().set(NATIVE_FLAG, false);
    const forwardStock = timed(() => tf.conv2d(x, f, [sh, sw], pad));
    tf.env().set(NATIVE_FLAG, true);
    const forward = timed(() => tf.conv2d(x, f, [sh, sw], pad));
    const dxNative = timed(dx);
    const dwNative = timed(dw);
    tf.env().set(NATIVE_FLAG, false);
    const dxComposed = timed(dx);
    const dwComposed = timed(dw);
    tf.env().set(NATIVE_FLAG, true);
    tf.dispose([x, f, y, dy]);
    return { forward, forwardStock, dxNative, dxComposed, dwNative, dwComposed };
  });
}

function measureTorch(): Array<{ forward: Timing; dx: Timing; dw: Timing }> | undefined {
  if (!withTorch) return undefined;
  const script = fileURLToPath(new URL('./kernels_torch.py', import.meta.url));
  try {
    const out = execFileSync('/usr/bin/python3', [script, JSON.stringify({ threads, reps, layers })], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return (JSON.parse(out.trim().split('\n').pop()!) as { results: Array<{ forward: Timing; dx: Timing; dw: Timing }> }).results;
  } catch (err) {
    console.log(`PyTorch part skipped: ${(err as Error).message.split('\n')[0]}`);
    return undefined;
  }
}

await useBackend('wasm', { threads });
const native = nativeKernels(tf.backend());
console.log(`kernels bench — Node ${process.version}, ${os.cpus().length} CPUs, wasm threads ${threads} (module threads ${native?.threads ?? 'unavailable'}), ` +
  `${rounds} rounds × ${reps} reps, load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
const wasmRounds: Row[][] = [];
const torchRounds: Array<NonNullable<ReturnType<typeof measureTorch>>> = [];
for (let r = 0; r < rounds; r++) {
  wasmRounds.push(measureWasm());
  const t = measureTorch();
  if (t) torchRounds.push(t);
}
const pick = (i: number, key: keyof Row, field: keyof Timing): number => median(wasmRounds.map((round) => round[i]![key][field]));
const pickTorch = (i: number, key: 'forward' | 'dx' | 'dw', field: keyof Timing): number => (torchRounds.length ? median(torchRounds.map((round) => round[i]![key][field])) : Number.NaN);
const field: keyof Timing = threads === 1 ? 'cpu' : 'wall';
const f1 = (v: number): string => (Number.isNaN(v) ? '—' : v.toFixed(1));
const ratio = (a: number, b: number): string => (Number.isNaN(a) || Number.isNaN(b) ? '—' : `${(a / b).toFixed(2)}×`);
console.log(`\nload average after: ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}; figures: ${field === 'cpu' ? 'CPU' : 'wall'} ms, median of ${rounds} round medians\n`);
console.log('| layer | forward XNNPACK → module / torch | dx composed → module / torch | dW composed → module / torch | forward ratio | dx ratio | dW ratio |');
console.log('|---|---|---|---|---|---|---|');
layers.forEach(([name], i) => {
  const fw = pick(i, 'forward', field);
  const ft = pickTorch(i, 'forward', field);
  const dxn = pick(i, 'dxNative', field);
  const dxt = pickTorch(i, 'dx', field);
  const dwn = pick(i, 'dwNative', field);
  const dwt = pickTorch(i, 'dw', field);
  console.log(`| ${name} | ${f1(pick(i, 'forwardStock', field))} → ${f1(fw)} / ${f1(ft)} | ${f1(pick(i, 'dxComposed', field))} → ${f1(dxn)} / ${f1(dxt)} | ${f1(pick(i, 'dwComposed', field))} → ${f1(dwn)} / ${f1(dwt)} | ${ratio(fw, ft)} | ${ratio(dxn, dxt)} | ${ratio(dwn, dwt)} |`);
});
