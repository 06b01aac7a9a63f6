import * as tf from '@tensorflow/tfjs-core';
import { InvalidArgumentError } from '../errors.js';
import { assertBoolean, assertKnownKeys, assertNumber, assertOneOf, assertOptionsObject } from '../internal/validate.js';
import { registerCpuGradients, registerWasmGradients, registerWebGpuGradients } from './registerWasmGradients.js';
import { importWasmPackage, registerThreadedWasm } from './wasmThreads.js';
import { FMA_FLAG, nativeKernels, prepareNativeKernels, registerNativeFlag } from './kernels/native.js';
import { canReadWebGpuSync, explainNodeReadSync, GpuUnavailable, isNode, NODE_WEBGPU_LIMIT, probeWebGl, probeWebGpu, registerWebGl, registerWebGpu, type GpuDevice } from './gpu.js';

/**
 * A backend {@link useBackend} can start: WebGPU (`'webgpu'`: `@tensorflow/tfjs-backend-webgpu`, in a
 * browser through `navigator.gpu`, in Node through the optional `webgpu` package), WebGL (`'webgl'`:
 * `@tensorflow/tfjs-backend-webgl`, browsers only), the GPU builds of TensorFlow (`'node-gpu'`:
 * `@tensorflow/tfjs-node-gpu`, CUDA), native TensorFlow on CPU (`'node'`: `@tensorflow/tfjs-node`),
 * WebAssembly (`'wasm'`: `@tensorflow/tfjs-backend-wasm`, XNNPACK, no native addon) or plain JavaScript
 * (`'cpu'`: `@tensorflow/tfjs-backend-cpu`).
 * @category Backend
 */
export type BackendName = 'webgpu' | 'webgl' | 'node-gpu' | 'node' | 'wasm' | 'cpu';

/**
 * Options of {@link useBackend}.
 * @category Backend
 */
export interface UseBackendOptions {
  /**
   * Threads of the wasm backend (XNNPACK's pool; at most 8). Above 1, the threaded SIMD build is started
   * (in Node through `worker_threads`). Applies only when this call starts wasm; a wasm backend that is
   * already running keeps its thread count (tfjs cannot restart it without losing its tensors).
   * @defaultValue the number of logical CPUs (`os.availableParallelism()`), at most 8
   */
  threads?: number;
  /**
   * Register the composed gradient kernels ({@link registerWasmGradients} on wasm,
   * {@link registerCpuGradients} on cpu, {@link registerWebGpuGradients} on webgpu).
   * @defaultValue true
   */
  registerGradients?: boolean;
  /**
   * On wasm, run medrobust's kernel module in its FMA build where the runtime supports relaxed SIMD (Node ≥ 22,
   * Chrome ≥ 114; under Node 20 medrobust enables V8's `--experimental-wasm-relaxed-simd` for it): its
   * multiply-adds are `f32x4.relaxed_madd`, which rounds once per multiply-add on CPUs with fused
   * multiply-add (x64 with FMA, arm64), and convolutions run 15–32 % faster. The price is determinism across
   * machines: results differ from the plain build's in the last bits (a few float32 roundings), and
   * relaxed_madd may or may not fuse depending on the CPU, so two machines can disagree in those bits.
   * `false` runs the plain build, whose results are bit-identical on every machine. Sets the tfjs flag
   * `MEDROBUST_FMA` (which can also be set directly with `tf.env().set('MEDROBUST_FMA', false)`).
   * @defaultValue the flag `MEDROBUST_FMA` as it stands (true unless set)
   */
  fma?: boolean;
}

/**
 * What {@link useBackend} chose and why.
 * @category Backend
 */
