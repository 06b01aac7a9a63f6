import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { motionBlur, motionTaps } from '../../src/corruptions/motionBlur.js';
import { BACKENDS, useTestBackend } from '../helpers/backends.js';
import { expectClose } from '../helpers/close.js';
import { expectNoLeak } from '../helpers/expectNoLeak.js';

describe('motionTaps', () => {
  it('has 2r + 1 one-sided taps along the angle with normalised Gaussian weights exp(−i²/2σ²)', () => {
    const taps = motionTaps(3, 2, 0);
    expect(taps.map((t) => t.dx)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(taps.every((t) => t.dy === 0)).toBe(true);
    expect(taps.reduce((a, t) => a + t.w, 0)).toBeCloseTo(1, 12);
    expect(taps[1]!.w / taps[0]!.w).toBeCloseTo(Math.exp(-1 / 8), 12);
    expect(motionTaps(2, 1, 90).map((t) => t.dy)).toEqual([0, 1, 2, 3, 4]);
  });
});

describe.each(BACKENDS)('motionBlur on %s', (backend) => {
  beforeAll(() => useTestBackend(backend));
  it('sums shifted copies (edge clamped), one angle per image', async () => {
    const x = tf.tensor4d([1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], [1, 4, 4, 1]);
    const out = motionBlur(x, 1, 1, [0]); // taps at dx = 0, 1, 2 with weights ∝ 1, e^-½, e^-2
    const w = [1, Math.exp(-0.5), Math.exp(-2)];
    const s = w[0]! + w[1]! + w[2]!;
    // out(y, x) = Σ wᵢ·x(y, clamp(x − i)): at the left edge every tap reads the impulse
    expectClose(out.dataSync().slice(0, 4), [1, (w[1]! + w[2]!) / s, w[2]! / s, 0], 1e-6);
    const row = tf.tensor4d([0, 1, 0, 0], [1, 1, 4, 1]);
    const r = motionBlur(row, 1, 1, [0]);
    expectClose(r.dataSync(), [0, w[0]! / s, w[1]! / s, w[2]! / s], 1e-6);
    const pair = tf.concat([x, x]) as tf.Tensor4D;
    await expectNoLeak(() => motionBlur(pair, 2, 1, [10, 80]));
    tf.dispose([x, out, row, r, pair]);
  });
});
