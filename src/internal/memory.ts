/**
 * Bounded memory: what a backend can hold, what one step of a model needs (measured, not guessed), how
 * many samples fit at once, and a batch run in chunks of that size. Every function that takes a batch
 * (attacks, evaluateRobustness, analyses; GAP, defenses and the CLI are to adopt it) goes through
 * {@link planChunks} and {@link runInChunks}.
 *
 * **Why wasm hung instead of failing** (tfjs-backend-wasm 4.22, `backend_wasm.ts` `move`): the heap grows
 * up to 4 GiB − 64 KiB (Emscripten's `getHeapMax`, wasm32). Past that, `_malloc` returns NULL (the build
 * has `ALLOW_MEMORY_GROWTH` without `ABORTING_MALLOC`), and the backend stores the tensor at
 * `NULL >>> 0 = 0`: the kernel then writes the whole output over the bottom of the heap (static data,
 * stacks, other tensors, the allocator's own metadata). What follows is undefined: garbage, or the
 * allocator walking a corrupted free list forever at 100% CPU. {@link installHeapGuard} wraps `_malloc`
 * so that a failed allocation throws a {@link MemoryBudgetError} before anything is written, and
 * {@link planChunks} keeps steps below the limit in the first place.
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import { InvalidArgumentError, MemoryBudgetError } from '../errors.js';
import type { MemoryOptions } from '../types.js';
import { assertNumber, describeValue } from './validate.js';

export type { MemoryOptions };

/** The largest wasm32 heap (4 GiB − 64 KiB), Emscripten's `getHeapMax()` for tfjs-backend-wasm's builds. */
export const WASM_HEAP_MAX = 2 ** 32 - 2 ** 16;

/**
 * Bytes of the wasm heap not available to tensors: static data, thread stacks, XNNPACK's operator caches
 * and scratch buffers (allocated in C, invisible to the engine's byte count).
 */
export const WASM_RESERVE = 64 * 2 ** 20;

/**
 * The factor between a measured step peak and what is planned for it: allocator fragmentation and
 * C-side scratch the measurement cannot see.
 */
export const HEADROOM = 1.25;

/** Bytes live in the wasm heap through JS-side allocations (every tensor), and their peak since a reset. */
interface HeapMeter { live: number; peak: number; sizes: Map<number, number> }

interface WasmModuleLike {
  _malloc: (bytes: number) => number;
  _free?: (ptr: number) => void;
  HEAPU8: Uint8Array;
  medrobustHeapGuard?: true;
  medrobustHeapMeter?: HeapMeter;
}

function wasmModule(backend: unknown): WasmModuleLike | undefined {
  const wasm = (backend as { wasm?: WasmModuleLike } | undefined)?.wasm;
  return wasm && typeof wasm._malloc === 'function' && wasm.HEAPU8 instanceof Uint8Array ? wasm : undefined;
}

function activeBackend(): tf.KernelBackend | undefined {
  try {
    return tf.backend();
  } catch {
    return undefined;
  }
}

const mib = (b: number): string => `${(b / 2 ** 20).toFixed(0)} MiB`;

/**
 * Makes a failed wasm allocation throw instead of corrupting the heap (see the module comment). The
 * error is a {@link MemoryBudgetError} from `'wasm backend'` with `batch` NaN; {@link runInChunks}
 * rethrows it under the calling function's name with its batch. Installed on the running wasm backend
 * by every public entry and by `registerWasmGradients`; idempotent; a no-op on other backends.
 * @returns true when this call installed it.
 */
