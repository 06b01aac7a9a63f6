/**
 * docs/guides/cluster.md as written, run as local processes: the Kubernetes manifests' commands (the
 * Indexed Job's pods with JOB_COMPLETION_INDEX set as Kubernetes sets it, all at once) and the Slurm
 * recipe (the submission lines run by bash, with an `sbatch` stand-in that runs the array's tasks at
 * once with the SLURM_ARRAY_* variables); then `run --workers 2` and `run --shard 0/1`. All merged results
 * must be equal bit for bit (3, 4, 2 and 1 shards of the same evaluation). Ctrl-C on --workers stops every worker
 * (exit 130, no process left) and the rerun finishes only the missing shards. `merge` refuses a missing,
 * duplicated or differently configured shard in one line (exit 1).
 *
 * Default: `run --workers 2` against `run --shard 0/1` (merged in process). MEDROBUST_SLOW=1 adds the
 * guide's Kubernetes and Slurm recipes, the merge refusals and Ctrl-C (about 3 minutes more on a loaded
 * 2-core machine; the refusals' typed errors are also tested in process in test/node/shardFiles.test.ts).
 */
import { spawn } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mergeResults } from '../../src/node/shardFiles.js';
import { bin, cli, repo, slow, start, waitFor, type Exit } from './helpers.js';

