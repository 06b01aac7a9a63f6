/**
 * Messidor DR grading + Inception-v3 (paper.md §2.2, §3.2): 4 grades, 299×299, CIFAR normalisation
 * constants as in the authors' code; PGD ε = 2/255, α = 1/255, T = 1; GAP m = 3; micro sigmoid AUC.
 *   npx tsx examples/paper/messidor-inceptionv3.ts /data/messidor [--preset paper] [--model dir]
 */
import { join } from 'node:path';
import { PAPER_PRESETS, inceptionV3 } from '../../index.js';
import { imageFolder } from '../../node/index.js';
import { present, runPaperExperiment, type PaperExperiment } from './experiment.js';

export const messidor: PaperExperiment = {
  id: 'messidor-inceptionv3',
  title: 'Messidor + Inception-v3',
  task: 'single-label',
  dataset: 'messidor',
  preset: PAPER_PRESETS.messidor,
  howToGetData: [
    'Request the Messidor data set (1,200 fundus images with retinopathy grades R0–R3) from ADCIS',
    '(www.adcis.net/en/third-party/messidor/), then sort the images by grade into class folders:',
    '  <data-root>/train/{0,1,2,3}/*.tif    <data-root>/test/{0,1,2,3}/*.tif',
    '(the authors\' split sizes are unknown; any patient-disjoint split will do).',
  ].join('\n'),
  async load(root) {
    for (const split of ['train', 'test']) for (const g of ['0', '1', '2', '3']) if (!present(join(root, split, g))) return { missing: join(root, split, g) };
    return { train: await imageFolder(join(root, 'train')), test: await imageFolder(join(root, 'test')) };
  },
  build: () => inceptionV3({ inputShape: [299, 299, 3], classes: 4, seed: 1 }),
  inputShape: [299, 299, 3],
  logitsOutput: 0,
  pgd: { epsilon: 2, stepSize: 1, steps: 1 },
  gap: { magnitude: 3, epochs: 10, batchSize: 9, maxBatches: 101, augment: true, testBatchSize: 8 },
  aucVariant: 'micro-sigmoid',
  threshold: 0.5,
};

