/**
 * Parity of the 18 corruptions × 5 severities with a numpy/scipy/scikit-image/OpenCV/Pillow port
 * of imagecorruptions' formulas (corruptions_reference.py beside this file; its docstring says
 * where it follows the paper's copy of ImageNet-C instead).
 *
 * Random corruptions are driven with identical draws: the test replays the library's random stream
 * (the same seed, the same order of draws) to recover the noise arrays, angles, shuffle offsets,
 * plasma uniforms, affine jitter and displacement noise, and hands them to the port. shot_noise and
 * impulse_noise draw per value from samplers whose streams cannot be matched (numpy's Poisson,
 * scikit-image's two Bernoulli masks), so for them the distributions are compared. frost's texture
 * is procedural in the library (the photographs cannot ship), so the port receives the library's
 * texture and checks the blend.
 *
 * Runs on 2 RGB images of 64 px (224 px with MEDROBUST_SLOW=1) when /usr/bin/python3 (or
 * $MEDROBUST_PYTHON) has numpy, scipy, scikit-image, OpenCV and Pillow; otherwise it says so and
 * skips. Prints the largest difference per corruption.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GLASS_BLUR, MOTION_BLUR } from '../../src/corruptions/blur.js';
import { level } from '../../src/corruptions/context.js';
import { corrupt } from '../../src/corruptions/corrupt.js';
import { CORRUPTION_TYPES, type CorruptionType, type Severity } from '../../src/corruptions/corruptionTypes.js';
import { ELASTIC } from '../../src/corruptions/digital.js';
import { motionBlur } from '../../src/corruptions/motionBlur.js';
import { GAUSSIAN_NOISE, IMPULSE_NOISE, SPECKLE_NOISE } from '../../src/corruptions/noise.js';
import { nextPowerOfTwo } from '../../src/corruptions/randomFields.js';
import { SNOW, frostLayer } from '../../src/corruptions/weather.js';
import { createRng } from '../../src/internal/random.js';
import { BACKENDS, useTestBackend } from '../helpers/backends.js';
import { maxAbsDiff } from '../helpers/close.js';
import { texturedImages } from '../corruptions/images.js';

const PYTHON = process.env.MEDROBUST_PYTHON ?? '/usr/bin/python3';
const probe = spawnSync(PYTHON, ['-c', 'import numpy, scipy, skimage, cv2, PIL'], { encoding: 'utf8' });
const available = probe.status === 0;
if (!available) {
  console.warn(`[medrobust] corruption parity SKIPPED: ${PYTHON} cannot import numpy, scipy, skimage, cv2 and PIL (apt-get install python3-numpy python3-scipy python3-skimage python3-opencv python3-pil to run it). ${(probe.stderr ?? '').trim().split('\n').pop() ?? ''}`);
}
const hasMagick = available && spawnSync('convert', ['-version'], { stdio: 'ignore' }).status === 0;
if (available && !hasMagick) console.warn('[medrobust] ImageMagick motion-blur check SKIPPED: no `convert` on PATH (apt-get install imagemagick to run it).');
const SLOW = process.env.MEDROBUST_SLOW === '1';
const SIZE = SLOW ? 224 : 64;
const N = 2;
const SEED = 11;

/** A file of draws for the port: raw little-endian values with their numpy shape and dtype. */
interface DrawFile { file: string; shape: number[]; dtype: 'float32' | 'float64' | 'int8' }
type Draws = Record<string, DrawFile | number>;