const root = mkdtempSync(join(tmpdir(), 'medrobust-cluster-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Both tasks, tiny; `name` matches the guide's paths (runs/experiment/shards). */
const CONFIG = {
  name: 'experiment',
  seed: 11,
  backend: 'wasm',
  data: { size: 16, train: 32, validation: 8, test: 8 },
  model: { width: 0.25, epochs: 1, batchSize: 16, learningRate: 0.05, optimizer: 'sgd' },
  attacks: { epsilons: [4], pgdSteps: 2, gapMagnitudes: [], evalBatch: 4 },
  defenses: { methods: [] },
};
const configFile = join(root, 'experiment.json');
const guide = readFileSync(join(repo, 'docs', 'guides', 'cluster.md'), 'utf8');

/** The first fenced block of `lang` after `marker` in the guide. */
function blockAfter(marker: string, lang: string): string {
  const at = guide.indexOf(marker);
  expect(at, marker).toBeGreaterThanOrEqual(0);
  const m = new RegExp('```' + lang + '\\n([\\s\\S]*?)```').exec(guide.slice(at));
  expect(m, `${lang} block after ${marker}`).not.toBeNull();
  return m![1]!;
}

/** A folder with `medrobust` (the CLI from source) and the `sbatch` stand-in, for PATH. */
function fakeBin(): string {
  const dir = join(root, 'bin');
  mkdirSync(dir, { recursive: true });
  const tsx = pathToFileURL(join(repo, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;
  writeFileSync(join(dir, 'medrobust'), `#!/bin/sh\nexec "${process.execPath}" --import "${tsx}" "${bin}" "$@"\n`);
  // sbatch: --wrap runs the command; a script runs its #SBATCH --array tasks at once, each with the
  // variables Slurm sets; --parsable prints a job id. Dependencies hold because it runs synchronously.
  writeFileSync(join(dir, 'sbatch'), `#!/bin/bash
set -u
parsable=0; cpus=1; wrap=""; script=""
for a in "$@"; do
  case "$a" in
    --parsable) parsable=1 ;;
    --cpus-per-task=*) cpus="\${a#*=}" ;;
    --wrap) ;;
    --dependency=*|--job-name=*|--time=*|--output=*) ;;
    -*) ;;
    *) if [ -n "\${prev_wrap:-}" ]; then wrap="$a"; else script="$a"; fi ;;
  esac
  if [ "$a" = "--wrap" ]; then prev_wrap=1; else prev_wrap=""; fi
done
id=$RANDOM
if [ -n "$wrap" ]; then
  SLURM_JOB_ID=$id SLURM_CPUS_PER_TASK=$cpus bash -c "$wrap" >&2 || exit 1
else
  range=$(sed -n 's/^#SBATCH --array=//p' "$script")
  cpus=$(sed -n 's/^#SBATCH --cpus-per-task=//p' "$script")
  lo=\${range%-*}; hi=\${range#*-}
  pids=()
  for ((t = lo; t <= hi; t++)); do
    SLURM_ARRAY_JOB_ID=$id SLURM_ARRAY_TASK_ID=$t SLURM_ARRAY_TASK_MIN=$lo SLURM_ARRAY_TASK_MAX=$hi SLURM_ARRAY_TASK_COUNT=$((hi - lo + 1)) SLURM_ARRAY_TASK_STEP=1 SLURM_CPUS_PER_TASK=$cpus bash "$script" >&2 &
    pids+=($!)
  done
  for p in "\${pids[@]}"; do wait "$p" || exit 1; done
fi
[ $parsable = 1 ] && echo $id
exit 0
`);
  chmodSync(join(dir, 'medrobust'), 0o755);
  chmodSync(join(dir, 'sbatch'), 0o755);
  return dir;
}

/** Runs a command in `cwd` (start() runs in the repository); resolves when it ends. */
function inFolder(cwd: string, command: string, args: string[], timeoutMs: number): Promise<Exit> {
  const t0 = performance.now();
  return new Promise<Exit>((resolve, reject) => {
    const child = spawn(command, args, { cwd, env: { ...process.env, PATH: path }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`${command} did not finish within ${timeoutMs / 1000} s\n${stderr.slice(-2000)}`)); }, timeoutMs);
    child.on('close', (code, signal) => { clearTimeout(timer); resolve({ code, signal, stdout, stderr, seconds: (performance.now() - t0) / 1000 }); });
  });
}

/** The merged results of a shards folder, as text (bit-for-bit comparable). */
function mergedResults(shards: string): string {
  return JSON.stringify((JSON.parse(readFileSync(join(shards, 'merged.json'), 'utf8')) as { results: unknown }).results);
}

async function expectExit(running: { exit: Promise<Exit> }, code: number): Promise<Exit> {
  const r = await running.exit;
  expect(r.code, `${r.stderr}\n${r.stdout}`).toBe(code);
  return r;
}

let path: string;
beforeAll(() => {
  writeFileSync(configFile, JSON.stringify(CONFIG, null, 1));
  path = `${fakeBin()}:${process.env.PATH}`;
});

const results: Record<string, string> = {};

describe('docs/guides/cluster.md, run as local processes', () => {
  it('run --workers 2 merges to the same results as --shard 0/1, bit for bit', async () => {
    const out = join(root, 'workers');
    const r = await expectExit(cli(['run', '--config', configFile, '--out', out, '--workers', '2', '--evaluations', 'robustness,corruptions']), 0);
    expect(r.stderr).toMatch(/workers: 2 shard processes × \d+ backend threads/);
    expect(r.stderr).toMatch(/workers: 2 shards in [\d.]+ s wall \(shard times [\d.]+, [\d.]+ s\)/);
    // one progress bar for both shards together (the first update is always printed)
    expect(r.stderr).toMatch(/evaluate \(2 workers\) \[[#.]{20}\] \d+\/\d+ .*\d\/2 shards finished/);
    expect(r.stdout).toMatch(/merged: .*merged\.json/);
    const workers = mergedResults(join(out, 'experiment', 'shards'));
    // one shard of one: no regrouping, the unsharded code path (merged here, in process)
    await expectExit(cli(['run', '--config', configFile, '--out', out, '--shard', '0/1', '--evaluations', 'robustness,corruptions', '--quiet']), 0);
    results.single = JSON.stringify((await mergeResults([join(out, 'experiment', 'shards', 'shard-0-of-1.json')])).results);
    expect(workers).toBe(results.single);
    const merged = JSON.parse(results.single) as Record<string, { samples: { total: number } }>;
    expect(Object.keys(merged)).toEqual(['lesion/robustness', 'lesion/corruptions', 'chest/robustness', 'chest/corruptions']);
    expect(merged['chest/robustness']!.samples.total).toBe(8);
  });

  it.runIf(slow)('merge refuses a missing and a duplicated shard in one line (exit 1)', async () => {
    const shards = join(root, 'workers', 'experiment', 'shards');
    const files = ['shard-0-of-2.json', 'shard-1-of-2.json'].map((f) => join(shards, f));
    const missing = await expectExit(cli(['merge', files[0]!]), 1);
    expect(missing.stderr).toMatch(/^medrobust merge: mergeResults: shard 1 of 2 is missing; run it \(--shard 1\/2\) and merge again\n$/);
    const twice = await expectExit(cli(['merge', ...files, files[1]!]), 1);
    expect(twice.stderr).toMatch(/^medrobust merge: mergeResults: shard 1 \(.*shard-1-of-2\.json, .*shard-1-of-2\.json\) of 2 is given more than once; pass each shard once\n$/);
  });

  it.runIf(slow)('the Kubernetes Jobs: train, the Indexed Job\'s pods at once, merge', async () => {
    const docs = blockAfter('### Kubernetes Indexed Job', 'yaml').split('\n---\n');
    expect(docs).toHaveLength(3);
    const shared = join(root, 'k8s');
    const commandOf = (doc: string): string[] => {
      const line = /command: (\[.*\])/.exec(doc);
      expect(line, doc).not.toBeNull();
      return (JSON.parse(line![1]!) as string[]).map((a) => a.replace('/config/experiment.json', configFile).replace('/shared/runs', join(shared, 'runs')));
    };
    const run = (doc: string, env: NodeJS.ProcessEnv = {}) => {
      const [command, ...args] = commandOf(doc);
      expect(command).toBe('medrobust');
      return start('medrobust', args, { timeoutMs: 240_000, env: { PATH: path, ...env } });
    };
    await expectExit(run(docs[0]!), 0);
    const indexed = docs[1]!;
    expect(indexed).toMatch(/completionMode: Indexed/);
    const completions = Number(/completions: (\d+)/.exec(indexed)![1]);
    const env = Object.fromEntries([...indexed.matchAll(/- \{ name: (\w+), value: "([^"]*)" \}/g)].map((m) => [m[1]!, m[2]!]));
    expect(env.MEDROBUST_SHARD_COUNT).toBe(String(completions));
    const pods = Array.from({ length: completions }, (_, i) => run(indexed, { ...env, JOB_COMPLETION_INDEX: String(i) }));
    for (const pod of pods) await expectExit(pod, 0);
    const merge = await expectExit(run(docs[2]!), 0);
    expect(merge.stdout).toMatch(/# medrobust: merged results of 3 shards/);
    expect(mergedResults(join(shared, 'runs', 'experiment', 'shards'))).toBe(results.single);
  });

  it.runIf(slow)('the Slurm recipe: the submission lines in bash, the array\'s tasks at once', async () => {
    const cwd = join(root, 'slurm');
    mkdirSync(cwd, { recursive: true });
    copyFileSync(configFile, join(cwd, 'experiment.json'));
    writeFileSync(join(cwd, 'evaluate.sbatch'), blockAfter('`evaluate.sbatch`, one array task per shard:', 'bash'));
    const submit = blockAfter('Submitted with the training before it and the merge after it:', 'bash');
    const r = await inFolder(cwd, 'bash', ['-euc', submit], 300_000);
    expect(r.code, r.stderr.slice(-3000)).toBe(0);
    const shards = join(cwd, 'runs', 'experiment', 'shards');
    expect(readdirSync(shards).filter((f) => /^shard-\d-of-4\.json$/.test(f))).toHaveLength(4);
    expect(mergedResults(shards)).toBe(results.single);
  });

  it.runIf(slow)('merge refuses a differently configured shard in one line (exit 1)', async () => {
    const shards = join(root, 'k8s', 'runs', 'experiment', 'shards');
    // shard 1 redone with other evaluations: its configuration differs
    await expectExit(cli(['run', '--config', configFile, '--out', join(root, 'k8s', 'runs'), '--shard', '1/3', '--quiet']), 0);
    const other = await expectExit(cli(['merge', shards]), 1);
    expect(other.stderr).toMatch(/^medrobust merge: mergeResults: shard 1\/3 \(.*shard-1-of-3\.json\) was made with a different configuration than shard 0\/3 \(.*\) \(config\.evaluations: \["robustness","corruptions"\] → \["robustness"\]/);
    expect(other.stderr.trim().split('\n')).toHaveLength(1);
  });
});

describe('run --workers and Ctrl-C', () => {
  it.runIf(slow)('one SIGINT stops every worker (exit 130, no process left); the rerun finishes only what is missing', async () => {
    const out = join(root, 'sigint');
    const args = ['run', '--config', configFile, '--out', out, '--workers', '2', '--evaluations', 'robustness,corruptions,perturbations'];
    // train first, so that the interruption lands in the evaluation
    await expectExit(cli(['train', '--config', configFile, '--out', out, '--quiet']), 0);
    const running = cli(args);
    let stderr = '';
    running.child.stderr!.on('data', (d) => { stderr += d; });
    await waitFor(() => /evaluate \(2 workers\)/.test(stderr), running, 'the workers\' progress');
    const children = childPids(running.child.pid!);
    expect(children).toHaveLength(2);
    running.child.kill('SIGINT');
    const r = await expectExit(running, 130);
    expect(r.stderr).toMatch(/medrobust: interrupted: stopping the 2 workers/);
    expect(r.stderr).toMatch(/of 2 shards finished; rerun the same command to run the rest/);
    for (const pid of children) expect(alive(pid), `worker ${pid}`).toBe(false);
    const shards = join(out, 'experiment', 'shards');
    const before = existsSync(shards) ? readdirSync(shards).filter((f) => f.endsWith('-of-2.json')).map((f) => [f, statSync(join(shards, f)).mtimeMs] as const) : [];
    const again = await expectExit(cli(args), 0);
    expect(again.stdout).toMatch(/merged results of 2 shards/);
    // finished shards were kept, not recomputed
    for (const [f, mtime] of before) expect(statSync(join(shards, f)).mtimeMs, f).toBe(mtime);
  });
});

/** The pids of a process's children (Linux /proc). */
function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(entry));
    } catch { /* gone */ }
  }
  return out;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
