/**
 * The floor of each convolution kernel (issue 17): one conv layer of each net at its shape, timed alone —
 * forward, input gradient and filter gradient — with medrobust's wasm module on 1 and 2 threads, with
 * XNNPACK (the stock forward conv, 2 threads) and with PyTorch CPU (2 threads, bench/convFloor_torch.py).
 * A step of a net cannot run faster against PyTorch than its convolutions do, so the forward conv's ratio
 * to PyTorch bounds what the backward kernels, and a whole PGD or training step, can reach.
 *
 *   npx tsx bench/convFloor.ts [--reps 3] [--layers small,resnet,...] [--no-torch]
 *
 * Each configuration runs in a fresh process (the thread counts are fixed when wasm starts), the sides
 * alternating `--reps` times; the table gives the best time of each (the least disturbed by other work).
 */
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** [label, input NHWC, filter HWIO, stride, padding]. */
export const LAYERS: Array<[string, [number, number, number, number], [number, number, number, number], number, 'same' | 'valid']> = [
  ['small CNN conv2 (28 px, b32)', [32, 28, 28, 32], [3, 3, 32, 32], 1, 'same'],
  ['ResNet-style stage 2 entry 3×3/2 (64 px, b16)', [16, 64, 64, 32], [3, 3, 32, 64], 2, 'same'],
  ['ResNet-style stage 3 3×3 (b16)', [16, 16, 16, 128], [3, 3, 128, 128], 1, 'same'],
  ['DenseNet-121 stem 7×7/2 (224 px, b2)', [2, 224, 224, 3], [7, 7, 3, 64], 2, 'same'],
  ['DenseNet-121 block-1 bottleneck 1×1 (b2)', [2, 56, 56, 128], [1, 1, 128, 128], 1, 'same'],
  ['DenseNet-121 block-1 growth 3×3 (b2)', [2, 56, 56, 128], [3, 3, 128, 32], 1, 'same'],
  ['Inception-v3 reduction 3×3/2 (b2)', [2, 35, 35, 288], [3, 3, 288, 384], 2, 'valid'],
  ['Inception-v3 1×7 (b2)', [2, 17, 17, 128], [1, 7, 128, 128], 1, 'same'],
  ['AttnVGG conv1_2 3×3 (224 px, b2)', [2, 224, 224, 64], [3, 3, 64, 64], 1, 'same'],
  ['AttnVGG conv4 3×3 512 (b2)', [2, 28, 28, 512], [3, 3, 512, 512], 1, 'same'],
];

type Times = { forward: number; inputGrad: number; filterGrad: number };

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

/** Best of up to 20 runs within ~1.5 s, after one warm-up. */
function best(fn: () => void): number {
  fn();
  let min = Infinity;
  const start = performance.now();
  for (let i = 0; i < 20 && (i < 3 || performance.now() - start < 1500); i++) {
    const t0 = performance.now();
    fn();
    min = Math.min(min, performance.now() - t0);
  }
  return min;
}

/** Child: one wasm configuration; prints a JSON line {label: {config: Times}}. */
async function child(kernelThreads: number, xnnThreads: number, layers: string[]): Promise<void> {
  const tf = await import('@tensorflow/tfjs-core');
  const { registerThreadedWasm, importWasmPackage } = await import('../src/backend/wasmThreads.js');
  const { registerWasmGradients } = await import('../src/backend/index.js');
  const { NATIVE_FLAG } = await import('../src/backend/kernels/native.js');
  await import('@tensorflow/tfjs-layers');
  await registerThreadedWasm(await importWasmPackage(), xnnThreads, undefined, kernelThreads);
  registerWasmGradients();
  await tf.setBackend('wasm');
  const out: Record<string, Record<string, Times>> = {};
  for (const [label, xs, fs, stride, pad] of LAYERS.filter((l) => layers.includes(l[0]))) {
    const x = tf.randomNormal(xs) as import('@tensorflow/tfjs-core').Tensor4D;
    const f = tf.randomNormal(fs) as import('@tensorflow/tfjs-core').Tensor4D;
    const y = tf.conv2d(x, f, stride, pad);
    const dy = tf.randomNormal(y.shape);
    const run = (fn: () => import('@tensorflow/tfjs-core').Tensor) => best(() => { const t = fn(); t.dataSync(); t.dispose(); });
    const configs: Record<string, boolean> = kernelThreads > 1 ? { [`module ${kernelThreads}T`]: true } : { 'module 1T': true, [`XNNPACK ${xnnThreads}T`]: false };
    out[label] = {};
    for (const [name, native] of Object.entries(configs)) {
      tf.env().set(NATIVE_FLAG, native);
      out[label]![name] = {
        forward: run(() => tf.conv2d(x, f, stride, pad)),
        // XNNPACK has no backward kernels: its row is the composed kernels (forward XNNPACK convs on rearranged tensors).
        inputGrad: run(() => tf.conv2dTranspose(dy as import('@tensorflow/tfjs-core').Tensor4D, f, xs, stride, pad)),
        filterGrad: run(() => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { strides: stride, pad, dataFormat: 'NHWC', filterShape: fs }) as import('@tensorflow/tfjs-core').Tensor),
      };
    }
    tf.env().set(NATIVE_FLAG, true);
    tf.dispose([x, f, y, dy]);
  }
  console.log(JSON.stringify(out));
  process.exit(0);
}

