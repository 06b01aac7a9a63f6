/**
 * medrobust's wasm kernel module (native/kernels.c, built by scripts/build-wasm.sh) bound to the running
 * tfjs-backend-wasm: the module imports the backend's own `WebAssembly.Memory`, so its functions read and
 * write tensors where tfjs keeps them (addresses from the backend's data map), with no copies. The
 * threaded tfjs build has a shared memory; the module is then the variant built with a shared-memory
 * import, and extra threads (nativeThreads.ts) run parts of a kernel on that same memory.
 *
 * Nothing here is required: without WebAssembly SIMD, with another backend, or with the flag
 * `MEDROBUST_NATIVE_KERNELS` set to false, {@link nativeKernels} returns undefined and the composed kernels
 * (conv.ts) run instead.
 *
 * Each variant exists twice: the plain build, whose multiply-adds are a multiply and an add (two roundings,
 * the same bits on every machine), and the FMA build, whose multiply-adds are relaxed SIMD's
 * `f32x4.relaxed_madd` (one rounding where the CPU fuses them: x64 with FMA, arm64; 15–32 % faster
 * convolutions). The FMA build runs where the runtime validates relaxed SIMD (Node ≥ 22, Chrome ≥ 114;
 * Node 20 after V8's `--experimental-wasm-relaxed-simd`, which {@link relaxedSimdSupported} sets through
 * `node:v8`) and the flag `MEDROBUST_FMA` is true (the default); the choice is made once per backend and
 * flag value, and the worker pool runs the same compiled module.
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import { NATIVE_WASM_FMA_SHARED, NATIVE_WASM_FMA_SINGLE, NATIVE_WASM_SHARED, NATIVE_WASM_SINGLE } from './nativeBinary.js';
import { KERNEL_NAMES, type NativePool, startPool } from './nativeThreads.js';

/** The flag that switches medrobust's own wasm kernels off (for comparisons; default on). */
export const NATIVE_FLAG = 'MEDROBUST_NATIVE_KERNELS';
/**
 * The flag that picks the FMA build of the kernel module where the runtime runs relaxed SIMD (default true);
 * false: the plain build, whose results are the same bits on every machine. Read on every kernel call; a
 * backend binds each build once (on threaded wasm, switching builds starts a second worker pool).
 */
export const FMA_FLAG = 'MEDROBUST_FMA';
/**
 * The flag that runs 3×3 stride-1 convolutions, their input gradients and their filter gradients through
 * Winograd F(2×2, 3×3) on the kernel module where it pays (nativeConv.ts; default true; 2.25× fewer
 * multiply-adds, results within float rounding of the direct sums);
 * false: the direct kernels, bit for bit the results of earlier releases. Read on every kernel call.
 */
export const WINOGRAD_FLAG = 'MEDROBUST_WINOGRAD';

/** The emscripten module of tfjs-backend-wasm, as far as it is used here. */
export interface EmscriptenLike {
  _malloc: (bytes: number) => number;
  _free: (ptr: number) => void;
  HEAPU8: Uint8Array;
  asm?: { memory?: WebAssembly.Memory };
  wasmMemory?: WebAssembly.Memory;
}

/** tfjs-backend-wasm's BackendWasm, as far as it is used here. */
export interface WasmBackendLike {
  wasm: EmscriptenLike;
  dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
  /** A new output; with `values` (and no `memoryOffset`) written into fresh heap memory. */
  makeOutput(shape: number[], dtype: tf.DataType, memoryOffset?: number, values?: Float32Array): tf.TensorInfo;
}

/**
 * The kernel module's functions (native/kernels.c documents each). Every argument is a number: heap byte
 * addresses, sizes, and last the part index and part count (see {@link Native.parallel}).
 */
export type KernelName = (typeof KERNEL_NAMES)[number];
export type NativeExports = Record<KernelName, (...args: number[]) => void> & { __stack_pointer: WebAssembly.Global };

