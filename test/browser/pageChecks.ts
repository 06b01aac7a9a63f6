/**
 * The in-page half of the browser suite: served to Chromium as an ES module (TypeScript stripped by esbuild,
 * nothing bundled). `../../src/index.js` is mapped by the page's import map to the built `dist/index.js`,
 * and tfjs to its ESM bundles in node_modules, so this runs the published build as a browser user would.
 * Each function runs on the backend given and returns plain arrays; the Node side compares backends.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {
  advTrain, attnVgg, binaryCrossEntropy, corrupt, crossEntropy, denseNet121, evaluateRobustness, fgsm, gapUnet, inceptionV3, knnAccuracy, maAdvTrain, pgd,
  selectOutput, smallCnn, smallResNet, trainGap, trustworthiness, tsne,
} from '../../src/index.js';
import { useBackend, type BackendChoice } from '../../src/backend/index.js';

const SIDE = 16;
const N = 6;
const CLASSES = 3;
const LABELS = 4;

type Flat = { shape: number[]; values: number[] };

/** Deterministic inputs in [0, 1] and labels (no random generator, so every backend sees the same bits). */
function data(): { images: tf.Tensor4D; single: tf.Tensor1D; multi: tf.Tensor2D } {
  const values = new Float32Array(N * SIDE * SIDE * 3);
  for (let i = 0; i < values.length; i++) values[i] = 0.5 + 0.45 * Math.sin(0.37 * i + 0.011 * i * (i % 7));
  const multi = [[1, 0, 1, 0], [0, 1, 0, 0], [1, 1, 0, 1], [0, 0, 0, 1], [1, 0, 0, 0], [0, 1, 1, 0]];
  return {
    images: tf.tensor4d(values, [N, SIDE, SIDE, 3]),
    single: tf.tensor1d([0, 1, 2, 0, 1, 2], 'int32'),
    multi: tf.tensor2d(multi, [N, LABELS]),
  };
}

/** The nets' initial weights, drawn once (on the first backend) and copied onto every later one. */
const saved = new Map<string, Flat[]>();

function net(kind: 'cnn-single' | 'cnn-multi' | 'resnet'): tfl.LayersModel {
  const model = kind === 'resnet'
    ? smallResNet({ inputShape: [SIDE, SIDE, 3], classes: CLASSES, stages: [8], seed: 3 })
    : smallCnn({ inputShape: [SIDE, SIDE, 3], classes: kind === 'cnn-multi' ? LABELS : CLASSES, width: 0.25, seed: kind === 'cnn-multi' ? 2 : 1 });
  const weights = saved.get(kind);
  if (weights) {
    const tensors = weights.map((w) => tf.tensor(w.values, w.shape));
    model.setWeights(tensors);
    tf.dispose(tensors);
  }
  else saved.set(kind, model.getWeights().map((w) => ({ shape: w.shape, values: Array.from(w.dataSync()) })));
  return model;
}

async function flat(t: tf.Tensor): Promise<number[]> {
  return Array.from(await t.data());
}

async function weightsOf(model: tfl.LayersModel): Promise<number[]> {
  const out: number[] = [];
  for (const w of model.getWeights()) out.push(...(await w.data()));
  return out;
}

export interface BackendResults {
  backend: string;
  choice: Pick<BackendChoice, 'name' | 'gpu' | 'reason'>;
  gradients: Record<'single' | 'multi' | 'resnet', number[]>;
  adversarial: Record<'fgsmSingle' | 'fgsmMulti' | 'pgdSingle' | 'pgdMulti', number[]>;
  training: Record<'advTrain' | 'maAdvTrain' | 'trainGap', { loss: number; weights: number[] }>;
  robustness: Array<{ attack: string; epsilon: number; accuracy: number }>;
  clean: number;
  tsne: { trustworthiness: number; knn: number; klDivergence: number; embedding: number[] };
  corruption: number[];
  /** tf.memory().numTensors after everything minus before (0: nothing leaked). */
  leaked: number;
  /** The same per stage. */
  leaks: Record<string, number>;
  /** Milliseconds per stage (software GPU, under load: orientation only). */
  ms: Record<string, number>;
}

