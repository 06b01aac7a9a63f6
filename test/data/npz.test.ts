import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FormatError, InvalidArgumentError } from '../../src/errors.js';
import { writeNpy } from '../../src/data/npy.js';
import { readNpz, writeNpz } from '../../src/data/npz.js';
import { zipSync } from 'fflate';

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

  it('reads only the requested keys', () => {
    const only = readNpz(writeNpz(arrays), { keys: ['scores'] });
    expect(Object.keys(only)).toEqual(['scores']);
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
      ['bad member data', zipSync({ 'x.npy': writeNpy(arrays.scores).slice(0, 130) }), /x.npy.*holds 2 data bytes/],
      ['stored member flipped', (() => { const b = writeNpz(arrays); b[100] = b[100]! ^ 1; return b; })(), /corrupt|CRC-32/],
    ])('%s', (_n, bytes, message) => {
      expect(() => readNpz(bytes, { name: 'a.npz' })).toThrow(FormatError);
      expect(() => readNpz(bytes, { name: 'a.npz' })).toThrow(message);
    });
    it('a missing key', () => {
      expect(() => readNpz(good, { keys: ['train_images'] })).toThrow(/no array 'train_images' \(it holds: /);
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
    });
  });
});
