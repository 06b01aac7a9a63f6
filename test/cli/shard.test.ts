/**
 * The command line's sharding options, in process: --shard with the schedulers' variables, --workers
 * sizing, --evaluations/--threads, and the one-line usage errors (exit 2) before any work.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { planWorkers, wantsSharding } from '../../src/cli/cluster.js';
import { main } from '../../src/cli/main.js';
import { parseEvaluations, parseThreads, resolveShard } from '../../src/cli/shard.js';
import { UsageError } from '../../src/cli/usageError.js';

const root = mkdtempSync(join(tmpdir(), 'medrobust-shard-cli-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('--shard', () => {
  it('i/n explicitly, whatever the environment says', () => {
    expect(resolveShard('3/8', {})).toEqual({ index: 3, count: 8 });
    expect(resolveShard('0/1', { JOB_COMPLETION_INDEX: '5' })).toEqual({ index: 0, count: 1 });
    expect(resolveShard(undefined, { JOB_COMPLETION_INDEX: '5' })).toBeUndefined();
  });

  it('auto from a Kubernetes Indexed Job: JOB_COMPLETION_INDEX and MEDROBUST_SHARD_COUNT', () => {
    expect(resolveShard('auto', { JOB_COMPLETION_INDEX: '2', MEDROBUST_SHARD_COUNT: '4' })).toEqual({ index: 2, count: 4 });
    expect(resolveShard('auto/4', { JOB_COMPLETION_INDEX: '3' })).toEqual({ index: 3, count: 4 });
    expect(() => resolveShard('auto', { JOB_COMPLETION_INDEX: '2' })).toThrow(/takes the shard count from MEDROBUST_SHARD_COUNT, which is not set.*completions/);
    expect(() => resolveShard('auto/4', { JOB_COMPLETION_INDEX: '4' })).toThrow(/the index must be below the count/);
  });

  it('auto from a Slurm job array (0-based): ID, and COUNT for a whole array; a resubmitted task gives the count', () => {
    const array = { SLURM_ARRAY_TASK_MIN: '0', SLURM_ARRAY_TASK_MAX: '7', SLURM_ARRAY_TASK_COUNT: '8', SLURM_ARRAY_TASK_STEP: '1' };
    expect(resolveShard('auto', { ...array, SLURM_ARRAY_TASK_ID: '5' })).toEqual({ index: 5, count: 8 });
    expect(resolveShard('auto/8', { SLURM_ARRAY_TASK_ID: '5', SLURM_ARRAY_TASK_MIN: '5', SLURM_ARRAY_TASK_MAX: '5', SLURM_ARRAY_TASK_COUNT: '1' })).toEqual({ index: 5, count: 8 });
    expect(() => resolveShard('auto', { SLURM_ARRAY_TASK_ID: '5', SLURM_ARRAY_TASK_MIN: '5', SLURM_ARRAY_TASK_MAX: '5', SLURM_ARRAY_TASK_COUNT: '1' })).toThrow(/whole 0-based Slurm array .* runs 5-5; give the count: --shard auto\/n/);
    expect(() => resolveShard('auto', { SLURM_ARRAY_TASK_ID: '4', SLURM_ARRAY_TASK_MIN: '0', SLURM_ARRAY_TASK_MAX: '14', SLURM_ARRAY_TASK_COUNT: '8', SLURM_ARRAY_TASK_STEP: '2' })).toThrow(/runs 0-14:2/);
    expect(() => resolveShard('auto', { SLURM_ARRAY_TASK_ID: '8', SLURM_ARRAY_TASK_MIN: '1', SLURM_ARRAY_TASK_MAX: '8', SLURM_ARRAY_TASK_COUNT: '8' })).toThrow(/0-based/);
    expect(() => resolveShard('auto/8', { SLURM_ARRAY_TASK_ID: '8' })).toThrow(/the index must be below the count/);
  });

  it('refuses what it cannot read, naming the variables', () => {
    for (const [value, env, message] of [
      ['3', {}, /--shard must be i\/n/],
      ['1/2/3', {}, /--shard must be i\/n/],
      ['a/2', {}, /whole-number index/],
      ['2/2', {}, /the index must be below the count .*0\/2 … 1\/2/],
      ['0/0', {}, /shard count n ≥ 1/],
      ['auto', {}, /from JOB_COMPLETION_INDEX \(Kubernetes Indexed Job\) or SLURM_ARRAY_TASK_ID \(Slurm job array\), and neither is set/],
      ['auto', { JOB_COMPLETION_INDEX: 'x' }, /JOB_COMPLETION_INDEX must be a whole number, received 'x'/],
      ['auto/4', { JOB_COMPLETION_INDEX: '1', SLURM_ARRAY_TASK_ID: '2' }, /disagree/],
    ] as const) {
      expect(() => resolveShard(value, env), value).toThrow(UsageError);
      expect(() => resolveShard(value, env), value).toThrow(message);
    }
  });
});

describe('--workers, --threads, --evaluations', () => {
  it('N × threads from the cores', () => {
    expect(planWorkers('2', undefined, 2)).toMatchObject({ workers: 2, threads: 1, note: '' });
    expect(planWorkers('1', undefined, 8)).toMatchObject({ workers: 1, threads: 8 });
    expect(planWorkers('3', undefined, 8)).toMatchObject({ workers: 3, threads: 2 });
    expect(planWorkers('auto', undefined, 16)).toMatchObject({ workers: 16, threads: 1 });
    expect(planWorkers('4', undefined, 2).note).toMatch(/4 × 1 threads exceed the 2 cores/);
    expect(planWorkers('2', 4, 2)).toMatchObject({ workers: 2, threads: 4 });
    expect(() => planWorkers('0', undefined, 2)).toThrow(/--workers must be a whole number from 1 to 256 or auto/);
    expect(() => planWorkers('two', undefined, 2)).toThrow(UsageError);
  });

  it('evaluations and threads are checked, and only with --shard or --workers', () => {
    expect(parseEvaluations(undefined)).toEqual(['robustness']);
    expect(parseEvaluations('perturbations,robustness')).toEqual(['robustness', 'perturbations']);
    expect(() => parseEvaluations('robustness,fog')).toThrow(/'fog' is not one of robustness, corruptions, perturbations/);
    expect(() => parseEvaluations('robustness,robustness')).toThrow(/twice/);
    expect(parseThreads('4')).toBe(4);
    expect(() => parseThreads('9')).toThrow(/--threads must be a whole number from 1 to 8/);
    expect(wantsSharding({ shard: '0/2' })).toBe(true);
    expect(wantsSharding({})).toBe(false);
    expect(() => wantsSharding({ threads: '2' })).toThrow(/--threads applies with --shard or --workers/);
  });
});

describe('the command line refuses bad sharding calls in one line (exit 2) before any work', () => {
  let err: string[];
  beforeEach(() => {
    err = [];
    vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    vi.spyOn(process.stderr, 'write').mockImplementation((s) => { err.push(String(s)); return true; });
  });
  afterEach(() => vi.restoreAllMocks());

  it.each([
    [['run', '--shard', '2/2'], /^medrobust run: --shard 2\/2: the index must be below the count/],
    [['run', '--shard', '0/2', '--workers', '2'], /^medrobust run: --shard and --workers exclude each other/],
    [['run', '--evaluations', 'robustness'], /^medrobust run: --evaluations applies with --shard or --workers/],
    [['run', '--workers', '2', '--evaluations', 'fog'], /^medrobust run: --evaluations: 'fog' is not one of/],
    [['train', '--shard', '0/2'], /^medrobust train: unknown option '--shard'/],
    [['merge'], /^medrobust merge: merge needs shard files or folders/],
    [['merge', join(root, 'nothing-here')], /^medrobust merge: .*nothing-here does not exist/],
  ])('%j', async (argv, message) => {
    expect(await main(argv)).toBe(2);
    const text = err.join('');
    expect(text).toMatch(message);
    expect(text.trim().split('\n')).toHaveLength(1);
  });

  it('a shard without trained models names the command that trains them', async () => {
    const config = join(root, 'c.json');
    writeFileSync(config, JSON.stringify({ name: 'untrained', backend: 'cpu' }));
    expect(await main(['run', '--config', config, '--out', root, '--shard', '1/4'])).toBe(2);
    expect(err.join('')).toMatch(/^medrobust run: shard 1\/4: run folder .*untrained has no trained lesion model; .*train first: medrobust train with the same --config and --name/);
  });

  it('merge --help and run --help describe the options', async () => {
    const out: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((s) => { out.push(String(s)); return true; });
    expect(await main(['merge', '--help'])).toBe(0);
    expect(await main(['run', '--help'])).toBe(0);
    const text = out.join('');
    expect(text).toMatch(/usage: medrobust merge <shard files or folders...>/);
    expect(text).toMatch(/--shard <i\/n\|auto>/);
    expect(text).toMatch(/--workers <N\|auto>/);
  });
});