export interface BackendChoice {
  /** The backend chosen. */
  name: BackendName;
  /** The tfjs backend name now active (`tf.getBackend()`): `'webgpu'`, `'webgl'`, `'tensorflow'`, `'wasm'` or `'cpu'`. */
  tfjsBackend: string;
  /**
   * The GPU it runs on (webgpu: the adapter's vendor, architecture and description; webgl: the renderer),
   * and whether that is a software emulation such as SwiftShader; `undefined` for the other backends.
   */
  gpu: {
    /** The adapter or renderer in words. */ description: string;
    /** A CPU emulation of a GPU (SwiftShader, llvmpipe, lavapipe, WARP). */ software: boolean
  } | undefined;
  /**
   * Threads of the wasm backend (its actual pool size; `undefined` when the caller registered wasm and medrobust
   * could not load the package); 1 for cpu; `undefined` for the others.
   */
  threads: number | undefined;
  /** Composed kernels registered for this backend by this call (kernel names). */
  kernels: string[];
  /**
   * wasm: whether medrobust's kernel module runs its FMA build (see {@link UseBackendOptions.fma}); `false` for
   * the plain build; `undefined` when the module does not run (other backends, `MEDROBUST_NATIVE_KERNELS` off,
   * no WebAssembly SIMD).
   */
  fma: boolean | undefined;
  /** Why this backend, in words. */
  reason: string;
  /** Every backend tried before it, with why it was not used. */
  skipped: Array<{
    /** The backend passed over. */ name: BackendName;
    /** Why (e.g. not installed). */ reason: string
  }>;
}

/**
 * The order of `'auto'`: a hardware GPU first (WebGPU, then WebGL in a browser; tfjs-node-gpu), then the
 * CPU backends. `'auto'` passes over software GPUs (SwiftShader and the like are slower than wasm) and,
 * in Node, WebGPU (no synchronous reads there; see {@link useBackend}).
 */
export const AUTO_ORDER: readonly BackendName[] = ['webgpu', 'webgl', 'node-gpu', 'node', 'wasm', 'cpu'];

const NAMES: readonly (BackendName | 'auto')[] = ['auto', ...AUTO_ORDER];
const FN = 'useBackend';

/** The dynamic import used to load backend packages (a seam for tests). @internal */
export type Importer = (specifier: string) => Promise<unknown>;

const nodeImport: Importer = (specifier) => import(/* @vite-ignore */ specifier);

/**
 * Picks and starts a TensorFlow.js backend — the only place medrobust imports one. With `'auto'` it takes
 * the first that starts among WebGPU, WebGL, `@tensorflow/tfjs-node-gpu`, `@tensorflow/tfjs-node`,
 * `@tensorflow/tfjs-backend-wasm` and `@tensorflow/tfjs-backend-cpu` (all optional peer dependencies, loaded
 * with a dynamic `import`, none required), and says why the others were skipped: a package not installed,
 * no GPU adapter, only a software renderer (SwiftShader, llvmpipe: slower than wasm), no browser.
 * On wasm it starts the threaded SIMD build with `threads` threads and registers the gradient kernels wasm
 * lacks ({@link registerWasmGradients}); on cpu, a fast filter gradient ({@link registerCpuGradients}); on webgpu,
 * convolution gradients built from its tiled forward kernels ({@link registerWebGpuGradients}).
 *
 * WebGPU: in a browser it uses `navigator.gpu`; in Node it loads the optional `webgpu` package (Dawn),
 * installs its `navigator.gpu` and WebGPU globals, and registers `@tensorflow/tfjs-backend-webgpu`. Node
 * has no synchronous GPU reads (`dataSync`), which medrobust's synchronous functions need, so `'auto'`
 * passes over WebGPU in Node; `useBackend('webgpu')` starts it for code that reads with `await data()`.
 * Naming a GPU backend also accepts a software adapter.
 *
 * Tensors made before the switch stay usable (tfjs moves them on first use), but a running wasm
 * backend is never restarted, so its tensors are never lost; create models and data after choosing.
 *
 * @param name - a backend, or `'auto'` for the fastest one installed.
 * @param options - see {@link UseBackendOptions}.
 * @returns what was chosen and why.
 * @throws {InvalidArgumentError} when `name` or an option is invalid.
 * @throws {Error} when the named backend (or, for `'auto'`, every backend) cannot start; the message
 *   lists each reason.
 * @example
 * ```ts
 * import { useBackend } from 'medrobust/backend';
 * const choice = await useBackend('auto', { threads: 2 });
 * console.log(choice.name, choice.threads, choice.fma, choice.reason); // e.g. 'wasm' 2 true '…'
 * ```
 * @category Backend
 */
export async function useBackend(name: BackendName | 'auto' = 'auto', options: UseBackendOptions = {}): Promise<BackendChoice> {
  return selectBackend(name, options, nodeImport);
}

