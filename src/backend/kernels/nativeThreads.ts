/**
 * Threads for medrobust's wasm kernels. tfjs-backend-wasm's own pool (XNNPACK's pthreads) cannot run
 * code that is not in its module, so with the threaded tfjs build (a shared memory) medrobust starts its
 * own workers: each instantiates the kernel module on the same shared memory, with a stack of its own in
 * the backend's heap, and waits on a control block (also in that heap) for work. A kernel call writes its
 * arguments there, wakes the workers, computes part 0 itself and waits until every part is done; parts
 * write disjoint outputs, so no result depends on the thread count or on timing.
 *
 * Node only (`worker_threads`, loaded by {@link loadWorkerThreads} before the backend starts): a browser's
 * main thread may not block on `Atomics.wait`, and there the kernels run on one thread. Workers are
 * unref'd, so they never keep a process alive.
 * @internal
 */

/** The module's kernels (native/kernels.c), by index in the control block. */
export const KERNEL_NAMES = [
  'conv2d_filter_grad', 'pack_filter', 'conv2d', 'max_pool_grad', 'channel_sums', 'batch_norm_apply',
  'batch_norm_stats', 'batch_norm_grad_sums', 'batch_norm_grad_apply', 'copy_rows', 'relu_grad',
] as const;
const KERNELS = KERNEL_NAMES;

export interface NativePool {
  readonly threads: number;
  /** Runs `kernel(...args, part, parts)` for parts 0..threads-1 (part 0 on this thread); blocks until all are done. */
  run(kernel: string, args: number[], exports: object): void;
}

interface WorkerLike {
  unref(): void;
  on(event: string, fn: (...a: unknown[]) => void): void;
}
type WorkerCtor = new (code: string, options: { eval: true; workerData: unknown }) => WorkerLike;

let WorkerClass: WorkerCtor | undefined;

/** Loads Node's `worker_threads` (once) so that pools can start synchronously later. */
export async function loadWorkerThreads(): Promise<boolean> {
  if (WorkerClass) return true;
  try {
    const specifier = 'node:worker_threads';
    const mod = (await import(/* @vite-ignore */ specifier)) as { Worker?: WorkerCtor; default?: { Worker: WorkerCtor } };
    WorkerClass = mod.Worker ?? mod.default?.Worker;
  } catch {
    WorkerClass = undefined;
  }
  return WorkerClass !== undefined;
}

// Control block (Int32 slots): generation, pending parts, kernel index, argument count, error flag;
// arguments as float64 from byte 64.
const GEN = 0;
const PENDING = 1;
const KERNEL = 2;
const NARGS = 3;
const ERROR = 4;
const ARGS_BYTE = 64;
const MAX_ARGS = 32;
const CONTROL_BYTES = ARGS_BYTE + 8 * MAX_ARGS;
const STACK_BYTES = 64 * 1024;

/** The worker's program (CommonJS, evaluated by worker_threads). */
const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { memory, module, control, stackTop, index, parts, kernels } = workerData;
const instance = new WebAssembly.Instance(module, { env: { memory } });
const ex = instance.exports;
ex.__stack_pointer.value = stackTop;
const i32 = () => new Int32Array(memory.buffer, control, ${ARGS_BYTE / 4});
const f64 = () => new Float64Array(memory.buffer, control + ${ARGS_BYTE}, ${MAX_ARGS});
// The control block starts at generation 0 and no job is issued before this worker takes part in it.
let seen = 0;
for (;;) {
  Atomics.wait(i32(), ${GEN}, seen);
  const c = i32();
  // A wake-up without a new generation (the main thread re-notifies while it waits) is not a job.
  const gen = Atomics.load(c, ${GEN});
  if (gen === seen) continue;
  seen = gen;
  try {
    const n = c[${NARGS}];
    const a = Array.from(f64().subarray(0, n));
    a.push(index, parts);
    ex[kernels[c[${KERNEL}]]](...a);
  } catch (e) {
    Atomics.store(c, ${ERROR}, 1);
  }
  if (Atomics.sub(c, ${PENDING}, 1) === 1) Atomics.notify(c, ${PENDING});
}
`;

/**
 * Starts `threads - 1` workers on `memory` (shared) running `module`; undefined when workers are not
 * available here (not Node, or {@link loadWorkerThreads} not run).
 */
export function startPool(memory: WebAssembly.Memory, module: WebAssembly.Module, threads: number, malloc: (bytes: number) => number): NativePool | undefined {
  if (!WorkerClass || threads < 2) return undefined;
  const control = malloc(CONTROL_BYTES + 16) >>> 0;
  const aligned = (control + 15) & ~15;
  new Uint8Array(memory.buffer, aligned, CONTROL_BYTES).fill(0);
  for (let index = 1; index < threads; index++) {
    const stack = malloc(STACK_BYTES + 16) >>> 0;
    const worker = new WorkerClass(WORKER_SOURCE, {
      eval: true,
      workerData: { memory, module, control: aligned, stackTop: ((stack + STACK_BYTES) & ~15) >>> 0, index, parts: threads, kernels: KERNELS },
    });
    worker.unref();
    worker.on('error', () => undefined);
  }
  const i32 = (): Int32Array => new Int32Array(memory.buffer, aligned, ARGS_BYTE / 4);
  return {
    threads,
    run(kernel, args, exports) {
      const k = KERNELS.indexOf(kernel as (typeof KERNELS)[number]);
      if (k < 0 || args.length > MAX_ARGS) throw new Error(`medrobust: kernel ${kernel} cannot run on the thread pool`);
      const c = i32();
      new Float64Array(memory.buffer, aligned + ARGS_BYTE, MAX_ARGS).set(args);
      c[KERNEL] = k;
      c[NARGS] = args.length;
      Atomics.store(c, ERROR, 0);
      Atomics.store(c, PENDING, threads - 1);
      Atomics.add(c, GEN, 1);
      Atomics.notify(c, GEN);
      let own: unknown;
      try {
        (exports as Record<string, (...a: number[]) => void>)[kernel]!(...args, 0, threads);
      } catch (err) {
        own = err;
      }
      for (;;) {
        const pending = Atomics.load(c, PENDING);
        if (pending === 0) break;
        // Re-notify after each second without progress: a benchmark run under heavy load once hung here with
        // the worker asleep on GEN; a worker that has already taken this generation ignores the extra wake-up.
        if (Atomics.wait(c, PENDING, pending, 1000) === 'timed-out') Atomics.notify(c, GEN);
      }
      if (own) throw own;
      if (Atomics.load(c, ERROR) !== 0) throw new Error(`medrobust: a worker thread failed in the wasm kernel ${kernel}`);
    },
  };
}
