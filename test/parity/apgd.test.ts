/**
 * apgd against a PyTorch port of the reference algorithm (test/parity/apgd_port.py: attack_single_run of
 * fra31/auto-attack's autopgd_base.py, written anew) on a tiny MLP with fixed weights, from the start
 * medrobust drew. Both sides take the same steps: the step sizes (every checkpoint decision) must agree
 * exactly, and the per-step losses and the highest-loss points to float32 rounding, against the port in
 * float32 and in float64. The port's `first_compare: 'zero'` is the reference code's first oscillation
 * window (its loss_steps[-1] wraps to an unfilled 0); medrobust compares with the start's loss, as Alg. 1
 * does: the figure printed says how often that changes a decision here.
 *
 * By default each case runs the float64 port once (the "float64 where feasible"); with
 * MEDROBUST_SLOW=1 also the float32 port and the reference's first-window variant. Each case prints its
 * largest difference (iterates, losses, best points).
 */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { APGD_KEYS, apgdBatch, planApgd, type ApgdTrace } from '../../src/attacks/apgd.js';
import { drain } from '../../src/internal/drive.js';
import { rankedClass } from '../../src/internal/goals.js';
import { createRng } from '../../src/internal/random.js';
import { useTestBackend } from '../helpers/backends.js';
import { f32, HAS_TORCH, npy, report, runPort, warnIfSkipped } from './python.js';

warnIfSkipped('APGD parity');

const D = 16;
const HIDDEN = 8;
const C = 4;
const N = 6;
const SLOW = process.env.MEDROBUST_SLOW === '1';
const DTYPES = SLOW ? ['float32', 'float64'] as const : ['float64'] as const;

const CASES = [
  { name: 'L∞, cross-entropy', norm: 'linf' as const, loss: 'ce' as const, eps: 0.05 },
  { name: 'L∞, DLR', norm: 'linf' as const, loss: 'dlr' as const, eps: 0.05 },
  { name: 'L∞, targeted DLR (rank 2)', norm: 'linf' as const, loss: 'dlr-targeted' as const, eps: 0.05 },
  { name: 'L∞, margin', norm: 'linf' as const, loss: 'margin' as const, eps: 0.05 },
  { name: 'L2, cross-entropy', norm: 'l2' as const, loss: 'ce' as const, eps: 0.4, steps: 12 },
];

