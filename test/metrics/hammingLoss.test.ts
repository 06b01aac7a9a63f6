import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/errors.js';
import { hammingLoss } from '../../src/metrics/hammingLoss.js';

// Reference values from scikit-learn's `hamming_loss`, computed with /usr/bin/python3 on the arrays below.
const Y = [[1, 0, 1], [0, 1, 1], [1, 1, 0], [0, 0, 1], [1, 0, 0], [0, 1, 0]];
const S = [[0.9, 0.1, 0.5], [0.2, 0.8, 0.5], [0.7, 0.3, 0.1], [0.4, 0.4, 0.9], [0.6, 0.6, 0.2], [0.1, 0.7, 0.5]];

describe('hammingLoss', () => {
  it('matches scikit-learn on thresholded multi-label predictions and on class predictions', () => {
    const logits = S.map((r) => r.map((p) => Math.log(p / (1 - p))));
    expect(hammingLoss(logits, Y, { task: 'multi-label' })).toBeCloseTo(0.2222222222222222, 12);
    expect(hammingLoss(S, Y, { task: 'multi-label', from: 'probabilities' })).toBeCloseTo(0.2222222222222222, 12);
    expect(hammingLoss([[3, 1, 0], [0, 1, 2], [0, 0, 5], [0, 4, 1]], [0, 2, 2, 1])).toBe(0);
    expect(hammingLoss([[3, 1, 0], [0, 1, 2], [0, 0, 5], [0, 4, 1]], [0, 1, 2, 2])).toBeCloseTo(0.5, 12);
  });

  it('refuses to guess whether scores in [0, 1] are probabilities, and rejects bad input', () => {
    expect(() => hammingLoss(S, Y, { task: 'multi-label' })).toThrow(/hammingLoss: options.from must be 'logits' or 'probabilities', stated explicitly/);
    expect(() => hammingLoss([[1], [2]], [0, 1])).toThrow(/at least 2 columns for task 'single-label'/);
    expect(() => hammingLoss([[1, 2]], [[1, 0], [0, 1]], { task: 'multi-label' })).toThrow(InvalidArgumentError);
    expect(() => hammingLoss([[1, 2]], [0], { threshold: 2 })).toThrow(/options.threshold must be a finite number >= 0 and <= 1, received 2/);
  });
});
