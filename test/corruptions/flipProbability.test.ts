import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { flipProbability } from '../../src/corruptions/flipProbability.js';
import { InvalidArgumentError } from '../../src/errors.js';
import { createRng } from '../../src/internal/random.js';
import { BACKENDS, useTestBackend } from '../helpers/backends.js';
import { expectNoLeak } from '../helpers/expectNoLeak.js';

describe('flipProbability on hand-built sequences', () => {
  const single = [
    [0, 0, 1, 1],
    [2, 2, 2, 2],
    [1, 0, 1, 0],
  ];

  it('single-label, previous-frame reference (non-noise types): mean over j of 1[ŷ_j ≠ ŷ_{j−1}], then over videos', () => {
    // video 1: flips at j = 3 → 1/3; video 2: 0; video 3: every step → 3/3
    expect(flipProbability(single, { type: 'rotate' })).toBeCloseTo((1 / 3 + 0 + 1) / 3, 12);
    expect(flipProbability(single)).toBeCloseTo((1 / 3 + 0 + 1) / 3, 12);
  });

  it('single-label, first-frame reference for the noise types', () => {
    // video 1 vs frame 1: [0, 1, 1] → 2/3; video 3 vs 1: [1, 0, 1] → 2/3
    for (const type of ['gaussian_noise', 'shot_noise', 'speckle_noise'] as const) expect(flipProbability(single, { type })).toBeCloseTo((2 / 3 + 0 + 2 / 3) / 3, 12);
    expect(flipProbability(single, { type: 'rotate', reference: 'first' })).toBeCloseTo((2 / 3 + 0 + 2 / 3) / 3, 12);
    expect(flipProbability(single, { type: 'shot_noise', reference: 'previous' })).toBeCloseTo((1 / 3 + 0 + 1) / 3, 12);
  });

  const multi = [
    [[0, 1], [1, 1], [1, 0]],
    [[1, 1], [1, 1], [1, 1]],
  ];

  it("multi-label 'mean' (default): flips averaged over the n − 1 comparisons and the K labels", () => {
    // previous: video 1 flips 1 + 1 of 2·2 → 1/2; video 2: 0
    expect(flipProbability(multi, { task: 'multi-label', type: 'tilt' })).toBeCloseTo(0.25, 12);
    // first (noise): video 1: frame 2 vs 1 one flip, frame 3 vs 1 two flips → 3/4
    expect(flipProbability(multi, { task: 'multi-label', type: 'gaussian_noise' })).toBeCloseTo(3 / 8, 12);
  });

  it("multi-label 'paper': always frame 1 and not divided by the frames (can exceed the mean form n − 1 times)", () => {
    // video 1: Σ_j Σ_k = 3 flips / K = 1.5; video 2: 0 → FP = Σ/(m·K) = 3/(2·2)
    expect(flipProbability(multi, { task: 'multi-label', type: 'tilt', multiLabel: 'paper' })).toBeCloseTo(0.75, 12);
    // with the same (first-frame) reference the paper's value is exactly (n − 1)× the mean form
    const mean = flipProbability(multi, { task: 'multi-label', type: 'gaussian_noise' });
    expect(flipProbability(multi, { task: 'multi-label', type: 'gaussian_noise', multiLabel: 'paper' })).toBeCloseTo(2 * mean, 12);
  });

  it('multi-label with one finding equals single-label with classes {0, 1}', () => {
    const seqs = [[0, 1, 1, 0, 0], [1, 1, 1, 1, 0], [0, 0, 0, 0, 0]];
    for (const type of ['rotate', 'gaussian_noise'] as const) {
      expect(flipProbability(seqs.map((s) => s.map((p) => [p])), { task: 'multi-label', type })).toBeCloseTo(flipProbability(seqs, { type }), 12);
    }
  });

  /** ImageNet-P's `flip_prob` (test.py), written as there: step d, each offset's subsequence, pooled mean. */
  function imagenetP(predictions: number[][], noise: boolean, difficulty: number): number {
    const step = noise ? 1 : difficulty;
    let result = 0;
    for (const vid of predictions) {
      const flips: number[] = [];
      for (let i = 0; i < step; i++) {
        let prev = vid[i]!;
        for (const pred of vid.filter((_, j) => j >= i && (j - i) % step === 0).slice(1)) {
          flips.push(Number(prev !== pred));
          if (!noise) prev = pred;
        }
      }
      result += flips.reduce((a, v) => a + v, 0) / flips.length / predictions.length;
    }
    return result;
  }

  it('difficulty d compares frames d apart along each of the d interleaved subsequences, as ImageNet-P', () => {
    // d = 2: (0,2) 0≠1, (1,3) 0≠1, (2,4) 1≠0, (3,5) 1=1 → 3/4; d = 3: (0,3) ≠, (1,4) =, (2,5) = → 1/3
    const seq = [[0, 0, 1, 1, 0, 1]];
    expect(flipProbability(seq, { type: 'rotate', difficulty: 2 })).toBeCloseTo(3 / 4, 12);
    expect(flipProbability(seq, { type: 'rotate', difficulty: 3 })).toBeCloseTo(1 / 3, 12);
    expect(flipProbability(seq, { type: 'rotate', difficulty: 1 })).toBe(flipProbability(seq, { type: 'rotate' }));
    // the noise types keep frame 1 as reference: their difficulty is the noise level of the frames
    expect(flipProbability(seq, { type: 'gaussian_noise', difficulty: 3 })).toBe(flipProbability(seq, { type: 'gaussian_noise' }));
    // random sequences against the written-out reference
    const rng = createRng(5);
    for (const frames of [4, 10, 31]) {
      const preds = Array.from({ length: 6 }, () => Array.from({ length: frames }, () => rng.nextInt(0, 2)));
      for (const d of [1, 2, 3] as const) {
        expect(flipProbability(preds, { type: 'tilt', difficulty: d }), `${frames} frames, d = ${d}`).toBeCloseTo(imagenetP(preds, false, d), 12);
        expect(flipProbability(preds, { type: 'shot_noise', difficulty: d })).toBeCloseTo(imagenetP(preds, true, d), 12);
      }
    }
    // multi-label: the same comparisons, averaged over the findings too
    const multiSeq = [[[0, 1], [0, 0], [1, 1], [0, 0]]]; // d = 2: (0,2) one flip, (1,3) none → 1/4
    expect(flipProbability(multiSeq, { task: 'multi-label', type: 'scale', difficulty: 2 })).toBeCloseTo(1 / 4, 12);
  });

  describe('rejects bad input', () => {
    it.each([
      [[], /at least one sequence/],
      [[[1]], /at least 2 frames/],
      [[[1, 2], [1, 2, 3]], /predictions\[1\] must be a sequence of at least 2 frames, all of the same length \(2\)/],
      [[[1, 0.5]], /predictions\[0\]\[1\] must be a class index/],
      ['abc', /at least one sequence/],
    ])('single-label %j', (preds, message) => {
      expect(() => flipProbability(preds as never)).toThrow(InvalidArgumentError);
      expect(() => flipProbability(preds as never)).toThrow(message);
    });
    it('multi-label flags and options', () => {
      expect(() => flipProbability([[[0, 2], [1, 1]]], { task: 'multi-label' })).toThrow(/0\/1 flags/);
      expect(() => flipProbability([[[0, 1], [1]]], { task: 'multi-label' })).toThrow(/0\/1 flags for 2 findings/);
      expect(() => flipProbability([[0, 1]], { type: 'wobble' as never })).toThrow(/options.type must be one of/);
      expect(() => flipProbability([[0, 1]], { reference: 'last' as never })).toThrow(/options.reference/);
      expect(() => flipProbability([[0, 1]], { multiLabel: 'sum' as never })).toThrow(/options.multiLabel/);
      expect(() => flipProbability([[0, 1]], { threshold: 1 })).toThrow(/options.threshold/);
      expect(() => flipProbability([[0, 1]], { refrence: 'first' } as never)).toThrow(/did you mean 'reference'/);
      expect(() => flipProbability([[0, 1, 0]], { difficulty: 4 as never })).toThrow(/options.difficulty must be a finite integer >= 1 and <= 3, received 4/);
      expect(() => flipProbability([[0, 1, 0]], { difficulty: 1.5 as never })).toThrow(InvalidArgumentError);
      expect(() => flipProbability([[0, 1, 0]], { type: 'rotate', difficulty: 3 })).toThrow(/predictions\[0\] must be a sequence of at least 4 frames \(difficulty 3 compares frames 3 apart\)/);
      expect(flipProbability([[0, 1, 0]], { type: 'gaussian_noise', difficulty: 3 })).toBeCloseTo(0.5, 12); // frame 1 reference: 2 frames suffice
    });
  });
});

