/**
 * Bad input over every function the package exports (the root, `src/index.ts`, and `medrobust/backend`).
 *
 * Each function gets one valid base call on tiny inputs (a smallCnn on 8×8×1 images, 2 images, 1 step,
 * 1 epoch); then every positional argument, and every key of its options object, is replaced in turn by
 * values of the wrong type, range or shape. Each call must either succeed with a finite, valid result or
 * throw a {@link MedrobustError} whose message starts with the function's name: no TypeError, RangeError
 * or raw tfjs error, no hang, and `tf.memory().numTensors` unchanged afterwards (a success's outputs
 * disposed). The exports are enumerated: a function with no case below fails the suite, so a new export
 * cannot escape the fuzz. (`badInput.test.ts` fuzzes the data and node exports in depth, with files.)
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as api from '../../src/index.js';
import * as backendApi from '../../src/backend/index.js';
import { AbortError, InvalidArgumentError, MedrobustError } from '../../src/errors.js';
import { BACKENDS, useTestBackend, type BackendName } from '../helpers/backends.js';

/** Exports with no case, and why. Error classes (constructors of `Error` subclasses) are skipped by kind. */
const SKIP: Readonly<Record<string, string>> = {
  memoryStatus: 'takes no argument',
  registerCpuGradients: 'takes no argument',
  registerWebGpuGradients: 'takes no argument (it registers kernels for the webgpu backend; test/backend/webgpuNode.test.ts runs them)',
  registerWasmGradients: 'takes no argument',
};

/** A sync call that runs longer than this is a hang (it cannot be interrupted); an async one is abandoned. */
const HANG_MS = 15_000;
/** An async call with an AbortSignal is aborted after this long (it must then end with an AbortError). */
const ABORT_AFTER_MS = 1_500;

interface Case {
  /** The export's name (the key in `api` or `backendApi`); messages must start with `${fn}:`. */
  fn: string;
  /** Fresh valid arguments. */
  args: () => unknown[];
  /** The index of the options object among the arguments: each of its keys is fuzzed too. */
  options?: number;
  /** Option keys absent from the base options that are fuzzed as well. */
  extraKeys?: readonly string[];
  /** Positions not to fuzz (documented where used). */
  fixed?: readonly number[];
  /** NaN is a documented result (the correlation of a label with no variance), or carried over from the input (conversions, batching). */
  allowNaN?: boolean;
  /**
   * Paths inside the arguments (argument index first, then keys) whose values are replaced by each bad
   * option value too: batches inside `data`, an attack's fields, nested option objects.
   */
  nested?: readonly (readonly (string | number)[])[];
  /** Fuzz only the nested paths (a second case for a function, with a base that holds those objects). */
  onlyNested?: boolean;
  /** Option keys not fuzzed (documented where used). */
  fixedKeys?: readonly string[];
  /** Use the short list of bad values (expensive successes: model builders, training). */
  light?: boolean;
  /** Extra validity check of a success; returns a problem or undefined. */
  check?: (out: unknown, args: unknown[]) => string | undefined;
  /** Calls the function (default: the export itself). */
  call?: (...args: unknown[]) => unknown;
  /** The function's AbortSignal option is set in the base, and aborted on a hang. */
  abortable?: boolean;
  /** A sync call's time from which it counts as a hang, where a valid default is long (default HANG_MS). */
  hangMs?: number;
}

const stats = { calls: 0, typed: 0, ok: 0, aborted: 0 };
const failures: string[] = [];

function show(v: unknown): string {
  if (v instanceof tf.Tensor) return `tensor[${v.shape.join(',')}]${v.isDisposed ? ' (disposed)' : ''}`;
  if (typeof v === 'number') return String(v);
  if (Array.isArray(v) && v.length === 1 && typeof v[0] === 'number') return `[${v[0]}]`;
  try {
    return typeof v === 'symbol' ? v.toString() : typeof v === 'bigint' ? `${v}n` : typeof v === 'function' ? 'function' : JSON.stringify(v) ?? String(v);
  } catch {
    return Object.prototype.toString.call(v);
  }
}

/** The tensors in a result (model outputs and LayersModels are disposed here too). */
function collect(v: unknown, seen = new Set<unknown>()): tf.Tensor[] {
  if (v instanceof tf.Tensor) return borrowed.has(v) ? [] : [v];
  if (!v || typeof v !== 'object' || ArrayBuffer.isView(v) || seen.has(v)) return [];
  seen.add(v);
  const model = v as { dispose?: () => unknown; getWeights?: unknown };
  if (typeof model.dispose === 'function' && typeof model.getWeights === 'function') {
    if (v !== fx.net && v !== fx.gen && v !== fx.otherNet) model.dispose();
    return [];
  }
  return Object.values(v).flatMap((x) => collect(x, seen));
}

/** A problem with a success: undefined, a non-finite number, a borrowed, disposed or non-finite tensor. */
function invalid(v: unknown, allowNaN: boolean, where = 'result', seen = new Set<unknown>()): string | undefined {
  if (v === undefined && where === 'result') return 'undefined';
  if (typeof v === 'number') return Number.isFinite(v) || (allowNaN && Number.isNaN(v)) ? undefined : `${where} = ${v}`;
  if (v instanceof tf.Tensor) {
    if (borrowed.has(v)) return `${where} is an argument or fixture tensor, returned instead of a new one`;
    if (v.isDisposed) return `${where} is a disposed tensor`;
    if (!allowNaN && v.dtype === 'float32' && !tf.tidy(() => tf.all(tf.isFinite(v)).dataSync()[0])) return `${where} has non-finite values`;
    return undefined;
  }
  if (!v || typeof v !== 'object' || seen.has(v) || typeof (v as { getWeights?: unknown }).getWeights === 'function') return undefined;
  seen.add(v);
  if (ArrayBuffer.isView(v)) {
    const a = v as unknown as ArrayLike<number>;
    if (!allowNaN) for (let i = 0; i < a.length; i++) if (typeof a[i] === 'number' && !Number.isFinite(a[i])) return `${where}[${i}] = ${a[i]}`;
    return undefined;
  }
  for (const [k, x] of Object.entries(v)) {
    const p = invalid(x, allowNaN, `${where}.${k}`, seen);
    if (p) return p;
  }
  return undefined;
}

