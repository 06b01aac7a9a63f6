/**
 * Runs the Python ports of the parity suite. Each port reads `in.npz` (arrays) and `args.json` from a
 * temporary folder and writes `out.npz`; arrays travel as float32/int32 `.npy` members, so nothing is
 * rounded through text. The suites skip, saying why, when /usr/bin/python3 (or $MEDROBUST_PYTHON)
 * cannot import torch (Debian: apt-get install python3-torch python3-torchvision).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { NpyArray } from '../../src/data/npy.js';
import { readNpz, writeNpz } from '../../src/data/npz.js';

export const PYTHON = process.env.MEDROBUST_PYTHON ?? '/usr/bin/python3';

/** True when the interpreter imports torch and torchvision. */
export const HAS_TORCH = spawnSync(PYTHON, ['-c', 'import torch, torchvision'], { stdio: 'ignore' }).status === 0;

/** Prints the skip message once per suite file. */
export function warnIfSkipped(suite: string): void {
  if (!HAS_TORCH) console.warn(`[medrobust] ${suite} SKIPPED: ${PYTHON} cannot import torch and torchvision (apt-get install python3-torch python3-torchvision to run it).`);
}

/** A tensor as an .npy array (float32 or int32), read synchronously. */
export function npy(t: tf.Tensor): NpyArray {
  const data = t.dataSync();
  return t.dtype === 'int32' ? { dtype: 'int32', shape: [...t.shape], data: Int32Array.from(data) } : { dtype: 'float32', shape: [...t.shape], data: Float32Array.from(data) };
}

/** Float32 values as an .npy array of `shape`. */
export function f32(data: ArrayLike<number>, shape: number[]): NpyArray {
  return { dtype: 'float32', shape, data: Float32Array.from(data) };
}

/**
 * Runs `test/parity/<script>` with the arrays and arguments; returns the arrays it wrote. Throws with
 * the script's stderr when it fails. `stdout` of the script is returned too (the ports print figures), and
 * the bytes of any other `files` the script wrote into its folder.
 */
export function runPort(script: string, arrays: Record<string, NpyArray>, args: Record<string, unknown> = {}, files: readonly string[] = []): { out: Record<string, NpyArray>; stdout: string; files: Record<string, Uint8Array> } {
  const dir = mkdtempSync(join(tmpdir(), 'medrobust-parity-'));
  try {
    writeFileSync(join(dir, 'in.npz'), writeNpz(arrays));
    writeFileSync(join(dir, 'args.json'), JSON.stringify(args));
    const r = spawnSync(PYTHON, [join(__dirname, script), dir], { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '1' } });
    if (r.status !== 0) throw new Error(`${script} failed (exit ${r.status}):\n${r.stderr}`);
    return { out: readNpz(readFileSync(join(dir, 'out.npz'))), stdout: r.stdout, files: Object.fromEntries(files.map((f) => [f, new Uint8Array(readFileSync(join(dir, f)))])) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Largest absolute difference and the largest |reference| (for a relative figure). */
export function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): { abs: number; scale: number; rel: number } {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let abs = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    abs = Math.max(abs, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return { abs, scale, rel: scale > 0 ? abs / scale : abs };
}

/** NHWC ↔ NCHW for a flat float array. */
export function nhwcToNchw(data: ArrayLike<number>, [n, h, w, c]: readonly number[]): Float32Array {
  const out = new Float32Array(data.length);
  for (let b = 0; b < n!; b++) for (let y = 0; y < h!; y++) for (let x = 0; x < w!; x++) for (let k = 0; k < c!; k++) out[((b * c! + k) * h! + y) * w! + x] = data[((b * h! + y) * w! + x) * c! + k]!;
  return out;
}

export function nchwToNhwc(data: ArrayLike<number>, [n, c, h, w]: readonly number[]): Float32Array {
  const out = new Float32Array(data.length);
  for (let b = 0; b < n!; b++) for (let k = 0; k < c!; k++) for (let y = 0; y < h!; y++) for (let x = 0; x < w!; x++) out[((b * h! + y) * w! + x) * c! + k] = data[((b * c! + k) * h! + y) * w! + x]!;
  return out;
}

/** Prints one parity figure (the suite's record of what it measured). */
export function report(name: string, figure: string): void {
  console.log(`[parity] ${name}: ${figure}`);
}
