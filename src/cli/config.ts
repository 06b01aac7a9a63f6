/**
 * The experiment configuration of the CLI and the demo: plain JSON, every field defaulted, unknown
 * keys rejected (a misspelt key in a config file must not silently fall back to a default), and every
 * value checked up front against what the pipeline can run, so a bad value fails in the first second
 * with its JSON path instead of after an hour of training.
 * @internal
 */
import { createHash } from 'node:crypto';
import { InvalidArgumentError } from '../errors.js';
import { assertKnownKeys, assertNumber, describeValue, type NumberConstraints } from '../internal/validate.js';

/** Which generated data set a task uses. */
export type DemoTask = 'lesion' | 'chest';
/** The defenses the pipeline can train. */
export type DefenseName = 'pgd-at' | 'mpadvt' | 'maadvt' | 'trades';
/** The optimizers a config may name (SGD without momentum resumes bit-exactly from any checkpoint). */
export type OptimizerName = 'adam' | 'sgd';

export const TASKS: readonly DemoTask[] = ['lesion', 'chest'];
export const DEFENSES: readonly DefenseName[] = ['pgd-at', 'mpadvt', 'maadvt', 'trades'];
export const BACKENDS = ['auto', 'wasm', 'cpu', 'node', 'node-gpu'] as const;
const OPTIMIZERS: readonly OptimizerName[] = ['adam', 'sgd'];

export interface ExperimentConfig {
  /** Run name; the output folder is `<out>/<name>`. */
  name: string;
  seed: number;
  /** Backend passed to useBackend. */
  backend: (typeof BACKENDS)[number];
  tasks: DemoTask[];
  /**
   * Data: generated sets of `size` px, or MedMNIST .npz files per task slot (the single-label slot
   * 'lesion' takes e.g. dermamnist.npz or retinamnist.npz, the multi-label slot 'chest' chestmnist.npz).
   */
  data: { size: number; train: number; validation: number; test: number; medmnist?: Partial<Record<DemoTask, string>> };
  model: { width: number; epochs: number; batchSize: number; learningRate: number; optimizer: OptimizerName };
  attacks: { epsilons: number[]; pgdSteps: number; gapMagnitudes: number[]; gapEpochs: number; gapLearningRate: number; evalBatch: number };
  analyses: { points: number; perplexity: number; tsneIterations: number };
  defenses: { methods: DefenseName[]; tasks: DemoTask[]; epsilon: number; steps: number; epochs: number; learningRate: number; optimizer: OptimizerName; train: number; evalEpsilons: number[] };
}

/** The demo: about 5 minutes of CPU time with the wasm backend (docs/guides/cli.md, How long). ε in 1/255 units. */
export const DEMO_CONFIG: ExperimentConfig = {
  name: 'demo',
  seed: 2021,
  backend: 'auto',
  tasks: ['lesion', 'chest'],
  data: { size: 28, train: 1024, validation: 128, test: 256 },
  model: { width: 0.5, epochs: 6, batchSize: 32, learningRate: 2e-3, optimizer: 'adam' },
  attacks: { epsilons: [1, 2, 4, 8], pgdSteps: 10, gapMagnitudes: [8, 16], gapEpochs: 4, gapLearningRate: 1e-3, evalBatch: 128 },
  analyses: { points: 200, perplexity: 30, tsneIterations: 750 },
  defenses: { methods: ['pgd-at', 'mpadvt', 'maadvt', 'trades'], tasks: ['lesion'], epsilon: 4, steps: 3, epochs: 3, learningRate: 5e-4, optimizer: 'adam', train: 512, evalEpsilons: [2, 4, 8] },
};

/**
 * `medrobust demo --quick` (`npm run demo -- --quick`): every stage of the demo on small data, for a
 * smoke test of an installation (well under a minute on 2 cores); its numbers mean little.
 */
export const QUICK_DEMO_CONFIG: ExperimentConfig = {
  ...DEMO_CONFIG,
  name: 'demo-quick',
  data: { size: 16, train: 128, validation: 32, test: 64 },
  model: { width: 0.25, epochs: 2, batchSize: 32, learningRate: 3e-3, optimizer: 'adam' },
  attacks: { epsilons: [2, 8], pgdSteps: 5, gapMagnitudes: [8], gapEpochs: 1, gapLearningRate: 1e-3, evalBatch: 64 },
  analyses: { points: 48, perplexity: 10, tsneIterations: 300 },
  defenses: { methods: ['pgd-at', 'mpadvt', 'maadvt'], tasks: ['lesion'], epsilon: 4, steps: 2, epochs: 1, learningRate: 1e-3, optimizer: 'adam', train: 96, evalEpsilons: [4] },
};

/** Sides the generated data sets can have (generateLesions, generateChestXrays). */
const SIZE = { integer: true, min: 16, max: 256 } as const;
const COUNT = { integer: true, min: 1 } as const;
const RATE = { min: 0, minExclusive: true, max: 1 } as const;
/** A budget in 1/255 units: above 0 (0 is the clean row) and at most the whole [0, 1] range. */
const BUDGET = { min: 0, minExclusive: true, max: 255 } as const;
/** The analyses' kNN accuracy uses 5 neighbours, so they need at least 6 test images. */
export const MIN_ANALYSIS_POINTS = 6;

