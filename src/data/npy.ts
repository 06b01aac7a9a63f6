import { FormatError, InvalidArgumentError } from '../errors.js';
import { assertKnownKeys, assertOptionsObject, describeValue } from '../internal/validate.js';

/**
 * The NumPy dtypes medrobust reads and writes (little- or big-endian on read, little-endian on write).
 * `'bool'` is stored one byte per value (0 or 1) in a `Uint8Array`.
 * @category Data
 */
export type NpyDtype = 'float32' | 'float64' | 'int8' | 'uint8' | 'int16' | 'uint16' | 'int32' | 'uint32' | 'int64' | 'uint64' | 'bool';

/**
 * The typed arrays that hold {@link NpyArray} data: `int64`/`uint64` use `BigInt64Array`/`BigUint64Array`.
 * @category Data
 */
export type NpyData = Float32Array | Float64Array | Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array | BigInt64Array | BigUint64Array;

/**
 * An n-dimensional array as stored in a `.npy` file: C-order (row-major) `data` of `shape`.
 * Files in Fortran order are transposed to C order on read.
 * @category Data
 */
export interface NpyArray {
  /** The element type. */
  readonly dtype: NpyDtype;
  /** The dimensions; `[]` for a scalar. */
  readonly shape: readonly number[];
  /** The values in C order; its length is the product of `shape`. */
  readonly data: NpyData;
}

/**
 * Options of {@link readNpy}.
 * @category Data
 */
export interface ReadNpyOptions {
  /**
   * A name for the bytes (a file name or an `.npz` member) used in error messages.
   * @defaultValue 'the .npy data'
   */
  name?: string;
}

interface DtypeInfo {
  readonly dtype: NpyDtype;
  readonly size: number;
  readonly make: (buffer: ArrayBuffer, length: number) => NpyData;
}

const DTYPES: Readonly<Record<string, DtypeInfo>> = {
  f4: { dtype: 'float32', size: 4, make: (b, n) => new Float32Array(b, 0, n) },
  f8: { dtype: 'float64', size: 8, make: (b, n) => new Float64Array(b, 0, n) },
  i1: { dtype: 'int8', size: 1, make: (b, n) => new Int8Array(b, 0, n) },
  u1: { dtype: 'uint8', size: 1, make: (b, n) => new Uint8Array(b, 0, n) },
  b1: { dtype: 'bool', size: 1, make: (b, n) => new Uint8Array(b, 0, n) },
  i2: { dtype: 'int16', size: 2, make: (b, n) => new Int16Array(b, 0, n) },
  u2: { dtype: 'uint16', size: 2, make: (b, n) => new Uint16Array(b, 0, n) },
  i4: { dtype: 'int32', size: 4, make: (b, n) => new Int32Array(b, 0, n) },
  u4: { dtype: 'uint32', size: 4, make: (b, n) => new Uint32Array(b, 0, n) },
  i8: { dtype: 'int64', size: 8, make: (b, n) => new BigInt64Array(b, 0, n) },
  u8: { dtype: 'uint64', size: 8, make: (b, n) => new BigUint64Array(b, 0, n) },
};

const DESCR: Readonly<Record<NpyDtype, string>> = {
  float32: '<f4', float64: '<f8', int8: '|i1', uint8: '|u1', bool: '|b1', int16: '<i2', uint16: '<u2',
  int32: '<i4', uint32: '<u4', int64: '<i8', uint64: '<u8',
};

const CTORS: Readonly<Record<NpyDtype, new (n: number) => NpyData>> = {
  float32: Float32Array, float64: Float64Array, int8: Int8Array, uint8: Uint8Array, bool: Uint8Array, int16: Int16Array,
  uint16: Uint16Array, int32: Int32Array, uint32: Uint32Array, int64: BigInt64Array, uint64: BigUint64Array,
};

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
/** Headers longer than this are rejected (numpy itself refuses headers above 10 kB by default). */
const MAX_HEADER = 1 << 20;

/** The input as a Uint8Array view of exactly its bytes (honouring byteOffset/byteLength of views). */
export function bytesOf(fn: string, bytes: unknown): Uint8Array {
  if (bytes instanceof Uint8Array) return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes instanceof ArrayBuffer) return new Uint8Array(bytes);
  throw new InvalidArgumentError(fn, 'bytes', 'a Uint8Array (or ArrayBuffer) with the file contents', describeValue(bytes));
}

