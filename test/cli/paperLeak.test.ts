/**
 * Issue 13: `reproduce --preset paper` frees every tensor it makes, on cpu and wasm, also when every stage
 * runs in chunks and micro-batches, and when GAP uses the authors' U-Net (the paper resolutions pick it).
 * The paper-scale runs (test/cli/paperSmoke.test.ts, slow) left 12 tensors: the shared batch norms of
 * that generator (gapUnet's dispose, test/attacks/gapGenerators.test.ts). These runs take seconds.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { runPaperExperiment, type PaperExperiment } from '../../src/cli/paper/experiment.js';
import { smallCnn } from '../../src/models/smallCnn.js';
import { smallResNet } from '../../src/models/smallResNet.js';
import { imageFolder } from '../../src/node/images.js';
import { BACKENDS, useTestBackend } from '../helpers/backends.js';

// The micro-batch each training run chose, and the generator presets GAP built (at ngf 2: the authors'
// 224 px U-Net at ngf 64 would take minutes here; its structure, shared norms included, is the same).
const seen = vi.hoisted(() => ({ microBatches: [] as { fn: string; microBatch: number | null }[], generators: [] as string[] }));
vi.mock('../../src/attacks/gapGenerators.js', async (importOriginal) => {
  const mod = await importOriginal<typeof import('../../src/attacks/gapGenerators.js')>();
  const gapUnet: typeof mod.gapUnet = (options) => {
    seen.generators.push(options.preset ?? 'isic');
    return mod.gapUnet({ ...options, ngf: 2 });
  };
  return { ...mod, gapUnet };
});
vi.mock('../../src/defenses/advTrain.js', async (importOriginal) => {
  const mod = await importOriginal<typeof import('../../src/defenses/advTrain.js')>();
  return { ...mod, advTrain: (async (...a: Parameters<typeof mod.advTrain>) => { const r = await mod.advTrain(...a); seen.microBatches.push({ fn: 'advTrain', microBatch: r.microBatch }); return r; }) as typeof mod.advTrain };
});
vi.mock('../../src/defenses/mpAdvTrain.js', async (importOriginal) => {
  const mod = await importOriginal<typeof import('../../src/defenses/mpAdvTrain.js')>();
  return { ...mod, mpAdvTrain: (async (...a: Parameters<typeof mod.mpAdvTrain>) => { const r = await mod.mpAdvTrain(...a); seen.microBatches.push({ fn: 'mpAdvTrain', microBatch: r.microBatch }); return r; }) as typeof mod.mpAdvTrain };
});
vi.mock('../../src/defenses/maAdvTrain.js', async (importOriginal) => {
  const mod = await importOriginal<typeof import('../../src/defenses/maAdvTrain.js')>();
  return { ...mod, maAdvTrain: (async (...a: Parameters<typeof mod.maAdvTrain>) => { const r = await mod.maAdvTrain(...a); seen.microBatches.push({ fn: 'maAdvTrain', microBatch: r.microBatch }); return r; }) as typeof mod.maAdvTrain };
});

const root = mkdtempSync(join(tmpdir(), 'medrobust-paperleak-'));

// A net whose largest weight is small next to its activations (global average pooling, no wide dense
// layer), so that a 1 MiB budget holds the optimizer's update and splits the batches; or smallCnn.
const net = (side: number, width: number, seed: number) => (width === 0
  ? smallResNet({ inputShape: [side, side, 3], classes: 4, stages: [4, 8, 16], blocksPerStage: 1, seed })
  : smallCnn({ inputShape: [side, side, 3], classes: 4, width, seed }));

const experiment = (side: number, width: number): PaperExperiment => ({
  id: `leak${side}`, title: 'tiny Messidor-like', task: 'single-label', dataset: 'messidor',
  preset: { test: { resize: side }, train: { resize: side, horizontalFlip: true }, normalization: { mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] } },
  howToGetData: 'class folders under <data-root>/Train and <data-root>/Test',
  async load(dataRoot) { return { train: await imageFolder(join(dataRoot, 'Train')), test: await imageFolder(join(dataRoot, 'Test')) }; },
  build: () => net(side, width, 1),
  buildFor: () => net(side, width, 9),
  inputShape: [side, side, 3], logitsOutput: 0,
  pgd: { epsilon: 8, stepSize: 2, steps: 2 },
  gap: { magnitude: 3, epochs: 10, batchSize: 8, maxBatches: 101, augment: true, testBatchSize: 2 },
  aucVariant: 'micro-sigmoid', threshold: 0.5,
});

/** Runs `reproduce` muted; returns its exit code, the tensors it left and what it wrote to stderr. */
async function reproduce(e: PaperExperiment, argv: string[]): Promise<{ code: number; left: number; stderr: string }> {
  const quiet = (['log', 'table', 'warn'] as const).map((m) => vi.spyOn(console, m).mockImplementation(() => undefined));
  const written: string[] = [];
  const stderr = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => { written.push(String(chunk)); return true; });
  const before = tf.memory().numTensors;
  try {
    const code = await runPaperExperiment(e, [join(root, 'data'), ...argv]);
    return { code, left: tf.memory().numTensors - before, stderr: written.join('') };
  } finally {
    [...quiet, stderr].forEach((s) => s.mockRestore());
  }
}

