/**
 * The CLI's evaluation helpers: metrics read logits as logits even when every logit lies in [0, 1]
 * (without `from: 'logits'` the metrics refuse to guess), and an attack run through attackInBatches with
 * the run's AbortSignal stops between two PGD steps, freeing everything.
 */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { pgdAsync } from '../../src/attacks/pgd.js';
import { attackInBatches, scoreLogits } from '../../src/cli/stages/evaluate.js';
import { AbortError } from '../../src/errors.js';
import { BACKENDS, useTestBackend } from '../helpers/backends.js';

describe.each(BACKENDS)('cli evaluation on %s', (backend) => {
  beforeAll(() => useTestBackend(backend));

  it('scores logits that all lie in [0, 1] as logits (multi-label: sigmoid(0.6) > 0.5 is "present")', () => {
    const logits = tf.tensor2d([[0.6, 0.2], [0.1, 0.9], [0.3, 0.4]]);
    const labels = tf.tensor2d([[1, 1], [1, 1], [1, 1]]);
    const row = scoreLogits(logits, labels, 'multi-label', logits);
    // Every logit > 0 gives probability > 0.5: all six decisions "present", all correct.
    expect(row.accuracy).toBe(1);
    expect(row.foolingRate).toBe(0);
    const single = tf.tensor2d([[0.2, 0.8], [0.9, 0.1]]);
    const y = tf.tensor1d([1, 1], 'int32');
    expect(scoreLogits(single, y, 'single-label').accuracy).toBe(0.5);
    tf.dispose([logits, labels, single, y]);
  });

  it('stops a PGD run between two steps when the run is interrupted, leaving no tensor behind', async () => {
    const w = tf.tensor2d([[1, -1], [-1, 1], [0.5, 0.5], [0.2, -0.3]]);
    const model = (x: tf.Tensor4D) => tf.matMul(tf.reshape(x, [x.shape[0], 4]), w) as tf.Tensor2D;
    const images = tf.fill([4, 2, 2, 1], 0.5) as tf.Tensor4D;
    const labels = tf.tensor1d([0, 1, 0, 1], 'int32');
    const controller = new AbortController();
    let steps = 0;
    const before = tf.memory().numTensors;
    const run = attackInBatches(images, labels, 2, (x, y) => pgdAsync(model, x, y, {
      epsilon: 0.1, steps: 1000, seed: 1, signal: controller.signal, onProgress: () => { if (++steps === 3) controller.abort(); },
    }), controller.signal);
    await expect(run).rejects.toBeInstanceOf(AbortError);
    expect(steps).toBe(3);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([w, images, labels]);
  });
});
