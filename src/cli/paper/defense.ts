/**
 * The defense of `medrobust reproduce … --defend <method>`: the library's paper presets
 * (`mpAdvTrainPreset`, `maAdvTrainPreset`; paper.md §6) in the variant of the run's preset, and the
 * authors' standard PGD-AT (their commented-out block: ε 4/255, T 4, α 1/255 on every batch).
 *
 * The defenses train the network itself, whose input is the normalised tensor in both presets:
 * - `paper`: the authors' settings as the code runs them (budgets in normalised units, the batch clip
 *   of MPAdvT, MART's [0, 1] clip of normalised tensors, β = 8 on Messidor and 6 elsewhere).
 * - `corrected`: the same schedules with the evaluated pixel budget ε on every channel (ε/σ_c in
 *   normalised units) and the valid normalised range per channel as the clip.
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import { pgd } from '../../attacks/pgd.js';
import type { AdvTrainOptions, AdversarialGenerator } from '../../defenses/advTrain.js';
import { maAdvTrainPreset, mpAdvTrainPreset, type PaperDataset } from '../../defenses/paperPresets.js';
import type { MaAdvTrainOptions } from '../../defenses/maAdvTrain.js';
import type { MpAdvTrainOptions } from '../../defenses/mpAdvTrain.js';

/** The defenses `reproduce --defend` trains. */
export type PaperDefenseName = 'pgd-at' | 'mpadvt' | 'maadvt';
export const PAPER_DEFENSES: readonly PaperDefenseName[] = ['pgd-at', 'mpadvt', 'maadvt'];

/** What one defense of a reproduce run trains with. */
export type PaperDefensePlan =
  | { method: 'pgd-at'; variant: 'paper' | 'corrected'; options: Omit<AdvTrainOptions, 'optimizer'>; batchSize: number; createOptimizer(): tf.Optimizer; notes: readonly string[] }
  | { method: 'mpadvt'; variant: 'paper' | 'corrected'; options: Omit<MpAdvTrainOptions, 'optimizer'>; batchSize: number; createOptimizer(): tf.Optimizer; notes: readonly string[] }
  | { method: 'maadvt'; variant: 'paper' | 'corrected'; options: Omit<MaAdvTrainOptions, 'optimizer'>; batchSize: number; createOptimizer(): tf.Optimizer; notes: readonly string[] };

export interface PaperDefenseSetting {
  /** The data set of the experiment (picks the preset). */
  dataset: PaperDataset;
  /** The run's preset. */
  preset: 'paper' | 'corrected';
  /** The evaluated PGD budget in pixels (e.g. 2/255): the corrected budget of the defenses. */
  epsilon: number;
  /** The normalisation of the network's input. */
  normalization: { readonly mean: readonly number[]; readonly std: readonly number[] };
}

/**
 * The options, optimizer and batch size of one defense for an experiment. MAAdvT on ChestX-ray14 has
 * no code of the authors, so its paper preset falls back to the corrected one (stated in `notes`).
 */
export function paperDefensePlan(method: PaperDefenseName, s: PaperDefenseSetting): PaperDefensePlan {
  const corrected = { variant: 'corrected' as const, epsilon: s.epsilon, normalization: s.normalization };
  if (method === 'mpadvt') {
    const p = mpAdvTrainPreset(s.dataset, s.preset === 'paper' ? {} : corrected);
    return { method, variant: p.variant, options: p.options, batchSize: p.batchSize, createOptimizer: p.createOptimizer, notes: p.notes };
  }
  if (method === 'maadvt') {
    const fallback = s.preset === 'paper' && s.dataset === 'chestXray14';
    const p = maAdvTrainPreset(s.dataset, s.preset === 'paper' && !fallback ? {} : corrected);
    const notes = fallback ? ['The authors\' code has no MAAdvT for ChestX-ray14: the corrected preset runs instead.', ...p.notes] : p.notes;
    return { method, variant: p.variant, options: p.options, batchSize: p.batchSize, createOptimizer: p.createOptimizer, notes };
  }
  // Standard PGD-AT: the authors' commented-out block in adversarial_training.py (paper.md §6.1),
  // with the data set's loss, optimizer and schedule (those of its MPAdvT preset).
  const mp = mpAdvTrainPreset(s.dataset, s.preset === 'paper' ? {} : corrected);
  const { loss, l1, weightDecay, learningRate, task, epochs } = mp.options;
  const recipe = { loss, l1, weightDecay, learningRate, task, epochs };
  for (const k of Object.keys(recipe) as (keyof typeof recipe)[]) if (recipe[k] === undefined) delete recipe[k];
  if (s.preset === 'paper') {
    return {
      method, variant: 'paper', batchSize: mp.batchSize, createOptimizer: mp.createOptimizer,
      options: { ...recipe, epsilon: 4 / 255, steps: 4, stepSize: 1 / 255, clip: 'batch' },
      notes: ['ε 4/255, T 4, α 1/255 on every batch, in normalised units with the batch clip (the code\'s commented-out standard AT).', ...mp.notes.slice(2)],
    };
  }
  return {
    method, variant: 'corrected', batchSize: mp.batchSize, createOptimizer: mp.createOptimizer,
    options: { ...recipe, generator: pixelPgd(s.epsilon, s.normalization, s.dataset === 'chestXray14' ? 'multi-label' : 'single-label') },
    notes: [`ε = ${(s.epsilon * 255).toFixed(3).replace(/\.?0+$/, '')}/255 in pixels on every channel, T 4, α 1/255, clipped to [0, 1] pixels.`, ...mp.notes.slice(2)],
  };
}

/**
 * PGD with the pixel budget `epsilon` on normalised images: the images are mapped back to pixels,
 * attacked within [0, 1] through the network's normalisation, and normalised again, so every
 * channel gets exactly ε in pixels (ε/σ_c in normalised units).
 */
function pixelPgd(epsilon: number, n: PaperDefenseSetting['normalization'], task: 'single-label' | 'multi-label'): AdversarialGenerator {
  return (model, images, labels, seed) => {
    const c = images.shape[3];
    const mean = tf.tensor4d([...n.mean], [1, 1, 1, c]);
    const std = tf.tensor4d([...n.std], [1, 1, 1, c]);
    try {
      // Back to pixels, clipped: (x − μ)/σ·σ + μ can leave [0, 1] by a rounding error.
      const pixels = tf.tidy(() => tf.clipByValue(tf.add(tf.mul(images, std), mean), 0, 1) as tf.Tensor4D);
      const onPixels = (x: tf.Tensor4D) => model(tf.div(tf.sub(x, mean), std) as tf.Tensor4D);
      const adv = pgd(onPixels, pixels, labels, { epsilon, steps: 4, stepSize: 1 / 255, clip: [0, 1], task, seed });
      pixels.dispose();
      const out = tf.tidy(() => tf.div(tf.sub(adv, mean), std) as tf.Tensor4D);
      adv.dispose();
      return out;
    } finally {
      tf.dispose([mean, std]);
    }
  };
}
