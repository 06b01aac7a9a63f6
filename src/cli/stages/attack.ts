/** FGSM, PGD and GAP against the undefended model of a task, with ACC/AUC/fooling rate per budget. @internal */
import * as tf from '@tensorflow/tfjs-core';
import { fgsm } from '../../attacks/fgsm.js';
import { gap } from '../../attacks/gap.js';
import { gapUnet } from '../../attacks/gapGenerators.js';
import { pgdAsync } from '../../attacks/pgd.js';
import { trainGap } from '../../attacks/trainGap.js';
import { epochBatches } from './train.js';
import { perturbationNorms } from '../../metrics/perturbationNorms.js';
import { toModelFn } from '../../model.js';
import type { StageContext, TrainedTask } from './context.js';
import { attackInBatches, predictLogits, scoreLogits, type MetricRow } from './evaluate.js';

export interface AttackRow extends MetricRow {
  task: string;
  attack: string;
  /** Budget in 1/255 units (pixel scale). */
  epsilon: number;
  linf: number;
}

/** Clean and attacked metrics of a task's undefended model. */
export async function attackTask(t: TrainedTask, ctx: StageContext): Promise<AttackRow[]> {
  return ctx.state.once(`attack.${t.name}`, async () => {
    const { epsilons, pgdSteps, gapMagnitudes, gapEpochs, evalBatch } = ctx.config.attacks;
    const task = t.test.task;
    const model = toModelFn(t.model);
    const { images, labels } = t.test;
    const clean = predictLogits(model, images, evalBatch);
    const rows: AttackRow[] = [{ task: t.name, attack: 'none', epsilon: 0, linf: 0, ...scoreLogits(clean, labels, task, clean) }];
    const total = epsilons.length * 2 + gapMagnitudes.length;
    let done = 0;
    const signal = ctx.signal;
    const record = (attack: string, epsilon: number, adv: tf.Tensor4D) => {
      const logits = predictLogits(model, adv, evalBatch);
      rows.push({ task: t.name, attack, epsilon, linf: Math.max(...perturbationNorms(images, adv).linf) * 255, ...scoreLogits(logits, labels, task, clean) });
      tf.dispose([logits, adv]);
      ctx.progress.update(`attack ${t.name}`, ++done, total, `${attack} ε=${epsilon}/255`);
    };
    try {
      for (const e of epsilons) {
        record('fgsm', e, await attackInBatches(images, labels, evalBatch, (x, y) => fgsm(model, x, y, { epsilon: e / 255, task }), signal));
        record('pgd', e, await attackInBatches(images, labels, evalBatch, (x, y) => pgdAsync(model, x, y, { epsilon: e / 255, steps: pgdSteps, task, seed: ctx.config.seed, signal }), signal));
      }
      const batchSize = ctx.config.model.batchSize;
      const source = epochBatches(t.train.images, t.train.labels, batchSize, ctx.config.seed);
      const stepsPerEpoch = Math.ceil(t.train.images.shape[0] / batchSize);
      for (const m of gapMagnitudes) {
        const [, h, w, c] = images.shape;
        const generator = gapUnet({ inputShape: [h, w, c], preset: 'small', seed: ctx.config.seed });
        try {
          await trainGap(model, generator, source, { magnitude: m, epochs: gapEpochs, learningRate: ctx.config.attacks.gapLearningRate, task, seed: ctx.config.seed, signal, onProgress: ctx.progress.gap(`GAP ${t.name} m=${m}`, gapEpochs, stepsPerEpoch) });
          const result = gap(generator, images, { magnitude: m });
          result.perturbation.dispose();
          record('gap', m, result.images);
        } finally {
          generator.dispose();
        }
      }
    } finally {
      clean.dispose();
    }
    ctx.progress.end(`attack ${t.name}: ${rows.length - 1} attacked evaluations`);
    return rows;
  });
}
