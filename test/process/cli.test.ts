/**
 * `medrobust run` as a child process, the way users run it: it exits 0 by itself; one SIGINT mid-run
 * makes it save a checkpoint and exit 130, and a rerun resumes to the same results as an uninterrupted
 * run; after kill -9 a rerun also finishes with the same results (the tiny config trains with SGD, so
 * "the same" is bit for bit, model weights included). User errors are one line with exit code 2.
 * MEDROBUST_SLOW=1 adds kill -9 at random moments, several times over one run.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileCheckpoint } from '../../src/node/fileCheckpoint.js';
import { cli, expectOneLine, expectSameResults, repo, slow, stageDone, start, waitFor } from './helpers.js';

const root = mkdtempSync(join(tmpdir(), 'medrobust-process-cli-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Both tasks and every stage, small; SGD so that resuming is bit-exact. */
const TINY_SGD = {
  name: 'tiny',
  seed: 5,
  backend: 'wasm',
  data: { size: 16, train: 96, validation: 32, test: 48 },
  model: { width: 0.25, epochs: 3, batchSize: 16, learningRate: 0.05, optimizer: 'sgd' },
  attacks: { epsilons: [2, 8], pgdSteps: 3, gapMagnitudes: [8], gapEpochs: 1, evalBatch: 48 },
  analyses: { points: 32, perplexity: 8, tsneIterations: 260 },
  defenses: { methods: ['pgd-at', 'maadvt'], tasks: ['lesion'], epsilon: 4, steps: 2, epochs: 2, learningRate: 0.02, optimizer: 'sgd', train: 64, evalEpsilons: [4] },
};
const config = join(root, 'tiny-sgd.json');
const run = (out: string) => ['run', '--config', config, '--out', join(root, out), '--quiet'];
const folder = (out: string) => join(root, out, 'tiny');
let referenceSeconds = 30;

beforeAll(() => writeFileSync(config, JSON.stringify(TINY_SGD, null, 1)));

