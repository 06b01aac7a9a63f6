/**
 * Shared runner of the paper's experiments (examples/paper/*.ts): loads the user's copy of the data set
 * with the paper's preprocessing, builds or loads the paper's network, optionally trains it, and evaluates
 * it clean, under PGD at the paper's settings and (with --gap) under GAP, in one of two presets:
 *
 * - `paper`: the authors' code (paper.md §4.1, §4.2; docs/guides/paper-presets.md): ε and α applied to
 *   *normalised* tensors, clip to the batch's global min/max, the paper's thresholds and AUC variants;
 *   the network variant of each of their scripts (AttnVGG: sigmoid attention under PGD, softmax under
 *   GAP); GAP trained on normalised images with their generator, gradient, clip, 101 batches an epoch
 *   and lowest-accuracy selection, and evaluated with the generator in training mode as theirs is.
 * - `corrected` (default): ε in pixel units on [0, 1] images, normalisation inside the model, clip [0, 1];
 *   GAP with the exact gradient, the intended generator, the last epoch, inference mode.
 *
 * Nothing is downloaded: when the data are missing the script prints where to get them and where to put
 * them, and exits with code 2.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { useBackend } from '../../backend/index.js';
import { accuracy, advTrain, compareDiscriminability, foolingRate, gap, gapUnet, labelCooccurrence, labelCorrelationShift, layerActivations, maAdvTrain, mpAdvTrain, paperAuc, pgdAsync, selectOutput, trainGap, type ModelFn, type PaperPreset, type Task, type TrainingCheckpoint } from '../../index.js';
import { fileCheckpoint, loadModel, saveModel, type ImageFileDataset } from '../../node/index.js';
import { writeFileAtomic } from '../../node/atomic.js';
import { UsageError } from '../usageError.js';

export interface PaperExperiment {
  id: string;
  title: string;
  task: Task;
  preset: PaperPreset;
  /** Exact instructions printed when the data are missing. */
  howToGetData: string;
  /** Loads the splits, or returns the path that is missing. */
  load(root: string): Promise<{ train: ImageFileDataset; test: ImageFileDataset } | { missing: string }>;
  /** Builds the network (input: normalised images; output 0 = logits). */
  build(): tfl.LayersModel;
  /**
   * The network the authors' script of one experiment attacks, when it differs from `build()` in
   * architecture but not in weights (AttnVGG: sigmoid attention in their PGD script, softmax in their
   * GAP script). Used by the paper preset, with the weights of the loaded or trained network.
   */
  buildFor?(use: 'pgd' | 'gap'): tfl.LayersModel;
  /** The network's input shape (also the GAP generator's). */
  inputShape: [number, number, number];
  /** Index of the logits among the outputs (AttnVGG returns [logits, a1, a2]). */
  logitsOutput: number;
  pgd: { epsilon: number; stepSize: number; steps: number };
  gap: {
    magnitude: number; epochs: number; batchSize: number;
    /** Batches an epoch in the paper preset (their `batchIdx > MaxIter` break runs 101 for MaxIter 100; Infinity: all). */
    maxBatches: number;
    /** Train the generator on augmented images (the training transform), as their Messidor script does. */
    augment?: boolean;
    /** Shuffle the training images (their ChestX-ray script does not). @defaultValue true */
    shuffle?: boolean;
    /** Test batch size of their GAP script (their generator runs in training mode, so it matters). */
    testBatchSize: number;
    /** Decision threshold of their GAP script (multi-label), when it differs from `threshold`. */
    threshold?: number;
  };
  aucVariant: 'hard-label' | 'micro-sigmoid' | 'mean-per-class';
  threshold: number;
}

const USAGE = (e: PaperExperiment) => `usage: npx medrobust reproduce ${e.id.split('-')[0]} <data-root> [--preset corrected|paper] [--model <dir>] [--train-epochs N] [--limit N] [--gap] [--out runs/paper]`;