/** Fixtures of one backend: created once, never disposed by the functions under test. */
interface Fixtures {
  net: tfl.LayersModel;
  /** A model for other images (16×16×3, 3 classes): wrong for every 8×8×1 call. */
  otherNet: tfl.LayersModel;
  initial: tf.Tensor[];
  gen: tfl.LayersModel;
  images: tf.Tensor4D;
  shifted: tf.Tensor4D;
  one: tf.Tensor4D;
  image3: tf.Tensor3D;
  attention: tf.Tensor2D;
  labels: tf.Tensor1D;
  multiHot: tf.Tensor2D;
  logits: tf.Tensor2D;
  advLogits: tf.Tensor2D;
  disposed: tf.Tensor;
  bad: tf.Tensor[];
}
let fx: Fixtures;
/** Every tensor the suite owns (fixtures): a function must neither dispose nor return one. */
let borrowed = new Set<tf.Tensor>();

function cyclic(): Record<string, unknown> {
  const c: Record<string, unknown> = { a: 1 };
  c.self = c;
  return c;
}

/** Values for a positional argument: wrong types, ranges, and wrong tensors. */
function positionalValues(light: boolean): unknown[] {
  const common: unknown[] = [undefined, null, Number.NaN, Infinity, -1, 0, 1.5, '', '2', {}, [], cyclic(), fx.disposed];
  if (light) return common;
  return [
    ...common, -Infinity, 1e9, true, [Number.NaN], () => 1, Symbol('s'), 10n, ...fx.bad,
    // models that misbehave: NaN logits, the wrong batch size, a rank-1 output
    (x: tf.Tensor4D) => tf.fill([x.shape[0], 2], Number.NaN),
    () => tf.zeros([1, 2]),
    (x: tf.Tensor4D) => tf.zeros([x.shape[0]]),
    fx.otherNet,
    // data with a bad batch: NaN images, labels out of range, no batch object
    [{ images: fx.bad[5], labels: fx.labels }], [{ images: fx.images, labels: fx.bad[6] }], [null], [{}],
  ];
}

/** Values for an option key. */
function optionValues(light: boolean): unknown[] {
  const common: unknown[] = [null, Number.NaN, Infinity, -1, 0, 1.5, '', '2', cyclic(), fx.disposed];
  if (light) return common;
  return [...common, undefined, -Infinity, 1e9, true, {}, [], [Number.NaN], () => Number.NaN, Symbol('s'), 10n];
}

async function once(c: Case, args: unknown[], what: string): Promise<void> {
  const tStart = Date.now();
  try {
    await onceInner(c, args, what);
  } finally {
    if (process.env.MEDROBUST_FUZZ_TRACE && Date.now() - tStart > 100) console.log(`  slow call (${Date.now() - tStart} ms): ${what}`);
  }
}

async function onceInner(c: Case, args: unknown[], what: string): Promise<void> {
  const call = c.call ?? ((api as Record<string, unknown>)[c.fn] ?? (backendApi as Record<string, unknown>)[c.fn]) as (...a: unknown[]) => unknown;
  const before = tf.memory().numTensors;
  stats.calls++;
  const t0 = Date.now();
  let out: unknown;
  let timer: NodeJS.Timeout | undefined;
  let pending: Promise<unknown> | undefined;
  const hangMs = c.abortable ? ABORT_AFTER_MS : HANG_MS;
  try {
    out = call(...args);
    if (out instanceof Promise) {
      pending = out;
      out = await Promise.race([out, new Promise((_, reject) => { timer = setTimeout(() => reject(new Error('__hang__')), hangMs); })]);
    }
  } catch (err) {
    clearTimeout(timer);
    const e = err as Error;
    const desc = `${what}: ${e?.constructor?.name} ${String(e?.message).slice(0, 300)}`;
    if (e?.message === '__hang__') {
      // A long async job that stops cleanly on its AbortSignal is bounded (the issue's remedy for
      // `pgd({ steps: 1e9 })`); one that cannot be stopped is a hang.
      const controller = ((args[c.options ?? -1] as { signal?: AbortSignal } | undefined)?.signal as { controller?: AbortController } | undefined)?.controller;
      controller?.abort();
      const end = controller ? await Promise.race([pending!.then(() => 'resolved', (x: unknown) => x), new Promise((r) => setTimeout(() => r('still running'), 2000))]) : 'no signal';
      if (end instanceof AbortError) stats.aborted++;
      else failures.push(`hang (> ${hangMs} ms, then ${end instanceof Error ? end.constructor.name : String(end)} after abort): ${what}`);
      if (tf.memory().numTensors !== before) failures.push(`leak of ${tf.memory().numTensors - before} tensors after abort: ${what}`);
      return;
    }
    if (!(e instanceof MedrobustError)) failures.push(`untyped: ${desc}${e?.stack ? `\n    ${e.stack.split('\n').slice(1, 4).join('\n    ')}` : ''}`);
    else if (!e.message.startsWith(`${c.fn}:`)) failures.push(`message does not start with '${c.fn}:': ${desc}`);
    else if (e instanceof InvalidArgumentError && (e.fn !== c.fn || !e.argument || !e.expected || !e.received)) failures.push(`InvalidArgumentError fields (fn, argument, expected, received) incomplete: ${desc}`);
    const after = tf.memory().numTensors;
    if (after !== before) failures.push(`leak of ${after - before} tensors on error: ${desc}`);
    stats.typed++;
    if (process.env.MEDROBUST_FUZZ_TRACE && Date.now() - t0 > 100) console.log(`  slow error (${Date.now() - t0} ms): ${desc.slice(0, 160)}`);
    return;
  }
  clearTimeout(timer);
  if (Date.now() - t0 > (c.hangMs ?? HANG_MS)) failures.push(`sync call ran ${Date.now() - t0} ms: ${what}`);
  stats.ok++;
  if (process.env.MEDROBUST_FUZZ_TRACE && Date.now() - t0 > 100) console.log(`  slow success (${Date.now() - t0} ms): ${what}`);
  const problem = invalid(out, c.allowNaN ?? false) ?? c.check?.(out, args);
  if (problem) failures.push(`silent wrong result: ${what}: ${problem}`);
  const t1 = Date.now();
  tf.dispose(collect(out));
  if (process.env.MEDROBUST_FUZZ_TRACE && Date.now() - t1 > 50) console.log(`  slow dispose (${Date.now() - t1} ms): ${what}`);
  const after = tf.memory().numTensors;
  if (after !== before) failures.push(`leak of ${after - before} tensors after success: ${what}`);
}

