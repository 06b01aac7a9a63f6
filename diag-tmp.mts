import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers';
import { useBackend } from './src/backend/index.js';
import { inceptionV3, denseNet121, attnVgg, selectOutput } from './src/index.js';
import { ensureGradientFixes } from './src/internal/gradientFixes.js';
import { withInputGradientOnly } from './src/internal/inputGradientOnly.js';
import { measurePeak } from './src/internal/memory.js';
import { inputGradient } from './src/internal/inputGradient.js';
await useBackend('wasm', { threads: 1 });
ensureGradientFixes();
const which = process.argv[2] ?? 'inceptionv3';
const net = which === 'inceptionv3' ? inceptionV3({ seed: 1 }) : which === 'densenet121' ? denseNet121({ seed: 1 }) : attnVgg({ seed: 1 });
const m = which === 'attnvgg' ? selectOutput(net, 0) : (x: tf.Tensor) => net.apply(x, { training: false }) as tf.Tensor2D;
const [h, w] = net.inputs[0]!.shape.slice(1) as number[];
const x = tf.randomUniform([1, h!, w!, 3]);
const engine = tf.engine() as any;
withInputGradientOnly(() => {
  engine.startTape();
  const y = engine.tidy('forward', () => tf.sum(m(x as tf.Tensor4D)));
  engine.endTape();
  const byKernel = new Map<string, number>();
  const seen = new Set<object>();
  for (const node of engine.state.activeTape) for (const t of node.saved ?? []) {
    if (!(t instanceof tf.Tensor) || seen.has(t.dataId)) continue;
    seen.add(t.dataId);
    byKernel.set(node.kernelName, (byKernel.get(node.kernelName) ?? 0) + t.size * 4);
  }
  const kinds: Record<string, number> = {};
  for (const node of engine.state.activeTape) if (node.kernelName === 'fusedConv2d__op') {
    const k = node.saved.map((t: any) => (t instanceof tf.Tensor ? 'T' + t.shape.length : 'S')).join(',');
    kinds[k] = (kinds[k] ?? 0) + 1;
  }
  console.log(kinds);
  console.log('saved MiB by kernel', [...byKernel].map(([k, v]) => [k, +(v / 2 ** 20).toFixed(1)]).sort((a, b) => (b[1] as number) - (a[1] as number)));
  console.log('live after forward MiB', (engine.state.numBytes / 2 ** 20).toFixed(1));
  for (const node of engine.state.activeTape) for (const t of node.saved ?? []) t?.dispose?.();
  engine.state.activeTape = null;
  y.dispose();
});
const p = measurePeak(() => tf.tidy(() => { withInputGradientOnly(() => inputGradient((t) => ({ loss: tf.sum(m(t as tf.Tensor4D)) as tf.Scalar }), x)); }));
console.log('peak above start MiB', (p.peakBytes / 2 ** 20).toFixed(1), 'weights etc MiB', (engine.state.numBytes / 2 ** 20).toFixed(1));
