import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { trades } from '../../src/defenses/trades.js';
import { InvalidArgumentError } from '../../src/errors.js';
import { BACKENDS, useTestBackend } from '../helpers/backends.js';
import { makeSplit, versusClean, type Split } from '../helpers/defenseFixtures.js';
import { expectNoLeak } from '../helpers/expectNoLeak.js';
import { buildSmallNet } from '../helpers/smallNet.js';

const EPS = 0.21;

describe.each(BACKENDS)('trades on %s', (backend) => {
  let split: Split;
  let multi: Split;
  beforeAll(async () => {
    await useTestBackend(backend);
    split = makeSplit();
    multi = makeSplit('multi-label');
  });
  afterAll(() => { split.dispose(); multi.dispose(); });

  it('gives higher PGD robust accuracy than clean training with the same seed and budget', async () => {
    // The CNN on every backend (attacks take the sign by comparisons: wasm's Sign kernel zeroes |x| < ~1e-7).
    const kind = 'cnn';
    const r = await versusClean(split, kind, EPS, 'single-label', (m, c) => trades(m, split.batches, { ...c, epsilon: EPS, steps: 5 }));
    expect(r.defended.robust, r.message).toBeGreaterThan(r.clean.robust + 0.15);
  });

  it('multi-label TRADES gives higher per-label robust accuracy than clean training (MLP)', async () => {
    const r = await versusClean(multi, 'mlp', EPS, 'multi-label', (m, c) => trades(m, multi.batches, { ...c, epsilon: EPS, steps: 5 }));
    expect(r.defended.robust, r.message).toBeGreaterThan(r.clean.robust + 0.1);
  });

  it('rejects bad input', async () => {
    const model = buildSmallNet({ inputShape: [8, 8, 1], outputs: 3, kind: 'mlp', seed: 1 });
    const b = split.batches;
    await expect(trades(model, b, {} as never)).rejects.toThrow(/trades: options.epsilon must be/);
    await expect(trades(model, b, { epsilon: 0.03, steps: 0 })).rejects.toThrow(/options.steps must be a finite integer >= 1/);
    await expect(trades(model, b, { epsilon: 0.03, beta: Number.POSITIVE_INFINITY })).rejects.toThrow(InvalidArgumentError);
    await expect(trades(model, b, { epsilon: 0.03, attackLoss: () => tf.scalar(0) } as never)).rejects.toThrow(/unknown option 'attackLoss'/);
    model.dispose();
  });

  it('does not leak tensors', async () => {
    const model = buildSmallNet({ inputShape: [8, 8, 1], outputs: 3, kind: 'mlp', seed: 1 });
    await expectNoLeak(() => trades(model, split.batches, { epochs: 2, seed: 1, epsilon: 0.03, steps: 2 }));
    await expectNoLeak(() => trades(model, multi.batches, { epochs: 1, seed: 1, epsilon: 0.03, steps: 2, task: 'multi-label' }));
    model.dispose();
  });
});
