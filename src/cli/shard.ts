/**
 * Sharded evaluation from the command line: `medrobust run --shard i/n` (a cluster's array job),
 * `medrobust run --workers N` (N shards as child processes on one machine, see workers.ts) and
 * `medrobust merge` (the shard files into the whole test set's results).
 *
 * A shard evaluates the run folder's trained clean models on its part of each task's test split
 * (test images at positions p with p mod n = i) and writes `<run>/shards/shard-<i>-of-<n>.json`
 * (atomic, checksummed, with the run's full configuration and its hash). Training is not sharded: a
 * shard refuses to start without the trained models (`medrobust train` first; `--workers` trains
 * first itself). Shards write only their own file and read the rest, so any number of them can run
 * at once on one shared run folder, and any one can be rerun alone.
 *
 * Hook for more evaluations: add an entry to
 * {@link SHARD_EVALUATIONS} whose report carries per-sample `samples` with its own `kind`, and teach
 * `mergeShards` (src/shard/mergeShards.ts) that kind's columns and summary.
 * @internal
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { cpus, availableParallelism, hostname } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { useBackend, type BackendName } from '../backend/index.js';
import { evaluateCorruptions } from '../corruptions/evaluateCorruptions.js';
import { evaluatePerturbations } from '../corruptions/evaluatePerturbations.js';
import type { CorruptionTable } from '../corruptions/evaluateCorruptions.js';
import type { PerturbationTable } from '../corruptions/evaluatePerturbations.js';
import { evaluateRobustness, type RobustnessReport } from '../metrics/evaluateRobustness.js';
import { writeFileAtomic } from '../node/atomic.js';
import { loadModel } from '../node/modelFiles.js';
import { mergeResults, readShardResult, writeShardResult } from '../node/shardFiles.js';
import { canonicalJson, isWorstCase, type MergedResults, type ShardableReport } from '../shard/mergeShards.js';
import type { Batch, Progress, Shard, Task } from '../types.js';
import { experimentPart, type ExperimentConfig } from './config.js';
import { stageArtifacts, stageHash } from './experiment.js';
import { progressLine } from './progress.js';
import { lockRunFolder, RunState, type ChangedConfigPolicy } from './runState.js';
import type { StageContext } from './stages/context.js';
import { disposeTaskData, makeTaskData } from './stages/data.js';
import { trainCleanModel } from './stages/train.js';
import { UsageError } from './usageError.js';

/** The evaluations a shard can run, in the order they run. */
export const EVALUATIONS = ['robustness', 'corruptions', 'perturbations'] as const;
export type EvaluationName = (typeof EVALUATIONS)[number];

/** What one evaluation of one task receives. */
export interface EvaluationInput {
  model: tfl.LayersModel;
  batches: Batch[];
  task: Task;
  config: ExperimentConfig;
  shard: Shard;
  signal: AbortSignal;
  onProgress: (p: Progress) => void;
}

/**
 * The evaluations of a shard. ε and magnitudes are in 1/255 units in the config; the corruptions and
 * sequences use the paper's pixel parameters scaled to the image size (`referenceSize: 224`).
 */
export const SHARD_EVALUATIONS: Record<EvaluationName, (input: EvaluationInput) => Promise<ShardableReport>> = {
  robustness: ({ model, batches, task, config, shard, signal, onProgress }) => {
    const epsilons = config.attacks.epsilons.map((e) => e / 255);
    return evaluateRobustness(model, batches, [
      { name: 'fgsm', attack: 'fgsm', epsilons },
      { name: `pgd-${config.attacks.pgdSteps}`, attack: 'pgd', epsilons, options: { steps: config.attacks.pgdSteps } },
    ], { task, seed: config.seed, shard, signal, onProgress });
  },
  corruptions: ({ model, batches, task, config, shard, signal, onProgress }) => evaluateCorruptions(model, batches, { task, seed: config.seed, referenceSize: 224, shard, signal, onProgress }),
  perturbations: ({ model, batches, task, config, shard, signal, onProgress }) => evaluatePerturbations(model, batches, { task, seed: config.seed, referenceSize: 224, frames: 10, shard, signal, onProgress }),
};

