/**
 * pgd with `clip: 'batch'` (the paper preset) against the authors' PGD (test/parity/pgd_batch_clip.py: a
 * port of libadver's ProjectGradientDescent.generate, called as their scripts call it, with the clean
 * batch's global min/max as the clip and ε, α in normalised units), on the networks of their PGD scripts:
 * AttnVGG with sigmoid attention (cross-entropy) and a reduced DenseNet with BCE on sigmoid outputs.
 * Both sides start from the same point (the library's U(−ε, ε) draw is handed to the port). Their start
 * enters step 1 unclipped: `clipStart: false` (the paper preset) agrees with it as closely as the default
 * (clipped start) agrees with the port whose start is clipped; the two starts differ where the start
 * leaves the batch range.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { pgd } from '../../src/attacks/pgd.js';
import { readNpz } from '../../src/data/npz.js';
import { createRng } from '../../src/internal/random.js';
import { attnVgg } from '../../src/models/attnVgg.js';
import { denseNet121 } from '../../src/models/denseNet121.js';
import { loadTorchWeights } from '../../src/models/torchWeights.js';
import { useTestBackend } from '../helpers/backends.js';
import { HAS_TORCH, npy, report, runPort, warnIfSkipped } from './python.js';

warnIfSkipped('PGD (batch clip) parity');

const MEAN = [0.485, 0.456, 0.406];
const STD = [0.229, 0.224, 0.225];

const CASES = [
  { name: 'ISIC/AttnVGG (sigmoid attention), ε 5/255, α 2.5/255, T 5 (their notebook)', model: 'attnvgg', task: 'single-label' as const, eps: 5 / 255, alpha: 2.5 / 255, steps: 5 },
  { name: 'ChestX-ray/DenseNet (BCE), ε 10/255, α 1/255, T 10 (their script: 60)', model: 'densenet', task: 'multi-label' as const, eps: 10 / 255, alpha: 1 / 255, steps: 10 },
];

/** Share of values that differ (> 1e-5) and the largest difference. */
function compare(a: ArrayLike<number>, b: ArrayLike<number>): { share: number; differing: number; worst: number } {
  let differing = 0; let worst = 0;
  for (let i = 0; i < a.length; i++) { const d = Math.abs(a[i]! - b[i]!); worst = Math.max(worst, d); if (d > 1e-5) differing++; }
  return { share: differing / a.length, differing, worst };
}

describe.skipIf(!HAS_TORCH)("pgd with clip 'batch' against the authors' PGD", () => {
  beforeAll(() => useTestBackend('wasm'));

  it.each(CASES)('$name', (c) => {
    const pixels = tf.randomUniform([2, 224, 224, 3], 0, 1, 'float32', 8);
    const x = tf.tidy(() => tf.div(tf.sub(pixels, MEAN), STD) as tf.Tensor4D);
    const labels = c.task === 'single-label' ? tf.tensor1d([1, 0], 'int32') : tf.tidy(() => tf.cast(tf.greater(tf.randomUniform([2, 14], 0, 1, 'float32', 9), 0.6), 'float32'));
    const seed = 4;
    // the library's random start: one U(−1, 1) pattern from the run's first seed, times ε
    const noise = tf.tidy(() => tf.mul(c.eps, tf.randomUniform([1, 224, 224, 3], -1, 1, 'float32', createRng(seed).nextSeed())));
    const figures: string[] = [];
    let net: tfl.LayersModel | null = null;
    const ports = new Map<boolean, ReturnType<typeof runPort>>();
    for (const [randomStart, clipStart] of [[false, true], [true, true], [true, false]] as const) {
      // One port run per random-start setting: it writes both its unclipped start and the clipped one.
      if (!ports.has(randomStart)) ports.set(randomStart, runPort('pgd_batch_clip.py', { x: npy(x), labels: npy(labels), noise: npy(noise) }, { model: c.model, eps: c.eps, eps_iter: c.alpha, nb_iter: c.steps, rand_init: randomStart, seed: 2 }, ['clf.npz']));
      const { out, files } = ports.get(randomStart)!;
      if (!net) {
        net = c.model === 'attnvgg' ? attnVgg({ inputShape: [224, 224, 3], width: 1 / 16, attention: 'sigmoid', seed: 1 }) : denseNet121({ inputShape: [224, 224, 3], classes: 14, width: 0.125, blocks: [2, 2, 2, 2], seed: 1 });
        loadTorchWeights(net, readNpz(files['clf.npz']!));
      }
      const m = net;
      const model = (t: tf.Tensor4D): tf.Tensor2D => { const o = m.apply(t, { training: false }); return (Array.isArray(o) ? o[0] : o) as tf.Tensor2D; };
      const lossOf = (adv: tf.Tensor4D): number => tf.tidy(() => {
        const z = model(adv);
        const l = c.task === 'single-label' ? tf.losses.softmaxCrossEntropy(tf.oneHot(labels as tf.Tensor1D, 2), z) : tf.losses.sigmoidCrossEntropy(labels, z);
        return l.dataSync()[0]!;
      });
      const tag = !randomStart ? 'no random start' : clipStart ? 'random start, clipped' : 'random start unclipped (clipStart: false)';
      for (const steps of [1, c.steps]) {
        const adv = pgd(model, x, labels, { epsilon: c.eps, stepSize: c.alpha, steps, clip: 'batch', task: c.task, randomStart, clipStart, seed });
        const theirs = out[`adv${steps}${randomStart && clipStart ? '_clipped_start' : ''}`]!.data as Float32Array;
        const same = compare(adv.dataSync(), theirs);
        if (steps === 1) {
          // One step from the same point: the same sign(∇) everywhere but where rounding decides it.
          figures.push(`${tag}, T 1: ${same.differing} of ${adv.size} values differ`);
          expect(same.share).toBeLessThanOrEqual(1e-4);
        } else {
          // Sign steps are chaotic: one sign that rounding decides changes every later gradient a little, and
          // with it the signs of the small ones. The attacks stay equally strong.
          const theirsT = tf.tensor4d(theirs, x.shape);
          const [ours, ref] = [lossOf(adv), lossOf(theirsT)];
          figures.push(`${tag}, T ${steps}: ${(100 * same.share).toFixed(2)}% of the values differ (at most ${(same.worst * 255).toFixed(2)}/255), loss ${ours.toFixed(4)} vs theirs ${ref.toFixed(4)}`);
          expect(Math.abs(ours - ref)).toBeLessThanOrEqual(0.02 * Math.abs(ref));
          expect(same.worst).toBeLessThanOrEqual(2 * c.eps + 1e-6);
          theirsT.dispose();
        }
        if (randomStart && clipStart && steps === 1) {
          // The default clipped start against their unclipped one: the deviation clipStart: false removes.
          const deviation = compare(adv.dataSync(), out.adv1!.data as Float32Array);
          const outside = (out.start_outside!.data as Int32Array)[0]!;
          figures.push(`clipped start against their unclipped one (${outside} start values outside the batch range), T 1: ${deviation.differing} values differ`);
          if (outside > 0) expect(deviation.differing).toBeGreaterThan(same.differing);
        }
        adv.dispose();
      }
    }
    report(`PGD ${c.name}`, figures.join('; '));
    tf.dispose([pixels, x, labels, noise]);
    net!.dispose();
  });
});