/** Runs every check on `backend` ('cpu', 'webgl' or 'webgpu'). */
export async function runChecks(backend: 'cpu' | 'webgl' | 'webgpu'): Promise<BackendResults> {
  const choice = await useBackend(backend);
  const ms: Record<string, number> = {};
  const leaks: Record<string, number> = {};
  const timed = async <T>(name: string, f: () => Promise<T> | T): Promise<T> => {
    const t0 = performance.now();
    const n0 = tf.memory().numTensors;
    const r = await f();
    ms[name] = Math.round(performance.now() - t0);
    leaks[name] = tf.memory().numTensors - n0;
    return r;
  };
  const before = tf.memory().numTensors;
  const { images, single, multi } = data();
  const cnn = net('cnn-single');
  const cnnMulti = net('cnn-multi');
  const resnet = net('resnet');
  const predict = (m: tfl.LayersModel) => (x: tf.Tensor4D) => m.apply(x, { training: false }) as tf.Tensor2D;

  // Input gradients of the mean task loss (what every attack follows).
  const grad = (m: tfl.LayersModel, labels: tf.Tensor, loss: (z: tf.Tensor2D, y: tf.Tensor) => tf.Tensor1D) =>
    tf.tidy(() => tf.grad((x: tf.Tensor) => tf.mean(loss(predict(m)(x as tf.Tensor4D), labels)))(images));
  const gradients = await timed('gradients', async () => {
    const g = [grad(cnn, single, crossEntropy), grad(cnnMulti, multi, binaryCrossEntropy), grad(resnet, single, crossEntropy)];
    const out = { single: await flat(g[0]!), multi: await flat(g[1]!), resnet: await flat(g[2]!) };
    tf.dispose(g);
    return out;
  });

  const adversarial = await timed('attacks', async () => {
    const a = [
      fgsm(cnn, images, single, { epsilon: 4 / 255 }),
      fgsm(cnnMulti, images, multi, { epsilon: 4 / 255, task: 'multi-label' }),
      pgd(cnn, images, single, { epsilon: 8 / 255, steps: 5, seed: 7 }),
      pgd(cnnMulti, images, multi, { epsilon: 8 / 255, steps: 5, seed: 7, task: 'multi-label' }),
    ];
    const out = { fgsmSingle: await flat(a[0]!), fgsmMulti: await flat(a[1]!), pgdSingle: await flat(a[2]!), pgdMulti: await flat(a[3]!) };
    tf.dispose(a);
    return out;
  });

  // One training step of each defense, and one GAP generator step, from the same initial weights.
  const training = await timed('training', async () => {
    const batch = [{ images, labels: single }];
    const m1 = net('cnn-single');
    const opt1 = tf.train.sgd(0.05);
    const r1 = await advTrain(m1, batch, { epsilon: 4 / 255, steps: 2, epochs: 1, optimizer: opt1, seed: 5 });
    const m2 = net('cnn-single');
    const opt2 = tf.train.sgd(0.05);
    const r2 = await maAdvTrain(m2, batch, { epsilon: 4 / 255, steps: 2, beta: 6, epochs: 1, optimizer: opt2, seed: 5 });
    const generator = gapUnet({ inputShape: [SIDE, SIDE, 3], preset: 'small', ngf: 4, seed: 3 });
    const r3 = await trainGap(cnn, generator, [{ images }], { magnitude: 8, epochs: 1, learningRate: 0.01, seed: 1 });
    const out = {
      advTrain: { loss: r1.history[0]!.loss, weights: await weightsOf(m1) },
      maAdvTrain: { loss: r2.history[0]!.loss, weights: await weightsOf(m2) },
      trainGap: { loss: r3.epochs[0]!.loss, weights: await weightsOf(generator) },
    };
    [m1, m2, generator].forEach((m) => m.dispose());
    opt1.dispose();
    opt2.dispose();
    return out;
  });

  const report = await timed('evaluateRobustness', () => evaluateRobustness(cnn, [{ images, labels: single }], [
    { name: 'FGSM', attack: 'fgsm', epsilons: [2 / 255, 8 / 255] },
    { name: 'PGD-3', attack: 'pgd', epsilons: [8 / 255], options: { steps: 3 } },
  ], { seed: 1 }));

  const tsneOut = await timed('tsne', async () => {
    // Three separated clusters of 8 points in 6-D, made as a tensor on this backend.
    const points: number[][] = [];
    const labels: number[] = [];
    for (let i = 0; i < 24; i++) {
      const c = i % 3;
      labels.push(c);
      points.push(Array.from({ length: 6 }, (_, d) => (d === 2 * c ? 4 : 0) + 0.3 * Math.sin(1.7 * i + 0.9 * d)));
    }
    const features = tf.tensor2d(points);
    const r = await tsne(features, { perplexity: 5, maxIterations: 300, seed: 1, method: 'exact' });
    const out = { trustworthiness: trustworthiness(features, r.embedding, { k: 5 }), knn: knnAccuracy(r.embedding, labels, { k: 3 }), klDivergence: r.klDivergence, embedding: r.embedding.flat() };
    features.dispose();
    return out;
  });

  const corruption = await timed('corrupt', async () => {
    const c = corrupt(images, 'gaussian_blur', { severity: 3 });
    const out = await flat(c);
    c.dispose();
    return out;
  });

  [cnn, cnnMulti, resnet].forEach((m) => m.dispose());
  tf.dispose([images, single, multi]);
  return {
    backend: tf.getBackend(),
    choice: { name: choice.name, gpu: choice.gpu, reason: choice.reason },
    gradients, adversarial, training,
    robustness: report.rows.map((r) => ({ attack: r.attack, epsilon: r.epsilon, accuracy: r.accuracy })),
    clean: report.clean.accuracy,
    tsne: tsneOut,
    corruption,
    leaked: tf.memory().numTensors - before,
    leaks,
    ms,
  };
}

