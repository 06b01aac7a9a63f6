/**
 * Issues 13 and 15: a training run that fails for memory (a budget its step does not fit, or a failed
 * wasm allocation in the middle of a step) frees every tensor it made. For each defense with the paper's
 * Messidor presets (MPAdvT, MAAdvT: paperQuirks, Nesterov SGD) and PGD-AT and TRADES:
 * - a `memoryBudget` one image does not fit, and budgets where one image fits the probe but a `microBatch`
 *   of 2 does not (and larger ones where it trains): the MemoryBudgetError (or the run) leaves the tensor
 *   count as it was;
 * - the n-th call of a kernel of the step throws the heap guard's out-of-memory error (as a failed wasm
 *   allocation does), for n spread over all the run's calls: inside the inner attack's steps, the
 *   update's backward pass and the second batch. Each throws a MemoryBudgetError naming the defense and
 *   leaves the count as it was (in the memory probe: the planner's error for one image and the budget).
 *   A caller's optimizer keeps the slots it created before the failure
 *   (they are its state, freed by its `dispose()`, which is counted here); the loop's own Adam is freed.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { advTrain } from '../../src/defenses/advTrain.js';
import { maAdvTrain } from '../../src/defenses/maAdvTrain.js';
import { mpAdvTrain } from '../../src/defenses/mpAdvTrain.js';
import { maAdvTrainPreset, mpAdvTrainPreset } from '../../src/defenses/paperPresets.js';
import { trades } from '../../src/defenses/trades.js';
import { MemoryBudgetError } from '../../src/errors.js';
import { smallCnn } from '../../src/models/index.js';
import type { Batch } from '../../src/types.js';
import { BACKENDS, useTestBackend } from '../helpers/backends.js';

type Extra = { memoryBudget?: number; microBatch?: number };
type Defense = (model: tfl.LayersModel, data: Batch[], extra: Extra) => Promise<unknown>;

/** Each defense; a preset's optimizer is made and disposed inside the call, so the count includes it. */
const DEFENSES: Record<string, Defense> = {
  maAdvTrain: async (model, data, extra) => {
    const preset = maAdvTrainPreset('messidor', { variant: 'paper' });
    const optimizer = preset.createOptimizer();
    try {
      return await maAdvTrain(model, data, { ...preset.options, steps: 1, epochs: 1, seed: 1, optimizer, ...extra });
    } finally {
      optimizer.dispose();
    }
  },
  mpAdvTrain: async (model, data, extra) => {
    const preset = mpAdvTrainPreset('messidor', { variant: 'paper' });
    const optimizer = preset.createOptimizer();
    try {
      // Every batch adversarial, so the inner attack always runs.
      return await mpAdvTrain(model, data, { ...preset.options, cleanProbability: 0, steps: 1, epochs: 1, seed: 1, optimizer, ...extra });
    } finally {
      optimizer.dispose();
    }
  },
  advTrain: (model, data, extra) => advTrain(model, data, { epsilon: 0.03, steps: 1, epochs: 1, seed: 1, ...extra }),
  trades: (model, data, extra) => trades(model, data, { epsilon: 0.03, steps: 1, epochs: 1, seed: 1, ...extra }),
};

/** Makes the `n`-th call of kernel `name` (1-based) on the active backend throw the heap guard's error. */
async function failingKernel<T>(name: string, n: number, body: () => Promise<T>): Promise<{ result: T | unknown; calls: number }> {
  const config = tf.getKernel(name, tf.getBackend()) as { kernelFunc: tf.KernelFunc } | undefined;
  if (!config) throw new Error(`no ${name} kernel on ${tf.getBackend()}`);
  const original = config.kernelFunc;
  let calls = 0;
  config.kernelFunc = (args) => {
    if (++calls === n) throw new MemoryBudgetError('wasm backend', Number.NaN, 2 ** 32, 2 ** 32, 'injected by the test');
    return original(args);
  };
  try {
    return { result: await body().catch((err: unknown) => err), calls };
  } finally {
    config.kernelFunc = original;
  }
}