/** {@link useBackend} with the package loader injected. @internal */
export async function selectBackend(name: unknown, rawOptions: unknown, importer: Importer): Promise<BackendChoice> {
  const choice = assertOneOf(FN, 'name', name, NAMES);
  if (choice === undefined) throw new InvalidArgumentError(FN, 'name', `one of ${NAMES.map((n) => `'${n}'`).join(', ')}`, 'undefined');
  const o = assertOptionsObject(FN, rawOptions);
  assertKnownKeys(FN, o, ['threads', 'registerGradients', 'fma']);
  const threads = o.threads === undefined ? await defaultThreads() : assertNumber(FN, 'options.threads', o.threads, { integer: true, min: 1, max: 8 });
  const registerGradients = assertBoolean(FN, 'options.registerGradients', o.registerGradients) ?? true;
  const fma = assertBoolean(FN, 'options.fma', o.fma);
  if (fma !== undefined) {
    registerNativeFlag();
    tf.env().set(FMA_FLAG, fma);
  }

  const candidates = choice === 'auto' ? AUTO_ORDER : [choice];
  const skipped: BackendChoice['skipped'] = [];
  for (const candidate of candidates) {
    try {
      const started = await start(candidate, threads, registerGradients, importer, choice === 'auto');
      const reason = choice === 'auto'
        ? `the first backend that started in the order ${AUTO_ORDER.join(' > ')}${skipped.length ? ` (skipped: ${skipped.map((s) => s.name).join(', ')})` : ''}`
        : 'requested by name';
      const { note, gpu, ...rest } = started;
      return { name: candidate, tfjsBackend: tf.getBackend(), fma: undefined, ...rest, gpu: gpu ? { description: gpu.description, software: gpu.software } : undefined, reason: note ? `${reason}; ${note}` : reason, skipped };
    } catch (err) {
      skipped.push({ name: candidate, reason: describeFailure(err) });
    }
  }
  throw new Error(`${FN}: no backend could be started: ${skipped.map((s) => `${s.name}: ${s.reason}`).join('; ')}`);
}

async function defaultThreads(): Promise<number> {
  try {
    const os = await import('node:os');
    return Math.max(1, Math.min(8, typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length));
  } catch {
    const hc = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency;
    return Math.max(1, Math.min(8, hc ?? 1));
  }
}

function describeFailure(err: unknown): string {
  if (err instanceof GpuUnavailable) return err.message;
  const e = err as { code?: string; message?: string };
  if (e?.code === 'ERR_MODULE_NOT_FOUND' || e?.code === 'MODULE_NOT_FOUND') return `not installed (${e.message?.split('\n')[0] ?? e.code})`;
  return e?.message?.split('\n')[0] ?? String(err);
}

/**
 * Threads for medrobust's own wasm kernels: `MEDROBUST_KERNEL_THREADS` when set, otherwise the backend's
 * `threads`. The kernels' worker pool hands out parts of each call to whichever thread claims them, the
 * calling thread included, so a call never waits on a worker that is slow to start or descheduled
 * (kernels/nativeThreads.ts). At most `threads` are used; 1 keeps the kernels on the calling thread.
 */
function kernelThreadsFromEnv(threads: number): number {
  const raw = isNode() ? process.env.MEDROBUST_KERNEL_THREADS : undefined;
  if (raw === undefined || raw === '') return threads;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('useBackend', 'MEDROBUST_KERNEL_THREADS', 'a whole number >= 1', JSON.stringify(raw));
  return Math.min(n, threads);
}

const PROCESS_EVENTS = ['uncaughtException', 'unhandledRejection'] as const;
type Listener = (...args: unknown[]) => void;

/**
 * Starts a tfjs backend. Under Node, Emscripten modules (wasm) add `uncaughtException` and
 * `unhandledRejection` listeners that rethrow: Node then prints the listener's source line — 55 KB of
 * minified JavaScript — and exits with code 7 instead of printing the error. The listeners added while
 * the backend starts are removed again, so errors reach the user's own handlers or Node's default one.
 */
