import { promises as fs } from 'node:fs';
import { unzipSync, zipSync } from 'fflate';
import { FormatError, InvalidArgumentError } from '../errors.js';
import { describeValue } from '../internal/validate.js';
import { readNpy, writeNpy, type NpyData, type NpyDtype } from '../data/npy.js';
import type { CheckpointStore } from '../types.js';
import { writeFileAtomic } from './atomic.js';

/**
 * A value a checkpoint can hold: JSON values (numbers, including NaN and ±Infinity, strings,
 * booleans, null, arrays, plain objects) and typed arrays (Float32Array, Float64Array, Int8/16/32Array,
 * Uint8/16/32Array, BigInt64Array, BigUint64Array) anywhere inside them.
 * @category Node
 */
export type CheckpointValue = null | boolean | number | string | NpyData | readonly CheckpointValue[] | { readonly [key: string]: CheckpointValue };

/**
 * The state a training loop checkpoints: an object of {@link CheckpointValue}s, e.g.
 * `{ epoch: 3, rngState: 123, weights: { 'conv1/kernel': Float32Array, ... }, history: [...] }`.
 * @category Node
 */
export type CheckpointState = { readonly [key: string]: CheckpointValue };

const DTYPE_OF: ReadonlyArray<[new (...args: never[]) => NpyData, NpyDtype]> = [
  [Float32Array, 'float32'], [Float64Array, 'float64'], [Int8Array, 'int8'], [Uint8Array, 'uint8'], [Int16Array, 'int16'],
  [Uint16Array, 'uint16'], [Int32Array, 'int32'], [Uint32Array, 'uint32'], [BigInt64Array, 'int64'], [BigUint64Array, 'uint64'],
];

const STATE = 'state.json';

function encode(value: unknown, where: string, arrays: Record<string, Uint8Array>): unknown {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : { $number: String(value) };
  if (ArrayBuffer.isView(value)) {
    const entry = DTYPE_OF.find(([Ctor]) => value instanceof Ctor && value.constructor === Ctor);
    if (!entry) throw new InvalidArgumentError('fileCheckpoint', where, 'a JSON value or a typed array of a numeric type', describeValue(value));
    const name = `a${Object.keys(arrays).length}`;
    const data = value as NpyData;
    arrays[`${name}.npy`] = writeNpy({ dtype: entry[1], shape: [data.length], data });
    return { $ndarray: name };
  }
  if (Array.isArray(value)) return value.map((v, i) => encode(v, `${where}[${i}]`, arrays));
  if (typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    const out: Record<string, unknown> = {};
    const keys = Object.keys(value as object);
    if (keys.length === 1 && (keys[0] === '$ndarray' || keys[0] === '$number')) {
      throw new InvalidArgumentError('fileCheckpoint', where, `an object other than { ${keys[0]} } (reserved by the checkpoint format)`, describeValue(value));
    }
    for (const k of keys) out[k] = encode((value as Record<string, unknown>)[k], `${where}.${k}`, arrays);
    return out;
  }
  throw new InvalidArgumentError('fileCheckpoint', where, 'a JSON value or a typed array', describeValue(value));
}

function decode(value: unknown, files: Record<string, Uint8Array>, file: string): unknown {
  if (Array.isArray(value)) return value.map((v) => decode(v, files, file));
  if (typeof value === 'object' && value !== null) {
    const o = value as Record<string, unknown>;
    const keys = Object.keys(o);
    if (keys.length === 1 && keys[0] === '$number') return Number(o.$number);
    if (keys.length === 1 && keys[0] === '$ndarray') {
      const member = `${String(o.$ndarray)}.npy`;
      const bytes = files[member];
      if (!bytes) throw new FormatError(`fileCheckpoint: ${file} refers to a missing array '${member}'`);
      return readNpy(bytes, { name: `${file} member '${member}'` }).data;
    }
    const out: Record<string, unknown> = {};
    for (const k of keys) out[k] = decode(o[k], files, file);
    return out;
  }
  return value;
}

/**
 * A {@link CheckpointStore} in one file, for the `checkpoint` option of long jobs (training, GAP,
 * t-SNE). Format: an uncompressed zip (a valid `.npz`) holding `state.json`, the state with every
 * typed array replaced by `{"$ndarray": "a0"}` and every non-finite number by `{"$number": "NaN"}`,
 * and one 1-D `.npy` member per typed array (`a0.npy`, `a1.npy`, ...; shapes belong in the JSON).
 * Python reads it with `numpy.load(file)` and `json.loads(zipfile.ZipFile(file).read('state.json'))`.
 * `save` writes a temporary file and renames it over the old checkpoint, so a crash leaves the
 * previous checkpoint intact.
 *
 * @param file - the checkpoint file (its folder is created on the first save).
 * @returns a store whose `load` resolves to `undefined` while no checkpoint exists.
 * @throws {InvalidArgumentError} for a bad path; `save` throws it for values a checkpoint cannot
 *   hold (functions, class instances, tensors: read tensors to typed arrays first); `load` throws
 *   {@link FormatError} for a corrupt or foreign file.
 *
 * @example
 * ```ts
 * const store = fileCheckpoint('runs/mpadvt.ckpt');
 * await store.save({ epoch: 2, weights: { dense: new Float32Array([0.1, 0.2]) } });
 * const state = await store.load(); // { epoch: 2, weights: { dense: Float32Array [0.1, 0.2] } }
 * ```
 * @category Node
 */
export function fileCheckpoint<State extends object = CheckpointState>(file: string): CheckpointStore<State> {
  if (typeof file !== 'string' || file.length === 0) throw new InvalidArgumentError('fileCheckpoint', 'file', 'a file path', describeValue(file));
  return {
    async save(state: State): Promise<void> {
      if (typeof state !== 'object' || state === null || Array.isArray(state)) throw new InvalidArgumentError('fileCheckpoint', 'state', 'a plain object', describeValue(state));
      const arrays: Record<string, Uint8Array> = {};
      const json = encode(state, 'state', arrays);
      const files = { [STATE]: new TextEncoder().encode(JSON.stringify(json)), ...arrays };
      await writeFileAtomic(file, zipSync(files, { level: 0, mtime: new Date(1980, 0, 1) }));
    },
    async load(): Promise<State | undefined> {
      let bytes: Buffer;
      try {
        bytes = await fs.readFile(file);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw err;
      }
      let files: Record<string, Uint8Array>;
      try {
        files = unzipSync(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      } catch (err) {
        throw new FormatError(`fileCheckpoint: ${file} is not a readable checkpoint (corrupt or truncated zip: ${(err as Error).message})`);
      }
      const stateBytes = files[STATE];
      if (!stateBytes) throw new FormatError(`fileCheckpoint: ${file} has no ${STATE}; it is not a medrobust checkpoint`);
      let json: unknown;
      try {
        json = JSON.parse(new TextDecoder().decode(stateBytes));
      } catch (err) {
        throw new FormatError(`fileCheckpoint: ${file} has a malformed ${STATE}: ${(err as Error).message}`);
      }
      if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new FormatError(`fileCheckpoint: ${file} holds a ${STATE} that is not an object`);
      return decode(json, files, file) as State;
    },
  };
}
