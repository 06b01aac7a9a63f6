/**
 * The run folder's state: stages recorded with the hash of their inputs and the time of the run that
 * computed them; a changed config is refused, started over (fresh) or partly redone (redo-changed); an
 * interrupted stage's time is kept; the folder lock.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { lockRunFolder, RunState, type RunStateOptions } from '../../src/cli/runState.js';
import { UsageError } from '../../src/cli/usageError.js';

const root = mkdtempSync(join(tmpdir(), 'medrobust-runstate-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const folder = () => { const d = join(root, `run${n++}`); mkdirSync(d); return d; };

/** A config { a, b }: stage 'one' depends on a, stage 'two' on a and b; 'one' leaves a checkpoint and a model. */
const options = (config: { a: number; b: number }, extra: Partial<RunStateOptions> = {}): RunStateOptions => ({
  config,
  hashFor: (key) => (key === 'one' ? `a${config.a}` : key === 'two' ? `a${config.a}b${config.b}` : undefined),
  artifactsOf: (key) => (key === 'one' ? ['checkpoints/one.ckpt', 'models/one'] : []),
  backend: 'cpu',
  ...extra,
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function finishBoth(dir: string, config: { a: number; b: number }) {
  const state = new RunState(dir, options(config));
  await state.save();
  await state.once('one', async () => { mkdirSync(join(dir, 'models', 'one'), { recursive: true }); await sleep(30); return 'one-result'; });
  await state.once('two', async () => 'two-result');
  return state;
}

describe('RunState', () => {
  it('reuses finished stages, keeping the time of the run that computed them', async () => {
    const dir = folder();
    const first = await finishBoth(dir, { a: 1, b: 1 });
    const seconds = first.timings()[0]!.seconds;
    expect(seconds).toBeGreaterThanOrEqual(0.025);
    const again = new RunState(dir, options({ a: 1, b: 1 }));
    let ran = false;
    expect(await again.once('one', async () => { ran = true; return 'x'; })).toBe('one-result');
    expect(ran).toBe(false);
    expect(again.timings()).toEqual([{ step: 'one', seconds, backend: 'cpu', computed: 'earlier run' }]);
  });

  it('refuses a changed config, naming each change, and leaves the folder as it was', async () => {
    const dir = folder();
    await finishBoth(dir, { a: 1, b: 1 });
    const before = readFileSync(join(dir, 'state.json'), 'utf8');
    expect(() => new RunState(dir, options({ a: 2, b: 1 }))).toThrow(UsageError);
    expect(() => new RunState(dir, options({ a: 2, b: 3 }))).toThrow(/holds results of a different config \(a 1 → 2; b 1 → 3\): rerun with --redo-changed/);
    expect(readFileSync(join(dir, 'state.json'), 'utf8')).toBe(before);
  });

  it('redo-changed keeps the stages whose inputs are unchanged and drops the others with their artifacts and all checkpoints', async () => {
    const dir = folder();
    await finishBoth(dir, { a: 1, b: 1 });
    mkdirSync(join(dir, 'checkpoints'));
    writeFileSync(join(dir, 'checkpoints', 'three.ckpt'), 'an unfinished stage of the old config');
    const onlyB = new RunState(dir, options({ a: 1, b: 2 }, { onChangedConfig: 'redo-changed' }));
    expect(onlyB.has('one')).toBe(true);
    expect(onlyB.has('two')).toBe(false);
    expect(existsSync(join(dir, 'models', 'one'))).toBe(true);
    expect(existsSync(join(dir, 'checkpoints'))).toBe(false);
    await onlyB.save();
    const bothChanged = new RunState(dir, options({ a: 5, b: 2 }, { onChangedConfig: 'redo-changed' }));
    expect(bothChanged.has('one')).toBe(false);
    expect(existsSync(join(dir, 'models', 'one'))).toBe(false);
  });

  it('fresh starts over even with the same config, and from a damaged state.json', async () => {
    const dir = folder();
    await finishBoth(dir, { a: 1, b: 1 });
    writeFileSync(join(dir, 'notes.txt'), 'the user\'s own file');
    const fresh = new RunState(dir, options({ a: 1, b: 1 }, { onChangedConfig: 'fresh' }));
    expect(fresh.has('one')).toBe(false);
    expect(existsSync(join(dir, 'state.json'))).toBe(false);
    expect(existsSync(join(dir, 'models'))).toBe(false);
    expect(existsSync(join(dir, 'notes.txt'))).toBe(true);
    writeFileSync(join(dir, 'state.json'), '{ "format": "medrobust-run/2", "config": ');
    expect(() => new RunState(dir, options({ a: 1, b: 1 }))).toThrow(/state.json is not valid JSON .*--fresh/);
    expect(new RunState(dir, options({ a: 1, b: 1 }, { onChangedConfig: 'fresh' })).has('one')).toBe(false);
  });

  it('a state.json of the older format is refused, and --redo-changed or --fresh start over', () => {
    const dir = folder();
    writeFileSync(join(dir, 'state.json'), JSON.stringify({ 'train.lesion': { epochs: 3 } }));
    expect(() => new RunState(dir, options({ a: 1, b: 1 }))).toThrow(/made by an older medrobust that did not record its config/);
    expect(new RunState(dir, options({ a: 1, b: 1 }, { onChangedConfig: 'redo-changed' })).has('one')).toBe(false);
    expect(existsSync(join(dir, 'state.json'))).toBe(false);
  });

  it('an interrupted stage keeps its time and adds it when a later run finishes it', async () => {
    const dir = folder();
    const state = new RunState(dir, options({ a: 1, b: 1 }));
    await expect(state.once('one', async () => { await sleep(40); throw new Error('interrupted'); })).rejects.toThrow('interrupted');
    const partial = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')).partialSeconds.one;
    expect(partial).toBeGreaterThanOrEqual(0.035);
    const resumed = new RunState(dir, options({ a: 1, b: 1 }));
    await resumed.once('one', async () => 'done');
    const [row] = resumed.timings();
    expect(row!.seconds).toBeGreaterThanOrEqual(partial);
    expect(row!.computed).toBe('this run (resumed)');
    expect(JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')).partialSeconds).toEqual({});
  });
});

describe('lockRunFolder', () => {
  it('holds the folder; a live holder is refused; a dead holder\'s lock is taken over', () => {
    const dir = folder();
    const unlock = lockRunFolder(dir);
    expect(readFileSync(join(dir, 'run.lock'), 'utf8')).toBe(String(process.pid));
    unlock();
    expect(existsSync(join(dir, 'run.lock'))).toBe(false);
    writeFileSync(join(dir, 'run.lock'), String(process.ppid)); // alive: the process that started this one
    expect(() => lockRunFolder(dir)).toThrow(new RegExp(`in use by process ${process.ppid}`));
    writeFileSync(join(dir, 'run.lock'), '2147483646'); // no such process
    lockRunFolder(dir)();
  });
});
