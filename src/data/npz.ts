import { unzipSync, zipSync } from 'fflate';
import { FormatError, InvalidArgumentError } from '../errors.js';
import { assertBoolean, assertKnownKeys, assertOptionsObject, describeValue } from '../internal/validate.js';
import { assertNpyArray, readNpy, writeNpy, type NpyArray } from './npy.js';

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

let crcTable: Uint32Array | undefined;

/** CRC-32 (IEEE 802.3), as zip stores it for each member. */
function crc32(data: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (let i = 0; i < data.length; i++) crc = crcTable[(crc ^ data[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/**
 * The CRC-32 of each member, from the zip's central directory (fflate does not check them, so a
 * corrupted member would otherwise decode silently to wrong values). Handles Zip64 archives.
 */
function centralCrcs(b: Uint8Array, name: string): Map<string, number> {
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let eocd = -1;
  for (let i = b.length - 22; i >= Math.max(0, b.length - 22 - 65535); i--) {
    if (view.getUint32(i, true) === 0x06054b50) { eocd = i; break; }
  }
  if (eocd < 0) throw new FormatError(`readNpz: ${name} is truncated or not a zip archive (no end-of-central-directory record)`);
  let count = view.getUint16(eocd + 10, true);
  let offset = view.getUint32(eocd + 16, true);
  if ((count === 0xffff || offset === 0xffffffff) && eocd >= 20 && view.getUint32(eocd - 20, true) === 0x07064b50) {
    const z = Number(view.getBigUint64(eocd - 12, true));
    if (z + 56 > b.length || view.getUint32(z, true) !== 0x06064b50) throw new FormatError(`readNpz: ${name} has a corrupt Zip64 directory`);
    count = Number(view.getBigUint64(z + 32, true));
    offset = Number(view.getBigUint64(z + 48, true));
  }
  const crcs = new Map<string, number>();
  let p = offset;
  for (let i = 0; i < count; i++) {
    if (p + 46 > b.length || view.getUint32(p, true) !== 0x02014b50) throw new FormatError(`readNpz: ${name} has a corrupt central directory (entry ${i})`);
    const nameLen = view.getUint16(p + 28, true);
    const extraLen = view.getUint16(p + 30, true);
    const commentLen = view.getUint16(p + 32, true);
    if (p + 46 + nameLen > b.length) throw new FormatError(`readNpz: ${name} has a corrupt central directory (entry ${i})`);
    crcs.set(new TextDecoder().decode(b.subarray(p + 46, p + 46 + nameLen)), view.getUint32(p + 16, true));
    p += 46 + nameLen + extraLen + commentLen;
  }
  return crcs;
}

function fail(name: string, what: string, cause: unknown): FormatError {
  const detail = cause instanceof Error ? `: ${cause.message}` : '';
  return new FormatError(`readNpz: ${name} ${what}${detail}`);
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
  if (!(bytes instanceof Uint8Array) && !(bytes instanceof ArrayBuffer)) {
    throw new InvalidArgumentError('readNpz', 'bytes', 'a Uint8Array (or ArrayBuffer) with the file contents', describeValue(bytes));
  }
  const o = assertOptionsObject('readNpz', options);
  assertKnownKeys('readNpz', o, ['keys', 'name']);
  if (o.name !== undefined && typeof o.name !== 'string') throw new InvalidArgumentError('readNpz', 'options.name', 'a string', describeValue(o.name));
  if (o.keys !== undefined && (!Array.isArray(o.keys) || o.keys.some((k) => typeof k !== 'string'))) {
    throw new InvalidArgumentError('readNpz', 'options.keys', 'an array of array names', describeValue(o.keys));
  }
  const name = (o.name as string | undefined) ?? 'the .npz data';
  const keys = o.keys as readonly string[] | undefined;
  const b = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  // A zip ends with its end-of-central-directory record (signature PK\x05\x06), at most 64 kB + 22 from the end.
  if (b.length < 22 || b[0] !== 0x50 || b[1] !== 0x4b) throw new FormatError(`readNpz: ${name} is not a zip archive (.npz files are zip archives; ${b.length} bytes)`);
  const crcs = centralCrcs(b, name);
  let files: Record<string, Uint8Array>;
  try {
    files = unzipSync(b, { filter: (f) => f.name.endsWith('.npy') && (keys === undefined || keys.includes(f.name.slice(0, -4))) });
  } catch (err) {
    throw fail(name, 'is not a readable zip archive (corrupt or truncated)', err);
  }
  const out: Record<string, NpyArray> = {};
  for (const [member, data] of Object.entries(files)) {
    if (crcs.get(member) !== crc32(data)) throw new FormatError(`readNpz: ${name} member '${member}' is corrupt (its CRC-32 does not match the zip directory)`);
    out[member.slice(0, -4)] = readNpy(data, { name: `${name} member '${member}'` });
  }
  for (const k of keys ?? []) {
    if (!(k in out)) throw new FormatError(`readNpz: ${name} has no array '${k}' (it holds: ${Object.keys(out).join(', ') || 'no .npy members'})`);
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
  if (typeof arrays !== 'object' || arrays === null || Array.isArray(arrays)) {
    throw new InvalidArgumentError('writeNpz', 'arrays', 'an object of named NpyArrays', describeValue(arrays));
  }
  const o = assertOptionsObject('writeNpz', options);
  assertKnownKeys('writeNpz', o, ['compress']);
  const compress = assertBoolean('writeNpz', 'options.compress', o.compress) ?? false;
  const names = Object.keys(arrays);
  if (names.length === 0) throw new InvalidArgumentError('writeNpz', 'arrays', 'at least one array', 'an empty object');
  const files: Record<string, Uint8Array> = {};
  for (const n of names) {
    if (n.length === 0 || /[/\\]/.test(n)) throw new InvalidArgumentError('writeNpz', 'arrays', 'names without / or \\', JSON.stringify(n));
    files[`${n}.npy`] = writeNpy(assertNpyArray('writeNpz', `arrays.${n}`, arrays[n]));
  }
  // mtime fixed so that equal arrays give byte-identical archives.
  return zipSync(files, { level: compress ? 6 : 0, mtime: new Date(1980, 0, 1) });
}