export interface Native {
  readonly exports: NativeExports;
  readonly module: EmscriptenLike;
  /** Runs `kernel(...args, part, parts)` for every part, on the pool's threads when there is one (blocking). */
  parallel(kernel: KernelName, args: number[]): void;
  /** Heap address of a tensor's data. */
  address(info: tf.TensorInfo): number;
  /** Allocates scratch bytes in the backend's heap (16-byte aligned); free with {@link Native.free}. */
  malloc(bytes: number): number;
  free(ptr: number): void;
  /** Threads that run a kernel together (1: the calling thread only). */
  readonly threads: number;
  /** Parts {@link Native.parallel} splits a kernel call into (the `parts` argument; per-part scratch is sized by it). */
  readonly parts: number;
  /** Whether this is the FMA build (relaxed SIMD's `f32x4.relaxed_madd`), not the plain one. */
  readonly fma: boolean;
}

/** The two builds of the module: multiply-adds as a multiply and an add, or as relaxed SIMD's relaxed_madd. */
type Variant = 'plain' | 'fma';

const STACK_BYTES = 64 * 1024;

/** Registers the {@link NATIVE_FLAG}, {@link FMA_FLAG} and {@link WINOGRAD_FLAG} flags with tfjs (default true); idempotent. */
export function registerNativeFlag(): void {
  const flags = tf.env().getFlags();
  if (!(NATIVE_FLAG in flags)) tf.env().registerFlag(NATIVE_FLAG, () => true);
  if (!(FMA_FLAG in flags)) tf.env().registerFlag(FMA_FLAG, () => true);
  if (!(WINOGRAD_FLAG in flags)) tf.env().registerFlag(WINOGRAD_FLAG, () => true);
}

function enabled(): boolean {
  registerNativeFlag();
  return tf.env().getBool(NATIVE_FLAG);
}

function decode(base64: string): Uint8Array {
  const g = globalThis as { Buffer?: { from(s: string, enc: string): Uint8Array }; atob?: (s: string) => string };
  if (g.Buffer) return new Uint8Array(g.Buffer.from(base64, 'base64'));
  const raw = g.atob!(base64);
  const out = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
  return out;
}

/**
 * A module with one function, `(v128, v128, v128) -> v128` computing `f32x4.relaxed_madd` (opcode 0xfd 0x85 0x02):
 * valid only where the runtime runs relaxed SIMD.
 */
const RELAXED_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  0x01, 0x08, 0x01, 0x60, 0x03, 0x7b, 0x7b, 0x7b, 0x01, 0x7b, // type section: (v128, v128, v128) -> v128
  0x03, 0x02, 0x01, 0x00, // function section: one function of type 0
  0x0a, 0x0d, 0x01, 0x0b, 0x00, 0x20, 0x00, 0x20, 0x01, 0x20, 0x02, 0xfd, 0x85, 0x02, 0x0b, // code: relaxed_madd(a, b, c)
]);
/** V8's flag that enables relaxed SIMD in Node 20 (V8 11.3; on by default from V8 11.4, Node 22). */
const V8_RELAXED_FLAG = '--experimental-wasm-relaxed-simd';

interface V8Like { setFlagsFromString(flags: string): void }

function validatesRelaxed(): boolean {
  try {
    return typeof WebAssembly !== 'undefined' && WebAssembly.validate(RELAXED_PROBE);
  } catch {
    return false;
  }
}

/** Node's `node:v8`, synchronously where Node has `process.getBuiltinModule` (20.16, 22.3 and later). */
function nodeV8Sync(): V8Like | undefined {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  try {
    const v8 = proc?.getBuiltinModule?.('node:v8') as V8Like | undefined;
    return typeof v8?.setFlagsFromString === 'function' ? v8 : undefined;
  } catch {
    return undefined;
  }
}