/** The machine's logical cores. */
export function machineCores(): number {
  return Math.max(1, typeof availableParallelism === 'function' ? availableParallelism() : cpus().length);
}

const integer = (text: string): number | undefined => (/^\d+$/.test(text) ? Number(text) : undefined);

/**
 * The shard of `--shard <value>`: `i/n` explicit; `auto/n`, `i/auto` or `auto` take what is missing
 * from the scheduler: the index from JOB_COMPLETION_INDEX (Kubernetes Indexed Job) or
 * SLURM_ARRAY_TASK_ID (Slurm job array, 0-based: `--array=0-(n-1)`, or a resubmitted part of it), the
 * count from SLURM_ARRAY_TASK_COUNT (only for a whole 0-based array with step 1) or
 * MEDROBUST_SHARD_COUNT (set it to the Job's `completions` on Kubernetes).
 */
export function resolveShard(value: string | undefined, env: NodeJS.ProcessEnv = process.env): Shard | undefined {
  if (value === undefined) return undefined;
  const [indexText, countText, ...rest] = (value === 'auto' ? 'auto/auto' : value).split('/');
  if (indexText === undefined || countText === undefined || rest.length > 0 || indexText === '' || countText === '') {
    throw new UsageError(`--shard must be i/n (shard i of n, counted from 0), auto/n or auto, received '${value}'`);
  }
  const k8s = env.JOB_COMPLETION_INDEX;
  const slurm = env.SLURM_ARRAY_TASK_ID;
  const read = (name: string): number | undefined => {
    const text = env[name];
    if (text === undefined) return undefined;
    const n = integer(text);
    if (n === undefined) throw new UsageError(`${name} must be a whole number, received '${text}'`);
    return n;
  };
  let index: number | undefined;
  let fromSlurm = false;
  if (indexText === 'auto') {
    const k8sIndex = read('JOB_COMPLETION_INDEX');
    const slurmIndex = read('SLURM_ARRAY_TASK_ID');
    if (k8sIndex !== undefined && slurmIndex !== undefined && k8sIndex !== slurmIndex) {
      throw new UsageError(`JOB_COMPLETION_INDEX (${k8sIndex}) and SLURM_ARRAY_TASK_ID (${slurmIndex}) disagree; give --shard i/n`);
    }
    index = k8sIndex ?? slurmIndex;
    fromSlurm = k8sIndex === undefined && slurmIndex !== undefined;
    if (index === undefined) throw new UsageError(`--shard ${value} takes the shard index from JOB_COMPLETION_INDEX (Kubernetes Indexed Job) or SLURM_ARRAY_TASK_ID (Slurm job array), and neither is set; give --shard i/n`);
  } else {
    index = integer(indexText);
    if (index === undefined) throw new UsageError(`--shard must be i/n with a whole-number index, received '${value}'`);
  }
  let count: number | undefined;
  if (countText === 'auto') {
    if (fromSlurm || (slurm !== undefined && k8s === undefined)) {
      const total = read('SLURM_ARRAY_TASK_COUNT');
      const min = read('SLURM_ARRAY_TASK_MIN') ?? 0;
      const max = read('SLURM_ARRAY_TASK_MAX');
      const step = read('SLURM_ARRAY_TASK_STEP') ?? 1;
      if (total === undefined) throw new UsageError(`--shard ${value} takes the shard count from SLURM_ARRAY_TASK_COUNT, which is not set; give --shard ${indexText}/n`);
      if (min !== 0 || step !== 1 || (max !== undefined && max !== total - 1)) {
        throw new UsageError(`--shard ${value} takes the shard count from a whole 0-based Slurm array (--array=0-${total - 1}), but this one runs ${min}-${max ?? '?'}${step === 1 ? '' : `:${step}`}; give the count: --shard ${indexText}/n`);
      }
      count = total;
    } else {
      count = read('MEDROBUST_SHARD_COUNT');
      if (count === undefined) throw new UsageError(`--shard ${value} takes the shard count from MEDROBUST_SHARD_COUNT, which is not set; give --shard ${indexText}/n or set MEDROBUST_SHARD_COUNT to the Job's completions`);
    }
  } else {
    count = integer(countText);
  }
  if (count === undefined || count < 1) throw new UsageError(`--shard must be i/n with a shard count n ≥ 1, received '${value}'`);
  if (index >= count) throw new UsageError(`--shard ${value}: the index must be below the count (shards are counted from 0: 0/${count} … ${count - 1}/${count}), received index ${index}`);
  return { index, count };
}

