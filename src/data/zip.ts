/**
 * A zip reader that trusts nothing it reads: it walks the central directory (Zip64 included), checks
 * every local header against it, inflates with a hard bound on the output, and verifies each
 * member's CRC-32. fflate does the DEFLATE decoding; fflate's own `unzipSync` checks no CRC and
 * inflates without limit, so it is not used for reading.
 * @internal
 */
import { Inflate } from 'fflate';
import { FormatError } from '../errors.js';

/** One member of a zip archive, as its central directory describes it. */
export interface ZipEntry {
  /** The member's name (UTF-8). */
  readonly name: string;
  /** 0 (stored) or 8 (deflated); other methods are rejected when extracted. */
  readonly method: number;
  /** The CRC-32 of the uncompressed bytes. */
  readonly crc: number;
  /** Bytes stored in the archive. */
  readonly compressedSize: number;
  /** Bytes once uncompressed, as declared (a declaration: extraction checks it). */
  readonly size: number;
  /** Where the member's local header starts. */
  readonly localOffset: number;
  /** General-purpose flags (bit 0: encrypted). */
  readonly flags: number;
}

let crcTable: Int32Array | undefined;

/** CRC-32 (IEEE 802.3), as zip stores it for each member; slicing-by-4 for speed on large members. */
export function crc32(data: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Int32Array(256 * 4);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c;
    }
    for (let n = 0; n < 256; n++) {
      for (let t = 1; t < 4; t++) crcTable[t * 256 + n] = crcTable[(t - 1) * 256 + n]! >>> 8 ^ crcTable[crcTable[(t - 1) * 256 + n]! & 0xff]!;
    }
  }
  const T = crcTable;
  let crc = -1;
  let i = 0;
  const n = data.length;
  const n4 = n - (n % 4);
  for (; i < n4; i += 4) {
    crc ^= data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24);
    crc = T[768 + (crc & 0xff)]! ^ T[512 + ((crc >>> 8) & 0xff)]! ^ T[256 + ((crc >>> 16) & 0xff)]! ^ T[crc >>> 24]!;
  }
  for (; i < n; i++) crc = T[(crc ^ data[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ -1) >>> 0;
}

const EOCD = 0x06054b50;
const EOCD64_LOCATOR = 0x07064b50;
const EOCD64 = 0x06064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;

/**
 * Lists the members of a zip archive from its central directory.
 * @param b - the whole archive (any view; byteOffset is honoured).
 * @param fn - the public function, for messages.
 * @param name - what the bytes are (a file name), for messages.
 */
export function readZipDirectory(b: Uint8Array, fn: string, name: string): ZipEntry[] {
  const bad = (what: string): FormatError => new FormatError(`${fn}: ${name} ${what}`);
  if (b.length < 22 || b[0] !== 0x50 || b[1] !== 0x4b) throw bad(`is not a zip archive (it does not start with PK; ${b.length} bytes)`);
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  // The end-of-central-directory record (PK\x05\x06) sits in the last 22 + 65535 bytes (its comment).
  let eocd = -1;
  for (let i = b.length - 22; i >= Math.max(0, b.length - 22 - 65535); i--) {
    if (view.getUint32(i, true) === EOCD && i + 22 + view.getUint16(i + 20, true) === b.length) { eocd = i; break; }
  }
  if (eocd < 0) throw bad('is truncated or not a zip archive (no end-of-central-directory record at its end)');
  let count = view.getUint16(eocd + 10, true);
  let dirSize = view.getUint32(eocd + 12, true);
  let dirOffset = view.getUint32(eocd + 16, true);
  if (count === 0xffff || dirSize === 0xffffffff || dirOffset === 0xffffffff) {
    if (eocd < 20 || view.getUint32(eocd - 20, true) !== EOCD64_LOCATOR) throw bad('has a corrupt end-of-central-directory record (Zip64 fields without a Zip64 locator)');
    const z = Number(view.getBigUint64(eocd - 12, true));
    if (!Number.isSafeInteger(z) || z + 56 > b.length || view.getUint32(z, true) !== EOCD64) throw bad('has a corrupt Zip64 end-of-central-directory record');
    count = Number(view.getBigUint64(z + 32, true));
    dirSize = Number(view.getBigUint64(z + 40, true));
    dirOffset = Number(view.getBigUint64(z + 48, true));
  }
  if (!Number.isSafeInteger(dirOffset) || !Number.isSafeInteger(dirSize) || dirOffset + dirSize > b.length || count > dirSize / 46) {
    throw bad(`is truncated or corrupt: its central directory (${count} members, ${dirSize} bytes at offset ${dirOffset}) does not fit in its ${b.length} bytes`);
  }
  const decoder = new TextDecoder('utf-8', { fatal: false });
  const entries: ZipEntry[] = [];
  const seen = new Set<string>();
  let p = dirOffset;
  for (let i = 0; i < count; i++) {
    if (p + 46 > dirOffset + dirSize || view.getUint32(p, true) !== CENTRAL) throw bad(`has a corrupt central directory (entry ${i})`);
    const flags = view.getUint16(p + 8, true);
    const method = view.getUint16(p + 10, true);
    const crc = view.getUint32(p + 16, true);
    let compressedSize = view.getUint32(p + 20, true);
    let size = view.getUint32(p + 24, true);
    const nameLen = view.getUint16(p + 28, true);
    const extraLen = view.getUint16(p + 30, true);
    const commentLen = view.getUint16(p + 32, true);
    let localOffset = view.getUint32(p + 42, true);
    const end = p + 46 + nameLen + extraLen + commentLen;
    if (end > dirOffset + dirSize) throw bad(`has a corrupt central directory (entry ${i} runs past it)`);
    const memberName = decoder.decode(b.subarray(p + 46, p + 46 + nameLen));
    // Zip64 extended information (id 1): the 64-bit values of the fields set to 0xffffffff, in order.
    let e = p + 46 + nameLen;
    const extraEnd = e + extraLen;
    while (e + 4 <= extraEnd) {
      const id = view.getUint16(e, true);
      const len = view.getUint16(e + 2, true);
      if (e + 4 + len > extraEnd) throw bad(`has a corrupt extra field in the directory entry of '${memberName}'`);
      if (id === 1) {
        let q = e + 4;
        const take = (): number => {
          if (q + 8 > e + 4 + len) throw bad(`has a short Zip64 field in the directory entry of '${memberName}'`);
          const v = Number(view.getBigUint64(q, true));
          q += 8;
          return v;
        };
        if (size === 0xffffffff) size = take();
        if (compressedSize === 0xffffffff) compressedSize = take();
        if (localOffset === 0xffffffff) localOffset = take();
      }
      e += 4 + len;
    }
    if (![size, compressedSize, localOffset].every(Number.isSafeInteger) || localOffset + 30 > b.length) {
      throw bad(`is truncated or corrupt: member '${memberName}' starts at byte ${localOffset} of ${b.length}`);
    }
    if (seen.has(memberName)) throw bad(`holds two members named '${memberName}' (a corrupt or forged archive)`);
    seen.add(memberName);
    const entry = { name: memberName, method, crc, compressedSize, size, localOffset, flags };
    // Every member's local header must agree with the directory, also for members that will not be
    // read: a corrupted name in either would otherwise make a member silently disappear.
    dataOffset(b, entry, fn, name);
    entries.push(entry);
    p = end;
  }
  return entries;
}

/** Where the member's data start, after checking its local header against the directory. */
function dataOffset(b: Uint8Array, entry: ZipEntry, fn: string, name: string): number {
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const at = entry.localOffset;
  if (view.getUint32(at, true) !== LOCAL) throw new FormatError(`${fn}: ${name} member '${entry.name}' has a corrupt local header`);
  const nameLen = view.getUint16(at + 26, true);
  const extraLen = view.getUint16(at + 28, true);
  const start = at + 30 + nameLen + extraLen;
  const localName = new TextDecoder().decode(b.subarray(at + 30, Math.min(b.length, at + 30 + nameLen)));
  if (localName !== entry.name || view.getUint16(at + 8, true) !== entry.method) {
    throw new FormatError(`${fn}: ${name} member '${entry.name}' has a local header that disagrees with the zip directory (corrupt archive)`);
  }
  if (start + entry.compressedSize > b.length) {
    throw new FormatError(`${fn}: ${name} is truncated: member '${entry.name}' needs ${entry.compressedSize} bytes at offset ${start}, the archive ends at ${b.length}`);
  }
  return start;
}

/** Options of {@link extractEntry}. */
export interface ExtractOptions {
  /** The most bytes the member may inflate to; more is an error thrown as soon as it is seen. */
  readonly maxBytes: number;
  /** What to say when `maxBytes` is exceeded (the caller's advice, e.g. which option raises it). */
  readonly onLimit: (declared: number) => FormatError;
  /**
   * Reads the member's own size declaration from its first bytes (e.g. a .npy header): returns the
   * total size once `prefix` holds enough, or undefined to ask for more. Checked against the zip
   * directory and `maxBytes` before the output buffer is allocated.
   */
  readonly sizeFromPrefix?: (prefix: Uint8Array) => number | undefined;
}

/**
 * Extracts one member and verifies its CRC-32. Stored members are copied. Deflated ones are inflated
 * as a stream: the first bytes (1 KiB of input) give the member's own size declaration, which must
 * agree with the directory and fit in `maxBytes`; the output goes into a buffer of exactly that size,
 * and inflation stops with an error at the first chunk that would overflow it. Input chunks shrink as
 * the expected output runs out, so a zip bomb overshoots by at most about 16 MiB before it is stopped.
 * @returns the member's bytes (new memory).
 */
export function extractEntry(b: Uint8Array, entry: ZipEntry, fn: string, name: string, options: ExtractOptions): Uint8Array {
  const where = `${name} member '${entry.name}'`;
  if (entry.flags & 1) throw new FormatError(`${fn}: ${where} is encrypted; medrobust reads only unencrypted archives`);
  if (entry.method !== 0 && entry.method !== 8) throw new FormatError(`${fn}: ${where} uses zip compression method ${entry.method}; only stored (0) and deflated (8) members are supported`);
  const start = dataOffset(b, entry, fn, name);
  const packed = b.subarray(start, start + entry.compressedSize);
  const checkDeclared = (declared: number): void => {
    if (declared !== entry.size) {
      throw new FormatError(`${fn}: ${where} is corrupt or forged: its header declares ${declared} bytes, the zip directory ${entry.size}`);
    }
    if (declared > options.maxBytes) throw options.onLimit(declared);
  };
  if (entry.method === 0) {
    if (entry.compressedSize !== entry.size) throw new FormatError(`${fn}: ${where} is stored with ${entry.compressedSize} bytes but declares ${entry.size}`);
    if (crc32(packed) !== entry.crc) throw new FormatError(`${fn}: ${where} is corrupt: its CRC-32 does not match the zip directory`);
    if (options.sizeFromPrefix) {
      const declared = options.sizeFromPrefix(packed);
      if (declared !== undefined) checkDeclared(declared);
    }
    if (entry.size > options.maxBytes) throw options.onLimit(entry.size);
    return packed.slice();
  }
  const out = inflateBounded(packed, entry, fn, where, options, checkDeclared);
  if (crc32(out) !== entry.crc) throw new FormatError(`${fn}: ${where} is corrupt: its CRC-32 does not match the zip directory`);
  return out;
}

/** The smallest input chunk once the size is known; one chunk can inflate to at most 1032 times its size. */
const MIN_CHUNK = 1 << 14;
/** DEFLATE's largest expansion: a 258-byte match costs at least 2 bits. */
const MAX_RATIO = 1032;

function inflateBounded(packed: Uint8Array, entry: ZipEntry, fn: string, where: string, options: ExtractOptions, checkDeclared: (n: number) => void): Uint8Array {
  let declared: number | undefined;
  let out: Uint8Array | undefined;
  if (!options.sizeFromPrefix) {
    declared = entry.size;
    if (declared > options.maxBytes) throw options.onLimit(declared);
    out = new Uint8Array(declared);
  }
  let prefix = new Uint8Array(0);
  let filled = 0;
  const overflow = (): FormatError => new FormatError(`${fn}: ${where} inflates to more than the ${declared} bytes it declares (corrupt, or a zip bomb); stopped there`);
  const accept = (chunk: Uint8Array): void => {
    if (out === undefined) {
      // Still reading the member's own header: keep the first bytes until it can be parsed.
      const next = new Uint8Array(prefix.length + chunk.length);
      next.set(prefix);
      next.set(chunk, prefix.length);
      prefix = next;
      const found = options.sizeFromPrefix!(prefix);
      if (found === undefined) return;
      checkDeclared(found);
      declared = found;
      if (prefix.length > found) throw overflow();
      out = new Uint8Array(found);
      out.set(prefix);
      filled = prefix.length;
      prefix = new Uint8Array(0);
      return;
    }
    if (filled + chunk.length > declared!) throw overflow();
    out.set(chunk, filled);
    filled += chunk.length;
  };
  const inflater = new Inflate((chunk: Uint8Array) => { if (chunk.length > 0) accept(chunk); });
  try {
    // Input chunks: small (1 KiB, doubling) until the header is read; then sized so that even the
    // densest DEFLATE stream cannot overshoot the bytes still expected by more than 16 MiB in one push.
    let pos = 0;
    let step = 1024;
    do {
      const size = declared === undefined ? step : Math.max(MIN_CHUNK, Math.floor((declared - filled) / MAX_RATIO));
      step *= 2;
      const end = Math.min(packed.length, pos + size);
      inflater.push(packed.subarray(pos, end), end === packed.length);
      pos = end;
    } while (pos < packed.length);
  } catch (err) {
    if (err instanceof FormatError) throw err;
    throw new FormatError(`${fn}: ${where} cannot be inflated (corrupt or truncated deflate data: ${(err as Error).message})`);
  }
  if (declared === undefined || out === undefined) throw new FormatError(`${fn}: ${where} is truncated: it ends inside its own header`);
  if (filled !== declared) throw new FormatError(`${fn}: ${where} is truncated or corrupt: it inflates to ${filled} bytes, it declares ${declared}`);
  return out;
}
