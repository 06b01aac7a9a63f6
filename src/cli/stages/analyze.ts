/**
 * The paper's analyses (§5) on a task: an attacked example with the model's predictions before and
 * after, the first conv block's feature maps and the saliency of both, feature discriminability with
 * t-SNE (clean vs PGD features of the penultimate layer) and — for the multi-label task — label
 * co-occurrence of ground truth, clean and adversarial predictions. @internal
 *
 * The example of the multi-label task is the targeted "look healthy" attack (target: no finding, the
 * all-zeros multi-hot vector), which visibly removes the predicted findings; an untargeted attack on a
 * multi-label model may as well raise the true labels' scores.
 */
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { pgdAsync } from '../../attacks/pgd.js';
import { colorize, type RgbImage } from '../../analysis/colormap.js';
import { labelCooccurrence, labelCorrelationShift } from '../../analysis/labelCooccurrence.js';
import { layerActivations } from '../../analysis/layerActivations.js';
import { saliencyMap } from '../../analysis/saliencyMap.js';
import { compareDiscriminability } from '../../metrics/discriminability.js';
import { tsne } from '../../metrics/tsne.js';
import { toModelFn } from '../../model.js';
import { writeFileAtomic } from '../../node/atomic.js';
import { heatmapGridSpec, scatterSpec } from '../../report/plots.js';
import { markdownTable, type Row } from '../../report/tables.js';
import { figurePng, type FigureOptions, type FigurePanel } from '../figure.js';
import { checkpointPause, type StageContext, type TrainedTask } from './context.js';
import { predictLogits } from './evaluate.js';
import { writePlot } from './report.js';

export interface AnalysisResult {
  task: string;
  epsilon: number;
  /** The attacked example: its index among the analysed test images, the attack, and the predictions. */
  example?: { index: number; attack: string; truth: string[]; clean: Record<string, number>; adversarial: Record<string, number> };
  /** Multi-label: how the targeted "look healthy" attack changed the predicted findings. */
  lookHealthy?: { imagesWithFindings: number; clearedImages: number; meanFindingsClean: number; meanFindingsAdversarial: number };
  discriminability?: Record<string, number>;
  cooccurrence?: { names: string[]; truth: number[][]; clean: number[][]; adversarial: number[][]; shiftCleanToAdversarial: number };
  markdown: string[];
}

const FEATURE_LAYER = 'fc1';

function toRgb(pixels: ArrayLike<number>, h: number, w: number, c: number): RgbImage {
  const data = new Uint8Array(h * w * 3);
  for (let i = 0; i < h * w; i++) for (let k = 0; k < 3; k++) data[i * 3 + k] = Math.round(255 * Math.min(1, Math.max(0, pixels[i * c + (c === 3 ? k : 0)]!)));
  return { width: w, height: h, data };
}

async function saveFigure(ctx: StageContext, name: string, panels: FigurePanel[], options: FigureOptions): Promise<string> {
  const { png } = await figurePng(panels, options);
  await writeFileAtomic(join(ctx.dir, 'figures', `${name}.png`), png);
  return `figures/${name}.png`;
}

const percent = (p: number) => `${(100 * p).toFixed(p > 0.995 && p < 1 ? 1 : 0)}%`;

/** Sigmoid (multi-label) or softmax (single-label) probabilities of logits, as rows. */
function probabilities(logits: tf.Tensor2D, multi: boolean): number[][] {
  return tf.tidy(() => (multi ? tf.sigmoid(logits) : tf.softmax(logits)).arraySync() as number[][]);
}

