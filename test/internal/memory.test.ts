import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { MemoryBudgetError } from '../../src/errors.js';
import {
  applyGradientsBounded, assertUpdateFits, cachedStepMemory, installHeapGuard, isHeapExhausted, mapInChunks, measurePeak, memoryStatus, noteKernelBytes, optimizerUpdateBytes, planChunks, runInChunks, WASM_HEAP_MAX,
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

  // Issue 13: tfjs's Adam keeps every weight's update temporaries until the last weight is done (~12× the weights).
  describe('applyGradientsBounded', () => {
    const shapes = [[256, 256], [64], [256, 512], [3, 3, 16, 16], [256, 256], [7]];
    const setup = (tag: string) => {
      const vars = shapes.map((s, i) => tf.tidy(() => tf.variable(tf.randomNormal(s, 0, 1, 'float32', i + 1), true, `${backend}-${tag}-${i}`)));
      const grads = (step: number) => vars.map((v, i) => ({ name: v.name, tensor: tf.randomNormal(v.shape, 0, 1, 'float32', 100 * step + i + 1) }));
      return { vars, grads };
    };

    it.each([
      ['Adam', () => tf.train.adam(0.01, 0.8, 0.95, 1e-7)], ['Momentum', () => {
        // tfjs 4.22's Momentum dispose() forgets its learning-rate scalar (paperPresets frees it the same way).
        const o = tf.train.momentum(0.1, 0.9, true);
        const dispose = o.dispose.bind(o);
        o.dispose = () => { dispose(); (o as unknown as { c: tf.Tensor }).c.dispose(); };
        return o;
      }], ['SGD', () => tf.train.sgd(0.1)],
    ] as const)('%s: bit for bit the one-call update over three steps (weights, slots, β-powers, iterations)', async (_name, make) => {
      const before = tf.memory().numTensors;
      const [a, b] = [setup('one'), setup('bounded')];
      const [oa, ob] = [make(), make()];
      for (let step = 0; step < 3; step++) {
        const [ga, gb] = [a.grads(step), b.grads(step)];
        oa.applyGradients(ga);
        applyGradientsBounded(ob, gb);
        tf.dispose([...ga, ...gb].map((g) => g.tensor));
      }
      // Bit for bit: the number of elements that differ (a deep equality's diff of 65,536 numbers takes minutes).
      const differing = (x: tf.Tensor, y: tf.Tensor) => { const [p, q] = [x.dataSync(), y.dataSync()]; return p.length === q.length ? p.filter((v, k) => !Object.is(v, q[k])).length : -1; };
      a.vars.forEach((v, i) => expect(differing(b.vars[i]!, v)).toBe(0));
      const [wa, wb] = [await oa.getWeights(), await ob.getWeights()];
      expect(wb.length).toBe(wa.length);
      wa.forEach((w, i) => expect(differing(wb[i]!.tensor, w.tensor)).toBe(0));
      expect(ob.iterations).toBe(3);
      const powers = (o: tf.Optimizer) => ['accBeta1', 'accBeta2'].map((k) => (o as unknown as Record<string, tf.Variable | undefined>)[k]?.dataSync()[0]);
      expect(powers(ob)).toEqual(powers(oa));
      tf.dispose([wa[0]!.tensor, wb[0]!.tensor]); // the iteration count getWeights made; the rest are the optimizers' own
      [oa, ob].forEach((o) => o.dispose());
      tf.dispose([...a.vars, ...b.vars]);
      expect(tf.memory().numTensors).toBe(before);
    });

    it('Adam\'s update holds temporaries of about one weight group, not of every weight; the budget check says so', () => {
      const before = tf.memory().numTensors;
      const big = Array.from({ length: 8 }, (_, i) => tf.tidy(() => tf.variable(tf.randomNormal([256, 256], 0, 1, 'float32', i + 1), true, `${backend}-big-${i}`)));
      const grads = big.map((v, i) => ({ name: v.name, tensor: tf.randomNormal(v.shape, 0, 1, 'float32', 50 + i) }));
      const [one, bounded] = [tf.train.adam(0.01), tf.train.adam(0.01)];
      const weight = 256 * 256 * 4;
      // The first update also makes the moments (optimizer state: twice the weights), and is split too.
      one.applyGradients(grads);
      const first = measurePeak(() => applyGradientsBounded(bounded, grads)).peakBytes;
      // (the moments, the group's temporaries, and one weight's zeros while a moment variable is made)
      expect(first).toBeLessThanOrEqual(2 * 8 * weight + optimizerUpdateBytes(bounded, big) + weight + 1024);
      const whole = measurePeak(() => one.applyGradients(grads)).peakBytes;
      const grouped = measurePeak(() => applyGradientsBounded(bounded, grads)).peakBytes;
      expect(whole).toBeGreaterThan(8 * 8 * weight); // tfjs: ≥ 8 temporaries of each of the 8 weights at once
      expect(grouped).toBeLessThanOrEqual(optimizerUpdateBytes(bounded, big) + 1024); // and a few scalars
      expect(optimizerUpdateBytes(bounded, big)).toBe(14 * weight);
      expect(grouped).toBeLessThan(whole / 4);
      expect(() => assertUpdateFits('demo', bounded, big, 8 * weight + 14 * weight)).not.toThrow();
      expect(() => assertUpdateFits('demo', bounded, big, 8 * weight + 13 * weight)).toThrow(/^demo: a batch of 1 needs about 6 MiB, more than the 5 MiB available; the Adam update of the model's weights alone/);
      expect(() => assertUpdateFits('demo', bounded, big, Infinity)).not.toThrow();
      tf.dispose([...big, ...grads.map((g) => g.tensor)]);
      [one, bounded].forEach((o) => o.dispose());
      expect(tf.memory().numTensors).toBe(before);
    });
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
