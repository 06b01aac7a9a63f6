/**
 * The CLI's config: every value that the pipeline would accept and then fail on (after minutes of
 * training) is rejected up front with its JSON path; config hashes per stage change exactly when the
 * stage's inputs change.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { configChanges, DEMO_CONFIG, experimentPart, hashOf, QUICK_DEMO_CONFIG, resolveConfig, stageInputs } from '../../src/cli/config.js';
import { stageHash } from '../../src/cli/experiment.js';
import { InvalidArgumentError } from '../../src/errors.js';

describe('resolveConfig', () => {
  it.each([
    // Each of these used to pass the config check and fail later (or silently run something else).
    [{ model: { epochs: 2.5 } }, 'config.model.epochs', 'a finite integer >= 1'],
    [{ attacks: { evalBatch: 0.5 } }, 'config.attacks.evalBatch', 'a finite integer >= 1'],
    [{ data: { size: 3 } }, 'config.data.size', 'a finite integer >= 16 and <= 256'],
    [{ data: { size: 300 } }, 'config.data.size', '<= 256'],
    [{ model: { width: 1e-9 } }, 'config.model.width', '>= 0.03125'],
    [{ analyses: { points: 1 } }, 'config.analyses.points', '>= 6'],
    [{ analyses: { points: 5 } }, 'config.analyses.points', '>= 6'],
    [{ data: { test: 2 } }, 'config.data.test', '>= 6'],
    [{ attacks: { gapMagnitudes: [300] } }, 'config.attacks.gapMagnitudes[0]', '<= 255'],
    [{ attacks: { epsilons: [0] } }, 'config.attacks.epsilons[0]', '> 0'],
    [{ attacks: { epsilons: [300] } }, 'config.attacks.epsilons[0]', '<= 255'],
    [{ attacks: { epsilons: [2, 2] } }, 'config.attacks.epsilons[1]', 'no duplicates'],
    [{ attacks: { pgdSteps: 2.5 } }, 'config.attacks.pgdSteps', 'integer'],
    [{ attacks: { gapEpochs: 0 } }, 'config.attacks.gapEpochs', '>= 1'],
    [{ defenses: { epsilon: 300 } }, 'config.defenses.epsilon', '<= 255'],
    [{ defenses: { evalEpsilons: [0] } }, 'config.defenses.evalEpsilons[0]', '> 0'],
    [{ defenses: { steps: 0.5 } }, 'config.defenses.steps', 'integer'],
    [{ defenses: { methods: ['pgd-at', 'pgd-at'] } }, 'config.defenses.methods[1]', 'no duplicates'],
    [{ defenses: { tasks: ['chest'] }, tasks: ['lesion'] }, 'config.defenses.tasks[0]', "one of the run's tasks"],
    [{ model: { learningRate: 1e9 } }, 'config.model.learningRate', '<= 1'],
    [{ model: { optimizer: 'rmsprop' } }, 'config.model.optimizer', "one of 'adam', 'sgd'"],
    [{ data: { validation: 0 } }, 'config.data.validation', '>= 1'],
    [{ tasks: [] }, 'config.tasks', 'a non-empty array'],
    [{ tasks: ['lesion', 'lesion'] }, 'config.tasks[1]', 'no duplicates'],
    [{ seed: 2 ** 40 }, 'config.seed', '<= 4294967295'],
    [{ name: '..' }, 'config.name', 'folder-safe'],
  ])('rejects %j at %s', (user, argument, words) => {
    let error: unknown;
    try {
      resolveConfig(user);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as InvalidArgumentError).argument).toBe(argument);
    expect((error as InvalidArgumentError).message).toContain(words);
  });

  it('names an unknown backend with the choices, not as an array', () => {
    expect(() => resolveConfig({ backend: 'gpu' })).toThrow("config: config.backend must be one of 'auto', 'wasm', 'cpu', 'node', 'node-gpu', received \"gpu\"");
    try { resolveConfig({ backend: 'gpu' }); } catch (err) { expect((err as Error).message).not.toMatch(/array/); }
  });

  it('rejects a config that is not an object, misspelt keys (with a suggestion) and bad choices', () => {
    expect(() => resolveConfig([1])).toThrow(/config must be a JSON object, received an array/);
    expect(() => resolveConfig({ model: { epoch: 3 } })).toThrow(/config.model.epoch must be one of the known options .*did you mean 'epochs'/);
    expect(() => resolveConfig({ defenses: { methods: ['madry'] } })).toThrow(/config.defenses.methods\[0\] must be one of 'pgd-at', 'mpadvt', 'maadvt', 'trades', received "madry"/);
  });

  it('accepts the limits, an empty GAP list and the demo presets; defense tasks follow the run\'s tasks', () => {
    const c = resolveConfig({ data: { size: 16, test: 6 }, analyses: { points: 6 }, model: { width: 1 / 32, learningRate: 1, optimizer: 'sgd' }, attacks: { epsilons: [255], gapMagnitudes: [] } });
    expect(c.attacks.gapMagnitudes).toEqual([]);
    expect(c.model.optimizer).toBe('sgd');
    expect(resolveConfig({ tasks: ['chest'] }).defenses.tasks).toEqual([]);
    expect(resolveConfig(experimentPart(DEMO_CONFIG))).toEqual(DEMO_CONFIG);
    expect(resolveConfig(experimentPart(QUICK_DEMO_CONFIG), QUICK_DEMO_CONFIG)).toEqual(QUICK_DEMO_CONFIG);
  });

  it('accepts the shipped example config and the one in docs/guides/cli.md', () => {
    const example = JSON.parse(readFileSync(new URL('../../examples/medmnist.json', import.meta.url), 'utf8'));
    expect(resolveConfig(example).data.medmnist).toEqual({ lesion: 'data/dermamnist.npz', chest: 'data/chestmnist.npz' });
    const guide = readFileSync(new URL('../../docs/guides/cli.md', import.meta.url), 'utf8');
    const block = /## Config[\s\S]*?```json\n([\s\S]*?)```/.exec(guide)![1]!;
    expect(resolveConfig(JSON.parse(block)).name).toBe('wide');
  });
});

describe('config hashes and changes', () => {
  const base = resolveConfig({});
  const changed = (user: object) => resolveConfig(user);

  it('a stage\'s hash changes with its own inputs and those of the stages it builds on, and with nothing else', () => {
    const keys = ['train.lesion', 'attack.lesion', 'analyze.lesion', 'defend.lesion.none', 'defend.lesion.pgd-at.train', 'defend.lesion.pgd-at'];
    const moved = (user: object) => keys.filter((k) => stageHash(base, k) !== stageHash(changed(user), k));
    expect(moved({ seed: 99 })).toEqual(keys);
    expect(moved({ model: { ...base.model, epochs: 7 } })).toEqual(keys);
    expect(moved({ attacks: { ...base.attacks, gapEpochs: 9 } })).toEqual(['attack.lesion']);
    expect(moved({ attacks: { ...base.attacks, epsilons: [2, 8] } })).toEqual(['attack.lesion', 'analyze.lesion']);
    expect(moved({ analyses: { ...base.analyses, points: 100 } })).toEqual(['analyze.lesion']);
    expect(moved({ defenses: { ...base.defenses, evalEpsilons: [4] } })).toEqual(['defend.lesion.none', 'defend.lesion.pgd-at']);
    expect(moved({ defenses: { ...base.defenses, epochs: 1 } })).toEqual(['defend.lesion.pgd-at.train', 'defend.lesion.pgd-at']);
    expect(moved({ name: 'other', backend: 'cpu' })).toEqual([]);
    // A task's stages do not depend on the other task's settings.
    expect(stageHash(base, 'train.chest')).toBe(stageHash(changed({ data: { ...base.data, medmnist: { lesion: 'x.npz' } } }), 'train.chest'));
    expect(stageHash(base, 'defend.chest.none')).toBeUndefined();
    expect(stageHash(base, 'defend.lesion.madry')).toBeUndefined();
  });

  it('hashes ignore key order; changes are listed as path old → new', () => {
    expect(hashOf({ a: 1, b: [1, 2] })).toBe(hashOf({ b: [1, 2], a: 1 }));
    expect(hashOf(stageInputs(base, 'train', 'lesion'))).toMatch(/^[0-9a-f]{16}$/);
    expect(configChanges(experimentPart(base), experimentPart(changed({ seed: 99, attacks: { epsilons: [1, 4] } })))).toEqual(['seed 2021 → 99', 'attacks.epsilons [1,2,4,8] → [1,4]']);
  });
});