/** Writes one array for the port and describes it. */
function put(dir: string, name: string, data: Float32Array | Float64Array | Int8Array, shape: number[]): DrawFile {
  const file = join(dir, `${name}.bin`);
  writeFileSync(file, Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  const dtype = data instanceof Float32Array ? 'float32' : data instanceof Float64Array ? 'float64' : 'int8';
  return { file, shape, dtype };
}

/** The slice of image b from a batch array of `per` values per image. */
const slice = (values: Float32Array, b: number, per: number) => values.slice(b * per, (b + 1) * per);

/**
 * Replays the draws `corrupt(images, type, { severity, seed })` makes, in the library's order, per
 * image; null for deterministic types and for the two compared by their statistics.
 */
function replayDraws(dir: string, tag: string, type: CorruptionType, severity: Severity, seed: number, shape: [number, number, number, number]): (Draws | null)[] {
  const [n, h, w, c] = shape;
  const rng = createRng(seed);
  const none = Array.from({ length: n }, () => null);
  const normal = (sigma: number) => {
    const noise = tf.randomNormal(shape, 0, sigma, 'float32', rng.nextSeed());
    const v = noise.dataSync() as Float32Array;
    noise.dispose();
    return Array.from({ length: n }, (_, b) => ({ noise: put(dir, `${tag}-noise-${b}`, slice(v, b, h * w * c), [h, w, c]) }));
  };
  switch (type) {
    case 'gaussian_noise':
      return normal(level(GAUSSIAN_NOISE, severity));
    case 'speckle_noise':
      return normal(level(SPECKLE_NOISE, severity));
    case 'glass_blur': {
      const [, delta, iterations] = level(GLASS_BLUR, severity);
      const rows = h - 2 * delta;
      const cols = w - 2 * delta;
      return Array.from({ length: n }, (_, b) => {
        const shifts = new Int8Array(iterations * rows * cols * 2);
        for (let i = 0; i < shifts.length; i++) shifts[i] = rng.nextInt(-delta, delta - 1);
        return { shifts: put(dir, `${tag}-shifts-${b}`, shifts, [iterations, rows, cols, 2]) };
      });
    }
    case 'motion_blur':
      return Array.from({ length: n }, () => ({ angle: rng.uniform(-45, 45) }));
    case 'snow': {
      const [loc, scale] = level(SNOW, severity);
      const layer = tf.randomNormal([n, h, w, 1], loc, scale, 'float32', rng.nextSeed());
      const v = layer.dataSync() as Float32Array;
      layer.dispose();
      const angles = Array.from({ length: n }, () => rng.uniform(-135, -45));
      return Array.from({ length: n }, (_, b) => ({ layer: put(dir, `${tag}-layer-${b}`, slice(v, b, h * w), [h, w]), angle: angles[b]! }));
    }
    case 'frost': {
      const texture = frostLayer(n, h, w, c, rng);
      const v = texture.dataSync() as Float32Array;
      texture.dispose();
      return Array.from({ length: n }, (_, b) => ({ texture: put(dir, `${tag}-texture-${b}`, slice(v, b, h * w * c), [h, w, c]) }));
    }
    case 'fog': {
      const size = nextPowerOfTwo(Math.max(h, w));
      let count = 0;
      for (let g = 1; g < size; g *= 2) count += 3 * g * g;
      return Array.from({ length: n }, (_, b) => ({ uniforms: put(dir, `${tag}-uniforms-${b}`, Float64Array.from({ length: count }, () => rng.next()), [count]) }));
    }
    case 'elastic_transform': {
      const jitter = level(ELASTIC, severity)[2] * ((244 * Math.min(h, w)) / 224);
      const affine = Array.from({ length: n }, () => Float64Array.from({ length: 6 }, () => rng.uniform(-jitter, jitter)));
      const fields = [rng.nextSeed(), rng.nextSeed()].map((s) => {
        const u = tf.randomUniform([n, h, w, 1], -1, 1, 'float32', s);
        const v = u.dataSync() as Float32Array;
        u.dispose();
        return v;
      });
      return Array.from({ length: n }, (_, b) => ({
        affine: put(dir, `${tag}-affine-${b}`, affine[b]!, [3, 2]),
        dx: put(dir, `${tag}-dx-${b}`, slice(fields[0]!, b, h * w), [h, w]),
        dy: put(dir, `${tag}-dy-${b}`, slice(fields[1]!, b, h * w), [h, w]),
      }));
    }
    default:
      return none;
  }
}

interface Stats { max: number; mean: number; over1: number }
interface ResultRow extends Partial<Stats> {
  type: CorruptionType;
  severity: Severity;
  without8bit?: Stats;
  statistics?: { ours: number[]; numpy: number[] };
}

/**
 * Largest allowed |ours − reference| per type. 1e-5 where both compute the same formula in
 * floating point; JPEG is integer-exact; the rest are the reference's own 8-bit or fixed-point steps.
 */
const TOLERANCE: Record<CorruptionType, number> = {
  gaussian_noise: 1e-6,
  shot_noise: Number.NaN,
  impulse_noise: Number.NaN,
  speckle_noise: 1e-6,
  gaussian_blur: 1e-5,
  glass_blur: 1.5 / 255, // the reference floors to 8 bits between its blurs; 1e-5 without that step
  defocus_blur: 1e-5,
  motion_blur: 1e-5,
  zoom_blur: 1e-5,
  snow: 1.01 / 255, // imagecorruptions rounds the snow layer to 8 bits (it is added twice); 1e-5 without
  frost: 1e-6,
  fog: 1e-5,
  brightness: 1e-5,
  contrast: 1e-5,
  saturate: 1e-5,
  jpeg_compression: 1e-6, // every 8-bit value identical (k/255 stored as float32 on our side)
  pixelate: 1.5 / 255, // Pillow's BOX resize rounds to 8 bits after each of its passes
  elastic_transform: 1.5 / 255, // cv2.warpAffine interpolates with 5-bit (1/32 px) fixed-point weights
};

describe.skipIf(!available).each(BACKENDS)('corruptions match the numpy/OpenCV port of imagecorruptions on %s', (backend) => {
  let dir = '';
  let results: ResultRow[] = [];
  beforeAll(async () => {
    await useTestBackend(backend);
    dir = mkdtempSync(join(tmpdir(), 'medrobust-corruptions-'));
    const x = tf.tidy(() => tf.div(tf.round(tf.mul(texturedImages(N, SIZE, 3, 5), 255)), 255) as tf.Tensor4D);
    const shape = x.shape;
    const images = put(dir, 'images', x.dataSync() as Float32Array, shape);
    const cases: { type: CorruptionType; severity: Severity; output: string; draws: (Draws | null)[] }[] = [];
    CORRUPTION_TYPES.forEach((type, t) => {
      for (const severity of [1, 2, 3, 4, 5] as const) {
        const seed = SEED + 10 * t + severity;
        const out = corrupt(x, type, { severity, seed });
        const output = put(dir, `${type}-${severity}`, out.dataSync() as Float32Array, shape).file;
        out.dispose();
        cases.push({ type, severity, output, draws: replayDraws(dir, `${type}-${severity}`, type, severity, seed, shape) });
      }
    });
    x.dispose();
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ images: images.file, shape, seed: SEED, cases }));
    const run = spawnSync(PYTHON, [join(__dirname, 'corruptions_reference.py'), 'parity', join(dir, 'manifest.json'), join(dir, 'result.json')], { encoding: 'utf8' });
    if (run.status !== 0) throw new Error(`corruptions_reference.py failed: ${run.stderr}`);
    results = JSON.parse(readFileSync(join(dir, 'result.json'), 'utf8')) as ResultRow[];
    const lines = CORRUPTION_TYPES.map((type) => {
      const rows = results.filter((r) => r.type === type);
      if (rows[0]!.statistics) return `  ${type.padEnd(18)} statistics ${rows.map((r) => `s${r.severity} ours ${r.statistics!.ours.map((v) => v.toFixed(4)).join('/')} numpy ${r.statistics!.numpy.map((v) => v.toFixed(4)).join('/')}`).join('; ')}`;
      const max = Math.max(...rows.map((r) => r.max!));
      const plain = rows[0]!.without8bit ? `  (without the reference's 8-bit step: ${Math.max(...rows.map((r) => r.without8bit!.max)).toExponential(2)})` : '';
      return `  ${type.padEnd(18)} max |Δ| ${max.toExponential(2)} = ${(max * 255).toFixed(3)}/255, mean ${(rows.reduce((a, r) => a + r.mean!, 0) / rows.length).toExponential(2)}${plain}`;
    });
    console.log(`[medrobust] corruption parity on ${backend}, ${N}×${SIZE}×${SIZE}×3, severities 1–5:\n${lines.join('\n')}`);
  }, SLOW ? 900_000 : 300_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.each(CORRUPTION_TYPES.filter((t) => t !== 'shot_noise' && t !== 'impulse_noise'))('%s is within its tolerance at every severity', (type) => {
    for (const row of results.filter((r) => r.type === type)) {
      expect(row.max!, `${type} severity ${row.severity}`).toBeLessThanOrEqual(TOLERANCE[type]);
      if (row.without8bit) expect(row.without8bit.max, `${type} severity ${row.severity} without the 8-bit step`).toBeLessThanOrEqual(1e-5);
    }
  });

  it.skipIf(!hasMagick)("motion_blur reads along the same direction as ImageMagick's own -motion-blur (within its 8-bit output)", () => {
    const x = tf.tidy(() => tf.div(tf.round(tf.mul(texturedImages(3, 48, 3, 9), 255)), 255) as tf.Tensor4D);
    const images = put(dir, 'magick-images', x.dataSync() as Float32Array, x.shape);
    const angles = [-40, 0, 33.5];
    for (const [radius, sigma] of [level(MOTION_BLUR, 1), level(MOTION_BLUR, 5)]) {
      const out = join(dir, 'magick-out.bin');
      const run = spawnSync(PYTHON, [join(__dirname, 'corruptions_reference.py'), 'magick', JSON.stringify({ images: images.file, shape: x.shape, radius, sigma, angles, out })], { encoding: 'utf8' });
      if (run.status !== 0) throw new Error(`ImageMagick reference failed: ${run.stderr}`);
      const magick = new Float32Array(readFileSync(out).buffer.slice(0));
      const ours = motionBlur(x, radius, sigma, angles);
      const mirrored = motionBlur(x, radius, sigma, angles.map((a) => a + 180));
      const diff = maxAbsDiff(ours.dataSync(), magick);
      console.log(`[medrobust] motion blur ${radius}x${sigma} vs ImageMagick convert: max |Δ| ${(diff * 255).toFixed(3)}/255 (mirrored: ${(maxAbsDiff(mirrored.dataSync(), magick) * 255).toFixed(1)}/255)`);
      expect(diff).toBeLessThanOrEqual(1 / 255);
      expect(maxAbsDiff(mirrored.dataSync(), magick)).toBeGreaterThan(20 / 255);
      tf.dispose([ours, mirrored]);
    }
    x.dispose();
  });

  it('shot_noise has numpy Poisson(λx)/λ statistics: mean change and spread within 3% (of σ) at every severity', () => {
    for (const row of results.filter((r) => r.type === 'shot_noise')) {
      const [oursMean, oursSd, oursMid] = row.statistics!.ours as [number, number, number];
      const [refMean, refSd, refMid] = row.statistics!.numpy as [number, number, number];
      expect(Math.abs(oursMean - refMean), `severity ${row.severity} mean`).toBeLessThan(0.03 * refSd + 1e-3);
      expect(Math.abs(oursSd / refSd - 1), `severity ${row.severity} sd`).toBeLessThan(0.03);
      expect(Math.abs(oursMid / refMid - 1), `severity ${row.severity} mid-grey sd`).toBeLessThan(0.03);
    }
  });

  it('impulse_noise sets as many values to 0 and to 1, and leaves as many unchanged, as scikit-image (within 4 standard errors)', () => {
    const count = N * SIZE * SIZE * 3;
    for (const row of results.filter((r) => r.type === 'impulse_noise')) {
      const amount = level(IMPULSE_NOISE, row.severity);
      const ours = row.statistics!.ours;
      const ref = row.statistics!.numpy;
      [amount / 2, amount / 2, 1 - amount].forEach((p, i) => {
        const tolerance = 4 * Math.sqrt((2 * p * (1 - p)) / count);
        expect(Math.abs(ours[i]! - ref[i]!), `severity ${row.severity} fraction ${i}`).toBeLessThan(tolerance);
      });
    }
  });
});
