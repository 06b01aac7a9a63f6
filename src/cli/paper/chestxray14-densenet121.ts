/**
 * ChestX-ray14 + DenseNet-121 (CheXNet; paper.md §2.3, §3.3): 14 findings, multi-label; PGD ε = 10/255,
 * α = 1/255, T = 60 with BCE; ACC at threshold 0.7 (pgdattack.py); GAP m = 15; mean per-class AUROC.
 *   npx tsx examples/paper/chestxray14-densenet121.ts /data/chestxray14 [--preset paper] [--model dir]
 */
import { join } from 'node:path';
import { PAPER_PRESETS, denseNet121 } from '../../index.js';
import { chestXray14 } from '../../node/index.js';
import { present, runPaperExperiment, type PaperExperiment } from './experiment.js';

export const chestX: PaperExperiment = {
  id: 'chestxray14-densenet121',
  title: 'ChestX-ray14 + DenseNet-121',
  task: 'multi-label',
  dataset: 'chestXray14',
  preset: PAPER_PRESETS.chestXray14,
  howToGetData: [
    'Download the NIH ChestX-ray14 images (nihcc.app.box.com/v/ChestXray-NIHCC, images_001..012.tar.gz) into',
    '  <data-root>/images/*.png',
    'and the CheXNet label lists (github.com/arnoweng/CheXNet, ChestX-ray14/labels/{train_val_list,test_list}.txt,',
    'or train_list.txt/test_list.txt with 14 0/1 columns) into',
    '  <data-root>/labels/train_list.txt   <data-root>/labels/test_list.txt',
  ].join('\n'),
  async load(root) {
    for (const p of [join(root, 'images'), join(root, 'labels', 'train_list.txt'), join(root, 'labels', 'test_list.txt')]) if (!present(p)) return { missing: p };
    return {
      train: await chestXray14(join(root, 'labels', 'train_list.txt'), join(root, 'images')),
      test: await chestXray14(join(root, 'labels', 'test_list.txt'), join(root, 'images')),
    };
  },
  build: () => denseNet121({ inputShape: [224, 224, 3], classes: 14, seed: 1 }),
  inputShape: [224, 224, 3],
  logitsOutput: 0,
  pgd: { epsilon: 10, stepSize: 1, steps: 60 },
  gap: { magnitude: 15, epochs: 8, batchSize: 6, maxBatches: Infinity, shuffle: false, testBatchSize: 6, threshold: 0.5 },
  aucVariant: 'mean-per-class',
  threshold: 0.7,
};

