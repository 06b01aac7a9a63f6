/**
 * The paper's analyses (§5) on a task: feature discriminability with t-SNE (clean vs PGD features of
 * the penultimate layer), example and feature-map pictures, and — for the multi-label task — label
 * co-occurrence of ground truth, clean and adversarial predictions. @internal
 */
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { pgd } from '../../attacks/pgd.js';
import { jetColormap, tileImages, type RgbImage } from '../../analysis/colormap.js';
import { labelCooccurrence, labelCorrelationShift } from '../../analysis/labelCooccurrence.js';
import { layerActivations } from '../../analysis/layerActivations.js';
import { saliencyMap } from '../../analysis/saliencyMap.js';
import { compareDiscriminability } from '../../metrics/discriminability.js';
import { tsne } from '../../metrics/tsne.js';
import { toModelFn } from '../../model.js';
import { writeFileAtomic } from '../../node/atomic.js';
import { heatmapSpec, scatterSpec } from '../../report/plots.js';
import { markdownTable, type Row } from '../../report/tables.js';
import { rgbToPng } from '../render.js';
import type { StageContext, TrainedTask } from './context.js';
import { predictLogits } from './evaluate.js';
import { writePlot } from './report.js';

export interface AnalysisResult {
  task: string;
  epsilon: number;
  discriminability?: Record<string, number>;
  cooccurrence?: { names: string[]; truth: number[][]; clean: number[][]; adversarial: number[][]; shiftCleanToAdversarial: number };
  markdown: string[];
}

const FEATURE_LAYER = 'fc1';

function toRgb(pixels: Float32Array | Int32Array | Uint8Array, h: number, w: number, c: number): RgbImage {
  const data = new Uint8Array(h * w * 3);
  for (let i = 0; i < h * w; i++) for (let k = 0; k < 3; k++) data[i * 3 + k] = Math.round(255 * Math.min(1, Math.max(0, pixels[i * c + (c === 3 ? k : 0)]!)));
  return { width: w, height: h, data };
}

async function savePng(ctx: StageContext, name: string, image: RgbImage): Promise<string> {
  await writeFileAtomic(join(ctx.dir, 'figures', `${name}.png`), await rgbToPng(image));
  return `figures/${name}.png`;
}

