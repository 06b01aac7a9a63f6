/**
 * Argument validation shared by every public function. Every message of an
 * {@link InvalidArgumentError} is written here, so they read alike:
 * `fn: argument must be expected, received received`.
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import { InvalidArgumentError } from '../errors.js';
import type { ClipRange, Task } from '../types.js';

/** A short description of any received value, for messages. */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (value instanceof tf.Tensor) return `a ${value.dtype} tensor of shape [${value.shape.join(',')}]`;
  if (typeof value === 'number') return String(value);
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) {
    const head = value.slice(0, 4).map((v) => (typeof v === 'object' && v !== null ? (Array.isArray(v) ? 'array' : 'object') : describeValue(v)));
    return `an array of length ${value.length} [${head.join(', ')}${value.length > 4 ? ', ...' : ''}]`;
  }
  if (ArrayBuffer.isView(value)) return `a ${value.constructor.name} of length ${(value as unknown as ArrayLike<number>).length}`;
  return `an object with keys {${Object.keys(value as object).join(', ')}}`;
}

/** Throws unless `options` is a plain object (or undefined, which becomes `{}`). */
export function assertOptionsObject(fn: string, options: unknown): Record<string, unknown> {
  if (options === undefined) return {};
  if (typeof options !== 'object' || options === null || Array.isArray(options) || options instanceof tf.Tensor) {
    throw new InvalidArgumentError(fn, 'options', 'a plain options object', describeValue(options));
  }
  return options as Record<string, unknown>;
}

/**
 * What users of ART, torchattacks, Foolbox, CleverHans and AdverTorch type for medrobust's option names
 * (compared case-insensitively, ignoring `_`): the hint for an unknown key looks here before it falls back
 * to the closest spelling, so `eps` suggests `epsilon`, not `steps`.
 */
export const OPTION_ALIASES: Readonly<Record<string, readonly string[]>> = {
  epsilon: ['eps', 'epsilons', 'maxnorm', 'budget', 'radius', 'perturbation'],
  stepSize: ['alpha', 'epsstep', 'epsiter', 'stepsize', 'relstepsize', 'absstepsize', 'lr', 'stepsizes'],
  steps: ['nbiter', 'iterations', 'iters', 'maxiter', 'numsteps', 'niter', 'nsteps', 'iter', 'numiterations', 'k'],
  randomStart: ['randinit', 'randominit', 'randstart', 'randomstart'],
  restarts: ['numrandominit', 'nrestarts', 'randomrestarts', 'nbrandominit', 'numrestarts', 'restart'],
  norm: ['ord', 'p', 'normtype', 'distance', 'lp'],
  clip: ['clipmin', 'clipmax', 'clipvalues', 'bounds', 'clamp', 'cliprange', 'range'],
  targeted: ['target', 'istargeted', 'ytarget'],
  seed: ['randomseed', 'rng', 'randomstate'],
  loss: ['lossfn', 'lossfunc', 'criterion', 'lossfunction'],
  batchSize: ['batchsize', 'evalbatchsize', 'microbatch', 'chunksize', 'batch'],
  memoryBudget: ['memorybudget', 'maxmemory', 'memorylimit', 'memory'],
  signal: ['abortsignal'],
  onProgress: ['callback', 'verbose', 'progress', 'progresscallback'],
  task: ['mode', 'multilabel'],
};

const normaliseKey = (k: string): string => k.toLowerCase().replace(/[_-]/g, '');

/** Rejects misspelled or unknown option keys (e.g. `stepsize` for `stepSize`, `eps` for `epsilon`), naming the likely intended key. */
export function assertKnownKeys(fn: string, options: Record<string, unknown>, known: readonly string[], argument = 'options'): void {
  for (const key of Object.keys(options)) {
    if (known.includes(key)) continue;
    const norm = normaliseKey(key);
    const alias = known.find((k) => normaliseKey(k) === norm || (OPTION_ALIASES[k] ?? []).includes(norm));
    let hint = '';
    if (alias) hint = normaliseKey(alias) === norm ? `; did you mean '${alias}'?` : `; did you mean '${alias}'? ('${key}' is what other attack libraries call it)`;
    else {
      const ranked = known.map((k) => ({ k, d: editDistance(k.toLowerCase(), key.toLowerCase()) })).sort((a, b) => a.d - b.d);
      if (ranked[0] && ranked[0].d <= 2) hint = `; did you mean '${ranked[0].k}'?`;
    }
    throw new InvalidArgumentError(fn, `${argument}.${key}`, `one of the known options (${known.join(', ')})${hint}`, `an unknown option '${key}'`);
  }
}

/** Levenshtein distance (for "did you mean" hints). */
export function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length]!;
}

/** Numeric constraints for {@link assertNumber}. */
export interface NumberConstraints {
  min?: number;
  max?: number;
  /** When true, `min` itself is rejected (value must be > min). */
  minExclusive?: boolean;
  maxExclusive?: boolean;
  integer?: boolean;
}

