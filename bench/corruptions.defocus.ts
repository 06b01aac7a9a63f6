/**
 * defocus_blur per severity (not part of npm test): medrobust's `corrupt(…, 'defocus_blur')` against the
 * numpy/OpenCV port (test/parity/corruptions_reference.py `defocus_blur`, /usr/bin/python3 or
 * $MEDROBUST_PYTHON) on `--images` random RGB images of `--size` px, interleaved per repetition
 * (ours, then the port) so that load from other jobs hits both alike. Reports median CPU seconds of each
 * severity (all images) and their ratio.
 *
 *   npx tsx bench/corruptions.defocus.ts [--images 8] [--size 224] [--reps 7] [--backend wasm]
 */
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { useBackend, type BackendName } from '../src/backend/index.js';
import { corrupt } from '../src/index.js';

const here = dirname(fileURLToPath(import.meta.url));
function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}
const images = Number(arg('images', '8'));
const size = Number(arg('size', '224'));
const reps = Number(arg('reps', '7'));
const backend = arg('backend', 'wasm') as BackendName;
const PYTHON = process.env.MEDROBUST_PYTHON ?? '/usr/bin/python3';
const SCRIPT_DIR = join(here, '..', 'test', 'parity');
const SEVERITIES = [1, 2, 3, 4, 5] as const;

// the port: each severity on `images` images, CPU seconds (process_time), as JSON
const PORT = `
import sys, json, time
sys.path.insert(0, ${JSON.stringify(SCRIPT_DIR)})
import numpy as np
import corruptions_reference as ref
n, size, seed = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
rng = np.random.RandomState(seed)
# the same state as the port's bench() in bench/corruptions.bench.ts, which first draws frost's
# stand-in photographs: those large allocations also leave the allocator warm, and without them the
# port's defocus_blur takes ~1.7x as long (measured)
ref.FROST_PHOTOS.extend(rng.randint(0, 256, size=(max(size + 1, 512), max(size + 1, 768), 3)).astype(np.uint8) for _ in range(5))
images = [rng.rand(size, size, 3) for _ in range(n)]
ref.defocus_blur(images[0], 1)
out = []
for s in range(1, 6):
    c0 = time.process_time()
    for img in images:
        ref.defocus_blur(img, s)
    out.append(time.process_time() - c0)
print(json.dumps(out))
`;

function ours(x: tf.Tensor4D): number[] {
  return SEVERITIES.map((severity) => {
    const c0 = process.cpuUsage();
    const out = corrupt(x, 'defocus_blur', { severity });
    out.dataSync();
    out.dispose();
    const c = process.cpuUsage(c0);
    return (c.user + c.system) / 1e6;
  });
}

function port(seed: number): number[] {
  const run = spawnSync(PYTHON, ['-c', PORT, String(images), String(size), String(seed)], { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`the defocus_blur port failed: ${run.stderr}`);
  return JSON.parse(run.stdout) as number[];
}

const median = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

const choice = await useBackend(backend, { threads: 1 });
const x = tf.randomUniform([images, size, size, 3], 0, 1, 'float32', 7) as tf.Tensor4D;
ours(x);
const a: number[][] = [];
const b: number[][] = [];
for (let r = 0; r < reps; r++) {
  a.push(ours(x));
  b.push(port(r));
}
x.dispose();
const f = (v: number) => v.toFixed(3);
console.log(`defocus_blur, medrobust ${choice.name} (1 thread) vs numpy/OpenCV port, ${images} images ${size}×${size}×3, median CPU s of ${reps} interleaved repetitions`);
console.log('| severity | medrobust CPU s | port CPU s | ratio |');
console.log('|---|---|---|---|');
let so = 0;
let sp = 0;
for (const [i, s] of SEVERITIES.entries()) {
  const o = median(a.map((t) => t[i]!));
  const p = median(b.map((t) => t[i]!));
  so += o;
  sp += p;
  console.log(`| ${s} | ${f(o)} | ${f(p)} | ${(o / p).toFixed(2)}× |`);
}
console.log(`| all | ${f(so)} | ${f(sp)} | ${(so / sp).toFixed(2)}× |`);