async function main(): Promise<void> {
  if (process.argv.includes('--child')) return child(Number(arg('kernel-threads', '1')), Number(arg('xnn-threads', '2')), JSON.parse(arg('layers-json', '[]')) as string[]);
  const reps = Number(arg('reps', '3'));
  const wanted = arg('layers', '');
  const layers = LAYERS.map((l) => l[0]).filter((l) => !wanted || wanted.split(',').some((w) => l.toLowerCase().includes(w.toLowerCase())));
  const tsx = fileURLToPath(new URL('../node_modules/tsx/dist/cli.mjs', import.meta.url));
  const self = fileURLToPath(import.meta.url);
  const results: Record<string, Record<string, Times>> = {};
  const keep = (r: Record<string, Record<string, Times>>) => {
    for (const [label, byConfig] of Object.entries(r)) {
      for (const [config, t] of Object.entries(byConfig)) {
        const prev = (results[label] ??= {})[config];
        results[label]![config] = prev ? { forward: Math.min(prev.forward, t.forward), inputGrad: Math.min(prev.inputGrad, t.inputGrad), filterGrad: Math.min(prev.filterGrad, t.filterGrad) } : t;
      }
    }
  };
  const loads: number[] = [];
  for (let rep = 0; rep < reps; rep++) {
    for (const [k, x] of [[1, 2], [2, 1]]) {
      const outText = execFileSync(process.execPath, [tsx, self, '--child', '--kernel-threads', String(k), '--xnn-threads', String(x), '--layers-json', JSON.stringify(layers)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 2 ** 24 });
      keep(JSON.parse(outText.trim().split('\n').pop()!));
    }
    if (!process.argv.includes('--no-torch')) {
      const script = fileURLToPath(new URL('./convFloor_torch.py', import.meta.url));
      const cfg = LAYERS.filter((l) => layers.includes(l[0]));
      const outText = execFileSync('/usr/bin/python3', [script, JSON.stringify(cfg)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      keep(JSON.parse(outText.trim().split('\n').pop()!));
    }
    loads.push(os.loadavg()[0]!);
  }
  const ms = (v: number | undefined) => (v === undefined ? '—' : `${v.toFixed(v < 10 ? 2 : 1)}`);
  const ratio = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined ? '—' : `${(a / b).toFixed(2)}×`);
  console.log(`convFloor — ${reps} reps, best times in ms, load average (1 min) ${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)}`);
  console.log('| layer | GMAC | kernel | module 1T | module 2T | XNNPACK / composed 2T | PyTorch 2T | module 1T / PyTorch | module 2T / PyTorch | XNNPACK 2T / PyTorch |');
  console.log('|---|---|---|---|---|---|---|---|---|---|');
  for (const [label, xs, fs, stride, pad] of LAYERS.filter((l) => layers.includes(l[0]))) {
    const r = results[label] ?? {};
    const outH = pad === 'same' ? Math.ceil(xs[1] / stride) : Math.floor((xs[1] - fs[0]) / stride) + 1;
    const outW = pad === 'same' ? Math.ceil(xs[2] / stride) : Math.floor((xs[2] - fs[1]) / stride) + 1;
    const gmac = (xs[0] * outH * outW * fs[0] * fs[1] * fs[2] * fs[3]) / 1e9;
    for (const kernel of ['forward', 'inputGrad', 'filterGrad'] as const) {
      const m1 = r['module 1T']?.[kernel];
      const m2 = r['module 2T']?.[kernel];
      const xn = r['XNNPACK 2T']?.[kernel];
      const pt = r['PyTorch 2T']?.[kernel];
      console.log(`| ${label} | ${gmac.toFixed(3)} | ${kernel} | ${ms(m1)} | ${ms(m2)} | ${ms(xn)} | ${ms(pt)} | ${ratio(m1, pt)} | ${ratio(m2, pt)} | ${ratio(xn, pt)} |`);
    }
  }
}

// Run only as a script (bench/convFloorKernels.ts imports LAYERS).
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
