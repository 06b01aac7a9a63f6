/**
 * WebGPU in Node through the optional `webgpu` package (Dawn). This machine has no GPU, and Dawn rejects
 * Debian's software Vulkan driver (lavapipe), so the plain run checks the fall-through message. Chromium
 * ships SwiftShader's Vulkan driver: pointed at it (VK_ICD_FILENAMES, read when Dawn starts, hence a
 * child process), Dawn finds a software adapter, and the whole Node path runs: 'auto' passes over it,
 * useBackend('webgpu') starts it, a conv gradient matches cpu, and a synchronous read says why it fails.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const script = fileURLToPath(new URL('../fixtures/scripts/webgpuNode.ts', import.meta.url));
const tsx = fileURLToPath(new URL('../../node_modules/tsx/dist/cli.mjs', import.meta.url));
const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

const hasDawn = (() => {
  try {
    createRequire(import.meta.url).resolve('webgpu/package.json');
    return true;
  } catch {
    return false;
  }
})();

interface Result {
  auto: { name: string; skipped: Array<{ name: string; reason: string }> };
  webgpu?: { name: string; tfjsBackend: string; gpu: { description: string; software: boolean }; reason: string; kernels: string[]; gradient: number[]; readSync: string; strided: number[][] };
  cpuGradient?: number[];
  cpuStrided?: number[][];
  webgpuError?: string;
}

function run(env: Record<string, string>): Result {
  const r = spawnSync(process.execPath, [tsx, script], { encoding: 'utf8', timeout: 90_000, env: { ...process.env, ...env } });
  expect(r.error, 'the child process did not finish within 90 s').toBeUndefined();
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Result;
}

describe.skipIf(!hasDawn)('WebGPU in Node (the webgpu package)', () => {
  it.skipIf(!existsSync(SWIFTSHADER_ICD))("on SwiftShader: 'auto' passes over WebGPU in Node, 'webgpu' starts it and matches cpu", () => {
    const r = run({ VK_ICD_FILENAMES: SWIFTSHADER_ICD });
    expect(r.auto.name).toBe('wasm');
    expect(r.auto.skipped[0]!.reason).toMatch(/^WebGPU in Node has no synchronous tensor reads/);
    expect(r.webgpuError).toBeUndefined();
    const w = r.webgpu!;
    expect(w.tfjsBackend).toBe('webgpu');
    expect(w.gpu.software).toBe(true);
    expect(w.reason).toMatch(/WebGPU from the 'webgpu' package \(Dawn\) on .*\(a software adapter\); no synchronous reads here/);
    // The gradient of sum(relu(conv(x))) w.r.t. x, computed by the GPU kernels, equals cpu's.
    expect(w.gradient).toHaveLength(r.cpuGradient!.length);
    const maxDiff = Math.max(...w.gradient.map((v, i) => Math.abs(v - r.cpuGradient![i]!)));
    expect(maxDiff).toBeLessThan(1e-4);
    // medrobust's composed conv gradients run on webgpu; dx, dW (3×3 stride 2 'same' on an odd side) and
    // dW (1×1 stride 2) equal cpu's stock kernels to float rounding.
    expect(w.kernels).toEqual(expect.arrayContaining(['Conv2DBackpropInput', 'Conv2DBackpropFilter']));
    expect(w.strided.map((g) => g.length)).toEqual([2 * 7 * 7 * 3, 3 * 3 * 3 * 4, 3 * 5]);
    w.strided.forEach((g, k) => {
      const ref = r.cpuStrided![k]!;
      const scale = Math.max(...ref.map(Math.abs));
      expect(scale).toBeGreaterThan(0.1);
      expect(Math.max(...g.map((v, i) => Math.abs(v - ref[i]!))) / scale).toBeLessThan(1e-5);
    });
    expect(w.readSync).toMatch(/^medrobust: WebGPU in Node cannot read a tensor synchronously/);
  });

  it.skipIf(process.platform !== 'linux')("without a usable adapter, 'webgpu' says so and 'auto' falls through", () => {
    // An ICD list naming no driver: Dawn finds no Vulkan adapter on any machine.
    const r = run({ VK_ICD_FILENAMES: '/nonexistent/icd.json' });
    expect(r.auto.name).toBe('wasm');
    expect(r.auto.skipped.map((s) => s.name)).toEqual(['webgpu', 'webgl', 'node-gpu', 'node']);
    expect(r.auto.skipped[0]!.reason).toMatch(/^WebGPU in Node has no synchronous tensor reads/);
    expect(r.webgpuError).toMatch(/^useBackend: no backend could be started: webgpu: Dawn found no WebGPU adapter/);
  });
});

describe.skipIf(hasDawn)('WebGPU in Node (the webgpu package)', () => {
  it.skip('skipped: the optional webgpu package is not installed (npm install webgpu)', () => {});
});