export function installHeapGuard(backend: unknown = activeBackend()): boolean {
  const wasm = wasmModule(backend);
  if (!wasm || wasm.medrobustHeapGuard) return false;
  // Emscripten's lazy exports replace `Module._malloc` with the raw export on their first call, which
  // would drop a plain wrapper: the property keeps the guard and routes assignments to the inner function.
  let malloc = wasm._malloc;
  const guarded = (bytes: number): number => {
    const ptr = malloc(bytes);
    if (ptr === 0 && bytes > 0) {
      const heap = wasm.HEAPU8.length;
      const err = new MemoryBudgetError('wasm backend', Number.NaN, heap + bytes, WASM_HEAP_MAX, 'process fewer samples at once (options.batchSize) or set options.memoryBudget');
      Object.defineProperty(err, 'message', {
        value: `wasm backend: an allocation of ${mib(bytes)} failed with the heap at ${mib(heap)} of its ${mib(WASM_HEAP_MAX)} limit ` +
          '(tfjs-backend-wasm would have written the tensor at address 0 and corrupted memory); process fewer samples at once (options.batchSize) or set options.memoryBudget',
        configurable: true,
        writable: true,
      });
      throw err;
    }
    return ptr;
  };
  Object.defineProperty(wasm, '_malloc', {
    configurable: true,
    enumerable: true,
    get: () => metered,
    set: (f: (bytes: number) => number) => { malloc = f; },
  });
  // The meter: every tensor's buffer is allocated and freed from JS, so live bytes are known exactly
  // (views such as Reshape and the shared Identity allocate nothing; C-side scratch is not seen).
  const meter: HeapMeter = { live: 0, peak: 0, sizes: new Map() };
  wasm.medrobustHeapMeter = meter;
  const metered = (bytes: number): number => {
    const ptr = guarded(bytes);
    // wasm returns addresses above 2 GiB as negative int32; tfjs frees them as unsigned (`>>> 0`).
    meter.sizes.set(ptr >>> 0, bytes);
    meter.live += bytes;
    if (meter.live > meter.peak) meter.peak = meter.live;
    return ptr;
  };
  if (typeof wasm._free === 'function') {
    let free = wasm._free;
    const meteredFree = (ptr: number): void => {
      const bytes = meter.sizes.get(ptr >>> 0);
      if (bytes !== undefined) {
        meter.sizes.delete(ptr >>> 0);
        meter.live -= bytes;
      }
      free(ptr);
    };
    Object.defineProperty(wasm, '_free', {
      configurable: true,
      enumerable: true,
      get: () => meteredFree,
      set: (f: (ptr: number) => void) => { free = f; },
    });
  }
  wasm.medrobustHeapGuard = true;
  return true;
}

/** Bytes of the wasm heap held by JS-side allocations (all tensors) now, when the guard meters them. */
export function wasmLiveBytes(backend: unknown = activeBackend()): number | undefined {
  return wasmModule(backend)?.medrobustHeapMeter?.live;
}

/** The current size of the wasm heap (it only grows), or undefined on other backends. */
export function wasmHeapBytes(backend: unknown = activeBackend()): number | undefined {
  return wasmModule(backend)?.HEAPU8.length;
}

/** True for the error {@link installHeapGuard} throws. */
export function isHeapExhausted(err: unknown): err is MemoryBudgetError {
  return err instanceof MemoryBudgetError && err.fn === 'wasm backend';
}

/**
 * What the active backend can hold.
 * @category Core
 */
export interface MemoryStatus {
  /** The active tfjs backend. */
  backend: string;
  /** Bytes a step may still use: the limit less live tensors and reserves, divided by the headroom; Infinity when unknown. */
  availableBytes: number;
  /** Bytes held by live tensors (`tf.memory().numBytes`). */
  inUseBytes: number;
  /** Where the limit comes from, in words. */
  source: string;
}

function freeSystemMemory(): number | undefined {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  const os = proc?.getBuiltinModule?.('node:os') as { freemem?: () => number } | undefined;
  return typeof os?.freemem === 'function' ? os.freemem() : undefined;
}

/**
 * What the active backend can still hold for one step: on wasm the 4 GiB heap limit less live tensors
 * and a 64 MiB reserve, divided by a 1.25 headroom; on cpu and tfjs-node (Node) the system's free memory;
 * elsewhere (WebGL, WebGPU, a browser) unknown (Infinity), so pass `memoryBudget` there. This is the
 * default `memoryBudget` of every batch-taking function.
 *
 * @returns the backend, the bytes available, the bytes held by tensors and where the limit comes from.
 * @example
 * ```ts
 * const { availableBytes, source } = memoryStatus();
 * console.log(`${(availableBytes / 2 ** 20).toFixed(0)} MiB for one step (${source})`);
 * ```
 * @category Core
 */
