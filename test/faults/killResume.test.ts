/**
 * kill -9 at random points of a trainGap run (test/faults/gapChild.ts, cpu, tiny generator), then
 * resume: after any number of kills the final generator weights are bit-identical to those of an
 * uninterrupted run, the checkpoint on disk always loads (never half-written), its epoch count never
 * goes back, and no temporary file is left once a run completes.
 */
import { spawn, spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TrainGapState } from '../../src/attacks/gapCheckpoint.js';
import { tensorToNpy } from '../../src/data/npyTensor.js';
import { fileCheckpoint } from '../../src/node/fileCheckpoint.js';
import { saveModel } from '../../src/node/modelFiles.js';
import { loadNpz, saveNpz } from '../../src/node/npzFiles.js';
import { useTestBackend } from '../helpers/backends.js';
import { trainedClassifier } from '../helpers/gapFixtures.js';

const child = fileURLToPath(new URL('./gapChild.ts', import.meta.url));
// tsx's loader inside the one process (not its CLI, which runs the script in a second process that a
// kill of the first would orphan).
const loader = new URL('../../node_modules/tsx/dist/loader.mjs', import.meta.url).href;
const args = (ckpt: string, out: string): string[] => ['--import', loader, child, dir, ckpt, out, String(EPOCHS)];
const EPOCHS = 10;
const SLOW = Boolean(process.env.MEDROBUST_SLOW);
const KILLS = SLOW ? 12 : 4;

let dir: string;
beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'medrobust-kill-'));
  await useTestBackend('cpu');
  const clf = trainedClassifier('single-label', 16);
  await saveModel(clf.net, path.join(dir, 'classifier'));
  await saveNpz(path.join(dir, 'images.npz'), { images: await tensorToNpy(clf.images) });
  clf.dispose();
});
afterAll(async () => { await fs.rm(dir, { recursive: true, force: true }); });

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Runs the child to completion; returns its stdout. */
function runToEnd(ckpt: string, out: string): string {
  const r = spawnSync(process.execPath, args(ckpt, out), { encoding: 'utf8', timeout: 240_000 });
  if (r.status !== 0) throw new Error(`gapChild exited ${r.status} ${r.signal ?? ''}: ${r.stderr.slice(-2000)}`);
  return r.stdout;
}

/**
 * Starts the child and SIGKILLs it `delayMs` after it prints `epoch <afterEpoch>` (or after it starts
 * training when afterEpoch is 0). Resolves to what it printed; also when it finished before the kill.
 */
function runAndKill(ckpt: string, out: string, afterEpoch: number, delayMs: number): Promise<{ stdout: string; killed: boolean }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, args(ckpt, out), { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let armed = false;
    const arm = (): void => {
      if (armed) return;
      armed = true;
      setTimeout(() => p.kill('SIGKILL'), delayMs);
    };
    p.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      const started = /start (\d+)/.exec(stdout);
      const epochs = [...stdout.matchAll(/epoch (\d+)/g)].map((m) => Number(m[1]));
      if (started && Number(started[1]) >= afterEpoch) arm();
      if (epochs.some((e) => e >= afterEpoch)) arm();
    });
    p.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    p.on('error', reject);
    p.on('exit', (code, signal) => {
      if (signal === 'SIGKILL') resolve({ stdout, killed: true });
      else if (code === 0) resolve({ stdout, killed: false });
      else reject(new Error(`gapChild exited ${code}: ${stderr.slice(-2000)}`));
    });
  });
}

async function weights(file: string): Promise<Float32Array[]> {
  const arrays = await loadNpz(file);
  return Object.keys(arrays).sort((a, b) => Number(a.slice(1)) - Number(b.slice(1))).map((k) => arrays[k]!.data as Float32Array);
}

describe('kill -9 and resume of trainGap (issue 15)', () => {
  it(`${KILLS} kills at random points, then resume: bit-identical final generator weights`, async () => {
    const reference = path.join(dir, 'reference.npz');
    expect(runToEnd(path.join(dir, 'reference.ckpt'), reference)).toContain('done resumedFrom=0');
    const expected = await weights(reference);

    const ckpt = path.join(dir, 'killed', 'run.ckpt');
    await fs.mkdir(path.dirname(ckpt), { recursive: true });
    const out = path.join(dir, 'killed.npz');
    const store = fileCheckpoint<TrainGapState>(ckpt);
    const r = rng(20240);
    let lastDone = 0;
    let kills = 0;
    const log: string[] = [];
    for (let k = 0; k < KILLS; k++) {
      // Kill during start-up or after a random epoch, at a random moment within about one epoch.
      const afterEpoch = Math.min(EPOCHS - 1, lastDone + Math.floor(r() * 3));
      const delay = Math.floor(r() * 120);
      const { killed, stdout } = await runAndKill(ckpt, out, afterEpoch, delay);
      if (killed) kills++;
      const state = await store.load(); // never a half-written file: loads, or is absent
      const done = state?.epochsDone ?? 0;
      log.push(`${killed ? 'killed' : 'finished'} ${delay} ms after epoch ${afterEpoch} (printed: ${stdout.trim().split('\n').join(', ')}; checkpoint at ${done})`);
      expect(done, 'the checkpoint went back in time').toBeGreaterThanOrEqual(lastDone);
      lastDone = done;
      if (!killed) break; // it finished first
    }
    console.log(`kill -9 schedule:\n${log.join('\n')}`);
    expect(kills).toBeGreaterThan(0);
    const final = runToEnd(ckpt, out);
    expect(final).toMatch(/done resumedFrom=\d+/);
    const got = await weights(out);
    expect(got.length).toBe(expected.length);
    got.forEach((w, i) => expect(Buffer.from(w.buffer).equals(Buffer.from(expected[i]!.buffer)), `weight ${i} differs`).toBe(true));
    expect((await fs.readdir(path.dirname(ckpt))).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  }, SLOW ? 900_000 : 300_000);
});
