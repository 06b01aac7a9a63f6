/** Generated data sets of a task (deterministic from the config's seed; cheap to regenerate). @internal */
import * as tf from '@tensorflow/tfjs-core';
import { generateChestXrays } from '../../data/generateChestXrays.js';
import { generateLesions } from '../../data/generateLesions.js';
import type { LabeledImages } from '../../data/batchesFromTensors.js';
import type { ExperimentConfig, DemoTask } from '../config.js';
import type { TaskData } from './context.js';

function generate(task: DemoTask, count: number, size: number, seed: number): LabeledImages {
  return task === 'lesion' ? generateLesions({ count, size, seed }) : generateChestXrays({ count, size, seed });
}

export function makeTaskData(task: DemoTask, config: ExperimentConfig): TaskData {
  const { size, train, validation, test } = config.data;
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
