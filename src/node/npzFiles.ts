import { promises as fs } from 'node:fs';
import { InvalidArgumentError } from '../errors.js';
import { describeValue } from '../internal/validate.js';
import { medmnistFromNpz, type MedmnistOptions, type MedmnistSplit } from '../data/medmnist.js';
import type { NpyArray } from '../data/npy.js';
import { readNpz, writeNpz, type WriteNpzOptions } from '../data/npz.js';
import { writeFileAtomic } from './atomic.js';

function assertPath(fn: string, argument: string, p: unknown): string {
  if (typeof p !== 'string' || p.length === 0) throw new InvalidArgumentError(fn, argument, 'a file path', describeValue(p));
  return p;
}

/**
 * Reads a `.npz` file from disk (see {@link readNpz}).
 *
 * @param file - the path.
 * @param keys - read only these arrays; all when omitted.
 * @returns the arrays by name.
 * @throws {InvalidArgumentError} for a bad path.
 * @throws {FormatError} for a corrupt or truncated file (the message names it).
 *
 * @example
 * ```ts
 * const arrays = await loadNpz('adversarial.npz');
 * ```
 * @category Node
 */
export async function loadNpz(file: string, keys?: readonly string[]): Promise<Record<string, NpyArray>> {
  assertPath('loadNpz', 'file', file);
  const bytes = await fs.readFile(file);
  return readNpz(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), keys === undefined ? { name: file } : { name: file, keys });
}

/**
 * Writes arrays to a `.npz` file atomically (temporary file + rename), readable by `numpy.load`.
 *
 * @param file - the path (its folder is created if needed).
 * @param arrays - the arrays by name (see {@link writeNpz}).
 * @param options - see {@link WriteNpzOptions}.
 * @returns a promise that resolves once the file is in place.
 * @throws {InvalidArgumentError} for a bad path or bad arrays (nothing is written).
 *
 * @example
 * ```ts
 * await saveNpz('adv.npz', { images: await tensorToNpy(adv), labels: await tensorToNpy(labels) });
 * ```
 * @category Node
 */
export async function saveNpz(file: string, arrays: Readonly<Record<string, NpyArray>>, options: WriteNpzOptions = {}): Promise<void> {
  assertPath('saveNpz', 'file', file);
  const bytes = writeNpz(arrays, options);
  await writeFileAtomic(file, bytes);
}

/**
 * Loads one split of a MedMNIST `.npz` file (e.g. `dermamnist.npz`, `chestmnist_64.npz`) as
 * tensors with its task and class names. Only the split's two arrays are decompressed. Download the
 * files yourself (medmnist.com / Zenodo); nothing is fetched here.
 *
 * @param file - the path.
 * @param options - see {@link MedmnistOptions}; without `dataset`, it is taken from the file name
 *   when that starts with a MedMNIST flag.
 * @returns the split (see {@link medmnistFromNpz}); the caller owns the tensors.
 * @throws {InvalidArgumentError} for a bad path or option.
 * @throws {FormatError} for a corrupt file or arrays that are not MedMNIST's.
 *
 * @example
 * ```ts
 * const derma = await loadMedmnist('data/dermamnist.npz', { split: 'test' });
 * derma.classNames.length; // 7
 * ```
 * @category Node
 */
export async function loadMedmnist(file: string, options: MedmnistOptions = {}): Promise<MedmnistSplit> {
  assertPath('loadMedmnist', 'file', file);
  const split = (options as MedmnistOptions | undefined)?.split ?? 'test';
  if (split !== 'train' && split !== 'val' && split !== 'test') throw new InvalidArgumentError('loadMedmnist', 'options.split', "'train', 'val' or 'test'", describeValue(split));
  const base = file.split(/[/\\]/).pop()!.toLowerCase();
  const flag = /^([a-z]+mnist)(_\d+)?\.npz$/.exec(base)?.[1];
  const arrays = await loadNpz(file, [`${split}_images`, `${split}_labels`]);
  const known = ['pathmnist', 'chestmnist', 'dermamnist', 'octmnist', 'pneumoniamnist', 'retinamnist', 'breastmnist', 'bloodmnist', 'tissuemnist', 'organamnist', 'organcmnist', 'organsmnist'];
  const dataset = options.dataset ?? (flag && known.includes(flag) ? (flag as MedmnistOptions['dataset']) : undefined);
  return medmnistFromNpz(arrays, dataset === undefined ? options : { ...options, dataset });
}
