/**
 * useBackend: picks among installed backends, falls back cleanly when a package is absent, starts wasm
 * with the requested threads, registers the kernels, and keeps tensors made before the switch valid.
 * The first test starts the threaded wasm build, so it must run before anything initialises wasm here.
 */
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { useBackend } from '../../src/backend/index.js';
import { selectBackend, type Importer } from '../../src/backend/useBackend.js';
import { resetDawnForTests } from '../../src/backend/gpu.js';
import { FMA_FLAG, nativeKernels, relaxedSimdSupported } from '../../src/backend/kernels/native.js';
import { InvalidArgumentError } from '../../src/errors.js';
import { softmaxCrossEntropy } from '../../src/internal/loss.js';
import '../helpers/backends.js';

const notInstalled = (name: string) => Object.assign(new Error(`Cannot find package '${name}'`), { code: 'ERR_MODULE_NOT_FOUND' });
/** A loader on which the given packages are absent; every other import is real. */
const without = (...absent: string[]): Importer => async (specifier) => {
  if (absent.some((a) => specifier === a)) throw notInstalled(specifier);
  return import(/* @vite-ignore */ specifier);
};

describe('useBackend', () => {
  it("'auto' skips absent tfjs-node packages, starts wasm with 2 threads and registers its kernels", async () => {
    const choice = await selectBackend('auto', { threads: 2 }, without('@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'));
    expect(choice.name).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(choice.tfjsBackend).toBe('wasm');
    expect(choice.threads).toBe(2);
    // The kernel module's FMA build wherever relaxed SIMD runs (Node 20: after V8's flag), and it is what runs.
    expect(choice.fma).toBe(relaxedSimdSupported());
    expect(nativeKernels(tf.backend())!.fma).toBe(choice.fma);
    // (The suites' helper may have registered them already, in which case choice.kernels is empty.)
    for (const k of ['Conv2DBackpropFilter', 'DepthwiseConv2dNativeBackpropFilter', 'MaxPoolGrad']) {
      expect((tf.getKernel(k, 'wasm') as { medrobust?: boolean }).medrobust).toBe(true);
    }
    expect(choice.skipped.map((s) => s.name)).toEqual(['webgpu', 'webgl', 'node-gpu', 'node']);
    // WebGPU in Node: this machine's Dawn finds no adapter; elsewhere a software one, or a GPU without synchronous reads.
    expect(choice.skipped[0]!.reason).toMatch(/^WebGPU in Node has no synchronous tensor reads/);
    expect(choice.skipped[1]!.reason).toBe('WebGL needs a browser (Node has no WebGL context)');
    expect(choice.skipped[2]!.reason).toMatch(/not installed/);
    expect(choice.gpu).toBeUndefined();
    // The threaded module computes: a strided conv gradient (needs the composed kernels).
    const g = tf.tidy(() => tf.grad((x: tf.Tensor) => tf.sum(tf.conv2d(x as tf.Tensor4D, tf.ones([3, 3, 1, 2]), 2, 'same')))(tf.ones([1, 4, 4, 1])).dataSync());
    // 'same', stride 2 on 4 rows pads one row at the bottom: rows are read 1, 1, 2, 1 times; 2 filters.
    const reads = [1, 1, 2, 1];
    expect(Array.from(g)).toEqual(reads.flatMap((r) => reads.map((c) => 2 * r * c)));
  });

  it('a running wasm backend keeps its thread count and says so', async () => {
    const choice = await useBackend('wasm', { threads: 1 });
    expect(choice.threads).toBe(2);
    expect(choice.reason).toMatch(/already running with 2 thread/);
  });

  it('fma: false runs the plain build of the kernel module (on the 2-thread pool too), fma: true the FMA build again', async () => {
    try {
      const plain = await useBackend('wasm', { fma: false });
      expect(plain.fma).toBe(false);
      expect(tf.env().getBool(FMA_FLAG)).toBe(false);
      const native = nativeKernels(tf.backend())!;
      expect(native.fma).toBe(false);
      expect(native.threads).toBe(2);
      // Left out, the option leaves the flag as it stands.
      expect((await useBackend('wasm')).fma).toBe(false);
      expect((await useBackend('wasm', { fma: true })).fma).toBe(relaxedSimdSupported());
      expect((await useBackend('cpu', { fma: true })).fma).toBeUndefined();
    } finally {
      tf.env().set(FMA_FLAG, true);
    }
  });

  it("falls back to cpu when wasm is absent too, and registers cpu's filter gradient", async () => {
    const choice = await selectBackend('auto', {}, without('@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node', '@tensorflow/tfjs-backend-wasm'));
    expect(choice.name).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
    expect(choice.skipped.map((s) => s.name)).toEqual(['webgpu', 'webgl', 'node-gpu', 'node', 'wasm']);
    expect((tf.getKernel('Conv2DBackpropFilter', 'cpu') as { medrobust?: boolean }).medrobust).toBe(true);
  });

  it("'auto' in Node passes over WebGPU without loading Dawn, and says why", async () => {
    resetDawnForTests();
    try {
      const imported: string[] = [];
      const spy: Importer = async (specifier) => { imported.push(specifier); return without('@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node')(specifier); };
      const choice = await selectBackend('auto', { threads: 2 }, spy);
      expect(choice.name).toBe('wasm');
      expect(choice.skipped[0]!.name).toBe('webgpu');
      expect(choice.skipped[0]!.reason).toMatch(/^WebGPU in Node has no synchronous tensor reads/);
      expect(imported).not.toContain('webgpu');
      expect((globalThis as { navigator?: { gpu?: unknown } }).navigator?.gpu).toBeUndefined();
    } finally {
      resetDawnForTests();
    }
  });

  it("useBackend('webgpu') says that the webgpu package is absent", async () => {
    resetDawnForTests();
    try {
      const err = await selectBackend('webgpu', {}, without('webgpu')).catch((e: Error) => e);
      expect(err).toBeInstanceOf(Error);
      expect((err as Error).message).toBe("useBackend: no backend could be started: webgpu: the optional 'webgpu' package (Dawn, WebGPU for Node) is not installed: npm install webgpu");
    } finally {
      resetDawnForTests();
    }
  });

  it("useBackend('webgpu') in Node loads Dawn itself and explains a missing adapter", async () => {
    // Where Dawn finds a hardware adapter (a GPU machine) the backend starts instead: test/backend/webgpuNode.test.ts.
    const choice = await useBackend('webgpu').catch((err: Error) => err);
    if (choice instanceof Error) {
      expect(choice.message).toMatch(/^useBackend: no backend could be started: webgpu: (Dawn found no WebGPU adapter|the 'webgpu' package)/);
      expect(tf.getBackend()).not.toBe('webgpu');
    } else {
      expect(choice.name).toBe('webgpu');
      expect(choice.gpu?.description.length).toBeGreaterThan(0);
      await useBackend('wasm');
    }
  });

  it('webgl needs a browser', async () => {
    await expect(useBackend('webgl')).rejects.toThrow(/webgl: WebGL needs a browser \(Node has no WebGL context\)/);
  });

  it('throws, listing every reason, when nothing can start', async () => {
    const none: Importer = async (s) => { throw notInstalled(s); };
    await expect(selectBackend('node', {}, none)).rejects.toThrow(/node: not installed/);
  });

  it('tensors made on one backend give the same values after switching (both ways)', async () => {
    await useBackend('cpu');
    const logits = tf.tensor2d([[2, -1, 0.5], [0.1, 0.2, 3]]);
    const labels = tf.tensor1d([0, 2], 'int32');
    const ref = softmaxCrossEntropy(logits, labels);
    const expected = Array.from(ref.dataSync());
    await useBackend('wasm');
    const onWasm = softmaxCrossEntropy(logits, labels);
    expect(Array.from(onWasm.dataSync())).toEqual(expected.map((v) => expect.closeTo(v, 6)));
    const madeOnWasm = tf.tensor2d([[1, 2, 3], [3, 2, 1]]);
    await useBackend('cpu');
    const back = softmaxCrossEntropy(madeOnWasm, labels);
    expect(back.dataSync()[0]).toBeCloseTo(-Math.log(Math.exp(1) / (Math.exp(1) + Math.exp(2) + Math.exp(3))), 5);
    tf.dispose([logits, labels, ref, onWasm, madeOnWasm, back]);
  });

  it('rejects bad input', async () => {
    await expect(useBackend('gpu' as never)).rejects.toThrow(InvalidArgumentError);
    await expect(useBackend('gpu' as never)).rejects.toThrow(/useBackend: name must be one of 'auto', 'webgpu', 'webgl', 'node-gpu', 'node', 'wasm', 'cpu', received "gpu"/);
    await expect(useBackend('wasm', { threads: 0 })).rejects.toThrow(/options.threads must be a finite integer >= 1 and <= 8, received 0/);
    await expect(useBackend('wasm', { threads: 1.5 })).rejects.toThrow(InvalidArgumentError);
    await expect(useBackend('wasm', { thread: 2 } as never)).rejects.toThrow(/did you mean 'threads'/);
    await expect(useBackend('cpu', { registerGradients: 'yes' } as never)).rejects.toThrow(InvalidArgumentError);
    await expect(useBackend('wasm', { fma: 1 } as never)).rejects.toThrow(/useBackend: options.fma must be true or false, received 1/);
  });

  it('leaves no tensor behind', async () => {
    const before = tf.memory().numTensors;
    await useBackend('cpu');
    await useBackend('wasm');
    expect(tf.memory().numTensors).toBe(before);
  });
});
