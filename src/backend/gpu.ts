/**
 * Setting up the GPU backends of TensorFlow.js: WebGPU (`@tensorflow/tfjs-backend-webgpu`) in a browser
 * through `navigator.gpu`, or in Node through the optional `webgpu` package (Dawn's Node bindings), and
 * WebGL (`@tensorflow/tfjs-backend-webgl`) in a browser. Each probe says in words why a backend cannot
 * be used (no package, no adapter, only a software renderer), so that `useBackend('auto')` can report it
 * and fall through.
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';

/** A loader of optional packages (`import(specifier)`; a seam for tests). */
export type Importer = (specifier: string) => Promise<unknown>;

// Specifiers kept in variables so that bundlers and the type-checker leave these optional imports alone.
const DAWN_PACKAGE = 'webgpu';
const WEBGPU_BACKEND = '@tensorflow/tfjs-backend-webgpu';
const WEBGL_BACKEND = '@tensorflow/tfjs-backend-webgl';

/** The parts of the WebGPU API used here (the DOM typings of TypeScript do not include WebGPU). */
interface GpuAdapterInfo {
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
  isFallbackAdapter?: boolean;
}
interface GpuAdapter {
  info?: GpuAdapterInfo;
  isFallbackAdapter?: boolean;
  requestAdapterInfo?: () => Promise<GpuAdapterInfo>;
}
interface Gpu {
  requestAdapter(options?: { powerPreference?: string }): Promise<GpuAdapter | null>;
}
interface DawnPackage {
  create(options: string[]): Gpu;
  globals: Record<string, unknown>;
}

/** What a GPU probe found. */
export interface GpuDevice {
  /** The adapter or renderer in words, e.g. `'nvidia ampere'` or `'ANGLE (Google, Vulkan 1.3.0 (SwiftShader…'`. */
  description: string;
  /** A CPU emulation of a GPU (SwiftShader, llvmpipe, lavapipe, WARP): slower than the wasm backend. */
  software: boolean;
  /** Where WebGPU came from: the browser's `navigator.gpu` or the `webgpu` package. */
  source: string;
}

/** Thrown by a probe: the message says why the backend cannot be used; `tfjs` tells a failure of tfjs itself. */
export class GpuUnavailable extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GpuUnavailable';
  }
}

const SOFTWARE = /swiftshader|llvmpipe|lavapipe|softpipe|software|basic render|warp/i;

export const isNode = (): boolean => typeof process !== 'undefined' && typeof process.versions?.node === 'string';

/** Whether tensors on a GPU backend can be read synchronously (`dataSync`): tfjs-backend-webgpu needs OffscreenCanvas. */
export const canReadWebGpuSync = (): boolean => typeof (globalThis as { OffscreenCanvas?: unknown }).OffscreenCanvas !== 'undefined';

let dawn: Promise<{ gpu: Gpu } | { error: string }> | undefined;
let undoInstall: (() => void) | undefined;

/** Loads the `webgpu` package once per process and installs its `navigator.gpu` and WebGPU globals. */
async function nodeGpu(importer: Importer): Promise<Gpu> {
  dawn ??= (async () => {
    let pkg: DawnPackage;
    try {
      pkg = (await importer(DAWN_PACKAGE)) as DawnPackage;
    } catch (err) {
      const e = err as { code?: string; message?: string };
      const absent = e?.code === 'ERR_MODULE_NOT_FOUND' || e?.code === 'MODULE_NOT_FOUND';
      return {
        error: absent
          ? "the optional 'webgpu' package (Dawn, WebGPU for Node) is not installed: npm install webgpu"
          : `the 'webgpu' package did not load: ${e?.message?.split('\n')[0] ?? String(err)}`,
      };
    }
    const g = globalThis as Record<string, unknown>;
    // GPUBufferUsage, GPUMapMode, GPUTextureUsage…: tfjs-backend-webgpu reads them as globals.
    const added = Object.keys(pkg.globals).filter((key) => !(key in g));
    for (const key of added) g[key] = pkg.globals[key];
    const gpu = pkg.create([]);
    const nav = g['navigator'] as Record<string, unknown> | undefined;
    if (nav && typeof nav === 'object') Object.defineProperty(nav, 'gpu', { value: gpu, configurable: true, writable: true });
    else Object.defineProperty(g, 'navigator', { value: { gpu }, configurable: true, writable: true });
    undoInstall = () => {
      for (const key of added) delete g[key];
      if (nav && typeof nav === 'object') delete nav['gpu'];
      else delete g['navigator'];
    };
    return { gpu };
  })();
  const r = await dawn;
  if ('error' in r) throw new GpuUnavailable(r.error);
  return r.gpu;
}

