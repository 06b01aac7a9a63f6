/** The worst case next to PGD in the defense tables. @internal */
import * as tf from '@tensorflow/tfjs-core';
import { evaluateWorstCase, type WorstCaseAttack } from '../../metrics/evaluateWorstCase.js';
import type { ModelFn, Task } from '../../types.js';
import type { StageContext } from './context.js';

/**
 * The ensemble of the demo's defense tables: the table's own PGD run (same steps and seed, so it breaks
 * exactly the images the PGD row counts, and the worst case can only be lower), then APGD-CE and APGD on
 * DLR (margin where DLR is undefined), 20 steps each, on the images still robust (evaluateWorstCase's
 * 'cheap' version with the table's PGD).
 */
export function tableEnsemble(pgdSteps: number, seed: number, task: Task, classes: number): WorstCaseAttack[] {
  return [
    { attack: 'pgd', steps: pgdSteps, seed },
    { attack: 'apgd-ce', steps: 20 },
    { attack: task === 'single-label' && classes >= 3 ? 'apgd-dlr' : 'apgd-margin', steps: 20 },
  ];
}

/**
 * Worst-case accuracy at each ε (1/255 units), comparable with the PGD rows' accuracy: top-1 for
 * single-label, the mean per-label accuracy (1 − Hamming loss) on the worst-case logits for multi-label.
 */
export async function worstCaseAccuracies(model: ModelFn, images: tf.Tensor4D, labels: tf.Tensor, task: Task, epsilons: readonly number[], ctx: StageContext): Promise<number[]> {
  if (epsilons.length === 0) return [];
  const classes = tf.tidy(() => model(tf.slice(images, [0, 0, 0, 0], [1, -1, -1, -1])).shape[1]);
  const report = await evaluateWorstCase(model, [{ images, labels }], {
    epsilon: epsilons.map((e) => e / 255),
    task,
    attacks: tableEnsemble(ctx.config.attacks.pgdSteps, ctx.config.seed, task, classes),
    seed: ctx.config.seed,
    batchSize: ctx.config.attacks.evalBatch,
    signal: ctx.signal,
    checks: false,
  });
  return report.rows.map((r) => (task === 'multi-label' ? 1 - r.perLabel!.hammingLoss : r.robustAccuracy));
}