/** Parses numpy's header, a Python dict literal: {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }. */
function parseHeader(text: string, name: string, fn: string): { descr: string; fortran: boolean; shape: number[] } {
  const bad = (what: string): FormatError => new FormatError(`${fn}: ${name} has a bad .npy header (${what}): ${JSON.stringify(text.slice(0, 200))}`);
  const descr = /['"]descr['"]\s*:\s*['"]([^'"]*)['"]/.exec(text);
  const fortran = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(text);
  const shape = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(text);
  if (!text.trim().startsWith('{')) throw bad('not a dict');
  if (!descr) throw bad("no 'descr'");
  if (!fortran) throw bad("no 'fortran_order'");
  if (!shape) throw bad("no 'shape'");
  const dims = shape[1]!.split(',').map((s) => s.trim()).filter((s) => s.length > 0).map((s) => (/^\d+L?$/.test(s) ? Number.parseInt(s, 10) : Number.NaN));
  if (dims.some((d) => !Number.isSafeInteger(d) || d < 0)) throw bad('the shape holds something other than non-negative integers');
  return { descr: descr[1]!, fortran: fortran[1] === 'True', shape: dims };
}

function product(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

interface Preamble {
  readonly header: { descr: string; fortran: boolean; shape: number[] };
  readonly info: DtypeInfo;
  readonly bigEndian: boolean;
  readonly count: number;
  /** Where the data start (the preamble's length). */
  readonly dataStart: number;
}

/**
 * Parses the magic string, version and header of a .npy file from its first bytes. With
 * `complete: false` it returns undefined while `b` is too short to hold the whole header (for
 * reading the header of a member before inflating the rest); malformed bytes always throw.
 */
function readPreamble(b: Uint8Array, name: string, fn: string, complete: boolean): Preamble | undefined {
  const need = (n: number): boolean => b.length < n;
  if ((complete ? need(10) : false) || MAGIC.some((m, i) => i < b.length && b[i] !== m)) {
    throw new FormatError(`${fn}: ${name} is not a .npy file (it does not start with \\x93NUMPY; ${b.length} bytes)`);
  }
  if (need(8)) return undefined;
  const major = b[6]!;
  if (major < 1 || major > 3) throw new FormatError(`${fn}: ${name} has an unsupported .npy format version ${major}.${b[7]}`);
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const lenBytes = major === 1 ? 2 : 4;
  if (need(8 + lenBytes)) {
    if (complete) throw new FormatError(`${fn}: ${name} is truncated inside the .npy header`);
    return undefined;
  }
  const headerLen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = 8 + lenBytes;
  if (headerLen > MAX_HEADER) throw new FormatError(`${fn}: ${name} has a .npy header of ${headerLen} bytes, more than the ${MAX_HEADER} medrobust reads (corrupt?)`);
  if (start + headerLen > b.length) {
    if (!complete) return undefined;
    throw new FormatError(`${fn}: ${name} is truncated: its header claims ${headerLen} bytes, the file holds ${b.length - start} after the preamble`);
  }
  const text = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(b.subarray(start, start + headerLen));
  const header = parseHeader(text, name, fn);
  const m = /^([<>|=])?([a-zA-Z])(\d+)$/.exec(header.descr);
  const info = m ? DTYPES[`${m[2]}${m[3]}`] : undefined;
  if (!m || !info) {
    throw new FormatError(`${fn}: ${name} has dtype '${header.descr}'; supported: float32, float64, (u)int8/16/32/64 and bool (object, string, complex and float16 arrays are not)`);
  }
  const count = product(header.shape);
  if (!Number.isSafeInteger(count * info.size)) {
    throw new FormatError(`${fn}: ${name} declares shape [${header.shape.join(',')}] of ${info.dtype}, more bytes than any file can hold`);
  }
  return { header, info, bigEndian: m[1] === '>', count, dataStart: start + headerLen };
}

/**
 * The total size in bytes (preamble, header and data) that a .npy file declares in its header, read
 * from the file's first bytes; undefined while `prefix` is too short to hold the header.
 * @throws {FormatError} when the prefix is not the start of a valid .npy file.
 * @internal
 */
export function npyDeclaredSize(prefix: Uint8Array, name: string, fn: string): number | undefined {
  const pre = readPreamble(prefix, name, fn, false);
  return pre === undefined ? undefined : pre.dataStart + pre.count * pre.info.size;
}

/** C-order copy of a Fortran-order array. */
function fortranToC(data: NpyData, shape: readonly number[]): NpyData {
  const n = data.length;
  const out = new (data.constructor as new (n: number) => NpyData)(n);
  const rank = shape.length;
  const idx = new Array<number>(rank).fill(0);
  // Fortran strides: the first index varies fastest.
  const fstride = new Array<number>(rank);
  let s = 1;
  for (let d = 0; d < rank; d++) { fstride[d] = s; s *= shape[d]!; }
  for (let c = 0; c < n; c++) {
    let f = 0;
    for (let d = 0; d < rank; d++) f += idx[d]! * fstride[d]!;
    (out as unknown as unknown[])[c] = (data as unknown as unknown[])[f];
    for (let d = rank - 1; d >= 0; d--) {
      idx[d]! += 1;
      if (idx[d]! < shape[d]!) break;
      idx[d] = 0;
    }
  }
  return out;
}

/**
 * Reads a NumPy `.npy` file (format versions 1, 2 and 3) from its bytes, without copying tools or
 * a Python runtime. Big-endian data are byte-swapped and Fortran-order arrays transposed, so the
 * result is always native C-order.
 *
 * @param bytes - the whole file.
 * @param options - see {@link ReadNpyOptions}.
 * @returns the array; `data` is a fresh copy (the input is not referenced).
 * @throws {InvalidArgumentError} when `bytes` is not a Uint8Array/ArrayBuffer or an option is unknown.
 * @throws {FormatError} for a missing magic string, a truncated or malformed header, an unsupported
 *   dtype (object, string, complex, float16) or a data length that does not match the shape.
 *
 * @example
 * ```ts
 * const bytes = writeNpy({ dtype: 'float32', shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) });
 * const { shape, data } = readNpy(bytes); // [2, 2], Float32Array [1, 2, 3, 4]
 * ```
 * @category Data
 */
export function readNpy(bytes: Uint8Array | ArrayBuffer, options: ReadNpyOptions = {}): NpyArray {
  const b = bytesOf('readNpy', bytes);
  const o = assertOptionsObject('readNpy', options);
  assertKnownKeys('readNpy', o, ['name']);
  if (o.name !== undefined && typeof o.name !== 'string') throw new InvalidArgumentError('readNpy', 'options.name', 'a string', describeValue(o.name));
  const name = (o.name as string | undefined) ?? 'the .npy data';
  const pre = readPreamble(b, name, 'readNpy', true)!;
  const { info, count, dataStart, bigEndian, header } = pre;
  const available = b.length - dataStart;
  if (count * info.size !== available) {
    throw new FormatError(`readNpy: ${name} holds ${available} data bytes but its header says shape [${header.shape.join(',')}] of ${info.dtype} (${count} x ${info.size} = ${count * info.size} bytes)`);
  }
  // A fresh, exactly sized copy: `b` may be a view into a larger buffer (a Node Buffer from the pool, a
  // subarray), and Buffer#slice returns a view, not a copy, so never hand `b.buffer` to a typed array.
  const copy = new Uint8Array(count * info.size);
  copy.set(b.subarray(dataStart, dataStart + count * info.size));
  if (bigEndian && info.size > 1) {
    for (let i = 0; i < copy.length; i += info.size) copy.subarray(i, i + info.size).reverse();
  }
  let data = info.make(copy.buffer, count);
  if (header.fortran && header.shape.length > 1) data = fortranToC(data, header.shape);
  return { dtype: info.dtype, shape: header.shape, data };
}

/** Throws unless `array` is a consistent {@link NpyArray}; `fn`/`argument` name it in messages. */
export function assertNpyArray(fn: string, argument: string, array: unknown): NpyArray {
  if (typeof array !== 'object' || array === null) throw new InvalidArgumentError(fn, argument, 'an NpyArray { dtype, shape, data }', describeValue(array));
  const { dtype, shape, data } = array as Partial<NpyArray>;
  if (typeof dtype !== 'string' || !(dtype in DESCR)) throw new InvalidArgumentError(fn, `${argument}.dtype`, `one of ${Object.keys(DESCR).join(', ')}`, describeValue(dtype));
  if (!Array.isArray(shape) || shape.some((d) => !Number.isSafeInteger(d) || d < 0)) throw new InvalidArgumentError(fn, `${argument}.shape`, 'an array of non-negative integers', describeValue(shape));
  const Ctor = CTORS[dtype as NpyDtype];
  if (!(data instanceof Ctor)) throw new InvalidArgumentError(fn, `${argument}.data`, `a ${Ctor.name} for dtype ${dtype}`, describeValue(data));
  if (data.length !== product(shape)) throw new InvalidArgumentError(fn, `${argument}.data`, `${product(shape)} values for shape [${shape.join(',')}]`, `${data.length} values`);
  return array as NpyArray;
}

/**
 * Writes an array as a NumPy `.npy` file (format 1.0, little-endian, C order, header padded to 64
 * bytes as NumPy does), readable by `numpy.load`.
 *
 * @param array - the array; `data.length` must equal the product of `shape`.
 * @returns the file's bytes (new memory).
 * @throws {InvalidArgumentError} for an unknown dtype, a typed array that does not match the dtype,
 *   or a data length that does not match the shape.
 *
 * @example
 * ```ts
 * const bytes = writeNpy({ dtype: 'uint8', shape: [3], data: new Uint8Array([1, 2, 3]) });
 * ```
 * @category Data
 */
export function writeNpy(array: NpyArray): Uint8Array {
  const { dtype, shape, data } = assertNpyArray('writeNpy', 'array', array);
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${DESCR[dtype]}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const itemBytes = data.byteLength;
  const out = new Uint8Array(10 + header.length + itemBytes);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  new DataView(out.buffer).setUint16(8, header.length, true);
  for (let i = 0; i < header.length; i++) out[10 + i] = header.charCodeAt(i);
  const src = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  out.set(src, 10 + header.length);
  // Typed arrays use the platform's byte order; every supported platform is little-endian, but check.
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
    const size = data.BYTES_PER_ELEMENT;
    for (let i = 10 + header.length; i < out.length; i += size) out.subarray(i, i + size).reverse();
  }
  return out;
}
