/**
 * Starts tfjs-backend-wasm's threaded SIMD build under Node. The stock initialisation refuses
 * threads in Node (its WASM_HAS_MULTITHREAD_SUPPORT flag returns false there) and, when forced,
 * hands Emscripten a `blob:` worker URL that Node's `worker_threads` cannot load. Here the worker
 * script shipped in the package is written once to the temp folder and given to Emscripten as a path;
 * the module is then wrapped in the package's own `BackendWasm`, so every stock wasm kernel runs on it.
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import { setNativeThreads } from './kernels/native.js';
import { loadWorkerThreads } from './kernels/nativeThreads.js';

// Specifiers kept in variables so that bundlers and the type-checker leave these optional imports alone.
const WASM_PACKAGE = '@tensorflow/tfjs-backend-wasm';
const THREADED_FACTORY = '@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.js';
const THREADED_WORKER = '@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.worker.js';

/** A `worker_threads` Worker as Emscripten holds it. */
interface PthreadWorker {
  ref(): unknown;
  unref(): unknown;
}

interface EmscriptenModule {
  cwrap: (name: string, ret: string | null, args: string[]) => (...a: number[]) => number;
  tfjs?: unknown;
  PThread?: { getNewWorker: () => PthreadWorker | undefined; runningWorkers: PthreadWorker[]; unusedWorkers: PthreadWorker[] };
}

/**
 * Keeps the pool's workers from holding the process open. Emscripten `ref()`s a worker while it runs a
 * pthread, and XNNPACK's pool threads run until the backend is disposed, so a Node process that used
 * threaded wasm never exits by itself. The main thread blocks while the pool computes, so an idle event
 * loop means idle pool threads: unref'd workers lose nothing.
 */
function unrefPoolWorkers(module: EmscriptenModule): void {
  const pthread = module.PThread;
  if (!pthread) return;
  const getNewWorker = pthread.getNewWorker.bind(pthread);
  pthread.getNewWorker = () => {
    const worker = getNewWorker();
    if (worker) {
      worker.unref();
      worker.ref = () => worker;
    }
    return worker;
  };
  for (const worker of [...pthread.runningWorkers, ...pthread.unusedWorkers]) {
    worker.unref();
    worker.ref = () => worker;
  }
}

export interface WasmPackage {
  setThreadsCount(n: number): void;
  getThreadsCount(): number;
  BackendWasm: new (module: unknown) => tf.KernelBackend;
}

export async function importWasmPackage(importer: (specifier: string) => Promise<unknown> = (s) => import(/* @vite-ignore */ s)): Promise<WasmPackage> {
  const mod = (await importer(WASM_PACKAGE)) as WasmPackage & { default?: WasmPackage };
  return typeof mod.setThreadsCount === 'function' ? mod : mod.default!;
}

async function workerScriptPath(importer: (specifier: string) => Promise<unknown>): Promise<string> {
  const [{ createHash }, fs, os, path] = await Promise.all([import('node:crypto'), import('node:fs'), import('node:os'), import('node:path')]);
  const worker = (await importer(THREADED_WORKER)) as { wasmWorkerContents?: string; default?: { wasmWorkerContents: string } };
  const raw = worker.wasmWorkerContents ?? worker.default?.wasmWorkerContents;
  if (typeof raw !== 'string') throw new Error('medrobust: tfjs-backend-wasm ships no threaded worker script');
  // The script is shipped as a template literal whose `\n` escapes became newlines inside string
  // literals; escape them back, as tfjs-backend-wasm does before making its blob.
  const contents = raw.replace(/\n/g, '\\n');
  const file = path.join(os.tmpdir(), `medrobust-tfjs-wasm-worker-${createHash('sha256').update(contents).digest('hex').slice(0, 16)}.cjs`);
  if (!fs.existsSync(file)) {
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, contents);
    fs.renameSync(tmp, file);
  }
  return file;
}

/**
 * Replaces the registered 'wasm' backend factory with one that starts the threaded SIMD build with
 * `threads` threads in XNNPACK's pool and `kernelThreads` (default the same) for medrobust's kernels.
 * Must run before the wasm backend is initialised.
 */
export async function registerThreadedWasm(pkg: WasmPackage, threads: number, importer: (specifier: string) => Promise<unknown> = (s) => import(/* @vite-ignore */ s), kernelThreads = threads): Promise<void> {
  const workerPath = await workerScriptPath(importer);
  const factoryModule = (await importer(THREADED_FACTORY)) as { default?: unknown };
  const factory = (typeof factoryModule === 'function' ? factoryModule : factoryModule.default) as (config: object) => Promise<EmscriptenModule>;
  pkg.setThreadsCount(threads);
  // medrobust's own kernels run on as many threads, with workers of their own (kernels/nativeThreads.ts).
  if (await loadWorkerThreads()) setNativeThreads(kernelThreads);
  if (tf.engine().registryFactory['wasm']) tf.removeBackend('wasm');
  const fs = await import('node:fs');
  tf.registerBackend('wasm', async () => {
    let folder = '';
    const module = await factory({
      locateFile: (file: string, prefix: string) => {
        if (file.endsWith('.worker.js')) return workerPath;
        folder = prefix;
        return prefix + file;
      },
      // The C side caps the pool at emscripten_num_logical_cores() / 2 (it assumes two hyperthreads per
      // core), i.e. 1 thread on a 2-vCPU machine whatever count is asked for. Report 2·threads logical
      // cores, so that the explicit count is the cap.
      instantiateWasm: (info: { env: Record<string, unknown> }, receive: (instance: WebAssembly.Instance, module: WebAssembly.Module) => void) => {
        info.env['emscripten_num_logical_cores'] = () => 2 * threads;
        const bytes = fs.readFileSync(`${folder}tfjs-backend-wasm-threaded-simd.wasm`);
        void WebAssembly.instantiate(bytes, info as unknown as WebAssembly.Imports).then((r) => receive(r.instance, r.module));
        return {};
      },
    });
    unrefPoolWorkers(module);
    module.tfjs = {
      init: module.cwrap('init', null, []),
      initWithThreadsCount: module.cwrap('init_with_threads_count', null, ['number']),
      getThreadsCount: module.cwrap('get_threads_count', 'number', []),
      registerTensor: module.cwrap('register_tensor', null, ['number', 'number', 'number']),
      disposeData: module.cwrap('dispose_data', null, ['number']),
      dispose: module.cwrap('dispose', null, []),
    };
    return new pkg.BackendWasm(module);
  }, 2);
}
