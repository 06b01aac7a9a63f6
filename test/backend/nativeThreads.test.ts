/**
 * medrobust's kernels on 1 and 2 threads (threaded wasm in Node; the module's own worker threads): every
 * part of a kernel writes outputs of its own with the same arithmetic whatever the part count, so the
 * results are identical bit for bit, and a process that used the pool exits by itself.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { relaxedSimdSupported } from '../../src/backend/kernels/native.js';

const script = fileURLToPath(new URL('./fixtures/nativeThreads.ts', import.meta.url));
const tsx = fileURLToPath(new URL('../../node_modules/tsx/dist/cli.mjs', import.meta.url));

function run(threads: number, kernelThreads?: number): { threads: number; fma: boolean; hash: string } {
  const env = { ...process.env, MEDROBUST_KERNEL_THREADS: kernelThreads === undefined ? '' : String(kernelThreads) };
  const r = spawnSync(process.execPath, [tsx, script, String(threads)], { encoding: 'utf8', timeout: 90_000, env });
  expect(r.error, 'the process did not exit within 90 s').toBeUndefined();
  expect(r.status, r.stderr).toBe(0);
  const m = /kernel threads=(\d+) fma=(true|false) hash=([0-9a-f]+)/.exec(r.stdout);
  expect(m, r.stdout).not.toBeNull();
  return { threads: Number(m![1]), fma: m![2] === 'true', hash: m![3]! };
}

describe('wasm kernels on several threads', () => {
  it('give the gradients of one thread bit for bit, and the process exits by itself', () => {
    const one = run(1);
    const two = run(2);
    expect(one.threads).toBe(1);
    expect(two.threads).toBe(2);
    // The FMA build where relaxed SIMD runs (Node 20 after V8's flag): the workers run the same compiled module.
    expect(one.fma).toBe(relaxedSimdSupported());
    expect(two.fma).toBe(one.fma);
    expect(two.hash).toBe(one.hash);
  });

  it('complete on the calling thread when a worker never takes a part (no wait on a dead or starved worker)', () => {
    const deadWorker = fileURLToPath(new URL('./fixtures/nativePoolDeadWorker.ts', import.meta.url));
    const r = spawnSync(process.execPath, [tsx, deadWorker], { encoding: 'utf8', timeout: 60_000 });
    expect(r.error, 'the process did not exit within 60 s').toBeUndefined();
    expect(r.stdout + r.stderr).toMatch(/ok parts=8/);
    expect(r.status).toBe(0);
  });

  it('use the backend\'s thread count by default, and MEDROBUST_KERNEL_THREADS=1 keeps them on the calling thread', () => {
    expect(run(2, 1).threads).toBe(1);
  });
});
