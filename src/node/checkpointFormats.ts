/**
 * Structural checks of the two checkpoint states medrobust itself writes (`'medrobust.training/1'`
 * from the training loop, `'medrobust-gap/1'` from trainGap): ranges of epoch and batch counters,
 * the history's length, tensor shapes and finite weights. {@link fileCheckpoint} runs them on save
 * (so a bad state is never written) and on load (so a bad file is never resumed from). States with
 * another or no `format` tag are the caller's own and only the generic rules apply.
 * @internal
 */

/** The first problem found: where, what was expected, what was there, and whether it is a non-finite value. */
export interface StateProblem {
  readonly path: string;
  readonly expected: string;
  readonly received: string;
  readonly nonFinite: boolean;
}

class Problem extends Error {
  constructor(readonly problem: StateProblem) {
    super(problem.path);
  }
}

const fail = (path: string, expected: string, received: string, nonFinite = false): never => {
  throw new Problem({ path, expected, received, nonFinite });
};

function show(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return `an array of length ${v.length}`;
  if (ArrayBuffer.isView(v)) return `a ${v.constructor.name}`;
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return JSON.stringify(v.slice(0, 40));
  return String(v);
}

function obj(v: unknown, path: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || ArrayBuffer.isView(v)) fail(path, 'an object', show(v));
  return v as Record<string, unknown>;
}

function int(v: unknown, path: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) fail(path, `an integer in [${min}, ${max === Number.MAX_SAFE_INTEGER ? '∞' : max}]`, show(v));
  return v as number;
}

function num(v: unknown, path: string, finite: boolean): number {
  if (typeof v !== 'number') fail(path, 'a number', show(v));
  if (finite && !Number.isFinite(v)) fail(path, 'a finite number', show(v), true);
  return v as number;
}

function str(v: unknown, path: string): string {
  if (typeof v !== 'string') fail(path, 'a string', show(v));
  return v as string;
}

function arr(v: unknown, path: string): unknown[] {
  if (!Array.isArray(v)) fail(path, 'an array', show(v));
  return v as unknown[];
}

/** A SavedTensor / GapSavedTensor: { name, shape, dtype, values } with finite float values. */
function savedTensors(v: unknown, path: string): void {
  arr(v, path).forEach((t, i) => {
    const p = `${path}[${i}]`;
    const o = obj(t, p);
    str(o.name, `${p}.name`);
    const shape = arr(o.shape, `${p}.shape`).map((d, j) => int(d, `${p}.shape[${j}]`));
    const dtype = o.dtype;
    if (dtype !== 'float32' && dtype !== 'int32') fail(`${p}.dtype`, "'float32' or 'int32'", show(dtype));
    const values = o.values;
    const Ctor = dtype === 'float32' ? Float32Array : Int32Array;
    if (!(values instanceof Ctor)) fail(`${p}.values`, `a ${Ctor.name}`, show(values));
    const n = shape.reduce((a, b) => a * b, 1);
    if ((values as Float32Array | Int32Array).length !== n) fail(`${p}.values`, `${n} values for shape [${shape.join(',')}]`, `${(values as Float32Array).length} values`);
    if (values instanceof Float32Array) {
      for (let k = 0; k < values.length; k++) {
        if (!Number.isFinite(values[k]!)) fail(`${p}.values (${String(o.name)})`, 'finite values', `${values[k]} at index ${k}`, true);
      }
    }
  });
}

function history(v: unknown, path: string, length: number, counter: string): void {
  const h = arr(v, path);
  if (h.length !== length) fail(path, `${length} records (one per finished epoch, as ${counter} says)`, `${h.length} records`);
  h.forEach((r, i) => { obj(r, `${path}[${i}]`); });
}

function training(s: Record<string, unknown>): void {
  str(s.method, 'state.method');
  num(s.seed, 'state.seed', true);
  const epoch = int(s.epoch, 'state.epoch');
  const batch = int(s.batch, 'state.batch');
  num(s.rngState, 'state.rngState', true);
  savedTensors(s.weights, 'state.weights');
  str(s.optimizerClass, 'state.optimizerClass');
  savedTensors(s.optimizerWeights, 'state.optimizerWeights');
  if (s.best !== null) {
    const best = obj(s.best, 'state.best');
    int(best.epoch, 'state.best.epoch', 0, Math.max(0, epoch - 1));
    num(best.score, 'state.best.score', false);
    savedTensors(best.weights, 'state.best.weights');
  }
  history(s.history, 'state.history', epoch, 'state.epoch');
  const partial = obj(s.partial, 'state.partial');
  num(partial.lossSum, 'state.partial.lossSum', false);
  const done = int(partial.batches, 'state.partial.batches', 0, batch);
  int(partial.adversarialBatches, 'state.partial.adversarialBatches', 0, done);
}

function gap(s: Record<string, unknown>): void {
  const epochs = int(s.epochsDone, 'state.epochsDone');
  num(s.seed, 'state.seed', true);
  num(s.rngState, 'state.rngState', true);
  if (s.noiseSeed !== null) num(s.noiseSeed, 'state.noiseSeed', true);
  savedTensors(s.generator, 'state.generator');
  savedTensors(s.optimizer, 'state.optimizer');
  if (s.adamPowers !== undefined) {
    const p = arr(s.adamPowers, 'state.adamPowers');
    if (p.length !== 2) fail('state.adamPowers', 'two numbers [β₁ᵗ, β₂ᵗ]', show(p));
    p.forEach((x, i) => {
      const v = num(x, `state.adamPowers[${i}]`, true);
      if (!(v >= 0 && v <= 1)) fail(`state.adamPowers[${i}]`, 'a number in [0, 1]', String(v));
    });
  }
  history(s.history, 'state.history', epochs, 'state.epochsDone');
}

const FORMATS: Readonly<Record<string, (s: Record<string, unknown>) => void>> = {
  'medrobust.training/1': training,
  'medrobust-gap/1': gap,
};

/** The first problem of a state in a format medrobust knows, or undefined (also for unknown formats). */
export function checkKnownFormat(state: Record<string, unknown>): StateProblem | undefined {
  const check = typeof state.format === 'string' ? FORMATS[state.format] : undefined;
  if (!check) return undefined;
  try {
    check(state);
    return undefined;
  } catch (err) {
    if (err instanceof Problem) return err.problem;
    throw err;
  }
}
