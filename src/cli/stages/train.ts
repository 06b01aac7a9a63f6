/** Clean training of a task's small CNN, checkpointed per epoch and saved to the run folder. @internal */
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { batchesFromTensors } from '../../data/batchesFromTensors.js';
import { advTrain } from '../../defenses/advTrain.js';
import type { TrainingReport } from '../../defenses/trainingLoop.js';
import { smallCnn } from '../../models/smallCnn.js';
import { fileCheckpoint } from '../../node/fileCheckpoint.js';
import { loadModel, saveModel } from '../../node/modelFiles.js';
import type { OptimizerName } from '../config.js';
import type { StageContext, TaskData } from './context.js';

/** A fresh small CNN for a task (same seed, so every defense starts from the same initialisation). */
export function buildTaskModel(data: TaskData, ctx: StageContext): tfl.LayersModel {
  const [, h, w, c] = data.train.images.shape;
  return smallCnn({ inputShape: [h, w, c], classes: data.train.classNames.length, width: ctx.config.model.width, seed: ctx.config.seed });
}

/**
 * Shuffled batches whose order depends only on the seed and the epoch (a `(epoch) => batches`
 * factory), so that a run resumed in epoch e sees exactly the batches an uninterrupted run sees there.
 * (batchesFromTensors is itself such a factory now; this one keeps the per-epoch seeds of earlier runs,
 * so their results are unchanged.)
 */
export function epochBatches(images: tf.Tensor4D, labels: tf.Tensor, batchSize: number, seed: number): (epoch: number) => AsyncIterable<{ images: tf.Tensor4D; labels: tf.Tensor }> {
  return (epoch) => batchesFromTensors(images, labels, { batchSize, shuffle: true, seed: (seed * 1009 + 7919 * (epoch + 1)) % 2147483647 });
}

/** The configured optimizer (the caller disposes it). */
export function makeOptimizer(name: OptimizerName, learningRate: number): tf.Optimizer {
  return name === 'sgd' ? tf.train.sgd(learningRate) : tf.train.adam(learningRate);
}

/**
 * Loads the model a finished stage saved in `dir`; when it is missing or unreadable, forgets the stage
 * so that it is recomputed (resuming from its checkpoint if there is one).
 */
export async function loadStageModel(ctx: StageContext, key: string, dir: string): Promise<tfl.LayersModel | undefined> {
  if (!ctx.state.has(key)) return undefined;
  try {
    return await loadModel(dir);
  } catch {
    await ctx.state.forget(key);
    return undefined;
  }
}

/** Trains (or, when an earlier run finished it, loads) the undefended model of a task. */
export async function trainCleanModel(data: TaskData, ctx: StageContext): Promise<{ model: tfl.LayersModel; report: TrainingReport }> {
  const key = `train.${data.name}`;
  const modelDir = join(ctx.dir, 'models', `${data.name}-clean`);
  let model = await loadStageModel(ctx, key, modelDir);
  const report = await ctx.state.once(key, async () => {
    const { epochs, batchSize, learningRate, optimizer: optimizerName } = ctx.config.model;
    const net = buildTaskModel(data, ctx);
    const optimizer = makeOptimizer(optimizerName, learningRate);
    try {
      const source = epochBatches(data.train.images, data.train.labels, batchSize, ctx.config.seed);
      const result = await advTrain(net, source, {
        generator: () => null,
        epochs,
        task: data.train.task,
        optimizer,
        seed: ctx.config.seed,
        checkpoint: fileCheckpoint(join(ctx.dir, 'checkpoints', `${data.name}-clean.ckpt`)),
        resume: true,
        signal: ctx.signal,
        onProgress: ctx.progress.training(`train ${data.name}`, epochs, Math.ceil(data.train.images.shape[0] / batchSize)),
      });
      ctx.progress.end(`train ${data.name}: ${epochs} epochs, last loss ${result.history.at(-1)?.loss.toFixed(4)}`);
      await saveModel(net, modelDir);
      model = net;
      return result;
    } catch (err) {
      net.dispose();
      throw err;
    } finally {
      optimizer.dispose();
    }
  });
  return { model: model!, report };
}
