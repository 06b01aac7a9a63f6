/** Standard PGD-AT, MPAdvT and MAAdvT from the same initialisation, evaluated clean and under PGD. @internal */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { pgd } from '../../attacks/pgd.js';
import { batchesFromTensors } from '../../data/batchesFromTensors.js';
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
import { buildTaskModel } from './train.js';

export interface DefenseRow extends MetricRow {
  task: string;
  defense: string;
  /** PGD budget of the evaluation in 1/255 units (0 = clean). */
  epsilon: number;
}

async function trainDefense(method: DefenseName, model: tfl.LayersModel, t: TrainedTask, ctx: StageContext): Promise<TrainingReport> {
  const d = ctx.config.defenses;
  const n = Math.min(d.train, t.train.images.shape[0]);
  const images = tf.slice(t.train.images, [0, 0, 0, 0], [n, -1, -1, -1]);
  const labels = tf.slice(t.train.labels, [0], [n]);
  try {
    const source = batchesFromTensors(images, labels, { batchSize: ctx.config.model.batchSize, shuffle: true, seed: ctx.config.seed });
    const common: TrainingLoopOptions = {
      epochs: d.epochs,
      task: t.train.task,
      optimizer: tf.train.adam(d.learningRate),
      seed: ctx.config.seed,
      validation: { images: t.validation.images, labels: t.validation.labels, epsilon: d.epsilon / 255, steps: d.steps },
      restoreBest: true,
      checkpoint: fileCheckpoint(join(ctx.dir, 'checkpoints', `${t.name}-${method}.ckpt`)),
      resume: true,
      signal: ctx.signal,
      onProgress: ctx.progress.callback(`defend ${t.name} ${method}`),
    };
    const eps = d.epsilon / 255;
    if (method === 'pgd-at') return await advTrain(model, source, { ...common, epsilon: eps, steps: d.steps });
    if (method === 'mpadvt') return await mpAdvTrain(model, source, { ...common, epsilon: [eps / 4, eps], steps: [1, Math.max(1, d.steps)], stepSize: Math.max(eps / 4, 1 / 255) });
    return await maAdvTrain(model, source, { ...common, epsilon: eps, steps: d.steps, beta: 6 });
  } finally {
    tf.dispose([images, labels]);
  }
}

/** Clean and PGD metrics of a model at every evaluation budget. */
export function robustnessRows(model: tfl.LayersModel, t: TrainedTask, defense: string, ctx: StageContext): DefenseRow[] {
  const fn = toModelFn(model);
  const { images, labels, task } = t.test;
  const batch = ctx.config.attacks.evalBatch;
  const clean = predictLogits(fn, images, batch);
  const rows: DefenseRow[] = [{ task: t.name, defense, epsilon: 0, ...scoreLogits(clean, labels, task) }];
  for (const e of ctx.config.defenses.evalEpsilons) {
    const adv = attackInBatches(images, labels, batch, (x, y) => pgd(fn, x, y, { epsilon: e / 255, steps: ctx.config.attacks.pgdSteps, task, seed: ctx.config.seed }));
    const logits = predictLogits(fn, adv, batch);
    rows.push({ task: t.name, defense, epsilon: e, ...scoreLogits(logits, labels, task) });
    tf.dispose([adv, logits]);
  }
  clean.dispose();
  return rows;
}

/** Trains every configured defense for a task (resuming finished ones) and evaluates all of them. */
export async function defendTask(t: TrainedTask, ctx: StageContext): Promise<DefenseRow[]> {
  const rows = await ctx.state.once(`defend.${t.name}.none`, async () => robustnessRows(t.model, t, 'none', ctx));
  const all = [...rows];
  for (const method of ctx.config.defenses.methods) {
    const result = await ctx.state.once(`defend.${t.name}.${method}`, async () => {
      const dir = join(ctx.dir, 'models', `${t.name}-${method}`);
      // Adversarial fine-tuning from the undefended weights: from scratch, adversarial training of a
      // small net at this budget sits on the constant-prediction plateau for many epochs.
      const model = existsSync(join(dir, 'model.json')) ? await loadModel(dir) : buildTaskModel(t, ctx);
      if (!existsSync(join(dir, 'model.json'))) model.setWeights(t.model.getWeights());
      try {
        const report = existsSync(join(dir, 'model.json')) ? undefined : await trainDefense(method, model, t, ctx);
        ctx.progress.end(`defend ${t.name} ${method}: best epoch ${report?.bestEpoch ?? '-'}`);
        await saveModel(model, dir);
        return { report, rows: robustnessRows(model, t, method, ctx) };
      } finally {
        model.dispose();
      }
    });
    all.push(...result.rows);
  }
  return all;
}