export function memoryStatus(): MemoryStatus {
  const backend = activeBackend();
  const name = tf.getBackend() ?? 'none';
  const engineBytes = (tf.engine() as unknown as { state: { numBytes: number } }).state.numBytes;
  const wasm = wasmModule(backend);
  const inUseBytes = wasm?.medrobustHeapMeter ? Math.min(engineBytes, wasm.medrobustHeapMeter.live) : engineBytes;
  if (wasm) {
    return { backend: name, inUseBytes, availableBytes: Math.max(0, (WASM_HEAP_MAX - WASM_RESERVE - inUseBytes) / HEADROOM), source: `the wasm heap limit (${mib(WASM_HEAP_MAX)}) less ${mib(inUseBytes)} of live tensors and ${mib(WASM_RESERVE)} reserved` };
  }
  if (name === 'cpu' || name === 'tensorflow') {
    const free = freeSystemMemory();
    if (free !== undefined) return { backend: name, inUseBytes, availableBytes: free / HEADROOM, source: `the system's free memory (${mib(free)})` };
  }
  return { backend: name, inUseBytes, availableBytes: Number.POSITIVE_INFINITY, source: `unknown for the ${name} backend (pass memoryBudget)` };
}

// ---------------------------------------------------------------------------------------------
// Measuring a step's peak.

interface MeterState { numBytes: number }
let kernelListener: ((deltaBytes: number) => void) | null = null;

/**
 * Reports allocations made below the engine (the composed kernels' intermediates, which the engine's
 * byte count never sees) to a running {@link measurePeak}. Called by `src/backend/kernels/scope.ts`.
 */
export function noteKernelBytes(deltaBytes: number): void {
  kernelListener?.(deltaBytes);
}

/**
 * Runs `body` and returns its result with the peak bytes it held above the level at its start. On wasm
 * (with the heap guard installed) the heap's own allocations are counted, which is exact for tensors;
 * elsewhere every tensor the engine tracks (its `numBytes`, watched on every change, which counts a
 * view such as a reshape as a second buffer: an upper bound) plus the composed kernels' intermediates
 * ({@link noteKernelBytes}). Synchronous; nested calls measure their own body.
 */
