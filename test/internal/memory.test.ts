import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { MemoryBudgetError } from '../../src/errors.js';
import {
  cachedStepMemory, installHeapGuard, isHeapExhausted, mapInChunks, measurePeak, memoryStatus, noteKernelBytes, planChunks, runInChunks, WASM_HEAP_MAX,
} from '../../src/internal/memory.js';
import { BACKENDS, useTestBackend } from '../helpers/backends.js';
import { expectNoLeak } from '../helpers/expectNoLeak.js';

const MiB = 2 ** 20;

describe.each(BACKENDS)('memory model on %s', (backend) => {
  beforeAll(() => useTestBackend(backend));

  it('measurePeak sees the largest live set of a body, below-engine bytes included, and restores the engine', () => {
    const { result, peakBytes } = measurePeak(() => tf.tidy(() => {
      const a = tf.zeros([MiB / 4]); // 1 MiB
      const b = tf.zeros([MiB / 4]);
      a.dispose();
      b.dispose();
      const c = tf.zeros([MiB / 8]); // 0.5 MiB
      noteKernelBytes(3 * MiB); // a composed kernel's intermediate, next to c
      noteKernelBytes(-3 * MiB);
      return tf.sum(c).dataSync()[0];
    }));
    expect(result).toBe(0);
    expect(peakBytes).toBe(3.5 * MiB);
    const before = tf.memory().numBytes;
    const t = tf.zeros([10]);
    expect(tf.memory().numBytes).toBe(before + 40);
    t.dispose();
  });

  it('plans chunks from a measured step: batchSize, budget, refinement, cache, and the one-sample error', () => {
    const model = {};
    const perSample = 2 * MiB;
    const probe = (k: number): tf.Tensor => tf.tidy(() => tf.sum(tf.zeros([k, perSample / 4]), 1));
    const key = { model, kind: 'demo', sampleShape: [4] };
    expect(planChunks('demo', 10, { batchSize: 3 }, key, probe).size).toBe(3);
    expect(cachedStepMemory(key)).toBeUndefined(); // batchSize alone: nothing measured
    const plan = planChunks('demo', 10, { memoryBudget: 9 * MiB }, key, probe);
    expect(plan.size).toBe(4);
    expect(cachedStepMemory(key)!.refined).toBe(true);
    expect(cachedStepMemory(key)!.perSampleBytes).toBeCloseTo(perSample, -3);
    expect(planChunks('demo', 10, { memoryBudget: 100 * MiB }, key, () => { throw new Error('cached: no probe'); }).size).toBe(10);
    expect(() => planChunks('demo', 10, { memoryBudget: 1 * MiB }, { ...key, model: {} }, probe)).toThrow(MemoryBudgetError);
    try {
      planChunks('demo', 10, { memoryBudget: 1 * MiB }, { ...key, model: {} }, probe);
    } catch (err) {
      expect((err as MemoryBudgetError).batch).toBe(1);
      expect((err as Error).message).toMatch(/^demo: a batch of 1 needs about 2 MiB, more than the 1 MiB available; one sample does not fit/);
    }
    expect(() => planChunks('demo', 10, { memoryBudget: 9 * MiB, batchSize: 8 }, key, probe)).toThrow(/a batch of 8 .* options.batchSize ≤ 4/);
  });

  it('mapInChunks equals the unchunked result and leaks nothing, also when a chunk throws', async () => {
    const x = tf.randomUniform([7, 3, 3, 2], 0, 1, 'float32', 1) as tf.Tensor4D;
    const w = tf.randomNormal([18, 4], 0, 1, 'float32', 2);
    const f = (t: tf.Tensor4D) => tf.matMul(tf.reshape(t, [t.shape[0], -1]), w);
    const whole = f(x);
    const chunked = mapInChunks('demo', x, { batchSize: 3 }, { model: f, kind: 'forward' }, f);
    expect(Array.from(chunked.dataSync())).toEqual(Array.from(whole.dataSync()));
    tf.dispose([whole, chunked]);
    await expectNoLeak(() => mapInChunks('demo', x, { batchSize: 2 }, { model: f, kind: 'forward' }, f));
    let calls = 0;
    await expectNoLeak(() => {
      expect(() => runInChunks('demo', 7, { size: 2, budgetBytes: Infinity }, (s, c) => {
        if (++calls === 3) throw new Error('third chunk');
        return tf.slice(x, [s], [c]);
      })).toThrow('third chunk');
    });
    tf.dispose([x, w]);
  });

  it('memoryStatus states where the limit comes from', () => {
    const s = memoryStatus();
    expect(s.backend).toBe(backend);
    if (backend === 'wasm') {
      expect(s.availableBytes).toBeLessThan(WASM_HEAP_MAX);
      expect(s.source).toMatch(/wasm heap limit/);
    } else expect(s.source).toMatch(/free memory|unknown/);
  });
});

describe('wasm heap guard', () => {
  it('turns the NULL that a full heap returns into a MemoryBudgetError before tfjs writes at address 0', () => {
    const heap = new Uint8Array(64);
    const fake = { wasm: { _malloc: (bytes: number) => (bytes > 32 ? 0 : 8), HEAPU8: heap } };
    expect(installHeapGuard(fake)).toBe(true);
    expect(installHeapGuard(fake)).toBe(false); // idempotent
    expect(fake.wasm._malloc(16)).toBe(8);
    let err: unknown;
    try { fake.wasm._malloc(48); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(MemoryBudgetError);
    expect(isHeapExhausted(err)).toBe(true);
    expect((err as Error).message).toMatch(/^wasm backend: an allocation of 0 MiB failed .*address 0/);
    expect(installHeapGuard({ notWasm: true })).toBe(false);
  });

  it('is installed on the running wasm backend by every public entry', async () => {
    await useTestBackend('wasm');
    const { fgsm } = await import('../../src/attacks/fgsm.js');
    const x = tf.zeros([1, 2, 2, 1]) as tf.Tensor4D;
    fgsm((t) => tf.reshape(tf.concat([t, t], 3), [1, 8]) as tf.Tensor2D, x, tf.tensor1d([0], 'int32'), { epsilon: 0.1 }).dispose();
    expect((tf.backend() as unknown as { wasm: { medrobustHeapGuard?: boolean } }).wasm.medrobustHeapGuard).toBe(true);
    x.dispose();
  });
});