/** Node's `node:v8` (a dynamic import where it cannot be had synchronously); undefined outside Node. */
async function nodeV8(): Promise<V8Like | undefined> {
  const sync = nodeV8Sync();
  if (sync) return sync;
  const proc = (globalThis as { process?: { versions?: { node?: string } } }).process;
  if (!proc?.versions?.node) return undefined;
  try {
    // The specifier in a variable: bundlers leave it alone, and a browser never reaches this line.
    const specifier = 'node:v8';
    const mod = (await import(/* @vite-ignore */ specifier)) as V8Like & { default?: V8Like };
    return typeof mod.setFlagsFromString === 'function' ? mod : mod.default;
  } catch {
    return undefined;
  }
}

/** Whether relaxed SIMD validates, after enabling V8's flag through `v8` where it did not. */
function enableRelaxed(v8: V8Like | undefined): boolean {
  if (validatesRelaxed()) return true;
  if (!v8) return false;
  try {
    v8.setFlagsFromString(V8_RELAXED_FLAG);
  } catch {
    return false;
  }
  return validatesRelaxed();
}

let relaxed: boolean | undefined;

/**
 * Whether this runtime runs relaxed SIMD (then the FMA build can run): a tiny module is validated, and under a
 * Node whose V8 rejects it (Node 20), V8's `--experimental-wasm-relaxed-simd` is set through `node:v8` and the
 * module validated again. Decided once per process (synchronously: where Node lacks
 * `process.getBuiltinModule`, the flag is set only by {@link prepareNativeKernels}, which useBackend and
 * registerWasmGradients start before any kernel runs).
 */
export function relaxedSimdSupported(): boolean {
  relaxed ??= enableRelaxed(nodeV8Sync());
  return relaxed;
}

async function detectRelaxedSimd(): Promise<boolean> {
  if (relaxed !== undefined) return relaxed;
  const v8 = validatesRelaxed() ? undefined : await nodeV8();
  relaxed ??= enableRelaxed(v8);
  return relaxed;
}

const compiled: Partial<Record<string, WebAssembly.Module>> = {};
const compileFailed = new Set<string>();
const preparing = new Map<Variant, Promise<boolean>>();

const keyOf = (variant: Variant, shared: boolean): string => `${variant}-${shared ? 'shared' : 'single'}`;

/**
 * The build the flags and the runtime ask for now: FMA where {@link FMA_FLAG} is on and relaxed SIMD runs.
 * Its callers have registered the flags (nativeKernels through `enabled`, prepareNativeKernels itself).
 */
function wantedVariant(): Variant {
  if (!tf.env().getBool(FMA_FLAG) || !relaxedSimdSupported()) return 'plain';
  // An FMA build that failed to compile (it validated, so this is not expected) falls back to the plain one.
  return compileFailed.has(keyOf('fma', false)) || compileFailed.has(keyOf('fma', true)) ? 'plain' : 'fma';
}

/** The backend's memory, or undefined for a backend that is not tfjs-backend-wasm. */
function memoryOf(module: EmscriptenLike): WebAssembly.Memory | undefined {
  const m = module.wasmMemory ?? module.asm?.memory;
  return m instanceof WebAssembly.Memory ? m : undefined;
}

function isShared(memory: WebAssembly.Memory): boolean {
  return typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
}

/**
 * Bytes of the module for a memory (exported for the worker threads and the build test): the plain build, or
 * with `fma` the FMA build (relaxed SIMD: valid only where {@link relaxedSimdSupported}).
 */
export function moduleBytes(shared: boolean, fma = false): Uint8Array {
  return decode(fma ? (shared ? NATIVE_WASM_FMA_SHARED : NATIVE_WASM_FMA_SINGLE) : shared ? NATIVE_WASM_SHARED : NATIVE_WASM_SINGLE);
}

/**
 * Decides between the FMA and the plain build (setting V8's relaxed SIMD flag under Node 20 where the
 * {@link FMA_FLAG} is on) and compiles that build's variants ahead of time, asynchronously (browsers refuse to
 * compile a module over 4 KiB synchronously on the main thread). Resolves to whether they compiled.
 */
