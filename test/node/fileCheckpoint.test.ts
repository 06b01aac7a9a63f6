import { spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { FileError, FormatError, InvalidArgumentError, NonFiniteError } from '../../src/errors.js';
import { readNpz } from '../../src/data/npz.js';
import { advTrain } from '../../src/defenses/advTrain.js';
import type { TrainingCheckpoint } from '../../src/defenses/trainingLoop.js';
import { atomicIo, tempName } from '../../src/node/atomic.js';
import { fileCheckpoint, type CheckpointState } from '../../src/node/fileCheckpoint.js';
import { BACKENDS, useTestBackend } from '../helpers/backends.js';
import { makeSplit } from '../helpers/defenseFixtures.js';
import { buildSmallNet } from '../helpers/smallNet.js';
import { forgeCheckpoint, indexOf, tamperStored } from './ckptForge.js';

let dir: string;
beforeAll(async () => { dir = await fs.mkdtemp(path.join(os.tmpdir(), 'medrobust-ckpt-')); });
afterAll(async () => { await fs.rm(dir, { recursive: true, force: true }); });

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const reject = async (p: Promise<unknown>): Promise<Error> => p.then(() => { throw new Error('expected a rejection'); }, (e: unknown) => e as Error);

/** A valid 'medrobust.training/1' state for a model with one 2×2 kernel and one bias. */
function trainingState(over: Record<string, unknown> = {}): CheckpointState {
  const t = (name: string, shape: number[], values: number[]) => ({ name, shape, dtype: 'float32', values: new Float32Array(values) });
  return {
    format: 'medrobust.training/1', method: 'advTrain', seed: 5, epoch: 2, batch: 1, rngState: 123,
    weights: [t('dense/kernel', [2, 2], [0.1, 0.2, 0.3, 0.4]), t('dense/bias', [2], [0, 1])],
    optimizerClass: 'Adam', optimizerWeights: [{ name: 'iter', shape: [], dtype: 'int32', values: new Int32Array([7]) }],
    best: null, history: [{ epoch: 0, loss: 1.2, batches: 3, adversarialBatches: 3 }, { epoch: 1, loss: 0.9, batches: 3, adversarialBatches: 3 }],
    partial: { lossSum: 0.5, batches: 1, adversarialBatches: 1 },
    ...over,
  } as unknown as CheckpointState;
}

describe('fileCheckpoint', () => {
  it('loads undefined before the first save, then exactly what was saved (typed arrays, NaN, nesting)', async () => {
    const store = fileCheckpoint(path.join(dir, 'run', 'a.ckpt'));
    expect(await store.load()).toBeUndefined();
    const state = {
      epoch: 3, done: false, name: 'mpadvt', nothing: null, loss: Number.NaN, best: -Infinity,
      history: [{ epoch: 1, acc: 0.5 }, { epoch: 2, acc: 0.75 }],
      weights: { 'conv1/kernel': new Float32Array([0.1, -0.2, 3e-8]), 'bn/moving_mean': new Float64Array([1, 2]) },
      rng: new Uint32Array([4294967295]), counts: new BigInt64Array([5n]), mask: new Uint8Array([1, 0, 1]),
      view: new Float32Array([9, 8, 7, 6]).subarray(1, 3),
    };
    await store.save(state);
    const back = await store.load();
    expect(back).toEqual({ ...state, view: new Float32Array([8, 7]) });
    expect((back!.weights as Record<string, unknown>)['conv1/kernel']).toBeInstanceOf(Float32Array);
    await store.save({ epoch: 4 });
    expect(await store.load()).toEqual({ epoch: 4 });
    expect(await fs.readdir(path.join(dir, 'run'))).toEqual(['a.ckpt']); // no temporary files left
  });

  it('is a valid .npz whose arrays numpy can read, with state.json and the checksums beside them', async () => {
    const file = path.join(dir, 'b.ckpt');
    await fileCheckpoint(file).save({ w: new Float32Array([1, 2]) });
    const bytes = new Uint8Array(await fs.readFile(file));
    expect(Array.from(readNpz(bytes).a0!.data as Float32Array)).toEqual([1, 2]);
    expect(indexOf(bytes, enc('"format":"medrobust-checkpoint/2"'))).toBeGreaterThan(0);
  });

  it('saves shared (acyclic) references as copies', async () => {
    const w = new Float32Array([1, 2]);
    const h = { loss: 1 };
    const store = fileCheckpoint(path.join(dir, 'shared.ckpt'));
    await store.save({ a: w, b: w, h1: h, h2: [h, h] });
    expect(await store.load()).toEqual({ a: w, b: w, h1: h, h2: [h, h] });
  });

  describe('never loads a damaged or tampered file (issue 15)', () => {
    it('one flipped byte in state.json (epoch 3 -> 7) fails the CRC-32', async () => {
      const file = path.join(dir, 'flip.ckpt');
      await fileCheckpoint(file).save({ epoch: 3, w: new Float32Array([0.5]) });
      const bytes = new Uint8Array(await fs.readFile(file));
      const at = indexOf(bytes, enc('"epoch":3'));
      bytes[at + 8] = '7'.charCodeAt(0);
      await fs.writeFile(file, bytes);
      const err = await reject(fileCheckpoint(file).load());
      expect(err).toBeInstanceOf(FormatError);
      expect(err.message).toBe(`fileCheckpoint.load: ${file} member 'state.json' is corrupt: its CRC-32 does not match the zip directory`);
    });

    it('a weight set to Infinity with the CRC-32 recomputed fails the SHA-256', async () => {
      const file = path.join(dir, 'inf.ckpt');
      await fileCheckpoint(file).save({ epoch: 3, w: new Float32Array([0.5, 0.25]) });
      const bytes = tamperStored(new Uint8Array(await fs.readFile(file)), 'a0.npy', (c) => { new DataView(c.buffer, c.byteOffset).setFloat32(c.length - 4, Infinity, true); });
      await fs.writeFile(file, bytes);
      await expect(fileCheckpoint(file).load()).rejects.toThrow(`fileCheckpoint.load: ${file} is corrupt: member 'a0.npy' does not match its SHA-256 checksum`);
    });

    it('the checksum list itself: edited, removed, or listing other members', async () => {
      const file = path.join(dir, 'sums.ckpt');
      const json = JSON.stringify({ epoch: 1, w: { $ndarray: 'a0' } });
      await fs.writeFile(file, forgeCheckpoint(json, { a0: new Float32Array([1]) }));
      expect(await fileCheckpoint(file).load()).toEqual({ epoch: 1, w: new Float32Array([1]) });
      const edited = tamperStored(forgeCheckpoint(json, { a0: new Float32Array([1]) }), 'medrobust.json', (c) => {
        const at = indexOf(c, enc('"state.json":"')) + 14; // the first hex digit of state.json's SHA-256
        c[at] = c[at] === 0x30 ? 0x31 : 0x30;
      });
      await fs.writeFile(file, edited);
      await expect(fileCheckpoint(file).load()).rejects.toThrow(/does not match its SHA-256 checksum/);
      await fs.writeFile(file, forgeCheckpoint(json, { a0: new Float32Array([1]) }, { sums: false }));
      await expect(fileCheckpoint(file).load()).rejects.toThrow(/has no checksums \(medrobust.json\): it was written by an earlier medrobust and cannot be verified; delete it/);
    });

    it('arrays that are missing, referenced twice, unreferenced, or not 1-D; bad $number; compressed members', async () => {
      const file = path.join(dir, 'refs.ckpt');
      const cases: Array<[Uint8Array, RegExp]> = [
        [forgeCheckpoint('{"w":{"$ndarray":"a1"}}', { a0: new Float32Array(1) }), /refers to a missing array 'a1.npy'/],
        [forgeCheckpoint('{"w":{"$ndarray":"a0"},"v":{"$ndarray":"a0"}}', { a0: new Float32Array(1) }), /refers to the array 'a0.npy' twice/],
        [forgeCheckpoint('{"epoch":1}', { a0: new Float32Array(1) }), /holds arrays its state.json does not refer to \(a0.npy\)/],
        [forgeCheckpoint('{"x":{"$number":"12"}}'), /malformed number "12"/],
        [forgeCheckpoint('{"x":1}', {}, { compress: true }), /is compressed; medrobust checkpoints store their members uncompressed/],
        [forgeCheckpoint('[1,2]'), /not an object/],
        [forgeCheckpoint('{"x":'), /malformed state.json/],
        [forgeCheckpoint(`{"x":${'['.repeat(2000)}${']'.repeat(2000)}}`), /nests its state more than 1000 levels deep/],
      ];
      for (const [bytes, message] of cases) {
        await fs.writeFile(file, bytes);
        await expect(fileCheckpoint(file).load()).rejects.toThrow(FormatError);
        await expect(fileCheckpoint(file).load()).rejects.toThrow(message);
      }
    });

    it('a training state with valid checksums but impossible contents is refused with what is wrong', async () => {
      const file = path.join(dir, 'semantic.ckpt');
      const write = async (state: CheckpointState) => {
        // Encode as fileCheckpoint does, but bypassing save's own checks.
        const arrays: Record<string, Float32Array | Int32Array> = {};
        const json = JSON.stringify(state, (_k, v: unknown) => {
          if (v instanceof Float32Array || v instanceof Int32Array) { const n = `a${Object.keys(arrays).length}`; arrays[n] = v; return { $ndarray: n }; }
          if (typeof v === 'number' && !Number.isFinite(v)) return { $number: String(v) };
          return v;
        });
        await fs.writeFile(file, forgeCheckpoint(json, arrays));
      };
      await write(trainingState());
      expect((await fileCheckpoint(file).load() as Record<string, unknown>).epoch).toBe(2);
      const bad: Array<[Record<string, unknown>, string]> = [
        [{ epoch: -1 }, 'state.epoch must be an integer in [0, ∞], received -1'],
        [{ epoch: 7 }, 'state.history must be 7 records (one per finished epoch, as state.epoch says), received 2 records'],
        [{ batch: 1.5 }, 'state.batch must be an integer in [0, ∞], received 1.5'],
        [{ partial: { lossSum: 0, batches: 4, adversarialBatches: 0 } }, 'state.partial.batches must be an integer in [0, 1], received 4'],
        [{ history: 'none' }, 'state.history must be an array, received "none"'],
        [{ weights: [{ name: 'k', shape: [2, 2], dtype: 'float32', values: new Float32Array([0, 1, Infinity, 3]) }] }, 'state.weights[0].values (k) must be finite values, received Infinity at index 2'],
        [{ weights: [{ name: 'k', shape: [2, 2], dtype: 'float32', values: new Float32Array(3) }] }, 'state.weights[0].values must be 4 values for shape [2,2], received 3 values'],
        [{ best: { epoch: 5, score: 0.5, weights: [] } }, 'state.best.epoch must be an integer in [0, 1], received 5'],
      ];
      for (const [over, message] of bad) {
        await write(trainingState(over));
        await expect(fileCheckpoint(file).load()).rejects.toThrow(`fileCheckpoint.load: ${message} (in ${file})`);
      }
    });
  });

  describe('save refuses what it could not restore (issue 15)', () => {
    it('a self-referencing state is a typed error, not a stack overflow', async () => {
      const store = fileCheckpoint(path.join(dir, 'cycle.ckpt'));
      const state: Record<string, unknown> = { epoch: 1, nested: { list: [] as unknown[] } };
      state.self = state;
      await expect(store.save(state as never)).rejects.toThrow('fileCheckpoint.save: state.self must be a tree of values without cycles, received a reference back to state, which contains it');
      const inner: Record<string, unknown> = { a: 1 };
      ((state.nested as Record<string, unknown>).list as unknown[]).push(inner);
      inner.up = state.nested;
      delete state.self;
      await expect(store.save(state as never)).rejects.toThrow(/state.nested.list\[0\].up must be a tree of values without cycles, received a reference back to state.nested/);
      let deep: unknown = 1;
      for (let i = 0; i < 5000; i++) deep = [deep];
      await expect(store.save({ deep } as never)).rejects.toThrow(/must be nested at most 1000 levels deep/);
      expect(await store.load()).toBeUndefined(); // nothing was written
    });

    it('non-finite weights and impossible counters of a medrobust state, before anything is written', async () => {
      const file = path.join(dir, 'refuse.ckpt');
      const store = fileCheckpoint(file);
      await store.save(trainingState());
      const nan = trainingState({ weights: [{ name: 'k', shape: [2], dtype: 'float32', values: new Float32Array([0, Number.NaN]) }] });
      const err = await reject(store.save(nan));
      expect(err).toBeInstanceOf(NonFiniteError);
      expect(err.message).toBe('fileCheckpoint.save: state.weights[0].values (k) must be finite, but received NaN at index 1; nothing was written and the previous checkpoint is intact');
      await expect(store.save(trainingState({ epoch: 3 }))).rejects.toThrow(InvalidArgumentError);
      expect(((await store.load()) as Record<string, unknown>).epoch).toBe(2);
    });

    it('values a checkpoint cannot hold, reserved keys, bad paths', async () => {
      const store = fileCheckpoint(path.join(dir, 'c.ckpt'));
      await expect(store.save({ f: (() => 1) as never })).rejects.toThrow(/state.f must be a JSON value/);
      await expect(store.save({ d: new Date() as never })).rejects.toThrow(InvalidArgumentError);
      await expect(store.save({ b: Buffer.from('x') as never })).rejects.toThrow(/state.b must be a JSON value or a typed array of a numeric type/);
      await expect(store.save({ x: { $ndarray: 'a0' } as never })).rejects.toThrow(/reserved/);
      await expect(store.save([1] as never)).rejects.toThrow(/plain object/);
      await expect(store.save(new Map() as never)).rejects.toThrow('fileCheckpoint.save: state must be a plain object, received an object with keys {}');
      await expect(store.save(null as never)).rejects.toThrow(InvalidArgumentError);
      await fs.writeFile(path.join(dir, 'c.ckpt'), 'garbage');
      await expect(store.load()).rejects.toThrow(FormatError);
      expect(() => fileCheckpoint('' as never)).toThrow('fileCheckpoint: file must be a file path (a non-empty string without NUL bytes), received ""');
      expect(() => fileCheckpoint(3 as never)).toThrow(InvalidArgumentError);
    });
  });

  describe('file errors (issue 15)', () => {
    it('a folder where the checkpoint should be, and a path through a file, are FileErrors', async () => {
      const folder = path.join(dir, 'is-a-folder.ckpt');
      await fs.mkdir(folder, { recursive: true });
      const err = await reject(fileCheckpoint(folder).load());
      expect(err).toBeInstanceOf(FileError);
      expect(err).toMatchObject({ fn: 'fileCheckpoint.load', path: folder, code: 'EISDIR' });
      expect(err.message).toBe(`fileCheckpoint.load: the checkpoint ${folder} is a folder, not a file [EISDIR]; pass the path of the file inside it`);
      await expect(fileCheckpoint(folder).save({ a: 1 })).rejects.toBeInstanceOf(FileError);
      const plain = path.join(dir, 'plain-file');
      await fs.writeFile(plain, 'x');
      await expect(fileCheckpoint(path.join(plain, 'a.ckpt')).load()).rejects.toMatchObject({ code: 'ENOTDIR' });
      await expect(fileCheckpoint(path.join(plain, 'a.ckpt')).save({ a: 1 })).rejects.toMatchObject({ fn: 'fileCheckpoint.save' });
    });

    it.each(['write', 'sync', 'rename'] as const)('ENOSPC in %s: a typed error saying the previous checkpoint is intact, which it is', async (step) => {
      const file = path.join(dir, `full-${step}`, 'run.ckpt');
      const store = fileCheckpoint(file);
      const previous = { epoch: 2, w: new Float32Array([1, 2, 3]) };
      await store.save(previous);
      const enospc = Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC', errno: -28 });
      const spy = vi.spyOn(atomicIo, step).mockRejectedValue(enospc);
      try {
        const err = await reject(store.save({ epoch: 3, w: new Float32Array(1000) }));
        expect(err).toBeInstanceOf(FileError);
        expect(err).toMatchObject({ fn: 'fileCheckpoint.save', path: file, code: 'ENOSPC' });
        expect(err.message).toBe(`fileCheckpoint.save: the checkpoint ${file} could not be written: the disk is full [ENOSPC]; free some space; nothing was written: the previous checkpoint is intact`);
      } finally {
        spy.mockRestore();
      }
      expect(await store.load()).toEqual(previous);
      expect(await fs.readdir(path.dirname(file))).toEqual(['run.ckpt']); // the temporary file was removed
    });

    it('ENOSPC on the first save says there was no previous checkpoint', async () => {
      const file = path.join(dir, 'first', 'run.ckpt');
      const spy = vi.spyOn(atomicIo, 'write').mockRejectedValue(Object.assign(new Error('no space'), { code: 'ENOSPC' }));
      try {
        await expect(fileCheckpoint(file).save({ a: 1 })).rejects.toThrow(/nothing was written \(there was no previous checkpoint\)$/);
      } finally {
        spy.mockRestore();
      }
      expect(await fileCheckpoint(file).load()).toBeUndefined();
    });

    it('a real full device (/dev/full) gives ENOSPC through the same write path', async () => {
      const exists = await fs.stat('/dev/full').then(() => true, () => false);
      if (!exists) return; // not Linux
      // Route the temporary file's writes to /dev/full: the real kernel error, not a mock.
      const open = vi.spyOn(atomicIo, 'open').mockImplementation((_f: string, flags: string) => fs.open('/dev/full', flags));
      const file = path.join(dir, 'devfull', 'run.ckpt');
      const store = fileCheckpoint(file);
      try {
        await expect(store.save({ a: new Float32Array(4096) })).rejects.toMatchObject({ code: 'ENOSPC' });
      } finally {
        open.mockRestore();
      }
      expect(await store.load()).toBeUndefined();
    });

    it('the next save removes temporary files that a killed process on this machine left behind', async () => {
      const file = path.join(dir, 'stale', 'run.ckpt');
      await fs.mkdir(path.dirname(file), { recursive: true });
      const dead = Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString());
      const named = (target: string, pid: number) => path.join(path.dirname(file), path.basename(tempName(path.join(path.dirname(file), target))).replace(`.${process.pid}.`, `.${pid}.`));
      const stale = named('run.ckpt', dead);
      const mine = named('run.ckpt', process.pid); // a write of this live process: kept
      const other = named('other.ckpt', dead); // another file's: kept
      const elsewhere = path.join(path.dirname(file), `.run.ckpt.another-host.${dead}.1700000000000.1.tmp`); // another machine's: kept
      await Promise.all([stale, mine, other, elsewhere].map((f) => fs.writeFile(f, 'partial')));
      await fileCheckpoint(file).save({ a: 1 });
      expect((await fs.readdir(path.dirname(file))).sort()).toEqual([mine, other, elsewhere].map((f) => path.basename(f)).concat('run.ckpt').sort());
    });
  });
});

describe.each(BACKENDS)('fileCheckpoint with the training loop (%s)', (backend) => {
  beforeAll(() => useTestBackend(backend));

  it('round-trips a real advTrain state (format checks accept what the loop writes) and resumes from it', async () => {
    const split = makeSplit('single-label', 16, 8);
    const file = path.join(dir, backend, 'adv.ckpt');
    const store = fileCheckpoint<TrainingCheckpoint>(file);
    const model = buildSmallNet({ inputShape: [8, 8, 1], outputs: 3, kind: 'mlp', seed: 1 });
    try {
      await advTrain(model, split.batches, { epochs: 1, epsilon: 0.1, steps: 1, seed: 3, checkpoint: store });
      const saved = await store.load();
      expect(saved?.epoch).toBe(1);
      expect(saved?.weights.map((w) => w.shape)).toEqual(model.weights.map((w) => w.shape));
      const report = await advTrain(model, split.batches, { epochs: 2, epsilon: 0.1, steps: 1, seed: 3, checkpoint: store });
      expect(report.history.map((h) => h.epoch)).toEqual([0, 1]);
      expect((await store.load())?.epoch).toBe(2);
    } finally {
      model.dispose();
      split.dispose();
    }
  });
});
