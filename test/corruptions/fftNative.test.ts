/**
 * defocus_blur's FFT on the wasm kernel module (src/corruptions/fftNative.ts, native/kernels.c "FFT for
 * defocus_blur") against the JavaScript FFT (src/corruptions/fft.ts): the kernel applies the same IEEE f64
 * operations in the same order to every value, with the same twiddle tables, so the results must be the same
 * bits, on both builds of the module (plain and FMA: the FFT has no multiply-adds to fuse), for defocus_blur's
 * kernels at 224 px and on odd sizes, 1–4 channels, odd plane counts and grids that are not powers of four.
 * Scratch in the wasm heap is freed on every path, errors included.
 */
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FMA_FLAG, NATIVE_FLAG, nativeKernels, relaxedSimdSupported, type Native } from '../../src/backend/kernels/native.js';
import { DEFOCUS_BLUR, diskKernel } from '../../src/corruptions/blur.js';
import { correlate2dFft } from '../../src/corruptions/fft.js';
import { correlate2dFftNative, correlate2dFftNativeTensor } from '../../src/corruptions/fftNative.js';
import { corrupt } from '../../src/index.js';
import { createRng } from '../../src/internal/random.js';
import { useTestBackend } from '../helpers/backends.js';
import { expectNoLeak } from '../helpers/expectNoLeak.js';

/** Indices where two float32 arrays differ bit for bit (−0 against +0 and NaN payloads included). */
function differingBits(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  let count = 0;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) count++;
  return count;
}

/** `native` whose malloc and free are counted (allocations not yet freed in `live`), optionally with a failing kernel. */
function counting(native: Native, failing?: string): Native & { live: Set<number> } {
  const live = new Set<number>();
  const exports = failing
    ? ({
        ...native.exports,
        [failing]: () => {
          throw new Error(`${failing} failed (test)`);
        },
      } as Native['exports'])
    : native.exports;
  return {
    ...native,
    exports,
    live,
    malloc(bytes: number) {
      const p = native.malloc(bytes);
      live.add(p);
      return p;
    },
    free(p: number) {
      expect(live.delete(p)).toBe(true);
      native.free(p);
    },
  };
}

const random = (length: number, seed: number): Float32Array => {
  const rng = createRng(seed);
  return Float32Array.from({ length }, () => rng.next());
};

