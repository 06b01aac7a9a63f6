/** The worst-case row of a paper reproduction (evaluateWorstCase on the first `limit` test images). @internal */
import * as tf from '@tensorflow/tfjs-core';
import { evaluateWorstCase } from '../../metrics/evaluateWorstCase.js';
import type { ImageFileDataset } from '../../node/index.js';
import type { ModelFn } from '../../types.js';
import type { PaperExperiment } from './experiment.js';

/**
 * The worst case at the experiment's PGD budget: its ensemble starts with PGD-10, then APGD (and, for
 * `'standard'`, noise and Square) on the images still robust. In the paper preset the images are the
 * normalised tensors their PGD attacks and the clip is the normalised image of [0, 1] per channel (their
 * batch min/max clip would depend on which images are still robust). `accuracy` is comparable with the PGD
 * rows (top-1; multi-label: mean per-label accuracy at the experiment's threshold), and
 * `pgd10Accuracy`/`worstCaseAccuracy`/`gap` are the sample-level figures (multi-label: exact match).
 */
export async function worstCaseRow(model: ModelFn, test: ImageFileDataset, e: PaperExperiment, o: { paper: boolean; limit: number; version: 'cheap' | 'standard'; normalise: (x: tf.Tensor4D) => tf.Tensor4D; signal?: AbortSignal }): Promise<Record<string, number | string>> {
  const { mean, std } = e.preset.normalization;
  let count = 0;
  const batches = {
    async *[Symbol.asyncIterator]() {
      for await (const b of test.batches({ batchSize: 8, preprocess: e.preset.test })) {
        if (count >= o.limit) { tf.dispose([b.images, b.labels]); break; }
        count += b.labels.shape[0];
        if (!o.paper) { yield b; continue; }
        const images = o.normalise(b.images);
        b.images.dispose();
        yield { images, labels: b.labels };
      }
    },
  };
  const report = await evaluateWorstCase(model, batches, {
    epsilon: e.pgd.epsilon / 255,
    task: e.task,
    version: o.version,
    clip: o.paper ? { min: mean.map((m, c) => -m / std[c]!), max: mean.map((m, c) => (1 - m) / std[c]!) } : [0, 1],
    seed: 1,
    ...(o.signal ? { signal: o.signal } : {}),
    ...(e.task === 'multi-label' ? { threshold: e.threshold } : {}),
    onProgress: (p) => process.stderr.write(`\rworst case: attack run ${p.done}`),
  });
  process.stderr.write('\n');
  for (const w of report.warnings) console.warn(`warning [${w.code}]: ${w.message}`);
  const row = report.rows[0]!;
  return {
    attack: `worst case (${report.attacks.map((a) => a.name).join(' + ')})`,
    accuracy: e.task === 'multi-label' ? 1 - row.perLabel!.hammingLoss : row.robustAccuracy,
    pgd10Accuracy: row.pgdAccuracy,
    worstCaseAccuracy: row.robustAccuracy,
    gap: row.gap,
  };
}