type FieldRule =
  | { kind: 'number'; c: NumberConstraints }
  | { kind: 'numbers'; c: NumberConstraints; allowEmpty?: boolean }
  | { kind: 'choices'; choices: readonly string[]; allowEmpty?: boolean }
  | { kind: 'choice'; choices: readonly string[] }
  | { kind: 'medmnist' };

const SECTIONS: Record<string, Record<string, FieldRule>> = {
  data: {
    size: { kind: 'number', c: SIZE },
    train: { kind: 'number', c: COUNT },
    validation: { kind: 'number', c: COUNT },
    test: { kind: 'number', c: { integer: true, min: MIN_ANALYSIS_POINTS } },
    medmnist: { kind: 'medmnist' },
  },
  model: {
    // Below 1/32 the narrowest layer (32 channels) would be rounded up to one channel.
    width: { kind: 'number', c: { min: 1 / 32, max: 16 } },
    epochs: { kind: 'number', c: COUNT },
    batchSize: { kind: 'number', c: COUNT },
    learningRate: { kind: 'number', c: RATE },
    optimizer: { kind: 'choice', choices: OPTIMIZERS },
  },
  attacks: {
    epsilons: { kind: 'numbers', c: BUDGET },
    pgdSteps: { kind: 'number', c: COUNT },
    gapMagnitudes: { kind: 'numbers', c: BUDGET, allowEmpty: true },
    gapEpochs: { kind: 'number', c: COUNT },
    gapLearningRate: { kind: 'number', c: RATE },
    evalBatch: { kind: 'number', c: COUNT },
  },
  analyses: {
    points: { kind: 'number', c: { integer: true, min: MIN_ANALYSIS_POINTS } },
    perplexity: { kind: 'number', c: { min: 0, minExclusive: true } },
    tsneIterations: { kind: 'number', c: COUNT },
  },
  defenses: {
    methods: { kind: 'choices', choices: DEFENSES, allowEmpty: true },
    tasks: { kind: 'choices', choices: TASKS, allowEmpty: true },
    epsilon: { kind: 'number', c: BUDGET },
    steps: { kind: 'number', c: COUNT },
    epochs: { kind: 'number', c: COUNT },
    learningRate: { kind: 'number', c: RATE },
    optimizer: { kind: 'choice', choices: OPTIMIZERS },
    train: { kind: 'number', c: COUNT },
    evalEpsilons: { kind: 'numbers', c: BUDGET },
  },
};

const quoted = (choices: readonly string[]) => choices.map((c) => `'${c}'`).join(', ');

function plainObject(value: unknown, argument: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidArgumentError('config', argument, 'a JSON object', describeValue(value));
  }
  return value as Record<string, unknown>;
}

function duplicateCheck(values: readonly unknown[], argument: string): void {
  const seen = new Set<string>();
  values.forEach((v, i) => {
    const key = JSON.stringify(v);
    if (seen.has(key)) throw new InvalidArgumentError('config', `${argument}[${i}]`, 'a value not listed before (no duplicates)', `${describeValue(v)} again`);
    seen.add(key);
  });
}

function numberList(value: unknown, argument: string, c: NumberConstraints, allowEmpty = false): number[] {
  if (!Array.isArray(value) || (!allowEmpty && value.length === 0)) {
    throw new InvalidArgumentError('config', argument, `${allowEmpty ? 'an' : 'a non-empty'} array of numbers`, describeValue(value));
  }
  const out = value.map((v, i) => assertNumber('config', `${argument}[${i}]`, v, c));
  duplicateCheck(out, argument);
  return out;
}

function choiceList<T extends string>(value: unknown, argument: string, choices: readonly T[], allowEmpty = false): T[] {
  if (!Array.isArray(value) || (!allowEmpty && value.length === 0)) {
    throw new InvalidArgumentError('config', argument, `${allowEmpty ? 'an' : 'a non-empty'} array of ${quoted(choices)}`, describeValue(value));
  }
  value.forEach((v, i) => {
    if (!choices.includes(v as T)) throw new InvalidArgumentError('config', `${argument}[${i}]`, `one of ${quoted(choices)}`, describeValue(v));
  });
  duplicateCheck(value, argument);
  return value as T[];
}

function choice<T extends string>(value: unknown, argument: string, choices: readonly T[]): T {
  if (typeof value !== 'string' || !choices.includes(value as T)) throw new InvalidArgumentError('config', argument, `one of ${quoted(choices)}`, describeValue(value));
  return value as T;
}

function medmnistFiles(value: unknown, argument: string): Partial<Record<DemoTask, string>> {
  const o = plainObject(value, argument);
  assertKnownKeys('config', o, TASKS, argument);
  for (const [k, v] of Object.entries(o)) {
    if (typeof v !== 'string' || !v.endsWith('.npz')) throw new InvalidArgumentError('config', `${argument}.${k}`, 'the path of a MedMNIST .npz file', describeValue(v));
  }
  return o as Partial<Record<DemoTask, string>>;
}