export async function analyzeTask(t: TrainedTask, ctx: StageContext): Promise<AnalysisResult> {
  return ctx.state.once(`analyze.${t.name}`, async () => {
    const { points, perplexity, tsneIterations } = ctx.config.analyses;
    const epsilon = ctx.config.attacks.epsilons[Math.floor(ctx.config.attacks.epsilons.length / 2)]!;
    const n = Math.min(points, t.test.images.shape[0]);
    const images = tf.slice(t.test.images, [0, 0, 0, 0], [n, -1, -1, -1]);
    const labels = tf.slice(t.test.labels, [0], [n]);
    const task = t.test.task;
    const model = toModelFn(t.model);
    const adv = pgd(model, images, labels, { epsilon: epsilon / 255, steps: ctx.config.attacks.pgdSteps, task, seed: ctx.config.seed });
    const result: AnalysisResult = { task: t.name, epsilon, markdown: [`## Analyses of the ${t.name} model (PGD ε = ${epsilon}/255)`, ''] };
    try {
      // (b) Intermediate features: the first conv block's maps for one image, clean vs adversarial.
      const [, h, w, c] = images.shape;
      const one = tf.concat([tf.slice(images, [0, 0, 0, 0], [1, -1, -1, -1]), tf.slice(adv, [0, 0, 0, 0], [1, -1, -1, -1])]);
      const maps = layerActivations(t.model, one as tf.Tensor4D, { layers: ['conv1'] })['conv1']!;
      const [, mh, mw, channels] = maps.shape as [number, number, number, number];
      const mapValues = await maps.data();
      const lo = Math.min(...mapValues);
      const hi = Math.max(...mapValues);
      const tiles: RgbImage[] = [];
      for (let s = 0; s < 2; s++) {
        for (let k = 0; k < Math.min(channels, 8); k++) {
          const plane = new Float32Array(mh * mw);
          for (let p = 0; p < mh * mw; p++) plane[p] = mapValues[(s * mh * mw + p) * channels + k]!;
          tiles.push({ width: mw, height: mh, data: jetColormap(plane, { min: lo, max: hi }) });
        }
      }
      const oneValues = await one.data();
      const cleanPic = toRgb(oneValues.subarray(0, h * w * c), h, w, c);
      const advPic = toRgb(oneValues.subarray(h * w * c), h, w, c);
      const delta = new Float32Array(h * w * c);
      for (let i = 0; i < delta.length; i++) delta[i] = 0.5 + (oneValues[h * w * c + i]! - oneValues[i]!) * (255 / (2 * epsilon)) * 0.5;
      const examples = await savePng(ctx, `${t.name}-example`, tileImages([cleanPic, toRgb(delta, h, w, c), advPic], { columns: 3, gap: 2 }));
      const featureMaps = await savePng(ctx, `${t.name}-conv1-maps`, tileImages(tiles, { columns: Math.min(channels, 8), gap: 1 }));
      const exampleLogits = tf.tidy(() => model(one as tf.Tensor4D));
      const predicted = tf.tidy(() => Array.from(tf.argMax(exampleLogits, 1).dataSync()));
      const probs = tf.tidy(() => (task === 'multi-label' ? tf.sigmoid(exampleLogits) : tf.softmax(exampleLogits)).arraySync() as number[][]);
      exampleLogits.dispose();
      const names = t.test.classNames;
      const describePrediction = (row: number[]) => (task === 'multi-label'
        ? row.map((p, k) => [names[k], p] as const).filter(([, p]) => p > 0.5).map(([name, p]) => `${name} ${(100 * p).toFixed(0)}%`).join(', ') || 'no finding'
        : (() => { const k = row.indexOf(Math.max(...row)); return `${names[k]} ${(100 * row[k]!).toFixed(1)}%`; })());
      const truthRow = tf.tidy(() => tf.slice(labels, [0], [1]).arraySync()) as number[] | number[][];
      const truth = task === 'multi-label' ? (truthRow[0] as number[]).map((v, k) => (v > 0.5 ? names[k] : null)).filter(Boolean).join(', ') || 'no finding' : names[truthRow[0] as number];
      const saliency = saliencyMap(model, one as tf.Tensor4D, { classIndex: predicted });
      const salValues = await saliency.data();
      const salPics = [0, 1].map((s) => ({ width: w, height: h, data: jetColormap(salValues.subarray(s * h * w, (s + 1) * h * w), { min: 0, max: 1 }) }));
      const saliencyPng = await savePng(ctx, `${t.name}-saliency`, tileImages(salPics, { columns: 2, gap: 2 }));
      tf.dispose([one, maps, saliency]);
      result.markdown.push(`Clean image, perturbation (scaled to ±ε) and adversarial image: ![example](${examples})`, '', `Ground truth: ${truth}. Prediction on the clean image: **${describePrediction(probs[0]!)}**; on the adversarial image: **${describePrediction(probs[1]!)}**.`, '', `conv1 feature maps (jet, shared scale; top row clean, bottom row adversarial): ![feature maps](${featureMaps})`, '', `Vanilla-gradient saliency of the predicted class (clean, adversarial): ![saliency](${saliencyPng})`, '');

      // (c) Feature discriminability: penultimate features, t-SNE of clean and adversarial together.
      if (task === 'single-label') {
        const feats = layerActivations(t.model, tf.concat([images, adv]) as tf.Tensor4D, { layers: [FEATURE_LAYER] })[FEATURE_LAYER]!;
        const flat = tf.reshape(feats, [2 * n, -1]) as tf.Tensor2D;
        const cleanFeats = tf.slice(flat, [0, 0], [n, -1]);
        const advFeats = tf.slice(flat, [n, 0], [n, -1]);
        const classes = Array.from(await labels.data());
        const cmp = compareDiscriminability(cleanFeats, advFeats, classes);
        const embedded = await tsne(flat, { perplexity: Math.min(perplexity, Math.floor((2 * n - 1) / 3)), maxIterations: tsneIterations, seed: ctx.config.seed, signal: ctx.signal, onProgress: ctx.progress.callback(`t-SNE ${t.name}`) });
        ctx.progress.end(`t-SNE ${t.name}: KL ${embedded.klDivergence.toFixed(3)}`);
        const names = t.test.classNames;
        const pts = embedded.embedding.map(([x, y], i) => ({ x: x!, y: y!, class: names[classes[i % n]!] ?? String(classes[i % n]), input: i < n ? 'clean' : `PGD ${epsilon}/255` }));
        const plot = await writePlot(ctx.dir, `tsne-${t.name}`, scatterSpec(pts, { color: 'class', shape: 'input', title: `${t.name}: t-SNE of ${FEATURE_LAYER} features` }));
        tf.dispose([feats, flat, cleanFeats, advFeats]);
        const rows: Row[] = [
          { input: 'clean', ...cmp.clean },
          { input: 'adversarial', ...cmp.adversarial },
        ];
        result.discriminability = { ...Object.fromEntries(Object.entries(cmp.clean).map(([k, v]) => [`clean.${k}`, v])), ...Object.fromEntries(Object.entries(cmp.adversarial).map(([k, v]) => [`adversarial.${k}`, v])), marginShift: cmp.marginShift, crossedCentroid: cmp.crossedCentroid, relativeDisplacement: cmp.relativeDisplacement, tsneKl: embedded.klDivergence };
        await writeFileAtomic(join(ctx.dir, 'tables', `discriminability-${t.name}.csv`), `${Object.keys(result.discriminability).join(',')}\n${Object.values(result.discriminability).join(',')}\n`);
        result.markdown.push(`Feature discriminability (${FEATURE_LAYER}, ${n} test images): silhouette and Fisher ratio fall and the kNN accuracy of the true class drops when the same images are attacked; ${(100 * cmp.crossedCentroid).toFixed(1)}% of adversarial points lie nearer another class's clean centroid.`, '', markdownTable(rows, { columns: ['input', 'silhouette', 'fisherRatio', 'knnAccuracy'] }), '', `![t-SNE](${plot})`, '');
      } else {
        // (d) Correlation of estimated labels: co-occurrence of ground truth, clean and adversarial predictions.
        const [cleanLogits, advLogits] = [predictLogits(model, images, 64), predictLogits(model, adv, 64)];
        const [truth, cleanProb, advProb] = await Promise.all([labels.data(), tf.tidy(() => tf.sigmoid(cleanLogits)).data(), tf.tidy(() => tf.sigmoid(advLogits)).data()]);
        tf.dispose([cleanLogits, advLogits]);
        const c2 = t.test.classNames.length;
        const asRows = (v: ArrayLike<number>) => ({ data: Float64Array.from(v as ArrayLike<number>), shape: [n, c2] as [number, number] });
        const mTruth = labelCooccurrence(asRows(truth));
        const mClean = labelCooccurrence(asRows(cleanProb), { threshold: 0.5 });
        const mAdv = labelCooccurrence(asRows(advProb), { threshold: 0.5 });
        const shift = labelCorrelationShift(asRows(cleanProb), asRows(advProb), { threshold: 0.5 });
        const names = [...t.test.classNames];
        result.cooccurrence = { names, truth: mTruth, clean: mClean, adversarial: mAdv, shiftCleanToAdversarial: shift.score };
        const plots = [];
        for (const [label, m] of [['ground truth', mTruth], ['clean predictions', mClean], ['adversarial predictions', mAdv]] as const) {
          plots.push(await writePlot(ctx.dir, `cooccurrence-${t.name}-${label.split(' ')[0]}`, heatmapSpec(m, names, { title: `Label co-occurrence: ${label}` })));
        }
        result.markdown.push(`Label co-occurrence (paper §5d: off-diagonal joint counts, diagonal = images with only that label) on ${n} test images, predictions at threshold 0.5. Label-correlation shift (RMS change of the φ coefficients, clean → adversarial predictions): ${shift.score.toFixed(3)}; relative Frobenius change of the co-occurrence matrix: ${shift.cooccurrence.relativeFrobenius.toFixed(3)}.`, '', plots.map((p) => `![co-occurrence](${p})`).join(' '), '');
      }
    } finally {
      tf.dispose([images, labels, adv]);
    }
    return result;
  });
}