/** The base call, then each position and each option key replaced by each bad value. */
async function fuzz(c: Case): Promise<void> {
  const base = c.args();
  const baseFailures = failures.length;
  await once(c, base, `${c.fn} (valid base call)`);
  if (failures.length > baseFailures || stats.ok === 0) failures.push(`${c.fn}: the valid base call must succeed`);
  for (const path of c.nested ?? []) {
    for (const bad of optionValues(c.light ?? false)) {
      const args = c.args();
      setPath(args, path, bad);
      await once(c, args, `${c.fn} argument ${path.join('.')} = ${show(bad)}`);
    }
  }
  if (c.onlyNested) return;
  for (let pos = 0; pos < base.length; pos++) {
    if (c.fixed?.includes(pos)) continue;
    for (const bad of positionalValues(c.light ?? false)) {
      const args = c.args();
      args[pos] = bad;
      await once(c, args, `${c.fn} argument ${pos} = ${show(bad)}`);
    }
  }
  if (c.options === undefined) return;
  const opts = base[c.options] as Record<string, unknown>;
  const keys = new Set([...Object.keys(opts), ...(c.extraKeys ?? []), ...await knownKeys(c)]);
  for (const key of [...keys].filter((k) => k !== 'signal' && !c.fixedKeys?.includes(k))) {
    for (const bad of optionValues(c.light ?? false)) {
      const args = c.args();
      args[c.options] = { ...(args[c.options] as object), [key]: bad };
      await once(c, args, `${c.fn} options.${key} = ${show(bad)}`);
    }
  }
}

/** Replaces the value at `path` in fresh arguments, copying each container on the way (bases share fixtures). */
function setPath(args: unknown[], path: readonly (string | number)[], value: unknown): void {
  let parent = args as unknown as Record<string | number, unknown>;
  for (let i = 0; i < path.length - 1; i++) {
    const child = parent[path[i]!];
    const copy = Array.isArray(child) ? [...child] : { ...(child as object) };
    parent[path[i]!] = copy;
    parent = copy as Record<string | number, unknown>;
  }
  parent[path[path.length - 1]!] = value;
}

/**
 * The option keys a function knows, read from the error an unknown key gets (`one of the known options
 * (a, b, …)`), so that every key is fuzzed, also those added later. The unknown key must be rejected.
 */
async function knownKeys(c: Case): Promise<string[]> {
  const args = c.args();
  args[c.options!] = { ...(args[c.options!] as object), notAnOption: 1 };
  await once(c, args, `${c.fn} options.notAnOption = 1`);
  try {
    const call = c.call ?? ((api as Record<string, unknown>)[c.fn] ?? (backendApi as Record<string, unknown>)[c.fn]) as (...a: unknown[]) => unknown;
    await call(...args);
  } catch (err) {
    const m = err instanceof InvalidArgumentError && err.argument === 'options.notAnOption' ? /known options \(([^)]*)\)/.exec(err.expected) : null;
    if (m) return m[1]!.split(', ');
  }
  failures.push(`${c.fn}: options.notAnOption was not rejected as an unknown option naming the known ones`);
  return [];
}

/** An AbortSignal whose controller the harness can reach (to stop an abandoned async call). */
function signal(): AbortSignal {
  const controller = new AbortController();
  return Object.assign(controller.signal, { controller });
}

/** Attack outputs: the images' shape, inside [0, 1], within ε (L∞) of the clean images. */
function attackCheck(out: unknown, args: unknown[]): string | undefined {
  const x = args[1] as tf.Tensor4D;
  const o = (args[3] ?? {}) as { epsilon?: unknown; norm?: unknown; clip?: unknown };
  if (!(out instanceof tf.Tensor)) return 'not a tensor';
  if (out.shape.join() !== x.shape.join()) return `shape [${out.shape}] for images [${x.shape}]`;
  const [lo, hi, dist] = tf.tidy(() => [tf.min(out), tf.max(out), tf.max(tf.abs(tf.sub(out, x)))].map((t) => t.dataSync()[0]!));
  if (o.clip === undefined && (lo! < -1e-6 || hi! > 1 + 1e-6)) return `outside [0, 1]: [${lo}, ${hi}]`;
  const eps = Array.isArray(o.epsilon) ? Math.max(...(o.epsilon as number[])) : o.epsilon;
  if (o.norm !== 'l2' && typeof eps === 'number' && dist! > eps + 1e-5) return `moved ${dist} > ε = ${eps}`;
  return undefined;
}

