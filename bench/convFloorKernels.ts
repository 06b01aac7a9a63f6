/**
 * The conv kernels of medrobust's wasm module alone, single thread, without tfjs (issue 17): each layer of
 * bench/convFloor.ts through `pack_filter` + `conv2d` (forward and input gradient) and
 * `conv2d_filter_grad`, called directly on a memory of our own. Several builds of the module can be compared
 * in one process: their calls alternate within each round, on the same inputs, and their outputs are
 * compared bit for bit with the first build's.
 *
 *   npx tsx bench/convFloorKernels.ts [--wasm native/medrobust-kernels.wasm,other.wasm] [--layers small,resnet]
 *     [--kernels forward,inputGrad,filterGrad] [--rounds 5] [--relaxed]
 *
 * Prints, per layer and kernel, each build's best CPU time in ms (process.cpuUsage: robust to a busy machine) and GMAC/s (multiply-adds of the direct
 * convolution / time). Builds other than the shipped one come from `scripts/build-wasm.sh OUT_DIR` or
 * `clang ... -DNAME=...` by hand. `--relaxed` adds the shipped FMA build (below).
 */
import * as tf from '@tensorflow/tfjs-core';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { moduleBytes, relaxedSimdSupported } from '../src/backend/kernels/native.js';
import { filterGradScratchFloats } from '../src/backend/kernels/nativeConv.js';
import { LAYERS } from './convFloor.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

type Exports = Record<string, (...args: number[]) => void> & { __stack_pointer: WebAssembly.Global };
const shipped = fileURLToPath(new URL('../native/medrobust-kernels.wasm', import.meta.url));
const paths = arg('wasm', shipped).split(',');

/**
 * `--relaxed`: adds the shipped FMA build (native/medrobust-kernels-fma.wasm, built by scripts/build-wasm.sh with
 * clang 16: multiply-adds are relaxed SIMD's f32x4.relaxed_madd, one rounding on x64 with FMA). Under Node 20 its
 * V8 runs relaxed SIMD only behind --experimental-wasm-relaxed-simd, which relaxedSimdSupported sets (node:v8).
 */
function relaxedBuild(): Uint8Array<ArrayBuffer> {
  if (!relaxedSimdSupported()) throw new Error('this runtime does not run relaxed SIMD: the FMA build cannot be compared');
  return new Uint8Array(moduleBytes(false, true));
}
const sources: Array<{ name: string; bytes: Uint8Array<ArrayBuffer> }> = paths.map((p) => ({ name: p, bytes: new Uint8Array(readFileSync(p)) }));
if (process.argv.includes('--relaxed')) sources.push({ name: 'FMA build (relaxed_madd, native/medrobust-kernels-fma.wasm)', bytes: relaxedBuild() });
const wanted = arg('layers', '');
const kernels = arg('kernels', 'forward,inputGrad,filterGrad').split(',');
const rounds = Number(arg('rounds', '5'));
const layers = LAYERS.filter((l) => !wanted || wanted.split(',').some((w) => l[0].toLowerCase().includes(w.toLowerCase())));

/** This process's CPU time in ms (one thread here): time the scheduler gave to other work is not counted. */
const cpuMs = (): number => { const u = process.cpuUsage(); return (u.user + u.system) / 1e3; };

const memory = new WebAssembly.Memory({ initial: 8192, maximum: 65536 });
const builds = sources.map((b) => new WebAssembly.Instance(new WebAssembly.Module(b.bytes), { env: { memory } }).exports as unknown as Exports);
let top = 1 << 16;
for (const b of builds) b.__stack_pointer.value = top;
/** A 64-byte aligned block of `floats` floats (never freed: one layer at a time, then `reset`). */
function alloc(floats: number): number {
  const at = top;
  top += Math.ceil((floats * 4) / 64) * 64;
  if (top > memory.buffer.byteLength) memory.grow(Math.ceil((top - memory.buffer.byteLength) / 65536));
  return at;
}
function fillRandom(at: number, floats: number, seed: number): void {
  const f = new Float32Array(memory.buffer, at, floats);
  let s = seed >>> 0;
  for (let i = 0; i < floats; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    f[i] = s / 2 ** 31 - 1;
  }
}