describe.each(BACKENDS)('reproduce --preset paper frees every tensor on %s', (backend) => {
  beforeAll(async () => {
    await useTestBackend(backend);
    for (const split of ['Train', 'Test']) {
      for (let k = 0; k < 4; k++) {
        await mkdir(join(root, 'data', split, `${k}`), { recursive: true });
        for (let i = 0; i < 2; i++) {
          const px = Buffer.alloc(20 * 24 * 3, 40 + 50 * k + 5 * i);
          await writeFile(join(root, 'data', split, `${k}`, `${i}.png`), await sharp(px, { raw: { width: 24, height: 20, channels: 3 } }).png().toBuffer());
        }
      }
    }
  });
  afterAll(() => rmSync(join(root, `out-${backend}`), { recursive: true, force: true }));

  it('every stage of the slow smoke run, with --memory-budget 1 splitting training, PGD, GAP and the defenses into chunks and micro-batches', async () => {
    seen.microBatches.length = 0;
    const { code, left, stderr } = await reproduce(experiment(48, 0), [
      '--preset', 'paper', '--memory-budget', '1', '--train-epochs', '1', '--limit', '8', '--analyze', '--gap', '--gap-epochs', '1', '--gap-batches', '1',
      '--defend', 'mpadvt,maadvt', '--defend-batches', '1', '--worst-case', 'off', '--out', join(root, `out-${backend}`),
    ]);
    expect(code).toBe(0);
    expect(left).toBe(0);
    // The budget split the batches (8 images; MAAdvT's paper batch is 2) into micro-batches.
    expect(seen.microBatches.map((r) => r.fn)).toEqual(['advTrain', 'mpAdvTrain', 'maAdvTrain']);
    for (const r of seen.microBatches) expect(r.microBatch).toBeLessThan(r.fn === 'maAdvTrain' ? 2 : 8);
    // Progress lines: a batch count the folder source cannot know shows as '?', never as NaN (GAP printed 1/NaN).
    expect(stderr).toMatch(/\rtrain batch 1\/\?/);
    expect(stderr).toMatch(/\rGAP step 1\/\?/);
    expect(stderr).not.toMatch(/NaN/);
  }, 60_000);

  it('GAP at 224 px with the authors\' U-Net (shared batch norms): the generator is freed', async () => {
    seen.generators.length = 0;
    const { code, left } = await reproduce(experiment(224, 0.125), ['--preset', 'paper', '--limit', '2', '--gap', '--gap-epochs', '1', '--gap-batches', '1', '--worst-case', 'off', '--out', join(root, `out-${backend}`)]);
    expect(code).toBe(0);
    expect(seen.generators).toEqual(['isic']);
    expect(left).toBe(0);
  }, 60_000);
});
