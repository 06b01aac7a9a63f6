/**
 * The whole experiment: data → train → attack → analyse → defend → report, each step recorded in the
 * run folder so that a rerun (after Ctrl-C or a crash) resumes where it stopped.
 * @internal
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { useBackend, type BackendName } from '../backend/index.js';
import { analyzeTask, type AnalysisResult } from './stages/analyze.js';
import { attackTask, type AttackRow } from './stages/attack.js';
import type { StageContext, TrainedTask } from './stages/context.js';
import { disposeTaskData, makeTaskData } from './stages/data.js';
import { defendTask, type DefenseRow } from './stages/defend.js';
import { writeReport } from './stages/report.js';
import { trainCleanModel } from './stages/train.js';
import type { ExperimentConfig } from './config.js';
import { progressLine } from './progress.js';
import { RunState } from './runState.js';

export interface RunOptions {
  /** Parent folder of run folders. */
  out: string;
  signal: AbortSignal;
  quiet?: boolean;
  /** Called on every progress update (step name, units done, units in total). */
  onProgress?: (step: string, done: number, total: number) => void;
  /** Which stages to run (default: all). */
  stages?: ReadonlyArray<'attack' | 'analyze' | 'defend'>;
}

/** Runs (or resumes) an experiment; returns the path of report.md. */
export async function runExperiment(config: ExperimentConfig, options: RunOptions): Promise<string> {
  const dir = resolve(join(options.out, config.name));
  mkdirSync(dir, { recursive: true });
  const stages = new Set(options.stages ?? ['attack', 'analyze', 'defend']);
  const choice = await useBackend(config.backend as BackendName | 'auto');
  const ctx: StageContext = { config, state: new RunState(dir), dir, progress: progressLine(process.stderr, options.quiet, options.onProgress), signal: options.signal };
  ctx.progress.end(`backend ${choice.name}: ${choice.reason}; run folder ${dir}`);
  const seconds: Record<string, number> = {};
  const timed = async <T>(label: string, step: () => Promise<T>): Promise<T> => {
    const start = Date.now();
    try {
      return await step();
    } finally {
      seconds[label] = (seconds[label] ?? 0) + (Date.now() - start) / 1000;
    }
  };
  const attacks: AttackRow[] = [];
  const defenses: DefenseRow[] = [];
  const analyses: AnalysisResult[] = [];
  for (const name of config.tasks) {
    const data = await makeTaskData(name, config);
    let trained: TrainedTask | undefined;
    try {
      const { model } = await timed(`train ${name}`, () => trainCleanModel(data, ctx));
      trained = { ...data, model };
      if (stages.has('attack')) attacks.push(...(await timed(`attack ${name}`, () => attackTask(trained!, ctx))));
      if (stages.has('analyze')) analyses.push(await timed(`analyze ${name}`, () => analyzeTask(trained!, ctx)));
      if (stages.has('defend') && config.defenses.tasks.includes(name)) defenses.push(...(await timed(`defend ${name}`, () => defendTask(trained!, ctx))));
    } finally {
      trained?.model.dispose();
      disposeTaskData(data);
    }
  }
  return timed('report', () => writeReport({ backend: { name: choice.name, reason: choice.reason, threads: choice.threads }, seconds, attacks, defenses, analyses }, ctx));
}