function rangeWords(c: NumberConstraints): string {
  const parts: string[] = [c.integer ? 'a finite integer' : 'a finite number'];
  if (c.min !== undefined) parts.push(`${c.minExclusive ? '>' : '>='} ${c.min}`);
  if (c.max !== undefined) parts.push(`${c.min !== undefined ? 'and ' : ''}${c.maxExclusive ? '<' : '<='} ${c.max}`);
  return parts.join(' ');
}

function numberOk(value: unknown, c: NumberConstraints): value is number {
  if (typeof value !== 'number' || !Number.isFinite(value)) return false;
  if (c.integer && !Number.isInteger(value)) return false;
  if (c.min !== undefined && (c.minExclusive ? value <= c.min : value < c.min)) return false;
  if (c.max !== undefined && (c.maxExclusive ? value >= c.max : value > c.max)) return false;
  return true;
}

/** Throws unless `value` is a finite number within the constraints; returns it typed. */
export function assertNumber(fn: string, argument: string, value: unknown, c: NumberConstraints = {}): number {
  if (!numberOk(value, c)) throw new InvalidArgumentError(fn, argument, rangeWords(c), describeValue(value));
  return value;
}

/** Like {@link assertNumber}, for an optional field: `undefined` passes through. */
export function assertOptionalNumber(fn: string, argument: string, value: unknown, c: NumberConstraints = {}): number | undefined {
  return value === undefined ? undefined : assertNumber(fn, argument, value, c);
}

/**
 * A number or an array of `n` numbers (one per sample), each within the constraints.
 * @returns one value per sample.
 */
export function assertPerSample(fn: string, argument: string, value: unknown, n: number, c: NumberConstraints = {}): number[] {
  if (Array.isArray(value) || ArrayBuffer.isView(value)) {
    const arr = Array.from(value as ArrayLike<unknown>);
    if (arr.length !== n) throw new InvalidArgumentError(fn, argument, `a number or an array of ${n} numbers (one per image)`, describeValue(value));
    arr.forEach((v, i) => {
      if (!numberOk(v, c)) throw new InvalidArgumentError(fn, `${argument}[${i}]`, rangeWords(c), describeValue(v));
    });
    return arr as number[];
  }
  return new Array<number>(n).fill(assertNumber(fn, argument, value, c));
}

/** Throws unless `value` is a boolean (undefined allowed when `optional`). */
export function assertBoolean(fn: string, argument: string, value: unknown): boolean | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'boolean') throw new InvalidArgumentError(fn, argument, 'true or false', describeValue(value));
  return value;
}

/** Throws unless `value` is one of `choices` (undefined passes through). */
export function assertOneOf<T extends string>(fn: string, argument: string, value: unknown, choices: readonly T[]): T | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !(choices as readonly string[]).includes(value)) {
    throw new InvalidArgumentError(fn, argument, `one of ${choices.map((c) => `'${c}'`).join(', ')}`, describeValue(value));
  }
  return value as T;
}

/** Throws unless `value` is a function (undefined passes through). */
export function assertFunction(fn: string, argument: string, value: unknown): void {
  if (value !== undefined && typeof value !== 'function') throw new InvalidArgumentError(fn, argument, 'a function', describeValue(value));
}

/** Throws unless `value` is an AbortSignal-like object (undefined passes through). */
export function assertSignal(fn: string, argument: string, value: unknown): AbortSignal | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null || typeof (value as AbortSignal).aborted !== 'boolean') {
    throw new InvalidArgumentError(fn, argument, 'an AbortSignal', describeValue(value));
  }
  return value as AbortSignal;
}

/** Throws unless `images` is a non-empty rank-4 NHWC float32 tensor. */
export function assertImages(fn: string, argument: string, images: unknown): tf.Tensor4D {
  if (!(images instanceof tf.Tensor)) throw new InvalidArgumentError(fn, argument, 'a rank-4 NHWC float32 tensor', describeValue(images));
  if (images.isDisposed) throw new InvalidArgumentError(fn, argument, 'a live tensor', 'a disposed tensor');
  if (images.rank !== 4) throw new InvalidArgumentError(fn, argument, 'a rank-4 NHWC tensor', `shape [${images.shape.join(',')}]`);
  if (images.dtype !== 'float32') throw new InvalidArgumentError(fn, argument, 'a float32 tensor', `dtype ${images.dtype}`);
  if (images.size === 0) throw new InvalidArgumentError(fn, argument, 'a non-empty tensor', `shape [${images.shape.join(',')}]`);
  return images as tf.Tensor4D;
}

