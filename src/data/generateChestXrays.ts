import * as tf from '@tensorflow/tfjs-core';
import { InvalidArgumentError } from '../errors.js';
import { createRng, drawSeed, type Rng } from '../internal/random.js';
import { assertKnownKeys, assertNumber, assertOptionalNumber, assertOptionsObject, describeValue } from '../internal/validate.js';
import { mixSeed, type LabeledImages } from './batchesFromTensors.js';
import { clamp01, inside, valueNoise } from './render.js';
import { entry } from '../internal/scope.js';

/**
 * The findings of the generated chest set: the eight ChestX-ray8 diseases, in ChestX-ray14 order
 * (paper.md §2.3; the co-occurrence analysis of §5d uses these eight).
 * @category Data
 */
export const CHEST_FINDINGS = ['Atelectasis', 'Cardiomegaly', 'Effusion', 'Infiltration', 'Mass', 'Nodule', 'Pneumonia', 'Pneumothorax'] as const;

/**
 * One link of the known co-occurrence structure of {@link generateChestXrays}: `finding` is present
 * with probability `pWith` when `given` is present (or, without `given`, always `pWith`), and
 * `pWithout` otherwise.
 * @category Data
 */
export interface ChestFindingRule {
  /** The finding drawn. */
  readonly finding: (typeof CHEST_FINDINGS)[number];
  /** The finding it depends on, drawn before it; undefined for an independent finding. */
  readonly given: (typeof CHEST_FINDINGS)[number] | undefined;
  /** P(finding | given present), or P(finding) for an independent finding. */
  readonly pWith: number;
  /** P(finding | given absent); equal to `pWith` for an independent finding. */
  readonly pWithout: number;
}

/**
 * The generative model of the chest labels, in drawing order: cardiomegaly raises the chance of
 * effusion, effusion that of atelectasis, pneumonia that of infiltration, a nodule that of a mass;
 * pneumothorax is independent. The co-occurrence analysis should recover these pairs.
 * @category Data
 */
export const CHEST_COOCCURRENCE: readonly ChestFindingRule[] = [
  { finding: 'Cardiomegaly', given: undefined, pWith: 0.25, pWithout: 0.25 },
  { finding: 'Effusion', given: 'Cardiomegaly', pWith: 0.7, pWithout: 0.12 },
  { finding: 'Atelectasis', given: 'Effusion', pWith: 0.5, pWithout: 0.08 },
  { finding: 'Pneumonia', given: undefined, pWith: 0.15, pWithout: 0.15 },
  { finding: 'Infiltration', given: 'Pneumonia', pWith: 0.7, pWithout: 0.12 },
  { finding: 'Nodule', given: undefined, pWith: 0.15, pWithout: 0.15 },
  { finding: 'Mass', given: 'Nodule', pWith: 0.5, pWithout: 0.08 },
  { finding: 'Pneumothorax', given: undefined, pWith: 0.1, pWithout: 0.1 },
];

/**
 * Options of {@link generateChestXrays}.
 * @category Data
 */
export interface GenerateChestXraysOptions {
  /** How many images to make. Required. */
  count: number;
  /**
   * Side of the square images in pixels (16 to 256).
   * @defaultValue 28
   */
  size?: number;
  /**
   * Channels: 3 repeats the gray value over RGB (the same nets and pipelines as the lesion set);
   * 1 keeps it gray.
   * @defaultValue 3
   */
  channels?: 1 | 3;
  /**
   * Seed of the set: image i depends only on (seed, i). Use different seeds for training and test.
   * @defaultValue drawn at random
   */
  seed?: number;
}

/**
 * The result of {@link generateChestXrays}.
 * @category Data
 */
export interface GeneratedChestXrays extends LabeledImages {
  /** The seed used (drawn when none was given), to regenerate the set. */
  readonly seed: number;
  /** The co-occurrence structure the labels were drawn from. */
  readonly structure: readonly ChestFindingRule[];
}

type Finding = (typeof CHEST_FINDINGS)[number];

function drawFindings(rng: Rng): Set<Finding> {
  const present = new Set<Finding>();
  for (const r of CHEST_COOCCURRENCE) {
    const p = r.given === undefined || present.has(r.given) ? r.pWith : r.pWithout;
    if (rng.next() < p) present.add(r.finding);
  }
  return present;
}

/** Signed distance-like value of an ellipse (negative inside). */
function ellipse(u: number, v: number, cx: number, cy: number, rx: number, ry: number): number {
  return (Math.hypot((u - cx) / rx, (v - cy) / ry) - 1) * Math.min(rx, ry);
}

