/** Standard PGD-AT, MPAdvT and MAAdvT from the same initialisation, evaluated clean and under PGD. @internal */
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { pgd } from '../../attacks/pgd.js';
import { advTrain } from '../../defenses/advTrain.js';
import { maAdvTrain } from '../../defenses/maAdvTrain.js';
import { mpAdvTrain } from '../../defenses/mpAdvTrain.js';
import type { TrainingLoopOptions, TrainingReport } from '../../defenses/trainingLoop.js';
import { fileCheckpoint } from '../../node/fileCheckpoint.js';
import { loadModel, saveModel } from '../../node/modelFiles.js';
import { toModelFn } from '../../model.js';
import type { DefenseName } from '../config.js';
import type { StageContext, TrainedTask } from './context.js';
import { attackInBatches, predictLogits, scoreLogits, type MetricRow } from './evaluate.js';
import { buildTaskModel, epochBatches, loadStageModel, makeOptimizer } from './train.js';
import { worstCaseAccuracies } from './worstCase.js';

export interface DefenseRow extends MetricRow {
  task: string;
  defense: string;
  /** PGD budget of the evaluation in 1/255 units (0 = clean). */
  epsilon: number;
  /** Accuracy under the worst case of PGD and APGD (see worstCase.ts); ≤ `accuracy` by construction. */
  worstCase?: number;
  /** `accuracy − worstCase`: how much PGD alone over-states robustness. */
  gap?: number;
}

async function trainDefense(method: DefenseName, model: tfl.LayersModel, t: TrainedTask, ctx: StageContext): Promise<TrainingReport> {
  const d = ctx.config.defenses;
  const n = Math.min(d.train, t.train.images.shape[0]);
  const batchSize = ctx.config.model.batchSize;
  const images = tf.slice(t.train.images, [0, 0, 0, 0], [n, -1, -1, -1]);
  const labels = tf.slice(t.train.labels, [0], [n]);
  const optimizer = makeOptimizer(d.optimizer, d.learningRate);
  try {
    const source = epochBatches(images, labels, batchSize, ctx.config.seed);
    const common: TrainingLoopOptions = {
      epochs: d.epochs,
      task: t.train.task,
      optimizer,
      seed: ctx.config.seed,
      validation: { images: t.validation.images, labels: t.validation.labels, epsilon: d.epsilon / 255, steps: d.steps },
      restoreBest: true,
      checkpoint: fileCheckpoint(join(ctx.dir, 'checkpoints', `${t.name}-${method}.ckpt`)),
      resume: true,
      signal: ctx.signal,
      onProgress: ctx.progress.training(`defend ${t.name} ${method}`, d.epochs, Math.ceil(n / batchSize)),
    };
    const eps = d.epsilon / 255;
    if (method === 'pgd-at') return await advTrain(model, source, { ...common, epsilon: eps, steps: d.steps });
    if (method === 'mpadvt') return await mpAdvTrain(model, source, { ...common, epsilon: [eps / 4, eps], steps: [1, Math.max(1, d.steps)], stepSize: Math.max(eps / 4, 1 / 255) });
    return await maAdvTrain(model, source, { ...common, epsilon: eps, steps: d.steps, beta: 6 });
  } finally {
    tf.dispose([images, labels]);
    optimizer.dispose();
  }
}

/** Clean and PGD metrics of a model at every evaluation budget. */
export async function robustnessRows(model: tfl.LayersModel, t: TrainedTask, defense: string, ctx: StageContext): Promise<DefenseRow[]> {
  const fn = toModelFn(model);
  const { images, labels, task } = t.test;
  const batch = ctx.config.attacks.evalBatch;
  const clean = predictLogits(fn, images, batch);
  try {
    const rows: DefenseRow[] = [{ task: t.name, defense, epsilon: 0, ...scoreLogits(clean, labels, task) }];
    for (const e of ctx.config.defenses.evalEpsilons) {
      const adv = await attackInBatches(images, labels, batch, (x, y) => pgd(fn, x, y, { epsilon: e / 255, steps: ctx.config.attacks.pgdSteps, task, seed: ctx.config.seed }), ctx.signal);
      const logits = predictLogits(fn, adv, batch);
      rows.push({ task: t.name, defense, epsilon: e, ...scoreLogits(logits, labels, task) });
      tf.dispose([adv, logits]);
    }
    const worst = await worstCaseAccuracies(fn, images, labels, task, ctx.config.defenses.evalEpsilons, ctx);
    worst.forEach((w, i) => Object.assign(rows[i + 1]!, { worstCase: w, gap: rows[i + 1]!.accuracy - w }));
    return rows;
  } finally {
    clean.dispose();
  }
}

/**
 * Trains every configured defense for a task and evaluates all of them. Each defense is two stages:
 * `defend.<task>.<method>.train` (fine-tuning from the undefended weights, checkpointed; the model is
 * saved in models/<task>-<method>) and `defend.<task>.<method>` (its evaluation), so an interrupted run
 * resumes inside either.
 */
export async function defendTask(t: TrainedTask, ctx: StageContext): Promise<DefenseRow[]> {
  const rows = await ctx.state.once(`defend.${t.name}.none`, () => robustnessRows(t.model, t, 'none', ctx));
  const all = [...rows];
  for (const method of ctx.config.defenses.methods) {
    const key = `defend.${t.name}.${method}`;
    const dir = join(ctx.dir, 'models', `${t.name}-${method}`);
    let model = ctx.state.has(key) ? undefined : await loadStageModel(ctx, `${key}.train`, dir);
    try {
      await ctx.state.once(`${key}.train`, async () => {
        // Adversarial fine-tuning from the undefended weights: from scratch, adversarial training of a
        // small net at this budget sits on the constant-prediction plateau for many epochs.
        const net = buildTaskModel(t, ctx);
        try {
          net.setWeights(t.model.getWeights());
          const report = await trainDefense(method, net, t, ctx);
          ctx.progress.end(`defend ${t.name} ${method}: ${report.epochs} epochs, best epoch ${report.bestEpoch === null ? '-' : report.bestEpoch + 1} of ${ctx.config.defenses.epochs}`);
          await saveModel(net, dir);
          model = net;
          return report;
        } catch (err) {
          net.dispose();
          throw err;
        }
      });
      all.push(...(await ctx.state.once(key, async () => robustnessRows(model ?? (model = await loadModel(dir)), t, method, ctx))));
    } finally {
      model?.dispose();
    }
  }
  return all;
}
