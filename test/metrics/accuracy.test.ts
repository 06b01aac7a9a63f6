import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/errors.js';
import { accuracy } from '../../src/metrics/accuracy.js';
import { foolingRate } from '../../src/metrics/foolingRate.js';
import { sensitivitySpecificity } from '../../src/metrics/sensitivitySpecificity.js';
import { perturbationNorms } from '../../src/metrics/perturbationNorms.js';
import { BACKENDS, useTestBackend } from '../helpers/backends.js';
import { expectNoLeak } from '../helpers/expectNoLeak.js';

describe('accuracy, foolingRate, sensitivitySpecificity (hand-computed)', () => {
  it('single-label argmax accuracy with indices or one-hot labels', () => {
    expect(accuracy([[2, 1], [0, 3], [1, 0]], [0, 1, 1])).toBeCloseTo(2 / 3, 12);
    expect(accuracy([[2, 1], [0, 3], [1, 0]], [[1, 0], [0, 1], [0, 1]])).toBeCloseTo(2 / 3, 12);
  });
  it('multi-label: per-label thresholded accuracy, threshold on sigmoid(logit)', () => {
    expect(accuracy([[3, -3], [-3, 3]], [[1, 0], [1, 1]], { task: 'multi-label' })).toBe(0.75);
    // sigmoid(0.5)=0.62: present at 0.5, absent at 0.7 (the paper's two thresholds)
    expect(accuracy([[0.5]], [[1]], { task: 'multi-label', from: 'logits' })).toBe(1);
    expect(accuracy([[0.5]], [[1]], { task: 'multi-label', threshold: 0.7, from: 'logits' })).toBe(0);
    expect(accuracy([[0.65]], [[1]], { task: 'multi-label', threshold: 0.7, from: 'probabilities' })).toBe(0);
  });
  it('fooling rate counts changed predictions, ignoring the labels (§5a)', () => {
    expect(foolingRate([[2, 1], [0, 3]], [[0, 1], [0, 3]])).toBe(0.5);
    expect(foolingRate([[2, 1], [0, 3]], [[2, 1], [0, 3]])).toBe(0);
    // multi-label: 1 of 4 label decisions flipped
    expect(foolingRate([[3, -3], [3, 3]], [[3, 3], [3, 3]], { task: 'multi-label' })).toBe(0.25);
  });
  it('sensitivity and specificity at a threshold', () => {
    const r = sensitivitySpecificity([[0.9], [0.2], [0.6], [0.4]], [1, 0, 0, 1], { from: 'probabilities', task: 'multi-label' });
    expect(r.sensitivity).toEqual([0.5]);
    expect(r.specificity).toEqual([0.5]);
    const s = sensitivitySpecificity([[2, 0], [0, 2], [2, 0], [0, 2]], [0, 1, 1, 1]);
    expect(s.sensitivity).toEqual([1, 2 / 3]);
    expect(s.specificity).toEqual([2 / 3, 1]);
  });
});

describe.each(BACKENDS)('metrics on tensors (%s)', (name) => {
  beforeAll(() => useTestBackend(name));
  it('perturbationNorms equals the closed-form norms', () => {
    const clean = tf.zeros([2, 2, 2, 1]);
    const adv = tf.tensor4d([0.1, -0.2, 0, 0, 0, 0, 0.3, 0.4], [2, 2, 2, 1]);
    const r = perturbationNorms(clean, adv);
    expect(r.linf[0]).toBeCloseTo(0.2, 6);
    expect(r.linf[1]).toBeCloseTo(0.4, 6);
    expect(r.l2[1]).toBeCloseTo(0.5, 6);
    expect(r.l1[0]).toBeCloseTo(0.3, 6);
    expect(r.l0).toEqual([2, 2]);
    tf.dispose([clean, adv]);
  });
  it('reads logits tensors and leaks nothing', async () => {
    const logits = tf.tensor2d([[2, 1], [0, 3], [1, 0]]);
    const labels = tf.tensor1d([0, 1, 1], 'int32');
    await expectNoLeak(() => accuracy(logits, labels));
    await expectNoLeak(() => foolingRate(logits, logits));
    await expectNoLeak(() => perturbationNorms(logits, logits));
    expect(accuracy(logits, labels)).toBeCloseTo(2 / 3, 6);
    tf.dispose([logits, labels]);
  });
});

describe('accuracy and friends reject bad input', () => {
  it('throws typed errors', () => {
    expect(() => accuracy([[1, 2], [3]], [0, 1])).toThrow(InvalidArgumentError);
    expect(() => accuracy([[1, Number.NaN]], [0])).toThrow(/finite/);
    expect(() => accuracy([[1, 2]], [2])).toThrow(/class index/);
    expect(() => accuracy([[1, 2]], [0], { threshold: 2 })).toThrow(/threshold/);
    expect(() => accuracy([[1, 2]], [[1, 1]])).toThrow(/one-hot/);
    expect(() => accuracy([[1, 2]], [0], { tresh: 1 } as never)).toThrow(/unknown option/);
    expect(() => foolingRate([[1, 2]], [[1, 2, 3]])).toThrow(/like cleanLogits/);
    expect(() => perturbationNorms(tf.zeros([1, 2]), tf.zeros([1, 3]))).toThrow(InvalidArgumentError);
  });

  it('refuses to guess when multi-label scores (or single-label rows summing to 1) look like probabilities', () => {
    const probs = [[0.9, 0.2], [0.3, 0.6]];
    const advProbs = [[0.4, 0.2], [0.3, 0.7]];
    // Read as logits, every sigmoid(p) > 0.5: all labels "present", a fooling rate of 0 whatever the attack did.
    expect(() => foolingRate(probs, advProbs, { task: 'multi-label' })).toThrow(/foolingRate: options.from must be 'logits' or 'probabilities', stated explicitly .*second sigmoid/);
    expect(foolingRate(probs, advProbs, { task: 'multi-label', from: 'probabilities' })).toBe(0.25);
    expect(foolingRate(probs, advProbs, { task: 'multi-label', from: 'logits' })).toBe(0);
    expect(() => accuracy(probs, [[1, 0], [0, 1]], { task: 'multi-label' })).toThrow(/options.from/);
    expect(accuracy(probs, [[1, 0], [0, 1]], { task: 'multi-label', from: 'probabilities' })).toBe(1);
    expect(() => sensitivitySpecificity([[0.7, 0.3], [0.2, 0.8]], [0, 1])).toThrow(/sensitivitySpecificity: options.from .*second softmax/);
    // Logits outside [0, 1], and single-label argmax metrics, need nothing.
    expect(foolingRate([[2, -1], [0.5, 3]], [[-2, -1], [0.5, 3]], { task: 'multi-label' })).toBe(0.25);
    expect(foolingRate([[0.7, 0.3]], [[0.2, 0.8]])).toBe(1);
  });
});