export function measurePeak<T>(body: () => T): { result: T; peakBytes: number } {
  const meter = wasmModule(activeBackend())?.medrobustHeapMeter;
  if (meter) {
    // wasm: the heap's own bookkeeping (exact for tensors; the engine's byte count counts views twice).
    const start = meter.live;
    const outerPeak = meter.peak;
    meter.peak = start;
    try {
      const result = body();
      return { result, peakBytes: Math.max(0, meter.peak - start) };
    } finally {
      meter.peak = Math.max(outerPeak, meter.peak);
    }
  }
  const state = (tf.engine() as unknown as { state: MeterState }).state;
  const own = Object.getOwnPropertyDescriptor(state, 'numBytes');
  const start = state.numBytes;
  let value = start;
  let below = 0;
  let peak = start;
  const outerListener = kernelListener;
  const bump = (): void => { if (value + below > peak) peak = value + below; };
  Object.defineProperty(state, 'numBytes', {
    configurable: true,
    enumerable: true,
    get: () => value,
    set: (v: number) => { value = v; bump(); if (own?.set) own.set.call(state, v); },
  });
  kernelListener = (delta) => { below += delta; bump(); outerListener?.(delta); };
  try {
    const result = body();
    return { result, peakBytes: Math.max(0, peak - start) };
  } finally {
    kernelListener = outerListener;
    if (own && (own.get || own.set)) Object.defineProperty(state, 'numBytes', own);
    else Object.defineProperty(state, 'numBytes', { value, writable: true, configurable: true, enumerable: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Options, the memory model of a step, and the chunk plan.

/** The option keys of {@link MemoryOptions}. */
export const MEMORY_KEYS = ['batchSize', 'memoryBudget'] as const;

/** Validates {@link MemoryOptions} fields of an options object. */
export function readMemoryOptions(fn: string, o: Record<string, unknown>): MemoryOptions {
  const out: MemoryOptions = {};
  if (o.batchSize !== undefined) out.batchSize = assertNumber(fn, 'options.batchSize', o.batchSize, { integer: true, min: 1 });
  if (o.memoryBudget !== undefined) {
    const v = o.memoryBudget;
    if (typeof v !== 'number' || !(v > 0) || Number.isNaN(v)) throw new InvalidArgumentError(fn, 'options.memoryBudget', 'a number of bytes > 0 (Infinity for no limit)', describeValue(v));
    out.memoryBudget = v;
  }
  return out;
}

/**
 * A measured linear model of one step's peak: `fixedBytes + perSampleBytes · k` for k samples.
 * @category Core
 */
export interface StepMemory {
  /** Bytes that do not grow with the batch (e.g. weight-sized gradient temporaries). */
  fixedBytes: number;
  /** Bytes per sample. */
  perSampleBytes: number;
  /** True when measured at two batch sizes; false: one point, `fixedBytes` 0 (an upper bound per sample). */
  refined: boolean;
}

const stepCache = new WeakMap<object, Map<string, StepMemory>>();

/** What identifies a step's memory: the model, the work done, the input's per-sample shape, the backend. */
export interface StepKey {
  model: object;
  kind: string;
  sampleShape: readonly number[];
}

function cacheKey(key: StepKey): string {
  return `${tf.getBackend()}|${key.kind}|${key.sampleShape.join('x')}`;
}

/** The cached measurement of a step, if any. */
export function cachedStepMemory(key: StepKey): StepMemory | undefined {
  return stepCache.get(key.model)?.get(cacheKey(key));
}

/** Forgets every cached step measurement of `model` (e.g. after its weights changed shape). */
export function forgetStepMemory(model: object): void {
  stepCache.delete(model);
}

function remember(key: StepKey, m: StepMemory): StepMemory {
  let map = stepCache.get(key.model);
  if (!map) stepCache.set(key.model, (map = new Map()));
  map.set(cacheKey(key), m);
  return m;
}

/**
 * A probe: runs one step on the first `k` samples. It may return its result (freed by the caller of the
 * probe): the result's bytes per sample are then reserved for every sample, as results pile up chunk by
 * chunk.
 */
export type StepProbe = (k: number) => tf.Tensor | tf.Tensor[] | void;

const keptBytes = new WeakMap<object, Map<string, number>>();

function measureProbe(fn: string, key: StepKey, probe: StepProbe, k: number, budget: number): number {
  try {
    return measurePeak(() => tf.tidy(() => {
      const out = probe(k);
      const bytes = (Array.isArray(out) ? out : out ? [out] : []).reduce((sum, t) => sum + t.size * 4, 0);
      if (bytes > 0) {
        let map = keptBytes.get(key.model);
        if (!map) keptBytes.set(key.model, (map = new Map()));
        map.set(cacheKey(key), bytes / k);
      }
    })).peakBytes;
  } catch (err) {
    if (isHeapExhausted(err)) throw outOfMemory(fn, k, err.estimatedBytes, budget);
    throw err;
  }
}

function outOfMemory(fn: string, batch: number, estimate: number, budget: number): MemoryBudgetError {
  const advice = batch > 1
    ? `pass options.batchSize ≤ ${Math.max(1, Math.floor(batch / 2))} or a larger options.memoryBudget`
    : 'one sample does not fit: raise options.memoryBudget, or use smaller images, a smaller model, or a backend with more memory (tfjs-node, a GPU)';
  return new MemoryBudgetError(fn, batch, estimate, budget, advice);
}

/**
 * The plan of a batch: how many samples run at once.
 */
export interface ChunkPlan {
  /** Samples per chunk (≥ 1). */
  size: number;
  /** The budget the plan was made for (Infinity when unbounded). */
  budgetBytes: number;
  /** The step model used, when one was measured. */
  step?: StepMemory;
}

/**
 * Picks the chunk size for `n` samples: `options.batchSize` when given (checked against an explicit
 * `memoryBudget` when both are), otherwise the largest k with `fixed + perSample·k + keepBytes ≤ budget`
 * from a measured {@link StepMemory} (probed on one, then two samples; cached per model, step kind, sample
 * shape and backend). Throws {@link MemoryBudgetError} when even one sample does not fit, before anything
 * large runs: the probe on one sample is the largest thing run, and a failed allocation inside it is
 * reported as this error too.
 *
 * @param fn - the public function, for messages.
 * @param n - the batch size.
 * @param options - the caller's {@link MemoryOptions}.
 * @param key - what identifies the step's memory.
 * @param probe - runs one step on the first k samples (k ≤ n).
 * @param keepBytesPerSample - bytes the caller keeps per sample across chunks (results), reserved up front.
 * @param keepFixedBytes - bytes the caller keeps across chunks whatever their size (e.g. summed weight
 *   gradients of a training step), reserved up front.
 */
export function planChunks(fn: string, n: number, options: MemoryOptions, key: StepKey, probe: StepProbe, keepBytesPerSample = 0, keepFixedBytes = 0): ChunkPlan {
  const explicitBudget = options.memoryBudget;
  if (options.batchSize !== undefined && explicitBudget === undefined) return { size: Math.min(n, options.batchSize), budgetBytes: Number.POSITIVE_INFINITY };
  const budget = explicitBudget ?? memoryStatus().availableBytes;
  if (budget === Number.POSITIVE_INFINITY) return { size: Math.min(n, options.batchSize ?? n), budgetBytes: budget };
  let step = cachedStepMemory(key);
  if (!step) step = remember(key, { fixedBytes: 0, perSampleBytes: measureProbe(fn, key, probe, 1, budget), refined: false });
  const kept = Math.max(keepBytesPerSample, 2 * (keptBytes.get(key.model)?.get(cacheKey(key)) ?? 0));
  const usable = budget - kept * n - keepFixedBytes;
  const need = (k: number, s: StepMemory): number => s.fixedBytes + s.perSampleBytes * k;
  if (need(1, step) > usable) throw outOfMemory(fn, 1, need(1, step) + kept * n + keepFixedBytes, budget);
  const wanted = Math.min(n, options.batchSize ?? n);
  if (need(wanted, step) <= usable) return { size: wanted, budgetBytes: budget, step };
  if (!step.refined && n >= 2 && need(2, step) <= usable) {
    const p1 = step.perSampleBytes;
    const p2 = measureProbe(fn, key, probe, 2, budget);
    const slope = Math.max(p2 - p1, p1 / 8);
    step = remember(key, { fixedBytes: Math.max(0, p1 - slope), perSampleBytes: slope, refined: true });
  }
  const fit = Math.floor((usable - step.fixedBytes) / step.perSampleBytes);
  if (options.batchSize !== undefined && fit < options.batchSize) throw outOfMemory(fn, options.batchSize, need(options.batchSize, step), budget);
  return { size: Math.max(1, Math.min(wanted, fit)), budgetBytes: budget, step };
}

/**
 * Runs `run` on consecutive chunks of `plan.size` samples and concatenates the results along axis 0
 * (bit for bit the unchunked result when every sample's computation is independent). A failed wasm
 * allocation inside is rethrown as a {@link MemoryBudgetError} naming `fn` and the chunk size. Partial
 * results are freed on throw.
 * @param n - the batch size.
 * @param run - computes the result of samples `[start, start + count)`; returns a new tensor.
 */
export function runInChunks<T extends tf.Tensor>(fn: string, n: number, plan: ChunkPlan, run: (start: number, count: number) => T): T {
  const parts: T[] = [];
  try {
    for (let start = 0; start < n; start += plan.size) parts.push(run(start, Math.min(plan.size, n - start)));
    if (parts.length === 1) return parts[0]!;
    const out = tf.concat(parts, 0) as T;
    tf.dispose(parts);
    return out;
  } catch (err) {
    tf.dispose(parts);
    throw asMemoryBudgetError(fn, plan, err);
  }
}

/**
 * A failed wasm allocation ({@link installHeapGuard}) restated as the {@link MemoryBudgetError} of `fn`
 * for its chunk size; any other error unchanged.
 */
export function asMemoryBudgetError(fn: string, plan: ChunkPlan, err: unknown): unknown {
  if (!isHeapExhausted(err)) return err;
  return outOfMemory(fn, plan.size, err.estimatedBytes, plan.budgetBytes === Number.POSITIVE_INFINITY ? WASM_HEAP_MAX : plan.budgetBytes);
}

/**
 * Runs `run` on `images` in chunks that fit (plan by {@link planChunks} with `run` itself as the probe),
 * each chunk in its own tidy scope, and concatenates the results. For forward passes and other
 * per-sample work whose result is one tensor with the samples on axis 0.
 * @param key - the model and the kind of work (`'forward'`, `'input-gradient'`, …), for the memory cache.
 */
export function mapInChunks<T extends tf.Tensor>(fn: string, images: tf.Tensor4D, options: MemoryOptions, key: Omit<StepKey, 'sampleShape'>, run: (chunk: tf.Tensor4D) => T): T {
  const n = images.shape[0];
  const plan = planChunks(fn, n, options, { ...key, sampleShape: images.shape.slice(1) }, (k) => run(sampleSlice(images, 0, k)));
  return runInChunks(fn, n, plan, (start, count) => tf.tidy(() => run(sampleSlice(images, start, count))));
}

/** Consecutive ranges of at most `size` of `n` samples (at least one sample each): the chunks of a batch. */
export function chunkRanges(n: number, size: number): { start: number; size: number }[] {
  const m = Math.max(1, Math.min(size, n));
  const out: { start: number; size: number }[] = [];
  for (let start = 0; start < n; start += m) out.push({ start, size: Math.min(m, n - start) });
  return out;
}

/** The first `count` samples from `start` of a tensor's axis 0 (the tensor itself when it is all of it). */
export function sampleSlice<T extends tf.Tensor>(x: T, start: number, count: number): T {
  if (start === 0 && count === x.shape[0]) return x;
  return tf.slice(x, [start, ...x.shape.slice(1).map(() => 0)], [count, ...x.shape.slice(1)]) as T;
}

// ---------------------------------------------------------------------------------------------
// The optimizer update.

/** One weight's gradient, as `optimizer.applyGradients` takes it (null: leave the weight as it is). */
export interface NamedGradient { name: string; tensor: tf.Tensor | null }

interface AdamInternals { accBeta1: tf.Variable; accBeta2: tf.Variable; iterations_?: number }

/**
 * Peak bytes of one update's temporaries per byte of the weights updated at once, above weights, slots
 * and gradients, for tfjs 4.22's optimizers (measured on cpu, whose meter counts a view as a copy, so
 * at least wasm's): SGD −lr·g; Momentum (Nesterov) the new accumulation and weight; Adagrad, RMSProp and
 * Adadelta their squared-gradient terms; Adam m·β₁, g·(1−β₁), g², g²·(1−β₂), v·β₂, both bias corrections,
 * √v̂ + ε, the step and the new m, v and weight before the old ones are freed.
 */
const UPDATE_TEMPORARIES: Record<string, number> = { SGD: 2, Momentum: 6, Adagrad: 7, RMSProp: 15, Adadelta: 16, Adam: 14, Adamax: 10 };

/** Adam as tfjs ships it (not a subclass with its own update): {@link applyGradientsBounded} splits its update. */
function isStockAdam(optimizer: tf.Optimizer): boolean {
  return optimizer.applyGradients === tf.AdamOptimizer.prototype.applyGradients;
}

/**
 * The peak bytes `optimizer`'s update of `weights` through {@link applyGradientsBounded} holds above the
 * weights, the optimizer's slots and the gradients: per-weight temporaries times the largest weight
 * (tfjs's optimizers free each weight's temporaries before the next; Adam is made to), or times all the
 * weights for Adamax and a subclassed Adam (one scope over every weight). An optimizer tfjs does not
 * ship is assumed to work weight by weight, at the largest known factor.
 */
export function optimizerUpdateBytes(optimizer: tf.Optimizer, weights: readonly { size: number }[]): number {
  const name = optimizer.getClassName();
  const factor = UPDATE_TEMPORARIES[name] ?? Math.max(...Object.values(UPDATE_TEMPORARIES));
  const largest = Math.max(0, ...weights.map((w) => 4 * w.size));
  const whole = name === 'Adamax' || (name === 'Adam' && !isStockAdam(optimizer));
  return factor * (whole ? weights.reduce((sum, w) => sum + 4 * w.size, 0) : largest);
}

/**
 * Throws the {@link MemoryBudgetError} of `fn` when the optimizer's update cannot fit in `budget` next to
 * the summed gradients whatever the micro-batch (the update runs after the micro-batches' activations
 * are freed, so it is a floor of the budget, not a part of each step).
 */
export function assertUpdateFits(fn: string, optimizer: tf.Optimizer, weights: readonly { size: number }[], budget: number): void {
  if (budget === Number.POSITIVE_INFINITY) return;
  const gradients = weights.reduce((sum, w) => sum + 4 * w.size, 0);
  const need = gradients + optimizerUpdateBytes(optimizer, weights);
  if (need > budget) {
    throw new MemoryBudgetError(fn, 1, need, budget, `the ${optimizer.getClassName()} update of the model's weights alone (their summed gradients and the update's temporaries) does not fit, whatever the micro-batch: raise options.memoryBudget, or train fewer weights`);
  }
}

/**
 * `optimizer.applyGradients(grads)` with its temporaries bounded by the largest weight instead of all of
 * them. tfjs 4.22's Adam updates every weight inside one `tidy`, so each weight's temporaries (see
 * {@link optimizerUpdateBytes}) live until the last weight is done: about 12× the model's weights at
 * once (1 GiB for Inception-v3's 22M weights), whatever the step's memory budget. Here Adam runs on
 * groups of weights of at most the largest weight's bytes, the other gradients passed as null (Adam
 * skips them and its moments stay indexed by position), with β₁ᵗ and β₂ᵗ set back before each group and
 * the iteration count advanced once: the same operations on the same values as one call, bit for bit.
 * Every other tfjs optimizer (SGD, Momentum, RMSProp, Adagrad, Adadelta) already frees each weight's
 * temporaries before the next and is called once, as is a subclass or an optimizer tfjs does not ship.
 * @param grads - the gradients in the order of every call (the optimizer's slots follow it).
 */
export function applyGradientsBounded(optimizer: tf.Optimizer, grads: readonly NamedGradient[] | tf.NamedTensorMap): void {
  const list: NamedGradient[] = Array.isArray(grads) ? [...grads] : Object.entries(grads).map(([name, tensor]) => ({ name, tensor }));
  const adam = isStockAdam(optimizer) ? (optimizer as unknown as AdamInternals) : undefined;
  if (!adam || !(adam.accBeta1 instanceof tf.Variable) || !(adam.accBeta2 instanceof tf.Variable)) {
    optimizer.applyGradients(list as Parameters<tf.Optimizer['applyGradients']>[0]);
    return;
  }
  // Groups of at most the largest weight's bytes (small weights go together).
  const limit = Math.max(...list.map((g) => (g.tensor ? 4 * g.tensor.size : 0)));
  const groups: number[][] = [];
  let bytes = Infinity;
  for (const [i, g] of list.entries()) {
    if (!g.tensor) continue;
    const b = 4 * g.tensor.size;
    if (bytes + b > limit) { groups.push([]); bytes = 0; }
    groups[groups.length - 1]!.push(i);
    bytes += b;
  }
  if (groups.length <= 1) {
    optimizer.applyGradients(list as Parameters<tf.Optimizer['applyGradients']>[0]);
    return;
  }
  // (`iterations_` is undefined until the public getter first reads it.)
  const iterations = optimizer.iterations;
  const powers = [tf.clone(adam.accBeta1), tf.clone(adam.accBeta2)];
  try {
    for (const [k, group] of groups.entries()) {
      if (k > 0) {
        adam.accBeta1.assign(powers[0]!);
        adam.accBeta2.assign(powers[1]!);
      }
      const members = new Set(group);
      optimizer.applyGradients(list.map((g, i) => (members.has(i) ? g : { name: g.name, tensor: null })) as Parameters<tf.Optimizer['applyGradients']>[0]);
    }
  } finally {
    adam.iterations_ = iterations + 1;
    tf.dispose(powers);
  }
}