/** Rates, AUCs and probabilities: every number in the result lies in [0, 1]. */
function unitCheck(out: unknown): string | undefined {
  const nums: number[] = typeof out === 'number' ? [out] : Array.isArray(out) ? out as number[] : Object.values(out as object).flat() as number[];
  const bad = nums.find((v) => typeof v === 'number' && (v < 0 || v > 1));
  return bad === undefined ? undefined : `${bad} outside [0, 1]`;
}

/** Corrupted images: the input's shape (per frame) and values in [0, 1]. */
function corruptCheck(out: unknown, args: unknown[]): string | undefined {
  const x = args[0] as tf.Tensor4D;
  if (!(out instanceof tf.Tensor)) return 'not a tensor';
  const want = out.rank === 5 ? [x.shape[0], out.shape[1], ...x.shape.slice(1)] : x.shape;
  if (out.shape.join() !== want.join()) return `shape [${out.shape}] for images [${x.shape}]`;
  const [lo, hi] = tf.tidy(() => [tf.min(out), tf.max(out)].map((t) => t.dataSync()[0]!));
  return lo! < -1e-6 || hi! > 1 + 1e-6 ? `values in [${lo}, ${hi}], outside [0, 1]` : undefined;
}

const smallNet = (): tfl.LayersModel => api.smallCnn({ inputShape: [8, 8, 1], classes: 2, width: 0.125, seed: 1 });

/** Restores the shared classifier after a training call changed it (a NaN learning rate must not poison later calls). */
function resetNet(): void {
  fx.net.setWeights(fx.initial);
}