/** `navigator.gpu` of the browser, or the one the `webgpu` package provides in Node. */
async function findGpu(importer: Importer): Promise<{ gpu: Gpu; source: string }> {
  const existing = (globalThis as { navigator?: { gpu?: Gpu } }).navigator?.gpu;
  if (existing && undoInstall) return { gpu: existing, source: "the 'webgpu' package (Dawn)" };
  if (existing) return { gpu: existing, source: isNode() ? 'navigator.gpu (set up before medrobust)' : 'navigator.gpu' };
  if (!isNode()) {
    throw new GpuUnavailable('this browser has no WebGPU (navigator.gpu is undefined: it needs a browser that ships WebGPU and a secure context, https or localhost)');
  }
  return { gpu: await nodeGpu(importer), source: "the 'webgpu' package (Dawn)" };
}

function describeAdapter(info: GpuAdapterInfo | undefined): string {
  if (!info) return 'an adapter that does not describe itself';
  const parts = [info.vendor, info.architecture, info.device, info.description].filter((p): p is string => typeof p === 'string' && p.length > 0);
  return parts.length ? [...new Set(parts)].join(' ') : 'an adapter that does not describe itself';
}

/**
 * Finds a WebGPU adapter. Throws {@link GpuUnavailable} with the reason when there is none, and, unless
 * `allowSoftware`, when the adapter is a CPU emulation.
 */
export async function probeWebGpu(importer: Importer, allowSoftware: boolean): Promise<GpuDevice> {
  const { gpu, source } = await findGpu(importer);
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) {
    if (!isNode()) throw new GpuUnavailable('navigator.gpu.requestAdapter() returned null (no GPU, a blocklisted driver, or WebGPU switched off)');
    const reason = 'Dawn found no WebGPU adapter (no GPU with a Vulkan, Metal or D3D12 driver it accepts; Dawn prints its reason on stderr, e.g. a Vulkan feature a software driver lacks)';
    if (undoInstall) {
      // Nothing to use: take the globals back out of Node, and remember the answer for this process.
      undoInstall();
      undoInstall = undefined;
      dawn = Promise.resolve({ error: reason });
    }
    throw new GpuUnavailable(reason);
  }
  const info = adapter.info ?? (adapter.requestAdapterInfo ? await adapter.requestAdapterInfo().catch(() => undefined) : undefined);
  const description = describeAdapter(info);
  const software = Boolean(adapter.isFallbackAdapter || info?.isFallbackAdapter) || SOFTWARE.test(description);
  if (software && !allowSoftware) {
    throw new GpuUnavailable(`only a software WebGPU adapter (${description}), slower than wasm; useBackend('webgpu') uses it anyway`);
  }
  return { description, software, source };
}

/** Registers tfjs-backend-webgpu (after {@link probeWebGpu} made `navigator.gpu` available). */
export async function registerWebGpu(importer: Importer): Promise<void> {
  if (tf.engine().registryFactory['webgpu']) return;
  const pkg = (await importer(WEBGPU_BACKEND)) as { WebGPUBackend?: new (device: unknown, info?: unknown) => tf.KernelBackend };
  if (tf.engine().registryFactory['webgpu']) return;
  // The package registers itself only when navigator.gpu existed when it was first imported.
  const Backend = pkg.WebGPUBackend;
  if (!Backend) throw new GpuUnavailable(`${WEBGPU_BACKEND} did not register the 'webgpu' backend`);
  tf.registerBackend('webgpu', async () => {
    const gpu = (globalThis as { navigator?: { gpu?: { requestAdapter(o?: unknown): Promise<{ info?: unknown; requestDevice(): Promise<unknown> } | null> } } }).navigator?.gpu;
    const adapter = await gpu?.requestAdapter({ powerPreference: 'high-performance' });
    if (!adapter) throw new Error('no WebGPU adapter');
    return new Backend(await adapter.requestDevice(), adapter.info);
  }, 3);
}