describe.each(BACKENDS)('flipProbability on logits, %s', (backend) => {
  beforeAll(() => useTestBackend(backend));

  it('argmax (single-label) and sigmoid > threshold (multi-label) give the same FP as hard predictions', async () => {
    // [m = 2, n = 3, C = 2]
    const logits = tf.tensor3d([[[2, 1], [0, 3], [0, 1]], [[1, 0], [1, 0], [0.5, 0.2]]]);
    expect(flipProbability(logits, { type: 'rotate' })).toBeCloseTo(flipProbability([[0, 1, 1], [0, 0, 0]], { type: 'rotate' }), 12);
    // multi-label at threshold 0.5 ⇔ logit > 0; at 0.9 ⇔ logit > 2.197
    expect(flipProbability(logits, { task: 'multi-label', type: 'rotate' })).toBeCloseTo(flipProbability([[[1, 1], [0, 1], [0, 1]], [[1, 0], [1, 0], [1, 1]]], { task: 'multi-label', type: 'rotate' }), 12);
    expect(flipProbability(logits, { task: 'multi-label', type: 'rotate', threshold: 0.9 })).toBeCloseTo(flipProbability([[[0, 0], [0, 1], [0, 0]], [[0, 0], [0, 0], [0, 0]]], { task: 'multi-label', type: 'rotate' }), 12);
    const rank2 = tf.zeros([2, 3]);
    expect(() => flipProbability(rank2)).toThrow(/logits of shape \[sequences, frames, classes\]/);
    await expectNoLeak(() => flipProbability(logits, { task: 'multi-label' }));
    await expectNoLeak(() => { try { flipProbability(rank2); } catch { /* expected */ } });
    tf.dispose([logits, rank2]);
  });
});
