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
import { accuracy, advTrain, compareDiscriminability, foolingRate, gap, gapUnet, labelCooccurrence, labelCorrelationShift, layerActivations, maAdvTrain, memoryStatus, mpAdvTrain, paperAuc, pgdAsync, selectOutput, trainGap, type ModelFn, type PaperDataset, type PaperPreset, type Task, type TrainingCheckpoint } from '../../index.js';
import { fileCheckpoint, loadModel, saveModel, type ImageFileDataset } from '../../node/index.js';
import { writeFileAtomic } from '../../node/atomic.js';
import { mapInChunks } from '../../internal/memory.js';
import { UsageError } from '../usageError.js';
import { PAPER_DEFENSES, paperDefensePlan, type PaperDefenseName } from './defense.js';
import { formatStage, StageMeter } from './stageMeter.js';
import { worstCaseRow } from './worstCase.js';

export interface PaperExperiment {
  id: string;
  title: string;
  task: Task;
  /** The data set (picks the defense presets: MAAdvT's β is 8 on Messidor, 6 elsewhere). */
  dataset: PaperDataset;
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

const USAGE = (e: PaperExperiment) => `usage: npx medrobust reproduce ${e.id.split('-')[0]} <data-root> [--preset corrected|paper] [--model <dir>] [--train-epochs N] [--limit N] [--gap] [--gap-epochs N] [--gap-batches N] [--analyze] [--defend pgd-at,mpadvt,maadvt] [--defend-epochs N] [--defend-batches N] [--memory-budget MiB] [--worst-case cheap|standard|off] [--out runs/paper]`;

/** Options of `reproduce` that take a count. */
const COUNTS = { 'train-epochs': 0, limit: 1, 'defend-epochs': 1, 'defend-batches': 1, 'gap-epochs': 1, 'gap-batches': 1, 'memory-budget': 1 } as const;

/** Yields the first `maxBatches` batches of `source` (all when Infinity), disposing the ones it skips. */
function firstBatches<B extends { images: tf.Tensor4D; labels: tf.Tensor }>(source: AsyncIterable<B>, maxBatches: number): AsyncIterable<B> {
  if (maxBatches === Infinity) return source;
  return {
    async *[Symbol.asyncIterator]() {
      let n = 0;
      for await (const b of source) {
        if (n >= maxBatches) { tf.dispose([b.images, b.labels]); break; }
        n += 1;
        yield b;
      }
    },
  };
}

/**
 * A progress callback that rewrites one stderr line: `<label> <phase> <done>/<total>`, `?` for a total the
 * source cannot know (an iterable's batch count: the trainers report NaN), padded so a shorter line
 * leaves nothing of the last one behind.
 */
function progressLine(label: string): (p: { phase: string; done: number; total: number }) => void {
  let width = 0;
  return (p) => {
    const line = `${label} ${p.phase} ${p.done}/${Number.isFinite(p.total) ? p.total : '?'}`;
    process.stderr.write(`\r${line.padEnd(width)}`);
    width = Math.max(width, line.length);
  };
}

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
      'gap-epochs': { type: 'string' }, 'gap-batches': { type: 'string' },
      analyze: { type: 'boolean', default: false }, defend: { type: 'string' }, 'defend-epochs': { type: 'string', default: '1' }, 'defend-batches': { type: 'string' },
      'memory-budget': { type: 'string' }, 'worst-case': { type: 'string', default: 'cheap' },
    },
  });
  if (!['cheap', 'standard', 'off'].includes(values['worst-case']!)) throw new UsageError(`--worst-case must be cheap, standard or off, received '${values['worst-case']}'`);
  const root = positionals[0];
  if (!root) { console.error(USAGE(e)); return 2; }
  if (values.preset !== 'paper' && values.preset !== 'corrected') { console.error(`--preset must be 'paper' or 'corrected', received '${values.preset}'`); return 2; }
  const counts: Partial<Record<keyof typeof COUNTS, number>> = {};
  for (const [name, min] of Object.entries(COUNTS) as [keyof typeof COUNTS, number][]) {
    if (values[name] !== undefined) counts[name] = countFlag(name, values[name], min);
  }
  const defenses = values.defend === undefined ? [] : values.defend.split(',');
  const unknown = defenses.find((d) => !PAPER_DEFENSES.includes(d as PaperDefenseName));
  if (unknown !== undefined || (values.defend !== undefined && defenses.length === 0)) throw new UsageError(`--defend must be pgd-at, mpadvt or maadvt, received '${values.defend}' (several: comma-separated, e.g. mpadvt,maadvt)`);
  const loaded = await e.load(root);
  if ('missing' in loaded) {
    console.error(`${e.title}: ${loaded.missing} not found.\n\n${e.howToGetData}`);
    return 2;
  }
  const backend = await useBackend('auto');
  console.log(`${e.title} — preset ${values.preset}, backend ${backend.name} (${backend.reason})`);
  const meter = new StageMeter((line) => console.log(line));
  const { mean, std } = e.preset.normalization;
  const meanT = tf.tensor1d([...mean]);
  const stdT = tf.tensor1d([...std]);
  const normalise = (x: tf.Tensor4D) => tf.tidy(() => tf.div(tf.sub(x, meanT), stdT) as tf.Tensor4D);
  const normalised = <B extends { images: tf.Tensor4D; labels: tf.Tensor }>(source: AsyncIterable<B>): AsyncIterable<B> => ({
    async *[Symbol.asyncIterator]() { for await (const b of source) { const images = normalise(b.images); b.images.dispose(); yield { ...b, images }; } },
  });
  const paper = values.preset === 'paper';
  const limit = counts.limit ?? 64;

  // The network and the normalisation constants are freed however the run ends (a MemoryBudgetError mid-run included).
  const built: { net?: tfl.LayersModel; keep: tf.Tensor[]; variants: Set<tfl.LayersModel> } = { keep: [], variants: new Set() };
  try {
    const dir = join(values.out!, `${e.id}-${values.preset}`);
    const net = await meter.run('build', async () => (values.model ? loadModel(values.model) : e.build()));
    built.net = net;
    const trainEpochs = counts['train-epochs'] ?? 0;
    if (trainEpochs > 0) {
      await meter.run('train', async () => {
        const source = normalised(loaded.train.batches({ batchSize: 16, shuffle: true, seed: 1, preprocess: e.preset.train }));
        await advTrain(net, source, { generator: () => null, epochs: trainEpochs, task: e.task, output: e.logitsOutput, ...memoryBudget(counts), checkpoint: fileCheckpoint(join(dir, 'train.ckpt')), resume: true, onProgress: progressLine('train') });
        process.stderr.write('\n');
        await saveModel(net, join(dir, 'model'));
      });
    } else if (!values.model) {
      console.warn('warning: no --model and no --train-epochs: evaluating an untrained network (see docs/guides/weights.md to bring trained weights).');
    }
    // corrected: the model takes [0,1] pixels and normalises inside; paper: it takes normalised tensors.
    const modelOf = (n: tfl.LayersModel): ModelFn => {
      const logits = selectOutput(n, e.logitsOutput);
      return paper ? logits : (x) => tf.tidy(() => logits(normalise(x)));
    };
    /** Logits of a batch in chunks that fit the run's memory budget. */
    const forward = (model: ModelFn, x: tf.Tensor4D) => mapInChunks('reproduce', x, memoryBudget(counts), { model, kind: 'forward' }, (c) => model(c) as tf.Tensor2D);
    /** The network of one experiment: in the paper preset, the authors' variant with the current weights of `from`. */
    const networkFor = (use: 'pgd' | 'gap', from: tfl.LayersModel = net): tfl.LayersModel => {
      if (!paper || !e.buildFor) return from;
      const variant = e.buildFor(use);
      built.variants.add(variant);
      copyWeightsByName(from, variant);
      return variant;
    };
    /** Frees a network from networkFor (not the run's own). */
    const release = (n: tfl.LayersModel) => { if (built.variants.delete(n)) n.dispose(); };
    // paper: their start enters step 1 unclipped (clipStart false).
    const attackOptions = paper
      ? { epsilon: e.pgd.epsilon / 255, stepSize: e.pgd.stepSize / 255, steps: e.pgd.steps, clip: 'batch' as const, clipStart: false }
      : { epsilon: e.pgd.epsilon / 255, stepSize: e.pgd.stepSize / 255, steps: e.pgd.steps, clip: [0, 1] as const };
    /** The first `limit` test images in the attacks' units (pixels, or normalised tensors in the paper preset), batch by batch. */
    const testBatches = (batchSize: number) => ({
      async *[Symbol.asyncIterator]() {
        let count = 0;
        for await (const batch of loaded.test.batches({ batchSize, preprocess: e.preset.test })) {
          const take = Math.min(batch.labels.shape[0], limit - count);
          if (take <= 0) { tf.dispose([batch.images, batch.labels]); break; }
          const images = take < batch.labels.shape[0] ? tf.slice(batch.images, 0, take) as tf.Tensor4D : batch.images;
          const labels = take < batch.labels.shape[0] ? tf.slice(batch.labels, 0, take) : batch.labels;
          if (images !== batch.images) tf.dispose([batch.images, batch.labels]);
          count += take;
          const inUnits = paper ? normalise(images) : images;
          if (inUnits !== images) images.dispose();
          yield { images: inUnits, labels, count };
        }
      },
    });
    // The penultimate layer (the logits layer's input) gives the features of the discriminability analysis.
    const featureLayerOf = (n: tfl.LayersModel) => n.outputLayers[e.logitsOutput]!.inboundNodes[0]!.inboundLayers[0]!.name;
    const toNet = (x: tf.Tensor4D) => (paper ? tf.clone(x) : normalise(x));

    interface Evaluation { clean: tf.Tensor2D; adv: tf.Tensor2D; labels: tf.Tensor; count: number; advImages: tf.Tensor4D[] }
    /** Clean logits, then PGD at the paper's settings, over the first `limit` test images; each its own stage. */
    const evaluate = async (pgdNet: tfl.LayersModel, tag: string): Promise<Evaluation> => {
      const model = modelOf(pgdNet);
      const cleanParts: tf.Tensor2D[] = [];
      const labelParts: tf.Tensor[] = [];
      const advParts: tf.Tensor2D[] = [];
      const advImages: tf.Tensor4D[] = [];
      let count = 0;
      try {
        await meter.run(`${tag} clean evaluation`, async () => {
          for await (const b of testBatches(8)) {
            labelParts.push(b.labels);
            try {
              cleanParts.push(forward(model, b.images));
            } finally {
              b.images.dispose();
            }
            count = b.count;
          }
        });
        await meter.run(`${tag} PGD`, async () => {
          let seen = 0;
          for await (const b of testBatches(8)) {
            try {
              const adv = await pgdAsync(model, b.images, b.labels, { ...attackOptions, task: e.task, seed: seen, ...memoryBudget(counts), ...(signal ? { signal } : {}) });
              // The analyses read the adversarial images later; otherwise they are not kept.
              advImages.push(adv);
              advParts.push(forward(model, adv));
              if (!values.analyze) advImages.pop()!.dispose();
            } finally {
              tf.dispose([b.images, b.labels]);
            }
            seen = b.count;
            process.stderr.write(`\rPGD ${seen} images`);
          }
          process.stderr.write('\n');
        });
      } catch (err) {
        // A refused step (MemoryBudgetError) or Ctrl-C: free what this evaluation made.
        tf.dispose([...cleanParts, ...advParts, ...labelParts, ...advImages]);
        throw err;
      }
      const out = { clean: tf.concat(cleanParts), adv: tf.concat(advParts), labels: tf.concat(labelParts), count, advImages };
      tf.dispose([...cleanParts, ...advParts, ...labelParts]);
      return out;
    };
    const rows: Record<string, number | string>[] = [];
    const pgdName = `PGD ε=${e.pgd.epsilon}/255 α=${e.pgd.stepSize}/255 T=${e.pgd.steps}`;
    const scoreRows = (name: string, r: Evaluation) => {
      const score = (l: tf.Tensor2D) => ({ accuracy: accuracy(l, r.labels, { task: e.task, threshold: e.threshold, from: 'logits' }), auc: paperAuc(l, r.labels, { variant: e.aucVariant }) });
      rows.push({ model: name, attack: 'none', ...score(r.clean) });
      rows.push({ model: name, attack: pgdName, ...score(r.adv), foolingRate: foolingRate(r.clean, r.adv, { task: e.task, threshold: e.threshold, from: 'logits' }) });
    };
    /** The worst-case row of a network (evaluateWorstCase at the PGD budget, PGD-10 first; worst-case.md), its own stage. */
    const worstCase = async (name: string, from: tfl.LayersModel): Promise<void> => {
      if (values['worst-case'] === 'off') return;
      const wcNet = networkFor('pgd', from);
      try {
        await meter.run(`${name} worst case`, async () => {
          rows.push({ model: name, ...(await worstCaseRow(modelOf(wcNet), loaded.test, e, { paper, limit, version: values['worst-case'] as 'cheap' | 'standard', normalise, ...(signal ? { signal } : {}) })) });
        });
      } finally {
        release(wcNet);
      }
    };
    const pgdNet = networkFor('pgd');
    const first = await evaluate(pgdNet, 'undefended');
    const { clean, adv, labels } = first;
    built.keep.push(clean, adv, labels, ...first.advImages);
    const seen = first.count;
    scoreRows('undefended', first);
    await worstCase('undefended', net);
    const analysis: Record<string, unknown> = {};
    if (values.analyze) {
      await meter.run('analyses', async () => {
        if (e.task === 'single-label') {
          const layer = featureLayerOf(pgdNet);
          const features = async (images: (i: number) => tf.Tensor4D, n: number) => {
            const parts: tf.Tensor2D[] = [];
            for (let i = 0; i < n; i++) parts.push(tf.tidy(() => { const x = toNet(images(i)); const f = layerActivations(pgdNet, x, { layers: [layer] })[layer]!; return tf.reshape(f, [f.shape[0]!, -1]) as tf.Tensor2D; }));
            const joined = tf.concat(parts);
            tf.dispose(parts);
            return joined;
          };
          const cleanImages: tf.Tensor4D[] = [];
          for await (const b of testBatches(8)) { cleanImages.push(b.images); b.labels.dispose(); }
          const fClean = await features((i) => cleanImages[i]!, cleanImages.length);
          const fAdv = await features((i) => first.advImages[i]!, first.advImages.length);
          tf.dispose(cleanImages);
          try {
            analysis.discriminability = compareDiscriminability(fClean, fAdv, Array.from(await labels.data()), { k: Math.max(1, Math.min(5, Math.floor(seen / 4))) });
          } finally {
            tf.dispose([fClean, fAdv]);
          }
        } else {
          const probs = async (l: tf.Tensor2D) => { const p = tf.sigmoid(l); const v = await p.data(); p.dispose(); return { data: Float64Array.from(v), shape: [seen, l.shape[1]] as [number, number] }; };
          const [pc, pa] = [await probs(clean), await probs(adv)];
          analysis.cooccurrence = { truth: labelCooccurrence(labels), clean: labelCooccurrence(pc, { threshold: e.threshold }), adversarial: labelCooccurrence(pa, { threshold: e.threshold }) };
          analysis.correlationShift = labelCorrelationShift(pc, pa, { threshold: e.threshold }).score;
        }
      });
    }
    tf.dispose(first.advImages);
    release(pgdNet);

    if (values.gap) {
      const side = e.inputShape[0];
      const preset = side === 224 ? 'isic' : side === 299 ? 'messidor' : 'small';
      // paper: the authors' generator (their init, shared batch norms, LeakyReLU skips); corrected: the one they meant.
      const generator = gapUnet({ inputShape: e.inputShape, preset, seed: 1, ...(paper || preset === 'small' ? {} : { init: 'normal' as const, sharedNorms: false, skips: 'raw' as const }) });
      const gapNet = networkFor('gap');
      const model = modelOf(gapNet);
      const threshold = e.gap.threshold ?? e.threshold;
      const scaling = paper ? { mean: [...mean], std: [...std], clip: 'batch-per-channel' as const, center: 'mean' as const } : {};
      try {
        await meter.run('GAP training', async () => {
          const raw = loaded.train.batches({ batchSize: e.gap.batchSize, shuffle: e.gap.shuffle ?? true, seed: 2, preprocess: e.gap.augment ? e.preset.train : e.preset.test });
          // The generator sees what the network sees: normalised tensors in the paper preset (item 1 of issue 14).
          const source = paper ? normalised(raw) : raw;
          const maxBatches = counts['gap-batches'] ?? (paper ? e.gap.maxBatches : 100);
          const report = await trainGap(model, generator, source, {
            ...memoryBudget(counts),
            magnitude: e.gap.magnitude, epochs: counts['gap-epochs'] ?? e.gap.epochs, task: e.task, threshold, ...scaling,
            ...(maxBatches === Infinity ? {} : { maxBatchesPerEpoch: maxBatches }),
            ...(paper ? { gradient: 'paper' as const, keep: 'lowest-accuracy' as const } : {}),
            onProgress: progressLine('GAP'),
          });
          process.stderr.write(`\nGAP: kept the generator of epoch ${report.selectedEpoch + 1} of ${report.epochs.length}\n`);
        });
        const gapLogits: tf.Tensor2D[] = [];
        const gapClean: tf.Tensor2D[] = [];
        const gapLabels: tf.Tensor[] = [];
        try {
          await meter.run('GAP evaluation', async () => {
            let n = 0;
            for await (const b of testBatches(paper ? e.gap.testBatchSize : 8)) {
              gapLabels.push(b.labels);
              try {
                // paper: their generate() runs the generator in training mode (batch statistics, dropout).
                const out = gap(generator, b.images, { magnitude: e.gap.magnitude, ...scaling, ...memoryBudget(counts), ...(paper ? { training: true, seed: n } : {}) });
                try {
                  gapLogits.push(forward(model, out.images));
                } finally {
                  tf.dispose([out.images, out.perturbation]);
                }
                gapClean.push(forward(model, b.images));
              } finally {
                b.images.dispose();
              }
              n = b.count;
            }
          });
        } catch (err) {
          tf.dispose([...gapLogits, ...gapClean, ...gapLabels]);
          throw err;
        }
        const [g, c, y] = [tf.concat(gapLogits), tf.concat(gapClean), tf.concat(gapLabels)];
        tf.dispose([...gapLogits, ...gapClean, ...gapLabels]);
        rows.push({
          model: 'undefended', attack: `GAP m=${e.gap.magnitude}`,
          accuracy: accuracy(g, y, { task: e.task, threshold, from: 'logits' }), auc: paperAuc(g, y, { variant: e.aucVariant }),
          foolingRate: foolingRate(c, g, { task: e.task, threshold, from: 'logits' }),
        });
        tf.dispose([g, c, y]);
      } finally {
        generator.dispose();
        release(gapNet);
      }
    }
    const defended: Record<string, { variant: string; batchSize: number; notes: readonly string[] }> = {};
    // Each defense fine-tunes the undefended weights (restored before the next one).
    const base = defenses.length > 1 ? net.getWeights().map((w) => tf.clone(w)) : [];
    try {
      for (const [i, method] of (defenses as PaperDefenseName[]).entries()) {
        // The paper's defense (§6) in the run's preset; in the paper preset on the network variant of
        // their training scripts (AttnVGG: sigmoid attention, as in their PGD script).
        const plan = paperDefensePlan(method, { dataset: e.dataset, preset: paper ? 'paper' : 'corrected', epsilon: e.pgd.epsilon / 255, normalization: e.preset.normalization });
        defended[method] = { variant: plan.variant, batchSize: plan.batchSize, notes: plan.notes };
        if (i > 0) net.setWeights(base);
        const trainee = networkFor('pgd', net);
        try {
          await meter.run(`${method} training`, async () => {
            const source = firstBatches(normalised(loaded.train.batches({ batchSize: plan.batchSize, shuffle: true, seed: 3, preprocess: e.preset.train })), counts['defend-batches'] ?? Infinity);
            const optimizer = plan.createOptimizer();
            const loop = {
              epochs: counts['defend-epochs'] ?? 1, task: e.task, output: e.logitsOutput, seed: 1, optimizer, ...memoryBudget(counts),
              checkpoint: fileCheckpoint<TrainingCheckpoint>(join(dir, `${method}.ckpt`)), resume: true,
              onProgress: progressLine(method),
            };
            try {
              if (plan.method === 'pgd-at') await advTrain(trainee, source, { ...plan.options, ...loop });
              else if (plan.method === 'mpadvt') await mpAdvTrain(trainee, source, { ...plan.options, ...loop });
              else await maAdvTrain(trainee, source, { ...plan.options, ...loop });
            } finally {
              optimizer.dispose();
            }
            process.stderr.write('\n');
            await saveModel(trainee, join(dir, `model-${method}`));
          });
          const result = await evaluate(trainee, method);
          scoreRows(method, result);
          tf.dispose([result.clean, result.adv, result.labels, ...result.advImages]);
          await worstCase(method, trainee);
        } finally {
          release(trainee);
        }
      }
    } finally {
      tf.dispose(base);
    }
    console.table(rows);
    console.log(`\n${meter.records.map(formatStage).join('\n')}`);
    await writeFileAtomic(join(dir, 'results.json'), JSON.stringify({ experiment: e.id, preset: values.preset, backend: backend.name, images: seen, rows, analysis, defenses: defended, stages: meter.records }, null, 1));
    return 0;
  } finally {
    tf.dispose([meanT, stdT, ...built.keep]);
    built.net?.dispose();
    for (const v of built.variants) v.dispose();
  }
}

/**
 * The `memoryBudget` of every stage: `--memory-budget` (MiB) when given, otherwise what the backend can
 * still hold, when it is known. A step that does not fit fails with a MemoryBudgetError before it runs.
 */
function memoryBudget(counts: { 'memory-budget'?: number }): { memoryBudget?: number } {
  if (counts['memory-budget'] !== undefined) return { memoryBudget: counts['memory-budget'] * 2 ** 20 };
  const { availableBytes } = memoryStatus();
  return Number.isFinite(availableBytes) && availableBytes > 0 ? { memoryBudget: availableBytes } : {};
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