/**
 * MEDROBUST_SLOW: input gradients of the paper's three architectures, reduced (width, depth, input size) so that
 * SwiftShader gets through them, with weights copied from the first backend.
 */
export async function paperGradients(backend: 'cpu' | 'webgl' | 'webgpu'): Promise<Record<string, number[]>> {
  await useBackend(backend);
  const specs = {
    denseNet121: { side: 32, classes: 14, task: 'multi-label' as const, build: () => denseNet121({ inputShape: [32, 32, 3], classes: 14, width: 0.125, blocks: [2, 2, 2, 2], seed: 1 }) },
    inceptionV3: { side: 75, classes: 4, task: 'single-label' as const, build: () => inceptionV3({ inputShape: [75, 75, 3], classes: 4, width: 0.0625, seed: 1 }) },
    attnVgg: { side: 32, classes: 2, task: 'single-label' as const, build: () => attnVgg({ inputShape: [32, 32, 3], classes: 2, width: 0.125, seed: 1 }) },
  };
  const out: Record<string, number[]> = {};
  for (const [name, spec] of Object.entries(specs)) {
    const model = spec.build();
    const key = `paper-${name}`;
    const weights = saved.get(key);
    if (weights) {
      const tensors = weights.map((w) => tf.tensor(w.values, w.shape));
      model.setWeights(tensors);
      tf.dispose(tensors);
    } else {
      saved.set(key, model.getWeights().map((w) => ({ shape: w.shape, values: Array.from(w.dataSync()) })));
    }
    const n = 2;
    const values = Float32Array.from({ length: n * spec.side * spec.side * 3 }, (_, i) => 0.5 + 0.45 * Math.sin(0.37 * i));
    const x = tf.tensor4d(values, [n, spec.side, spec.side, 3]);
    const logits = selectOutput(model, 0);
    const classes = spec.classes;
    const y = spec.task === 'multi-label' ? tf.tensor2d(Array.from({ length: n * classes }, (_, i) => (i % 3 === 0 ? 1 : 0)), [n, classes]) : tf.tensor1d([0, 1], 'int32');
    const loss = spec.task === 'multi-label' ? binaryCrossEntropy : crossEntropy;
    const g = tf.tidy(() => tf.grad((v: tf.Tensor) => tf.mean(loss(logits(v as tf.Tensor4D), y)))(x));
    out[name] = Array.from(await g.data());
    tf.dispose([x, y, g]);
    model.dispose();
  }
  return out;
}

/** `useBackend('auto')` in this browser: which backend it takes and why it passed over the others. */
export async function autoChoice(): Promise<Pick<BackendChoice, 'name' | 'skipped' | 'reason'>> {
  const c = await useBackend('auto');
  return { name: c.name, skipped: c.skipped, reason: c.reason };
}

(globalThis as { medrobustChecks?: unknown }).medrobustChecks = { runChecks, autoChoice, paperGradients };