/** A whole-number flag of `reproduce`, checked before any work (`--limit abc` is a usage error, not NaN). */
function countFlag(flag: string, value: string | undefined, min: number): number {
  const text = (value ?? '').trim();
  const v = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(v) || v < min) throw new UsageError(`--${flag} must be a whole number >= ${min}, received '${value ?? ''}'`);
  return v;
}

export async function runPaperExperiment(e: PaperExperiment, argv: readonly string[], signal?: AbortSignal): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...argv], allowPositionals: true,
    options: {
      preset: { type: 'string', default: 'corrected' }, model: { type: 'string' }, 'train-epochs': { type: 'string', default: '0' },
      limit: { type: 'string', default: '64' }, gap: { type: 'boolean', default: false }, out: { type: 'string', default: 'runs/paper' },
      analyze: { type: 'boolean', default: false }, defend: { type: 'string' }, 'defend-epochs': { type: 'string', default: '1' },
    },
  });
  const root = positionals[0];
  if (!root) { console.error(USAGE(e)); return 2; }
  if (values.preset !== 'paper' && values.preset !== 'corrected') { console.error(`--preset must be 'paper' or 'corrected', received '${values.preset}'`); return 2; }
  const trainEpochs = countFlag('train-epochs', values['train-epochs'], 0);
  const limit = countFlag('limit', values.limit, 1);
  const defendEpochs = countFlag('defend-epochs', values['defend-epochs'], 1);
  if (values.defend !== undefined && !['pgd-at', 'mpadvt', 'maadvt'].includes(values.defend)) throw new UsageError(`--defend must be pgd-at, mpadvt or maadvt, received '${values.defend}'`);
  const loaded = await e.load(root);
  if ('missing' in loaded) {
    console.error(`${e.title}: ${loaded.missing} not found.\n\n${e.howToGetData}`);
    return 2;
  }
  const backend = await useBackend('auto');
  console.log(`${e.title} — preset ${values.preset}, backend ${backend.name} (${backend.reason})`);
  const { mean, std } = e.preset.normalization;
  const meanT = tf.tensor1d([...mean]);
  const stdT = tf.tensor1d([...std]);
  const normalise = (x: tf.Tensor4D) => tf.div(tf.sub(x, meanT), stdT) as tf.Tensor4D;

  const dir = join(values.out!, `${e.id}-${values.preset}`);
  const net = values.model ? await loadModel(values.model) : e.build();
  if (trainEpochs > 0) {
    const source = loaded.train.batches({ batchSize: 16, shuffle: true, seed: 1, preprocess: e.preset.train });
    const normalised = { async *[Symbol.asyncIterator]() { for await (const b of source) { const images = normalise(b.images); b.images.dispose(); yield { images, labels: b.labels }; } } };
    await advTrain(net, normalised, { generator: () => null, epochs: trainEpochs, task: e.task, output: e.logitsOutput, checkpoint: fileCheckpoint(join(dir, 'train.ckpt')), resume: true, onProgress: (p) => process.stderr.write(`\rtrain ${p.phase} ${p.done}/${p.total}`) });
    await saveModel(net, join(dir, 'model'));
  } else if (!values.model) {
    console.warn('warning: no --model and no --train-epochs: evaluating an untrained network (see docs/guides/weights.md to bring trained weights).');
  }
  const paper = values.preset === 'paper';
  // corrected: the model takes [0,1] pixels and normalises inside; paper: it takes normalised tensors.
  const modelOf = (n: tfl.LayersModel): ModelFn => {
    const logits = selectOutput(n, e.logitsOutput);
    return paper ? logits : (x) => logits(normalise(x));
  };
  /** The network of one experiment: in the paper preset, the authors' variant with the current weights of `net`. */
  const networkFor = (use: 'pgd' | 'gap'): tfl.LayersModel => {
    if (!paper || !e.buildFor) return net;
    const variant = e.buildFor(use);
    copyWeightsByName(net, variant);
    return variant;
  };
  const attackOptions = values.preset === 'corrected'
    ? { epsilon: e.pgd.epsilon / 255, stepSize: e.pgd.stepSize / 255, steps: e.pgd.steps, clip: [0, 1] as const }
    : { epsilon: e.pgd.epsilon / 255, stepSize: e.pgd.stepSize / 255, steps: e.pgd.steps, clip: 'batch' as const, clipStart: false }; // their start enters step 1 unclipped

  // The penultimate layer (the logits layer's input) gives the features of the discriminability analysis.
  const logitsLayer = net.outputLayers[e.logitsOutput]!;
  const featureLayer = logitsLayer.inboundNodes[0]!.inboundLayers[0]!.name;
  const toNet = (x: tf.Tensor4D) => (values.preset === 'corrected' ? normalise(x) : tf.clone(x));
  /** Clean and PGD logits (and penultimate features with --analyze) over the first `limit` test images. */
  const evaluatePgd = async () => {
    const pgdNet = networkFor('pgd');
    const model = modelOf(pgdNet);
    const parts = { clean: [] as tf.Tensor2D[], adv: [] as tf.Tensor2D[], labels: [] as tf.Tensor[], fClean: [] as tf.Tensor2D[], fAdv: [] as tf.Tensor2D[] };
    let count = 0;
    for await (const batch of loaded.test.batches({ batchSize: 8, preprocess: e.preset.test })) {
      if (count >= limit) { tf.dispose([batch.images, batch.labels]); break; }
      const images = values.preset === 'corrected' ? batch.images : normalise(batch.images);
      const advImages = await pgdAsync(model, images, batch.labels, { ...attackOptions, task: e.task, seed: count, ...(signal ? { signal } : {}) });
      parts.clean.push(tf.tidy(() => model(images)));
      parts.adv.push(tf.tidy(() => model(advImages)));
      if (values.analyze) {
        for (const [x, into] of [[images, parts.fClean], [advImages, parts.fAdv]] as const) {
          into.push(tf.tidy(() => { const f = layerActivations(pgdNet, toNet(x), { layers: [featureLayer] })[featureLayer]!; return tf.reshape(f, [f.shape[0]!, -1]) as tf.Tensor2D; }));
        }
      }
      parts.labels.push(batch.labels);
      tf.dispose([advImages, ...(images === batch.images ? [] : [images]), batch.images]);
      count += batch.labels.shape[0];
      process.stderr.write(`\rPGD ${count} images`);
    }
    process.stderr.write('\n');
    if (pgdNet !== net) pgdNet.dispose();
    const joined = { clean: tf.concat(parts.clean), adv: tf.concat(parts.adv), labels: tf.concat(parts.labels), fClean: parts.fClean.length ? tf.concat(parts.fClean) : null, fAdv: parts.fAdv.length ? tf.concat(parts.fAdv) : null, count };
    tf.dispose([...parts.clean, ...parts.adv, ...parts.labels, ...parts.fClean, ...parts.fAdv]);
    return joined;
  };
  const rows: Record<string, number | string>[] = [];
  const first = await evaluatePgd();
  const { clean, adv, labels } = first;
  const seen = first.count;
  const score = (l: tf.Tensor2D) => ({
    accuracy: accuracy(l, labels, { task: e.task, threshold: e.threshold, from: 'logits' }),
    auc: paperAuc(l, labels, { variant: e.aucVariant }),
  });
  const pgdName = `PGD ε=${e.pgd.epsilon}/255 α=${e.pgd.stepSize}/255 T=${e.pgd.steps}`;
  rows.push({ model: 'undefended', attack: 'none', ...score(clean) });
  rows.push({ model: 'undefended', attack: pgdName, ...score(adv), foolingRate: foolingRate(clean, adv, { task: e.task, threshold: e.threshold, from: 'logits' }) });
  const analysis: Record<string, unknown> = {};
  if (values.analyze) {
    if (e.task === 'single-label') {
      analysis.discriminability = compareDiscriminability(first.fClean!, first.fAdv!, Array.from(await labels.data()), { k: Math.max(1, Math.min(5, Math.floor(seen / 4))) });
    } else {
      const probs = async (l: tf.Tensor2D) => { const p = tf.sigmoid(l); const v = await p.data(); p.dispose(); return { data: Float64Array.from(v), shape: [seen, l.shape[1]] as [number, number] }; };
      const [pc, pa] = [await probs(clean), await probs(adv)];
      analysis.cooccurrence = { truth: labelCooccurrence(labels), clean: labelCooccurrence(pc, { threshold: e.threshold }), adversarial: labelCooccurrence(pa, { threshold: e.threshold }) };
      analysis.correlationShift = labelCorrelationShift(pc, pa, { threshold: e.threshold }).score;
    }
  }
  tf.dispose([first.fClean, first.fAdv].filter((t): t is tf.Tensor2D => t !== null));

  if (values.gap) {
    const side = e.inputShape[0];
    const preset = side === 224 ? 'isic' : side === 299 ? 'messidor' : 'small';
    // paper: the authors' generator (their init, shared batch norms, LeakyReLU skips); corrected: the one they meant.
    const generator = gapUnet({ inputShape: e.inputShape, preset, seed: 1, ...(paper || preset === 'small' ? {} : { init: 'normal' as const, sharedNorms: false, skips: 'raw' as const }) });
    const gapNet = networkFor('gap');
    const model = modelOf(gapNet);
    const threshold = e.gap.threshold ?? e.threshold;
    const raw = loaded.train.batches({ batchSize: e.gap.batchSize, shuffle: e.gap.shuffle ?? true, seed: 2, preprocess: e.gap.augment ? e.preset.train : e.preset.test });
    // The generator sees what the network sees: normalised tensors in the paper preset (item 1 of issue 14).
    const source = paper ? { async *[Symbol.asyncIterator]() { for await (const b of raw) { const images = normalise(b.images); b.images.dispose(); yield { images, labels: b.labels }; } } } : raw;
    const scaling = paper ? { mean: [...mean], std: [...std], clip: 'batch-per-channel' as const, center: 'mean' as const } : {};
    const report = await trainGap(model, generator, source, {
      magnitude: e.gap.magnitude, epochs: e.gap.epochs, task: e.task, threshold, ...scaling,
      ...(paper ? { maxBatchesPerEpoch: e.gap.maxBatches, gradient: 'paper' as const, keep: 'lowest-accuracy' as const } : { maxBatchesPerEpoch: 100 }),
      onProgress: (p) => process.stderr.write(`\rGAP ${p.phase} ${p.done}/${p.total}`),
    });
    process.stderr.write(`\nGAP: kept the generator of epoch ${report.selectedEpoch + 1} of ${report.epochs.length}\n`);
    const gapLogits: tf.Tensor2D[] = [];
    const gapClean: tf.Tensor2D[] = [];
    const gapLabels: tf.Tensor[] = [];
    let n = 0;
    for await (const batch of loaded.test.batches({ batchSize: paper ? e.gap.testBatchSize : 8, preprocess: e.preset.test })) {
      if (n >= limit) { tf.dispose([batch.images, batch.labels]); break; }
      const images = paper ? normalise(batch.images) : batch.images;
      // paper: their generate() runs the generator in training mode (batch statistics, dropout).
      const out = gap(generator, images, { magnitude: e.gap.magnitude, ...scaling, ...(paper ? { training: true, seed: n } : {}) });
      gapLogits.push(tf.tidy(() => model(out.images)));
      gapClean.push(tf.tidy(() => model(images)));
      gapLabels.push(batch.labels);
      tf.dispose([out.images, out.perturbation, batch.images, ...(images === batch.images ? [] : [images])]);
      n += out.images.shape[0];
    }
    const [g, c, y] = [tf.concat(gapLogits), tf.concat(gapClean), tf.concat(gapLabels)];
    tf.dispose([...gapLogits, ...gapClean, ...gapLabels]);
    rows.push({
      model: 'undefended', attack: `GAP m=${e.gap.magnitude}`,
      accuracy: accuracy(g, y, { task: e.task, threshold, from: 'logits' }), auc: paperAuc(g, y, { variant: e.aucVariant }),
      foolingRate: foolingRate(c, g, { task: e.task, threshold, from: 'logits' }),
    });
    tf.dispose([g, c, y]);
    generator.dispose();
    if (gapNet !== net) gapNet.dispose();
  }
  if (values.defend) {
    // Adversarial fine-tuning with the paper's defense (§6) at the PGD budget of the evaluation.
    const eps = e.pgd.epsilon / 255;
    const source = loaded.train.batches({ batchSize: 16, shuffle: true, seed: 3, preprocess: e.preset.train });
    const trainSource = values.preset === 'corrected' ? source : { async *[Symbol.asyncIterator]() { for await (const b of source) { const images = normalise(b.images); b.images.dispose(); yield { images, labels: b.labels }; } } };
    // The defenses train the LayersModel itself, so they see its input units: normalised tensors.
    const netSource = values.preset === 'corrected' ? { async *[Symbol.asyncIterator]() { for await (const b of trainSource) { const images = normalise(b.images); b.images.dispose(); yield { images, labels: b.labels }; } } } : trainSource;
    const clip = values.preset === 'corrected' ? { min: mean.map((m, c) => -m / std[c]!), max: mean.map((m, c) => (1 - m) / std[c]!) } : ('batch' as const);
    const epsNet = values.preset === 'corrected' ? eps / Math.min(...std) : eps;
    const common = { epochs: defendEpochs, task: e.task, output: e.logitsOutput, clip, seed: 1, checkpoint: fileCheckpoint<TrainingCheckpoint>(join(dir, `${values.defend}.ckpt`)), resume: true, onProgress: (p: { phase: string; done: number; total: number }) => process.stderr.write(`\r${values.defend} ${p.phase} ${p.done}/${p.total}`) };
    if (values.defend === 'pgd-at') await advTrain(net, netSource, { ...common, epsilon: epsNet, steps: 4, stepSize: epsNet / 2 });
    else if (values.defend === 'mpadvt') await mpAdvTrain(net, netSource, { ...common, epsilon: [epsNet / 2, 2 * epsNet], steps: [1, 9], stepSize: epsNet / 2 });
    else await maAdvTrain(net, netSource, { ...common, epsilon: epsNet, steps: 4, stepSize: epsNet / 2, beta: 6 });
    process.stderr.write('\n');
    await saveModel(net, join(dir, `model-${values.defend}`));
    const defended = await evaluatePgd();
    const scoreD = (l: tf.Tensor2D) => ({ accuracy: accuracy(l, defended.labels, { task: e.task, threshold: e.threshold, from: 'logits' }), auc: paperAuc(l, defended.labels, { variant: e.aucVariant }) });
    rows.push({ model: values.defend, attack: 'none', ...scoreD(defended.clean) });
    rows.push({ model: values.defend, attack: pgdName, ...scoreD(defended.adv), foolingRate: foolingRate(defended.clean, defended.adv, { task: e.task, threshold: e.threshold, from: 'logits' }) });
    tf.dispose([defended.clean, defended.adv, defended.labels]);
  }
  console.table(rows);
  await writeFileAtomic(join(dir, 'results.json'), JSON.stringify({ experiment: e.id, preset: values.preset, backend: backend.name, images: seen, rows, analysis }, null, 1));
  tf.dispose([clean, adv, labels, meanT, stdT]);
  net.dispose();
  return 0;
}

/** Copies every weighted layer of `to` from the layer of the same name in `from` (same architecture but for weightless layers). */
function copyWeightsByName(from: tfl.LayersModel, to: tfl.LayersModel): void {
  for (const layer of to.layers) {
    if (layer.weights.length === 0) continue;
    const source = from.layers.find((l) => l.name === layer.name);
    if (!source) throw new Error(`the network has no layer '${layer.name}' to copy into the variant the paper preset attacks`);
    layer.setWeights(source.getWeights());
  }
}

/** True when `path` exists; for the data checks. */
export const present = (path: string): boolean => existsSync(path);
