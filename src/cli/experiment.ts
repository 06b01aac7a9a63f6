/**
 * The whole experiment: data → train → attack → analyse → defend → report, each stage recorded in the
 * run folder with the hash of the config fields it depends on, so that a rerun (after Ctrl-C or a
 * crash) resumes where it stopped, and a rerun with a changed config never mixes old and new results.
 * @internal
 */
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { useBackend, type BackendName } from '../backend/index.js';
import { InvalidArgumentError } from '../errors.js';
import { analyzeTask, type AnalysisResult } from './stages/analyze.js';
import { attackTask, type AttackRow } from './stages/attack.js';
import type { StageContext, TrainedTask } from './stages/context.js';
import { disposeTaskData, makeTaskData } from './stages/data.js';
import { defendTask, type DefenseRow } from './stages/defend.js';
import { writeReport, type RunResults } from './stages/report.js';
import { trainCleanModel } from './stages/train.js';
import { experimentPart, hashOf, stageInputs, TASKS, DEFENSES, type DefenseName, type DemoTask, type ExperimentConfig } from './config.js';
import { progressLine } from './progress.js';
import { lockRunFolder, RunState, type ChangedConfigPolicy } from './runState.js';
import type { TrainingReport } from '../defenses/trainingLoop.js';

export interface RunOptions {
  /** Parent folder of run folders. */
  out: string;
  signal: AbortSignal;
  quiet?: boolean;
  /** Called on every progress update (step name, units done, units in total). */
  onProgress?: (step: string, done: number, total: number) => void;
  /** Which stages to run after clean training (default: all). */
  stages?: ReadonlyArray<'attack' | 'analyze' | 'defend'>;
  /** When the run folder holds results of another config: refuse (default), start over, or redo what changed. */
  onChangedConfig?: ChangedConfigPolicy;
}

/** The hash of the config inputs of a stage key (`train.lesion`, `defend.lesion.pgd-at.train`, ...). */
export function stageHash(config: ExperimentConfig, key: string): string | undefined {
  const [stage, task, method, sub] = key.split('.') as [string, DemoTask, string | undefined, string | undefined];
  if (!TASKS.includes(task) || !config.tasks.includes(task)) return undefined;
  if ((stage === 'train' || stage === 'attack' || stage === 'analyze') && method === undefined) return hashOf(stageInputs(config, stage, task));
  if (stage !== 'defend' || !config.defenses.tasks.includes(task)) return undefined;
  if (method === 'none' && sub === undefined) return hashOf(stageInputs(config, 'defend', task, 'none'));
  if (!DEFENSES.includes(method as DefenseName) || !config.defenses.methods.includes(method as DefenseName)) return undefined;
  if (sub === 'train') return hashOf(stageInputs(config, 'defend-train', task, method as DefenseName));
  return sub === undefined ? hashOf(stageInputs(config, 'defend', task, method as DefenseName)) : undefined;
}

/** Checkpoints and models a stage leaves in the run folder. */
export function stageArtifacts(key: string): string[] {
  const [stage, task, method, sub] = key.split('.');
  if (stage === 'train') return [`checkpoints/${task}-clean.ckpt`, `models/${task}-clean`];
  if (stage === 'defend' && sub === 'train') return [`checkpoints/${task}-${method}.ckpt`, `models/${task}-${method}`];
  return [];
}

/** Checks what can be checked before any work: the MedMNIST files exist. */
function preflight(config: ExperimentConfig): void {
  for (const task of config.tasks) {
    const file = config.data.medmnist?.[task];
    if (file !== undefined && !(existsSync(file) && statSync(file).isFile())) {
      throw new InvalidArgumentError('config', `config.data.medmnist.${task}`, 'the path of an existing MedMNIST .npz file', `${JSON.stringify(file)}, which does not exist`);
    }
  }
}

/** Runs (or resumes) an experiment; returns the path of report.md. */
export async function runExperiment(config: ExperimentConfig, options: RunOptions): Promise<string> {
  preflight(config);
  const dir = resolve(join(options.out, config.name));
  mkdirSync(dir, { recursive: true });
  const unlock = lockRunFolder(dir);
  try {
    const state = new RunState(dir, {
      config: experimentPart(config),
      hashFor: (key) => stageHash(config, key),
      artifactsOf: stageArtifacts,
      backend: config.backend,
      onChangedConfig: options.onChangedConfig,
    });
    await state.save();
    const choice = await useBackend(config.backend as BackendName | 'auto');
    state.backend = choice.name;
    const ctx: StageContext = { config, state, dir, progress: progressLine(process.stderr, options.quiet, options.onProgress), signal: options.signal };
    ctx.progress.end(`backend ${choice.name}: ${choice.reason}; run folder ${dir}`);
    const stages = new Set(options.stages ?? ['attack', 'analyze', 'defend']);
    const results: Omit<RunResults, 'timings'> = { backend: { name: choice.name, reason: choice.reason, threads: choice.threads }, attacks: [], defenses: [], analyses: [], training: [] };
    const summary = (task: string, defense: string, report: TrainingReport) => ({ task, defense, epochs: report.epochs, bestEpoch: report.bestEpoch === null ? null : report.bestEpoch + 1, lastLoss: report.history.at(-1)?.loss });
    for (const name of config.tasks) {
      const data = await makeTaskData(name, config);
      let trained: TrainedTask | undefined;
      try {
        const { model, report } = await trainCleanModel(data, ctx);
        trained = { ...data, model };
        results.training.push(summary(name, 'none', report));
        if (stages.has('attack')) results.attacks.push(...(await attackTask(trained, ctx)));
        if (stages.has('analyze')) results.analyses.push(await analyzeTask(trained, ctx));
        if (stages.has('defend') && config.defenses.tasks.includes(name)) {
          results.defenses.push(...(await defendTask(trained, ctx)));
          for (const method of config.defenses.methods) results.training.push(summary(name, method, state.get<TrainingReport>(`defend.${name}.${method}.train`)));
        }
      } finally {
        trained?.model.dispose();
        disposeTaskData(data);
      }
    }
    return await writeReport({ ...results, timings: state.timings() }, ctx);
  } finally {
    unlock();
  }
}

export type { AnalysisResult, AttackRow, DefenseRow };
