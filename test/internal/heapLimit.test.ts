/**
 * Slow (MEDROBUST_SLOW=1; needs ~4.5 GB of RAM): the real wasm heap at its 4 GiB limit. tfjs-backend-wasm
 * 4.22 stores a tensor whose allocation failed at address 0 and corrupts memory (garbage or a hang at
 * 100% CPU); medrobust's guard throws a typed error first, and the attacks plan around the limit.
 */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { fgsm } from '../../src/attacks/fgsm.js';
import { MemoryBudgetError } from '../../src/errors.js';
import { installHeapGuard } from '../../src/internal/memory.js';
import { useTestBackend } from '../helpers/backends.js';

describe.skipIf(!process.env.MEDROBUST_SLOW)('the wasm heap at its 4 GiB limit (slow)', () => {
  beforeAll(() => useTestBackend('wasm'));

  it('a failed allocation throws MemoryBudgetError instead of writing at address 0; the backend stays usable', () => {
    installHeapGuard();
    const held: tf.Tensor[] = [];
    let err: unknown;
    try {
      for (let i = 0; i < 8; i++) held.push(tf.fill([200 * 2 ** 20], 1)); // 800 MiB each
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(MemoryBudgetError);
    expect((err as Error).message).toMatch(/wasm backend: an allocation of 800 MiB failed with the heap at \d+ MiB/);
    expect(held.length).toBe(5); // 5 × 800 MiB fit under 4 GiB − 64 KiB
    // The first tensor was not overwritten (the stock backend would have written the failed fill over it).
    expect(tf.tidy(() => tf.min(held[0]!).dataSync()[0])).toBe(1);
    tf.dispose(held);
    // Freed memory is reused: work runs again, with correct results.
    const big = tf.fill([300 * 2 ** 20], 2); // 1.2 GiB, from the freed blocks
    expect(tf.tidy(() => tf.sum(tf.slice(big, [0], [1000])).dataSync()[0])).toBe(2000);
    big.dispose();
    const x = tf.fill([2, 8, 8, 1], 0.5) as tf.Tensor4D;
    const adv = fgsm((t) => tf.reshape(tf.concat([t, tf.neg(t)], 3), [t.shape[0], 128]) as tf.Tensor2D, x, tf.tensor1d([0, 1], 'int32'), { epsilon: 0.1 });
    expect(adv.shape).toEqual([2, 8, 8, 1]);
    tf.dispose([x, adv]);
  });
});
