/**
 * The experiment configuration of the CLI and the demo: plain JSON, every field defaulted, unknown
 * keys rejected (a misspelt key in a config file must not silently fall back to a default).
 * @internal
 */
import { InvalidArgumentError } from '../errors.js';
import { assertKnownKeys, assertNumber, assertOptionsObject, describeValue } from '../internal/validate.js';

/** Which generated data set a task uses. */
export type DemoTask = 'lesion' | 'chest';
/** The defenses the pipeline can train. */
export type DefenseName = 'pgd-at' | 'mpadvt' | 'maadvt';

export interface ExperimentConfig {
  /** Run name; the output folder is `<out>/<name>`. */
  name: string;
  seed: number;
  /** Backend passed to useBackend. */
  backend: 'auto' | 'wasm' | 'cpu' | 'node' | 'node-gpu';
  tasks: DemoTask[];
  /**
   * Data: generated sets of `size` px, or MedMNIST .npz files per task slot (the single-label slot
   * 'lesion' takes e.g. dermamnist.npz or retinamnist.npz, the multi-label slot 'chest' chestmnist.npz).
   */
  data: { size: number; train: number; validation: number; test: number; medmnist?: Partial<Record<DemoTask, string>> };
  model: { width: number; epochs: number; batchSize: number; learningRate: number };
  attacks: { epsilons: number[]; pgdSteps: number; gapMagnitudes: number[]; gapEpochs: number; gapLearningRate: number; evalBatch: number };
  analyses: { points: number; perplexity: number; tsneIterations: number };
  defenses: { methods: DefenseName[]; tasks: DemoTask[]; epsilon: number; steps: number; epochs: number; learningRate: number; train: number; evalEpsilons: number[] };
}

/** The demo: small enough for about 10 minutes on 2 cores with the wasm backend. ε in 1/255 units. */
export const DEMO_CONFIG: ExperimentConfig = {
  name: 'demo',
  seed: 2021,
  backend: 'auto',
  tasks: ['lesion', 'chest'],
  data: { size: 28, train: 1024, validation: 128, test: 256 },
  model: { width: 0.5, epochs: 6, batchSize: 32, learningRate: 2e-3 },
  attacks: { epsilons: [1, 2, 4, 8], pgdSteps: 10, gapMagnitudes: [8, 16], gapEpochs: 4, gapLearningRate: 1e-3, evalBatch: 128 },
  analyses: { points: 200, perplexity: 30, tsneIterations: 750 },
  defenses: { methods: ['pgd-at', 'mpadvt', 'maadvt'], tasks: ['lesion'], epsilon: 4, steps: 3, epochs: 3, learningRate: 5e-4, train: 512, evalEpsilons: [2, 4, 8] },
};

const SECTIONS: Record<string, readonly string[]> = {
  data: ['size', 'train', 'validation', 'test', 'medmnist'],
  model: ['width', 'epochs', 'batchSize', 'learningRate'],
  attacks: ['epsilons', 'pgdSteps', 'gapMagnitudes', 'gapEpochs', 'gapLearningRate', 'evalBatch'],
  analyses: ['points', 'perplexity', 'tsneIterations'],
  defenses: ['methods', 'tasks', 'epsilon', 'steps', 'epochs', 'learningRate', 'train', 'evalEpsilons'],
};

function numberList(value: unknown, argument: string): number[] {
  if (!Array.isArray(value) || value.length === 0) throw new InvalidArgumentError('config', argument, 'a non-empty array of numbers', describeValue(value));
  return value.map((v, i) => assertNumber('config', `${argument}[${i}]`, v, { min: 0 }));
}

function choiceList<T extends string>(value: unknown, argument: string, choices: readonly T[]): T[] {
  if (!Array.isArray(value) || value.some((v) => !choices.includes(v as T))) {
    throw new InvalidArgumentError('config', argument, `an array of ${choices.map((c) => `'${c}'`).join(', ')}`, describeValue(value));
  }
  return value as T[];
}

function medmnistFiles(value: unknown, argument: string): Partial<Record<DemoTask, string>> {
  const o = assertOptionsObject('config', value);
  assertKnownKeys('config', o, ['lesion', 'chest'], argument);
  for (const [k, v] of Object.entries(o)) {
    if (typeof v !== 'string' || !v.endsWith('.npz')) throw new InvalidArgumentError('config', `${argument}.${k}`, 'the path of a MedMNIST .npz file', describeValue(v));
  }
  return o as Partial<Record<DemoTask, string>>;
}

/** Merges a user config (parsed JSON) over `base`, validating every field. */
export function resolveConfig(user: unknown, base: ExperimentConfig = DEMO_CONFIG): ExperimentConfig {
  const o = assertOptionsObject('config', user);
  assertKnownKeys('config', o, ['name', 'seed', 'backend', 'tasks', ...Object.keys(SECTIONS)], 'config');
  const merged = JSON.parse(JSON.stringify(base)) as ExperimentConfig;
  if (o.name !== undefined) {
    if (typeof o.name !== 'string' || !/^[\w.-]+$/.test(o.name)) throw new InvalidArgumentError('config', 'config.name', 'a folder-safe name (letters, digits, . _ -)', describeValue(o.name));
    merged.name = o.name;
  }
  if (o.seed !== undefined) merged.seed = assertNumber('config', 'config.seed', o.seed, { integer: true, min: 0 });
  if (o.backend !== undefined) merged.backend = choiceList([o.backend], 'config.backend', ['auto', 'wasm', 'cpu', 'node', 'node-gpu'] as const)[0]!;
  if (o.tasks !== undefined) merged.tasks = choiceList(o.tasks, 'config.tasks', ['lesion', 'chest'] as const);
  for (const [section, keys] of Object.entries(SECTIONS)) {
    if (o[section] === undefined) continue;
    const s = assertOptionsObject('config', o[section]);
    assertKnownKeys('config', s, keys, `config.${section}`);
    const target = (merged as unknown as Record<string, Record<string, unknown>>)[section]!;
    for (const [key, value] of Object.entries(s)) {
      const at = `config.${section}.${key}`;
      if (key === 'medmnist') target[key] = medmnistFiles(value, at);
      else if (key === 'methods') target[key] = choiceList(value, at, ['pgd-at', 'mpadvt', 'maadvt'] as const);
      else if (key === 'tasks') target[key] = choiceList(value, at, ['lesion', 'chest'] as const);
      else if (Array.isArray(target[key])) target[key] = numberList(value, at);
      else target[key] = assertNumber('config', at, value, { min: 0, minExclusive: key !== 'validation' });
    }
  }
  return merged;
}
