/**
 * Argument parsing shared by the losses on clean/adversarial logit pairs (martLoss, tradesLoss).
 * @internal
 */
import type * as tf from '@tensorflow/tfjs-core';
import { InvalidArgumentError } from '../errors.js';
import { assertKnownKeys, assertNumber, assertOneOf, assertOptionsObject } from '../internal/validate.js';
import type { Task } from '../types.js';
import { assertLogitsAndLabels } from './taskLosses.js';

export interface PairedLossArgs {
  beta: number;
  task: Task;
  reduction: 'mean' | 'none';
  clean: tf.Tensor2D;
  adv: tf.Tensor2D;
  /** The validated options object, for the caller's own keys. */
  options: Record<string, unknown>;
}

/** Validates `{beta = 6, task, reduction}` and two logit tensors of one shape against the labels. */
export function pairedLossArgs(fn: string, cleanLogits: unknown, advLogits: unknown, labels: unknown, options: unknown, extraKeys: readonly string[] = []): PairedLossArgs {
  const o = assertOptionsObject(fn, options);
  assertKnownKeys(fn, o, ['beta', 'task', 'reduction', ...extraKeys]);
  const beta = o.beta === undefined ? 6 : assertNumber(fn, 'options.beta', o.beta, { min: 0 });
  const task = assertOneOf<Task>(fn, 'options.task', o.task, ['single-label', 'multi-label']) ?? 'single-label';
  const reduction = assertOneOf(fn, 'options.reduction', o.reduction, ['mean', 'none'] as const) ?? 'mean';
  const clean = assertLogitsAndLabels(fn, cleanLogits as tf.Tensor2D, labels as tf.Tensor, task, 'cleanLogits');
  const adv = assertLogitsAndLabels(fn, advLogits as tf.Tensor2D, labels as tf.Tensor, task, 'advLogits');
  if (clean.shape[0] !== adv.shape[0] || clean.shape[1] !== adv.shape[1]) {
    throw new InvalidArgumentError(fn, 'advLogits', `a tensor of the shape of cleanLogits [${clean.shape.join(',')}]`, `shape [${adv.shape.join(',')}]`);
  }
  return { beta, task, reduction, clean, adv, options: o };
}
