/**
 * ε in native intensity units, with the normalisation inside the model (Foolbox's transform_bounds test:
 * the same model on [0, 1] and on another range gives the same robust accuracy). The native range here
 * is int16's [−32768, 32767], as raw CT or MRI volumes arrive; a model that divides by the range inside
 * is attacked with ε·range and the range as clip, and every attack must behave exactly as on [0, 1].
 * The property is arithmetic, not a kernel's: the default suite checks it on cpu, MEDROBUST_SLOW=1 on
 * every backend.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apgd } from '../../src/attacks/apgd.js';
import { fgsm } from '../../src/attacks/fgsm.js';
import { pgd } from '../../src/attacks/pgd.js';
import { squareAttack } from '../../src/attacks/square.js';
import { evaluateWorstCase } from '../../src/metrics/evaluateWorstCase.js';
import { toModelFn } from '../../src/model.js';
import type { ModelFn } from '../../src/types.js';
import { BACKENDS, useTestBackend } from '../helpers/backends.js';
import { buildSmallNet, top1, trainNet } from '../helpers/smallNet.js';
import { toySingleLabel, type ToySet } from '../helpers/toyData.js';
import { captureWarnings } from '../helpers/warnings.js';

const LO = -32768;
const HI = 32767;
const RANGE = HI - LO;

describe.each(process.env.MEDROBUST_SLOW === '1' ? BACKENDS : (['cpu'] as const))('ε in native units (int16 range, normalised inside the model) on %s', (backend) => {
  let train: ToySet;
  let test: ToySet;
  let net: tfl.LayersModel;
  let unit: ModelFn;
  let native: ModelFn;
  let nativeImages: tf.Tensor4D;
  beforeAll(async () => {
    await useTestBackend(backend);
    train = toySingleLabel({ n: 48, seed: 1 });
    test = toySingleLabel({ n: 12, seed: 2 });
    net = buildSmallNet({ inputShape: [8, 8, 1], outputs: 3, kind: 'mlp' });
    trainNet(net, train.images, train.labels, { steps: 80 });
    unit = toModelFn(net);
    native = (x) => tf.tidy(() => unit(tf.div(tf.sub(x, LO), RANGE) as tf.Tensor4D));
    // Whole int16 values, as a scanner writes them.
    nativeImages = tf.tidy(() => tf.round(tf.add(LO, tf.mul(RANGE, test.images))) as tf.Tensor4D);
  });
  afterAll(() => { net.dispose(); tf.dispose([train.images, train.labels, test.images, test.labels, nativeImages]); });

  it('every attack gives the same robust accuracy, and the same images rescaled, with ε·range and the native clip', async () => {
    const unitImages = tf.tidy(() => tf.div(tf.sub(nativeImages, LO), RANGE) as tf.Tensor4D);
    const eps = 0.3;
    const warned = await captureWarnings(() => {
      const pairs: Array<[string, tf.Tensor4D, tf.Tensor4D]> = [
        ['fgsm', fgsm(unit, unitImages, test.labels, { epsilon: eps }), fgsm(native, nativeImages, test.labels, { epsilon: eps * RANGE, clip: [LO, HI] })],
        ['pgd', pgd(unit, unitImages, test.labels, { epsilon: eps, steps: 10, seed: 1 }), pgd(native, nativeImages, test.labels, { epsilon: eps * RANGE, clip: [LO, HI], steps: 10, seed: 1 })],
        ['apgd', apgd(unit, unitImages, test.labels, { epsilon: eps, steps: 20, seed: 1 }), apgd(native, nativeImages, test.labels, { epsilon: eps * RANGE, clip: [LO, HI], steps: 20, seed: 1 })],
        ['square', squareAttack(unit, unitImages, test.labels, { epsilon: eps, queries: 100, seed: 1 }).images, squareAttack(native, nativeImages, test.labels, { epsilon: eps * RANGE, clip: [LO, HI], queries: 100, seed: 1 }).images],
      ];
      for (const [name, a, b] of pairs) {
        const accUnit = top1(unit, a, test.labels as tf.Tensor1D);
        const accNative = top1(native, b, test.labels as tf.Tensor1D);
        expect(accNative, name).toBe(accUnit);
        expect(accUnit, name).toBeLessThan(0.9);
        const [size, diff] = tf.tidy(() => [tf.max(tf.abs(tf.sub(b, nativeImages))).dataSync()[0]!, tf.mean(tf.abs(tf.sub(tf.div(tf.sub(b, LO), RANGE), a))).dataSync()[0]!]);
        expect(size, name).toBeLessThanOrEqual(eps * RANGE * (1 + 1e-5));
        expect(diff, `${name}: mean |rescaled native − unit|`).toBeLessThanOrEqual(1e-3);
        tf.dispose([a, b]);
      }
    });
    expect(warned).toEqual([]); // ε = 0.3·65535 is not "larger than the clip range"
    unitImages.dispose();
  });

  it('evaluateWorstCase reports the same worst case in both units', async () => {
    const unitImages = tf.tidy(() => tf.div(tf.sub(nativeImages, LO), RANGE) as tf.Tensor4D);
    const attacks = [{ attack: 'pgd' as const }, { attack: 'apgd-ce' as const, steps: 10 }, { attack: 'square' as const, queries: 50 }];
    const a = await evaluateWorstCase(unit, [{ images: unitImages, labels: test.labels }], { epsilon: [0.1, 0.2], attacks, seed: 1 });
    const b = await evaluateWorstCase(native, [{ images: nativeImages, labels: test.labels }], { epsilon: [0.1 * RANGE, 0.2 * RANGE], clip: [LO, HI], attacks, seed: 1 });
    expect(b.rows.map((r) => r.robustAccuracy)).toEqual(a.rows.map((r) => r.robustAccuracy));
    expect(b.warnings).toEqual(a.warnings);
    unitImages.dispose();
  });
});
