/**
 * The one mechanism that makes every public entry free what it made when it throws.
 *
 * Why a plain `tf.tidy` is not enough (tfjs-core 4.22, `engine.ts`): while a gradient is recorded, the
 * engine saves each kernel's inputs/outputs for the backward pass as clones marked `kept`, which no tidy
 * frees. They are disposed only at the end of a *successful* `engine.gradients()`. When the forward or the
 * backward pass throws (a label checked against the logits, NaN detection, a missing gradient, a failed
 * allocation), those clones stay alive forever and the dead tape stays in `engine.state.activeTape` until
 * the next gradient overwrites it. That is the 37-tensor, 8.5 MB-per-call leak of a label out of range,
 * and on wasm a heap that only grows.
 *
 * - {@link entry}: a synchronous public function. Runs the body in one tidy scope (every tensor the call
 *   made is freed except what it returns) and, on throw, releases the dead tape's saved tensors.
 * - {@link entryAsync}: an async public function. Tensors held across `await`s are registered in a
 *   {@link TensorBag} and freed in `finally`; on throw the dead tape is released too. Sync stretches
 *   inside still use `tf.tidy` (or {@link entry} of an inner public function).
 * - {@link reattribute}: an outer function rethrows an inner function's typed error under its own name,
 *   with the inner argument mapped to the outer one (`pgd: labels` → `evaluateRobustness: data[2].labels`).
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import { AbortError, FormatError, InvalidArgumentError, MedrobustError, MemoryBudgetError, NonFiniteError } from '../errors.js';
import { ensureGradientFixes } from './gradientFixes.js';
import { installHeapGuard, isHeapExhausted, WASM_HEAP_MAX, wasmHeapBytes } from './memory.js';

interface TapeNodeLike { saved?: Array<tf.Tensor | undefined> }
interface EngineStateLike { activeTape: TapeNodeLike[] | null; gradientDepth: number }

function engineState(): EngineStateLike {
  return (tf.engine() as unknown as { state: EngineStateLike }).state;
}

/**
 * Frees the saved tensors of a gradient tape that a throw left behind, when no gradient is being
 * recorded (depth 0: a tape that still exists then can never be used). Inside someone else's
 * `tf.grad` (depth > 0) the tape is theirs and is left alone: their backward pass frees it.
 * @returns the number of saved tensors freed.
 */
export function releaseStaleTape(): number {
  const state = engineState();
  if (state.gradientDepth !== 0 || state.activeTape == null) return 0;
  let freed = 0;
  for (const node of state.activeTape) {
    for (const t of node.saved ?? []) {
      if (t != null && !t.isDisposed) {
        t.dispose();
        freed++;
      }
    }
  }
  state.activeTape = null;
  return freed;
}

/** A failed wasm allocation ({@link installHeapGuard}) outside any chunk plan, restated under `fn`. */
function named(fn: string, err: unknown): unknown {
  const heap = wasmHeapBytes();
  if (typeof WebAssembly !== 'undefined' && err instanceof WebAssembly.RuntimeError && heap !== undefined && heap > 0.9 * WASM_HEAP_MAX) {
    // An allocation inside a C kernel (XNNPACK scratch) failed near the limit and the kernel trapped.
    const out = new MemoryBudgetError(fn, Number.NaN, heap, WASM_HEAP_MAX, 'process fewer samples at once');
    Object.defineProperty(out, 'message', {
      value: `${fn}: a wasm kernel trapped ('${err.message}') with the heap at ${(heap / 2 ** 20).toFixed(0)} MiB of its ${(WASM_HEAP_MAX / 2 ** 20).toFixed(0)} MiB limit: ` +
        'the backend ran out of memory inside a kernel and its state may be damaged; restart the process and use a smaller options.batchSize or options.memoryBudget',
      configurable: true,
      writable: true,
    });
    Object.defineProperty(out, 'cause', { value: err, enumerable: false, writable: true, configurable: true });
    return out;
  }
  if (!isHeapExhausted(err)) return err;
  const out = new MemoryBudgetError(fn, err.batch, err.estimatedBytes, err.budgetBytes, 'process fewer samples at once');
  Object.defineProperty(out, 'message', { value: `${fn}: ${err.message}`, configurable: true, writable: true });
  Object.defineProperty(out, 'cause', { value: err, enumerable: false, writable: true, configurable: true });
  return out;
}

/** What every public entry does first: tfjs fixes medrobust relies on, and the wasm heap guard. */
function prepare(): void {
  ensureGradientFixes();
  installHeapGuard();
}

/**
 * Runs a synchronous public function's body: one tidy scope (every tensor made is freed except the
 * returned ones, also on throw) plus the release of a dead gradient tape on throw.
 * @param fn - the public function's name (a failed wasm allocation is restated under it).
 * @param body - the function's work; returns tensors the caller will own (or anything else).
 */
export function entry<T>(fn: string, body: () => T): T {
  prepare();
  try {
    let result: T;
    // The scope keeps the tensors found in the result; the result itself (which may hold large typed
    // arrays that tfjs' own container walk would visit element by element) is passed through.
    tf.tidy(() => {
      result = body();
      return collect(result);
    });
    return result!;
  } catch (err) {
    releaseStaleTape();
    throw named(fn, err);
  }
}

