/**
 * One epoch of each defense on the generated lesion demo data (64 images 28×28×3, 2 classes,
 * batches of 16), on the wasm backend with medrobust's gradient kernels. Run:
 *   npx tsx bench/defenses/defenses.bench.ts [threads]
 * PyTorch counterpart: /usr/bin/python3 bench/defenses/defenses_torch.py
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-wasm';
import { setThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { registerWasmGradients } from '../../src/backend/index.js';
import { generateLesions } from '../../src/data/index.js';
import { advTrain, maAdvTrain, mpAdvTrain, trades } from '../../src/defenses/index.js';

const threads = Number(process.argv[2] ?? 1);
if (threads > 1) setThreadsCount(threads);
registerWasmGradients();
await tf.setBackend('wasm');
await tf.ready();

function net(): tfl.LayersModel {
  const init = (s: number) => tfl.initializers.glorotUniform({ seed: s });
  return tfl.sequential({ layers: [
    tfl.layers.conv2d({ inputShape: [28, 28, 3], filters: 16, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: init(1) }),
    tfl.layers.maxPooling2d({ poolSize: 2 }),
    tfl.layers.conv2d({ filters: 32, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: init(2) }),
    tfl.layers.maxPooling2d({ poolSize: 2 }),
    tfl.layers.flatten(),
    tfl.layers.dense({ units: 64, activation: 'relu', kernelInitializer: init(3) }),
    tfl.layers.dense({ units: 2, kernelInitializer: init(4) }),
  ] });
}

const data = generateLesions({ count: 64, size: 28, seed: 1 });
const batches = [0, 1, 2, 3].map((i) => ({ images: tf.slice(data.images, i * 16, 16), labels: tf.slice(data.labels, i * 16, 16) }));
const runs: [string, (m: tfl.LayersModel) => Promise<unknown>][] = [
  ['clean (no attack)', (m) => advTrain(m, batches, { epochs: 1, seed: 1, generator: () => null, optimizer: tf.train.sgd(0.01) })],
  ['PGD-AT (ε 4/255, T 4, α 1/255)', (m) => advTrain(m, batches, { epochs: 1, seed: 1, epsilon: 4 / 255, steps: 4, stepSize: 1 / 255, optimizer: tf.train.sgd(0.01) })],
  ['MPAdvT (ε~U(.01,.04), T~U{1..9}, p ½)', (m) => mpAdvTrain(m, batches, { epochs: 1, seed: 1, epsilon: [0.01, 0.04], steps: [1, 9], stepSize: 1 / 255, optimizer: tf.train.sgd(0.01) })],
  ['MAAdvT/MART (ε 8/255, T 4, β 6)', (m) => maAdvTrain(m, batches, { epochs: 1, seed: 1, epsilon: 8 / 255, steps: 4, stepSize: 2 / 255, beta: 6, optimizer: tf.train.sgd(0.01) })],
  ['TRADES (ε 8/255, T 4, β 6)', (m) => trades(m, batches, { epochs: 1, seed: 1, epsilon: 8 / 255, steps: 4, stepSize: 2 / 255, beta: 6, optimizer: tf.train.sgd(0.01) })],
];
console.log(`wasm, ${threads} thread(s); median of 3 epochs (after a warm-up epoch)`);
for (const [name, run] of runs) {
  const m = net();
  await run(m); // warm-up
  const times: number[] = [];
  for (let r = 0; r < 3; r++) {
    const t0 = performance.now();
    await run(m);
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  console.log(`${name}: ${times[1]!.toFixed(0)} ms/epoch`);
  m.dispose();
}