export async function analyzeTask(t: TrainedTask, ctx: StageContext): Promise<AnalysisResult> {
  return ctx.state.once(`analyze.${t.name}`, async () => {
    const { points, perplexity, tsneIterations } = ctx.config.analyses;
    const { pgdSteps } = ctx.config.attacks;
    const epsilon = ctx.config.attacks.epsilons[Math.floor(ctx.config.attacks.epsilons.length / 2)]!;
    const n = Math.min(points, t.test.images.shape[0]);
    const images = tf.slice(t.test.images, [0, 0, 0, 0], [n, -1, -1, -1]);
    const labels = tf.slice(t.test.labels, [0], [n]);
    const task = t.test.task;
    const multi = task === 'multi-label';
    const names = [...t.test.classNames];
    const model = toModelFn(t.model);
    const owned: tf.Tensor[] = [images, labels];
    const result: AnalysisResult = { task: t.name, epsilon, markdown: [`## Analyses of the ${t.name} model (PGD-${pgdSteps}, ε = ${epsilon}/255)`, ''] };
    try {
      const adv = await pgdAsync(model, images, labels, { epsilon: epsilon / 255, steps: pgdSteps, task, seed: ctx.config.seed, signal: ctx.signal });
      owned.push(adv);
      await checkpointPause(ctx.signal);
      const cleanLogits = predictLogits(model, images, 64);
      const advLogits = predictLogits(model, adv, 64);
      owned.push(cleanLogits, advLogits);
      const cleanProb = probabilities(cleanLogits, multi);
      const advProb = probabilities(advLogits, multi);
      const truthRows = (multi ? labels.arraySync() : (labels.arraySync() as number[]).map((k) => names.map((_, j) => (j === k ? 1 : 0)))) as number[][];
      const argmax = (row: number[]) => row.indexOf(Math.max(...row));

      // (a) An attacked example and the predictions on it.
      let index: number;
      let exampleAdv: tf.Tensor4D;
      let attackName: string;
      let exampleProb: number[];
      if (multi) {
        // The targeted "look healthy" attack: descend the loss of the all-zeros target on every image.
        const target = tf.zeros([n, names.length]);
        let healthy: tf.Tensor4D;
        try {
          healthy = await pgdAsync(model, images, target, { epsilon: epsilon / 255, steps: pgdSteps, task, targeted: true, seed: ctx.config.seed, signal: ctx.signal });
        } finally {
          target.dispose();
        }
        owned.push(healthy);
        const healthyLogits = predictLogits(model, healthy, 64);
        const healthyProb = probabilities(healthyLogits, true);
        healthyLogits.dispose();
        const findings = (row: number[]) => row.filter((p) => p > 0.5).length;
        const withFindings = cleanProb.map((row, i) => i).filter((i) => findings(cleanProb[i]!) > 0);
        const cleared = withFindings.filter((i) => findings(healthyProb[i]!) === 0);
        const mean = (rows: number[][]) => rows.reduce((s, r) => s + findings(r), 0) / Math.max(1, rows.length);
        result.lookHealthy = { imagesWithFindings: withFindings.length, clearedImages: cleared.length, meanFindingsClean: mean(cleanProb), meanFindingsAdversarial: mean(healthyProb) };
        // Show an image with a true finding that the model finds and the attack clears.
        const truthFound = (i: number) => truthRows[i]!.some((v, k) => v > 0.5 && cleanProb[i]![k]! > 0.5);
        index = cleared.find(truthFound) ?? cleared[0] ?? withFindings[0] ?? 0;
        exampleAdv = tf.slice(healthy, [index], [1]);
        exampleProb = healthyProb[index]!;
        attackName = `targeted PGD-${pgdSteps} "look healthy" (target: no finding)`;
      } else {
        const truth = truthRows.map(argmax);
        const correct = (i: number) => argmax(cleanProb[i]!) === truth[i];
        const flipped = cleanProb.map((_, i) => i).filter((i) => correct(i) && argmax(advProb[i]!) !== truth[i]);
        index = flipped[0] ?? cleanProb.findIndex((_, i) => correct(i));
        if (index < 0) index = 0;
        exampleAdv = tf.slice(adv, [index], [1]);
        exampleProb = advProb[index]!;
        attackName = `untargeted PGD-${pgdSteps}`;
      }
      const one = tf.concat([tf.slice(images, [index], [1]), exampleAdv]) as tf.Tensor4D;
      exampleAdv.dispose();
      owned.push(one);
      const [, h, w, c] = images.shape;
      const oneValues = await one.data();
      const delta = new Float32Array(h * w * c);
      for (let i = 0; i < delta.length; i++) delta[i] = 0.5 + ((oneValues[h * w * c + i]! - oneValues[i]!) * 255) / (2 * epsilon);
      const describe = (row: number[]) => (multi
        ? row.map((p, k) => [names[k]!, p] as const).filter(([, p]) => p > 0.5).map(([name, p]) => `${name} ${percent(p)}`).join(', ') || 'no finding'
        : `${names[argmax(row)]} ${percent(Math.max(...row))}`);
      const truthNames = names.filter((_, k) => truthRows[index]![k]! > 0.5);
      const truthText = truthNames.join(', ') || 'no finding';
      result.example = {
        index, attack: attackName, truth: truthNames,
        clean: Object.fromEntries(names.map((name, k) => [name, cleanProb[index]![k]!])),
        adversarial: Object.fromEntries(names.map((name, k) => [name, exampleProb[k]!])),
      };
      const title = `${t.name}: ${attackName}, ε = ${epsilon}/255 (test image ${index})`;
      const example = await saveFigure(ctx, `${t.name}-example`, [
        { image: toRgb(oneValues.subarray(0, h * w * c), h, w, c), caption: 'clean' },
        { image: toRgb(delta, h, w, c), caption: 'perturbation (grey = 0, ±ε)' },
        { image: toRgb(oneValues.subarray(h * w * c), h, w, c), caption: 'adversarial' },
      ], { title, notes: [`ground truth: ${truthText}`, `prediction, clean: ${describe(cleanProb[index]!)}`, `prediction, adversarial: ${describe(exampleProb)}`] });

      // (b) Intermediate features: the first conv block's maps for the example, clean vs adversarial, on one scale.
      const maps = layerActivations(t.model, one, { layers: ['conv1'] })['conv1']!;
      owned.push(maps);
      const [, mh, mw, channels] = maps.shape as [number, number, number, number];
      const mapValues = await maps.data();
      const shown = Math.min(channels, 8);
      let lo = Infinity;
      let hi = -Infinity;
      for (const v of mapValues) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
      if (!(hi > lo)) hi = lo + 1e-6;
      const tiles: FigurePanel[] = [];
      for (let s = 0; s < 2; s++) {
        for (let k = 0; k < shown; k++) {
          const plane = new Float32Array(mh * mw);
          for (let p = 0; p < mh * mw; p++) plane[p] = mapValues[(s * mh * mw + p) * channels + k]!;
          tiles.push({ image: { width: mw, height: mh, data: colorize(plane, lo, hi) }, ...(s === 1 ? { caption: `channel ${k + 1}` } : {}) });
        }
      }
      const featureMaps = await saveFigure(ctx, `${t.name}-conv1-maps`, tiles, {
        title: `${t.name}: conv1 feature maps of test image ${index}`, columns: shown, rowLabels: ['clean', 'adversarial'], minPanelHeight: 84,
        legend: { title: 'conv1 activation (one scale for all maps)', min: lo, max: hi },
      });

      // Saliency of the predicted class on the clean and the adversarial image.
      const predicted = [argmax(cleanProb[index]!), argmax(exampleProb)];
      const saliency = saliencyMap(model, one, { classIndex: predicted });
      owned.push(saliency);
      const salValues = await saliency.data();
      const saliencyPng = await saveFigure(ctx, `${t.name}-saliency`, [0, 1].map((s) => ({
        image: { width: w, height: h, data: colorize(salValues.subarray(s * h * w, (s + 1) * h * w), 0, 1) },
        caption: `${s === 0 ? 'clean' : 'adversarial'}: ${names[predicted[s]!]}`,
      })), { title: `${t.name}: saliency of the predicted class`, legend: { title: 'saliency |∂logit/∂x| (99th percentile = 1, per image)', min: 0, max: 1 } });

      result.markdown.push(
        `### An attacked example (${attackName}, ε = ${epsilon}/255)`, '',
        `![example](${example})`, '',
        `Ground truth: ${truthText}. Prediction on the clean image: **${describe(cleanProb[index]!)}**; on the adversarial image: **${describe(exampleProb)}**.`, '',
      );
      if (multi) {
        const shownRows = names.map((name, k) => ({ name, k })).filter(({ k }) => truthRows[index]![k]! > 0.5 || cleanProb[index]![k]! > 0.5 || exampleProb[k]! > 0.5);
        const rows: Row[] = shownRows.map(({ name, k }) => ({ finding: name, truth: truthRows[index]![k]! > 0.5 ? 'yes' : 'no', clean: Number(cleanProb[index]![k]!.toFixed(3)), adversarial: Number(exampleProb[k]!.toFixed(3)) }));
        const lh = result.lookHealthy!;
        if (rows.length > 0) result.markdown.push(markdownTable(rows, { columns: ['finding', 'truth', 'clean', 'adversarial'], digits: 3 }), '');
        result.markdown.push(`Over the ${n} analysed test images, the "look healthy" attack cleared every predicted finding from ${lh.clearedImages} of the ${lh.imagesWithFindings} images with at least one; predicted findings per image: ${lh.meanFindingsClean.toFixed(2)} clean, ${lh.meanFindingsAdversarial.toFixed(2)} attacked.`, '');
      }
      result.markdown.push(`conv1 feature maps (top: clean, bottom: adversarial; one colour scale): ![feature maps](${featureMaps})`, '', `Vanilla-gradient saliency of the predicted class: ![saliency](${saliencyPng})`, '');
      await checkpointPause(ctx.signal);

      // (c) Feature discriminability: penultimate features, t-SNE of clean and adversarial together.
      if (!multi) {
        const feats = layerActivations(t.model, tf.concat([images, adv]) as tf.Tensor4D, { layers: [FEATURE_LAYER] })[FEATURE_LAYER]!;
        const flat = tf.reshape(feats, [2 * n, -1]) as tf.Tensor2D;
        const cleanFeats = tf.slice(flat, [0, 0], [n, -1]);
        const advFeats = tf.slice(flat, [n, 0], [n, -1]);
        owned.push(feats, flat, cleanFeats, advFeats);
        const classes = Array.from(await labels.data());
        const cmp = compareDiscriminability(cleanFeats, advFeats, classes);
        const embedded = await tsne(flat, { perplexity: Math.min(perplexity, Math.floor((2 * n - 1) / 3)), maxIterations: tsneIterations, seed: ctx.config.seed, signal: ctx.signal, onProgress: ctx.progress.callback(`t-SNE ${t.name}`) });
        ctx.progress.end(`t-SNE ${t.name}: KL ${embedded.klDivergence.toFixed(3)}`);
        const pts = embedded.embedding.map(([x, y], i) => ({ x: x!, y: y!, class: names[classes[i % n]!] ?? String(classes[i % n]), input: i < n ? 'clean' : `PGD ${epsilon}/255` }));
        const plot = await writePlot(ctx.dir, `tsne-${t.name}`, scatterSpec(pts, { color: 'class', shape: 'input', title: `${t.name}: t-SNE of ${FEATURE_LAYER} features` }));
        const rows: Row[] = [
          { input: 'clean', ...cmp.clean },
          { input: 'adversarial', ...cmp.adversarial },
        ];
        result.discriminability = { ...Object.fromEntries(Object.entries(cmp.clean).map(([k, v]) => [`clean.${k}`, v])), ...Object.fromEntries(Object.entries(cmp.adversarial).map(([k, v]) => [`adversarial.${k}`, v])), marginShift: cmp.marginShift, crossedCentroid: cmp.crossedCentroid, relativeDisplacement: cmp.relativeDisplacement, tsneKl: embedded.klDivergence };
        await writeFileAtomic(join(ctx.dir, 'tables', `discriminability-${t.name}.csv`), `${Object.keys(result.discriminability).join(',')}\n${Object.values(result.discriminability).join(',')}\n`);
        result.markdown.push(`### Feature discriminability (untargeted PGD)`, '', `${FEATURE_LAYER} features of ${n} test images: silhouette and Fisher ratio fall and the kNN accuracy of the true class drops when the same images are attacked; ${(100 * cmp.crossedCentroid).toFixed(1)}% of adversarial points lie nearer another class's clean centroid.`, '', markdownTable(rows, { columns: ['input', 'silhouette', 'fisherRatio', 'knnAccuracy'] }), '', `![t-SNE](${plot})`, '');
      } else {
        // (d) Correlation of estimated labels: co-occurrence of ground truth, clean and adversarial predictions.
        const flatten = (rows: number[][]) => ({ data: Float64Array.from(rows.flat()), shape: [n, names.length] as [number, number] });
        const mTruth = labelCooccurrence(flatten(truthRows));
        const mClean = labelCooccurrence(flatten(cleanProb), { threshold: 0.5 });
        const mAdv = labelCooccurrence(flatten(advProb), { threshold: 0.5 });
        const shift = labelCorrelationShift(flatten(cleanProb), flatten(advProb), { threshold: 0.5 });
        result.cooccurrence = { names, truth: mTruth, clean: mClean, adversarial: mAdv, shiftCleanToAdversarial: shift.score };
        const plot = await writePlot(ctx.dir, `cooccurrence-${t.name}`, heatmapGridSpec([
          { title: 'ground truth', matrix: mTruth }, { title: 'clean predictions', matrix: mClean }, { title: `untargeted PGD ${epsilon}/255 predictions`, matrix: mAdv },
        ], names, { title: `${t.name}: label co-occurrence on ${n} test images`, legendTitle: 'images' }));
        result.markdown.push(`### Label co-occurrence (untargeted PGD)`, '', `Paper §5d: off-diagonal cells count images with both labels, the diagonal images with only that label; predictions at threshold 0.5, ${n} test images, one colour scale for the three panels. Label-correlation shift (RMS change of the φ coefficients, clean → adversarial predictions): ${shift.score.toFixed(3)}; relative Frobenius change of the co-occurrence matrix: ${shift.cooccurrence.relativeFrobenius.toFixed(3)}.`, '', `![co-occurrence](${plot})`, '');
      }
    } finally {
      tf.dispose(owned);
    }
    return result;
  });
}