describe('defocus_blur FFT on the wasm kernel module', () => {
  beforeAll(async () => {
    await useTestBackend('wasm');
  });
  afterAll(() => {
    tf.env().set(FMA_FLAG, true);
    tf.env().set(NATIVE_FLAG, true);
  });

  for (const fma of [false, true]) {
    describe(fma ? 'FMA build' : 'plain build', () => {
      beforeAll(() => tf.env().set(FMA_FLAG, fma));

      it('is bit-identical to the JavaScript FFT for every severity at 224 px, clipped or not', () => {
        const native = nativeKernels(tf.backend());
        expect(native, 'the kernel module runs on this wasm backend').toBeDefined();
        expect(native!.fma).toBe(fma && relaxedSimdSupported());
        const s = { n: 2, h: 224, w: 224, c: 3 };
        const x = random(2 * 224 * 224 * 3, 41);
        for (const [radius, alias] of DEFOCUS_BLUR) {
          const { kernel, size } = diskKernel(radius, alias, 1);
          for (const clip of [true, false]) {
            const js = correlate2dFft(x, s, kernel, size, size, 'reflect', clip);
            const fast = correlate2dFftNative(native!, x, s, kernel, size, size, 'reflect', clip)!;
            expect(differingBits(fast, js), `radius ${radius} clip ${clip}`).toBe(0);
          }
        }
      });

      it('and on odd sizes, 1–4 channels, odd plane counts, other border rules and grids that are not powers of four', () => {
        const native = nativeKernels(tf.backend())!;
        // 37×53: 64×64 grids at 17 taps (power of four: the fused product), 64×128 at 21 (odd stage count: the
        // radix-2 passes and the separate real product); 100×90: 128×128; 3×2: a kernel wider than the image;
        // 33×17: odd row lengths (the one-lane tails)
        const shapes = [[1, 37, 53, 1], [3, 37, 53, 2], [1, 53, 37, 3], [2, 37, 53, 4], [1, 100, 90, 3], [1, 3, 2, 3], [1, 33, 17, 3]] as const;
        let seed = 50;
        for (const [n, h, w, c] of shapes) {
          const s = { n, h, w, c };
          const x = random(n * h * w * c, seed++);
          for (const [radius, alias] of DEFOCUS_BLUR) {
            const { kernel, size } = diskKernel(radius, alias, 1);
            for (const mode of ['reflect', 'edge', 'zeros'] as const) {
              const js = correlate2dFft(x, s, kernel, size, size, mode, true);
              const fast = correlate2dFftNative(native, x, s, kernel, size, size, mode, true)!;
              expect(differingBits(fast, js), `${n}×${h}×${w}×${c} radius ${radius} ${mode}`).toBe(0);
            }
          }
        }
      });
    });
  }

  it('leaves kernels that are not point-symmetric to the JavaScript FFT', () => {
    const native = nativeKernels(tf.backend())!;
    const { kernel, size } = diskKernel(8, 0.5, 1);
    const skewed = Float64Array.from(kernel, (v, i) => (i < kernel.length / 2 ? 1.5 * v : 0.5 * v));
    const s = { n: 1, h: 20, w: 20, c: 1 };
    expect(correlate2dFftNative(native, random(400, 3), s, skewed, size, size, 'reflect')).toBeUndefined();
    expect(correlate2dFftNative(native, random(400, 3), s, kernel, size, size - 1, 'reflect')).toBeUndefined();
  });

  it('corrupt(defocus_blur) on wasm equals the JavaScript path bit for bit at severities 4–5, and within float32 rounding of it at 1–3', async () => {
    const x = tf.tensor4d(random(2 * 224 * 224 * 3, 7), [2, 224, 224, 3]);
    try {
      for (const severity of [1, 2, 3, 4, 5] as const) {
        tf.env().set(NATIVE_FLAG, true);
        const fast = corrupt(x, 'defocus_blur', { severity });
        tf.env().set(NATIVE_FLAG, false);
        const js = corrupt(x, 'defocus_blur', { severity });
        const a = fast.dataSync() as Float32Array;
        const b = js.dataSync() as Float32Array;
        // severities 1–3 run as row-run sums on the JavaScript path (another summation order)
        if (severity >= 4) expect(differingBits(a, b), `severity ${severity}`).toBe(0);
        else {
          let worst = 0;
          for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
          expect(worst, `severity ${severity}`).toBeLessThanOrEqual(2 ** -23);
        }
        tf.dispose([fast, js]);
      }
    } finally {
      tf.env().set(NATIVE_FLAG, true);
      x.dispose();
    }
    // pixelScale 1 on 64 px: the 21-tap disk, on the kernel module's FFT
    const small = tf.tensor4d(random(64 * 64 * 3, 8), [1, 64, 64, 3]);
    await expectNoLeak(() => corrupt(small, 'defocus_blur', { severity: 5, referenceSize: 64 }));
    small.dispose();
  });

  it('frees its heap scratch and its output on every path, errors included', () => {
    const native = nativeKernels(tf.backend())!;
    const backend = tf.backend();
    const { kernel, size } = diskKernel(10, 0.5, 1);
    const s = { n: 1, h: 30, w: 26, c: 3 };
    const values = random(30 * 26 * 3, 9);
    const x = tf.tensor4d(values, [1, 30, 26, 3]);
    const expected = correlate2dFft(values, s, kernel, size, size, 'reflect', true);
    try {
      const tensors = tf.memory().numTensors;
      const dataIds = backend.numDataIds();
      // the array path and the tensor path (x read where the backend keeps it)
      const ok = counting(native);
      expect(differingBits(correlate2dFftNative(ok, values, s, kernel, size, size, 'reflect', true)!, expected)).toBe(0);
      const out = correlate2dFftNativeTensor(ok, backend, x, values, kernel, size, size, 'reflect', true)!;
      expect(differingBits(out.dataSync() as Float32Array, expected)).toBe(0);
      out.dispose();
      expect(ok.live.size).toBe(0);
      // x on another backend: read from a heap copy of its values
      const cpuX = tf.engine().makeTensor(values, [1, 30, 26, 3], 'float32', tf.engine().findBackend('cpu')) as tf.Tensor4D;
      const fromCopy = correlate2dFftNativeTensor(ok, backend, cpuX, values, kernel, size, size, 'reflect', true)!;
      expect(differingBits(fromCopy.dataSync() as Float32Array, expected)).toBe(0);
      // and without the values at hand: read from x
      const fromX = correlate2dFftNativeTensor(ok, backend, cpuX, undefined, kernel, size, size, 'reflect', true)!;
      expect(differingBits(fromX.dataSync() as Float32Array, expected)).toBe(0);
      tf.dispose([fromCopy, fromX, cpuX]);
      expect(ok.live.size).toBe(0);
      // a kernel that throws: the error comes through, nothing stays allocated, no output is left
      for (const failing of ['fft_dif_rows', 'fft_dit_last_store']) {
        const bad = counting(native, failing);
        expect(() => correlate2dFftNative(bad, values, s, kernel, size, size, 'reflect', true)).toThrow(/failed \(test\)/);
        expect(() => correlate2dFftNativeTensor(bad, backend, x, values, kernel, size, size, 'reflect', true)).toThrow(/failed \(test\)/);
        const cpuY = tf.engine().makeTensor(values, [1, 30, 26, 3], 'float32', tf.engine().findBackend('cpu')) as tf.Tensor4D;
        expect(() => correlate2dFftNativeTensor(bad, backend, cpuY, values, kernel, size, size, 'reflect', true)).toThrow(/failed \(test\)/);
        cpuY.dispose();
        expect(bad.live.size, failing).toBe(0);
      }
      expect(tf.memory().numTensors).toBe(tensors);
      expect(backend.numDataIds()).toBe(dataIds);
    } finally {
      x.dispose();
    }
  });
});
