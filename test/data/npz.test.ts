import { readFileSync } from 'node:fs';
import { describe, expect, it, vi } from 'vitest';
import { FormatError, InvalidArgumentError } from '../../src/errors.js';
import { writeNpy } from '../../src/data/npy.js';
import { readNpz, writeNpz } from '../../src/data/npz.js';
import { deflateSync, Inflate, zipSync } from 'fflate';
import { crc32 } from '../../src/data/zip.js';
import { concat, crc32Reference, forgeZip, honestMember, npyHeader } from './zipForge.js';

const fixture = (name: string): Uint8Array => new Uint8Array(readFileSync(new URL(`./fixtures/${name}`, import.meta.url)));

describe('readNpz / writeNpz', () => {
  const arrays = {
    images: { dtype: 'uint8' as const, shape: [2, 2, 2], data: new Uint8Array([0, 1, 2, 3, 252, 253, 254, 255]) },
    labels: { dtype: 'int64' as const, shape: [2, 1], data: new BigInt64Array([1n, 0n]) },
    scores: { dtype: 'float32' as const, shape: [2], data: new Float32Array([0.25, -1]) },
  };

  it.each([false, true])('round-trips named arrays (compress: %s)', (compress) => {
    const back = readNpz(writeNpz(arrays, { compress }));
    expect(Object.keys(back).sort()).toEqual(['images', 'labels', 'scores']);
    for (const [k, a] of Object.entries(arrays)) {
      expect(back[k]!.dtype).toBe(a.dtype);
      expect(back[k]!.shape).toEqual(a.shape);
      expect(Array.from(back[k]!.data as ArrayLike<unknown>)).toEqual(Array.from(a.data as ArrayLike<unknown>));
    }
  });

  it('writes byte-identical archives for equal arrays and compresses when asked', () => {
    const big = { x: { dtype: 'float32' as const, shape: [4096], data: new Float32Array(4096) } };
    expect(writeNpz(big)).toEqual(writeNpz(big));
    expect(writeNpz(big, { compress: true }).length).toBeLessThan(writeNpz(big).length / 10);
  });

  it('reads numpy.savez and numpy.savez_compressed archives (Zip64 members)', () => {
    const plain = readNpz(fixture('plain.npz'));
    expect(Object.keys(plain).sort()).toEqual(['a', 'b', 'be', 'f', 's']);
    const comp = readNpz(fixture('comp.npz'));
    expect(comp.train_images!.shape).toEqual([2, 28, 28]);
    expect((comp.train_images!.data as Uint8Array)[100]).toBe(100);
    expect(comp.m!.dtype).toBe('bool');
  });

  it('reads large deflated members inflated over many input chunks exactly', () => {
    const n = 3 * 2 ** 20;
    const data = new Uint8Array(n);
    let x = 7;
    for (let i = 0; i < n; i++) { x = (x * 1103515245 + 12345) >>> 0; data[i] = i % 3 === 0 ? x >>> 24 : 128; }
    const back = readNpz(writeNpz({ big: { dtype: 'uint8', shape: [n], data } }, { compress: true })).big!;
    expect(Buffer.from(back.data as Uint8Array).equals(Buffer.from(data))).toBe(true);
  });

  it('reads only the requested keys', () => {
    const only = readNpz(writeNpz(arrays), { keys: ['scores'] });
    expect(Object.keys(only)).toEqual(['scores']);
  });

  it('reads Node Buffers from the pool and subarray views of an archive (issue 15)', () => {
    for (const compress of [false, true]) {
      const bytes = writeNpz(arrays, { compress });
      const buf = Buffer.from(bytes);
      expect(buf.byteOffset).toBeGreaterThan(0);
      expect(Array.from(readNpz(buf).scores!.data as Float32Array)).toEqual([0.25, -1]);
      const host = new Uint8Array(bytes.length + 13).fill(0x50);
      host.set(bytes, 5);
      expect(Array.from(readNpz(host.subarray(5, 5 + bytes.length)).images!.data as Uint8Array)).toEqual([0, 1, 2, 3, 252, 253, 254, 255]);
    }
  });

  it('a missing key names the arrays and the other members the archive does hold', () => {
    const mixed = zipSync({ 'notes.txt': new TextEncoder().encode('hi'), 'x.npy': writeNpy(arrays.scores) });
    expect(() => readNpz(mixed, { keys: ['y'], name: 'm.npz' })).toThrow("readNpz: m.npz has no array 'y' (it holds the arrays: x; other members: notes.txt)");
    const none = zipSync({ 'notes.txt': new TextEncoder().encode('hi') });
    expect(() => readNpz(none, { keys: ['y'] })).toThrow(/it holds no arrays \(.npy members\); other members: notes.txt/);
  });

  it('verifies the CRC-32 of deflated members too, and computes it like zlib', () => {
    const content = writeNpy(arrays.scores);
    const m = honestMember('s.npy', content);
    expect(readNpz(forgeZip([m])).s!.shape).toEqual([2]);
    expect(() => readNpz(forgeZip([{ ...m, crc: (m.crc ^ 1) >>> 0 }]), { name: 'c.npz' })).toThrow("readNpz: c.npz member 's.npy' is corrupt: its CRC-32 does not match the zip directory");
    const random = new Uint8Array(1001);
    for (let i = 0; i < random.length; i++) random[i] = (i * 2654435761) >>> 24;
    for (const n of [0, 1, 3, 4, 5, 999, 1001]) expect(crc32(random.subarray(0, n))).toBe(crc32Reference(random.subarray(0, n)));
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926); // the standard check value
  });

  describe('zip bombs (issue 15): small on disk, refused before they grow', () => {
    it('a member that inflates past the size its .npy header declares stops at that size', () => {
      // The header says 4 float32 values (16 bytes); the deflate stream holds 24 MiB of zeros.
      const header = npyHeader('<f4', [4]);
      const content = concat(header, new Uint8Array(24 * 2 ** 20));
      const bomb = forgeZip([{ name: 'x.npy', stored: deflateSync(content), method: 8, crc: crc32Reference(content), size: header.length + 16 }]);
      expect(bomb.length).toBeLessThan(64 * 1024);
      const before = process.memoryUsage().arrayBuffers;
      expect(() => readNpz(bomb, { name: 'bomb.npz' })).toThrow(FormatError);
      expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(12 * 2 ** 20); // never the 24 MiB
      expect(() => readNpz(bomb, { name: 'bomb.npz' })).toThrow(`readNpz: bomb.npz member 'x.npy' inflates to more than the ${header.length + 16} bytes it declares (corrupt, or a zip bomb); stopped there`);
    });

    it('inflation stops at the first chunk past the bound, not at the end of the stream', () => {
      // 4 MiB of incompressible bytes after a header that declares 16: the first 1 KiB of input already overflows.
      const header = npyHeader('<f4', [4]);
      const noise = new Uint8Array(4 * 2 ** 20);
      let x = 12345;
      for (let i = 0; i < noise.length; i++) { x = (x * 1103515245 + 12345) >>> 0; noise[i] = x >>> 24; }
      const content = concat(header, noise);
      const bomb = forgeZip([{ name: 'x.npy', stored: deflateSync(content, { level: 1 }), method: 8, crc: crc32Reference(content), size: header.length + 16 }]);
      const push = vi.spyOn(Inflate.prototype, 'push');
      try {
        expect(() => readNpz(bomb)).toThrow(/inflates to more than/);
        expect(push.mock.calls.length).toBe(1);
      } finally {
        push.mockRestore();
      }
    });

    it('a header declaring more than maxBytes (1 GiB by default) is refused before anything is allocated', () => {
      // 1.5 GB of uint8 declared everywhere (header and directory), as the bomb of the issue did; 40 bytes of deflate data.
      const header = npyHeader('|u1', [1_500_000_000]);
      const stored = deflateSync(concat(header, new Uint8Array(1000)));
      const bomb = forgeZip([{ name: 'train_images.npy', stored, method: 8, crc: 0, size: header.length + 1_500_000_000 }]);
      expect(bomb.length).toBeLessThan(1024);
      expect(() => readNpz(bomb, { name: 'b.npz' })).toThrow(`readNpz: b.npz member 'train_images.npy' declares ${header.length + 1_500_000_000} bytes, more than the 1073741824 left of options.maxBytes (1073741824); pass a larger maxBytes`);
    });

    it('maxBytes bounds the sum over the members read, and keys reads fewer', () => {
      const big = { a: { dtype: 'uint8' as const, shape: [600], data: new Uint8Array(600) }, b: { dtype: 'uint8' as const, shape: [600], data: new Uint8Array(600) } };
      for (const compress of [false, true]) {
        const bytes = writeNpz(big, { compress });
        const member = writeNpy(big.a).length; // 128-byte header + 600 data bytes
        expect(Object.keys(readNpz(bytes, { maxBytes: 2 * member })).sort()).toEqual(['a', 'b']);
        expect(() => readNpz(bytes, { maxBytes: 1000 })).toThrow(`member 'b.npy' declares ${member} bytes, more than the ${1000 - member} left of options.maxBytes (1000)`);
        expect(Object.keys(readNpz(bytes, { maxBytes: 1000, keys: ['b'] }))).toEqual(['b']);
        expect(Object.keys(readNpz(bytes, { maxBytes: Infinity }))).toHaveLength(2);
      }
    });

    it('a directory that disagrees with the member header is refused', () => {
      const content = writeNpy(arrays.scores);
      const m = honestMember('s.npy', content);
      expect(() => readNpz(forgeZip([{ ...m, size: m.size + 100 }]))).toThrow(/header declares 136 bytes, the zip directory 236/);
      expect(() => readNpz(forgeZip([{ ...honestMember('s.npy', content, 0), size: m.size - 8 }]))).toThrow(FormatError);
    });

    it('duplicate names, encrypted members and unknown methods are refused', () => {
      const m = honestMember('s.npy', writeNpy(arrays.scores));
      expect(() => readNpz(forgeZip([m, m]))).toThrow(/two members named 's.npy'/);
      expect(() => readNpz(forgeZip([{ ...m, method: 12 as 8 }]))).toThrow(/compression method 12/);
    });
  });

  describe('corrupt archives give a FormatError naming the file', () => {
    const good = writeNpz(arrays, { compress: true });
    it.each([
      ['not a zip', new TextEncoder().encode('this is certainly not a zip archive at all'), /not a zip archive/],
      ['empty', new Uint8Array(0), /not a zip archive/],
      ['truncated', good.slice(0, Math.floor(good.length / 2)), /truncated/],
      ['truncated tail', good.slice(0, good.length - 5), /truncated|not a readable zip/],
      ['garbled', (() => { const b = good.slice(); for (let i = 40; i < b.length - 30; i++) b[i] = (b[i]! * 7 + 13) & 255; return b; })(), /a.npz/],
      ['bad member', zipSync({ 'x.npy': new Uint8Array([1, 2, 3]) }), /member 'x.npy'.*not a .npy file/],
      ['bad member header', zipSync({ 'x.npy': writeNpy(arrays.scores).slice(0, 70) }), /x.npy.*truncated/],
      ['bad member data', zipSync({ 'x.npy': writeNpy(arrays.scores).slice(0, 130) }), /x.npy.*(holds 2 data bytes|header declares 136 bytes, the zip directory 130)/],
      ['stored member flipped', (() => { const b = writeNpz(arrays); b[100] = b[100]! ^ 1; return b; })(), /corrupt|CRC-32/],
    ])('%s', (_n, bytes, message) => {
      expect(() => readNpz(bytes, { name: 'a.npz' })).toThrow(FormatError);
      expect(() => readNpz(bytes, { name: 'a.npz' })).toThrow(message);
    });
    it('a missing key', () => {
      expect(() => readNpz(good, { keys: ['train_images'] })).toThrow(/no array 'train_images' \(it holds the arrays: images, labels, scores\)/);
    });
  });

  describe('rejects bad input', () => {
    it('bad bytes, names, arrays and options', () => {
      expect(() => readNpz(null as never)).toThrow(InvalidArgumentError);
      expect(() => readNpz(new Uint8Array(30), { keys: 'a' } as never)).toThrow(/options.keys must be an array/);
      expect(() => writeNpz({})).toThrow(/at least one array/);
      expect(() => writeNpz({ 'a/b': arrays.scores })).toThrow(/names without/);
      expect(() => writeNpz({ a: { dtype: 'float32', shape: [3], data: new Float32Array(2) } })).toThrow(/arrays.a.data/);
      expect(() => writeNpz(arrays, { compressed: true } as never)).toThrow(/did you mean 'compress'/);
      for (const bad of [-1, 1.5, Number.NaN, '10', null]) {
        expect(() => readNpz(writeNpz(arrays), { maxBytes: bad as never })).toThrow(/readNpz: options.maxBytes must be a non-negative integer number of bytes \(or Infinity\)/);
      }
      expect(() => readNpz(writeNpz(arrays), { keys: [1] as never })).toThrow(/options.keys must be an array of array names/);
    });
  });
});
