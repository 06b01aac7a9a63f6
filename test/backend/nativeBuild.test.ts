/**
 * The shipped wasm kernel module, plain and FMA builds: their bytes are what scripts/build-wasm.sh makes from
 * native/kernels.c (each pair rebuilt here when its clang is installed — clang 14 for the plain pair, clang 16
 * for the FMA pair; skipped with a message otherwise), the FMA build differs only in its multiply-adds (relaxed
 * SIMD's f32x4.relaxed_madd, opcode 0xfd 0x85 0x02, which the plain build never contains), the base64 copy in
 * the bundle equals the .wasm files, and the module is safe to run inside tfjs-backend-wasm's memory: it
 * imports that memory and nothing else, has no data segments (which would overwrite the backend's static
 * data when instantiated), no start function, and exports its stack pointer (set to a block of its own).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { relaxedSimdSupported } from '../../src/backend/kernels/native.js';
import { NATIVE_COMPILER, NATIVE_COMPILER_RELAXED, NATIVE_WASM_FMA_SHARED, NATIVE_WASM_FMA_SINGLE, NATIVE_WASM_SHARED, NATIVE_WASM_SINGLE } from '../../src/backend/kernels/nativeBinary.js';
import { KERNEL_NAMES } from '../../src/backend/kernels/nativeThreads.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
/** The four modules: file and base64 constant, by build and memory. */
const MODULES = {
  plain: { single: ['native/medrobust-kernels.wasm', NATIVE_WASM_SINGLE], shared: ['native/medrobust-kernels-shared.wasm', NATIVE_WASM_SHARED] },
  fma: { single: ['native/medrobust-kernels-fma.wasm', NATIVE_WASM_FMA_SINGLE], shared: ['native/medrobust-kernels-fma-shared.wasm', NATIVE_WASM_FMA_SHARED] },
} as const;
const VARIANTS = (['plain', 'fma'] as const).flatMap((build) => (['single', 'shared'] as const).map((memory) => [build, memory] as const));
const RELAXED_MADD = Buffer.from([0xfd, 0x85, 0x02]);

