/**
 * PGD and training steps on wasm (medrobust's kernels) against PyTorch CPU, interleaved: each round runs
 * the wasm side and then the PyTorch side of every net in fresh processes, so that both see the machine
 * in the same state; the table gives medians over rounds and the median of the per-round ratios.
 *
 *   npx tsx bench/kernels.steps.ts [--threads 2] [--rounds 5] [--seconds 2] [--models small,resnet,densenet121,unet]
 *                                  [--kernel-threads N] [--xnn-threads N] [--no-native] [--composed] [--no-torch]
 *                                  [--no-fma] [--plain]
 *
 * Nets: bench/models.ts (small CNN 28 px b32, ResNet-style 64 px b16, DenseNet-121 224 px b2) and PyTorch's
 * twins in bench/torch_bench.py (same step definitions: a PGD step is one `pgd(..., {steps: 10})` call / 10;
 * a training step one SGD step); `unet` is the paper's GAP U-Net generator at 224 px, batch 4, one `trainGap`
 * step, against bench/gap/gap_torch.py's `time_step` (run through bench/kernels_gap_torch.py).
 * `--kernel-threads` and `--xnn-threads` split the wasm threads between medrobust's kernels and XNNPACK's
 * pool (default: both `--threads`); `--no-native` runs the composed kernels instead of the module;
 * `--composed` runs them too, as a third process in each round, and adds their ratio to the table.
 * `--no-fma` runs the module's plain build instead of its FMA build (`useBackend`'s `fma: false`); `--plain` runs
 * the plain build too, as another process in each round, and prints a second table of FMA against plain.
 * Each wasm process reports the build that ran (`fma` in its JSON line; the round lines show it).
 */
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath } from 'node:url';

type Model = 'small' | 'resnet' | 'densenet121' | 'unet';
interface Result { pgd?: number; train: number; fma?: boolean }
type Key = 'pgd' | 'train';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}
const threads = Number(arg('threads', '2'));
const rounds = Number(arg('rounds', '5'));
const seconds = Number(arg('seconds', '2'));
const models = arg('models', 'small,resnet,densenet121,unet').split(',') as Model[];
const kernelThreads = Number(arg('kernel-threads', String(threads)));
const xnnThreads = Number(arg('xnn-threads', String(threads)));
const native = !process.argv.includes('--no-native');
const withTorch = !process.argv.includes('--no-torch');
const withComposed = process.argv.includes('--composed');
const fma = !process.argv.includes('--no-fma');
const withPlain = process.argv.includes('--plain');
const child = arg('child', '');

const median = (v: number[]): number => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;

async function timed(fn: () => void | Promise<void>, minReps = 3, maxReps = 10): Promise<number> {
  await fn();
  await fn();
  const times: number[] = [];
  const start = performance.now();
  while (times.length < minReps || (times.length < maxReps && performance.now() - start < 1000 * seconds)) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  return median(times);
}

