/** Batched prediction and the metric row of one evaluation. @internal */
import * as tf from '@tensorflow/tfjs-core';
import { accuracy } from '../../metrics/accuracy.js';
import { foolingRate } from '../../metrics/foolingRate.js';
import { rocAuc } from '../../metrics/rocAuc.js';
import type { ModelFn, Task } from '../../types.js';
import { checkpointPause } from './context.js';

/** Runs `model` over `images` in batches; returns the logits [N, C] (caller disposes). */
export function predictLogits(model: ModelFn, images: tf.Tensor4D, batch: number): tf.Tensor2D {
  const n = images.shape[0];
  const parts: tf.Tensor2D[] = [];
  for (let start = 0; start < n; start += batch) {
    const size = Math.min(batch, n - start);
    parts.push(tf.tidy(() => model(tf.slice(images, [start, 0, 0, 0], [size, -1, -1, -1]))));
  }
  const all = tf.concat(parts, 0);
  tf.dispose(parts);
  return all;
}

/**
 * Applies `attack` batch by batch; returns the adversarial images (caller disposes). Between batches
 * it lets a Ctrl-C handler run and stops with AbortError once `signal` is aborted; an async attack
 * (pgdAsync with the same signal) also stops between its steps.
 */
export async function attackInBatches(images: tf.Tensor4D, labels: tf.Tensor, batch: number, attack: (x: tf.Tensor4D, y: tf.Tensor) => tf.Tensor4D | Promise<tf.Tensor4D>, signal: AbortSignal): Promise<tf.Tensor4D> {
  const n = images.shape[0];
  const parts: tf.Tensor4D[] = [];
  try {
    for (let start = 0; start < n; start += batch) {
      await checkpointPause(signal);
      const size = Math.min(batch, n - start);
      const x = tf.slice(images, [start, 0, 0, 0], [size, -1, -1, -1]);
      const y = tf.slice(labels, [start], [size]);
      try {
        parts.push(await attack(x, y));
      } finally {
        tf.dispose([x, y]);
      }
    }
    return tf.concat(parts, 0);
  } finally {
    tf.dispose(parts);
  }
}

export interface MetricRow {
  accuracy: number;
  auc: number;
  foolingRate?: number;
}

/** Accuracy and ROC AUC (macro over classes; probabilities) of logits against labels. */
export function scoreLogits(logits: tf.Tensor2D, labels: tf.Tensor, task: Task, cleanLogits?: tf.Tensor2D): MetricRow {
  const probabilities = tf.tidy(() => (task === 'multi-label' ? tf.sigmoid(logits) : tf.softmax(logits)));
  try {
    const row: MetricRow = {
      accuracy: accuracy(logits, labels, { task, from: 'logits' }),
      auc: rocAuc(probabilities, labels, { task }),
    };
    if (cleanLogits) row.foolingRate = foolingRate(cleanLogits, logits, { task, from: 'logits' });
    return row;
  } finally {
    probabilities.dispose();
  }
}