/** `--evaluations a,b` (default: robustness). */
export function parseEvaluations(value: string | undefined): EvaluationName[] {
  if (value === undefined) return ['robustness'];
  const names = value.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  if (names.length === 0) throw new UsageError(`--evaluations must list some of ${EVALUATIONS.join(', ')}, received '${value}'`);
  for (const n of names) if (!(EVALUATIONS as readonly string[]).includes(n)) throw new UsageError(`--evaluations: '${n}' is not one of ${EVALUATIONS.join(', ')}`);
  if (new Set(names).size !== names.length) throw new UsageError(`--evaluations lists an evaluation twice: '${value}'`);
  return EVALUATIONS.filter((e) => names.includes(e));
}

/** `--threads N`: backend threads per process (1…8, the wasm pool's limit). */
export function parseThreads(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = integer(value);
  if (n === undefined || n < 1 || n > 8) throw new UsageError(`--threads must be a whole number from 1 to 8, received '${value}'`);
  return n;
}

/**
 * The configuration a shard file records (and merge compares): the experiment, the evaluations and
 * a fingerprint of each trained model evaluated (so a shard evaluated before a retraining never
 * merges with one evaluated after it).
 */
export function shardConfig(config: ExperimentConfig, evaluations: readonly EvaluationName[], models: Record<string, string>): unknown {
  return { experiment: experimentPart(config), evaluations: [...evaluations], models };
}

/** SHA-256 (16 hex digits) of a saved model folder's files, names and contents. */
export function modelFingerprint(dir: string): string {
  const hash = createHash('sha256');
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (!statSync(path).isFile()) continue;
    hash.update(`${name}\0`);
    hash.update(readFileSync(path));
  }
  return hash.digest('hex').slice(0, 16);
}

export const shardFileName = (shard: Shard): string => `shard-${shard.index}-of-${shard.count}.json`;
export const shardFolder = (out: string, config: ExperimentConfig): string => resolve(join(out, config.name, 'shards'));

export interface ShardRunOptions {
  out: string;
  evaluations: readonly EvaluationName[];
  signal: AbortSignal;
  threads?: number;
  quiet?: boolean;
  /** Recompute the shard even when its file is there with the same configuration. */
  fresh?: boolean;
  /** Every progress update: units (test batches of one evaluation) done and in total. */
  onProgress?: (done: number, total: number, step: string) => void;
}

/** The state of a run folder, read without changing it; refuses a folder of another config. */
function readRunState(dir: string, config: ExperimentConfig, backend: string): RunState {
  try {
    return new RunState(dir, { config: experimentPart(config), hashFor: (key) => stageHash(config, key), artifactsOf: stageArtifacts, backend, onChangedConfig: 'refuse' });
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    throw new UsageError(`${err.message.replace(/: rerun with .*$/, '')}: the shards evaluate that folder's trained models, so train it with this config first (medrobust train with the same --config and --name, adding --redo-changed or --fresh)`);
  }
}