function cases(backend: BackendName): Case[] {
  const data = () => [{ images: fx.images, labels: fx.labels }];
  const matrix = [[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]];
  const classes = [0, 1, 0, 1];
  const features = [[0, 0, 1], [0.1, 0, 1], [0, 0.2, 1], [5, 5, 0], [5.1, 5, 0], [5, 5.2, 0]];
  const embedding = [[0, 0], [0.1, 0], [0, 0.1], [3, 3], [3.1, 3], [3, 3.1]];
  const train = (fn: 'advTrain' | 'mpAdvTrain' | 'maAdvTrain' | 'trades', extra: Record<string, unknown>): Case => ({
    fn, light: true, abortable: true, options: 2,
    args: () => [fx.net, data(), { epochs: 1, seed: 1, learningRate: () => 0.01, batchSize: 2, signal: signal(), ...extra }],
    extraKeys: ['optimizer', 'task', 'clip', 'l1', 'weightDecay', 'microBatch', 'memoryBudget', 'checkpointEvery', 'batchNorm', 'validation', 'restoreBest'],
    nested: [[1, 0, 'images'], [1, 0, 'labels'], [1, 0]],
    call: async (...a) => { try { return await (api[fn] as (...x: unknown[]) => Promise<unknown>)(...a); } finally { resetNet(); } },
  });
  return [
    // attacks
    { fn: 'fgsm', args: () => [fx.net, fx.images, fx.labels, { epsilon: 0.1, norm: 'linf', targeted: false, task: 'single-label', batchSize: 2 }], options: 3, extraKeys: ['clip', 'loss', 'memoryBudget'], check: attackCheck },
    { fn: 'pgd', args: () => [fx.net, fx.images, fx.labels, { epsilon: 0.1, steps: 1, stepSize: 0.05, restarts: 1, seed: 1, randomStart: true, clipStart: true }], options: 3, extraKeys: ['norm', 'targeted', 'clip', 'task', 'loss', 'batchSize', 'memoryBudget'], check: attackCheck },
    { fn: 'pgd', onlyNested: true, args: () => [fx.net, fx.images, fx.labels, { epsilon: [0.1, 0.05], steps: 1, seed: 1, clip: { min: [0], max: [1] } }], nested: [[3, 'epsilon', 1], [3, 'clip', 'min'], [3, 'clip', 'max'], [3, 'clip', 'max', 0]], check: attackCheck },
    { fn: 'pgdAsync', abortable: true, args: () => [fx.net, fx.images, fx.labels, { epsilon: 0.1, steps: 1, seed: 1, signal: signal(), onProgress: () => undefined }], options: 3, extraKeys: ['stepSize', 'restarts', 'norm', 'clip'], check: attackCheck },
    { fn: 'apgd', args: () => [fx.net, fx.images, fx.labels, { epsilon: 0.1, steps: 1, seed: 1 }], options: 3, check: attackCheck },
    { fn: 'apgdAsync', abortable: true, args: () => [fx.net, fx.images, fx.labels, { epsilon: 0.1, steps: 1, seed: 1, signal: signal() }], options: 3, check: attackCheck },
    // `queries: undefined` runs the default 5,000 queries: ~5 s on a quiet machine, 21–27 s measured under load.
    { fn: 'squareAttack', args: () => [fx.net, fx.images, fx.labels, { epsilon: 0.1, queries: 2, seed: 1 }], options: 3, hangMs: 90_000, check: (out, a) => attackCheck((out as { images: unknown }).images, a) },
    { fn: 'squareAttackAsync', abortable: true, args: () => [fx.net, fx.images, fx.labels, { epsilon: 0.1, queries: 2, seed: 1, signal: signal() }], options: 3, check: (out, a) => attackCheck((out as { images: unknown }).images, a) },
    { fn: 'gap', args: () => [fx.gen, fx.images, { magnitude: 10, seed: 1, universal: false, noiseSeed: 2, batchSize: 2 }], options: 2, extraKeys: ['mean', 'std', 'center', 'clip', 'training', 'memoryBudget'] },
    {
      fn: 'trainGap', light: true, abortable: true, options: 3,
      args: () => [fx.net, fx.gen, [{ images: fx.images }], { magnitude: 10, epochs: 1, learningRate: 0.01, seed: 1, signal: signal() }],
      nested: [[2, 0, 'images'], [2, 0]],
      extraKeys: ['maxBatchesPerEpoch', 'universal', 'task', 'objective', 'target', 'threshold', 'microBatch', 'beta1', 'keep', 'gradient'],
    },
    { fn: 'gapUnet', light: true, args: () => [{ inputShape: [8, 8, 1], preset: 'small', ngf: 4, depth: 2, seed: 3 }], options: 0, extraKeys: ['outputChannels', 'dropout'] },
    { fn: 'gapResnet', light: true, args: () => [{ inputShape: [8, 8, 1], ngf: 2, blocks: 1, seed: 3 }], options: 0, extraKeys: ['outputChannels', 'padding', 'dropout'] },
    // models
    { fn: 'smallCnn', light: true, args: () => [{ inputShape: [8, 8, 1], classes: 2, width: 0.125, seed: 1, normalization: { mean: [0.5], std: [0.25] } }], options: 0, nested: [[0, 'normalization', 'mean'], [0, 'normalization', 'std', 0], [0, 'inputShape', 0], [0, 'inputShape', 2]] },
    { fn: 'smallResNet', light: true, args: () => [{ inputShape: [8, 8, 1], classes: 2, width: 0.125, stages: [4, 8], blocksPerStage: 1, seed: 1 }], options: 0 },
    // The three paper architectures are slow to build at full size: the options object itself (undefined
    // and {} build the 224×224 or 299×299 defaults, seconds each), the width (1.5 is valid and larger)
    // and the seed (any integer) are not fuzzed; the other keys are.
    { fn: 'denseNet121', light: true, fixed: [0], fixedKeys: ['seed', 'width'], args: () => [{ inputShape: [32, 32, 1], classes: 2, width: 0.125, blocks: [1, 1, 1, 1], seed: 1 }], options: 0 },
    { fn: 'attnVgg', light: true, fixed: [0], fixedKeys: ['seed', 'width'], args: () => [{ inputShape: [32, 32, 1], classes: 2, width: 1 / 16, seed: 1, attention: 'softmax' }], options: 0 },
    { fn: 'inceptionV3', light: true, fixed: [0], fixedKeys: ['seed', 'width'], args: () => [{ inputShape: [75, 75, 1], classes: 2, width: 1 / 32, seed: 1 }], options: 0, extraKeys: ['auxLogits'] },
    { fn: 'loadTorchWeights', args: () => [fx.net, {}, { strict: false }], options: 2 },
    { fn: 'torchModuleOf', args: () => ['conv1.weight', new Set(['conv1'])] },
    { fn: 'toModelFn', args: () => [fx.net] },
    { fn: 'selectOutput', args: () => [fx.net, 0] },
    // defenses
    train('advTrain', { epsilon: 0.1, steps: 1, stepSize: 0.05, randomStart: true }),
    train('mpAdvTrain', { epsilon: [0.05, 0.1], steps: [1, 1], cleanProbability: 0.5 }),
    train('maAdvTrain', { epsilon: 0.1, steps: 1, beta: 6 }),
    train('trades', { epsilon: 0.1, steps: 1, beta: 6 }),
    {
      ...train('advTrain', { epsilon: 0.1, steps: 1, validation: { images: fx.images, labels: fx.labels, epsilon: 0.1, steps: 1, batchSize: 2 } }),
      onlyNested: true,
      nested: ['images', 'labels', 'epsilon', 'steps', 'stepSize', 'batchSize', 'threshold', 'seed', 'randomStart'].map((k) => [2, 'validation', k]),
    },
    { fn: 'mpAdvTrainPreset', args: () => ['isic2016', { variant: 'paper' }], options: 1, extraKeys: ['epsilon', 'normalization'] },
    { fn: 'maAdvTrainPreset', args: () => ['isic2016', { variant: 'corrected' }], options: 1, extraKeys: ['epsilon', 'normalization'] },
    { fn: 'martLoss', args: () => [fx.logits, fx.advLogits, fx.labels, { beta: 6, reduction: 'mean', form: 'exact' }], options: 3, extraKeys: ['task'] },
    { fn: 'tradesLoss', args: () => [fx.logits, fx.advLogits, fx.labels, { beta: 6, reduction: 'none' }], options: 3, extraKeys: ['task'] },
    { fn: 'crossEntropy', args: () => [fx.logits, fx.labels] },
    { fn: 'binaryCrossEntropy', args: () => [fx.logits, fx.multiHot] },
    { fn: 'focalLoss', args: () => [fx.logits, fx.labels, { gamma: 2 }], options: 2, extraKeys: ['task'] },
    { fn: 'l1Penalty', args: () => [[fx.logits], 0.1] },
    // metrics
    { fn: 'accuracy', check: unitCheck, args: () => [matrix, classes, { threshold: 0.5 }], options: 2, extraKeys: ['task', 'from'] },
    { fn: 'rocAuc', check: unitCheck, args: () => [matrix, classes, { average: 'macro' }], options: 2, extraKeys: ['task'] },
    { fn: 'rocAucPerClass', check: unitCheck, args: () => [matrix, classes, { task: 'single-label' }], options: 2 },
    { fn: 'paperAuc', check: unitCheck, args: () => [matrix, classes, { variant: 'hard-label' }], options: 2 },
    { fn: 'foolingRate', check: unitCheck, args: () => [matrix, [[0.1, 0.9], [0.2, 0.8], [0.6, 0.4], [0.8, 0.2]], { threshold: 0.5 }], options: 2, extraKeys: ['task', 'from'] },
    { fn: 'sensitivitySpecificity', check: unitCheck, args: () => [matrix, classes, { task: 'single-label' }], options: 2, extraKeys: ['threshold', 'from'] },
    { fn: 'perturbationNorms', args: () => [fx.images, fx.shifted] },
    {
      fn: 'evaluateRobustness', light: true, abortable: true, options: 3,
      args: () => [fx.net, data(), [{ name: 'FGSM', attack: 'fgsm', epsilons: [0.1] }], { seed: 1, signal: signal() }],
      nested: [[1, 0, 'images'], [1, 0, 'labels'], [2, 0], [2, 0, 'name'], [2, 0, 'attack'], [2, 0, 'epsilons'], [2, 0, 'epsilons', 0], [2, 0, 'options']],
      extraKeys: ['task', 'threshold', 'aucAverage', 'disposeBatches', 'batchSize', 'memoryBudget'],
    },
    {
      fn: 'evaluateWorstCase', light: true, abortable: true, options: 2,
      args: () => [fx.net, data(), { epsilon: 0.1, attacks: [{ attack: 'pgd', steps: 1 }], seed: 1, signal: signal() }],
      nested: [[1, 0, 'images'], [1, 0, 'labels'], [2, 'attacks', 0], [2, 'attacks', 0, 'steps'], [2, 'attacks', 0, 'attack']],
      extraKeys: ['shard'],
    },
    { fn: 'averagePrecision', check: unitCheck, args: () => [[0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1], { average: 'macro' }], options: 2 },
    { fn: 'hammingLoss', check: unitCheck, args: () => [[[3, -3], [-3, 3]], [[1, 0], [1, 1]], { task: 'multi-label' }], options: 2 },
    { fn: 'attackSuccess', args: () => [fx.logits, fx.labels, { task: 'single-label' }], options: 2 },
    {
      // One image, one ε, one attack: a valid merge of a single shard (its AUROC is NaN: one image holds one label value).
      fn: 'mergeWorstCase', allowNaN: true,
      args: () => [[{
        shard: { index: 0, count: 1 }, eligible: [true], seconds: 0, rows: [{ seconds: 0, samples: { broken: [false], brokenBy: [null], margin: [-1], queries: [1] } }],
        records: {
          kind: 'worst-case', total: 1, classes: 2, labelColumns: 1, positions: [0], labels: [0], clean: [1, 0], cleanBroken: [false], checkWarnings: [], worst: [[1, 0]],
          tallies: [[{ attacked: 1, broken: 0, queries: 1, seconds: 0 }]],
          settings: { epsilons: [0.1], attacks: [{ attack: 'pgd', name: 'pgd-1', steps: 1, restarts: 1 }], norm: 'linf', task: 'single-label', aucAverage: 'macro', threshold: 0.5, seed: 1, version: 'custom', goal: null, clip: [0, 1], checks: false },
        },
      }]],
      nested: [[0, 0, 'shard'], [0, 0, 'records'], [0, 0, 'records', 'positions'], [0, 0, 'records', 'settings'], [0, 0, 'records', 'total'], [0, 0, 'records', 'clean'], [0, 0, 'rows'], [0, 0, 'eligible']],
    },
    { fn: 'mergeShards', args: () => [[{ shard: { index: 0, count: 1 }, config: { model: 'v1' }, results: {} }]], nested: [[0, 0, 'shard'], [0, 0, 'shard', 'count'], [0, 0, 'results'], [0, 0, 'config']] },
    { fn: 'tsne', abortable: true, args: () => [features, { perplexity: 2, maxIterations: 10, seed: 1, signal: signal() }], options: 1, extraKeys: ['dimensions', 'method', 'theta', 'learningRate', 'earlyExaggeration', 'init'] },
    { fn: 'tsneTransform', abortable: true, args: () => [{ features, embedding }, [[0, 0.1, 1]], { perplexity: 2, maxIterations: 10, seed: 1, signal: signal() }], options: 2, extraKeys: ['learningRate', 'momentum', 'theta'], nested: [[0, 'features'], [0, 'embedding'], [0, 'embedding', 0], [0, 'features', 0, 1]] },
    { fn: 'trustworthiness', check: unitCheck, args: () => [features, embedding, { k: 2 }], options: 2 },
    { fn: 'knnAccuracy', check: unitCheck, args: () => [features, [0, 0, 0, 1, 1, 1], { k: 1 }], options: 2 },
    { fn: 'discriminability', args: () => [features, [0, 0, 0, 1, 1, 1], { k: 1, seed: 1 }], options: 2, extraKeys: ['silhouetteSampleSize'] },
    { fn: 'compareDiscriminability', args: () => [features, features.map((r) => r.map((v) => v + 0.5)), [0, 0, 0, 1, 1, 1], { k: 1 }], options: 3 },
    // corruptions
    { fn: 'corrupt', check: corruptCheck, args: () => [fx.images, 'gaussian_noise', { severity: 1, seed: 1 }], options: 2, extraKeys: ['referenceSize'] },
    { fn: 'corruptionCategory', args: () => ['gaussian_noise'] },
    { fn: 'perturbationSequence', check: corruptCheck, args: () => [fx.images, 'rotate', { frames: 2, seed: 1 }], options: 1 + 1, extraKeys: ['indexing', 'fill', 'referenceSize', 'difficulty'] },
    { fn: 'flipProbability', check: unitCheck, args: () => [[[0, 0, 1], [1, 1, 1]], { type: 'rotate' }], options: 1, extraKeys: ['task', 'reference', 'multiLabel', 'threshold', 'difficulty'] },
    {
      fn: 'evaluateCorruptions', light: true, abortable: true, options: 2,
      args: () => [fx.net, data(), { types: ['brightness'], severities: [1], seed: 1, signal: signal() }],
      nested: [[1, 0, 'images'], [1, 0, 'labels'], [2, 'types', 0], [2, 'severities', 0]],
      extraKeys: ['task', 'threshold', 'referenceSize', 'batchSize'],
    },
    {
      fn: 'evaluatePerturbations', light: true, abortable: true, options: 2,
      args: () => [fx.net, data(), { types: ['rotate'], frames: 2, seed: 1, signal: signal() }],
      extraKeys: ['task', 'indexing', 'fill', 'multiLabel', 'threshold', 'difficulty', 'referenceSize'],
    },
    { fn: 'corruptionGrid', args: () => [fx.one, { types: ['brightness'], severities: [1], includeClean: true, seed: 1 }], options: 1, extraKeys: ['referenceSize'] },
    // analysis
    { fn: 'jetColormap', args: () => [[0, 0.5, 1], { min: 0, max: 1 }], options: 1 },
    { fn: 'tileImages', args: () => [[{ width: 1, height: 1, data: new Uint8Array(3) }], { columns: 1, gap: 0 }], options: 1, nested: [[0, 0, 'width'], [0, 0, 'height'], [0, 0, 'data']] },
    { fn: 'layerActivations', args: () => [fx.net, fx.images, { layers: ['conv1'] }], options: 2, extraKeys: ['batchSize', 'memoryBudget'] },
    { fn: 'activationShift', args: () => [fx.net, fx.images, fx.shifted, { layers: ['conv1'] }], options: 3 },
    { fn: 'featureMapImages', args: () => [fx.images, { image: 0, channels: [0], normalize: 'minmax', size: [4, 4] }], options: 1 },
    { fn: 'attentionOverlay', args: () => [fx.image3, fx.attention, { alpha: 0.5 }], options: 2 },
    { fn: 'saliencyMap', args: () => [fx.net, fx.images, { classIndex: 0, percentile: 99, invert: false }], options: 2, extraKeys: ['batchSize'] },
    { fn: 'labelCooccurrence', args: () => [[[1, 0], [1, 1], [0, 1]], { threshold: 0.5, diagonal: 'count' }], options: 1, extraKeys: ['classes'] },
    { fn: 'labelCorrelation', allowNaN: true, args: () => [[[1, 0], [1, 1], [0, 1]], { threshold: 0.5 }], options: 1, extraKeys: ['classes'] },
    { fn: 'labelCorrelationShift', allowNaN: true, args: () => [[[1, 0], [1, 1], [0, 1]], [[0, 0], [1, 1], [1, 1]], { threshold: 0.5 }], options: 2, extraKeys: ['classes'] },
    // report
    { fn: 'markdownTable', args: () => [[{ a: 1, b: 'x' }], { columns: ['a', 'b'], digits: 2 }], options: 1 },
    { fn: 'toCsv', args: () => [[{ a: 1, b: 'x' }], { columns: ['a', 'b'] }], options: 1 },
    { fn: 'lineChartSpec', args: () => [[{ e: 0, acc: 1 }], { x: 'e', y: 'acc', title: 't' }], options: 1, extraKeys: ['color', 'width', 'height'] },
    { fn: 'scatterSpec', args: () => [[{ x: 0, y: 1, label: 'a' }], { color: 'label', title: 't' }], options: 1, extraKeys: ['shape', 'width'] },
    { fn: 'heatmapSpec', args: () => [[[1, 0], [0, 1]], ['a', 'b'], { title: 't', size: 100, domain: [0, 1] }], options: 2, extraKeys: ['legendTitle'] },
    { fn: 'heatmapGridSpec', args: () => [[{ title: 'p', matrix: [[1, 0], [0, 1]] }], ['a', 'b'], { title: 't', size: 100 }], options: 2, extraKeys: ['legendTitle'] },
    // data
    { fn: 'readNpy', args: () => [api.writeNpy({ dtype: 'float32', shape: [2], data: new Float32Array([1, 2]) })] },
    { fn: 'writeNpy', args: () => [{ dtype: 'float32', shape: [2], data: new Float32Array([1, 2]) }] },
    { fn: 'readNpz', args: () => [api.writeNpz({ x: { dtype: 'float32', shape: [1], data: new Float32Array([1]) } }), { keys: ['x'] }], options: 1, extraKeys: ['maxBytes'] },
    { fn: 'writeNpz', args: () => [{ x: { dtype: 'float32', shape: [1], data: new Float32Array([1]) } }, { compress: false }], options: 1 },
    { fn: 'npyToTensor', args: () => [{ dtype: 'float32', shape: [2], data: new Float32Array([1, 2]) }] },
    { fn: 'tensorToNpy', allowNaN: true, args: () => [fx.labels] },
    {
      fn: 'medmnistFromNpz', options: 1,
      args: () => [{
        test_images: { dtype: 'uint8', shape: [2, 28, 28, 3], data: new Uint8Array(2 * 28 * 28 * 3) },
        test_labels: { dtype: 'uint8', shape: [2, 1], data: new Uint8Array([0, 6]) },
      }, { dataset: 'dermamnist', split: 'test' }],
    },
    { fn: 'parseChestXray14List', args: () => ['a.png 0 1\n'] },
    { fn: 'parseLabelCsv', args: () => ['a,benign\n', { classNames: ['benign', 'malignant'] }], options: 1 },
    {
      fn: 'batchesFromTensors', allowNaN: true, args: () => [fx.images, fx.labels, { batchSize: 1, shuffle: true, seed: 1, dropRemainder: false }], options: 2,
      call: async (...a) => {
        const out: tf.Tensor[] = [];
        for await (const b of (api.batchesFromTensors as (...x: unknown[]) => AsyncIterable<api.LabeledImages>)(...a)) out.push(b.images, b.labels);
        return out;
      },
    },
    { fn: 'preprocess', allowNaN: true, args: () => [fx.images, { resize: 6, horizontalFlip: true }, { seed: 1 }], options: 2 },
    { fn: 'generateLesions', light: true, args: () => [{ count: 2, size: 16, seed: 1, malignantFraction: 0.5 }], options: 0 },
    { fn: 'generateChestXrays', light: true, args: () => [{ count: 2, size: 16, channels: 1, seed: 1 }], options: 0 },
    // backend: the name stays the suite's own (a bad one must be rejected; undefined means 'auto', which may pick another backend)
    {
      fn: 'useBackend', args: () => [backend, { threads: 1, registerGradients: true }], options: 1,
      call: async (...a) => { try { return await backendApi.useBackend(...(a as Parameters<typeof backendApi.useBackend>)); } finally { await useTestBackend(backend); } },
    },
  ];
}

