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
  'batch_norm_stats', 'batch_norm_grad_sums', 'batch_norm_grad_apply', 'copy_rows', 'relu_grad', 'binary_broadcast', 'relu',
  'avg_pool_grad', 'winograd_filter', 'conv2d_winograd',
  'winograd_grad_transform', 'winograd_grad_gemm', 'winograd_grad_filter',
  // defocus_blur's FFT (src/corruptions/fftNative.ts; single-threaded, called directly, not through the pool)
  'fft_dif_rows', 'fft_dif_rows_t', 'fft_dit_rows', 'fft_dit_rows_t', 'fft_middle', 'fft_real_product', 'fft_load_plane',
  'fft_dit_last_store',
  'nonfinite_flag',
] as const;
const KERNELS = KERNEL_NAMES;

export interface NativePool {
  readonly threads: number;
  /** Parts a call is split into ({@link PARTS_PER_THREAD} per thread). */
  readonly parts: number;
  /** Runs `kernel(...args, part, parts)` for every part, on whichever threads claim them; blocks until all are done. */
  run(kernel: string, args: number[], exports: object): void;
}

interface WorkerLike {
  unref(): void;
  on(event: string, fn: (...a: unknown[]) => void): void;
}
export type WorkerCtor = new (code: string, options: { eval: true; workerData: unknown }) => WorkerLike;

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

// Control block (Int32 slots): generation, parts not yet finished, kernel index, argument count, error flag,
// next part to claim, part count; arguments as float64 from byte 64.
const GEN = 0;
const PENDING = 1;
const KERNEL = 2;
const NARGS = 3;
const ERROR = 4;
const NEXT = 5;
const PARTS = 6;
const ARGS_BYTE = 64;
const MAX_ARGS = 32;
const CONTROL_BYTES = ARGS_BYTE + 8 * MAX_ARGS;
const STACK_BYTES = 64 * 1024;

/**
 * Parts per thread of a kernel call. Threads claim parts one at a time, so a thread that the OS
 * deschedules (a loaded machine) holds up at most one part while the others take the rest.
 */
export const PARTS_PER_THREAD = 4;

/**
 * The worker's program (CommonJS, evaluated by worker_threads). It claims parts of the current job
 * until none is left. Arguments, kernel and part count are read after a part is claimed: a job's
 * control block does not change while any of its parts is unfinished, so a worker that wakes late
 * (its job already done, a newer one started) reads the newer job's values with the part it claimed.
 */
const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { memory, module, control, stackTop, kernels } = workerData;
const instance = new WebAssembly.Instance(module, { env: { memory } });
const ex = instance.exports;
ex.__stack_pointer.value = stackTop;
const i32 = () => new Int32Array(memory.buffer, control, ${ARGS_BYTE / 4});
const f64 = () => new Float64Array(memory.buffer, control + ${ARGS_BYTE}, ${MAX_ARGS});
let seen = 0;
for (;;) {
  Atomics.wait(i32(), ${GEN}, seen);
  const c = i32();
  const gen = Atomics.load(c, ${GEN});
  if (gen === seen) continue;
  seen = gen;
  for (;;) {
    const part = Atomics.add(c, ${NEXT}, 1);
    const parts = Atomics.load(c, ${PARTS});
    if (part >= parts) break;
    try {
      const a = Array.from(f64().subarray(0, c[${NARGS}]));
      a.push(part, parts);
      ex[kernels[c[${KERNEL}]]](...a);
    } catch (e) {
      Atomics.store(c, ${ERROR}, 1);
    }
    if (Atomics.sub(c, ${PENDING}, 1) === 1) Atomics.notify(c, ${PENDING});
  }
}
`;

/**
 * Starts `threads - 1` workers on `memory` (shared) running `module`; undefined when workers are not
 * available here (not Node, or {@link loadWorkerThreads} not run). `Worker` is worker_threads' class
 * (a test passes one whose workers never run, to show that a call then completes on the calling thread).
 */
export function startPool(memory: WebAssembly.Memory, module: WebAssembly.Module, threads: number, malloc: (bytes: number) => number, Worker: WorkerCtor | undefined = WorkerClass): NativePool | undefined {
  if (!Worker || threads < 2) return undefined;
  const control = malloc(CONTROL_BYTES + 16) >>> 0;
  const aligned = (control + 15) & ~15;
  new Uint8Array(memory.buffer, aligned, CONTROL_BYTES).fill(0);
  for (let index = 1; index < threads; index++) {
    const stack = malloc(STACK_BYTES + 16) >>> 0;
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { memory, module, control: aligned, stackTop: ((stack + STACK_BYTES) & ~15) >>> 0, kernels: KERNELS },
    });
    worker.unref();
    worker.on('error', () => undefined);
  }
  const i32 = (): Int32Array => new Int32Array(memory.buffer, aligned, ARGS_BYTE / 4);
  const parts = threads * PARTS_PER_THREAD;
  return {
    threads,
    parts,
    run(kernel, args, exports) {
      const k = KERNELS.indexOf(kernel as (typeof KERNELS)[number]);
      if (k < 0 || args.length > MAX_ARGS) throw new Error(`medrobust: kernel ${kernel} cannot run on the thread pool`);
      const c = i32();
      // Every value of the job is in place before parts can be claimed (NEXT), and NEXT before workers wake.
      new Float64Array(memory.buffer, aligned + ARGS_BYTE, MAX_ARGS).set(args);
      c[KERNEL] = k;
      c[NARGS] = args.length;
      Atomics.store(c, ERROR, 0);
      Atomics.store(c, PARTS, parts);
      Atomics.store(c, PENDING, parts);
      Atomics.store(c, NEXT, 0);
      Atomics.add(c, GEN, 1);
      Atomics.notify(c, GEN);
      // This thread claims parts like any worker: with no worker running (none started, all descheduled)
      // it does the whole job, so a call never waits on a part that nobody took.
      let own: unknown;
      const run = (exports as Record<string, (...a: number[]) => void>)[kernel]!;
      for (;;) {
        const part = Atomics.add(c, NEXT, 1);
        if (part >= parts) break;
        try {
          run(...args, part, parts);
        } catch (err) {
          own ??= err;
        }
        Atomics.sub(c, PENDING, 1);
      }
      // Only parts that a worker is running are left: wait for them.
      for (;;) {
        const pending = Atomics.load(c, PENDING);
        if (pending === 0) break;
        Atomics.wait(c, PENDING, pending, 1000);
      }
      if (own) throw own;
      if (Atomics.load(c, ERROR) !== 0) throw new Error(`medrobust: a worker thread failed in the wasm kernel ${kernel}`);
    },
  };
}