describe('medrobust run in a child process', () => {
  it('exits 0 by itself and prints the report path', async () => {
    const r = await cli(run('reference')).exit;
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`report: ${join(folder('reference'), 'report.md')}\n`);
    expect(existsSync(join(folder('reference'), 'run.lock'))).toBe(false);
    referenceSeconds = r.seconds;
  });

  it('one SIGINT mid-training: saves a checkpoint, exits 130; the rerun resumes to the same results', async () => {
    const dir = folder('sigint');
    const ckpt = join(dir, 'checkpoints', 'lesion-clean.ckpt');
    const running = cli(run('sigint'));
    await waitFor(() => existsSync(ckpt), running, 'the first epoch checkpoint');
    running.child.kill('SIGINT');
    const r = await running.exit;
    expect(r.code, r.stderr).toBe(130);
    expect(r.stderr).toMatch(/medrobust: interrupted: saving a checkpoint at the next batch/);
    expect(r.stderr).toMatch(/medrobust run: stopped; finished stages and the checkpoint are saved: rerun the same command to resume\.\n$/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    // The checkpoint is intact: it loads, and it is the mid-epoch state written at the abort.
    const saved = (await fileCheckpoint<{ format: string; epoch: number; batch: number }>(ckpt).load())!;
    expect(saved.format).toBe('medrobust.training/1');
    expect(saved.epoch).toBeGreaterThanOrEqual(1);
    expect(JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')).partialSeconds['train.lesion']).toBeGreaterThan(0);
    expect(existsSync(join(dir, 'run.lock'))).toBe(false);
    const again = await cli(run('sigint')).exit;
    expect(again.code, again.stderr).toBe(0);
    const state = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8'));
    expect(state.stages['train.lesion'].value.resumedFrom).toEqual({ epoch: saved.epoch, batch: saved.batch });
    expectSameResults(dir, folder('reference'));
  });

  it('kill -9 mid-run, then a rerun: finishes with the same results (the stale lock is taken over)', async () => {
    const dir = folder('kill');
    const running = cli(run('kill'));
    await waitFor(() => stageDone(dir, 'attack.lesion'), running, 'the lesion attacks to finish');
    running.child.kill('SIGKILL');
    const r = await running.exit;
    expect(r.signal).toBe('SIGKILL');
    expect(existsSync(join(dir, 'run.lock'))).toBe(true);
    const again = await cli(run('kill')).exit;
    expect(again.code, again.stderr).toBe(0);
    expectSameResults(dir, folder('reference'));
  });

  it('a run folder in use by a live process is refused in one line', async () => {
    const dir = folder('busy');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'run.lock'), String(process.pid)); // this test runner: alive
    const r = await cli(run('busy')).exit;
    expect(r.code).toBe(2);
    expectOneLine(r.stderr);
    expect(r.stderr).toMatch(new RegExp(`run folder .*busy/tiny is in use by process ${process.pid}; wait for it to finish, or pick another --name`));
  });

  it('user errors print one line without a stack trace and exit 2', async () => {
    const bad = join(root, 'bad.json');
    writeFileSync(bad, JSON.stringify({ ...TINY_SGD, model: { ...TINY_SGD.model, epochs: 2.5 } }));
    for (const [args, message] of [
      [['run', '--bakend', 'cpu'], /unknown option '--bakend'; did you mean '--backend'\?/],
      [['run', '--config', bad], /bad.json:1:\d+: model.epochs must be a finite integer >= 1, received 2.5/],
    ] as const) {
      const r = await cli(args).exit;
      expect(r.code, r.stderr).toBe(2);
      expectOneLine(r.stderr);
      expect(r.stderr).toMatch(message);
    }
  });

  it('the built command (dist/cli/bin.js) prints its version', async (ctx) => {
    const built = join(repo, 'dist', 'cli', 'bin.js');
    if (!existsSync(built)) ctx.skip('dist/ is not built (npm run build; npm test builds it first)');
    const r = await start(process.execPath, [built, '--version'], { timeoutMs: 30_000 }).exit;
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')).version}\n`);
  });

  it.runIf(slow)('kill -9 at four random moments of one run, rerunning after each: the same results', async () => {
    const dir = folder('random-kills');
    let seed = 12345;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let k = 0; k < 4; k++) {
      const running = cli(run('random-kills'));
      const delay = 1500 + random() * Math.max(1000, referenceSeconds * 1000 * 0.6);
      const timer = setTimeout(() => running.child.kill('SIGKILL'), delay);
      const r = await running.exit;
      clearTimeout(timer);
      if (r.code === 0) break; // finished before the kill
      expect(r.signal).toBe('SIGKILL');
    }
    const last = await cli(run('random-kills')).exit;
    expect(last.code, last.stderr).toBe(0);
    expectSameResults(dir, folder('reference'));
  }, 600_000);

  it.runIf(slow)('one SIGINT in each stage (GAP, t-SNE, defense training, evaluation): exit 130, then the same results', async () => {
    const dir = folder('sigint-stages');
    const points = [
      () => existsSync(join(dir, 'models', 'lesion-clean', 'model.json')),
      () => stageDone(dir, 'attack.lesion'),
      () => stageDone(dir, 'defend.lesion.none'),
      () => stageDone(dir, 'defend.lesion.pgd-at.train'),
      () => stageDone(dir, 'train.chest'),
    ];
    for (const point of points) {
      const running = cli(run('sigint-stages'));
      await waitFor(point, running, 'the stage');
      running.child.kill('SIGINT');
      const r = await running.exit;
      expect([0, 130]).toContain(r.code);
    }
    const last = await cli(run('sigint-stages')).exit;
    expect(last.code, last.stderr).toBe(0);
    expectSameResults(dir, folder('reference'));
  }, 600_000);
});
