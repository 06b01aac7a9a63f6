/**
 * The Node half of the browser suite: finds Debian's Chromium, serves the built ESM bundle (dist/), the
 * tfjs ESM bundles from node_modules and the in-page test modules from a static server on 127.0.0.1, and
 * launches Chromium headless with SwiftShader behind WebGPU and WebGL (no GPU needed).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { transform, build } from 'esbuild';
import type { Browser, Page } from 'playwright-core';

export const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));

/** Chromium's path: $MEDROBUST_CHROMIUM, else Debian's /usr/bin/chromium. */
export const CHROMIUM = process.env.MEDROBUST_CHROMIUM ?? ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));

/** Why the browser suites cannot run here, or undefined when they can. */
export function skipReason(): string | undefined {
  if (!CHROMIUM || !existsSync(CHROMIUM)) return 'Chromium not found (apt-get install chromium, or set MEDROBUST_CHROMIUM)';
  if (!existsSync(join(ROOT, 'dist/index.js'))) return 'dist/ not built (npm run build)';
  return undefined;
}

/**
 * Flags for WebGPU and WebGL on SwiftShader. `--use-vulkan=swiftshader` with the Vulkan feature matters:
 * without it tfjs-backend-webgpu's synchronous read (dataSync, through an OffscreenCanvas) returns zeros and
 * loses the device ("A valid external Instance reference no longer exists").
 */
export const CHROMIUM_ARGS = [
  '--enable-unsafe-webgpu', '--use-webgpu-adapter=swiftshader', '--use-angle=swiftshader', '--enable-unsafe-swiftshader',
  '--enable-features=Vulkan', '--use-vulkan=swiftshader',
  '--no-sandbox', '--disable-gpu-sandbox', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

/** Bare specifiers of the page → ESM files (tfjs's "fesm" bundles import each other by these names). */
const IMPORT_MAP = {
  imports: {
    '@tensorflow/tfjs-core': '/node_modules/@tensorflow/tfjs-core/dist/tf-core.fesm.js',
    '@tensorflow/tfjs-layers': '/node_modules/@tensorflow/tfjs-layers/dist/tf-layers.fesm.js',
    '@tensorflow/tfjs-backend-cpu': '/node_modules/@tensorflow/tfjs-backend-cpu/dist/tf-backend-cpu.fesm.js',
    '@tensorflow/tfjs-backend-webgl': '/node_modules/@tensorflow/tfjs-backend-webgl/dist/tf-backend-webgl.fesm.js',
    '@tensorflow/tfjs-backend-webgpu': '/node_modules/@tensorflow/tfjs-backend-webgpu/dist/tf-backend-webgpu.fesm.js',
    fflate: '/node_modules/fflate/esm/browser.js',
    // tfjs-backend-cpu's ESM bundle imports seedrandom, a CommonJS package: served as one ESM file.
    seedrandom: '/vendor/seedrandom.js',
    // The in-page tests import the sources for their types; the page runs the built bundle instead.
    '/src/index.js': '/dist/index.js',
    '/src/backend/index.js': '/dist/backend/index.js',
  },
};

/** The test page: the import map, then the in-page checks module, which sets `window.medrobustChecks`. */
export function testPage(module: string): string {
  return `<!doctype html><meta charset="utf-8"><title>medrobust browser suite</title>
<script type="importmap">${JSON.stringify(IMPORT_MAP)}</script>
<script type="module">
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-webgl';
import '@tensorflow/tfjs-backend-webgpu';
import '${module}';
window.medrobustReady = true;
</script>`;
}

const TYPES: Record<string, string> = { '.js': 'text/javascript', '.mjs': 'text/javascript', '.html': 'text/html', '.json': 'application/json', '.map': 'application/json', '.png': 'image/png', '.bin': 'application/octet-stream', '.wasm': 'application/wasm', '.css': 'text/css' };

/** Folders the server may read from (everything else is 404). */
const SERVED = ['dist', 'node_modules', 'test/browser', 'examples/browser'];

export interface StaticServer {
  url: string;
  close(): Promise<void>;
  /** Serve `body` at `path` (e.g. generated fixtures). */
  put(path: string, body: string | Uint8Array, type?: string): void;
}

/** Starts the static server on 127.0.0.1 (a free port). `.ts` files under test/browser are served as JS. */
export async function startServer(pages: Record<string, string> = {}): Promise<StaticServer> {
  const extra = new Map<string, { body: string | Uint8Array; type: string }>();
  for (const [path, html] of Object.entries(pages)) extra.set(path, { body: html, type: 'text/html' });
  const seedrandom = await build({ stdin: { contents: "import * as s from 'seedrandom'; export const alea = s.alea, xor128 = s.xor128, xorwow = s.xorwow, xorshift7 = s.xorshift7, xor4096 = s.xor4096, tychei = s.tychei; export default s;", resolveDir: ROOT }, bundle: true, format: 'esm', write: false, logLevel: 'silent' });
  extra.set('/vendor/seedrandom.js', { body: seedrandom.outputFiles[0]!.text, type: 'text/javascript' });
  const server: Server = createServer((req, res) => {
    void (async () => {
      const path = decodeURIComponent(new URL(req.url ?? '/', 'http://127.0.0.1').pathname);
      const hit = extra.get(path);
      if (hit) {
        res.writeHead(200, { 'content-type': hit.type, 'cache-control': 'no-store' });
        res.end(hit.body);
        return;
      }
      const file = normalize(join(ROOT, path));
      const allowed = SERVED.some((dir) => file.startsWith(join(ROOT, dir) + sep));
      let target = file;
      if (allowed && file.endsWith('.js') && !existsSync(file) && existsSync(file.replace(/\.js$/, '.ts'))) target = file.replace(/\.js$/, '.ts');
      if (!allowed || !existsSync(target) || !statSync(target).isFile()) {
        res.writeHead(404);
        res.end();
        return;
      }
      let body: string | Buffer = readFileSync(target);
      let type = TYPES[extname(target)] ?? 'application/octet-stream';
      if (target.endsWith('.ts')) {
        body = (await transform(body.toString('utf8'), { loader: 'ts', format: 'esm', target: 'es2020', sourcefile: target })).code;
        type = 'text/javascript';
      }
      res.writeHead(200, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    })().catch((err: Error) => {
      res.writeHead(500);
      res.end(String(err.message));
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    put: (path, body, type = TYPES[extname(path)] ?? 'application/octet-stream') => void extra.set(path, { body, type }),
    close: () => new Promise<void>((ok) => {
      server.closeAllConnections();
      server.close(() => ok());
    }),
  };
}

/** Launches Chromium headless (playwright-core drives Debian's binary; no browser is downloaded). */
export async function launchChromium(): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  return chromium.launch({ executablePath: CHROMIUM!, args: CHROMIUM_ARGS, headless: true, timeout: 60_000 });
}

/** Collects the page's errors and warnings, for assertion messages. */
export function recordConsole(page: Page): string[] {
  const lines: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') lines.push(`${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => lines.push(`pageerror: ${e.message}`));
  return lines;
}
