/**
 * A trainGap run in its own process, for test/faults/killResume.test.ts: loads a frozen classifier and
 * images from `dir`, trains a tiny GAP generator on cpu with a fileCheckpoint, prints `epoch N` after
 * each epoch (the checkpoint of epoch N is on disk by then), and at the end writes every generator
 * weight to `out`. Run again after a kill -9, it resumes from the checkpoint.
 *
 * Usage: tsx test/faults/gapChild.ts <dir> <checkpoint> <out.npz> <epochs>
 */
import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import type { TrainGapState } from '../../src/attacks/gapCheckpoint.js';
import { gapUnet } from '../../src/attacks/gapGenerators.js';
import { trainGap } from '../../src/attacks/trainGap.js';
import { npyToTensor } from '../../src/data/npyTensor.js';
import { fileCheckpoint } from '../../src/node/fileCheckpoint.js';
import { loadModel } from '../../src/node/modelFiles.js';
import { loadNpz, saveNpz } from '../../src/node/npzFiles.js';

const [dir, checkpoint, out, epochs] = process.argv.slice(2) as [string, string, string, string];
await tf.setBackend('cpu');
const net = await loadModel(`${dir}/classifier`);
const images = npyToTensor((await loadNpz(`${dir}/images.npz`)).images!) as tf.Tensor4D;
const generator = gapUnet({ inputShape: [8, 8, 1], preset: 'small', ngf: 4, seed: 3 });
const store = fileCheckpoint<TrainGapState>(checkpoint);
const start = (await store.load())?.epochsDone ?? 0;
process.stdout.write(`start ${start}\n`);
const report = await trainGap(net, generator, [{ images }], {
  magnitude: 64, learningRate: 0.01, seed: 1, epochs: Number(epochs),
  checkpoint: store,
  onProgress: (p) => { if (p.phase === 'epoch') process.stdout.write(`epoch ${start + p.done}\n`); },
});
const weights: Record<string, { dtype: 'float32'; shape: number[]; data: Float32Array }> = {};
generator.weights.forEach((w, i) => {
  weights[`w${i}`] = { dtype: 'float32', shape: [...w.shape] as number[], data: Float32Array.from(w.read().dataSync()) };
});
await saveNpz(out, weights);
process.stdout.write(`done resumedFrom=${report.resumedFrom}\n`);