function clangVersion(clang: string): string | undefined {
  const r = spawnSync(clang, ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.split('\n')[0]!.trim() : undefined;
}

/** Section ids of a wasm binary, in order (1 type, 2 import, 7 export, 8 start, 11 data, 12 data count). */
function sections(bytes: Uint8Array): Array<{ id: number; start: number; end: number }> {
  const out: Array<{ id: number; start: number; end: number }> = [];
  let p = 8;
  const leb = (): number => {
    let v = 0;
    let shift = 0;
    for (;;) {
      const b = bytes[p++]!;
      v |= (b & 0x7f) << shift;
      if ((b & 0x80) === 0) return v >>> 0;
      shift += 7;
    }
  };
  while (p < bytes.length) {
    const id = bytes[p++]!;
    const len = leb();
    out.push({ id, start: p, end: p + len });
    p += len;
  }
  return out;
}

describe('the wasm kernel module', () => {
  it('ships the same bytes as .wasm files and in the bundle', () => {
    for (const [build, memory] of VARIANTS) {
      const [file, base64] = MODULES[build][memory];
      expect(new Uint8Array(readFileSync(join(root, file))), file).toEqual(new Uint8Array(Buffer.from(base64, 'base64')));
    }
  });

  it('the FMA build holds relaxed_madd and the plain build none (relaxed SIMD, which the plain build runs without)', () => {
    for (const memory of ['single', 'shared'] as const) {
      expect(Buffer.from(MODULES.fma[memory][1], 'base64').includes(RELAXED_MADD)).toBe(true);
      expect(Buffer.from(MODULES.plain[memory][1], 'base64').includes(RELAXED_MADD)).toBe(false);
      expect(WebAssembly.validate(Buffer.from(MODULES.plain[memory][1], 'base64'))).toBe(true);
    }
  });

  // (The FMA build compiles once relaxed SIMD is enabled: Node 20 needs V8's flag, which relaxedSimdSupported sets.)
  const relaxed = relaxedSimdSupported();
  if (!relaxed) console.warn('nativeBuild.test.ts: this runtime has no relaxed SIMD; the FMA build is not instantiated');
  it.each(VARIANTS.filter(([build]) => relaxed || build === 'plain'))('the %s build\'s %s-memory module imports only env.memory, has no data, no start, and exports every kernel', (build, variant) => {
    const bytes = new Uint8Array(Buffer.from(MODULES[build][variant][1], 'base64'));
    const ids = sections(bytes).map((s) => s.id);
    expect(ids).not.toContain(11);
    expect(ids).not.toContain(12);
    expect(ids).not.toContain(8);
    const module = new WebAssembly.Module(bytes);
    expect(WebAssembly.Module.imports(module)).toEqual([{ module: 'env', name: 'memory', kind: 'memory' }]);
    const exports = WebAssembly.Module.exports(module).map((e) => e.name);
    for (const name of KERNEL_NAMES) expect(exports).toContain(name);
    expect(exports).toContain('__stack_pointer');
    // Instantiates on a memory of the matching kind (tfjs: plain for the SIMD build, shared for the threaded one).
    const memory = new WebAssembly.Memory(variant === 'single' ? { initial: 2 } : { initial: 2, maximum: 65536, shared: true });
    expect(() => new WebAssembly.Instance(module, { env: { memory } })).not.toThrow();
  });

  // Each pair is rebuilt with its own compiler (CLANG, CLANG_RELAXED as in scripts/build-wasm.sh), and lld: clang
  // runs the wasm-ld next to it (/usr/lib/llvm-N/bin), so each needs its own lld package.
  const COMPILERS = {
    plain: { clang: process.env.CLANG ?? 'clang', shipped: NATIVE_COMPILER, packages: 'clang lld' },
    fma: { clang: process.env.CLANG_RELAXED ?? 'clang-16', shipped: NATIVE_COMPILER_RELAXED, packages: 'clang-16 lld-16' },
  } as const;
  const skipReason = (build: 'plain' | 'fma'): string => {
    const { clang, shipped, packages } = COMPILERS[build];
    const local = clangVersion(clang);
    if (local === undefined) return `${clang} is not installed (apt-get install ${packages})`;
    // (the script starts the FMA pair's clang by its real path, so that it finds the wasm-ld of its own version)
    const real = build === 'fma' ? spawnSync('sh', ['-c', 'readlink -f "$(command -v "$1")"', 'sh', clang], { encoding: 'utf8' }).stdout.trim() : clang;
    const linker = spawnSync(real, ['-print-prog-name=wasm-ld'], { encoding: 'utf8' }).stdout?.trim();
    if (!linker || spawnSync(linker, ['--version']).status !== 0) return `wasm-ld for ${clang} is not installed (apt-get install ${packages})`;
    return local !== shipped ? `${clang} here is "${local}", the module was built with "${shipped}"` : '';
  };
  const reasons = { plain: skipReason('plain'), fma: skipReason('fma') };
  for (const build of ['plain', 'fma'] as const) {
    if (reasons[build]) console.warn(`nativeBuild.test.ts: skipping the rebuild check of the ${build} build (${reasons[build]})`);
  }
  for (const build of ['plain', 'fma'] as const) it.skipIf(reasons[build] !== '')(`scripts/build-wasm.sh reproduces the shipped bytes of the ${build} build`, () => {
    const out = mkdtempSync(join(tmpdir(), 'medrobust-wasm-'));
    try {
      execFileSync('sh', [join(root, 'scripts/build-wasm.sh'), out], { stdio: 'pipe', env: { ...process.env, VARIANTS: build } });
      for (const [file] of Object.values(MODULES[build])) expect(readFileSync(join(out, file)).equals(readFileSync(join(root, file))), file).toBe(true);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
  it.skipIf(reasons.plain !== '' || reasons.fma !== '')('scripts/build-wasm.sh reproduces the generated nativeBinary.ts (both builds)', () => {
    const out = mkdtempSync(join(tmpdir(), 'medrobust-wasm-'));
    try {
      execFileSync('sh', [join(root, 'scripts/build-wasm.sh'), out], { stdio: 'pipe' });
      const generated = 'src/backend/kernels/nativeBinary.ts';
      expect(readFileSync(join(out, generated), 'utf8')).toBe(readFileSync(join(root, generated), 'utf8'));
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
