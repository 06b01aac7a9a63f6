import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { AbortError, FormatError, InvalidArgumentError, MemoryBudgetError, NonFiniteError } from '../../src/errors.js';
import { entry, entryAsync, reattribute, releaseStaleTape } from '../../src/internal/scope.js';
import { BACKENDS, useTestBackend } from '../helpers/backends.js';

const activeTape = () => (tf.engine() as unknown as { state: { activeTape: unknown[] | null } }).state.activeTape;

describe.each(BACKENDS)('entry scopes on %s', (backend) => {
  beforeAll(() => useTestBackend(backend));

  it('root cause: a throw inside tf.grad leaves the tape-saved clones alive (tfjs-core), releaseStaleTape frees them', () => {
    const x = tf.ones([4, 3]);
    const w = tf.ones([3, 2]);
    const before = tf.memory().numTensors;
    expect(() => tf.tidy(() => tf.grad((t: tf.Tensor) => {
      const logits = tf.matMul(tf.relu(t), w);
      throw new InvalidArgumentError('demo', 'labels', 'an index below 2', 'index 5');
      return tf.sum(logits); // eslint-disable-line no-unreachable
    })(x))).toThrow(InvalidArgumentError);
    // Relu and MatMul saved clones of their inputs/outputs, marked `kept`: no tidy frees them.
    expect(tf.memory().numTensors).toBeGreaterThan(before);
    expect(activeTape()).not.toBeNull();
    expect(releaseStaleTape()).toBeGreaterThan(0);
    expect(tf.memory().numTensors).toBe(before);
    expect(activeTape()).toBeNull();
    tf.dispose([x, w]);
  });

  it('entry frees everything made before a throw, tape included, and keeps returned tensors on success', () => {
    const x = tf.ones([4, 3]);
    const before = tf.memory().numTensors;
    expect(() => entry('demo', () => {
      tf.square(x);
      return tf.grad((t: tf.Tensor) => { tf.exp(t); throw new NonFiniteError('demo', 'loss', 'it was NaN'); })(x);
    })).toThrow(NonFiniteError);
    expect(tf.memory().numTensors).toBe(before);
    const out = entry('demo', () => ({ a: tf.square(x), b: [tf.exp(x)], n: 3, big: new Float32Array(1000) }));
    expect(tf.memory().numTensors).toBe(before + 2);
    expect(out.n).toBe(3);
    tf.dispose([out.a, ...out.b, x]);
  });

  it('entryAsync frees the bag and the tape on throw, and hands over released tensors', async () => {
    const x = tf.ones([2, 2]);
    const before = tf.memory().numTensors;
    await expect(entryAsync('demo', async (bag) => {
      bag.own(tf.square(x));
      await Promise.resolve();
      tf.grad((t: tf.Tensor) => { tf.tidy(() => tf.relu(t)); throw new Error('boom'); })(x);
    })).rejects.toThrow('boom');
    expect(tf.memory().numTensors).toBe(before);
    const kept = await entryAsync('demo', async (bag) => {
      const a = bag.own(tf.square(x));
      bag.own(tf.exp(x));
      await Promise.resolve();
      return bag.release(a);
    });
    expect(tf.memory().numTensors).toBe(before + 1);
    tf.dispose([kept, x]);
  });
});

describe('reattribute', () => {
  it("restates an inner function's typed errors under the outer name, with the argument mapped", () => {
    const inner = new InvalidArgumentError('pgd', 'labels[3]', 'a class index in [0, 2]', 'index 5');
    const out = reattribute(inner, 'evaluateRobustness', { labels: 'data[1].labels' }, "attack 'PGD'") as InvalidArgumentError;
    expect(out).toBeInstanceOf(InvalidArgumentError);
    expect(out.message).toBe("evaluateRobustness: data[1].labels[3] must be a class index in [0, 2], received index 5 (attack 'PGD', from pgd)");
    expect((out as { cause?: unknown }).cause).toBe(inner);
    const opt = reattribute(new InvalidArgumentError('pgd', 'options.steps', 'an integer', '2.5'), 'evaluateRobustness', { options: 'attacks[0].options' }, 'x') as InvalidArgumentError;
    expect(opt.argument).toBe('attacks[0].options.steps');
    const nf = reattribute(new NonFiniteError('pgd', 'loss', 'it was NaN at step 2'), 'evaluateRobustness', {}, 'ctx') as NonFiniteError;
    expect(nf.message).toBe('evaluateRobustness: loss must be finite, but it was NaN at step 2 (ctx, from pgd)');
    const mem = reattribute(new MemoryBudgetError('pgd', 4, 2 ** 30, 2 ** 29, 'pass options.batchSize ≤ 2'), 'evaluateRobustness', {}, 'ctx') as MemoryBudgetError;
    expect(mem.message).toMatch(/^evaluateRobustness: a batch of 4 needs about 1024 MiB, more than the 512 MiB available; pass options.batchSize ≤ 2 \(ctx, from pgd\)$/);
    const format = new FormatError('readNpy: the header is truncated');
    const restated = reattribute(format, 'advTrain', {}, 'epoch 0, batch 1');
    expect(restated).toBeInstanceOf(FormatError);
    expect((restated as Error).message).toBe('advTrain: the header is truncated (epoch 0, batch 1, from readNpy)');
    const aborted = new AbortError('pgdAsync was aborted');
    expect(reattribute(aborted, 'advTrain', {}, 'x')).toBe(aborted);
    const own = new InvalidArgumentError('advTrain', 'data', 'x', 'y');
    expect(reattribute(own, 'advTrain', {}, 'x')).toBe(own);
    const plain = new TypeError('not ours');
    expect(reattribute(plain, 'evaluateRobustness', {}, 'ctx')).toBe(plain);
  });
});