console.log(`convFloorKernels — ${rounds} rounds, best CPU ms and GMAC/s, 1 thread; builds: ${sources.map((b, i) => `${i} ${b.name}`).join(', ')}`);
console.log(`| layer | kernel | ${sources.map((_, i) => `build ${i} ms | GMAC/s`).join(' | ')} | bit-equal |`);
console.log(`|---|---|${sources.map(() => '---|---|').join('')}---|`);
for (const [label, [n, ih, iw, ci], [kh, kw, , co], s, pad] of layers) {
  const mark = top;
  const oh = pad === 'same' ? Math.ceil(ih / s) : Math.floor((ih - kh) / s) + 1;
  const ow = pad === 'same' ? Math.ceil(iw / s) : Math.floor((iw - kw) / s) + 1;
  const padT = pad === 'same' ? Math.floor(Math.max((oh - 1) * s + kh - ih, 0) / 2) : 0;
  const padL = pad === 'same' ? Math.floor(Math.max((ow - 1) * s + kw - iw, 0) / 2) : 0;
  const gmac = (n * oh * ow * kh * kw * ci * co) / 1e9;
  const x = alloc(n * ih * iw * ci), w = alloc(kh * kw * ci * co), dy = alloc(n * oh * ow * co);
  fillRandom(x, n * ih * iw * ci, 1);
  fillRandom(w, kh * kw * ci * co, 2);
  fillRandom(dy, n * oh * ow * co, 3);
  const maxc = Math.max(ci, co);
  const packed = alloc(kh * kw * Math.ceil(maxc / 8) * 8 * maxc);
  const zeros = alloc(Math.ceil(maxc / 4) * 4);
  new Float32Array(memory.buffer, zeros, Math.ceil(maxc / 4) * 4).fill(0);
  const scratch = alloc(9 * kh * kw);
  // the library's repacking scratch for one part (0: none), from the same conv shape
  const fgFloats = filterGradScratchFloats(tf.backend_util.computeConv2DInfo([n, ih, iw, ci], [kh, kw, ci, co], s, 1, pad, undefined, false, 'channelsLast'), 1);
  const fgScratch = alloc(fgFloats);
  const outs = builds.map(() => alloc(Math.max(n * oh * ow * co, n * ih * iw * ci, kh * kw * ci * co)));
  const run: Record<string, (b: Exports, out: number) => void> = {
    forward: (b, out) => {
      b.pack_filter!(w, packed, kh, kw, ci, co, 0, 0, 1);
      b.conv2d!(x, packed, 0, out, zeros, scratch, n, ih, iw, ci, oh, ow, co, kh, kw, s, s, 1, 1, padT, padL, 0, 0, 0, 1);
    },
    inputGrad: (b, out) => {
      b.pack_filter!(w, packed, kh, kw, ci, co, 1, 0, 1);
      b.conv2d!(dy, packed, 0, out, zeros, scratch, n, oh, ow, co, ih, iw, ci, kh, kw, s, s, 1, 1, padT, padL, 1, 0, 0, 1);
    },
    // builds before the repacking (20 parameters) take no scratch
    filterGrad: (b, out) => b.conv2d_filter_grad!.length === 20
      ? b.conv2d_filter_grad!(x, dy, out, n, ih, iw, ci, oh, ow, co, kh, kw, s, s, 1, 1, padT, padL, 0, 1)
      : b.conv2d_filter_grad!(x, dy, out, n, ih, iw, ci, oh, ow, co, kh, kw, s, s, 1, 1, padT, padL, fgScratch, fgFloats, 0, 1),
  };
  const size = { forward: n * oh * ow * co, inputGrad: n * ih * iw * ci, filterGrad: kh * kw * ci * co } as Record<string, number>;
  for (const kernel of kernels) {
    const best = builds.map(() => Infinity);
    builds.forEach((b, i) => run[kernel]!(b, outs[i]!)); // warm-up (and tier-up)
    for (let r = 0; r < rounds; r++) {
      builds.forEach((b, i) => {
        const t0 = cpuMs();
        run[kernel]!(b, outs[i]!);
        best[i] = Math.min(best[i]!, cpuMs() - t0);
      });
    }
    const ref = new Uint32Array(memory.buffer, outs[0]!, size[kernel]!);
    const equal = builds.slice(1).map((_, i) => {
      const o = new Uint32Array(memory.buffer, outs[i + 1]!, size[kernel]!);
      let diff = 0;
      for (let k = 0; k < ref.length; k++) if (o[k] !== ref[k]) diff++;
      if (diff === 0) return 'yes';
      // how far (a fused multiply-add build rounds differently): largest difference over the largest |value|
      const rf = new Float32Array(memory.buffer, outs[0]!, size[kernel]!), of = new Float32Array(memory.buffer, outs[i + 1]!, size[kernel]!);
      let maxDiff = 0, maxAbs = 0;
      for (let k = 0; k < rf.length; k++) { maxDiff = Math.max(maxDiff, Math.abs(of[k]! - rf[k]!)); maxAbs = Math.max(maxAbs, Math.abs(rf[k]!)); }
      return `${diff} differ, max ${(maxDiff / maxAbs).toExponential(1)} of max |value|`;
    });
    console.log(`| ${label} | ${kernel} | ${best.map((t) => `${t.toFixed(2)} | ${(gmac / (t / 1e3)).toFixed(1)}`).join(' | ')} | ${equal.join(', ') || '—'} |`);
  }
  top = mark;
}
