import { defineConfig } from 'tsup';

// The tfjs engine is a global singleton: never bundle it (design.md, traps). Optional packages
// (sharp, vega) are loaded on first use and must stay external too.
const external = [/^@tensorflow\//, 'fflate', 'sharp', 'vega', 'vega-lite'];

export default defineConfig([
  {
    entry: { index: 'src/index.ts', 'backend/index': 'src/backend/index.ts', 'node/index': 'src/node/index.ts' },
    format: ['esm', 'cjs'],
    dts: true,
    sourcemap: true,
    clean: true,
    target: 'es2020',
    splitting: true, // one copy of shared modules, so errors thrown in a subpath are instances of the root export
    external,
  },
  {
    // The `medrobust` command (Node only, ESM).
    entry: { 'cli/bin': 'src/cli/bin.ts' },
    format: ['esm'],
    sourcemap: true,
    target: 'node20',
    splitting: false,
    external,
  },
]);
