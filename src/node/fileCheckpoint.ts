import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { zipSync } from 'fflate';
import { FormatError, InvalidArgumentError, NonFiniteError } from '../errors.js';
import { describeValue } from '../internal/validate.js';
import { readNpy, writeNpy, type NpyData, type NpyDtype } from '../data/npy.js';
import { extractEntry, readZipDirectory } from '../data/zip.js';
import type { CheckpointStore } from '../types.js';
import { AtomicWriteError, writeFileAtomic } from './atomic.js';
import { checkKnownFormat } from './checkpointFormats.js';
import { assertPath, fileError } from './fileErrors.js';
// Imported for the {@link} references of the comments only.
import type { FileError } from '../errors.js';

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
/** The member that holds the SHA-256 of every other member. */
const SUMS = 'medrobust.json';
const CONTAINER = 'medrobust-checkpoint/2';
/** Nesting deeper than this is refused (on save and on load) instead of overflowing the stack. */
const MAX_DEPTH = 1000;
const NUMBERS: Readonly<Record<string, number>> = { NaN: Number.NaN, Infinity: Number.POSITIVE_INFINITY, '-Infinity': Number.NEGATIVE_INFINITY };

function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Replaces typed arrays by `{ $ndarray }` and non-finite numbers by `{ $number }`; refuses cycles. */
function encode(value: unknown, where: string, arrays: Record<string, Uint8Array>, ancestors: Map<object, string>, depth: number): unknown {
  const fn = 'fileCheckpoint.save';
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : { $number: String(value) };
  if (depth > MAX_DEPTH) throw new InvalidArgumentError(fn, where, `nested at most ${MAX_DEPTH} levels deep`, 'deeper nesting');
  if (ArrayBuffer.isView(value)) {
    const entry = DTYPE_OF.find(([Ctor]) => value instanceof Ctor && value.constructor === Ctor);
    if (!entry) throw new InvalidArgumentError(fn, where, 'a JSON value or a typed array of a numeric type', describeValue(value));
    const name = `a${Object.keys(arrays).length}`;
    const data = value as NpyData;
    arrays[`${name}.npy`] = writeNpy({ dtype: entry[1], shape: [data.length], data });
    return { $ndarray: name };
  }
  if (typeof value === 'object' && (Array.isArray(value) || Object.getPrototypeOf(value) === Object.prototype)) {
    const seen = ancestors.get(value);
    if (seen !== undefined) throw new InvalidArgumentError(fn, where, 'a tree of values without cycles', `a reference back to ${seen}, which contains it`);
    ancestors.set(value, where);
    try {
      if (Array.isArray(value)) return value.map((v, i) => encode(v, `${where}[${i}]`, arrays, ancestors, depth + 1));
      const out: Record<string, unknown> = {};
      const keys = Object.keys(value);
      if (keys.length === 1 && (keys[0] === '$ndarray' || keys[0] === '$number')) {
        throw new InvalidArgumentError(fn, where, `an object other than { ${keys[0]} } (reserved by the checkpoint format)`, describeValue(value));
      }
      for (const k of keys) out[k] = encode((value as Record<string, unknown>)[k], `${where}.${k}`, arrays, ancestors, depth + 1);
      return out;
    } finally {
      ancestors.delete(value);
    }
  }
  throw new InvalidArgumentError(fn, where, 'a JSON value or a typed array', describeValue(value));
}

/** The inverse of encode; every array member must be referenced exactly once. */
function decode(value: unknown, files: ReadonlyMap<string, Uint8Array>, used: Set<string>, file: string, depth: number): unknown {
  const bad = (what: string): FormatError => new FormatError(`fileCheckpoint.load: ${file} ${what}`);
  if (depth > MAX_DEPTH) throw bad(`nests its state more than ${MAX_DEPTH} levels deep`);
  if (Array.isArray(value)) return value.map((v) => decode(v, files, used, file, depth + 1));
  if (typeof value === 'object' && value !== null) {
    const o = value as Record<string, unknown>;
    const keys = Object.keys(o);
    if (keys.length === 1 && keys[0] === '$number') {
      const n = typeof o.$number === 'string' ? NUMBERS[o.$number] : undefined;
      if (n === undefined) throw bad(`holds a malformed number ${JSON.stringify(o.$number)}`);
      return n;
    }
    if (keys.length === 1 && keys[0] === '$ndarray') {
      const member = `${String(o.$ndarray)}.npy`;
      const bytes = files.get(member);
      if (!bytes || member === `${STATE}.npy`) throw bad(`refers to a missing array '${member}'`);
      if (used.has(member)) throw bad(`refers to the array '${member}' twice`);
      used.add(member);
      const array = readNpy(bytes, { name: `${file} member '${member}'` });
      if (array.shape.length !== 1) throw bad(`member '${member}' is not a 1-D array`);
      return array.data;
    }
    const out: Record<string, unknown> = {};
    for (const k of keys) out[k] = decode(o[k], files, used, file, depth + 1);
    return out;
  }
  return value;
}