export async function prepareNativeKernels(): Promise<boolean> {
  registerNativeFlag();
  if (tf.env().getBool(FMA_FLAG)) await detectRelaxedSimd();
  const variant = wantedVariant();
  let done = preparing.get(variant);
  if (!done) {
    done = (async () => {
      if (typeof WebAssembly === 'undefined') return false;
      const shares = typeof SharedArrayBuffer !== 'undefined' ? [false, true] : [false];
      for (const shared of shares) {
        const key = keyOf(variant, shared);
        try {
          compiled[key] ??= await WebAssembly.compile(moduleBytes(shared, variant === 'fma') as BufferSource);
        } catch {
          compileFailed.add(key);
          return false;
        }
      }
      return true;
    })();
    preparing.set(variant, done);
  }
  return done;
}

function compiledFor(variant: Variant, shared: boolean): WebAssembly.Module | undefined {
  const key = keyOf(variant, shared);
  if (compiled[key] || compileFailed.has(key)) return compiled[key];
  try {
    // Synchronous compilation: Node, workers; a browser's main thread refuses it for modules over 4 KiB
    // (then prepareNativeKernels, started by registerWasmGradients, supplies the module shortly).
    compiled[key] = new WebAssembly.Module(moduleBytes(shared, variant === 'fma') as BufferSource);
  } catch {
    void prepareNativeKernels();
  }
  return compiled[key];
}

/** Per backend (its Emscripten module), the module bound for each build (null: cannot run there). */
const bound = new WeakMap<object, Partial<Record<Variant, Native | null>>>();
let requestedThreads = 1;

/** Sets how many threads later-bound backends use for medrobust's kernels (wasmThreads.ts). */
export function setNativeThreads(n: number): void {
  requestedThreads = Math.max(1, Math.floor(n));
}

/** medrobust's kernel module bound to `backend`, or undefined where it cannot run (see the module comment). */
export function nativeKernels(backend: unknown): Native | undefined {
  if (!enabled()) return undefined;
  const b = backend as WasmBackendLike;
  const module = b?.wasm;
  if (!module || typeof module._malloc !== 'function' || !b.dataIdMap) return undefined;
  const variant = wantedVariant();
  let perVariant = bound.get(module);
  if (!perVariant) bound.set(module, (perVariant = {}));
  const known = perVariant[variant];
  if (known !== undefined) return known ?? undefined;
  const memory = memoryOf(module);
  if (!memory) {
    perVariant[variant] = null;
    return undefined;
  }
  const shared = isShared(memory);
  // The worker pool below instantiates this same compiled module: every thread runs the same build.
  const wasmModule = compiledFor(variant, shared);
  if (!wasmModule) return undefined; // not yet compiled (browser): try again on the next call
  let native: Native | null = null;
  try {
    const instance = new WebAssembly.Instance(wasmModule, { env: { memory } });
    const exports = instance.exports as unknown as NativeExports;
    const stack = module._malloc(STACK_BYTES + 16);
    exports.__stack_pointer.value = ((stack + STACK_BYTES) & ~15) >>> 0;
    const pool: NativePool | undefined = shared && requestedThreads > 1 ? startPool(memory, wasmModule, requestedThreads, (bytes) => module._malloc(bytes)) : undefined;
    native = {
      exports,
      module,
      threads: pool ? pool.threads : 1,
      parts: pool ? pool.parts : 1,
      fma: variant === 'fma',
      parallel(kernel, args) {
        if (pool) {
          pool.run(kernel, args, exports);
          return;
        }
        exports[kernel](...args, 0, 1);
      },
      address(info) {
        const data = b.dataIdMap.get(info.dataId);
        if (!data) throw new Error('medrobust: a tensor passed to a wasm kernel has no data on the wasm backend');
        return data.memoryOffset >>> 0;
      },
      malloc(bytes) {
        return module._malloc(Math.max(16, bytes)) >>> 0;
      },
      free(ptr) {
        module._free(ptr);
      },
    };
  } catch {
    native = null;
  }
  perVariant[variant] = native;
  return native ?? undefined;
}