/**
 * Evaluates shard `shard` of every task's test split and writes its shard file; returns its path.
 * Skips the work when the file is already there with the same configuration (unless `fresh`).
 */
export async function runShard(config: ExperimentConfig, shard: Shard, options: ShardRunOptions): Promise<{ file: string; skipped: boolean }> {
  const dir = resolve(join(options.out, config.name));
  const file = join(dir, 'shards', shardFileName(shard));
  const progress = progressLine(process.stderr, options.quiet);
  const label = `shard ${shard.index}/${shard.count}`;
  const models: Record<string, string> = {};
  for (const task of config.tasks) {
    const modelDir = join(dir, 'models', `${task}-clean`);
    if (!existsSync(modelDir)) {
      throw new UsageError(`${label}: run folder ${dir} has no trained ${task} model; the shards evaluate the trained models, so train first: medrobust train with the same --config and --name (or use --workers, which trains first)`);
    }
    models[task] = modelFingerprint(modelDir);
  }
  const recorded = shardConfig(config, options.evaluations, models);
  if (!options.fresh && existsSync(file)) {
    const previous = await readShardResult(file).catch(() => undefined);
    if (previous && previous.shard.count === shard.count && previous.shard.index === shard.index && canonicalJson(previous.config) === canonicalJson(recorded)) {
      progress.end(`${label}: already done (${file}); --fresh recomputes it`);
      return { file, skipped: true };
    }
  }
  const choice = await useBackend(config.backend as BackendName | 'auto', options.threads === undefined ? {} : { threads: options.threads });
  const state = readRunState(dir, config, choice.name);
  progress.end(`${label}: backend ${choice.name}${choice.threads ? ` (${choice.threads} threads)` : ''}; evaluating ${options.evaluations.join(', ')} of run folder ${dir}`);
  const started = performance.now();
  const results: Record<string, ShardableReport> = {};
  const units = new Map<string, [number, number]>();
  const report = (key: string, done: number, total: number) => {
    units.set(key, [done, total]);
    let d = 0;
    let t = 0;
    for (const [a, b] of units.values()) { d += a; t += b; }
    options.onProgress?.(d, t, key);
  };
  for (const task of config.tasks) {
    if (!state.has(`train.${task}`)) {
      throw new UsageError(`${label}: run folder ${dir} has no trained ${task} model for this config; train first: medrobust train with the same --config and --name (or use --workers, which trains first)`);
    }
  }
  // Every (task, evaluation) unit counts its test batches, so the total is known from the start.
  const batchCount = Math.ceil(config.data.test / config.attacks.evalBatch);
  for (const task of config.tasks) for (const e of options.evaluations) units.set(`${task}/${e}`, [0, batchCount]);
  report(`${config.tasks[0]}/${options.evaluations[0]}`, 0, batchCount);
  let evaluationSeconds = 0;
  for (const task of config.tasks) {
    const data = await makeTaskData(task, config);
    let model: tfl.LayersModel | undefined;
    const batches = split(data.test.images, data.test.labels, config.attacks.evalBatch);
    try {
      model = await loadModel(join(dir, 'models', `${task}-clean`)).catch((err: unknown) => {
        throw new UsageError(`${label}: the trained ${task} model in ${dir} cannot be loaded (${(err as Error).message.split('\n')[0]}); rerun medrobust train with the same --config and --name`);
      });
      for (const evaluation of options.evaluations) {
        const key = `${task}/${evaluation}`;
        const total = batches.length;
        const t0 = performance.now();
        units.set(key, [0, total]);
        results[key] = await SHARD_EVALUATIONS[evaluation]({
          model, batches, task: data.test.task, config, shard, signal: options.signal,
          onProgress: (p) => {
            progress.update(`${label} ${task} ${evaluation}`, p.done, total);
            report(key, p.done, total);
          },
        });
        evaluationSeconds += (performance.now() - t0) / 1000;
        report(key, total, total);
        const recs = isWorstCase(results[key]) ? results[key].records : results[key]!.samples;
        progress.end(`${label} ${task} ${evaluation}: ${recs.positions.length} of ${recs.total} test images`);
      }
    } finally {
      model?.dispose();
      tf.dispose(batches.flatMap((b) => [b.images, b.labels]));
      disposeTaskData(data);
    }
  }
  await writeShardResult(file, {
    shard,
    config: recorded,
    environment: { backend: choice.name, threads: choice.threads ?? null, host: hostname(), seconds: (performance.now() - started) / 1000, evaluationSeconds },
    results,
  });
  progress.end(`${label}: wrote ${file} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return { file, skipped: false };
}

/** A test split as evalBatch-sized batches (slices: the caller disposes them). */
function split(images: tf.Tensor4D, labels: tf.Tensor, size: number): Batch[] {
  const n = images.shape[0];
  const out: Batch[] = [];
  for (let start = 0; start < n; start += size) {
    const k = Math.min(size, n - start);
    out.push({ images: tf.slice(images, [start, 0, 0, 0], [k, -1, -1, -1]), labels: labels.rank === 1 ? tf.slice(labels, [start], [k]) : tf.slice(labels, [start, 0], [k, -1]) });
  }
  return out;
}

/**
 * Trains (or finds trained) the clean model of every task in the run folder, as `medrobust train`
 * does, without writing a report: what `--workers` does before it starts the shards.
 */
export async function ensureTrained(config: ExperimentConfig, options: { out: string; signal: AbortSignal; quiet?: boolean; threads?: number; onChangedConfig?: ChangedConfigPolicy }): Promise<void> {
  const dir = resolve(join(options.out, config.name));
  const { mkdirSync } = await import('node:fs');
  mkdirSync(dir, { recursive: true });
  const unlock = lockRunFolder(dir);
  try {
    const state = new RunState(dir, { config: experimentPart(config), hashFor: (key) => stageHash(config, key), artifactsOf: stageArtifacts, backend: config.backend, onChangedConfig: options.onChangedConfig });
    await state.save();
    const missing = config.tasks.filter((task) => !(state.has(`train.${task}`) && existsSync(join(dir, 'models', `${task}-clean`))));
    if (missing.length === 0) return;
    const choice = await useBackend(config.backend as BackendName | 'auto', options.threads === undefined ? {} : { threads: options.threads });
    state.backend = choice.name;
    const ctx: StageContext = { config, state, dir, progress: progressLine(process.stderr, options.quiet), signal: options.signal };
    for (const task of missing) {
      const data = await makeTaskData(task, config);
      try {
        const { model } = await trainCleanModel(data, ctx);
        model.dispose();
      } finally {
        disposeTaskData(data);
      }
    }
  } finally {
    unlock();
  }
}

/** The shard files named by `paths`: files as given, folders' `shard-<i>-of-<n>.json` files. */
export function shardFilesIn(paths: readonly string[]): string[] {
  const files: string[] = [];
  for (const p of paths) {
    if (existsSync(p) && statSync(p).isDirectory()) {
      const found = readdirSync(p).filter((f) => /^shard-\d+-of-\d+\.json$/.test(f)).sort((a, b) => a.localeCompare(b, 'en', { numeric: true })).map((f) => join(p, f));
      if (found.length === 0) throw new UsageError(`${p} holds no shard files (shard-<i>-of-<n>.json)`);
      files.push(...found);
    } else files.push(p);
  }
  return files;
}

const pct = (v: number): string => (Number.isFinite(v) ? (100 * v).toFixed(1) : 'n/a');
const fixed = (v: number, d = 3): string => (Number.isFinite(v) ? v.toFixed(d) : 'n/a');

/** The merged results as a readable Markdown summary. */
export function mergedMarkdown(merged: MergedResults, files: readonly string[]): string {
  const lines = [`# medrobust: merged results of ${merged.shards} shard${merged.shards === 1 ? '' : 's'}`, '', `Shard files: ${files.map((f) => basename(f)).join(', ')} (in ${dirname(files[0]!)}).`, ''];
  const backends = [...new Set(merged.environments.map((e) => (e as { backend?: string } | undefined)?.backend ?? 'unknown'))];
  if (backends.length > 1) lines.push(`Note: the shards ran on different backends (${backends.join(', ')}); the figures may differ from an unsharded run in the last digits.`, '');
  for (const [name, report] of Object.entries(merged.results)) {
    lines.push(`## ${name}`, '');
    if (isWorstCase(report)) {
      lines.push(`${report.n} test images, ${report.task}, ${report.norm === 'linf' ? 'L∞' : 'L2'}, ${report.version} ensemble (${report.attacks.map((a) => a.name).join(', ')}); clean accuracy ${pct(report.clean.accuracy)} %, AUROC ${fixed(report.clean.auc)}.`, '', '| ε (/255) | PGD accuracy % | worst-case accuracy % | gap % | AUROC |', '|---|---|---|---|---|');
      for (const row of report.rows) lines.push(`| ${fixed(row.epsilon * 255, 2)} | ${pct(row.pgdAccuracy)} | ${pct(row.robustAccuracy)} | ${pct(row.gap)} | ${fixed(row.auc)} |`);
      for (const w of report.warnings) lines.push('', `warning [${w.code}]: ${w.message}`);
    } else if (report.samples.kind === 'robustness') {
      const r = report as RobustnessReport;
      lines.push(`${r.n} test images; clean accuracy ${pct(r.clean.accuracy)} %, AUC ${fixed(r.clean.auc)}.`, '', '| attack | ε (/255) | accuracy % | AUC | fooling rate % | max L∞ (/255) |', '|---|---|---|---|---|---|');
      for (const row of r.rows) lines.push(`| ${row.attack} | ${fixed(row.epsilon * 255, 2)} | ${pct(row.accuracy)} | ${fixed(row.auc)} | ${pct(row.foolingRate)} | ${fixed(row.maxLinf * 255, 2)} |`);
    } else if (report.samples.kind === 'corruptions') {
      const c = report as CorruptionTable;
      lines.push(`${c.images} test images; clean accuracy ${pct(c.clean.accuracy)} %, mean corruption error ${pct(c.meanError)} % (relative ${pct(c.meanRelativeError)} %).`, '', '| corruption | mean error % | relative error % |', '|---|---|---|');
      for (const s of c.byType) lines.push(`| ${s.type} | ${pct(s.meanError)} | ${pct(s.relativeError)} |`);
    } else {
      const p = report as PerturbationTable;
      lines.push(`${p.sequences} sequences of ${p.frames} frames; mean flip probability ${pct(p.meanFlipProbability)} %.`, '', '| perturbation | flip probability % |', '|---|---|');
      for (const row of p.rows) lines.push(`| ${row.type} | ${pct(row.flipProbability)} |`);
    }
    lines.push('');
  }
  return lines.join('\n');
}

/**
 * Merges shard files (or the shard files of folders) and writes `merged.json` (every report with its
 * per-sample records) and `merged.md` beside them (or `outBase`.json/.md); returns the paths.
 */
export async function mergeShardFiles(paths: readonly string[], outBase?: string): Promise<{ json: string; markdown: string; text: string; merged: MergedResults }> {
  const files = shardFilesIn(paths);
  const merged = await mergeResults(files);
  const base = outBase ?? join(dirname(files[0]!), 'merged');
  const text = mergedMarkdown(merged, files);
  const json = `${base}.json`;
  const markdown = `${base}.md`;
  await writeFileAtomic(json, `${JSON.stringify({ format: 'medrobust-merged/1', ...merged }, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v))}\n`);
  await writeFileAtomic(markdown, text);
  return { json, markdown, text, merged };
}