function renderChest(out: Float32Array, offset: number, size: number, channels: number, f: Set<Finding>, rng: Rng): void {
  const dx = rng.uniform(-0.03, 0.03);
  const dy = rng.uniform(-0.03, 0.03);
  const scale = rng.uniform(0.94, 1.06);
  const noise = valueNoise(rng, 6);
  const texture = valueNoise(rng, 12);
  const lungs = [
    { cx: 0.5 - 0.19 * scale + dx, cy: 0.45 + dy, rx: 0.14 * scale, ry: 0.3 * scale },
    { cx: 0.5 + 0.19 * scale + dx, cy: 0.45 + dy, rx: 0.14 * scale, ry: 0.3 * scale },
  ];
  const heartR = (f.has('Cardiomegaly') ? rng.uniform(0.2, 0.24) : rng.uniform(0.12, 0.15)) * scale;
  const heart = { cx: 0.53 + dx, cy: 0.66 + dy, rx: heartR, ry: 0.11 * scale };
  const side = (): number => rng.nextInt(0, 1);
  const effusion = f.has('Effusion') ? { lung: side(), level: 0.5 + rng.uniform(0, 0.1) + dy } : undefined;
  const atelectasis = f.has('Atelectasis') ? { lung: side(), y: 0.38 + rng.uniform(0, 0.14) + dy, tilt: rng.uniform(-0.3, 0.3) } : undefined;
  const infiltrate = f.has('Infiltration') ? { lung: side(), pattern: valueNoise(rng, 8) } : undefined;
  const pick = (lung: number, lo: number, hi: number): { x: number; y: number } => ({
    x: lungs[lung]!.cx + rng.uniform(-0.5, 0.5) * lungs[lung]!.rx,
    y: lungs[lung]!.cy + rng.uniform(lo, hi) * lungs[lung]!.ry,
  });
  const pneumonia = f.has('Pneumonia') ? { ...pick(side(), 0.1, 0.5), r: rng.uniform(0.08, 0.11) } : undefined;
  const mass = f.has('Mass') ? { ...pick(side(), -0.5, 0.3), r: rng.uniform(0.06, 0.08) } : undefined;
  const nodules = f.has('Nodule') ? Array.from({ length: rng.nextInt(1, 3) }, () => ({ ...pick(side(), -0.6, 0.4), r: rng.uniform(0.03, 0.04) })) : [];
  const ptx = f.has('Pneumothorax') ? { lung: side(), depth: rng.uniform(0.45, 0.6) } : undefined;
  const brightness = rng.uniform(-0.05, 0.05);
  const contrast = rng.uniform(0.9, 1.1);
  const px1 = 1 / size;
  for (let py = 0; py < size; py++) {
    for (let px = 0; px < size; px++) {
      const u = (px + 0.5) / size;
      const v = (py + 0.5) / size;
      // body and soft tissue, abdomen below the diaphragm
      let g = 0.06 + 0.4 * inside(ellipse(u, v, 0.5 + dx, 0.55 + dy, 0.46 * scale, 0.6 * scale), 0.02 + px1);
      for (let l = 0; l < 2; l++) {
        const lung = lungs[l]!;
        const w = inside(ellipse(u, v, lung.cx, lung.cy, lung.rx, lung.ry), 0.015 + px1);
        if (w <= 0) continue;
        // aerated lung: dark, with faint ribs and vessels
        const ribs = 0.05 * Math.max(0, Math.sin((v - lung.cy + 0.04 * Math.abs(u - lung.cx) * 10) * 42));
        let lungValue = 0.16 + ribs + 0.025 * texture(u, v);
        if (ptx && ptx.lung === l) {
          // collapsed lateral part: black, no markings, with a thin pleural line
          const lateral = l === 0 ? (lung.cx - u) / lung.rx : (u - lung.cx) / lung.rx;
          const edge = lateral - (1 - 2 * ptx.depth);
          if (edge > 0) lungValue = 0.03;
          lungValue += 0.25 * inside(Math.abs(edge) - 0.04, 0.03 + px1 * 2);
        }
        if (effusion && effusion.lung === l) {
          const meniscus = effusion.level - 0.05 * Math.abs(u - lung.cx) / lung.rx;
          lungValue += (0.6 - lungValue) * inside(meniscus - v, 0.01 + px1);
        }
        if (atelectasis && atelectasis.lung === l) {
          const d = Math.abs(v - atelectasis.y - atelectasis.tilt * (u - lung.cx)) - 0.03;
          lungValue += 0.4 * inside(d, 0.01 + px1);
        }
        if (infiltrate && infiltrate.lung === l) {
          lungValue += 0.3 * clamp01(infiltrate.pattern(u, v) * 1.2 + 0.35);
        }
        g = g * (1 - w) + lungValue * w;
      }
      // mediastinum/spine and heart
      g = Math.max(g, 0.5 * inside(Math.abs(u - 0.5 - dx) - 0.045 * scale, 0.01 + px1) * inside(v - 0.85 - dy, 0.02));
      g = Math.max(g, 0.62 * inside(ellipse(u, v, heart.cx, heart.cy, heart.rx, heart.ry), 0.012 + px1));
      g = Math.max(g, 0.55 * inside(0.8 + dy - v + 0.08 * Math.abs(u - 0.5 - dx), 0.015 + px1) * inside(ellipse(u, v, 0.5 + dx, 0.55 + dy, 0.46 * scale, 0.6 * scale), 0.02));
      if (pneumonia) g += 0.32 * inside(Math.hypot(u - pneumonia.x, v - pneumonia.y) - pneumonia.r, pneumonia.r * 0.6);
      if (mass) g += 0.42 * inside(Math.hypot(u - mass.x, v - mass.y) - mass.r, 0.008 + px1);
      for (const n of nodules) g += 0.5 * inside(Math.hypot(u - n.x, v - n.y) - n.r, 0.006 + px1);
      g = (g + 0.02 * noise(u, v) - 0.3) * contrast + 0.3 + brightness;
      const value = clamp01(g);
      const o = offset + (py * size + px) * channels;
      for (let c = 0; c < channels; c++) out[o + c] = value;
    }
  }
}