/**
 * Tensors an async function holds across `await`s. Everything registered is freed by
 * {@link entryAsync} when the call ends (returned or thrown), except what was handed over with
 * {@link TensorBag.release}.
 */
export class TensorBag {
  private readonly held = new Set<tf.Tensor>();

  /** Registers tensors (any container) to be freed when the call ends; returns the argument. */
  own<T extends tf.TensorContainer>(value: T): T {
    for (const t of collect(value)) this.held.add(t);
    return value;
  }

  /** Frees tensors now (they were registered or not). */
  free(value: tf.TensorContainer): void {
    for (const t of collect(value)) {
      this.held.delete(t);
      t.dispose();
    }
  }

  /** Hands tensors over to the caller: they are no longer freed at the end. Returns the argument. */
  release<T extends tf.TensorContainer>(value: T): T {
    for (const t of collect(value)) this.held.delete(t);
    return value;
  }

  /** Frees everything still registered. */
  dispose(): void {
    for (const t of this.held) t.dispose();
    this.held.clear();
  }
}

/** The tensors in a result: in arrays and plain objects, not inside typed arrays or class instances. */
function collect(value: unknown, out: tf.Tensor[] = []): tf.Tensor[] {
  if (value instanceof tf.Tensor) out.push(value);
  else if (Array.isArray(value)) value.forEach((v) => collect(v, out));
  else if (value !== null && typeof value === 'object' && !ArrayBuffer.isView(value) && Object.getPrototypeOf(value) === Object.prototype) {
    Object.values(value).forEach((v) => collect(v, out));
  }
  return out;
}

/**
 * Runs an async public function's body with a {@link TensorBag} for the tensors it holds across
 * `await`s. On throw (or abort) the bag is emptied and a dead gradient tape released.
 * @param fn - the public function's name.
 * @param body - the function's work.
 */
export async function entryAsync<T>(fn: string, body: (bag: TensorBag) => Promise<T>): Promise<T> {
  prepare();
  const bag = new TensorBag();
  try {
    return await body(bag);
  } catch (err) {
    releaseStaleTape();
    throw named(fn, err);
  } finally {
    bag.dispose();
  }
}

/** The function an error names: its `fn` field, or the `name: ` its message starts with. */
function innerName(err: MedrobustError): string | undefined {
  const named = (err as { fn?: unknown }).fn;
  if (typeof named === 'string') return named;
  return /^([A-Za-z_$][\w$.]*): /.exec(err.message)?.[1];
}

/**
 * Rethrows a typed error of an inner function under the outer function's name, so the user reads the
 * function they called: `argumentMap` maps the inner argument's first path segment (`images`, `labels`,
 * `model`, `options`) to the outer path (unmapped segments are kept), and `context` says where it
 * happened: `pgd: labels …` becomes `evaluateRobustness: data[2].labels … (attack 'PGD' on data[2], from
 * pgd)`, and in a training loop `advTrain: images … (epoch 0, batch 3, from pgd)`. InvalidArgumentError,
 * NonFiniteError, MemoryBudgetError and message-only classes (FormatError) are restated with the original
 * as `cause`; errors that are not medrobust's, {@link AbortError}s, errors that already name `fn`, and
 * classes with other fields (FileError, PerturbationBudgetError) pass through unchanged.
 */
export function reattribute(err: unknown, fn: string, argumentMap: Readonly<Record<string, string>>, context: string): unknown {
  if (!(err instanceof MedrobustError) || err instanceof AbortError) return err;
  const inner = innerName(err);
  if (inner === fn) return err;
  const where = inner === undefined ? context : `${context}, from ${inner}`;
  let out: MedrobustError;
  if (err instanceof InvalidArgumentError) {
    if (err.constructor !== InvalidArgumentError) return err;
    const [head, ...rest] = err.argument.split(/(?=[.[])/);
    const mapped = head !== undefined && head in argumentMap ? argumentMap[head]! + rest.join('') : err.argument;
    out = new InvalidArgumentError(fn, mapped, err.expected, `${err.received} (${where})`);
  } else if (err instanceof NonFiniteError) {
    out = new NonFiniteError(fn, err.quantity, `${err.message.slice(err.message.indexOf(', but ') + 6)} (${where})`);
  } else if (err instanceof MemoryBudgetError) {
    out = new MemoryBudgetError(fn, err.batch, err.estimatedBytes, err.budgetBytes, `${err.message.slice(err.message.indexOf('available; ') + 11)} (${where})`);
  } else if (err.constructor === FormatError || err.constructor === MedrobustError) {
    const body = inner !== undefined && err.message.startsWith(`${inner}: `) ? err.message.slice(inner.length + 2) : err.message;
    out = new (err.constructor as new (message: string) => MedrobustError)(`${fn}: ${body} (${where})`);
  } else {
    return err;
  }
  Object.defineProperty(out, 'cause', { value: err, enumerable: false, writable: true, configurable: true });
  return out;
}
