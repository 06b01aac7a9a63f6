/**
 * The paper-experiment runner end to end on a tiny class-folder data set made here (PNG files), with a
 * small network in place of AttnVGG: data check, preprocessing, both presets, PGD and GAP, results file.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { runPaperExperiment, type PaperExperiment } from '../../src/cli/paper/experiment.js';
import { UsageError } from '../../src/cli/usageError.js';
import { smallCnn } from '../../src/models/smallCnn.js';
import { chestXray14, imageFolder } from '../../src/node/images.js';
import { useTestBackend } from '../helpers/backends.js';

// What trainGap receives: its options and the value range of every batch (the runner imports it via src/index).
const gapCalls = vi.hoisted(() => [] as { options: Record<string, unknown>; ranges: [number, number][] }[]);
vi.mock('../../src/attacks/trainGap.js', async (importOriginal) => {
  const mod = await importOriginal<typeof import('../../src/attacks/trainGap.js')>();
  const trainGap: typeof mod.trainGap = async (model, generator, data, options) => {
    const call = { options: { ...options } as Record<string, unknown>, ranges: [] as [number, number][] };
    gapCalls.push(call);
    const peek = { async *[Symbol.asyncIterator]() {
      for await (const b of data as AsyncIterable<{ images: tf.Tensor4D }>) {
        call.ranges.push([tf.min(b.images).dataSync()[0]!, tf.max(b.images).dataSync()[0]!]);
        yield b;
      }
    } };
    return mod.trainGap(model, generator, peek as never, options);
  };
  return { ...mod, trainGap };
});
// What each defense receives (issue 14, item 3: the CLI's --defend uses the paper presets).
const defenseCalls = vi.hoisted(() => [] as { method: string; options: Record<string, unknown> }[]);
vi.mock('../../src/defenses/mpAdvTrain.js', async (importOriginal) => {
  const mod = await importOriginal<typeof import('../../src/defenses/mpAdvTrain.js')>();
  const mpAdvTrain: typeof mod.mpAdvTrain = async (model, data, options) => {
    defenseCalls.push({ method: 'mpadvt', options: { ...options } as Record<string, unknown> });
    return mod.mpAdvTrain(model, data, options);
  };
  return { ...mod, mpAdvTrain };
});
vi.mock('../../src/defenses/maAdvTrain.js', async (importOriginal) => {
  const mod = await importOriginal<typeof import('../../src/defenses/maAdvTrain.js')>();
  const maAdvTrain: typeof mod.maAdvTrain = async (model, data, options) => {
    defenseCalls.push({ method: 'maadvt', options: { ...options } as Record<string, unknown> });
    return mod.maAdvTrain(model, data, options);
  };
  return { ...mod, maAdvTrain };
});
vi.mock('../../src/defenses/advTrain.js', async (importOriginal) => {
  const mod = await importOriginal<typeof import('../../src/defenses/advTrain.js')>();
  const advTrain: typeof mod.advTrain = async (model, data, options) => {
    defenseCalls.push({ method: 'pgd-at', options: { ...options } as Record<string, unknown> });
    return mod.advTrain(model, data, options);
  };
  return { ...mod, advTrain };
});

const root = mkdtempSync(join(tmpdir(), 'medrobust-paper-'));
const out = join(root, 'runs');

const tiny: PaperExperiment = {
  id: 'tiny', title: 'tiny ISIC-like', task: 'single-label', dataset: 'isic2016',
  preset: { test: { resize: 16 }, train: { resize: 16, horizontalFlip: true }, normalization: { mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] } },
  howToGetData: 'put class folders under <data-root>/Train and <data-root>/Test',
  async load(dataRoot) {
    try {
      return { train: await imageFolder(join(dataRoot, 'Train')), test: await imageFolder(join(dataRoot, 'Test')) };
    } catch {
      return { missing: join(dataRoot, 'Train') };
    }
  },
  build: () => smallCnn({ inputShape: [16, 16, 3], classes: 2, width: 0.25, seed: 1 }),
  buildFor: () => smallCnn({ inputShape: [16, 16, 3], classes: 2, width: 0.25, seed: 9 }),
  inputShape: [16, 16, 3], logitsOutput: 0,
  pgd: { epsilon: 8, stepSize: 2, steps: 3 },
  gap: { magnitude: 8, epochs: 2, batchSize: 4, maxBatches: 101, testBatchSize: 3 },
  aucVariant: 'hard-label', threshold: 0.5,
};

describe('paper experiment runner', () => {
  beforeAll(async () => {
    await useTestBackend('wasm');
    for (const split of ['Train', 'Test']) {
      for (const [k, name] of ['benign', 'malignant'].entries()) {
        await mkdir(join(root, 'data', split, name), { recursive: true });
        for (let i = 0; i < 4; i++) {
          const px = Buffer.alloc(20 * 24 * 3, k === 0 ? 60 + 10 * i : 190 - 10 * i);
          await writeFile(join(root, 'data', split, name, `${i}.png`), await sharp(px, { raw: { width: 24, height: 20, channels: 3 } }).png().toBuffer());
        }
      }
    }
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('analyses and a defense: discriminability of penultimate features, then MAAdvT fine-tuning re-evaluated', async () => {
    const log = vi.spyOn(console, 'table').mockImplementation(() => undefined);
    const code = await runPaperExperiment(tiny, [join(root, 'data'), '--train-epochs', '2', '--analyze', '--defend', 'maadvt', '--defend-epochs', '2', '--out', out, '--limit', '8']);
    expect(code).toBe(0);
    const results = JSON.parse(readFileSync(join(out, 'tiny-corrected', 'results.json'), 'utf8'));
    expect(results.rows.map((r: { model: string }) => r.model)).toEqual(['undefended', 'undefended', 'undefended', 'maadvt', 'maadvt', 'maadvt']);
    // The worst case next to PGD for each model: PGD-10 first, so never above PGD-10 (2 classes: APGD on the margin loss).
    for (const r of results.rows.filter((row: { attack: string }) => row.attack.startsWith('worst case'))) {
      expect(r.attack).toBe('worst case (pgd-10 + apgd-ce + apgd-margin)');
      expect(r.worstCaseAccuracy).toBeLessThanOrEqual(r.pgd10Accuracy);
      expect(r.gap).toBeCloseTo(r.pgd10Accuracy - r.worstCaseAccuracy, 12);
    }
    const d = results.analysis.discriminability;
    expect(d.clean.n).toBe(8);
    expect(Number.isFinite(d.clean.fisherRatio)).toBe(true);
    // an unknown defense or worst-case version is refused up front, before any data is read (the CLI prints it as one line, exit 2)
    await expect(runPaperExperiment(tiny, [join(root, 'data'), '--defend', 'madry'])).rejects.toThrow(/--defend must be pgd-at, mpadvt or maadvt, received 'madry'/);
    await expect(runPaperExperiment(tiny, [join(root, 'data'), '--worst-case', 'full'])).rejects.toThrow(/--worst-case must be cheap, standard or off, received 'full'/);
    await expect(runPaperExperiment(tiny, [join(root, 'data'), '--defend', 'mpadvt,'])).rejects.toThrow(/--defend must be/);
    log.mockRestore();
  });

  it('multi-label: the paper\'s label co-occurrence of the ground truth, and of clean and PGD predictions', async () => {
    const dataRoot = join(root, 'chest');
    await mkdir(join(dataRoot, 'images'), { recursive: true });
    const lines: string[] = [];
    for (let i = 0; i < 8; i++) {
      const labels = [i % 2, (i >> 1) % 2, i % 3 === 0 ? 1 : 0];
      const px = Buffer.alloc(16 * 16 * 3, 50 + 60 * labels[0]! + 40 * labels[1]!);
      await writeFile(join(dataRoot, 'images', `${i}.png`), await sharp(px, { raw: { width: 16, height: 16, channels: 3 } }).png().toBuffer());
      lines.push(`${i}.png ${[...labels, ...new Array(11).fill(0)].join(' ')}`);
    }
    await writeFile(join(dataRoot, 'list.txt'), `${lines.join('\n')}\n`);
    const chest: PaperExperiment = {
      ...tiny, id: 'tinychest', task: 'multi-label', aucVariant: 'mean-per-class', threshold: 0.5,
      load: async (r) => ({ train: await chestXray14(join(r, 'list.txt'), join(r, 'images')), test: await chestXray14(join(r, 'list.txt'), join(r, 'images')) }),
      build: () => smallCnn({ inputShape: [16, 16, 3], classes: 14, width: 0.25, seed: 1 }),
    };
    const log = vi.spyOn(console, 'table').mockImplementation(() => undefined);
    expect(await runPaperExperiment(chest, [dataRoot, '--train-epochs', '2', '--analyze', '--out', out, '--limit', '8'])).toBe(0);
    log.mockRestore();
    const results = JSON.parse(readFileSync(join(out, 'tinychest-corrected', 'results.json'), 'utf8'));
    // Ground truth: label 0 in images 1,3,5,7; label 1 in 2,3,6,7; label 2 in 0,3,6. Only-label counts: 1,5 → 0; 2 → 1; 0 → 2.
    const truth = results.analysis.cooccurrence.truth as number[][];
    expect(truth.slice(0, 3).map((row) => row.slice(0, 3))).toEqual([[2, 2, 1], [2, 1, 2], [1, 2, 1]]);
    expect(truth.flat().reduce((a, b) => a + b, 0)).toBe(2 + 2 + 1 + 2 + 1 + 2 + 1 + 2 + 1);
    expect(results.analysis.cooccurrence.adversarial).toHaveLength(14);
  });

  it('prints where to put missing data and exits with 2', async () => {
    const err = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    expect(await runPaperExperiment(tiny, [join(root, 'nothing')])).toBe(2);
    expect(err.mock.calls.flat().join('\n')).toMatch(/not found[\s\S]*put class folders/);
    err.mockRestore();
  });

  it.each(['corrected', 'paper'])('runs the %s preset with PGD and GAP and writes results.json', async (preset) => {
    const log = vi.spyOn(console, 'table').mockImplementation(() => undefined);
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    gapCalls.length = 0;
    const code = await runPaperExperiment(tiny, [join(root, 'data'), '--preset', preset, '--train-epochs', '2', '--gap', '--out', out, '--limit', '8']);
    expect(code).toBe(0);
    const results = JSON.parse(readFileSync(join(out, `tiny-${preset}`, 'results.json'), 'utf8'));
    expect(results.images).toBe(8);
    expect(results.rows.map((r: { model: string; attack: string }) => `${r.model}/${r.attack}`)).toEqual(['undefended/none', 'undefended/PGD ε=8/255 α=2/255 T=3', 'undefended/worst case (pgd-10 + apgd-ce + apgd-margin)', 'undefended/GAP m=8']);
    for (const r of results.rows) {
      expect(r.accuracy).toBeGreaterThanOrEqual(0);
      expect(r.accuracy).toBeLessThanOrEqual(1);
    }
    // The generator trains on what the network sees (issue 14, item 1): pixels in [0, 1] for the corrected
    // preset, normalised tensors (pixels 60/255…190/255 → (p − 0.5)/0.25 ∈ [−1.06, 0.98]) for the paper preset.
    expect(gapCalls).toHaveLength(1);
    const { options, ranges } = gapCalls[0]!;
    const lo = Math.min(...ranges.map((r) => r[0]));
    const hi = Math.max(...ranges.map((r) => r[1]));
    if (preset === 'paper') {
      expect(lo).toBeCloseTo((60 / 255 - 0.5) / 0.25, 2);
      expect(hi).toBeCloseTo((190 / 255 - 0.5) / 0.25, 2);
      expect(options).toMatchObject({ mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25], center: 'mean', clip: 'batch-per-channel', gradient: 'paper', keep: 'lowest-accuracy', maxBatchesPerEpoch: 101 });
    } else {
      expect(lo).toBeCloseTo(60 / 255, 2);
      expect(hi).toBeCloseTo(190 / 255, 2);
      expect(options.gradient).toBeUndefined();
      expect(options.mean).toBeUndefined();
    }
    log.mockRestore();
    warn.mockRestore();
  });

  // Issue 14, item 3: --defend runs the library's paper presets, not ad-hoc settings.
  const uneven = { mean: [0.7, 0.55, 0.5], std: [0.15, 0.2, 0.24] };
  it('--preset paper --defend mpadvt,maadvt: the authors\' settings (MPAdvT ε ~ U(0.01, 0.04), α = 1/255; MAAdvT β = 8 on Messidor)', async () => {
    const messidorLike: PaperExperiment = { ...tiny, id: 'tinymessidor', dataset: 'messidor' };
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    const table = vi.spyOn(console, 'table').mockImplementation(() => undefined);
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    defenseCalls.length = 0;
    const code = await runPaperExperiment(messidorLike, [join(root, 'data'), '--preset', 'paper', '--defend', 'mpadvt,maadvt', '--defend-batches', '1', '--out', out, '--limit', '4']);
    const printed = log.mock.calls.flat().join('\n');
    log.mockRestore(); table.mockRestore(); warn.mockRestore();
    expect(code).toBe(0);
    expect(defenseCalls.map((c) => c.method)).toEqual(['mpadvt', 'maadvt']);
    const [mp, ma] = defenseCalls.map((c) => c.options);
    expect(mp).toMatchObject({ epsilon: [0.01, 0.04], stepSize: 1 / 255, steps: [1, 9], cleanProbability: 0.5, clip: 'batch', paperQuirks: true, l1: 0.01, weightDecay: 1e-3, epochs: 1 });
    expect(mp!.channelScale).toBeUndefined();
    expect(ma).toMatchObject({ beta: 8, epsilon: 4 / 255, stepSize: 0.007, steps: [1, 9], clip: [0, 1], paperQuirks: true, weightDecay: 1e-3 });
    const results = JSON.parse(readFileSync(join(out, 'tinymessidor-paper', 'results.json'), 'utf8'));
    // clean, PGD and the worst case (default --worst-case cheap) of each model
    expect(results.rows.map((r: { model: string }) => r.model)).toEqual(['undefended', 'undefended', 'undefended', 'mpadvt', 'mpadvt', 'mpadvt', 'maadvt', 'maadvt', 'maadvt']);
    expect(results.defenses.maadvt).toMatchObject({ variant: 'paper', batchSize: 2 });
    expect(results.defenses.mpadvt).toMatchObject({ variant: 'paper', batchSize: 16 });
    // Time and peak memory per stage, printed and kept.
    const stages = results.stages.map((r: { stage: string }) => r.stage);
    expect(stages).toEqual(['build', 'undefended clean evaluation', 'undefended PGD', 'undefended worst case', 'mpadvt training', 'mpadvt clean evaluation', 'mpadvt PGD', 'mpadvt worst case', 'maadvt training', 'maadvt clean evaluation', 'maadvt PGD', 'maadvt worst case']);
    for (const r of results.stages) {
      expect(r.seconds).toBeGreaterThanOrEqual(0);
      expect(r.peakRssMiB).toBeGreaterThan(0);
      expect(r.heapMiB).toBeGreaterThan(0);
    }
    expect(printed).toMatch(/stage maadvt training: [\d.]+ s, peak RSS \d+ MiB, wasm heap \d+ MiB \(tensors peak \d+ MiB\)/);
  });

  it('--preset paper: MAAdvT is β = 6 on ISIC and falls back to the corrected preset on ChestX-ray14 (no code of theirs)', async () => {
    const { paperDefensePlan } = await import('../../src/cli/paper/defense.js');
    const n = { mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] };
    const isic = paperDefensePlan('maadvt', { dataset: 'isic2016', preset: 'paper', epsilon: 2 / 255, normalization: n });
    expect(isic.options).toMatchObject({ beta: 6, epsilon: 0.031, steps: 4, paperQuirks: true });
    const chest = paperDefensePlan('maadvt', { dataset: 'chestXray14', preset: 'paper', epsilon: 10 / 255, normalization: n });
    expect(chest.variant).toBe('corrected');
    expect(chest.options).toMatchObject({ beta: 6, epsilon: 10 / 255, task: 'multi-label' });
    expect(chest.notes[0]).toMatch(/no MAAdvT for ChestX-ray14/);
    const pgdAt = paperDefensePlan('pgd-at', { dataset: 'isic2016', preset: 'paper', epsilon: 2 / 255, normalization: n });
    expect(pgdAt.options).toMatchObject({ epsilon: 4 / 255, steps: 4, stepSize: 1 / 255, clip: 'batch' });
  });

  it('--preset corrected --defend: the evaluated pixel budget on every channel (ε/σ_c), never up to σ_max/σ_min × ε', async () => {
    const skewed: PaperExperiment = { ...tiny, id: 'tinyskewed', preset: { ...tiny.preset, normalization: uneven } };
    const table = vi.spyOn(console, 'table').mockImplementation(() => undefined);
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    defenseCalls.length = 0;
    const code = await runPaperExperiment(skewed, [join(root, 'data'), '--defend', 'mpadvt,maadvt,pgd-at', '--defend-batches', '1', '--out', out, '--limit', '4']);
    table.mockRestore(); log.mockRestore(); warn.mockRestore();
    expect(code).toBe(0);
    const byMethod = Object.fromEntries(defenseCalls.map((c) => [c.method, c.options]));
    const eps = 8 / 255;
    const { mean, std } = uneven;
    const validRange = { min: mean.map((m, c) => -m / std[c]!), max: mean.map((m, c) => (1 - m) / std[c]!) };
    // MPAdvT: ε ~ U(ε/2, 2ε) in pixels on every channel: the largest pixel budget of channel c is
    // 2ε·channelScale_c·σ_c = 2ε exactly (the old ε/min σ gave 2ε·σ_c/σ_min: 3.2ε on the last channel).
    const mp = byMethod.mpadvt!;
    expect(mp.epsilon).toEqual([eps / 2, 2 * eps]);
    expect(mp.stepSize).toBeCloseTo(1 / 255, 12);
    for (let c = 0; c < 3; c++) expect((mp.epsilon as number[])[1]! * (mp.channelScale as number[])[c]! * std[c]!).toBeCloseTo(2 * eps, 12);
    expect(mp.clip).toEqual(validRange);
    expect(mp.paperQuirks).toBe(false);
    const ma = byMethod.maadvt!;
    expect(ma).toMatchObject({ epsilon: eps, beta: 6, steps: 4, paperQuirks: false });
    for (let c = 0; c < 3; c++) expect(eps * (ma.channelScale as number[])[c]! * std[c]!).toBeCloseTo(eps, 12);
    expect(ma.clip).toEqual(validRange);

    // PGD-AT: its generator attacks in pixels; the perturbation of every channel stays within ε and uses it.
    const generator = byMethod['pgd-at']!.generator as (m: (x: tf.Tensor4D) => tf.Tensor2D, x: tf.Tensor4D, y: tf.Tensor, seed: number) => tf.Tensor4D;
    const w = tf.randomNormal([16 * 16 * 3, 2], 0, 1, 'float32', 5);
    const model = (x: tf.Tensor4D) => tf.matMul(tf.reshape(x, [x.shape[0], -1]), w) as tf.Tensor2D;
    const pixels = tf.randomUniform([3, 16, 16, 3], 0.1, 0.9, 'float32', 6) as tf.Tensor4D;
    const m = tf.tensor4d(mean, [1, 1, 1, 3]);
    const s = tf.tensor4d(std, [1, 1, 1, 3]);
    const x = tf.div(tf.sub(pixels, m), s) as tf.Tensor4D;
    const adv = generator(model, x, tf.tensor1d([0, 1, 0], 'int32'), 7);
    const perChannel = tf.max(tf.abs(tf.sub(tf.add(tf.mul(adv, s), m), pixels)), [0, 1, 2]).arraySync() as number[];
    for (const d of perChannel) {
      expect(d).toBeLessThanOrEqual(eps + 1e-5);
      expect(d).toBeGreaterThan(eps / 2);
    }
    tf.dispose([w, pixels, m, s, x, adv]);
  });
});
