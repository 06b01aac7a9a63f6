/**
 * The command-line side of sharding: `run --shard`, `run --workers` and `merge` (see shard.ts for
 * what a shard computes).
 *
 * `--workers N` trains the clean models (or finds them trained) in this process, then starts N child
 * processes `medrobust run … --shard k/N --threads T --quiet`, each with its own backend threads (T =
 * cores / N unless --threads is given), shows one progress line for all of them (they report over the
 * IPC channel), and merges their shard files. The children run in their own process group: Ctrl-C
 * reaches this process, which forwards it once to every child (each stops at its next step and exits
 * 130) and waits for them; a second Ctrl-C kills them and exits at once. A child whose parent dies
 * (its IPC channel closes) stops by itself. Every process exits by itself: the children unref their
 * channel, and the parent holds nothing once they are gone.
 * @internal
 */
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AbortError } from '../errors.js';
import { readShardResult } from '../node/shardFiles.js';
import type { Shard } from '../types.js';
import type { ExperimentConfig } from './config.js';
import { progressLine } from './progress.js';
import type { ChangedConfigPolicy } from './runState.js';
import { ensureTrained, machineCores, mergeShardFiles, parseEvaluations, parseThreads, resolveShard, runShard, shardFileName, shardFolder, type EvaluationName } from './shard.js';
import { UsageError } from './usageError.js';

/** True when `run` was asked to shard (`--shard` or `--workers`); refuses their options alone. */
export function wantsSharding(values: Record<string, unknown>): boolean {
  const sharded = values.shard !== undefined || values.workers !== undefined;
  for (const option of ['threads', 'evaluations']) {
    if (!sharded && values[option] !== undefined) throw new UsageError(`--${option} applies with --shard or --workers`);
  }
  return sharded;
}

/** The options a worker gets again, as given: --config, --name, --out, --backend. */
export function forwardArgs(values: Record<string, unknown>): string[] {
  return ['config', 'name', 'out', 'backend'].flatMap((k) => (values[k] === undefined ? [] : [`--${k}`, String(values[k])]));
}

/** `--workers N|auto` with the machine's cores: the number of processes and the threads of each. */
export function planWorkers(value: string, threads: number | undefined, cores = machineCores()): { workers: number; threads: number; note: string } {
  const n = value === 'auto' ? cores : /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isInteger(n) || n < 1 || n > 256) throw new UsageError(`--workers must be a whole number from 1 to 256 or auto (one per core), received '${value}'`);
  const t = threads ?? Math.max(1, Math.min(8, Math.floor(cores / n)));
  const note = n * t > cores ? `; ${n} × ${t} threads exceed the ${cores} cores: expect no gain beyond ${cores}` : '';
  return { workers: n, threads: t, note };
}

/** The CLI entry for child processes: this bundle (dist/cli/bin.js), or src/cli/bin.ts under tsx. */
function cliEntry(): { file: string; execArgv: string[] } {
  const here = fileURLToPath(import.meta.url);
  const inherited = process.execArgv.filter((a) => !a.startsWith('--inspect'));
  if (here.endsWith('.js')) return { file: here, execArgv: inherited };
  const file = join(dirname(here), 'bin.ts');
  const hasTsx = inherited.some((a, i) => (a === '--import' || a === '--loader' || a === '--require') && /tsx/.test(inherited[i + 1] ?? '')) || inherited.some((a) => /tsx/.test(a));
  return { file, execArgv: hasTsx ? inherited : [...inherited, '--import', 'tsx'] };
}

/** Messages a worker sends its parent. */
type WorkerMessage = { type: 'progress'; done: number; total: number };

/**
 * `run --shard` / `run --workers`: returns the exit code. `forward` holds the options a worker must
 * get again (--config, --name, --out, --backend), as given.
 */
