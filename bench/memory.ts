/**
 * Peak memory of one input gradient (one PGD/FGSM step) of the paper's networks, on tfjs wasm, before and
 * after medrobust's memory work, in a fresh process per measurement (the wasm heap never shrinks).
 *
 *   npx tsx bench/memory.ts --model densenet121 --batch 2 --mode medrobust
 *
 * `--mode stock`: tfjs-core's `tf.grad` with tfjs-core's saving and tfjs-backend-wasm's copying Identity
 * (what attacks used before: every saved tensor is a copy, and every saved tensor and intermediate
 * gradient lives until the end of the backward pass; ReLU keeps its input, batch norm its input, Concat
 * its inputs, the fused conv its output). `--mode medrobust`: `fgsm` (the memory-frugal input gradient).
 * medrobust's composed backward kernels run in both modes. Prints one JSON line: the step's peak of the
 * wasm heap's allocations (every tensor and composed-kernel intermediate; not XNNPACK's C-side scratch),
 * the process's peak resident memory above the level after the model was built (VmHWM − VmRSS), and the
 * wasm heap size. bench/memoryAll.sh runs the table in BENCHMARKS.md.
 */
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers';
import { fgsm, selectOutput, attnVgg, denseNet121, inceptionV3 } from '../src/index.js';
import { useBackend } from '../src/backend/index.js';
import { softmaxCrossEntropy } from '../src/internal/loss.js';
import { installHeapGuard, measurePeak } from '../src/internal/memory.js';
import { withInputGradientOnly } from '../src/internal/inputGradientOnly.js';
import { withStockSaving } from '../src/internal/gradientFixes.js';

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i]!.replace(/^--/, ''), process.argv[i + 1]!);
const name = args.get('model') ?? 'densenet121';
const batch = Number(args.get('batch') ?? '1');
const mode = args.get('mode') ?? 'medrobust';
const threads = Number(args.get('threads') ?? '1');

const status = (key: string): number => Number(/(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8').split('\n').find((l) => l.startsWith(key))!)![1]) * 1024;

await useBackend('wasm', { threads });
const net = name === 'densenet121' ? denseNet121({ seed: 1 }) : name === 'inceptionv3' ? inceptionV3({ seed: 1 }) : attnVgg({ seed: 1 });
const model = name === 'attnvgg' ? selectOutput(net, 0) : net;
const [h, w, c] = (net.inputs[0]!.shape.slice(1) as number[]);
const x = tf.randomUniform([batch, h!, w!, c!], 0, 1, 'float32', 3) as tf.Tensor4D;
const y = tf.zeros([batch], 'int32');
installHeapGuard(); // meters the heap in both modes
if (mode === 'stock') {
  // tfjs-backend-wasm's own Identity (copies): the tape's saved clones were copies before medrobust shared them.
  const stock = tf.getKernel('Identity', 'wasm')!;
  tf.unregisterKernel('Identity', 'wasm');
  tf.registerKernel({
    ...stock,
    kernelFunc: ((args: { inputs: { x: tf.TensorInfo }; backend: { makeOutput(s: number[], d: string): tf.TensorInfo; typedArrayFromHeap(i: tf.TensorInfo): Float32Array } }) => {
      const out = args.backend.makeOutput([...args.inputs.x.shape], args.inputs.x.dtype);
      args.backend.typedArrayFromHeap(out).set(args.backend.typedArrayFromHeap(args.inputs.x));
      return out;
    }) as unknown as tf.KernelFunc,
  });
}
const rssBefore = status('VmRSS:');
const t0 = Date.now();
const { peakBytes } = measurePeak(() => tf.tidy(() => {
  if (mode === 'stock') {
    const f = (t: tf.Tensor) => tf.sum(softmaxCrossEntropy((typeof model === 'function' ? model(t as tf.Tensor4D) : (model.apply(t, { training: false }) as tf.Tensor2D)), y));
    withStockSaving(() => withInputGradientOnly(() => tf.grad(f)(x)));
  } else {
    // --plan auto: let fgsm measure the step and choose its chunks within the wasm heap.
    fgsm(model, x, y, { epsilon: 0.01, ...(args.get('plan') === 'auto' ? {} : { batchSize: batch }) });
  }
}));
const seconds = (Date.now() - t0) / 1000;
const heap = (tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm.HEAPU8.length;
console.log(JSON.stringify({ model: name, batch, mode, threads, stepPeakMiB: +(peakBytes / 2 ** 20).toFixed(1), residentPeakMiB: +((status('VmHWM:') - rssBefore) / 2 ** 20).toFixed(1), wasmHeapMiB: +(heap / 2 ** 20).toFixed(1), seconds }));
