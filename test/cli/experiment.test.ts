/**
 * The CLI's experiment end to end on a tiny config: every artifact is written, the plots are valid SVG
 * and PNG files of the expected size, report.md holds the expected tables, and an interrupted run
 * resumes without redoing finished work.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { resolveConfig } from '../../src/cli/config.js';
import { runExperiment } from '../../src/cli/experiment.js';
import { main } from '../../src/cli/main.js';
import { saveNpz } from '../../src/node/npzFiles.js';
import { createRng } from '../../src/internal/random.js';
import { AbortError, InvalidArgumentError } from '../../src/errors.js';

const root = mkdtempSync(join(tmpdir(), 'medrobust-cli-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const TINY = {
  name: 'tiny',
  seed: 3,
  backend: 'wasm',
  data: { size: 16, train: 96, validation: 32, test: 48 },
  model: { width: 0.25, epochs: 2, batchSize: 32, learningRate: 0.003 },
  attacks: { epsilons: [2, 8], pgdSteps: 3, gapMagnitudes: [8], gapEpochs: 1, evalBatch: 48 },
  analyses: { points: 40, perplexity: 10, tsneIterations: 260 },
  defenses: { methods: ['pgd-at', 'maadvt'], tasks: ['lesion'], epsilon: 4, steps: 2, epochs: 1, learningRate: 0.001, train: 64, evalEpsilons: [4] },
};

async function svgSize(file: string): Promise<[number, number]> {
  const text = readFileSync(file, 'utf8');
  expect(text.startsWith('<svg')).toBe(true);
  const meta = await sharp(Buffer.from(text)).metadata();
  return [meta.width!, meta.height!];
}

describe('medrobust run (tiny config)', () => {
  it('writes the report, results, tables, plots and figures', async () => {
    const configFile = join(root, 'tiny.json');
    writeFileSync(configFile, JSON.stringify(TINY));
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const code = await main(['run', '--config', configFile, '--out', root, '--quiet']);
    out.mockRestore();
    expect(code).toBe(0);
    const dir = join(root, 'tiny');
    for (const f of ['report.md', 'results.json', 'state.json', 'tables/attacks.csv', 'tables/defenses.csv', 'tables/discriminability-lesion.csv',
      'figures/lesion-example.png', 'figures/lesion-conv1-maps.png', 'figures/lesion-saliency.png', 'figures/chest-example.png',
      'models/lesion-clean/model.json', 'models/lesion-pgd-at/model.json', 'models/lesion-maadvt/model.json']) {
      expect(existsSync(join(dir, f)), f).toBe(true);
    }
    for (const plot of ['accuracy-vs-epsilon-lesion', 'auc-vs-epsilon-chest', 'defenses-lesion', 'tsne-lesion', 'cooccurrence-chest']) {
      const [w, h] = await svgSize(join(dir, 'plots', `${plot}.svg`));
      expect(w).toBeGreaterThan(200);
      expect(h).toBeGreaterThan(150);
      const png = await sharp(join(dir, 'plots', `${plot}.png`)).metadata();
      expect(png.format).toBe('png');
      // rendered at 144 dpi: twice the SVG's size
      expect(Math.abs(png.width! - 2 * w)).toBeLessThanOrEqual(2);
      expect(Math.abs(png.height! - 2 * h)).toBeLessThanOrEqual(2);
    }
    // Figures are enlarged (nearest neighbour) to readable panels: 16 px images become 176 px panels.
    const example = await sharp(join(dir, 'figures', 'lesion-example.png')).metadata();
    expect(example.width).toBeGreaterThan(3 * 168);
    expect(example.height).toBeGreaterThan(168);
    const maps = await sharp(join(dir, 'figures', 'lesion-conv1-maps.png')).metadata();
    expect(maps.height).toBeGreaterThan(2 * 84);
    const report = readFileSync(join(dir, 'report.md'), 'utf8');
    expect(report).toMatch(/## Attacks on the undefended lesion model\n\n\| attack \| epsilon \| accuracy \| auc \| foolingRate \| linf \|/);
    for (const row of [/\| none \| 0 \|/, /\| fgsm \| 2 \|/, /\| pgd \| 8 \|/, /\| gap \| 8 \|/, /\| pgd-at \| 4 \|/, /\| maadvt \| 0 \|/]) expect(report).toMatch(row);
    expect(report).toMatch(/Label co-occurrence/);
    // The chest example is the targeted "look healthy" attack, and it works: fewer predicted findings.
    expect(report).toMatch(/### An attacked example \(targeted PGD-3 "look healthy" \(target: no finding\), ε = 8\/255\)/);
    expect(report).toMatch(/Ground truth: (benign|malignant)\. Prediction on the clean image: \*\*(benign|malignant) [0-9.]+%\*\*; on the adversarial image: \*\*/);
    const results = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8'));
    const pgd8 = results.attacks.find((r: { task: string; attack: string; epsilon: number }) => r.task === 'lesion' && r.attack === 'pgd' && r.epsilon === 8);
    const clean = results.attacks.find((r: { task: string; attack: string }) => r.task === 'lesion' && r.attack === 'none');
    expect(pgd8.linf).toBeLessThanOrEqual(8 + 1e-3);
    // The tiny model barely learns (its accuracy may sit at the majority class); its ranking still collapses.
    expect(pgd8.accuracy).toBeLessThanOrEqual(clean.accuracy);
    expect(pgd8.auc).toBeLessThan(clean.auc - 0.2);
    const chest = results.analyses.find((a: { task: string }) => a.task === 'chest');
    expect(chest.example.attack).toMatch(/look healthy/);
    expect(chest.lookHealthy.meanFindingsAdversarial).toBeLessThan(chest.lookHealthy.meanFindingsClean);
    expect(chest.lookHealthy.clearedImages).toBeGreaterThan(0);
    const findings = (p: Record<string, number>) => Object.values(p).filter((v) => v > 0.5).length;
    expect(findings(chest.example.adversarial)).toBeLessThan(findings(chest.example.clean));
    // Each defense row at ε > 0 holds the worst case next to PGD: never above it (the ensemble starts with the row's PGD run).
    expect(report).toMatch(/\| defense \| epsilon \| accuracy \| auc \| worstCase \| gap \|/);
    for (const row of results.defenses.filter((r: { epsilon: number }) => r.epsilon > 0)) {
      expect(row.worstCase).toBeLessThanOrEqual(row.accuracy);
      expect(row.gap).toBeCloseTo(row.accuracy - row.worstCase, 12);
    }
    const csv = readFileSync(join(dir, 'tables', 'attacks.csv'), 'utf8').trim().split('\n');
    expect(csv[0]).toBe('task,attack,epsilon,linf,accuracy,auc,foolingRate');
    expect(csv).toHaveLength(1 + 2 * (1 + 2 * 2 + 1));
  });

  it('an interrupted run resumes: finished steps are not redone and training continues from its checkpoint', async () => {
    const config = resolveConfig({ ...TINY, name: 'resume', tasks: ['lesion'], model: { ...TINY.model, epochs: 3 } });
    const controller = new AbortController();
    let batches = 0;
    const onProgress = (step: string) => {
      if (step === 'train lesion batch' && ++batches === 4) controller.abort();
    };
    await expect(runExperiment(config, { out: root, signal: controller.signal, quiet: true, onProgress, stages: ['attack'] })).rejects.toBeInstanceOf(AbortError);
    expect(batches).toBe(4);
    const dir = join(root, 'resume');
    expect(existsSync(join(dir, 'checkpoints', 'lesion-clean.ckpt'))).toBe(true);
    expect(existsSync(join(dir, 'models', 'lesion-clean', 'model.json'))).toBe(false);
    await runExperiment(config, { out: root, signal: new AbortController().signal, quiet: true, stages: ['attack'] });
    const state = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8'));
    expect(state.stages['train.lesion'].value.resumedFrom).not.toBeNull();
    expect(state.stages['train.lesion'].resumed).toBe(true);
    expect(state.stages['attack.lesion'].value).toHaveLength(1 + 2 * 2 + 1);
    const second = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8'));
    // A third run finds everything done and rewrites the report from the recorded results, keeping
    // each stage's time from the run that computed it (not the near-zero time of loading it).
    const before = readFileSync(join(dir, 'state.json'), 'utf8');
    await runExperiment(config, { out: root, signal: new AbortController().signal, quiet: true, stages: ['attack'] });
    expect(readFileSync(join(dir, 'state.json'), 'utf8')).toBe(before);
    const third = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8'));
    expect(third.seconds).toEqual(second.seconds);
    expect(second.seconds['attack.lesion']).toBeGreaterThan(0.05);
    expect(third.timings.map((r: { computed: string }) => r.computed)).toEqual(['earlier run', 'earlier run']);
    expect(second.timings.map((r: { computed: string }) => r.computed)).toEqual(['this run (resumed)', 'this run']);
    expect(readFileSync(join(dir, 'report.md'), 'utf8')).toMatch(/\| train lesion \| [0-9.]+ \| wasm \| earlier run \|/);
  });

  it('runs a light reproduction on MedMNIST-format files (DermaMNIST and ChestMNIST made here)', async () => {
    const rng = createRng(5);
    const splits = { train: 64, val: 16, test: 32 } as const;
    const derma: Record<string, { dtype: 'uint8'; shape: number[]; data: Uint8Array }> = {};
    const chest: Record<string, { dtype: 'uint8'; shape: number[]; data: Uint8Array }> = {};
    for (const [split, n] of Object.entries(splits)) {
      // DermaMNIST: class k brightens a band of rows; ChestMNIST: finding k brightens a block.
      const dl = Uint8Array.from({ length: n }, (_, i) => i % 7);
      const di = new Uint8Array(n * 28 * 28 * 3).map(() => 60 + 40 * rng.next());
      dl.forEach((k, i) => { for (let p = k * 4 * 28 * 3; p < (k * 4 + 4) * 28 * 3; p++) di[i * 2352 + p] = 220; });
      derma[`${split}_images`] = { dtype: 'uint8', shape: [n, 28, 28, 3], data: di };
      derma[`${split}_labels`] = { dtype: 'uint8', shape: [n, 1], data: dl };
      const cl = Uint8Array.from({ length: n * 14 }, () => (rng.next() < 0.2 ? 1 : 0));
      const ci = new Uint8Array(n * 28 * 28).map(() => 80 + 30 * rng.next());
      for (let i = 0; i < n; i++) for (let k = 0; k < 14; k++) if (cl[i * 14 + k]) for (let p = 0; p < 28; p++) ci[i * 784 + (k * 2) * 28 + p] = 240;
      chest[`${split}_images`] = { dtype: 'uint8', shape: [n, 28, 28], data: ci };
      chest[`${split}_labels`] = { dtype: 'uint8', shape: [n, 14], data: cl };
    }
    await saveNpz(join(root, 'dermamnist.npz'), derma);
    await saveNpz(join(root, 'chestmnist.npz'), chest);
    const config = resolveConfig({ ...TINY, name: 'medmnist', data: { ...TINY.data, medmnist: { lesion: join(root, 'dermamnist.npz'), chest: join(root, 'chestmnist.npz') } }, defenses: { ...TINY.defenses, methods: ['pgd-at'] } });
    const report = await runExperiment(config, { out: root, signal: new AbortController().signal, quiet: true });
    const text = readFileSync(report, 'utf8');
    expect(text).toMatch(/MedMNIST/);
    const results = JSON.parse(readFileSync(join(root, 'medmnist', 'results.json'), 'utf8'));
    const cleanDerma = results.attacks.find((r: { task: string; attack: string }) => r.task === 'lesion' && r.attack === 'none');
    expect(cleanDerma.accuracy).toBeGreaterThanOrEqual(0);
    expect(results.analyses.find((a: { task: string }) => a.task === 'chest').cooccurrence.names).toHaveLength(14);
    expect(() => resolveConfig({ data: { medmnist: { lesion: 'derma.csv' } } })).toThrow(/config.data.medmnist.lesion must be the path of a MedMNIST .npz file/);
  });

  it('reproduce: names the experiments, and says where the data go when they are missing', async () => {
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const cerr = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    expect(await main(['reproduce', 'imagenet'])).toBe(2);
    expect(err.mock.calls.flat().join('')).toMatch(/experiment must be one of isic2016, messidor, chestxray14, received imagenet/);
    expect(await main(['reproduce', 'chestxray14', join(root, 'no-data')])).toBe(2);
    expect(cerr.mock.calls.flat().join('\n')).toMatch(/no-data\/images not found[\s\S]*labels\/test_list.txt/);
    err.mockRestore();
    cerr.mockRestore();
  });

  it('a rerun with a changed config is refused with the changes named; --redo-changed recomputes only what they affect; --fresh starts over', async () => {
    const base = { ...TINY, name: 'changed', tasks: ['lesion'], defenses: { ...TINY.defenses, methods: ['pgd-at'] } };
    const cfg = (name: string, value: object) => { const f = join(root, name); writeFileSync(f, JSON.stringify(value)); return f; };
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      expect(await main(['attack', '--config', cfg('a.json', base), '--out', root, '--quiet'])).toBe(0);
      const dir = join(root, 'changed');
      const first = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8'));
      const changed = { ...base, seed: 99, attacks: { ...base.attacks, epsilons: [1, 4] } };
      err.mockClear();
      expect(await main(['attack', '--config', cfg('b.json', changed), '--out', root, '--quiet'])).toBe(2);
      const message = err.mock.calls.flat().join('');
      expect(message.trimEnd().split('\n')).toHaveLength(1);
      expect(message).toMatch(/holds results of a different config \(seed 3 → 99; attacks.epsilons \[2,8\] → \[1,4\]\): rerun with --redo-changed .* --fresh/);
      // Nothing was touched by the refused run.
      expect(JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8'))).toEqual(first);
      // Only the attacks change: the trained model is kept, the attack rows are recomputed.
      const onlyAttacks = { ...base, attacks: { ...base.attacks, epsilons: [1, 4] } };
      expect(await main(['attack', '--config', cfg('c.json', onlyAttacks), '--out', root, '--quiet', '--redo-changed'])).toBe(0);
      const redone = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8'));
      expect(redone.config.attacks.epsilons).toEqual([1, 4]);
      expect([...new Set(redone.attacks.filter((r: { attack: string }) => r.attack !== 'gap').map((r: { epsilon: number }) => r.epsilon))]).toEqual([0, 1, 4]);
      expect(redone.timings.map((r: { step: string; computed: string }) => `${r.step}: ${r.computed}`)).toEqual(['train.lesion: earlier run', 'attack.lesion: this run']);
      expect(redone.seconds['train.lesion']).toBe(first.seconds['train.lesion']);
      expect(redone.attacks.find((r: { attack: string }) => r.attack === 'none')).toEqual(first.attacks.find((r: { attack: string }) => r.attack === 'none'));
      // --fresh recomputes everything with the new seed.
      expect(await main(['attack', '--config', cfg('d.json', changed), '--out', root, '--quiet', '--fresh'])).toBe(0);
      const fresh = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8'));
      expect(fresh.config.seed).toBe(99);
      expect(fresh.timings.every((r: { computed: string }) => r.computed === 'this run')).toBe(true);
    } finally {
      err.mockRestore();
      out.mockRestore();
    }
  });

  it('rejects a misspelt config key and bad values with typed errors', () => {
    expect(() => resolveConfig({ atacks: {} })).toThrow(/config: config.atacks must be one of the known options .*did you mean 'attacks'/);
    expect(() => resolveConfig({ attacks: { epsilons: [] } })).toThrow(InvalidArgumentError);
    expect(() => resolveConfig({ defenses: { methods: ['madry'] } })).toThrow(/config.defenses.methods\[0\] must be one of 'pgd-at', 'mpadvt', 'maadvt', 'trades'/);
    expect(() => resolveConfig({ name: '../escape' })).toThrow(/folder-safe name/);
  });
});