/** Child process: one net on wasm; prints a JSON line. */
async function runChild(model: Model): Promise<void> {
  const tf = await import('@tensorflow/tfjs-core');
  const tfl = await import('@tensorflow/tfjs-layers');
  const { useBackend } = await import('../src/backend/index.js');
  const { registerThreadedWasm, importWasmPackage } = await import('../src/backend/wasmThreads.js');
  const { FMA_FLAG, NATIVE_FLAG, nativeKernels, registerNativeFlag } = await import('../src/backend/kernels/native.js');
  registerNativeFlag();
  tf.env().set(FMA_FLAG, fma);
  if (threads > 1 && (kernelThreads !== threads || xnnThreads !== threads)) {
    // A custom split: started here (useBackend would start the threaded build with `threads` for both).
    const { registerWasmGradients } = await import('../src/backend/index.js');
    await registerThreadedWasm(await importWasmPackage(), xnnThreads, undefined, kernelThreads);
    registerWasmGradients();
    await tf.setBackend('wasm');
  } else {
    await useBackend('wasm', { threads, fma });
  }
  tf.env().set(NATIVE_FLAG, native);
  const moduleFma = nativeKernels(tf.backend())?.fma;
  if (model === 'unet') {
    const { gapUnet } = await import('../src/attacks/gapGenerators.js');
    const { trainGap } = await import('../src/attacks/trainGap.js');
    // The tiny classifier of bench/gap (conv3×3 16 s2, conv3×3 32 s2, global average pool, dense 10).
    const classifier = tfl.sequential({
      layers: [
        tfl.layers.conv2d({ inputShape: [224, 224, 3], filters: 16, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu' }),
        tfl.layers.conv2d({ filters: 32, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu' }),
        tfl.layers.globalAveragePooling2d({}),
        tfl.layers.dense({ units: 10 }),
      ],
    });
    const generator = gapUnet({ inputShape: [224, 224, 3], preset: 'isic', ngf: 64 });
    const images = tf.randomUniform([4, 224, 224, 3], 0, 1, 'float32', 1) as import('@tensorflow/tfjs-core').Tensor4D;
    const steps = 2;
    await trainGap(classifier, generator, [{ images }], { magnitude: 10, epochs: 1, seed: 1 });
    const times: number[] = [];
    for (let r = 0; r < 2; r++) {
      const t0 = performance.now();
      await trainGap(classifier, generator, new Array(steps).fill({ images }), { magnitude: 10, epochs: 1, seed: 1 });
      times.push((performance.now() - t0) / steps);
    }
    console.log(JSON.stringify({ train: Math.min(...times), fma: moduleFma }));
    return;
  }
  const { pgd } = await import('../src/index.js');
  const nets = await import('./models.js');
  const spec = { small: [nets.smallCnn, 28, 32], resnet: [nets.resnet, 64, 16], densenet121: [nets.densenet121, 224, 2] } as const;
  const [build, size, batch] = spec[model];
  const net = build([size, size, 3]);
  const x = tf.randomUniform([batch, size, size, 3], 0, 1, 'float32', 1) as import('@tensorflow/tfjs-core').Tensor4D;
  const y = tf.tensor1d(Array.from({ length: batch }, (_, i) => i % 10), 'int32');
  const yHot = tf.oneHot(y, 10);
  const optimizer = tf.train.sgd(0.01);
  const vars = net.trainableWeights.map((w) => w.read() as import('@tensorflow/tfjs-core').Variable);
  const steps = 10;
  const pgdMs = await timed(() => {
    const adv = pgd(net, x, y, { epsilon: 8 / 255, steps, randomStart: false, seed: 1 });
    adv.dataSync();
    adv.dispose();
  }, 1, 5);
  const train = await timed(() => {
    const cost = optimizer.minimize(() => tf.div(tf.losses.softmaxCrossEntropy(yHot, net.apply(x, { training: true }) as import('@tensorflow/tfjs-core').Tensor, undefined, tf.Reduction.SUM), batch) as import('@tensorflow/tfjs-core').Scalar, true, vars);
    cost!.dataSync();
    cost!.dispose();
  });
  console.log(JSON.stringify({ pgd: pgdMs / steps, train, fma: moduleFma }));
}

function runWasm(model: Model, native: boolean, fmaBuild = fma): Result {
  const tsx = fileURLToPath(new URL('../node_modules/tsx/dist/cli.mjs', import.meta.url));
  const args = [tsx, fileURLToPath(import.meta.url), '--child', model, '--threads', String(threads), '--seconds', String(seconds),
    '--kernel-threads', String(kernelThreads), '--xnn-threads', String(xnnThreads), ...(native ? [] : ['--no-native']), ...(fmaBuild ? [] : ['--no-fma'])];
  const out = execFileSync(process.execPath, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  return JSON.parse(out.trim().split('\n').pop()!) as Result;
}

function runTorch(model: Model): Result {
  if (model === 'unet') {
    const script = fileURLToPath(new URL('./kernels_gap_torch.py', import.meta.url));
    const out = execFileSync('/usr/bin/python3', [script, String(threads)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    return JSON.parse(out.trim().split('\n').pop()!) as Result;
  }
  const script = fileURLToPath(new URL('./torch_bench.py', import.meta.url));
  const spec = { small: ['smallCnn', 28, 32], resnet: ['resnet', 64, 16], densenet121: ['densenet121', 224, 2] } as const;
  const [name, size, batch] = spec[model];
  const cfg = { threads, seconds, cases: [{ model: name, size, batch }], skipForward: true };
  const out = JSON.parse(execFileSync('/usr/bin/python3', [script, JSON.stringify(cfg)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim().split('\n').pop()!) as
    { results: Array<{ pgd: number; train: number; error?: string }> };
  const r = out.results[0]!;
  if (r.error) throw new Error(`torch ${model}: ${r.error}`);
  return { pgd: r.pgd, train: r.train };
}

async function main(): Promise<void> {
  if (child) return runChild(child as Model);
  const fmt = (ms: number | undefined): string => (ms === undefined || Number.isNaN(ms) ? '—' : ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(1)} ms`);
  const loads: number[] = [os.loadavg()[0]!];
  console.log(`kernels.steps — Node ${process.version}, ${os.cpus().length} CPUs, wasm threads ${threads} (kernels ${kernelThreads}, XNNPACK ${xnnThreads}, module ${native ? `on, ${fma ? 'FMA build where relaxed SIMD runs' : 'plain build'}${withPlain ? ' and the plain build' : ''}` : 'off'}), ` +
    `PyTorch threads ${threads}, ${rounds} rounds, load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  const results = new Map<Model, Array<{ wasm: Result; composed?: Result; plain?: Result; torch: Result }>>();
  for (let r = 0; r < rounds; r++) {
    for (const m of models) {
      const wasm = runWasm(m, native);
      const composed = withComposed ? runWasm(m, false) : undefined;
      const plain = withPlain ? runWasm(m, true, false) : undefined;
      const torch = withTorch ? runTorch(m) : { pgd: Number.NaN, train: Number.NaN };
      loads.push(os.loadavg()[0]!);
      const list = results.get(m) ?? [];
      list.push({ wasm, composed, plain, torch });
      results.set(m, list);
      const comp = composed ? `; composed PGD ${fmt(composed.pgd)}, train ${fmt(composed.train)}` : '';
      const pl = plain ? `; plain build PGD ${fmt(plain.pgd)}, train ${fmt(plain.train)}` : '';
      const build = wasm.fma === undefined ? '' : wasm.fma ? ' (FMA build)' : ' (plain build)';
      console.log(`  round ${r + 1} ${m}: wasm${build} PGD ${fmt(wasm.pgd)}, train ${fmt(wasm.train)}${comp}${pl}; torch PGD ${fmt(torch.pgd)}, train ${fmt(torch.train)}; load ${os.loadavg()[0]!.toFixed(1)}`);
    }
  }
  console.log(`\nload average (1 min) during the run: ${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)}\n`);
  const c = withComposed;
  console.log(`| net | wasm PGD step |${c ? ' composed PGD step |' : ''} PyTorch PGD step | PGD ratio |${c ? ' composed PGD ratio |' : ''} wasm training step |${c ? ' composed training step |' : ''} PyTorch training step | training ratio |${c ? ' composed training ratio |' : ''}`);
  console.log(`|---|---|---|---|---|---|---|${c ? '---|---|---|---|' : ''}`);
  for (const m of models) {
    const list = results.get(m)!;
    type Side = 'wasm' | 'composed' | 'torch';
    const ratio = (side: Side, k: Key): string => {
      // (--no-torch leaves PyTorch's times NaN: no ratio then)
      const rs = list.filter((e) => e[side]?.[k] !== undefined && e.torch[k] !== undefined && !Number.isNaN(e.torch[k]!)).map((e) => e[side]![k]! / e.torch[k]!);
      return rs.length ? `${median(rs).toFixed(2)}× (${Math.min(...rs).toFixed(2)}–${Math.max(...rs).toFixed(2)})` : '—';
    };
    const med = (side: Side, k: Key): number | undefined => (list[0]![side]?.[k] === undefined ? undefined : median(list.map((e) => e[side]![k]!)));
    const cell = (side: Side, k: Key): string => (c ? ` ${side === 'composed' ? fmt(med(side, k)) : ratio('composed', k)} |` : '');
    console.log(`| ${m} | ${fmt(med('wasm', 'pgd'))} |${cell('composed', 'pgd')} ${fmt(med('torch', 'pgd'))} | ${ratio('wasm', 'pgd')} |${cell('torch', 'pgd')} ` +
      `${fmt(med('wasm', 'train'))} |${cell('composed', 'train')} ${fmt(med('torch', 'train'))} | ${ratio('wasm', 'train')} |${cell('torch', 'train')}`);
  }
  if (!withPlain) return;
  // The same rounds again, the module's plain build against the build above (FMA where relaxed SIMD runs).
  console.log('\n| net | PGD step, plain build | PGD ratio, plain build | plain / FMA PGD (per round) | training step, plain build | training ratio, plain build | plain / FMA training (per round) |');
  console.log('|---|---|---|---|---|---|---|');
  for (const m of models) {
    const list = results.get(m)!;
    const per = (k: Key, den: 'wasm' | 'torch'): string => {
      const rs = list.filter((e) => e.plain?.[k] !== undefined && e[den][k] !== undefined && !Number.isNaN(e[den][k]!)).map((e) => e.plain![k]! / e[den][k]!);
      return rs.length ? `${median(rs).toFixed(2)}× (${Math.min(...rs).toFixed(2)}–${Math.max(...rs).toFixed(2)})` : '—';
    };
    const med = (k: Key): string => fmt(list[0]!.plain?.[k] === undefined ? undefined : median(list.map((e) => e.plain![k]!)));
    console.log(`| ${m} | ${med('pgd')} | ${per('pgd', 'torch')} | ${per('pgd', 'wasm')} | ${med('train')} | ${per('train', 'torch')} | ${per('train', 'wasm')} |`);
  }
}

await main();
