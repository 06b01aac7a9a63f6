/**
 * ISIC 2016 melanoma + AttnVGG (paper.md §2.1, §3.1): clean ACC and hard-label AUC, PGD at the code's
 * ε = 2/255, α = 1/255, T = 1 (the library notebook's 5/255, T = 5 via editing below), GAP m = 11.
 *   npx tsx examples/paper/isic2016-attnvgg.ts /data/isic2016 [--preset paper] [--model dir] [--gap]
 */
import { join } from 'node:path';
import { PAPER_PRESETS, attnVgg } from '../../index.js';
import { imageFolder, labelCsvDataset } from '../../node/index.js';
import { present, runPaperExperiment, type PaperExperiment } from './experiment.js';

export const isic2016: PaperExperiment = {
  id: 'isic2016-attnvgg',
  title: 'ISIC 2016 + AttnVGG',
  task: 'single-label',
  dataset: 'isic2016',
  preset: PAPER_PRESETS.isic2016,
  howToGetData: [
    'Download the ISIC 2016 challenge, Part 3 (lesion classification) training and test images and ground truth',
    'from the ISIC archive (challenge.isic-archive.com/data, "2016: ISBI challenge") and unpack them as they come:',
    '  <data-root>/ISBI2016_ISIC_Part3_Training_Data/*.jpg   <data-root>/ISBI2016_ISIC_Part3_Training_GroundTruth.csv   (900 images)',
    '  <data-root>/ISBI2016_ISIC_Part3_Test_Data/*.jpg       <data-root>/ISBI2016_ISIC_Part3_Test_GroundTruth.csv       (379 images)',
    'or sorted into class folders, as the authors\' preprocess_data_2016 does:',
    '  <data-root>/Train/{benign,malignant}/*.jpg   <data-root>/Test/{benign,malignant}/*.jpg',
  ].join('\n'),
  async load(root) {
    // The archive's layout: an image folder and a ground-truth CSV per split (label 0/1 or benign/malignant).
    const official = (split: 'Training' | 'Test') => ({ images: join(root, `ISBI2016_ISIC_Part3_${split}_Data`), csv: join(root, `ISBI2016_ISIC_Part3_${split}_GroundTruth.csv`) });
    const [tr, te] = [official('Training'), official('Test')];
    if ([tr.images, tr.csv, te.images, te.csv].every(present)) {
      return { train: await labelCsvDataset(tr.csv, tr.images), test: await labelCsvDataset(te.csv, te.images) };
    }
    for (const split of ['Train', 'Test']) if (!present(join(root, split, 'benign')) || !present(join(root, split, 'malignant'))) return { missing: `${join(root, split, '{benign,malignant}')} (or ${tr.csv} with its image folder)` };
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

