/**
 * `medrobust evaluate`: the worst case of a saved model (evaluateWorstCase) on a data file, printed as a
 * table (clean, PGD-10, worst case, gap, AUROC, what broke the images) with the sanity checks' warnings,
 * and written as JSON with `--out`.
 * @internal
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { useBackend, type BackendName } from '../backend/index.js';
import { npyToTensor } from '../data/npyTensor.js';
import { evaluateWorstCase, type EvaluateWorstCaseOptions, type WorstCaseReport } from '../metrics/evaluateWorstCase.js';
import type { MultiLabelGoal } from '../internal/goals.js';
import { writeFileAtomic } from '../node/atomic.js';
import { loadModel } from '../node/modelFiles.js';
import { writeShardResult } from '../node/shardFiles.js';
import { loadMedmnist, loadNpz } from '../node/npzFiles.js';
import { markdownTable } from '../report/tables.js';
import type { Task } from '../types.js';
import { BACKENDS } from './config.js';
import { modelFingerprint, resolveShard, shardFileName } from './shard.js';
import { UsageError } from './usageError.js';

function integer(name: string, value: unknown, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  const v = Number(value);
  if (!Number.isInteger(v) || v < min) throw new UsageError(`--${name} must be an integer >= ${min}, received '${String(value)}'`);
  return v;
}

function parseGoal(value: string, classes: number): MultiLabelGoal {
  if (value === 'flip-any' || value === 'flip-all') return value;
  if (value === 'healthy') return { target: new Array<number>(classes).fill(0) };
  const m = /^(hide|add):(\d+)$/.exec(value);
  if (!m) throw new UsageError(`--goal must be flip-any, flip-all, hide:K, add:K or healthy, received '${value}'`);
  const k = Number(m[2]);
  if (k >= classes) throw new UsageError(`--goal ${value}: the labels have ${classes} findings (0 to ${classes - 1})`);
  return m[1] === 'hide' ? { hide: k } : { add: k };
}

/** Images and labels from a MedMNIST file (test split) or an .npz with `images`/`labels` (or `x`/`y`). */
async function readData(file: string): Promise<{ images: tf.Tensor4D; labels: tf.Tensor; task: Task }> {
  if (!existsSync(file) || !statSync(file).isFile()) throw new UsageError(`--data: no file ${file}`);
  const all = await loadNpz(file);
  if (all.test_images && all.test_labels) {
    const split = await loadMedmnist(file, { split: 'test' });
    return { images: split.images, labels: split.labels, task: split.task };
  }
  const imagesKey = ['images', 'x'].find((k) => all[k]);
  const labelsKey = ['labels', 'y'].find((k) => all[k]);
  if (!imagesKey || !labelsKey) throw new UsageError(`--data ${file} must hold 'images' and 'labels' (or 'x' and 'y', or MedMNIST's test_images and test_labels); it holds ${Object.keys(all).join(', ') || 'nothing'}`);
  const raw = npyToTensor(all[imagesKey]!);
  const images = tf.tidy(() => {
    const x = raw.dtype === 'float32' ? raw : tf.div(tf.cast(raw, 'float32'), 255);
    return (x.rank === 3 ? tf.expandDims(x, 3) : x) as tf.Tensor4D;
  });
  if (images !== raw) raw.dispose();
  const labels = npyToTensor(all[labelsKey]!);
  if (images.rank !== 4) throw new UsageError(`--data: '${imagesKey}' must be [N, H, W, C] (or [N, H, W]), received [${images.shape.join(',')}]`);
  // Rows that are not all one-hot: multi-hot findings. [N] or [N, 1]: class indices.
  const c = labels.rank === 2 ? labels.shape[1]! : 1;
  const v = labels.dataSync();
  let oneHot = true;
  for (let i = 0; i < v.length; i += c) {
    let sum = 0;
    for (let k = 0; k < c; k++) sum += v[i + k]!;
    if (sum !== 1) oneHot = false;
  }
  const task: Task = c > 1 && !oneHot ? 'multi-label' : 'single-label';
  const out = tf.tidy(() => (c === 1 ? tf.cast(tf.reshape(labels, [-1]), 'int32') : tf.cast(labels, 'float32')));
  labels.dispose();
  return { images, labels: out, task };
}

/** The table `medrobust evaluate` prints. */
export function worstCaseTable(report: WorstCaseReport): string {
  const rows = [
    { epsilon: '0 (clean)', 'PGD-10': undefined, 'worst case': report.clean.accuracy, gap: undefined, AUROC: report.clean.auc, 'broken by': undefined },
    ...report.rows.map((r) => ({
      epsilon: `${+(r.epsilon * 255).toFixed(3)}/255`,
      'PGD-10': r.pgdAccuracy,
      'worst case': r.robustAccuracy,
      gap: r.gap,
      AUROC: r.auc,
      'broken by': r.attacks.filter((a) => a.broken > 0).map((a) => `${a.name} ${a.broken}`).join(', '),
    })),
  ];
  return markdownTable(rows, { digits: 4 });
}

/**
 * `medrobust evaluate` (values parsed and checked for unknown options by main.ts, `signal` the run's
 * Ctrl-C signal from main's withInterrupt). Returns the exit code.
 */