/**
 * Merges a user config (parsed JSON) over `base`, validating every field. Errors are
 * {@link InvalidArgumentError}s from `config` whose `argument` is the JSON path (`config.model.epochs`).
 */
export function resolveConfig(user: unknown, base: ExperimentConfig = DEMO_CONFIG): ExperimentConfig {
  const o = plainObject(user, 'config');
  assertKnownKeys('config', o, ['name', 'seed', 'backend', 'tasks', ...Object.keys(SECTIONS)], 'config');
  const merged = JSON.parse(JSON.stringify(base)) as ExperimentConfig;
  if (o.name !== undefined) {
    if (typeof o.name !== 'string' || !/^[\w.-]+$/.test(o.name) || /^\.+$/.test(o.name)) throw new InvalidArgumentError('config', 'config.name', 'a folder-safe name (letters, digits, . _ -)', describeValue(o.name));
    merged.name = o.name;
  }
  // Seeds are used modulo 2^32: a larger one would silently repeat a smaller one's run.
  if (o.seed !== undefined) merged.seed = assertNumber('config', 'config.seed', o.seed, { integer: true, min: 0, max: 2 ** 32 - 1 });
  if (o.backend !== undefined) merged.backend = choice(o.backend, 'config.backend', BACKENDS);
  if (o.tasks !== undefined) merged.tasks = choiceList(o.tasks, 'config.tasks', TASKS);
  for (const [section, rules] of Object.entries(SECTIONS)) {
    if (o[section] === undefined) continue;
    const s = plainObject(o[section], `config.${section}`);
    assertKnownKeys('config', s, Object.keys(rules), `config.${section}`);
    const target = (merged as unknown as Record<string, Record<string, unknown>>)[section]!;
    for (const [key, value] of Object.entries(s)) {
      const at = `config.${section}.${key}`;
      const rule = rules[key]!;
      if (rule.kind === 'medmnist') target[key] = medmnistFiles(value, at);
      else if (rule.kind === 'choices') target[key] = choiceList(value, at, rule.choices, rule.allowEmpty);
      else if (rule.kind === 'choice') target[key] = choice(value, at, rule.choices);
      else if (rule.kind === 'numbers') target[key] = numberList(value, at, rule.c, rule.allowEmpty);
      else target[key] = assertNumber('config', at, value, rule.c);
    }
  }
  const givenDefenseTasks = (o.defenses as Record<string, unknown> | undefined)?.tasks !== undefined;
  if (givenDefenseTasks) {
    merged.defenses.tasks.forEach((t, i) => {
      if (!merged.tasks.includes(t)) throw new InvalidArgumentError('config', `config.defenses.tasks[${i}]`, `one of the run's tasks (${quoted(merged.tasks)})`, describeValue(t));
    });
  } else {
    merged.defenses.tasks = merged.defenses.tasks.filter((t) => merged.tasks.includes(t));
  }
  return merged;
}

/** The part of a config that determines results (everything but the run's name and the backend). */
export function experimentPart(config: ExperimentConfig): Omit<ExperimentConfig, 'name' | 'backend'> {
  const { name: _name, backend: _backend, ...rest } = config;
  return rest;
}

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.keys(value).sort().filter((k) => (value as Record<string, unknown>)[k] !== undefined).map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** A short, stable hash of a JSON value (key order does not matter). */
export function hashOf(value: unknown): string {
  return createHash('sha256').update(canonical(value)).digest('hex').slice(0, 16);
}

/** The config fields a stage's results depend on, including those of the stages it builds on. */
export function stageInputs(config: ExperimentConfig, stage: 'train' | 'attack' | 'analyze' | 'defend' | 'defend-train', task: DemoTask, method?: DefenseName | 'none'): unknown {
  const { data, model, attacks, analyses, defenses } = config;
  const train = { task, seed: config.seed, data: { ...data, medmnist: data.medmnist?.[task] }, model };
  if (stage === 'train') return train;
  if (stage === 'attack') return { train, attacks };
  if (stage === 'analyze') return { train, analyses, epsilons: attacks.epsilons, pgdSteps: attacks.pgdSteps };
  const { methods: _m, tasks: _t, evalEpsilons: _e, ...training } = defenses;
  if (stage === 'defend-train') return { train, method, training };
  const evaluation = { evalEpsilons: defenses.evalEpsilons, pgdSteps: attacks.pgdSteps, evalBatch: attacks.evalBatch };
  if (method === undefined || method === 'none') return { train, evaluation };
  return { train, evaluation, method, training };
}

function show(value: unknown): string {
  return value === undefined ? '(unset)' : JSON.stringify(value);
}

/** The differences between two configs' experiment parts, one `path old → new` per changed leaf. */
export function configChanges(before: unknown, after: unknown, path = ''): string[] {
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (isObject(before) && isObject(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])];
    return keys.flatMap((k) => configChanges(before[k], after[k], path ? `${path}.${k}` : k));
  }
  return canonical(before) === canonical(after) ? [] : [`${path} ${show(before)} → ${show(after)}`];
}
