/**
 * The data of a task: generated sets (deterministic from the config's seed; cheap to regenerate) or,
 * when the config names MedMNIST files, the first `train`/`validation`/`test` images of their
 * train/val/test splits (light reproductions on real data that run on a CPU). @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import type { LabeledImages } from '../../data/batchesFromTensors.js';
import { generateChestXrays } from '../../data/generateChestXrays.js';
import { generateLesions } from '../../data/generateLesions.js';
import { loadMedmnist } from '../../node/npzFiles.js';
import type { DemoTask, ExperimentConfig } from '../config.js';
import type { TaskData } from './context.js';

function generate(task: DemoTask, count: number, size: number, seed: number): LabeledImages {
  return task === 'lesion' ? generateLesions({ count, size, seed }) : generateChestXrays({ count, size, seed });
}

/** The first `count` images of a split (the rest are disposed). */
function firstImages(set: LabeledImages, count: number): LabeledImages {
  const n = Math.min(count, set.images.shape[0]);
  if (n === set.images.shape[0]) return set;
  const images = tf.slice(set.images, [0, 0, 0, 0], [n, -1, -1, -1]);
  const labels = tf.slice(set.labels, [0], [n]);
  tf.dispose([set.images, set.labels]);
  return { ...set, images, labels };
}

export async function makeTaskData(task: DemoTask, config: ExperimentConfig): Promise<TaskData> {
  const { size, train, validation, test } = config.data;
  const file = config.data.medmnist?.[task];
  if (file) {
    const [tr, va, te] = await Promise.all((['train', 'val', 'test'] as const).map((split) => loadMedmnist(file, { split })));
    return { name: task, train: firstImages(tr!, train), validation: firstImages(va!, Math.max(validation, 1)), test: firstImages(te!, test) };
  }
  const base = config.seed + (task === 'lesion' ? 0 : 1000);
  return {
    name: task,
    train: generate(task, train, size, base + 1),
    validation: generate(task, Math.max(validation, 1), size, base + 2),
    test: generate(task, test, size, base + 3),
  };
}

export function disposeTaskData(data: TaskData): void {
  tf.dispose([data.train.images, data.train.labels, data.validation.images, data.validation.labels, data.test.images, data.test.labels]);
}
