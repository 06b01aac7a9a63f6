/** Clean training of a task's small CNN, checkpointed per epoch and saved to the run folder. @internal */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { batchesFromTensors } from '../../data/batchesFromTensors.js';
import { advTrain } from '../../defenses/advTrain.js';
import type { TrainingReport } from '../../defenses/trainingLoop.js';
import { smallCnn } from '../../models/smallCnn.js';
import { fileCheckpoint } from '../../node/fileCheckpoint.js';
import { loadModel, saveModel } from '../../node/modelFiles.js';
import type { StageContext, TaskData } from './context.js';

/** A fresh small CNN for a task (same seed, so every defense starts from the same initialisation). */
export function buildTaskModel(data: TaskData, ctx: StageContext): tfl.LayersModel {
  const [, h, w, c] = data.train.images.shape;
  return smallCnn({ inputShape: [h, w, c], classes: data.train.classNames.length, width: ctx.config.model.width, seed: ctx.config.seed });
}

/** Trains (or, on resume, loads) the undefended model of a task. */
export async function trainCleanModel(data: TaskData, ctx: StageContext): Promise<{ model: tfl.LayersModel; report: TrainingReport | undefined }> {
  const key = `train.${data.name}`;
  const modelDir = join(ctx.dir, 'models', `${data.name}-clean`);
  if (ctx.state.has(key) && existsSync(join(modelDir, 'model.json'))) {
    return { model: await loadModel(modelDir), report: ctx.state.get<TrainingReport>(key) };
  }
  const { epochs, batchSize, learningRate } = ctx.config.model;
  const model = buildTaskModel(data, ctx);
  const source = batchesFromTensors(data.train.images, data.train.labels, { batchSize, shuffle: true, seed: ctx.config.seed });
  const report = await advTrain(model, source, {
    generator: () => null,
    epochs,
    task: data.train.task,
    optimizer: tf.train.adam(learningRate),
    seed: ctx.config.seed,
    checkpoint: fileCheckpoint(join(ctx.dir, 'checkpoints', `${data.name}-clean.ckpt`)),
    resume: true,
    signal: ctx.signal,
    onProgress: ctx.progress.callback(`train ${data.name}`),
  });
  ctx.progress.end(`train ${data.name}: ${epochs} epochs, last loss ${report.history.at(-1)?.loss.toFixed(4)}`);
  await saveModel(model, modelDir);
  await ctx.state.set(key, report);
  return { model, report };
}