async function activate(tfjsName: string): Promise<void> {
  const proc = isNode() ? (process as unknown as { listeners(e: string): Listener[]; removeListener(e: string, l: Listener): void }) : undefined;
  const before = proc ? PROCESS_EVENTS.map((event) => new Set(proc.listeners(event))) : [];
  try {
    const ok = await tf.setBackend(tfjsName);
    if (!ok) throw new Error(`tf.setBackend('${tfjsName}') failed to initialise it`);
    await tf.ready();
  } finally {
    if (proc) {
      PROCESS_EVENTS.forEach((event, i) => {
        for (const listener of proc.listeners(event)) {
          if (!before[i]!.has(listener)) proc.removeListener(event, listener);
        }
      });
    }
  }
}

interface Started {
  threads: number | undefined;
  kernels: string[];
  fma?: boolean;
  gpu?: GpuDevice;
  note?: string;
}

async function start(candidate: BackendName, threads: number, registerGradients: boolean, importer: Importer, auto: boolean): Promise<Started> {
  switch (candidate) {
    case 'webgpu': {
      // 'auto' never picks WebGPU in Node (no synchronous reads), so it does not load Dawn there either:
      // probing costs seconds and Dawn writes its driver warnings to stderr.
      if (auto && isNode()) throw new GpuUnavailable(NODE_WEBGPU_LIMIT);
      const gpu = await probeWebGpu(importer, !auto);
      const noSyncReads = !canReadWebGpuSync();
      if (auto && noSyncReads) throw new GpuUnavailable(`found ${gpu.description}, but ${NODE_WEBGPU_LIMIT}`);
      await registerWebGpu(importer);
      const kernels = registerGradients ? registerWebGpuGradients().kernels : [];
      await activate('webgpu');
      explainNodeReadSync();
      const notes = [`WebGPU from ${gpu.source} on ${gpu.description}${gpu.software ? ' (a software adapter)' : ''}`];
      if (noSyncReads) notes.push('no synchronous reads here (dataSync throws; use await data())');
      return { threads: undefined, kernels, gpu, note: notes.join('; ') };
    }
    case 'webgl': {
      const gpu = probeWebGl(!auto);
      await registerWebGl(importer);
      await activate('webgl');
      return { threads: undefined, kernels: [], gpu, note: `WebGL on ${gpu.description}${gpu.software ? ' (a software renderer)' : ''}` };
    }
    case 'node-gpu':
    case 'node':
      await importer(candidate === 'node' ? '@tensorflow/tfjs-node' : '@tensorflow/tfjs-node-gpu');
      await activate('tensorflow');
      return { threads: undefined, kernels: [] };
    case 'wasm': {
      // tfjs-layers' Node bundle registers tfjs-core's gradients when it loads: load it first, so that
      // the batch-norm gradient registered below is not replaced afterwards.
      await importer('@tensorflow/tfjs-layers').catch(() => undefined);
      let pkg: Awaited<ReturnType<typeof importWasmPackage>> | undefined;
      try {
        pkg = await importWasmPackage(importer);
      } catch (err) {
        // A bundled page imports the backend itself; a dynamic import of the package cannot resolve there.
        if (isNode() || !tf.engine().registryFactory['wasm']) throw err;
      }
      let note: string | undefined;
      const running = tf.engine().registry['wasm'] !== undefined;
      if (!pkg) {
        note = 'wasm was registered by the caller; its thread count is left as set there';
      } else if (running) {
        note = `wasm was already running with ${pkg.getThreadsCount()} thread(s); it keeps them`;
      } else if (threads > 1 && isNode()) {
        await registerThreadedWasm(pkg, threads, importer, kernelThreadsFromEnv(threads));
      } else {
        pkg.setThreadsCount(threads);
      }
      const kernels = registerGradients ? registerWasmGradients().kernels : [];
      // Decides the kernel module's build (FMA or plain; Node 20: V8's relaxed SIMD flag) and compiles it
      // before the first kernel runs.
      await prepareNativeKernels();
      await activate('wasm');
      const fma = nativeKernels(tf.backend())?.fma;
      return { threads: pkg?.getThreadsCount(), kernels, fma, ...(note ? { note } : {}) };
    }
    case 'cpu': {
      if (!tf.engine().registryFactory['cpu']) await importer('@tensorflow/tfjs-backend-cpu');
      const kernels = registerGradients ? registerCpuGradients().kernels : [];
      await activate('cpu');
      return { threads: 1, kernels };
    }
  }
}