export async function shardedRun(values: Record<string, unknown>, config: ExperimentConfig, policy: ChangedConfigPolicy, forward: string[]): Promise<number> {
  if (values.shard !== undefined && values.workers !== undefined) throw new UsageError('--shard and --workers exclude each other (--workers starts its own shards)');
  const evaluations = parseEvaluations(values.evaluations as string | undefined);
  const threads = parseThreads(values.threads as string | undefined);
  const out = String(values.out ?? 'runs');
  const quiet = Boolean(values.quiet);
  if (values.shard !== undefined) {
    const shard = resolveShard(String(values.shard))!;
    if (policy === 'redo-changed') throw new UsageError('--redo-changed applies to training; with --shard, train first (medrobust train --redo-changed), then run the shards');
    return runOneShard(config, shard, { out, evaluations, threads, quiet, fresh: policy === 'fresh' });
  }
  const plan = planWorkers(String(values.workers), threads);
  return runWorkers(config, { out, evaluations, quiet, policy, forward, ...plan });
}

/** One shard in this process (a cluster task, or a child of --workers). */
async function runOneShard(config: ExperimentConfig, shard: Shard, options: { out: string; evaluations: EvaluationName[]; threads: number | undefined; quiet: boolean; fresh: boolean }): Promise<number> {
  const controller = new AbortController();
  const worker = process.env.MEDROBUST_WORKER === '1' && typeof process.send === 'function';
  const onSigint = () => {
    if (controller.signal.aborted) process.exit(130);
    if (!worker) process.stderr.write(`\nmedrobust: interrupted: stopping shard ${shard.index}/${shard.count} at the next step (Ctrl-C again to exit at once); rerun the same command to redo it.\n`);
    controller.abort();
  };
  process.on('SIGINT', onSigint);
  if (worker) {
    // The channel must not keep this process alive; a parent that dies closes it: stop then.
    (process.channel as { unref?: () => void } | undefined)?.unref?.();
    process.once('disconnect', () => controller.abort());
  }
  try {
    let last = 0;
    const { file } = await runShard(config, shard, {
      ...options,
      ...(options.threads === undefined ? {} : { threads: options.threads }),
      signal: controller.signal,
      onProgress: (done, total) => {
        if (!worker || !process.connected) return;
        const now = Date.now();
        if (now - last < 200 && done < total) return;
        last = now;
        process.send!({ type: 'progress', done, total } satisfies WorkerMessage);
      },
    });
    process.stdout.write(`shard: ${file}\n`);
    return 0;
  } catch (err) {
    if (!(err instanceof AbortError)) throw err;
    process.stderr.write(`medrobust run: shard ${shard.index}/${shard.count} stopped before it finished (a shard is saved whole or not at all): rerun the same command to redo it.\n`);
    return 130;
  } finally {
    process.off('SIGINT', onSigint);
  }
}

interface WorkersOptions {
  out: string;
  evaluations: EvaluationName[];
  quiet: boolean;
  policy: ChangedConfigPolicy;
  forward: string[];
  workers: number;
  threads: number;
  note: string;
}

interface Child {
  shard: Shard;
  proc: ChildProcess;
  done: number;
  total: number;
  stderr: string[];
  exit: Promise<number>;
  code: number | undefined;
}

