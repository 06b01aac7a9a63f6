/**
 * Corruption benchmark (not part of npm test): all 18 corruptions × 5 severities on `--images`
 * RGB images of `--size` px, medrobust (`corrupt`, on `--backend` with `--threads` threads) against
 * the numpy/scipy/scikit-image/OpenCV/Pillow port of imagecorruptions in
 * test/parity/corruptions_reference.py (/usr/bin/python3 or $MEDROBUST_PYTHON), in one run.
 *
 *   npx tsx bench/corruptions.bench.ts [--images 8] [--size 224] [--reps 5] [--backend wasm] [--threads 1]
 *                                      [--glass-reps 1] [--frost-dir DIR] [--out bench/out/corruptions.json]
 *                                      [--types defocus_blur,motion_blur]
 *
 * The two sides run interleaved (ours, then Python, per repetition) so that load from other jobs
 * hits both alike; per corruption it reports the median wall and CPU seconds and their ratio. The
 * port's glass_blur is the reference's pixel loop in plain Python (imagecorruptions compiles it with
 * numba, which Debian does not package), so it runs only `--glass-reps` times and the totals are
 * given with and without it. `--frost-dir` points at ImageNet-C's frost photographs for the port
 * (random arrays of the same size otherwise; the crop-and-blend costs the same). `--types` times only
 * the listed corruptions (all 18 by default; the totals are then over those).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { useBackend, type BackendName } from '../src/backend/index.js';
import { CORRUPTION_TYPES, corrupt, type CorruptionType } from '../src/index.js';

const here = dirname(fileURLToPath(import.meta.url));
function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}
const images = Number(arg('images', '8'));
const size = Number(arg('size', '224'));
const reps = Number(arg('reps', '5'));
const glassReps = Number(arg('glass-reps', '1'));
const backend = arg('backend', 'wasm') as BackendName;
const threads = Number(arg('threads', '1'));
const frostDir = arg('frost-dir', '');
const outPath = arg('out', join(here, 'out', 'corruptions.json'));
const typesArg = arg('types', '');
const TYPES: readonly CorruptionType[] = typesArg ? (typesArg.split(',') as CorruptionType[]) : CORRUPTION_TYPES;
for (const t of TYPES) if (!CORRUPTION_TYPES.includes(t)) throw new Error(`--types: unknown corruption ${t} (one of ${CORRUPTION_TYPES.join(', ')})`);
const PYTHON = process.env.MEDROBUST_PYTHON ?? '/usr/bin/python3';
const SCRIPT = join(here, '..', 'test', 'parity', 'corruptions_reference.py');

interface Timing { wall: number; cpu: number }
type Table = Partial<Record<CorruptionType, Timing>>;

function timeOurs(x: tf.Tensor4D, type: CorruptionType, seed: number): Timing {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (const severity of [1, 2, 3, 4, 5] as const) {
    const out = corrupt(x, type, { severity, seed: seed + severity });
    out.dataSync();
    out.dispose();
  }
  const c = process.cpuUsage(c0);
  return { wall: (performance.now() - t0) / 1000, cpu: (c.user + c.system) / 1e6 };
}

function runPython(types: readonly CorruptionType[], seed: number): Table {
  const dir = mkdtempSync(join(tmpdir(), 'medrobust-bench-'));
  try {
    const result = join(dir, 'result.json');
    const env = { ...process.env, ...(frostDir ? { IMAGECORRUPTIONS_FROST: frostDir } : {}) };
    const run = spawnSync(PYTHON, [SCRIPT, 'bench', String(images), String(size), String(seed), types.join(','), result], { encoding: 'utf8', env });
    if (run.status !== 0) throw new Error(`corruptions_reference.py bench failed: ${run.stderr}`);
    return JSON.parse(readFileSync(result, 'utf8')) as Table;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const median = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

const probe = spawnSync(PYTHON, ['-c', 'import numpy, scipy, skimage, cv2, PIL'], { encoding: 'utf8' });
if (probe.status !== 0) throw new Error(`${PYTHON} cannot import numpy, scipy, skimage, cv2 and PIL: ${probe.stderr}`);
const choice = await useBackend(backend, { threads });
const x = tf.randomUniform([images, size, size, 3], 0, 1, 'float32', 7) as tf.Tensor4D;
const withoutGlass = TYPES.filter((t) => t !== 'glass_blur');
const ours: Record<string, Timing[]> = {};
const python: Record<string, Timing[]> = {};
for (const type of TYPES) timeOurs(x, type, 1); // warm-up: JIT and backend kernels
const started = Date.now();
for (let r = 0; r < reps; r++) {
  for (const type of TYPES) (ours[type] ??= []).push(timeOurs(x, type, 100 * r));
  const py = runPython(r < glassReps ? TYPES : withoutGlass, r);
  for (const [type, t] of Object.entries(py)) (python[type] ??= []).push(t!);
  console.error(`repetition ${r + 1}/${reps} done (${((Date.now() - started) / 1000).toFixed(0)} s)`);
}
x.dispose();

const row = (type: string) => {
  const o = { wall: median(ours[type]!.map((t) => t.wall)), cpu: median(ours[type]!.map((t) => t.cpu)) };
  const p = { wall: median(python[type]!.map((t) => t.wall)), cpu: median(python[type]!.map((t) => t.cpu)) };
  return { type, ours: o, python: p, wallRatio: o.wall / p.wall, cpuRatio: o.cpu / p.cpu };
};
const rows = TYPES.map(row);
const sum = (list: typeof rows, side: 'ours' | 'python', key: 'wall' | 'cpu') => list.reduce((a, r) => a + r[side][key], 0);
const rest = rows.filter((r) => r.type !== 'glass_blur');
const totals = {
  withoutGlass: { ours: { wall: sum(rest, 'ours', 'wall'), cpu: sum(rest, 'ours', 'cpu') }, python: { wall: sum(rest, 'python', 'wall'), cpu: sum(rest, 'python', 'cpu') } },
  all: { ours: { wall: sum(rows, 'ours', 'wall'), cpu: sum(rows, 'ours', 'cpu') }, python: { wall: sum(rows, 'python', 'wall'), cpu: sum(rows, 'python', 'cpu') } },
};
const f = (v: number) => v.toFixed(2);
console.log(`medrobust ${choice.name} (${threads} thread${threads === 1 ? '' : 's'}) vs numpy/scipy/OpenCV port; ${images} images ${size}×${size}×3, 5 severities each; medians of ${reps} interleaved repetitions (Python glass_blur: ${Math.min(glassReps, reps)})`);
console.log('| corruption | medrobust wall s | port wall s | wall ratio | medrobust CPU s | port CPU s | CPU ratio |');
console.log('|---|---|---|---|---|---|---|');
for (const r of rows) console.log(`| ${r.type} | ${f(r.ours.wall)} | ${f(r.python.wall)} | ${f(r.wallRatio)}× | ${f(r.ours.cpu)} | ${f(r.python.cpu)} | ${f(r.cpuRatio)}× |`);
for (const [label, t] of [['total without glass_blur', totals.withoutGlass], ['total, all 18', totals.all]] as const) {
  console.log(`| **${label}** | ${f(t.ours.wall)} | ${f(t.python.wall)} | **${f(t.ours.wall / t.python.wall)}×** | ${f(t.ours.cpu)} | ${f(t.python.cpu)} | **${f(t.ours.cpu / t.python.cpu)}×** |`);
}
mkdirSync(dirname(outPath), { recursive: true });
writeFileSync(outPath, JSON.stringify({ date: new Date().toISOString(), backend: choice.name, threads, images, size, reps, glassReps, rows, totals, raw: { ours, python } }, null, 1));
console.error(`wrote ${outPath}`);
