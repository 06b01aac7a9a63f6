/**
 * A saved model folder and an .npz of test images for the `medrobust evaluate` tests: a small MLP trained
 * on the toy single-label data (3 classes, 8×8×1), and `testImages` toy images with their labels.
 */
import * as tf from '@tensorflow/tfjs-core';
import { saveModel } from '../../src/node/modelFiles.js';
import { saveNpz } from '../../src/node/npzFiles.js';
import { buildSmallNet, trainNet } from './smallNet.js';
import { toySingleLabel } from './toyData.js';

export async function saveToyEvaluation(modelDir: string, dataFile: string, testImages: number): Promise<void> {
  const train = toySingleLabel({ n: 48, seed: 1 });
  const test = toySingleLabel({ n: testImages, seed: 2 });
  const net = buildSmallNet({ inputShape: [8, 8, 1], outputs: 3, kind: 'mlp' });
  try {
    trainNet(net, train.images, train.labels, { steps: 80 });
    await saveModel(net, modelDir);
    await saveNpz(dataFile, {
      images: { dtype: 'float32', shape: [testImages, 8, 8, 1], data: Float32Array.from(test.images.dataSync()) },
      labels: { dtype: 'int32', shape: [testImages], data: Int32Array.from(test.labels.dataSync()) },
    });
  } finally {
    net.dispose();
    tf.dispose([train.images, train.labels, test.images, test.labels]);
  }
}