const NODE_READ_SYNC = 'WebGPU in Node cannot read a tensor synchronously (dataSync, arraySync): the webgpu package has no ' +
  "synchronous buffer mapping and tfjs-backend-webgpu's fallback needs OffscreenCanvas. Read with `await tensor.data()`; " +
  "medrobust's synchronous functions (pgd, fgsm, saliencyMap, …) validate their inputs with one synchronous read and " +
  'cannot run on this backend (see docs/guides/backends.md)';

/**
 * Replaces the confusing `OffscreenCanvas is not defined` of a synchronous read on WebGPU in Node by an
 * error that says what cannot work and what to do instead. Reads of values still held on the CPU pass.
 */
export function explainNodeReadSync(): void {
  if (canReadWebGpuSync()) return;
  const backend = tf.findBackend('webgpu') as (tf.KernelBackend & { readSync: (id: object) => unknown; medrobustReadSync?: boolean }) | null;
  if (!backend || backend.medrobustReadSync) return;
  const original = backend.readSync.bind(backend);
  backend.readSync = (dataId: object) => {
    try {
      return original(dataId);
    } catch (err) {
      if (err instanceof ReferenceError && /OffscreenCanvas/.test(err.message)) throw new Error(`medrobust: ${NODE_READ_SYNC}`);
      throw err;
    }
  };
  backend.medrobustReadSync = true;
}

/** Why medrobust cannot use WebGPU in Node, for `'auto'`. */
export const NODE_WEBGPU_LIMIT = 'WebGPU in Node has no synchronous tensor reads, which medrobust\'s synchronous functions need; useBackend(\'webgpu\') starts it anyway for code that reads with await tensor.data()';

/**
 * Checks that WebGL can start here: a browser (or worker) with a WebGL context. Reads the renderer
 * (`WEBGL_debug_renderer_info`) and throws {@link GpuUnavailable} for a software one unless `allowSoftware`.
 */
export function probeWebGl(allowSoftware: boolean): GpuDevice {
  const g = globalThis as { document?: { createElement(tag: string): unknown }; OffscreenCanvas?: new (w: number, h: number) => unknown };
  let canvas: { getContext(kind: string): unknown } | undefined;
  if (g.OffscreenCanvas) canvas = new g.OffscreenCanvas(1, 1) as typeof canvas;
  else if (g.document) canvas = g.document.createElement('canvas') as typeof canvas;
  if (!canvas) throw new GpuUnavailable(isNode() ? 'WebGL needs a browser (Node has no WebGL context)' : 'no canvas to create a WebGL context on');
  const gl = (canvas.getContext('webgl2') ?? canvas.getContext('webgl')) as WebGLRenderingContext | null;
  if (!gl) throw new GpuUnavailable('this browser could not create a WebGL context (WebGL switched off, or no GPU and no software fallback)');
  const ext = gl.getExtension('WEBGL_debug_renderer_info');
  const description = String(ext ? gl.getParameter(ext.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER));
  gl.getExtension('WEBGL_lose_context')?.loseContext();
  const software = SOFTWARE.test(description);
  if (software && !allowSoftware) throw new GpuUnavailable(`only a software WebGL renderer (${description}), slower than wasm; useBackend('webgl') uses it anyway`);
  return { description, software, source: 'WebGL' };
}

/** Registers tfjs-backend-webgl when it is not registered yet. */
export async function registerWebGl(importer: Importer): Promise<void> {
  if (tf.engine().registryFactory['webgl']) return;
  await importer(WEBGL_BACKEND);
  if (!tf.engine().registryFactory['webgl']) throw new GpuUnavailable(`${WEBGL_BACKEND} did not register the 'webgl' backend`);
}

/** Forgets the loaded `webgpu` package and removes the globals it installed (tests only). @internal */
export function resetDawnForTests(): void {
  undoInstall?.();
  undoInstall = undefined;
  dawn = undefined;
}
