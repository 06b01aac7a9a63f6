/**
 * labelCooccurrence (the paper's §5d matrix) against the authors' coMatrix.py on ChestX-ray14-shaped labels:
 * the same counts, including the diagonal of images whose only label is i, and the paper's crop to the 8
 * ChestX-ray8 findings after counting.
 */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { labelCooccurrence } from '../../src/analysis/labelCooccurrence.js';
import { useTestBackend } from '../helpers/backends.js';
import { HAS_TORCH, f32, report, runPort, warnIfSkipped } from './python.js';

warnIfSkipped('coMatrix parity');

describe.skipIf(!HAS_TORCH)("labelCooccurrence against the authors' coMatrix.py", () => {
  beforeAll(() => useTestBackend('cpu'));

  it('gives their matrix on 500 random 14-label rows (sparse, as in ChestX-ray14)', () => {
    const rows = 500;
    const values = tf.tidy(() => tf.cast(tf.less(tf.randomUniform([rows, 14], 0, 1, 'float32', 6), 0.12), 'float32').dataSync());
    const labels = Array.from({ length: rows }, (_, i) => Array.from(values.slice(i * 14, (i + 1) * 14)));
    const { out } = runPort('comatrix.py', { labels: f32(values, [rows, 14]) });
    const theirs = Array.from(out.matrix!.data as Float32Array);
    const ours = labelCooccurrence(labels).flat();
    const differing = ours.filter((v, i) => v !== theirs[i]).length;
    const onlyLabel = ours.filter((_, i) => i % 15 === 0).reduce((a, b) => a + b, 0);
    report('coMatrix', `${differing} of 196 entries differ (${onlyLabel} single-label images on the diagonal)`);
    expect(ours).toEqual(theirs);
    // The paper's ChestX-ray8 view: the top-left 8×8 block of the 14-label matrix (counted before cropping).
    const crop = labelCooccurrence(labels, { classes: 8 });
    expect(crop).toEqual(Array.from({ length: 8 }, (_, i) => theirs.slice(i * 14, i * 14 + 8)));
  });
});
