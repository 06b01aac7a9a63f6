import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { unzipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { FormatError, InvalidArgumentError } from '../../src/errors.js';
import { readNpy, writeNpy, type NpyArray } from '../../src/data/npy.js';

const fixture = (name: string): Record<string, Uint8Array> => unzipSync(new Uint8Array(readFileSync(new URL(`./fixtures/${name}`, import.meta.url))));

/** A hand-made .npy file with a given header text and data bytes. */
function npy(header: string, data: Uint8Array, version = 1): Uint8Array {
  const h = new TextEncoder().encode(header);
  const pre = version === 1 ? 10 : 12;
  const out = new Uint8Array(pre + h.length + data.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]);
  const dv = new DataView(out.buffer);
  if (version === 1) dv.setUint16(8, h.length, true); else dv.setUint32(8, h.length, true);
  out.set(h, pre);
  out.set(data, pre + h.length);
  return out;
}

describe('readNpy / writeNpy', () => {
  it('round-trips every dtype and shape, including scalars and empty arrays', () => {
    const arrays: NpyArray[] = [
      { dtype: 'float32', shape: [2, 3], data: new Float32Array([1.5, -2, 3, 4, 5, Number.NaN]) },
      { dtype: 'float64', shape: [2], data: new Float64Array([Math.PI, -1e300]) },
      { dtype: 'int8', shape: [3], data: new Int8Array([-128, 0, 127]) },
      { dtype: 'uint8', shape: [1, 1, 3], data: new Uint8Array([0, 128, 255]) },
      { dtype: 'bool', shape: [2], data: new Uint8Array([1, 0]) },
      { dtype: 'int16', shape: [2], data: new Int16Array([-32768, 32767]) },
      { dtype: 'uint16', shape: [1], data: new Uint16Array([65535]) },
      { dtype: 'int32', shape: [2, 1], data: new Int32Array([-2147483648, 7]) },
      { dtype: 'uint32', shape: [1], data: new Uint32Array([4294967295]) },
      { dtype: 'int64', shape: [2], data: new BigInt64Array([-(2n ** 62n), 5n]) },
      { dtype: 'uint64', shape: [1], data: new BigUint64Array([2n ** 64n - 1n]) },
      { dtype: 'float32', shape: [], data: new Float32Array([3]) },
      { dtype: 'float32', shape: [0, 4], data: new Float32Array(0) },
    ];
    for (const a of arrays) {
      const bytes = writeNpy(a);
      expect((10 + new DataView(bytes.buffer).getUint16(8, true)) % 64).toBe(0); // numpy's alignment
      const back = readNpy(bytes);
      expect(back.dtype).toBe(a.dtype);
      expect(back.shape).toEqual(a.shape);
      expect(Array.from(back.data as ArrayLike<unknown>)).toEqual(Array.from(a.data as ArrayLike<unknown>));
    }
  });

  it('reads files written by numpy: int64, Fortran order, big-endian, scalar', () => {
    const files = fixture('plain.npz');
    expect(Array.from(readNpy(files['a.npy']!).data as Float32Array)).toEqual(Array.from({ length: 12 }, (_, i) => i));
    expect(readNpy(files['b.npy']!).data).toEqual(new BigInt64Array([1n, 2n, 3n]));
    const f = readNpy(files['f.npy']!); // np.asfortranarray(arange(6).reshape(2, 3))
    expect(f.shape).toEqual([2, 3]);
    expect(Array.from(f.data as Int16Array)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(Array.from(readNpy(files['be.npy']!).data as Float64Array)).toEqual([1.5, 2.5]);
    expect(readNpy(files['s.npy']!).shape).toEqual([]);
  });

  it('reads format version 2 headers', () => {
    const bytes = npy("{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }\n", new Uint8Array(new Int32Array([7, -7]).buffer), 2);
    expect(Array.from(readNpy(bytes).data as Int32Array)).toEqual([7, -7]);
  });

  it('copies the data: later changes to the input bytes do not reach the result', () => {
    const bytes = writeNpy({ dtype: 'uint8', shape: [2], data: new Uint8Array([1, 2]) });
    const a = readNpy(bytes);
    bytes[bytes.length - 1] = 99;
    expect(Array.from(a.data as Uint8Array)).toEqual([1, 2]);
  });

  describe('reads views: Node Buffers from the shared pool and subarrays (issue 15)', () => {
    const arrays: NpyArray[] = [
      { dtype: 'float32', shape: [3], data: new Float32Array([1, 2, 3]) },
      { dtype: 'float64', shape: [2, 2], data: new Float64Array([0.5, -1, 1e300, Math.PI]) },
      { dtype: 'int16', shape: [3], data: new Int16Array([-1, 2, -3]) },
      { dtype: 'uint8', shape: [4], data: new Uint8Array([9, 8, 7, 6]) },
      { dtype: 'int64', shape: [2], data: new BigInt64Array([-5n, 2n ** 40n]) },
    ];
    it.each(arrays.map((a) => [a.dtype, a] as const))('%s from Buffer.from (a pooled slice at byteOffset > 0)', (_d, a) => {
      const buf = Buffer.from(writeNpy(a));
      expect(buf.byteOffset).toBeGreaterThan(0); // a view into Node's 8 KiB pool: what broke the old parser
      const back = readNpy(buf);
      expect(back.shape).toEqual(a.shape);
      expect(Array.from(back.data as ArrayLike<unknown>)).toEqual(Array.from(a.data as ArrayLike<unknown>));
      expect(back.data.byteOffset).toBe(0);
      expect(back.data.buffer.byteLength).toBe(a.data.byteLength); // a fresh copy, not the pool
    });

    it('from fs.readFileSync of a real file', () => {
      const dir = mkdtempSync(path.join(os.tmpdir(), 'medrobust-npy-'));
      try {
        const file = path.join(dir, 'x.npy');
        writeFileSync(file, writeNpy(arrays[0]!));
        Buffer.from('shift the pool'); // whatever the pool holds, the result must not depend on it
        expect(Array.from(readNpy(readFileSync(file)).data as Float32Array)).toEqual([1, 2, 3]);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it.each([0, 1, 3, 7])('from a subarray at odd offset %i, with junk on both sides', (offset) => {
      const a = arrays[1]!;
      const bytes = writeNpy(a);
      const host = new Uint8Array(offset + bytes.length + 5).fill(0xab);
      host.set(bytes, offset);
      const back = readNpy(host.subarray(offset, offset + bytes.length));
      expect(Array.from(back.data as Float64Array)).toEqual(Array.from(a.data as Float64Array));
      // Fortran order and big-endian through a view too.
      const f = npy("{'descr': '>i2', 'fortran_order': True, 'shape': (2, 2), }\n", new Uint8Array([0, 1, 0, 3, 0, 2, 0, 4]));
      const host2 = new Uint8Array(offset + f.length).fill(0xcd);
      host2.set(f, offset);
      expect(Array.from(readNpy(host2.subarray(offset)).data as Int16Array)).toEqual([1, 2, 3, 4]);
    });
  });

  describe('corrupt files give a FormatError that says what is wrong', () => {
    const good = writeNpy({ dtype: 'float32', shape: [4], data: new Float32Array(4) });
    const header = "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }\n";
    it.each([
      ['empty', new Uint8Array(0), /not a .npy file/],
      ['not npy', new TextEncoder().encode('hello world, not numpy'), /not a .npy file/],
      ['bad version', (() => { const b = good.slice(); b[6] = 9; return b; })(), /version 9/],
      ['truncated header', good.slice(0, 30), /truncated/],
      ['truncated data', good.slice(0, good.length - 3), /holds 13 data bytes.*16 bytes/],
      ['extra data', npy(header, new Uint8Array(20)), /holds 20 data bytes/],
      ['no shape', npy("{'descr': '<f4', 'fortran_order': False}\n", new Uint8Array(16)), /no 'shape'/],
      ['negative shape', npy("{'descr': '<f4', 'fortran_order': False, 'shape': (-4,), }\n", new Uint8Array(16)), /non-negative/],
      ['string dtype', npy("{'descr': '<U3', 'fortran_order': False, 'shape': (1,), }\n", new Uint8Array(12)), /dtype '<U3'/],
      ['object dtype', npy("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }\n", new Uint8Array(8)), /dtype '\|O'/],
      ['float16', npy("{'descr': '<f2', 'fortran_order': False, 'shape': (4,), }\n", new Uint8Array(8)), /dtype '<f2'/],
      ['huge shape', npy("{'descr': '<f8', 'fortran_order': False, 'shape': (100000000000, 100000000000), }\n", new Uint8Array(8)), /more bytes than any file can hold/],
    ])('%s', (_name, bytes, message) => {
      expect(() => readNpy(bytes, { name: 'x.npy' })).toThrow(FormatError);
      expect(() => readNpy(bytes, { name: 'x.npy' })).toThrow(message);
    });
  });

  describe('rejects bad input', () => {
    it('non-byte input, unknown options, inconsistent arrays', () => {
      expect(() => readNpy('abc' as unknown as Uint8Array)).toThrow(InvalidArgumentError);
      expect(() => readNpy(new Uint8Array(10), { nmae: 'x' } as never)).toThrow(/did you mean 'name'/);
      expect(() => writeNpy({ dtype: 'float32', shape: [3], data: new Float32Array(2) })).toThrow(/3 values for shape \[3\], received 2 values/);
      expect(() => writeNpy({ dtype: 'float32', shape: [2], data: new Float64Array(2) } as never)).toThrow(/a Float32Array for dtype float32/);
      expect(() => writeNpy({ dtype: 'complex64', shape: [1], data: new Float32Array(2) } as never)).toThrow(InvalidArgumentError);
      expect(() => writeNpy({ dtype: 'float32', shape: [1.5], data: new Float32Array(1) })).toThrow(/non-negative integers/);
    });
  });
});