/** Reads and verifies the whole file: zip structure, CRC-32 and SHA-256 of every member. */
function readMembers(bytes: Uint8Array, file: string): Map<string, Uint8Array> {
  const fn = 'fileCheckpoint.load';
  const entries = readZipDirectory(bytes, fn, file);
  const files = new Map<string, Uint8Array>();
  for (const entry of entries) {
    if (entry.method !== 0) throw new FormatError(`${fn}: ${file} member '${entry.name}' is compressed; medrobust checkpoints store their members uncompressed, so this file was not written by fileCheckpoint`);
    files.set(entry.name, extractEntry(bytes, entry, fn, file, { maxBytes: entry.size, onLimit: () => new FormatError(`${fn}: ${file} member '${entry.name}' is larger than it declares`) }));
  }
  const sums = files.get(SUMS);
  if (!sums) {
    throw new FormatError(files.has(STATE)
      ? `${fn}: ${file} has no checksums (${SUMS}): it was written by an earlier medrobust and cannot be verified; delete it (or pass resume: false) to start afresh`
      : `${fn}: ${file} is not a medrobust checkpoint (it has no ${STATE})`);
  }
  let manifest: { format?: unknown; sha256?: unknown };
  try {
    manifest = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(sums)) as typeof manifest;
  } catch (err) {
    throw new FormatError(`${fn}: ${file} has a malformed ${SUMS}: ${(err as Error).message}`);
  }
  if (typeof manifest !== 'object' || manifest === null || manifest.format !== CONTAINER || typeof manifest.sha256 !== 'object' || manifest.sha256 === null) {
    throw new FormatError(`${fn}: ${file} has a ${SUMS} of another format (expected '${CONTAINER}')`);
  }
  const listed = manifest.sha256 as Record<string, unknown>;
  const names = [...files.keys()].filter((n) => n !== SUMS);
  const extra = names.filter((n) => !(n in listed));
  const missing = Object.keys(listed).filter((n) => !files.has(n) || n === SUMS);
  if (extra.length > 0 || missing.length > 0) {
    throw new FormatError(`${fn}: ${file} is corrupt: its members (${names.join(', ')}) do not match its checksum list (${Object.keys(listed).join(', ')})`);
  }
  for (const n of names) {
    if (listed[n] !== sha256(files.get(n)!)) throw new FormatError(`${fn}: ${file} is corrupt: member '${n}' does not match its SHA-256 checksum`);
  }
  return files;
}

function formatProblem(fn: string, p: { path: string; expected: string; received: string }): string {
  return `${fn}: ${p.path} must be ${p.expected}, received ${p.received}`;
}

