/** Standard PGD-AT, MPAdvT, MAAdvT (MART) and TRADES from the same initialisation, evaluated clean, under PGD and in the worst case. @internal */
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { pgd } from '../../attacks/pgd.js';
import { advTrain } from '../../defenses/advTrain.js';
import { maAdvTrain, type MaAdvTrainOptions } from '../../defenses/maAdvTrain.js';
import { mpAdvTrain, type MpAdvTrainOptions } from '../../defenses/mpAdvTrain.js';
import { trades } from '../../defenses/trades.js';
import { maAdvTrainPreset, mpAdvTrainPreset, type PaperDataset } from '../../defenses/paperPresets.js';
import type { TrainingLoopOptions, TrainingReport } from '../../defenses/trainingLoop.js';
import { fileCheckpoint } from '../../node/fileCheckpoint.js';
import { loadModel, saveModel } from '../../node/modelFiles.js';
import { toModelFn } from '../../model.js';
import type { DefenseName, DemoTask, ExperimentConfig } from '../config.js';
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
    // TRADES (Zhang et al. 2019) at its authors' β = 6, next to MART (= MAAdvT): the worst-case rows show how much
    // of each one's PGD margin survives APGD
    if (method === 'trades') return await trades(model, source, { ...common, epsilon: eps, steps: d.steps, beta: 6 });
    const threat = defenseThreat(method, presetDataset(t.name, ctx.config), eps, t.train.images.shape[3]);
    if (method === 'mpadvt') return await mpAdvTrain(model, source, { ...common, ...threat });
    return await maAdvTrain(model, source, { ...common, ...(threat as Partial<MaAdvTrainOptions> & Pick<MaAdvTrainOptions, 'epsilon'>) });
  } finally {
    tf.dispose([images, labels]);
    optimizer.dispose();
  }
}

/**
 * The paper's data set a pipeline task stands for, which picks the defense preset: the chest task is
 * ChestX-ray14; the lesion task is ISIC 2016, or Messidor when its MedMNIST file is RetinaMNIST.
 */
export function presetDataset(task: DemoTask, config: ExperimentConfig): PaperDataset {
  if (task === 'chest') return 'chestXray14';
  return /retina/i.test(config.data.medmnist?.lesion ?? '') ? 'messidor' : 'isic2016';
}

/** The threat-model fields a preset sets (the rest of a preset is the data set's training recipe). */
const THREAT_KEYS = ['epsilon', 'stepSize', 'steps', 'cleanProbability', 'randomStart', 'channelScale', 'clip', 'paperQuirks', 'beta', 'startStd'] as const;

/**
 * MPAdvT's and MAAdvT's adversary in the pipeline: the corrected paper preset of the task's data set
 * (`mpAdvTrainPreset`, `maAdvTrainPreset`) at the pixel budget `epsilon`, for models that take [0, 1]
 * pixels (mean 0, std 1 on each of `channels`): MPAdvT ε ~ U(ε/2, 2ε), α = 1/255, T ~ U{1..9}, half
 * the batches clean; MAAdvT ε, α = ε/4, the data set's T and β (8 on Messidor, 6 elsewhere). The
 * config's optimizer, learning rate and epochs stay the run's.
 */
export function defenseThreat(method: 'mpadvt' | 'maadvt', dataset: PaperDataset, epsilon: number, channels: number): Partial<MpAdvTrainOptions & MaAdvTrainOptions> & { epsilon: number | readonly [number, number] } {
  const normalization = { mean: new Array<number>(channels).fill(0), std: new Array<number>(channels).fill(1) };
  const preset = (method === 'mpadvt' ? mpAdvTrainPreset : maAdvTrainPreset)(dataset, { variant: 'corrected', epsilon, normalization });
  const options = preset.options as Record<string, unknown>;
  const threat: Record<string, unknown> = {};
  for (const k of THREAT_KEYS) if (options[k] !== undefined) threat[k] = options[k];
  // The valid range of mean-0, std-1 "normalised" images is the pixels' own.
  threat.clip = [0, 1];
  return threat as Partial<MpAdvTrainOptions & MaAdvTrainOptions> & { epsilon: number | readonly [number, number] };
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
