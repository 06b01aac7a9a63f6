/**
 * ISIC 2016 melanoma + AttnVGG (paper.md §2.1, §3.1): clean ACC and hard-label AUC, PGD at the code's
 * ε = 2/255, α = 1/255, T = 1 (the library notebook's 5/255, T = 5 via editing below), GAP m = 11.
 *   npx tsx examples/paper/isic2016-attnvgg.ts /data/isic2016 [--preset paper] [--model dir] [--gap]
 */
import { join } from 'node:path';
import { PAPER_PRESETS, attnVgg } from '../../index.js';
import { imageFolder } from '../../node/index.js';
import { present, runPaperExperiment, type PaperExperiment } from './experiment.js';

export const isic2016: PaperExperiment = {
  id: 'isic2016-attnvgg',
  title: 'ISIC 2016 + AttnVGG',
  task: 'single-label',
  preset: PAPER_PRESETS.isic2016,
  howToGetData: [
    'Download the ISIC 2016 challenge, Part 3 (lesion classification) training and test images and ground truth',
    'from the ISIC archive (challenge.isic-archive.com/data, "2016: ISBI challenge"), then sort them into class folders:',
    '  <data-root>/Train/benign/*.jpg   <data-root>/Train/malignant/*.jpg   (900 images)',
    '  <data-root>/Test/benign/*.jpg    <data-root>/Test/malignant/*.jpg    (379 images)',
    'using the ground-truth CSVs (label 0 = benign, 1 = malignant), as the authors\' preprocess_data_2016 does.',
  ].join('\n'),
  async load(root) {
    for (const split of ['Train', 'Test']) if (!present(join(root, split, 'benign')) || !present(join(root, split, 'malignant'))) return { missing: join(root, split, '{benign,malignant}') };
    return { train: await imageFolder(join(root, 'Train')), test: await imageFolder(join(root, 'Test')) };
  },
  build: () => attnVgg({ inputShape: [224, 224, 3], classes: 2, attention: 'softmax', seed: 1 }),
  // Their PGD script attacks AttnVGG(normalize_attn=False), their GAP script AttnVGG(normalize_attn=True).
  buildFor: (use) => attnVgg({ inputShape: [224, 224, 3], classes: 2, attention: use === 'pgd' ? 'sigmoid' : 'softmax', seed: 1 }),
  inputShape: [224, 224, 3],
  logitsOutput: 0,
  pgd: { epsilon: 2, stepSize: 1, steps: 1 },
  gap: { magnitude: 11, epochs: 13, batchSize: 8, maxBatches: 101, testBatchSize: 8 },
  aucVariant: 'hard-label',
  threshold: 0.5,
};

