import { defineConfig } from 'tsup';

export default defineConfig({
  entry: { index: 'src/index.ts', 'backend/index': 'src/backend/index.ts', 'node/index': 'src/node/index.ts' },
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'es2020',
  splitting: false,
  // The tfjs engine is a global singleton: never bundle it (design.md, traps).
  external: [/^@tensorflow\//],
});
