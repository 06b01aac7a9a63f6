/**
 * Corrupted files are detected, never loaded wrong: random byte flips (many seeds) and truncation at
 * every length, in checkpoints (fileCheckpoint) and .npz archives (readNpz, stored and deflated). A
 * load either throws a FormatError or returns exactly what was saved (a flip in a byte that holds no
 * content, such as a zip timestamp, changes nothing).
 */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FormatError } from '../../src/errors.js';
import { readNpz, writeNpz } from '../../src/data/npz.js';
import type { NpyArray } from '../../src/data/npy.js';
import { fileCheckpoint } from '../../src/node/fileCheckpoint.js';

let dir: string;
beforeAll(async () => { dir = await fs.mkdtemp(path.join(os.tmpdir(), 'medrobust-corrupt-')); });
afterAll(async () => { await fs.rm(dir, { recursive: true, force: true }); });

/** mulberry32: seeded, so a failing case can be replayed from its seed. */
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

/** Flips 1 to 3 random bytes (each XORed with a non-zero value). */
function flip(bytes: Uint8Array, seed: number): Uint8Array {
  const r = rng(seed);
  const out = bytes.slice();
  const count = 1 + Math.floor(r() * 3);
  for (let i = 0; i < count; i++) {
    const at = Math.floor(r() * out.length);
    out[at] = out[at]! ^ (1 + Math.floor(r() * 255));
  }
  return out;
}

const SEEDS = process.env.MEDROBUST_SLOW ? 3000 : 400;

describe('corrupted checkpoints are detected (issue 15)', () => {
  const state = {
    format: 'medrobust-gap/1', epochsDone: 3, seed: 1, rngState: 123456, noiseSeed: null,
    generator: [{ name: 'conv/kernel', shape: [2, 3], dtype: 'float32', values: new Float32Array([0.1, -0.2, 0.3, 1e-7, -5, 2]) }],
    optimizer: [{ name: 'iter', shape: [], dtype: 'float32', values: new Float32Array([30]) }],
    adamPowers: [0.9 ** 30, 0.999 ** 30],
    history: [{ epoch: 0, loss: 1.5 }, { epoch: 1, loss: 1.2 }, { epoch: 2, loss: Number.NaN }],
  };

  it(`${SEEDS} seeds of 1-3 flipped bytes: every load throws a FormatError or returns the saved state`, async () => {
    const file = path.join(dir, 'flip.ckpt');
    const store = fileCheckpoint(file);
    await store.save(state as never);
    const good = new Uint8Array(await fs.readFile(file));
    let detected = 0;
    let harmless = 0;
    for (let seed = 0; seed < SEEDS; seed++) {
      await fs.writeFile(file, flip(good, seed));
      let loaded: unknown;
      try {
        loaded = await store.load();
      } catch (err) {
        expect(err, `seed ${seed}: ${String(err)}`).toBeInstanceOf(FormatError);
        detected++;
        continue;
      }
      expect(loaded, `seed ${seed} loaded something other than what was saved`).toEqual(state);
      harmless++;
    }
    expect(detected + harmless).toBe(SEEDS);
    expect(detected).toBeGreaterThan(SEEDS * 0.8); // most bytes are content or structure
  });

  it('truncated at every length, or with bytes appended: always a FormatError', async () => {
    const file = path.join(dir, 'cut.ckpt');
    const store = fileCheckpoint(file);
    await store.save(state as never);
    const good = new Uint8Array(await fs.readFile(file));
    for (let n = 0; n < good.length; n++) {
      await fs.writeFile(file, good.subarray(0, n));
      await expect(store.load(), `truncated to ${n} of ${good.length} bytes`).rejects.toBeInstanceOf(FormatError);
    }
    await fs.writeFile(file, Buffer.concat([good, Buffer.from('trailing')]));
    await expect(store.load()).rejects.toBeInstanceOf(FormatError);
  });
});

describe('corrupted .npz archives are detected (issue 15)', () => {
  const arrays: Record<string, NpyArray> = {
    images: { dtype: 'uint8', shape: [2, 4, 4], data: Uint8Array.from({ length: 32 }, (_, i) => (i * 37) & 255) },
    labels: { dtype: 'int64', shape: [2, 1], data: new BigInt64Array([3n, 1n]) },
    scores: { dtype: 'float32', shape: [3], data: new Float32Array([0.5, -1, 1e-30]) },
  };
  const same = (a: Record<string, NpyArray>): boolean => Object.keys(arrays).every((k) => a[k] !== undefined
    && a[k]!.dtype === arrays[k]!.dtype && a[k]!.shape.join() === arrays[k]!.shape.join()
    && Array.from(a[k]!.data as ArrayLike<unknown>).join() === Array.from(arrays[k]!.data as ArrayLike<unknown>).join())
    && Object.keys(a).length === Object.keys(arrays).length;

  it.each([false, true])(`${SEEDS} seeds of flipped bytes (compress: %s): a FormatError or the same arrays`, (compress) => {
    const good = writeNpz(arrays, { compress });
    let detected = 0;
    for (let seed = 0; seed < SEEDS; seed++) {
      let back: Record<string, NpyArray>;
      try {
        back = readNpz(flip(good, 1000 + seed));
      } catch (err) {
        expect(err, `seed ${seed}: ${String(err)}`).toBeInstanceOf(FormatError);
        detected++;
        continue;
      }
      expect(same(back), `seed ${seed} read different arrays`).toBe(true);
    }
    expect(detected).toBeGreaterThan(SEEDS * 0.7);
  });

  it.each([false, true])('truncated at every length (compress: %s): always a FormatError', (compress) => {
    const good = writeNpz(arrays, { compress });
    for (let n = 0; n < good.length; n++) {
      expect(() => readNpz(good.subarray(0, n)), `truncated to ${n} of ${good.length} bytes`).toThrow(FormatError);
    }
  });
});