/**
 * A {@link CheckpointStore} in one file, for the `checkpoint` option of long jobs (training, GAP,
 * t-SNE). A checkpoint cannot be loaded wrong:
 * - **Format**: an uncompressed zip (a valid `.npz`) holding `state.json`, the state with every
 *   typed array replaced by `{"$ndarray": "a0"}` and every non-finite number by `{"$number": "NaN"}`;
 *   one 1-D `.npy` member per typed array (`a0.npy`, `a1.npy`, ...; shapes belong in the JSON); and
 *   `medrobust.json`, the SHA-256 of every other member. Python reads it with `numpy.load(file)` and
 *   `json.loads(zipfile.ZipFile(file).read('state.json'))`.
 * - **Load** verifies the zip structure, the CRC-32 and the SHA-256 of every member, that every
 *   array is referenced once, and, for the states medrobust writes (`format` `'medrobust.training/1'`
 *   and `'medrobust-gap/1'`), the ranges of the epoch and batch counters, the history's length, the
 *   tensor shapes and that every weight is finite. Any mismatch is a {@link FormatError}: nothing is
 *   restored from a damaged file.
 * - **Save** refuses what it could not restore (cycles, functions, class instances, tensors,
 *   non-finite weights in those two formats), then writes a temporary file, flushes it to disk and
 *   renames it over the old checkpoint, so a crash, a kill or a full disk leaves the previous
 *   checkpoint intact; temporary files of killed processes are removed by the next save.
 *
 * @param file - the checkpoint file (its folder is created on the first save).
 * @returns a store whose `load` resolves to `undefined` while no checkpoint exists.
 * @throws {InvalidArgumentError} for a bad path; `save` throws it for values a checkpoint cannot
 *   hold (functions, class instances, tensors: read tensors to typed arrays first; cycles; nesting
 *   deeper than 1000 levels) and {@link NonFiniteError} for NaN or infinite weights in a medrobust
 *   training or GAP state; `save` throws {@link FileError} when the file cannot be written (disk
 *   full, no permission), saying that the previous checkpoint is intact; `load` throws
 *   {@link FileError} when the path cannot be read (a folder, no permission) and
 *   {@link FormatError} for a corrupt, truncated, tampered or foreign file.
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
  assertPath('fileCheckpoint', 'file', file);
  return {
    async save(state: State): Promise<void> {
      const fn = 'fileCheckpoint.save';
      if (typeof state !== 'object' || state === null || Array.isArray(state) || Object.getPrototypeOf(state) !== Object.prototype) {
        throw new InvalidArgumentError(fn, 'state', 'a plain object', describeValue(state));
      }
      const arrays: Record<string, Uint8Array> = {};
      const json = encode(state, 'state', arrays, new Map(), 0);
      const problem = checkKnownFormat(state as Record<string, unknown>);
      if (problem) {
        if (problem.nonFinite) throw new NonFiniteError(fn, problem.path, `received ${problem.received}; nothing was written and the previous checkpoint is intact`);
        throw new InvalidArgumentError(fn, problem.path, problem.expected, problem.received);
      }
      const files: Record<string, Uint8Array> = { [STATE]: new TextEncoder().encode(JSON.stringify(json)), ...arrays };
      const sums: Record<string, string> = {};
      for (const [name, data] of Object.entries(files)) sums[name] = sha256(data);
      files[SUMS] = new TextEncoder().encode(JSON.stringify({ format: CONTAINER, sha256: sums }));
      const bytes = zipSync(files, { level: 0, mtime: new Date(1980, 0, 1) });
      const existed = await fs.stat(file).then((s) => s.isFile(), () => false);
      try {
        await writeFileAtomic(file, bytes);
      } catch (err) {
        const cause = err instanceof AtomicWriteError ? err.cause : err;
        if (err instanceof AtomicWriteError && err.replaced) {
          throw fileError(fn, file, cause, 'the checkpoint', '; the new checkpoint is in place, but the rename may not survive a power cut');
        }
        throw fileError(fn, file, cause, 'the checkpoint', existed ? '; nothing was written: the previous checkpoint is intact' : '; nothing was written (there was no previous checkpoint)');
      }
    },
    async load(): Promise<State | undefined> {
      const fn = 'fileCheckpoint.load';
      let raw: Buffer;
      try {
        raw = await fs.readFile(file);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw fileError(fn, file, err, 'the checkpoint');
      }
      const files = readMembers(new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength), file);
      const stateBytes = files.get(STATE);
      if (!stateBytes) throw new FormatError(`${fn}: ${file} has no ${STATE}; it is not a medrobust checkpoint`);
      let json: unknown;
      try {
        json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(stateBytes));
      } catch (err) {
        throw new FormatError(`${fn}: ${file} has a malformed ${STATE}: ${(err as Error).message}`);
      }
      if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new FormatError(`${fn}: ${file} holds a ${STATE} that is not an object`);
      const used = new Set<string>();
      const state = decode(json, files, used, file, 0) as Record<string, unknown>;
      const unused = [...files.keys()].filter((n) => n !== STATE && n !== SUMS && !used.has(n));
      if (unused.length > 0) throw new FormatError(`${fn}: ${file} holds arrays its ${STATE} does not refer to (${unused.join(', ')}): corrupt or tampered`);
      const problem = checkKnownFormat(state);
      if (problem) throw new FormatError(`${formatProblem(fn, problem)} (in ${file}); the checkpoint is damaged or was not written by this version: delete it to start afresh`);
      return state as State;
    },
  };
}
