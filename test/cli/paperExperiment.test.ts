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

const root = mkdtempSync(join(tmpdir(), 'medrobust-paper-'));
const out = join(root, 'runs');

const tiny: PaperExperiment = {
  id: 'tiny', title: 'tiny ISIC-like', task: 'single-label',
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
});
