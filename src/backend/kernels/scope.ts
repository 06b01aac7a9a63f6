/**
 * Runs a backend's own kernels on `TensorInfo`s, below the engine: no tape, no tensor tracking,
 * so a composed kernel can call other kernels and free what it made. Every intermediate is freed by
 * {@link KernelScope.dispose} except the one handed back with {@link KernelScope.keep}.
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import { noteKernelBytes } from '../../internal/memory.js';

type Info = tf.TensorInfo;

/** Bytes of a TensorInfo's data (reported to the step-memory meter: the engine never sees these). */
function bytesOf(info: Info): number {
  return tf.util.sizeFromShape(info.shape) * (info.dtype === 'complex64' ? 8 : info.dtype === 'string' ? 0 : 4);
}

export class KernelScope {
  private readonly temps: Info[] = [];
  /** Intermediates that are fresh allocations (not views such as Reshape sharing their input's data). */
  private readonly fresh = new Set<Info>();

  constructor(readonly backend: tf.KernelBackend, readonly backendName: string) {}

  /** Runs kernel `name` of this backend; the result is an intermediate unless kept. */
  run(name: string, inputs: Record<string, Info> | Info[], attrs: Record<string, unknown> = {}): Info {
    const kernel = tf.getKernel(name, this.backendName);
    if (!kernel) throw new Error(`medrobust: the ${this.backendName} backend has no ${name} kernel to compose from`);
    const out = kernel.kernelFunc({ inputs: inputs as unknown as tf.NamedTensorInfoMap, backend: this.backend, attrs: attrs as tf.NamedAttrMap });
    const info = Array.isArray(out) ? out[0]! : out;
    return this.track(info);
  }

  reshape(x: Info, shape: number[]): Info {
    return this.run('Reshape', { x }, { shape });
  }

  transpose(x: Info, perm: number[]): Info {
    return this.run('Transpose', { x }, { perm });
  }

  /** Zero-pads (or, where a pad is negative, crops) each axis: `pads[i] = [before, after]`. */
  padOrCrop(x: Info, pads: Array<[number, number]>, constantValue = 0): Info {
    let t = x;
    if (pads.some(([b, a]) => b < 0 || a < 0)) {
      const begin = pads.map(([b]) => Math.max(0, -b));
      const size = pads.map(([b, a], i) => x.shape[i]! - Math.max(0, -b) - Math.max(0, -a));
      t = this.run('Slice', { x: t }, { begin, size });
    }
    if (pads.some(([b, a]) => b > 0 || a > 0)) {
      t = this.run('PadV2', { x: t }, { paddings: pads.map(([b, a]) => [Math.max(0, b), Math.max(0, a)]), constantValue });
    }
    return t === x ? this.run('Identity', { x }) : t;
  }

  /**
   * Places an NHWC tensor `x` on a zero grid of `height × width`: `out[n, top + i·sh, left + j·sw] = x[n, i, j]`,
   * cropping what falls outside. This is the zero-insertion ("dilation") of a strided gradient. Only rank-4
   * kernels are used: wasm's Transpose, Slice and Pad run generic scalar loops above rank 4.
   */
  place(x: Info, sh: number, sw: number, top: number, left: number, height: number, width: number): Info {
    let t = x;
    const [n, h, w, c] = x.shape as [number, number, number, number];
    if (sh > 1 || sw > 1) {
      // [n·h, 1, w, c] → zeros after each row (axis 1) and after each pixel's channels (axis 3).
      t = this.reshape(t, [n * h, 1, w, c]);
      t = this.run('PadV2', { x: t }, { paddings: [[0, 0], [0, sh - 1], [0, 0], [0, (sw - 1) * c]], constantValue: 0 });
      t = this.reshape(t, [n, h * sh, w * sw, c]);
    }
    const lh = t.shape[1]!;
    const lw = t.shape[2]!;
    return this.padOrCrop(t, [[0, 0], [top, height - top - lh], [left, width - left - lw], [0, 0]]);
  }

  /**
   * Pads (with `constantValue`) or crops an NHWC tensor to the grid {@link KernelScope.window} reads:
   * `top`/`left` leading rows/columns, then `rows × cols` with `rows % sh = cols % sw = 0` and room for the
   * windows of every tap up to `(kh - 1, kw - 1)` (dilated by `dh`, `dw`) over `oh × ow` outputs.
   */
  windowGrid(x: Info, top: number, left: number, kh: number, kw: number, dh: number, dw: number, oh: number, ow: number, sh: number, sw: number, constantValue = 0): Info {
    const rows = (Math.floor(((kh - 1) * dh) / sh) + oh) * sh;
    const cols = (Math.floor(((kw - 1) * dw) / sw) + ow) * sw;
    return this.padOrCrop(x, [[0, 0], [top, rows - top - x.shape[1]!], [left, cols - left - x.shape[2]!], [0, 0]], constantValue);
  }

  /** `grid[:, i + a·sh, j + b·sw, :]` for `a < oh`, `b < ow`, from a {@link KernelScope.windowGrid}, with rank-4 slices. */
  window(grid: Info, i: number, j: number, oh: number, ow: number, sh: number, sw: number): Info {
    const [n, rows, cols, c] = grid.shape as [number, number, number, number];
    if (sh === 1 && sw === 1) return this.run('Slice', { x: grid }, { begin: [0, i, j, 0], size: [n, oh, ow, c] });
    const qi = Math.floor(i / sh);
    const qj = Math.floor(j / sw);
    let t = this.reshape(grid, [n, rows / sh, sh, cols * c]);
    t = this.run('Slice', { x: t }, { begin: [0, qi, i % sh, 0], size: [n, oh, 1, cols * c] });
    t = this.reshape(t, [n * oh, cols / sw, sw, c]);
    t = this.run('Slice', { x: t }, { begin: [0, qj, j % sw, 0], size: [n * oh, ow, 1, c] });
    return this.reshape(t, [n, oh, ow, c]);
  }

  /** Adds a result made outside {@link KernelScope.run} to the intermediates. */
  track(info: Info): Info {
    this.temps.push(info);
    const refCount = (this.backend as { refCount?: (id: object) => number }).refCount?.(info.dataId);
    if (refCount === undefined || refCount === 1) {
      this.fresh.add(info);
      noteKernelBytes(bytesOf(info));
    }
    return info;
  }

  /** Keeps `info` out of the disposal (the kernel's output). */
  keep(info: Info): Info {
    const i = this.temps.lastIndexOf(info);
    if (i >= 0) this.temps.splice(i, 1);
    if (this.fresh.delete(info)) noteKernelBytes(-bytesOf(info));
    return info;
  }

  /** Frees every intermediate. */
  dispose(): void {
    let bytes = 0;
    for (const t of this.temps) {
      this.backend.disposeData(t.dataId);
      if (this.fresh.has(t)) bytes += bytesOf(t);
    }
    this.temps.length = 0;
    this.fresh.clear();
    noteKernelBytes(-bytes);
  }
}

/** Runs `body` in a fresh scope and returns its kept result; intermediates are freed even on error. */
export function composed(backend: tf.KernelBackend, backendName: string, body: (s: KernelScope) => Info): Info {
  const scope = new KernelScope(backend, backendName);
  try {
    return scope.keep(body(scope));
  } finally {
    scope.dispose();
  }
}
