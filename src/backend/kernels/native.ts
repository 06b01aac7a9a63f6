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
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import { NATIVE_WASM_SHARED, NATIVE_WASM_SINGLE } from './nativeBinary.js';
import { KERNEL_NAMES, type NativePool, startPool } from './nativeThreads.js';

/** The flag that switches medrobust's own wasm kernels off (for comparisons; default on). */
export const NATIVE_FLAG = 'MEDROBUST_NATIVE_KERNELS';

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
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
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
}

const STACK_BYTES = 64 * 1024;

/** Registers the {@link NATIVE_FLAG} flag with tfjs (default true); idempotent. */
export function registerNativeFlag(): void {
  if (!(NATIVE_FLAG in tf.env().getFlags())) tf.env().registerFlag(NATIVE_FLAG, () => true);
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

const compiled: { single?: WebAssembly.Module; shared?: WebAssembly.Module } = {};
let compileFailed = false;
let preparing: Promise<boolean> | undefined;

/** The backend's memory, or undefined for a backend that is not tfjs-backend-wasm. */
function memoryOf(module: EmscriptenLike): WebAssembly.Memory | undefined {
  const m = module.wasmMemory ?? module.asm?.memory;
  return m instanceof WebAssembly.Memory ? m : undefined;
}

function isShared(memory: WebAssembly.Memory): boolean {
  return typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
}

/** Bytes of the module variant for a memory (exported for the worker threads and the build test). */
export function moduleBytes(shared: boolean): Uint8Array {
  return decode(shared ? NATIVE_WASM_SHARED : NATIVE_WASM_SINGLE);
}

/**
 * Compiles both variants of the module ahead of time, asynchronously (browsers refuse to compile a
 * module over 4 KiB synchronously on the main thread). Resolves to whether they compiled.
 */
export function prepareNativeKernels(): Promise<boolean> {
  preparing ??= (async () => {
    try {
      if (typeof WebAssembly === 'undefined') return false;
      compiled.single ??= await WebAssembly.compile(moduleBytes(false) as BufferSource);
      if (typeof SharedArrayBuffer !== 'undefined') compiled.shared ??= await WebAssembly.compile(moduleBytes(true) as BufferSource);
      return true;
    } catch {
      compileFailed = true;
      return false;
    }
  })();
  return preparing;
}

function compiledFor(shared: boolean): WebAssembly.Module | undefined {
  const key = shared ? 'shared' : 'single';
  if (compiled[key] || compileFailed) return compiled[key];
  try {
    // Synchronous compilation: Node, workers; a browser's main thread refuses it for modules over 4 KiB
    // (then prepareNativeKernels, started by registerWasmGradients, supplies the module shortly).
    compiled[key] = new WebAssembly.Module(moduleBytes(shared) as BufferSource);
  } catch {
    void prepareNativeKernels();
  }
  return compiled[key];
}

const bound = new WeakMap<object, Native | null>();
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
  const known = bound.get(module);
  if (known !== undefined) return known ?? undefined;
  const memory = memoryOf(module);
  if (!memory) {
    bound.set(module, null);
    return undefined;
  }
  const shared = isShared(memory);
  const wasmModule = compiledFor(shared);
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
  bound.set(module, native);
  return native ?? undefined;
}