describe.each(BACKENDS)('training under memory pressure frees what it made (%s)', (backend) => {
  let data: Batch[];
  beforeAll(async () => {
    await useTestBackend(backend);
    data = [1, 2].map((seed) => ({ images: tf.randomUniform([2, 8, 8, 3], 0, 1, 'float32', seed) as tf.Tensor4D, labels: tf.tensor1d([seed % 4, (seed + 1) % 4], 'int32') }));
    return () => tf.dispose(data.flatMap((b) => [b.images, b.labels]));
  });
  const net = () => smallCnn({ inputShape: [8, 8, 3], classes: 4, width: 0.125, seed: 3 });

  it.each(Object.keys(DEFENSES))('%s: a budget the step does not fit throws MemoryBudgetError and leaks nothing', async (name) => {
    const model = net();
    try {
      const before = tf.memory().numTensors;
      const err = await DEFENSES[name]!(model, data, { memoryBudget: 100 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(MemoryBudgetError);
      expect((err as MemoryBudgetError).fn).toBe(name);
      expect(tf.memory().numTensors).toBe(before);
      // A micro-batch of 2 against budgets around the step's size (15 to 112 kB, ×1.25 apart): refused for one
      // image, refused for the micro-batch of 2 after the probe on one fitted, or trained; nothing is left either way.
      const outcomes = new Set<string>();
      let lo = 0; // the largest budget refused for one image
      let hi = Number.POSITIVE_INFINITY; // the smallest budget that fitted one image
      const attempt = async (memoryBudget: number): Promise<void> => {
        const start = tf.memory().numTensors;
        const out = await DEFENSES[name]!(model, data, { memoryBudget, microBatch: 2 }).catch((e: unknown) => e);
        if (out instanceof Error) expect(out, String(out)).toBeInstanceOf(MemoryBudgetError);
        const outcome = out instanceof MemoryBudgetError ? `refused ${out.batch}` : 'trained';
        outcomes.add(outcome);
        if (outcome === 'refused 1') lo = Math.max(lo, memoryBudget);
        else hi = Math.min(hi, memoryBudget);
        expect(tf.memory().numTensors, `after budget ${memoryBudget}`).toBe(start);
      };
      for (const memoryBudget of [...Array.from({ length: 10 }, (_, i) => 1.5e4 * 1.25 ** i), 1e9]) await attempt(memoryBudget);
      // The window of "one image fits, two do not" can fall between two budgets of the sweep (its width is one
      // image's share of the step): bisect between the last refusal for one image and the first budget past it.
      for (let k = 0; k < 24 && !outcomes.has('refused 2') && lo > 0 && hi < Number.POSITIVE_INFINITY; k++) await attempt((lo + hi) / 2);
      expect([...outcomes].sort()).toEqual(['refused 1', 'refused 2', 'trained']);
    } finally {
      model.dispose();
    }
  }, 30_000);

  // Greater: the sign of each inner-attack step (advTrain's PGD too); Conv2DBackpropFilter: every backward pass.
  it.each(Object.keys(DEFENSES))('%s: an allocation failing at any point of the steps throws MemoryBudgetError and leaks nothing', async (name) => {
    const model = net();
    try {
      // The first backward pass of a fresh model is the memory probe's: out of memory there is the
      // planner's MemoryBudgetError for one image against the budget.
      const before = tf.memory().numTensors;
      const { result: probeErr } = await failingKernel('Conv2DBackpropFilter', 1, () => DEFENSES[name]!(model, data, { memoryBudget: 1e9 }));
      expect(tf.memory().numTensors).toBe(before);
      expect(probeErr).toBeInstanceOf(MemoryBudgetError);
      expect(probeErr).toMatchObject({ fn: name, batch: 1, budgetBytes: 1e9 });
      for (const kernel of ['Greater', 'Conv2DBackpropFilter']) {
        // A clean run counts the calls; then up to 6 failure points spread over them, first and last included.
        const { calls: total } = await failingKernel(kernel, 0, () => DEFENSES[name]!(model, data, { microBatch: 1 }));
        expect(total, kernel).toBeGreaterThan(1);
        const points = new Set(Array.from({ length: 6 }, (_, i) => 1 + Math.round((i * (total - 1)) / 5)));
        for (const n of points) {
          const before = tf.memory().numTensors;
          const { result } = await failingKernel(kernel, n, () => DEFENSES[name]!(model, data, { microBatch: 1 }));
          expect(tf.memory().numTensors, `${kernel} call ${n} of ${total}: ${String(result)}`).toBe(before);
          expect(result, String(result)).toBeInstanceOf(MemoryBudgetError);
          expect((result as MemoryBudgetError).message).toMatch(new RegExp(`^${name}: `));
        }
      }
    } finally {
      model.dispose();
    }
  }, 60_000);
});