describe.skipIf(!HAS_TORCH)('apgd against a PyTorch port of the reference algorithm', () => {
  const rng = createRng(21);
  const normal = (count: number, scale: number): Float32Array => Float32Array.from({ length: count }, () => scale * rng.normal());
  const w1v = normal(D * HIDDEN, 0.8);
  const b1v = normal(HIDDEN, 0.1);
  const w2v = normal(HIDDEN * C, 1.2);
  const b2v = normal(C, 0.1);
  let w1: tf.Tensor2D; let b1: tf.Tensor1D; let w2: tf.Tensor2D; let b2: tf.Tensor1D;
  let images: tf.Tensor4D;
  let labels: tf.Tensor1D;
  const model = (x: tf.Tensor4D): tf.Tensor2D => tf.tidy(() => tf.add(tf.matMul(tf.tanh(tf.add(tf.matMul(tf.reshape(x, [x.shape[0], D]), w1), b1)), w2), b2) as tf.Tensor2D);

  beforeAll(async () => {
    await useTestBackend('cpu');
    w1 = tf.tensor2d(w1v, [D, HIDDEN]); b1 = tf.tensor1d(b1v); w2 = tf.tensor2d(w2v, [HIDDEN, C]); b2 = tf.tensor1d(b2v);
    images = tf.tensor4d(Float32Array.from({ length: N * D }, () => 0.2 + 0.6 * rng.next()), [N, 4, 4, 1]);
    // The clean predictions as labels (every image starts correctly classified), one label made wrong.
    const pred = Array.from(tf.tidy(() => tf.argMax(model(images), 1)).dataSync());
    pred[N - 1] = (pred[N - 1]! + 1) % C;
    labels = tf.tensor1d(pred, 'int32');
  });

  it.each(CASES)('$name: the same step sizes, losses and best points', (c: { name: string; norm: 'linf' | 'l2'; loss: 'ce' | 'dlr' | 'dlr-targeted' | 'margin'; eps: number; steps?: number }) => {
    const steps = c.steps ?? 30;
    const traces: ApgdTrace[] = [];
    const { plan, images: x } = planApgd('apgd', model, images, labels, { epsilon: c.eps, norm: c.norm, loss: c.loss, steps, seed: 3, select: 'loss' }, APGD_KEYS, {});
    const { adv } = drain(apgdBatch(x, plan, (t) => traces.push(t)));
    const start = traces.find((t) => t.step === -1)!;
    const mine = traces.filter((t) => t.step >= 0);
    const arrays = {
      x: f32(images.dataSync(), [N, D]), x0: f32(start.x, [N, D]), y: npy(labels),
      w1: f32(w1v, [D, HIDDEN]), b1: f32(b1v, [HIDDEN]), w2: f32(w2v, [HIDDEN, C]), b2: f32(b2v, [C]),
      ...(c.loss === 'dlr-targeted' ? { targets: npy(tf.tidy(() => tf.cast(rankedClass(model(images), 2), 'int32'))) } : {}),
    };
    const figures: string[] = [];
    let largest = 0;
    for (const dtype of DTYPES) {
      const { out } = runPort('apgd_port.py', arrays, { eps: c.eps, norm: c.norm, steps, loss: c.loss, rho: 0.75, momentum: 0.75, dtype, first_compare: 'start' });
      const etas = out.etas!.data as Float32Array;
      const losses = out.losses!.data as Float32Array;
      const clear = out.clear!.data as Int32Array;
      // Each image up to its first close call (two losses within float32 rounding of each other).
      const iterates = out.iterates!.data as Float32Array;
      let compared = 0;
      let lossWorst = 0;
      let stepWorst = 0;
      for (let k = 0; k < N; k++) {
        expect(Math.abs(start.loss[k]! - losses[k]!)).toBeLessThanOrEqual(2e-5 * Math.max(1, Math.abs(losses[k]!)));
        for (let i = 0; i < clear[k]!; i++) {
          expect(mine[i]!.stepSize[k], `${dtype}: step size of image ${k} after step ${i}`).toBeCloseTo(etas[i * N + k]!, 7);
          const d = Math.abs(mine[i]!.loss[k]! - losses[(i + 1) * N + k]!);
          lossWorst = Math.max(lossWorst, d / Math.max(1, Math.abs(losses[(i + 1) * N + k]!)));
          for (let j = 0; j < D; j++) stepWorst = Math.max(stepWorst, Math.abs(mine[i]!.x[k * D + j]! - iterates[((i + 1) * N + k) * D + j]!));
          compared++;
        }
      }
      expect(lossWorst, `${dtype}: losses`).toBeLessThanOrEqual(2e-5);
      expect(stepWorst, `${dtype}: iterates`).toBeLessThanOrEqual(2e-5 * Math.max(1, c.eps));
      expect(compared, 'most of the trajectories are compared').toBeGreaterThanOrEqual(0.4 * N * steps);
      let bestDiff = 0;
      const mineBest = adv.dataSync();
      const theirBest = out.x_best!.data as Float32Array;
      for (let k = 0; k < N; k++) {
        if (clear[k]! < steps) continue;
        for (let d = 0; d < D; d++) bestDiff = Math.max(bestDiff, Math.abs(mineBest[k * D + d]! - theirBest[k * D + d]!));
      }
      expect(bestDiff, `${dtype}: best points`).toBeLessThanOrEqual(1e-5);
      largest = Math.max(largest, stepWorst, lossWorst, bestDiff);
      const halvings = countHalvings(etas);
      figures.push(`${dtype} port: ${compared} of ${N * steps} (image, step) pairs before a close call, step sizes equal, iterates within ${stepWorst.toExponential(1)}, losses within ${lossWorst.toExponential(1)}, best points of the ${Array.from(clear).filter((v) => v === steps).length} clear images within ${bestDiff.toExponential(1)}, ${halvings} halvings`);
    }
    if (SLOW) {
      const quirk = runPort('apgd_port.py', arrays, { eps: c.eps, norm: c.norm, steps, loss: c.loss, rho: 0.75, momentum: 0.75, dtype: 'float64', first_compare: 'zero' }).out;
      const firstWindow = Math.max(Math.floor(0.22 * steps), 1) - 1;
      const mineFirst = Array.from(mine[firstWindow]!.stepSize);
      const theirsFirst = Array.from((quirk.etas!.data as Float32Array).subarray(firstWindow * N, (firstWindow + 1) * N));
      figures.push(`reference's first window (loss_steps[-1] = 0): ${mineFirst.filter((v, i) => Math.abs(v - theirsFirst[i]!) > 1e-9).length} of ${N} first-checkpoint decisions differ`);
    }
    report(`APGD ${c.name}`, `largest difference ${largest.toExponential(1)}; ${figures.join('; ')}`);
    adv.dispose();
  });
});

function countHalvings(etas: Float32Array): number {
  let k = 0;
  for (let i = N; i < etas.length; i++) if (etas[i]! < etas[i - N]! * 0.75) k++;
  return k;
}
