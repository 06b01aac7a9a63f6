/**
 * The `run` pipeline's defend stage trains MPAdvT and MAAdvT with the corrected paper presets of the
 * task's data set (issue 14, item 3): the evaluated pixel budget, the presets' schedules, β = 8 on
 * Messidor-like data and 6 elsewhere; the config keeps the optimizer, learning rate and epochs.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { resolveConfig } from '../../src/cli/config.js';
import { runExperiment } from '../../src/cli/experiment.js';
import { defenseThreat, presetDataset } from '../../src/cli/stages/defend.js';

const calls = vi.hoisted(() => [] as { method: string; options: Record<string, unknown> }[]);
vi.mock('../../src/defenses/mpAdvTrain.js', async (importOriginal) => {
  const mod = await importOriginal<typeof import('../../src/defenses/mpAdvTrain.js')>();
  const mpAdvTrain: typeof mod.mpAdvTrain = async (model, data, options) => {
    calls.push({ method: 'mpadvt', options: { ...options } as Record<string, unknown> });
    return mod.mpAdvTrain(model, data, options);
  };
  return { ...mod, mpAdvTrain };
});
vi.mock('../../src/defenses/maAdvTrain.js', async (importOriginal) => {
  const mod = await importOriginal<typeof import('../../src/defenses/maAdvTrain.js')>();
  const maAdvTrain: typeof mod.maAdvTrain = async (model, data, options) => {
    calls.push({ method: 'maadvt', options: { ...options } as Record<string, unknown> });
    return mod.maAdvTrain(model, data, options);
  };
  return { ...mod, maAdvTrain };
});

const root = mkdtempSync(join(tmpdir(), 'medrobust-defend-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('run: the defend stage uses the paper presets', () => {
  it('maps tasks to the paper data sets (RetinaMNIST in the lesion slot is Messidor-like)', () => {
    const config = resolveConfig({});
    expect(presetDataset('lesion', config)).toBe('isic2016');
    expect(presetDataset('chest', config)).toBe('chestXray14');
    expect(presetDataset('lesion', resolveConfig({ data: { medmnist: { lesion: '/data/retinamnist.npz' } } }))).toBe('messidor');
  });

  it('gives each defense the corrected preset\'s adversary at the pixel budget', () => {
    const eps = 4 / 255;
    expect(defenseThreat('mpadvt', 'isic2016', eps, 3)).toEqual({
      epsilon: [eps / 2, 2 * eps], stepSize: 1 / 255, steps: [1, 9], cleanProbability: 0.5, randomStart: true,
      channelScale: [1, 1, 1], clip: [0, 1], paperQuirks: false,
    });
    expect(defenseThreat('maadvt', 'messidor', eps, 3)).toMatchObject({ epsilon: eps, stepSize: eps / 4, steps: [1, 9], beta: 8, startStd: 0.001, paperQuirks: false });
    expect(defenseThreat('maadvt', 'isic2016', eps, 3)).toMatchObject({ beta: 6, steps: 4 });
    expect(defenseThreat('maadvt', 'chestXray14', eps, 1)).toMatchObject({ beta: 6, steps: 10, channelScale: [1], clip: [0, 1] });
  });

  it('trains MPAdvT and MAAdvT with those options in a run', async () => {
    const config = resolveConfig({
      name: 'defend', seed: 5, backend: 'wasm', tasks: ['lesion'],
      data: { size: 16, train: 48, validation: 16, test: 16 },
      model: { width: 0.25, epochs: 1, batchSize: 16 },
      attacks: { epsilons: [2], pgdSteps: 1, gapMagnitudes: [], evalBatch: 16 },
      analyses: { points: 8, perplexity: 3, tsneIterations: 250 },
      defenses: { methods: ['mpadvt', 'maadvt'], tasks: ['lesion'], epsilon: 4, steps: 2, epochs: 1, learningRate: 0.001, train: 32, evalEpsilons: [4] },
    });
    calls.length = 0;
    await runExperiment(config, { out: root, signal: new AbortController().signal, quiet: true, stages: ['defend'] });
    expect(calls.map((c) => c.method)).toEqual(['mpadvt', 'maadvt']);
    const [mp, ma] = calls.map((c) => c.options);
    expect(mp).toMatchObject({ ...defenseThreat('mpadvt', 'isic2016', 4 / 255, 3), epochs: 1 });
    expect(ma).toMatchObject({ ...defenseThreat('maadvt', 'isic2016', 4 / 255, 3), epochs: 1 });
    // Before: MPAdvT drew ε ~ U(ε/4, ε) with T ≤ the config's steps, MAAdvT took the config's T.
    expect(mp!.epsilon).toEqual([2 / 255, 8 / 255]);
    expect(ma!.steps).toBe(4);
  }, 120_000);
});
