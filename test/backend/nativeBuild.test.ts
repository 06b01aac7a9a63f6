/**
 * The shipped wasm kernel module: its bytes are what scripts/build-wasm.sh makes from native/kernels.c
 * (rebuilt here when the same clang is installed; skipped with a message otherwise), the base64 copy in
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
import { NATIVE_COMPILER, NATIVE_WASM_SHARED, NATIVE_WASM_SINGLE } from '../../src/backend/kernels/nativeBinary.js';
import { KERNEL_NAMES } from '../../src/backend/kernels/nativeThreads.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const FILES = { single: 'native/medrobust-kernels.wasm', shared: 'native/medrobust-kernels-shared.wasm' } as const;

function clangVersion(): string | undefined {
  const r = spawnSync(process.env.CLANG ?? 'clang', ['--version'], { encoding: 'utf8' });
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
    expect(new Uint8Array(readFileSync(join(root, FILES.single)))).toEqual(new Uint8Array(Buffer.from(NATIVE_WASM_SINGLE, 'base64')));
    expect(new Uint8Array(readFileSync(join(root, FILES.shared)))).toEqual(new Uint8Array(Buffer.from(NATIVE_WASM_SHARED, 'base64')));
  });

  it.each(['single', 'shared'] as const)('the %s-memory variant imports only env.memory, has no data, no start, and exports every kernel', (variant) => {
    const bytes = new Uint8Array(Buffer.from(variant === 'single' ? NATIVE_WASM_SINGLE : NATIVE_WASM_SHARED, 'base64'));
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

  const local = clangVersion();
  const linker = spawnSync('wasm-ld', ['--version'], { encoding: 'utf8' }).status === 0;
  const reason = local === undefined ? 'clang is not installed' : !linker ? 'wasm-ld (lld) is not installed' : local !== NATIVE_COMPILER ? `clang here is "${local}", the module was built with "${NATIVE_COMPILER}"` : '';
  if (reason) console.warn(`nativeBuild.test.ts: skipping the rebuild check (${reason}; apt-get install clang lld)`);
  it.skipIf(reason !== '')('scripts/build-wasm.sh reproduces the shipped bytes', () => {
    const out = mkdtempSync(join(tmpdir(), 'medrobust-wasm-'));
    try {
      execFileSync('sh', [join(root, 'scripts/build-wasm.sh'), out], { stdio: 'pipe' });
      for (const file of Object.values(FILES)) expect(readFileSync(join(out, file)).equals(readFileSync(join(root, file))), file).toBe(true);
      const generated = 'src/backend/kernels/nativeBinary.ts';
      expect(readFileSync(join(out, generated), 'utf8')).toBe(readFileSync(join(root, generated), 'utf8'));
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
