/**
 * Per-kernel profile of a PGD step and a training step on wasm, before and after medrobust's kernel module
 * (issue 17): each kernel's time with the module off (stock tfjs-backend-wasm kernels and the composed
 * gradient kernels) and on, in one process, the two alternating. Kernel times come from `tf.profile`
 * (wall time of each synchronous wasm kernel), medians over `--reps` profiled steps.
 *
 *   npx tsx bench/kernels.profile.ts [--models small,resnet] [--threads 2] [--reps 5] [--by-shape] [--sides before,after] [--top N]
 *
 * Nets and batches as bench/kernels.steps.ts (bench/models.ts): small CNN 28 px b32, ResNet-style 64 px b16,
 * DenseNet-121 224 px b2; the paper's Inception-v3 299 px b2 and AttnVGG 224 px b2 (src/models, as
 * bench/paperNets.ts builds them; `--batch` overrides the batch). `--sides after` profiles the module only;
 * `--by-shape` splits each kernel by its input shapes, and `--by-type` then also sums each kernel name (with
 * `--top N` rows). bench/paperNets_profile_torch.py is the PyTorch twin for the paper nets.
 * A PGD step is one `pgd(..., {steps: 1})` call (its validation and clamp included); a training step one
 * SGD step of the summed cross-entropy over the batch.
 */
import * as tf from '@tensorflow/tfjs-core';
import { useBackend } from '../src/backend/index.js';
import { NATIVE_FLAG } from '../src/backend/kernels/native.js';
import { pgd } from '../src/index.js';
import { attnVgg, inceptionV3, selectOutput } from '../src/index.js';
import * as nets from './models.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}
const models = arg('models', 'small,resnet').split(',') as Array<'small' | 'resnet' | 'densenet121' | 'inceptionv3' | 'attnvgg'>;
const sides = arg('sides', 'before,after').split(',') as Array<'before' | 'after'>;
const top = Number(arg('top', '1000'));
const byType = process.argv.includes('--by-type');
const reps = Number(arg('reps', '5'));
const byShape = process.argv.includes('--by-shape');
const median = (v: number[]): number => (v.length ? [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]! : 0);

await useBackend('wasm', { threads: Number(arg('threads', '2')) });
for (const model of models) {
  const spec = {
    small: [nets.smallCnn, 28, 32, 10], resnet: [nets.resnet, 64, 16, 10], densenet121: [nets.densenet121, 224, 2, 10],
    inceptionv3: [(s: [number, number, number]) => inceptionV3({ inputShape: s, classes: 4, seed: 1 }), 299, 2, 4],
    attnvgg: [(s: [number, number, number]) => attnVgg({ inputShape: s, classes: 2, seed: 1 }), 224, 2, 2],
  } as const;
  const [build, size, defaultBatch, classes] = spec[model];
  const batch = Number(arg('batch', String(defaultBatch)));
  const net = build([size, size, 3]);
  const fn = selectOutput(net, 0);
  const x = tf.randomUniform([batch, size, size, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
  const y = tf.tensor1d(Array.from({ length: batch }, (_, i) => i % classes), 'int32');
  const yHot = tf.oneHot(y, classes);
  const optimizer = tf.train.sgd(0.01);
  const vars = net.trainableWeights.map((w) => w.read() as tf.Variable);
  const steps: Record<string, () => void> = {
    'PGD step': () => {
      const adv = pgd(fn, x, y, { epsilon: 8 / 255, steps: 1, randomStart: false, seed: 1 });
      adv.dataSync();
      adv.dispose();
    },
    'training step': () => {
      const cost = optimizer.minimize(() => tf.div(tf.losses.softmaxCrossEntropy(yHot, net.apply(x, { training: true }) as tf.Tensor, undefined, tf.Reduction.SUM), batch) as tf.Scalar, true, vars);
      cost!.dataSync();
      cost!.dispose();
    },
  };
  for (const [what, step] of Object.entries(steps)) {
    const samples: Record<'before' | 'after', { wall: number[]; kernels: Array<Map<string, number>> }> = { before: { wall: [], kernels: [] }, after: { wall: [], kernels: [] } };
    for (const side of sides) {
      tf.env().set(NATIVE_FLAG, side === 'after');
      step();
      step();
    }
    for (let r = 0; r < reps; r++) {
      for (const side of sides) {
        tf.env().set(NATIVE_FLAG, side === 'after');
        const t0 = performance.now();
        const info = await tf.profile(() => { step(); });
        samples[side].wall.push(performance.now() - t0);
        const m = new Map<string, number>();
        for (const k of info.kernels) {
          if (k.name.endsWith('__op')) continue; // an op's wrapper around its kernel: counted there
          const key = byShape ? `${k.name} ${k.inputShapes.map((s) => (s ? s.join('×') : '')).join(', ')}` : k.name;
          m.set(key, (m.get(key) ?? 0) + (k.kernelTimeMs as number));
        }
        samples[side].kernels.push(m);
      }
    }
    tf.env().set(NATIVE_FLAG, true);
    const keys = new Set([...samples.before.kernels, ...samples.after.kernels].flatMap((m) => [...m.keys()]));
    const med = (side: 'before' | 'after', key: string) => median(samples[side].kernels.map((m) => m.get(key) ?? 0));
    const rows = [...keys].map((k) => [k, med('before', k), med('after', k)] as const).sort((a, b) => Math.max(b[1], b[2]) - Math.max(a[1], a[2]));
    const total = (side: 'before' | 'after') => median(samples[side].kernels.map((m) => [...m.values()].reduce((a, b) => a + b, 0)));
    console.log(`\n${model} ${what}: wall (profiled) ${median(samples.before.wall).toFixed(1)} → ${median(samples.after.wall).toFixed(1)} ms, in kernels ${total('before').toFixed(1)} → ${total('after').toFixed(1)} ms`);
    console.log('| kernel | before (stock + composed) ms | after (module) ms |');
    console.log('|---|---|---|');
    for (const [k, b, a] of rows.filter(([, b, a]) => Math.max(b, a) >= 0.5).slice(0, top)) console.log(`| ${k} | ${b.toFixed(1)} | ${a.toFixed(1)} |`);
    if (byShape && byType) {
      const types = new Map<string, [number, number, number]>();
      for (const [k, b, a] of rows) {
        const t = types.get(k.split(' ')[0]!) ?? [0, 0, 0];
        types.set(k.split(' ')[0]!, [t[0] + b, t[1] + a, t[2] + 1]);
      }
      console.log(`\n${model} ${what} by kernel type (sums of the per-shape medians)\n| kernel | shapes | before ms | after ms |\n|---|---|---|---|`);
      for (const [k, [b, a, n]] of [...types].sort((p, q) => Math.max(q[1][0], q[1][1]) - Math.max(p[1][0], p[1][1]))) console.log(`| ${k} | ${n} | ${b.toFixed(1)} | ${a.toFixed(1)} |`);
    }
  }
  optimizer.dispose();
  tf.dispose([x, y, yHot]);
  net.dispose();
}
process.exit(0);
