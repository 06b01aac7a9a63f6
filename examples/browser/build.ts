/**
 * Builds the in-browser audit page: `npm run audit-page` bundles examples/browser/audit.ts with esbuild
 * (tfjs, its cpu/webgl/webgpu/wasm backends and the wasm binary included) into one self-contained file,
 * examples/browser/out/audit.html, which works offline from disk (file://). Prints its path and exits.
 *   npm run audit-page [-- --out <dir>] [-- --minify]
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));

/** Bundles the page into `outDir/audit.html`; returns its path. */
export async function buildAuditPage(options: { outDir?: string; minify?: boolean } = {}): Promise<string> {
  const outDir = resolve(options.outDir ?? join(here, 'out'));
  const version = (JSON.parse(readFileSync(join(here, '../../package.json'), 'utf8')) as { version: string }).version;
  const result = await build({
    entryPoints: [join(here, 'audit.ts')],
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: 'es2020',
    minify: options.minify ?? false,
    write: false,
    loader: { '.wasm': 'binary' },
    define: { MEDROBUST_VERSION: JSON.stringify(version) },
    // Node-only branches of tfjs-backend-wasm (its package.json maps them to false for browsers) and of medrobust.
    external: ['node:*', 'fs', 'path', 'os', 'worker_threads', 'perf_hooks', 'crypto', 'sharp', 'vega', 'vega-lite'],
    logLevel: 'silent',
  });
  const script = result.outputFiles[0]!.text.replace(/<\/script/gi, '<\\/script');
  const html = readFileSync(join(here, 'audit.html'), 'utf8').replace('<!--medrobust-audit-script-->', () => `<script>\n${script}\n</script>`);
  mkdirSync(outDir, { recursive: true });
  const file = join(outDir, 'audit.html');
  writeFileSync(file, html);
  return file;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const at = args.indexOf('--out');
  const file = await buildAuditPage({ outDir: at >= 0 ? args[at + 1] : undefined, minify: args.includes('--minify') });
  const kb = Math.round(readFileSync(file).length / 1024);
  console.log(`medrobust audit page: ${file} (${kb} KiB, self-contained)`);
  console.log(`Open it in a browser (nothing is uploaded; it works offline): ${pathToFileURL(file).href}`);
}
