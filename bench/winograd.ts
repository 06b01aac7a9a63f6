/**
 * Winograd F(2×2, 3×3) against the direct kernels of medrobust's wasm module, per layer (issues 13 and 17):
 * forward (tf.conv2d), input gradient (tf.conv2dTranspose) and filter gradient (the Conv2DBackpropFilter kernel)
 * of the paper nets' 3×3 stride-1 layers, with `MEDROBUST_WINOGRAD` off and on alternately (twice each), best of
 * `--reps` calls per side; prints both times, their ratio and the largest difference relative to the largest value.
 *
 *   npx tsx bench/winograd.ts [--threads 1] [--reps 4] [--only attn]
 */
import * as tf from '@tensorflow/tfjs-core';
import { useBackend } from '../src/backend/index.js';
import { WINOGRAD_FLAG } from '../src/backend/kernels/native.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}
const reps = Number(arg('reps', '4'));
const only = arg('only', '');
await useBackend('wasm', { threads: Number(arg('threads', '1')) });

/** [layer, input NHWC, output channels] ('same' padding) */
const LAYERS: Array<[string, [number, number, number, number], number]> = [
  ['small CNN 32→32 28 px b32', [32, 28, 28, 32], 32], ['small CNN 32→64 14 px b32', [32, 14, 14, 32], 64], ['small CNN 64→64 14 px b32', [32, 14, 14, 64], 64],
  ['ResNet-style 128→128 16 px b16', [16, 16, 16, 128], 128], ['ResNet-style 32→32 64 px b16', [16, 64, 64, 32], 32],
  ['DenseNet-121 growth 128→32 56 px b2', [2, 56, 56, 128], 32], ['DenseNet-121 growth 128→32 28 px b2', [2, 28, 28, 128], 32],
  ['DenseNet-121 growth 128→32 14 px b2', [2, 14, 14, 128], 32],
  ['AttnVGG 64→64 224 px b2', [2, 224, 224, 64], 64], ['AttnVGG 256→256 56 px b2', [2, 56, 56, 256], 256],
  ['AttnVGG 512→512 28 px b2', [2, 28, 28, 512], 512], ['AttnVGG 512→512 14 px b2', [2, 14, 14, 512], 512],
  ['Inception-v3 32→64 147 px b2', [2, 147, 147, 32], 64], ['Inception-v3 96→96 35 px b2', [2, 35, 35, 96], 96],
];

/** Best time of `reps` calls of `f` with the flag off and on (alternating twice), and both results. */
function ab(f: () => tf.Tensor): { off: number; on: number; rel: number } {
  const best: Record<string, number> = { false: Infinity, true: Infinity };
  const values: Record<string, Float32Array> = {};
  for (const on of [false, true, false, true]) {
    tf.env().set(WINOGRAD_FLAG, on);
    for (let r = 0; r < reps; r++) {
      const t0 = performance.now();
      const y = f();
      values[String(on)] = y.dataSync() as Float32Array;
      y.dispose();
      best[String(on)] = Math.min(best[String(on)]!, performance.now() - t0);
    }
  }
  tf.env().set(WINOGRAD_FLAG, true);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < values.false!.length; i++) {
    diff = Math.max(diff, Math.abs(values.false![i]! - values.true![i]!));
    scale = Math.max(scale, Math.abs(values.false![i]!));
  }
  return { off: best.false!, on: best.true!, rel: diff / Math.max(scale, 1e-30) };
}

console.log(`| layer | forward direct → Winograd ms | input gradient | filter gradient |`);
console.log(`|---|---|---|---|`);
for (const [name, shape, co] of LAYERS) {
  if (only && !name.includes(only)) continue;
  const x = tf.randomNormal(shape, 0, 1, 'float32', 1) as tf.Tensor4D;
  const w = tf.randomNormal([3, 3, shape[3], co], 0, 1, 'float32', 2) as tf.Tensor4D;
  const dy = tf.randomNormal([shape[0], shape[1], shape[2], co], 0, 1, 'float32', 3) as tf.Tensor4D;
  const cells = [
    ab(() => tf.conv2d(x, w, 1, 'same')),
    ab(() => tf.conv2dTranspose(dy, w, shape, 1, 'same')),
    ab(() => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { strides: 1, pad: 'same', dataFormat: 'NHWC', filterShape: [3, 3, shape[3], co] } as unknown as tf.NamedAttrMap) as tf.Tensor),
  ].map((r) => `${r.off.toFixed(2)} → ${r.on.toFixed(2)} (${(r.off / r.on).toFixed(2)}×, Δ ${r.rel.toExponential(1)})`);
  console.log(`| ${name} | ${cells.join(' | ')} |`);
  tf.dispose([x, w, dy]);
}
