import { zipSync } from 'fflate';
import { FormatError, InvalidArgumentError } from '../errors.js';
import { assertBoolean, assertKnownKeys, assertOptionsObject, describeValue } from '../internal/validate.js';
import { assertNpyArray, bytesOf, npyDeclaredSize, readNpy, writeNpy, type NpyArray } from './npy.js';
import { extractEntry, readZipDirectory } from './zip.js';

/**
 * Options of {@link readNpz}.
 * @category Data
 */
export interface ReadNpzOptions {
  /**
   * Read only these arrays (names without `.npy`); the others are not decompressed. A listed name
   * missing from the archive is a {@link FormatError}.
   * @defaultValue every array in the archive
   */
  keys?: readonly string[];
  /**
   * A name for the bytes (usually the file name) used in error messages.
   * @defaultValue 'the .npz data'
   */
  name?: string;
  /**
   * The most bytes of array data (the `.npy` members once inflated, summed over the members read)
   * this call may produce. A guard against zip bombs: a small `.npz` can declare gigabytes of zeros.
   * Each member is also capped by the size its own `.npy` header declares, and the header is read
   * before anything else is inflated, so nothing larger is ever allocated. Every MedMNIST file at
   * 28×28 fits in the default (the largest, PathMNIST, holds 0.25 GB); for larger files read only what
   * you need with `keys`, or raise it; `Infinity` turns the guard off.
   * @defaultValue 2 ** 30 (1 GiB)
   */
  maxBytes?: number;
}

/** The default of {@link ReadNpzOptions.maxBytes}: 1 GiB. */
export const NPZ_MAX_BYTES = 2 ** 30;

/** Checks a `maxBytes` option: undefined, or a non-negative integer or Infinity. @internal */
export function assertMaxBytes(fn: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || Number.isNaN(value) || value < 0 || (Number.isFinite(value) && !Number.isInteger(value))) {
    throw new InvalidArgumentError(fn, 'options.maxBytes', 'a non-negative integer number of bytes (or Infinity)', describeValue(value));
  }
  return value;
}

/**
 * Options of {@link writeNpz}.
 * @category Data
 */
export interface WriteNpzOptions {
  /**
   * Deflate the members, like `numpy.savez_compressed`; otherwise store them, like `numpy.savez`.
   * @defaultValue false
   */
  compress?: boolean;
}

/**
 * Reads a NumPy `.npz` archive (`numpy.savez` or `savez_compressed`, Zip64 included), e.g. a
 * MedMNIST file, into named arrays. The zip layer is fflate's.
 *
 * @param bytes - the whole archive.
 * @param options - see {@link ReadNpzOptions}.
 * @returns the arrays by name (the member names without `.npy`); non-`.npy` members are skipped.
 * @throws {InvalidArgumentError} for non-byte input or a bad option.
 * @throws {FormatError} when the bytes are not a readable zip (corrupt, truncated), a requested key
 *   is missing, or a member is not a valid `.npy` file (see {@link readNpy}).
 *
 * @example
 * ```ts
 * const bytes = writeNpz({ x: { dtype: 'float32', shape: [2], data: new Float32Array([1, 2]) } });
 * const { x } = readNpz(bytes); // x.shape [2]
 * ```
 * @category Data
 */
