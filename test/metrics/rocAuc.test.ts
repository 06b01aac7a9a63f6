import * as tf from '@tensorflow/tfjs-core';
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/errors.js';
import { paperAuc, rocAuc, rocAucPerClass } from '../../src/metrics/rocAuc.js';
import { BACKENDS, useTestBackend } from '../helpers/backends.js';
import { expectNoLeak } from '../helpers/expectNoLeak.js';

const fx = JSON.parse(readFileSync(new URL('../fixtures/metrics/sklearn.json', import.meta.url), 'utf8'));

describe('rocAuc against scikit-learn fixtures', () => {
  for (const c of fx.cases) {
    it(`${c.name}`, () => {
      expect(rocAuc(c.scores, c.labels, { average: c.average, task: c.task })).toBeCloseTo(c.auc, 12);
    });
  }
  it('per class (average=None)', () => {
    const got = rocAucPerClass(fx.perClass.scores, fx.perClass.labels, { task: 'multi-label' });
    got.forEach((v, i) => expect(v).toBeCloseTo(fx.perClass.auc[i], 12));
  });
  it('paper variants', () => {
    expect(paperAuc(fx.paper.hard.logits, fx.paper.hard.labels, { variant: 'hard-label' })).toBeCloseTo(fx.paper.hard.auc, 12);
    expect(paperAuc(fx.paper.micro.logits, fx.paper.micro.labels, { variant: 'micro-sigmoid' })).toBeCloseTo(fx.paper.micro.auc, 12);
    expect(paperAuc(fx.paper.meanPerClass.logits, fx.paper.meanPerClass.labels, { variant: 'mean-per-class' })).toBeCloseTo(fx.paper.meanPerClass.auc, 12);
  });
});

describe('rocAuc closed forms', () => {
  it('perfect, reversed, all-tied and the documented example', () => {
    expect(rocAuc([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1])).toBe(1);
    expect(rocAuc([0.9, 0.8, 0.2, 0.1], [0, 0, 1, 1])).toBe(0);
    expect(rocAuc([0.5, 0.5, 0.5, 0.5], [0, 1, 0, 1])).toBe(0.5);
    expect(rocAuc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])).toBe(0.75);
  });
  it('hard-label AUC equals balanced accuracy', () => {
    // 2 positives (1 right), 2 negatives (2 right): (0.5 + 1) / 2
    expect(paperAuc([[0, 1], [1, 0], [1, 0], [2, 1]], [1, 1, 0, 0], { variant: 'hard-label' })).toBe(0.75);
  });
  it('is NaN for a class without both values; macro skips it', () => {
    expect(rocAuc([0.1, 0.2], [1, 1])).toBeNaN();
    const per = rocAucPerClass([[0.9, 0.1], [0.1, 0.2]], [[1, 1], [0, 1]], { task: 'multi-label' });
    expect(per[0]).toBe(1);
    expect(per[1]).toBeNaN();
    expect(rocAuc([[0.9, 0.1], [0.1, 0.2]], [[1, 1], [0, 1]], { task: 'multi-label' })).toBe(1);
  });
});

describe('rocAuc: which scores', () => {
  // scikit-learn 1.2: roc_auc_score(eye(3)[y], z or softmax(z), average=...) for the values below.
  const z = [[2.0, 1.5, -1.0], [0.2, 3.0, 2.9], [1.0, 0.0, 0.5], [-1.0, 2.0, 4.0], [3.0, 2.8, 0.0], [0.0, 0.1, -0.2]];
  const y = [0, 2, 0, 2, 1, 1];
  const softmax = (row: number[]) => { const m = Math.max(...row); const e = row.map((v) => Math.exp(v - m)); const s = e.reduce((a, b) => a + b, 0); return e.map((v) => v / s); };
  const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));
  it('single-label one-vs-rest: logits and softmax probabilities give different AUCs (scikit-learn values)', () => {
    const p = z.map(softmax);
    const sk = { macro: [0.75, 0.875], micro: [0.7708333333333334, 0.888888888888889], weighted: [0.75, 0.875] } as const;
    for (const average of ['macro', 'micro', 'weighted'] as const) {
      expect(rocAuc(z, y, { average })).toBeCloseTo(sk[average][0], 12);
      expect(rocAuc(p, y, { average })).toBeCloseTo(sk[average][1], 12);
    }
  });
  it('multi-label: logits and sigmoid probabilities give the same AUC for every average', () => {
    const multi = [[1, 0, 0], [0, 1, 1], [1, 0, 1], [0, 0, 1], [1, 1, 0], [0, 1, 0]];
    const p = z.map((row) => row.map(sigmoid));
    for (const average of ['macro', 'micro', 'weighted'] as const) {
      expect(rocAuc(p, multi, { average, task: 'multi-label' })).toBeCloseTo(rocAuc(z, multi, { average, task: 'multi-label' }), 12);
    }
  });
});

describe.each(BACKENDS)('rocAuc with tensors (%s)', (name) => {
  beforeAll(() => useTestBackend(name));
  it('reads tensors like arrays and leaks nothing', async () => {
    const s = tf.tensor2d(fx.perClass.scores);
    const y = tf.tensor2d(fx.perClass.labels);
    await expectNoLeak(() => rocAuc(s, y, { task: 'multi-label', average: 'micro' }));
    expect(rocAuc(s, y, { task: 'multi-label', average: 'micro' })).toBeCloseTo(fx.cases.find((c: { name: string }) => c.name === 'multilabel-micro').auc, 6);
    expect(s.isDisposed).toBe(false);
    tf.dispose([s, y]);
  });
});

describe('rocAuc rejects bad input', () => {
  it('throws typed errors', () => {
    expect(() => rocAuc([[0.1, 0.2], [0.3]], [0, 1])).toThrow(InvalidArgumentError);
    expect(() => rocAuc([0.1, Number.NaN], [0, 1])).toThrow(/finite/);
    expect(() => rocAuc([0.1, 0.2], [0, 2])).toThrow(/binary label/);
    expect(() => rocAuc([0.1, 0.2], [0, 1, 1])).toThrow(/2 labels/);
    expect(() => rocAuc([[0.1, 0.2]], [[1, 1]])).toThrow(/one-hot/);
    expect(() => rocAuc([0.1, 0.2], [0, 1], { average: 'samples' as never })).toThrow(/average/);
    expect(() => rocAuc([0.1, 0.2], [0, 1], { avg: 'macro' } as never)).toThrow(/unknown option/);
    expect(() => paperAuc([[1, 2, 3]], [0], { variant: 'hard-label' })).toThrow(/2 columns|\[N, 2\]/);
    expect(() => paperAuc([[1, 2]], [0], {} as never)).toThrow(/variant/);
  });
});