/** `run --workers N`: train, run N shard processes, merge. */
async function runWorkers(config: ExperimentConfig, options: WorkersOptions): Promise<number> {
  const { workers: n, threads } = options;
  const progress = progressLine(process.stderr, options.quiet);
  const controller = new AbortController();
  const children: Child[] = [];
  let interrupted = false;
  const stopAll = (signal: NodeJS.Signals) => {
    for (const c of children) if (c.code === undefined && c.proc.pid !== undefined) { try { process.kill(c.proc.pid, signal); } catch { /* already gone */ } }
  };
  const onSigint = () => {
    if (interrupted) {
      process.stderr.write('\nmedrobust: interrupted again: killing the workers and exiting now.\n');
      stopAll('SIGKILL');
      process.exit(130);
    }
    interrupted = true;
    process.stderr.write(`\nmedrobust: interrupted: stopping ${children.length ? `the ${children.length} workers` : 'the training'} (Ctrl-C again to exit at once); finished shard files are kept, rerun the same command to resume.\n`);
    controller.abort();
    stopAll('SIGINT');
  };
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigint);
  try {
    await ensureTrained(config, { out: options.out, signal: controller.signal, quiet: options.quiet, onChangedConfig: options.policy });
    const folder = shardFolder(options.out, config);
    const files: string[] = [];
    const started = performance.now();
    progress.end(`workers: ${n} shard processes × ${threads} backend threads (${machineCores()} cores)${options.note}; evaluating ${options.evaluations.join(', ')}`);
    const entry = cliEntry();
    for (let k = 0; k < n; k++) {
      const shard = { index: k, count: n };
      files.push(join(folder, shardFileName(shard)));
      const args = ['run', ...options.forward, '--shard', `${k}/${n}`, '--threads', String(threads), '--evaluations', options.evaluations.join(','), '--quiet', ...(options.policy === 'fresh' ? ['--fresh'] : [])];
      const proc = fork(entry.file, args, { execArgv: entry.execArgv, stdio: ['ignore', 'pipe', 'pipe', 'ipc'], detached: true, env: { ...process.env, MEDROBUST_WORKER: '1' } });
      const child: Child = { shard, proc, done: 0, total: 0, stderr: [], code: undefined, exit: Promise.resolve(0) };
      child.exit = new Promise<number>((resolveExit) => {
        proc.on('error', (err) => { child.stderr.push(err.message); });
        proc.on('close', (code, signal) => {
          child.code = code ?? (signal === 'SIGINT' ? 130 : 1);
          resolveExit(child.code);
        });
      });
      proc.stdout!.resume();
      proc.stderr!.setEncoding('utf8');
      proc.stderr!.on('data', (text: string) => {
        for (const line of text.split('\n')) if (line.trim()) child.stderr.push(line);
        if (child.stderr.length > 40) child.stderr.splice(0, child.stderr.length - 40);
      });
      proc.on('message', (m: WorkerMessage) => {
        if (m?.type !== 'progress') return;
        child.done = m.done;
        child.total = m.total;
        const finished = children.filter((c) => c.code === 0).length;
        progress.update(`evaluate (${n} workers)`, children.reduce((a, c) => a + c.done, 0), children.reduce((a, c) => a + c.total, 0), `${finished}/${n} shards finished`);
      });
      children.push(child);
    }
    // The first failure stops the others; then wait for every child.
    const failures: Child[] = [];
    await Promise.all(children.map(async (c) => {
      const code = await c.exit;
      if (code !== 0 && code !== 130 && !interrupted) {
        failures.push(c);
        stopAll('SIGINT');
      }
    }));
    if (failures.length > 0) {
      progress.end('workers: stopped');
      const c = failures[0]!;
      const reason = c.stderr.filter((l) => !/^={5,}|Hi, looks like|tfjs-node|^\s*$/.test(l)).at(-1) ?? 'no message';
      throw new UsageError(`worker for shard ${c.shard.index}/${n} failed (exit code ${c.code}): ${reason.replace(/^medrobust run: /, '')}`);
    }
    if (children.some((c) => c.code !== 0)) {
      process.stderr.write(`medrobust: ${children.filter((c) => c.code === 0).length} of ${n} shards finished; rerun the same command to run the rest.\n`);
      return 130;
    }
    const wall = (performance.now() - started) / 1000;
    const seconds: number[] = [];
    for (const f of files) seconds.push(Number(((await readShardResult(f)).environment as { seconds?: number } | undefined)?.seconds ?? Number.NaN));
    progress.end(`workers: ${n} shards in ${wall.toFixed(1)} s wall (shard times ${seconds.map((s) => s.toFixed(1)).join(', ')} s)`);
    const merged = await mergeShardFiles(files);
    process.stdout.write(`${merged.text}\nmerged: ${merged.json}\nsummary: ${merged.markdown}\n`);
    return 0;
  } finally {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigint);
  }
}

/** `medrobust merge <shard files or folders...> [--out base]`: returns the exit code. */
export async function mergeCommand(values: Record<string, unknown>, positionals: readonly string[]): Promise<number> {
  if (positionals.length === 0) throw new UsageError('merge needs shard files or folders (e.g. runs/demo/shards); see medrobust merge --help');
  for (const p of positionals) if (!existsSync(p)) throw new UsageError(`${p} does not exist`);
  const out = values.out === undefined ? undefined : String(values.out).replace(/\.(json|md)$/, '');
  const merged = await mergeShardFiles(positionals, out);
  process.stdout.write(`${merged.text}\nmerged: ${merged.json}\nsummary: ${merged.markdown}\n`);
  return 0;
}