export function readNpz(bytes: Uint8Array | ArrayBuffer, options: ReadNpzOptions = {}): Record<string, NpyArray> {
  const fn = 'readNpz';
  const b = bytesOf(fn, bytes);
  const o = assertOptionsObject(fn, options);
  assertKnownKeys(fn, o, ['keys', 'name', 'maxBytes']);
  if (o.name !== undefined && typeof o.name !== 'string') throw new InvalidArgumentError(fn, 'options.name', 'a string', describeValue(o.name));
  if (o.keys !== undefined && (!Array.isArray(o.keys) || o.keys.some((k) => typeof k !== 'string'))) {
    throw new InvalidArgumentError(fn, 'options.keys', 'an array of array names', describeValue(o.keys));
  }
  const maxBytes = assertMaxBytes(fn, o.maxBytes) ?? NPZ_MAX_BYTES;
  const name = (o.name as string | undefined) ?? 'the .npz data';
  const keys = o.keys as readonly string[] | undefined;
  const entries = readZipDirectory(b, fn, name);
  const arrays = entries.filter((e) => e.name.endsWith('.npy'));
  const wanted = keys === undefined ? arrays : arrays.filter((e) => keys.includes(e.name.slice(0, -4)));
  const missing = (keys ?? []).filter((k) => !wanted.some((e) => e.name === `${k}.npy`));
  if (missing.length > 0) {
    const held = arrays.map((e) => e.name.slice(0, -4));
    const other = entries.filter((e) => !e.name.endsWith('.npy')).map((e) => e.name);
    const holds = held.length > 0 ? `it holds the arrays: ${held.join(', ')}` : 'it holds no arrays (.npy members)';
    throw new FormatError(`${fn}: ${name} has no array ${missing.map((k) => `'${k}'`).join(', ')} (${holds}${other.length > 0 ? `; other members: ${other.join(', ')}` : ''})`);
  }
  let budget = maxBytes;
  const out: Record<string, NpyArray> = {};
  for (const entry of wanted) {
    const where = `${name} member '${entry.name}'`;
    const data = extractEntry(b, entry, fn, name, {
      maxBytes: budget,
      sizeFromPrefix: (prefix) => npyDeclaredSize(prefix, where, fn),
      onLimit: (declared) => new FormatError(
        `${fn}: ${where} declares ${declared} bytes, more than the ${budget} left of options.maxBytes (${maxBytes}); pass a larger maxBytes if you trust the file, or read fewer arrays with options.keys`,
      ),
    });
    budget -= data.length;
    out[entry.name.slice(0, -4)] = readNpy(data, { name: where });
  }
  return out;
}

/**
 * Writes named arrays as a NumPy `.npz` archive, readable by `numpy.load` (e.g. to save adversarial
 * sets for use in Python). Use `saveNpz` from `medrobust/node` to write it atomically to disk.
 *
 * @param arrays - the arrays by name (the `.npy` suffix is added). Names must be non-empty and free
 *   of `/` and `\`.
 * @param options - see {@link WriteNpzOptions}.
 * @returns the archive's bytes.
 * @throws {InvalidArgumentError} for an empty or bad name, an inconsistent array or a bad option.
 *
 * @example
 * ```ts
 * const bytes = writeNpz({ test_images: images, test_labels: labels }, { compress: true });
 * ```
 * @category Data
 */
export function writeNpz(arrays: Readonly<Record<string, NpyArray>>, options: WriteNpzOptions = {}): Uint8Array {
  return encodeNpz('writeNpz', arrays, options);
}

/** writeNpz under the name of the public function that called it. @internal */
export function encodeNpz(fn: string, arrays: unknown, options: unknown): Uint8Array {
  if (typeof arrays !== 'object' || arrays === null || Array.isArray(arrays)) {
    throw new InvalidArgumentError(fn, 'arrays', 'an object of named NpyArrays', describeValue(arrays));
  }
  const o = assertOptionsObject(fn, options);
  assertKnownKeys(fn, o, ['compress']);
  const compress = assertBoolean(fn, 'options.compress', o.compress) ?? false;
  const names = Object.keys(arrays);
  if (names.length === 0) throw new InvalidArgumentError(fn, 'arrays', 'at least one array', 'an empty object');
  const files: Record<string, Uint8Array> = {};
  for (const n of names) {
    if (n.length === 0 || /[/\\]/.test(n)) throw new InvalidArgumentError(fn, 'arrays', 'names without / or \\', JSON.stringify(n));
    files[`${n}.npy`] = writeNpy(assertNpyArray(fn, `arrays.${n}`, (arrays as Record<string, unknown>)[n]));
  }
  // mtime fixed so that equal arrays give byte-identical archives.
  return zipSync(files, { level: compress ? 6 : 0, mtime: new Date(1980, 0, 1) });
}