export async function runEvaluate(values: Record<string, unknown>, positionals: readonly string[], signal?: AbortSignal): Promise<number> {
  if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}' (medrobust evaluate --help lists the options)`);
  if (typeof values.model !== 'string') throw new UsageError('--model <dir> is required: a saved model folder');
  if (typeof values.data !== 'string') throw new UsageError('--data <file.npz> is required');
  if (typeof values.epsilon !== 'string') throw new UsageError('--epsilon <list> is required: budgets in 1/255 units, e.g. 2,4,8');
  const epsilons = values.epsilon.split(',').map((s) => Number(s.trim()));
  if (epsilons.some((e) => !Number.isFinite(e) || e < 0)) throw new UsageError(`--epsilon must be numbers >= 0 separated by commas, received '${values.epsilon}'`);
  const norm = values.norm ?? 'linf';
  if (norm !== 'linf' && norm !== 'l2') throw new UsageError(`--norm must be linf or l2, received '${String(norm)}'`);
  const version = values.version ?? 'standard';
  if (version !== 'standard' && version !== 'cheap') throw new UsageError(`--version must be standard or cheap, received '${String(version)}'`);
  if (values.task !== undefined && values.task !== 'single-label' && values.task !== 'multi-label') throw new UsageError(`--task must be single-label or multi-label, received '${String(values.task)}'`);
  const limit = integer('limit', values.limit, Number.POSITIVE_INFINITY, 1);
  const batch = integer('batch', values.batch, 64, 1);
  const seed = integer('seed', values.seed, 1, 0);
  const backend = values.backend ?? 'auto';
  if (!(BACKENDS as readonly string[]).includes(String(backend))) throw new UsageError(`--backend must be one of ${BACKENDS.join(', ')}, received '${String(backend)}'`);
  if (!existsSync(values.model) || !statSync(values.model).isDirectory()) throw new UsageError(`--model: no folder ${values.model}`);
  const shard = resolveShard(values.shard === undefined ? undefined : String(values.shard));

  const choice = await useBackend(backend as BackendName | 'auto');
  const quiet = Boolean(values.quiet);
  if (!quiet) process.stderr.write(`backend ${choice.name}: ${choice.reason}\n`);
  let model: tfl.LayersModel | undefined;
  let data: Awaited<ReturnType<typeof readData>> | undefined;
  try {
    data = await readData(values.data);
    model = await loadModel(values.model);
    const task = (values.task as Task | undefined) ?? data.task;
    const n = Math.min(limit, data.images.shape[0]);
    const batches: Array<{ images: tf.Tensor4D; labels: tf.Tensor }> = [];
    for (let s = 0; s < n; s += batch) {
      const size = Math.min(batch, n - s);
      const rest = data.labels.shape.slice(1);
      batches.push({ images: tf.slice(data.images, [s, 0, 0, 0], [size, -1, -1, -1]), labels: tf.slice(data.labels, [s, ...rest.map(() => 0)], [size, ...rest.map(() => -1)]) });
    }
    const classes = data.labels.rank === 2 ? data.labels.shape[1]! : 0;
    const options: EvaluateWorstCaseOptions = {
      epsilon: epsilons.map((e) => e / 255), norm, version, task, seed, ...(shard ? { shard } : {}), ...(signal ? { signal } : {}),
      ...(typeof values.goal === 'string' ? { goal: parseGoal(values.goal, classes) } : {}),
      ...(quiet ? {} : { onProgress: (p) => process.stderr.write(`\rattack runs ${p.done}${Number.isFinite(p.total) ? `/${p.total}` : ''}, robust ${(100 * (p.metrics?.robustAccuracy ?? Number.NaN)).toFixed(1)}% at ε ${+((p.metrics?.epsilon ?? 0) * 255).toFixed(3)}/255   `) }),
    };
    if (typeof values.goal === 'string' && task !== 'multi-label') throw new UsageError('--goal needs a multi-label task');
    let report: WorstCaseReport;
    try {
      report = await evaluateWorstCase(model, batches, options);
    } finally {
      for (const b of batches) tf.dispose([b.images, b.labels]);
      if (!quiet) process.stderr.write('\n');
    }
    if (shard) {
      // A shard of a cluster run: its file (with the run's configuration) for `medrobust merge`.
      const folder = typeof values.out === 'string' ? values.out : 'shards';
      const file = join(folder, shardFileName(shard));
      const config = {
        command: 'evaluate', model: modelFingerprint(values.model), data: createHash('sha256').update(readFileSync(values.data)).digest('hex'),
        images: n, epsilons, norm, version, task, goal: typeof values.goal === 'string' ? values.goal : null, seed,
      };
      await writeShardResult(file, { shard, config, results: { 'worst-case': report }, environment: { backend: choice.name, threads: choice.threads ?? null, host: hostname(), seconds: report.seconds } });
      process.stdout.write(`shard ${shard.index}/${shard.count}: ${report.n} of ${n} images, ${task}, ${report.version} ensemble; ${report.seconds.toFixed(1)} s\nshard file: ${file} (merge all shards with: medrobust merge ${folder})\n`);
      return 0;
    }
    process.stdout.write(`${n} images, ${task}, ${norm === 'linf' ? 'L∞' : 'L2'}, ${report.version} ensemble: ${report.attacks.map((a) => a.name).join(', ')}; ${report.seconds.toFixed(1)} s\n\n${worstCaseTable(report)}\n`);
    for (const w of report.warnings) process.stdout.write(`\nwarning [${w.code}]: ${w.message}\n`);
    if (typeof values.out === 'string') {
      await writeFileAtomic(values.out, JSON.stringify(report, null, 1));
      process.stdout.write(`\nreport: ${values.out}\n`);
    }
    return 0;
  } finally {
    model?.dispose();
    if (data) tf.dispose([data.images, data.labels]);
  }
}
