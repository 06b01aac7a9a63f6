import { promises as fs } from 'node:fs';
import { InvalidArgumentError } from '../errors.js';
import { assertKnownKeys, assertOptionsObject, describeValue } from '../internal/validate.js';
import { MEDMNIST_INFO, medmnistArrays, type MedmnistOptions, type MedmnistSplit } from '../data/medmnist.js';
import type { NpyArray } from '../data/npy.js';
import { assertMaxBytes, encodeNpz, readNpz, type WriteNpzOptions } from '../data/npz.js';
// Imported for the {@link} references of the comments only.
import type { writeNpz } from '../data/npz.js';
import type { medmnistFromNpz } from '../data/medmnist.js';
import type { FileError, FormatError } from '../errors.js';
import { AtomicWriteError, writeFileAtomic } from './atomic.js';
import { assertPath, fileError } from './fileErrors.js';
import { entryAsync, reattribute } from '../internal/scope.js';

/**
 * Options of {@link loadNpz}.
 * @category Node
 */
export interface LoadNpzOptions {
  /**
   * Read only these arrays (names without `.npy`); the others are not decompressed.
   * @defaultValue every array in the file
   */
  keys?: readonly string[];
  /**
   * The most bytes of array data the call may produce (a zip-bomb guard; see `readNpz`).
   * @defaultValue 2 ** 30 (1 GiB)
   */
  maxBytes?: number;
}

/**
 * Options of {@link loadMedmnist}: those of `medmnistFromNpz` plus the size guard of {@link loadNpz}.
 * @category Node
 */
export interface LoadMedmnistOptions extends MedmnistOptions {
  /**
   * The most bytes the split's two arrays may take once decompressed (see `readNpz`).
   * @defaultValue 2 ** 30 (1 GiB)
   */
  maxBytes?: number;
}

/** Reads a whole file, as a FileError naming `fn` when it cannot. */
async function readBytes(fn: string, file: string, role: string): Promise<Uint8Array> {
  try {
    const bytes = await fs.readFile(file);
    return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  } catch (err) {
    throw fileError(fn, file, err, role);
  }
}


/**
 * Reads a `.npz` file from disk (see {@link readNpz}).
 *
 * @param file - the path.
 * @param options - see {@link LoadNpzOptions}.
 * @returns the arrays by name.
 * @throws {InvalidArgumentError} for a bad path or option.
 * @throws {FileError} when the file cannot be read (missing, a folder, no permission); the message
 *   names the path and what to do.
 * @throws {FormatError} for a corrupt, truncated or oversized file (the message names it).
 *
 * @example
 * ```ts
 * const arrays = await loadNpz('adversarial.npz');
 * const labels = await loadNpz('dermamnist.npz', { keys: ['test_labels'] });
 * ```
 * @category Node
 */
export async function loadNpz(file: string, options: LoadNpzOptions = {}): Promise<Record<string, NpyArray>> {
  const fn = 'loadNpz';
  assertPath(fn, 'file', file);
  const o = assertOptionsObject(fn, options);
  assertKnownKeys(fn, o, ['keys', 'maxBytes']);
  if (o.keys !== undefined && (!Array.isArray(o.keys) || o.keys.some((k) => typeof k !== 'string'))) {
    throw new InvalidArgumentError(fn, 'options.keys', 'an array of array names', describeValue(o.keys));
  }
  const maxBytes = assertMaxBytes(fn, o.maxBytes);
  const bytes = await readBytes(fn, file, 'the .npz file');
  try {
    return readNpz(bytes, { name: file, ...(o.keys === undefined ? {} : { keys: o.keys as string[] }), ...(maxBytes === undefined ? {} : { maxBytes }) });
  } catch (err) {
    throw reattribute(err, fn, {}, file);
  }
}

/**
 * Writes arrays to a `.npz` file atomically (temporary file + rename), readable by `numpy.load`.
 *
 * @param file - the path (its folder is created if needed).
 * @param arrays - the arrays by name (see {@link writeNpz}).
 * @param options - see {@link WriteNpzOptions}.
 * @returns a promise that resolves once the file is in place.
 * @throws {InvalidArgumentError} for a bad path or bad arrays (nothing is written).
 * @throws {FileError} when the file cannot be written (no permission, disk full); a previous file
 *   at that path is left as it was.
 *
 * @example
 * ```ts
 * await saveNpz('adv.npz', { images: await tensorToNpy(adv), labels: await tensorToNpy(labels) });
 * ```
 * @category Node
 */
export async function saveNpz(file: string, arrays: Readonly<Record<string, NpyArray>>, options: WriteNpzOptions = {}): Promise<void> {
  assertPath('saveNpz', 'file', file);
  const bytes = encodeNpz('saveNpz', arrays, options);
  try {
    await writeFileAtomic(file, bytes);
  } catch (err) {
    const cause = err instanceof AtomicWriteError ? err.cause : err;
    const kept = err instanceof AtomicWriteError && err.replaced ? '' : '; any previous file at that path is unchanged';
    throw fileError('saveNpz', file, cause, 'the .npz file', kept);
  }
}

/**
 * Loads one split of a MedMNIST `.npz` file (e.g. `dermamnist.npz`, `chestmnist_64.npz`) as
 * tensors with its task and class names. Only the split's two arrays are decompressed. Download the
 * files yourself (medmnist.com / Zenodo); nothing is fetched here.
 *
 * @param file - the path.
 * @param options - see {@link LoadMedmnistOptions}; without `dataset`, it is taken from the file name
 *   when that starts with a MedMNIST flag.
 * @returns the split (see {@link medmnistFromNpz}); the caller owns the tensors.
 * @throws {InvalidArgumentError} for a bad path or option.
 * @throws {FileError} when the file cannot be read (missing, a folder, no permission).
 * @throws {FormatError} for a corrupt or oversized file or arrays that are not MedMNIST's.
 *
 * @example
 * ```ts
 * const derma = await loadMedmnist('data/dermamnist.npz', { split: 'test' });
 * derma.classNames.length; // 7
 * ```
 * @category Node
 */
export async function loadMedmnist(file: string, options: LoadMedmnistOptions = {}): Promise<MedmnistSplit> {
  return entryAsync('loadMedmnist', async () => {
    const fn = 'loadMedmnist';
    assertPath(fn, 'file', file);
    const o = assertOptionsObject(fn, options);
    assertKnownKeys(fn, o, ['split', 'dataset', 'channels', 'maxBytes']);
    const split = o.split ?? 'test';
    if (split !== 'train' && split !== 'val' && split !== 'test') throw new InvalidArgumentError(fn, 'options.split', "'train', 'val' or 'test'", describeValue(split));
    const { maxBytes: rawMax, ...rest } = o as LoadMedmnistOptions;
    const maxBytes = assertMaxBytes(fn, rawMax);
    const base = file.split(/[/\\]/).pop()!.toLowerCase();
    const flag = /^([a-z]+mnist)(_\d+)?\.npz$/.exec(base)?.[1];
    const bytes = await readBytes(fn, file, 'the MedMNIST file');
    let arrays: Record<string, NpyArray>;
    try {
      arrays = readNpz(bytes, { name: file, keys: [`${split}_images`, `${split}_labels`], ...(maxBytes === undefined ? {} : { maxBytes }) });
    } catch (err) {
      throw reattribute(err, fn, {}, file);
    }
    const dataset = rest.dataset ?? (flag && flag in MEDMNIST_INFO ? (flag as MedmnistOptions['dataset']) : undefined);
    return medmnistArrays(fn, arrays, dataset === undefined ? rest : { ...rest, dataset });
  });
}
