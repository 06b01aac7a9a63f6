/**
 * Time per GAP generator training step (trainGap) on tfjs wasm, for the same configurations as
 * bench/gap/gap_torch.py (PyTorch CPU). Run: `npx tsx bench/gap/gap.bench.ts [steps] [config substring]`.
 * Needs the wasm gradient kernels of src/backend (registerWasmGradients); without them the conv
 * filter gradient (Conv2DBackpropFilter) is missing and the step fails.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import * as tfl from '@tensorflow/tfjs-layers';
import { gapResnet, gapUnet } from '../../src/attacks/gapGenerators.js';
import { trainGap } from '../../src/attacks/trainGap.js';

await tf.setBackend('wasm');
await tf.ready();
try {
  const backend = (await import('../../src/backend/index.js')) as { registerWasmGradients?: () => unknown };
  backend.registerWasmGradients?.();
} catch (err) {
  console.error('no registerWasmGradients:', (err as Error).message);
}

/** The tiny classifier of gap_torch.py: conv3×3(16, s2) relu, conv3×3(32, s2) relu, global average pool, dense 10. */
function classifier(side: number, c: number): tfl.LayersModel {
  return tfl.sequential({
    layers: [
      tfl.layers.conv2d({ inputShape: [side, side, c], filters: 16, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu' }),
      tfl.layers.conv2d({ filters: 32, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu' }),
      tfl.layers.globalAveragePooling2d({}),
      tfl.layers.dense({ units: 10 }),
    ],
  });
}

const CONFIGS: [string, () => tfl.LayersModel, number, number, number][] = [
  ['unet-small ngf8 32px b16', () => gapUnet({ inputShape: [32, 32, 3], preset: 'small', ngf: 8 }), 32, 3, 16],
  ['unet-isic ngf64 224px b4', () => gapUnet({ inputShape: [224, 224, 3], preset: 'isic', ngf: 64 }), 224, 3, 4],
  ['resnet ngf16 6 blocks 64px b8', () => gapResnet({ inputShape: [64, 64, 3], ngf: 16, blocks: 6 }), 64, 3, 8],
];

const steps = Number(process.argv[2] ?? 5);
const only = process.argv[3]; // optional substring of a config name
for (const [name, make, side, c, batch] of CONFIGS.filter(([n]) => only === undefined || n.includes(only))) {
  const generator = make();
  const model = classifier(side, c);
  const images = tf.randomUniform([batch, side, side, c], 0, 1, 'float32', 1) as tf.Tensor4D;
  try {
    await trainGap(model, generator, [{ images }], { magnitude: 10, epochs: 1, seed: 1 }); // warm-up
    const t0 = performance.now();
    await trainGap(model, generator, new Array(steps).fill({ images }), { magnitude: 10, epochs: 1, seed: 1 });
    const ms = (performance.now() - t0) / steps;
    console.log(JSON.stringify({ framework: `tfjs ${tf.version_core} wasm`, threads: 1, config: name, ms_per_step: Math.round(ms) }));
  } catch (err) {
    console.log(JSON.stringify({ framework: 'tfjs wasm', config: name, error: (err as Error).message }));
  } finally {
    tf.dispose(images);
    generator.dispose();
    model.dispose();
  }
}
