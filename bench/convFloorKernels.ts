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
 * `clang ... -DNAME=...` by hand. `--relaxed` adds a fused multiply-add build (below); it needs
 * `node --experimental-wasm-relaxed-simd --import tsx bench/convFloorKernels.ts --relaxed ...`.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
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
 * `--relaxed`: adds a build whose multiply-adds are relaxed SIMD's f32x4.relaxed_madd (one rounding: a fused
 * multiply-add on x64 with FMA). Debian's clang 14 knows only the proposal's prototype f32x4.fma (opcode
 * 0xfd 0xaf 0x01, operands c + a * b); V8 11 (Node 20) runs the final opcode 0xfd 0x85 0x02 (a * b + c) behind
 * --experimental-wasm-relaxed-simd. kernels.c's MEDROBUST_RELAXED_MADD passes the operands in the final
 * order, and the prototype opcode is rewritten here (it never occurs in the plain build's bytes).
 */
function relaxedBuild(): Uint8Array<ArrayBuffer> {
  const script = readFileSync(fileURLToPath(new URL('../scripts/build-wasm.sh', import.meta.url)), 'utf8');
  const flags = (name: string) => script.match(new RegExp(`^${name}="([^"]*)"`, 'm'))![1]!.split(' ');
  const dir = mkdtempSync(join(tmpdir(), 'medrobust-relaxed-'));
  const out = join(dir, 'relaxed.wasm');
  const source = fileURLToPath(new URL('../native/kernels.c', import.meta.url));
  execFileSync(process.env.CLANG ?? 'clang', [...flags('CFLAGS'), '-mrelaxed-simd', '-DMEDROBUST_RELAXED_MADD', ...flags('LDFLAGS'), '-o', out, source]);
  const bytes = readFileSync(out);
  rmSync(dir, { recursive: true, force: true });
  const plain = readFileSync(shipped);
  const proto = Buffer.from([0xfd, 0xaf, 0x01]);
  if (plain.includes(proto)) throw new Error('the plain build contains the prototype fma bytes: cannot rewrite safely');
  let at = bytes.indexOf(proto);
  while (at >= 0) {
    bytes.set([0xfd, 0x85, 0x02], at);
    at = bytes.indexOf(proto, at + 3);
  }
  const result = new Uint8Array(bytes);
  if (!WebAssembly.validate(result)) throw new Error('the relaxed build does not validate: run node with --experimental-wasm-relaxed-simd');
  return result;
}
const sources: Array<{ name: string; bytes: Uint8Array<ArrayBuffer> }> = paths.map((p) => ({ name: p, bytes: new Uint8Array(readFileSync(p)) }));
if (process.argv.includes('--relaxed')) sources.push({ name: 'relaxed_madd build of native/kernels.c', bytes: relaxedBuild() });
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
  const fgFloats = filterGradScratchFloats(ow, ci, co);
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
