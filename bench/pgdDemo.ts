/**
 * One PGD-10 call on the demo's model (the small CNN of the demo, width 0.5, 28×28×3, a batch of 128
 * generated lesions) on the cpu and wasm backends — the figure issue 3 asks for. Not run by `npm test`.
 *
 *   npx tsx bench/pgdDemo.ts [--threads 2]
 */
import * as tf from '@tensorflow/tfjs-core';
import { useBackend, type BackendName } from '../src/backend/index.js';
import { generateLesions, pgd, smallCnn } from '../src/index.js';

const i = process.argv.indexOf('--threads');
const threads = i >= 0 ? Number(process.argv[i + 1]) : 2;
for (const name of ['wasm', 'cpu'] as BackendName[]) {
  const choice = await useBackend(name, { threads });
  const data = generateLesions({ count: 128, size: 28, seed: 1 });
  const net = smallCnn({ inputShape: [28, 28, 3], classes: 2, width: 0.5, seed: 1 });
  const run = () => pgd(net, data.images, data.labels, { epsilon: 4 / 255, steps: 10, seed: 1 }).dispose();
  run(); // warm-up
  const times: number[] = [];
  for (let r = 0; r < (name === 'cpu' ? 1 : 5); r++) {
    const t0 = performance.now();
    run();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  console.log(`${choice.name} (${choice.threads ?? 1} thread${choice.threads === 1 ? '' : 's'}): PGD-10 on 128 images ${(times[Math.floor(times.length / 2)]! / 1000).toFixed(2)} s (median of ${times.length})`);
  net.dispose();
  tf.dispose([data.images, data.labels]);
}