/** Throws unless `x` is a tensor of the given rank (one of `ranks`). */
export function assertTensor(fn: string, argument: string, x: unknown, ranks: readonly number[], what: string): tf.Tensor {
  if (!(x instanceof tf.Tensor)) throw new InvalidArgumentError(fn, argument, what, describeValue(x));
  if (x.isDisposed) throw new InvalidArgumentError(fn, argument, 'a live tensor', 'a disposed tensor');
  if (!ranks.includes(x.rank)) throw new InvalidArgumentError(fn, argument, what, `shape [${x.shape.join(',')}]`);
  return x;
}

/**
 * Checks the shape of labels against the batch size and task (before any allocation):
 * single-label: `[N]` class indices or `[N, C]` one-hot; multi-label: `[N, C]` multi-hot.
 */
export function assertLabelsShape(fn: string, argument: string, labels: unknown, n: number, task: Task): tf.Tensor {
  const expected = task === 'multi-label' ? `a multi-hot [${n}, C] tensor (task 'multi-label')` : `class indices [${n}] or one-hot [${n}, C] (task 'single-label')`;
  if (!(labels instanceof tf.Tensor)) throw new InvalidArgumentError(fn, argument, expected, describeValue(labels));
  if (labels.isDisposed) throw new InvalidArgumentError(fn, argument, 'a live tensor', 'a disposed tensor');
  const okRank = task === 'multi-label' ? labels.rank === 2 : labels.rank === 1 || labels.rank === 2;
  if (!okRank || labels.shape[0] !== n) throw new InvalidArgumentError(fn, argument, expected, `shape [${labels.shape.join(',')}]`);
  return labels;
}

/** Validates a {@link ClipRange} option against the channel count (undefined passes through). */
export function assertClip(fn: string, argument: string, clip: unknown, channels: number): void {
  if (clip === undefined || clip === null || clip === 'batch') return;
  if (Array.isArray(clip)) {
    const [lo, hi] = clip as unknown[];
    if (clip.length !== 2 || !numberOk(lo, {}) || !numberOk(hi, {}) || (lo as number) >= (hi as number)) {
      throw new InvalidArgumentError(fn, argument, "[min, max] with finite min < max, { min: number[], max: number[] }, 'batch' or null", describeValue(clip));
    }
    return;
  }
  if (typeof clip === 'object') {
    const { min, max } = clip as { min?: unknown; max?: unknown };
    const ok = Array.isArray(min) && Array.isArray(max) && min.length === channels && max.length === channels && min.every((v, i) => numberOk(v, {}) && numberOk(max[i], {}) && v < (max[i] as number));
    if (ok) return;
    throw new InvalidArgumentError(fn, argument, `per-channel { min: number[${channels}], max: number[${channels}] } with min < max`, describeValue(clip));
  }
  throw new InvalidArgumentError(fn, argument, "[min, max], { min: number[], max: number[] }, 'batch' or null", describeValue(clip));
}

/**
 * One reduction over the images: rejects NaN/Infinity and, for a fixed clip range, values outside
 * it (an attack cannot start from an input the model's domain excludes; Foolbox does the same).
 */
export function assertImageValues(fn: string, argument: string, images: tf.Tensor4D, clip: ClipRange | undefined): { min: number; max: number } {
  const channels = images.shape[3];
  // One full-size temporary (x·0, NaN exactly where x is not finite) and three small reductions: a batch
  // that fits is validated in about its own size again (masks and casts took five times its size).
  const stats = tf.tidy(() => {
    const flat = tf.reshape(images, [-1, channels]);
    return tf.concat([tf.reshape(tf.sum(tf.mul(flat, 0)), [1]), tf.min(flat, 0), tf.max(flat, 0)]);
  });
  const v = stats.dataSync();
  stats.dispose();
  if (!Number.isFinite(v[0]!)) {
    const bad = tf.tidy(() => tf.sum(tf.cast(tf.logicalNot(tf.isFinite(images)), 'float32')));
    const count = bad.dataSync()[0]!;
    bad.dispose();
    throw new InvalidArgumentError(fn, argument, 'finite values (no NaN or Infinity)', `${count} non-finite values`);
  }
  const range = { min: Math.min(...v.subarray(1, 1 + channels)), max: Math.max(...v.subarray(1 + channels, 1 + 2 * channels)) };
  if (clip === undefined || clip === null || clip === 'batch') return range;
  for (let c = 0; c < channels; c++) {
    const lo = Array.isArray(clip) ? (clip as readonly number[])[0]! : (clip as { min: readonly number[] }).min[c]!;
    const hi = Array.isArray(clip) ? (clip as readonly number[])[1]! : (clip as { max: readonly number[] }).max[c]!;
    const mn = v[1 + c]!;
    const mx = v[1 + channels + c]!;
    const tol = 1e-6 * Math.max(1, Math.abs(lo), Math.abs(hi));
    if (mn < lo - tol || mx > hi + tol) {
      throw new InvalidArgumentError(fn, argument, `values inside the clip range [${lo}, ${hi}] (channel ${c}); pass a matching options.clip, or clip: null`, `values in [${mn}, ${mx}]`);
    }
  }
  return range;
}
