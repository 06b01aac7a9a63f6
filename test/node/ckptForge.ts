/**
 * Writes checkpoint files the way fileCheckpoint does, but from whatever state.json text and arrays a
 * test chooses, with correct checksums: files that pass every integrity check and must still be
 * refused for what they say. Also patches bytes and recomputes the zip CRCs, as a tamperer would.
 */
import { createHash } from 'node:crypto';
import { zipSync } from 'fflate';
import { writeNpy } from '../../src/data/npy.js';
import { crc32Reference } from '../data/zipForge.js';

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** A checkpoint whose state.json is `json` (any text) and whose arrays are `arrays` (1-D float32 or int32). */
export function forgeCheckpoint(json: string, arrays: Record<string, Float32Array | Int32Array> = {}, options: { sums?: boolean; compress?: boolean } = {}): Uint8Array {
  const files: Record<string, Uint8Array> = { 'state.json': new TextEncoder().encode(json) };
  for (const [name, data] of Object.entries(arrays)) {
    files[`${name}.npy`] = data instanceof Float32Array ? writeNpy({ dtype: 'float32', shape: [data.length], data }) : writeNpy({ dtype: 'int32', shape: [data.length], data });
  }
  if (options.sums !== false) {
    const sums: Record<string, string> = {};
    for (const [n, b] of Object.entries(files)) sums[n] = sha(b);
    files['medrobust.json'] = new TextEncoder().encode(JSON.stringify({ format: 'medrobust-checkpoint/2', sha256: sums }));
  }
  return zipSync(files, { level: options.compress ? 6 : 0, mtime: new Date(1980, 0, 1) });
}

/** Finds `needle` in `hay`; -1 when absent. */
export function indexOf(hay: Uint8Array, needle: Uint8Array, from = 0): number {
  outer: for (let i = from; i <= hay.length - needle.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

/**
 * Replaces the bytes of a stored member's content in place (same length) and rewrites the CRC-32
 * in its local header and in the central directory, so that only the SHA-256 can notice.
 */
export function tamperStored(zip: Uint8Array, member: string, edit: (content: Uint8Array) => void): Uint8Array {
  const out = zip.slice();
  const view = new DataView(out.buffer);
  const name = new TextEncoder().encode(member);
  // Central directory entry of `member`.
  for (let p = 0; p + 46 <= out.length; p++) {
    if (view.getUint32(p, true) !== 0x02014b50 || view.getUint16(p + 28, true) !== name.length || indexOf(out.subarray(p + 46, p + 46 + name.length), name) !== 0) continue;
    const local = view.getUint32(p + 42, true);
    const size = view.getUint32(p + 20, true);
    const start = local + 30 + view.getUint16(local + 26, true) + view.getUint16(local + 28, true);
    const content = out.subarray(start, start + size);
    edit(content);
    const crc = crc32Reference(content);
    view.setUint32(local + 14, crc, true);
    view.setUint32(p + 16, crc, true);
    return out;
  }
  throw new Error(`no member ${member}`);
}