/**
 * Generated radiograph-like images, the embedded multi-label demo set: a gray chest field (body,
 * dark lungs with ribs, mediastinum, heart, diaphragm) with any subset of eight findings, each
 * drawn as a visible cue: atelectasis (a plate-like band), cardiomegaly (a wide heart),
 * effusion (a fluid level with a meniscus), infiltration (patchy haze), mass (a large round
 * opacity), nodule (1–3 small dots), pneumonia (a fuzzy consolidation), pneumothorax (a black
 * lateral lung edge with a pleural line). Labels follow {@link CHEST_COOCCURRENCE}, a known
 * co-occurrence structure for the label-correlation analysis (paper.md §5d). Pure TypeScript,
 * deterministic from the seed.
 *
 * @param options - see {@link GenerateChestXraysOptions}.
 * @returns float32 images `[count, size, size, channels]` in [0, 1], float32 multi-hot labels
 *   `[count, 8]` in {@link CHEST_FINDINGS} order, task 'multi-label', the class names, the seed and
 *   the structure; the caller owns the tensors.
 * @throws {InvalidArgumentError} for a count that is not a positive integer, a size outside
 *   [16, 256], channels other than 1 or 3, or an unknown option.
 *
 * @example
 * ```ts
 * const chest = generateChestXrays({ count: 256, seed: 1 });
 * chest.labels.shape; // [256, 8]
 * ```
 * @category Data
 */
export function generateChestXrays(options: GenerateChestXraysOptions): GeneratedChestXrays {
  return entry('generateChestXrays', () => {
    const fn = 'generateChestXrays';
    const o = assertOptionsObject(fn, options);
    assertKnownKeys(fn, o, ['count', 'size', 'channels', 'seed']);
    const count = assertNumber(fn, 'options.count', o.count, { min: 1, integer: true });
    const size = assertNumber(fn, 'options.size', o.size ?? 28, { min: 16, max: 256, integer: true });
    const channels = o.channels ?? 3;
    if (channels !== 1 && channels !== 3) throw new InvalidArgumentError(fn, 'options.channels', '1 or 3', describeValue(channels));
    const seed = (assertOptionalNumber(fn, 'options.seed', o.seed, { integer: true }) ?? drawSeed()) >>> 0;
    const k = CHEST_FINDINGS.length;
    const pixels = new Float32Array(count * size * size * channels);
    const labels = new Float32Array(count * k);
    for (let i = 0; i < count; i++) {
      const rng = createRng(mixSeed(seed, i));
      const present = drawFindings(rng);
      CHEST_FINDINGS.forEach((name, j) => { labels[i * k + j] = present.has(name) ? 1 : 0; });
      renderChest(pixels, i * size * size * channels, size, channels, present, rng);
    }
    return {
      images: tf.tensor4d(pixels, [count, size, size, channels], 'float32'),
      labels: tf.tensor2d(labels, [count, k], 'float32'),
      task: 'multi-label',
      classNames: [...CHEST_FINDINGS],
      seed,
      structure: CHEST_COOCCURRENCE,
    };
  });
}