describe.each(BACKENDS)('bad input to every export (%s)', (backend) => {
  beforeAll(async () => {
    await useTestBackend(backend);
    Object.assign(stats, { calls: 0, typed: 0, ok: 0, aborted: 0 });
    const net = smallNet();
    const images = tf.randomUniform([2, 8, 8, 1], 0, 1, 'float32', 1) as tf.Tensor4D;
    const disposed = tf.ones([2, 8, 8, 1]);
    disposed.dispose();
    fx = {
      net,
      otherNet: api.smallCnn({ inputShape: [16, 16, 3], classes: 3, width: 0.125, seed: 2 }),
      initial: net.getWeights().map((w) => w.clone()),
      gen: api.gapUnet({ inputShape: [8, 8, 1], preset: 'small', ngf: 4, seed: 3 }),
      images,
      shifted: tf.add(images, 0.01),
      one: tf.slice(images, 0, 1),
      image3: tf.zeros([8, 8, 1]),
      attention: tf.ones([4, 4]),
      labels: tf.tensor1d([0, 1], 'int32'),
      multiHot: tf.tensor2d([[1, 0], [1, 1]]),
      logits: tf.tensor2d([[2, -1], [0.5, 1]]),
      advLogits: tf.tensor2d([[1, 0], [1, 0.5]]),
      disposed,
      bad: [
        tf.zeros([3]), tf.zeros([2, 8, 8]), tf.zeros([2, 8, 8, 3]), tf.zeros([3, 8, 8, 1]), tf.zeros([2, 4, 4, 1]),
        tf.fill([2, 8, 8, 1], Number.NaN), tf.tensor1d([0, 5], 'int32'), tf.tensor1d([-1, 0], 'int32'), tf.tensor1d([0.5, 1]),
        tf.zeros([2, 3]), tf.zeros([0, 8, 8, 1]),
      ],
    };
    borrowed = new Set([fx.images, fx.shifted, fx.one, fx.image3, fx.attention, fx.labels, fx.multiHot, fx.logits, fx.advLogits, ...fx.bad, ...fx.initial]);
  });
  afterAll(() => {
    console.log(`export fuzz on ${backend}: ${stats.calls} calls, ${stats.typed} typed errors, ${stats.ok} accepted, ${stats.aborted} long jobs stopped by their AbortSignal`);
    tf.dispose([fx.images, fx.shifted, fx.one, fx.image3, fx.attention, fx.labels, fx.multiHot, fx.logits, fx.advLogits, ...fx.bad, ...fx.initial]);
    fx.net.dispose();
    fx.otherNet.dispose();
    fx.gen.dispose();
  });

  it('every function export has a case (or a stated skip)', () => {
    const covered = new Set(cases(backend).map((c) => c.fn));
    const missing: string[] = [];
    for (const [name, value] of [...Object.entries(api), ...Object.entries(backendApi)]) {
      if (typeof value !== 'function') continue;
      if (value.prototype instanceof Error) continue; // error classes: constructed by the library, not fuzzed
      if (!covered.has(name) && !(name in SKIP)) missing.push(name);
    }
    expect(missing, `exports with no fuzz case: ${missing.join(', ')}`).toEqual([]);
    const exported = { ...api, ...backendApi } as Record<string, unknown>;
    const stale = [...Object.keys(SKIP), ...covered].filter((name) => typeof exported[name] !== 'function');
    expect(stale, `cases or skips for names that are not function exports: ${stale.join(', ')}`).toEqual([]);
  });

  it('each export succeeds with a finite result or throws a typed error naming itself, leaking nothing', async () => {
    const only = process.env.MEDROBUST_FUZZ_ONLY?.split(',');
    for (const c of cases(backend)) {
      if (only && !only.includes(c.fn)) continue;
      const t0 = Date.now();
      const n0 = stats.calls;
      const f0 = failures.length;
      await fuzz(c);
      if (process.env.MEDROBUST_FUZZ_TRACE) console.log(`${c.fn}: ${stats.calls - n0} calls, ${Date.now() - t0} ms${failures.slice(f0).map((f) => `\n  ${f}`).join('')}`);
      for (const t of borrowed) if (t.isDisposed) failures.push(`${c.fn} disposed an argument it borrowed`);
    }
    const found = failures.splice(0);
    expect(found, `${found.length} failures:\n${found.join('\n')}`).toEqual([]);
    if (!only) expect(stats.calls).toBeGreaterThan(300);
  });
});
