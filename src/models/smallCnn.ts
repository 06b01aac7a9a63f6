import * as tfl from '@tensorflow/tfjs-layers';
import { assertInputSide, Builder, COMMON_MODEL_KEYS, resolveCommon, scaled } from './common.js';
import type { ModelOptions } from './modelOptions.js';
import { entry } from '../internal/scope.js';

/**
 * Options of {@link smallCnn}.
 * @category Models
 */
export type SmallCnnOptions = ModelOptions;

/**
 * A small VGG-style CNN for the demo data and fast tests: conv3×3(32)–conv3×3(32)–maxpool–
 * conv3×3(64)–conv3×3(64)–maxpool–dense(128)–dense(classes), ReLU, 'same' padding (the net timed in
 * backend-notes.md). On the generated 28×28 sets it reaches > 90% clean accuracy in a few epochs.
 *
 * @param options - see {@link SmallCnnOptions}; `classes` is required; the input side must be ≥ 4.
 * @returns a new LayersModel `[N, H, W, C] → logits [N, classes]`, owned by the caller (dispose it).
 * @throws {InvalidArgumentError} for a missing or bad option.
 *
 * @example
 * ```ts
 * const net = smallCnn({ inputShape: [28, 28, 3], classes: 2, seed: 1 });
 * const logits = net.predict(images) as tf.Tensor2D;
 * ```
 * @category Models
 */
export function smallCnn(options: SmallCnnOptions): tfl.LayersModel {
  return entry('smallCnn', () => {
    const { r } = resolveCommon('smallCnn', options, COMMON_MODEL_KEYS, { inputShape: [28, 28, 3] });
    assertInputSide('smallCnn', r, 4);
    const b = new Builder(r);
    const { input, x: x0 } = b.input();
    let x = x0;
    const w = (c: number): number => scaled(c, r.width);
    x = b.conv(x, 'conv1', w(32), 3, { useBias: true, activation: 'relu' });
    x = b.conv(x, 'conv2', w(32), 3, { useBias: true, activation: 'relu' });
    x = b.maxPool(x, 2, 2, 'pool1');
    x = b.conv(x, 'conv3', w(64), 3, { useBias: true, activation: 'relu' });
    x = b.conv(x, 'conv4', w(64), 3, { useBias: true, activation: 'relu' });
    x = b.maxPool(x, 2, 2, 'pool2');
    x = tfl.layers.flatten({ name: 'flatten' }).apply(x) as tfl.SymbolicTensor;
    x = b.dense(x, 'fc1', w(128), 'relu');
    const logits = b.dense(x, 'logits', r.classes);
    return b.finish(tfl.model({ inputs: input, outputs: logits, name: 'small_cnn' }));
  });
}
