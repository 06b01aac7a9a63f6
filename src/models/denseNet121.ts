import * as tfl from '@tensorflow/tfjs-layers';
import { InvalidArgumentError } from '../errors.js';
import { describeValue } from '../internal/validate.js';
import { assertInputSide, Builder, COMMON_MODEL_KEYS, resolveCommon, scaled } from './common.js';
import type { ModelOptions } from './modelOptions.js';
import { entry } from '../internal/scope.js';

/**
 * Options of {@link denseNet121}.
 * @category Models
 */
export interface DenseNet121Options extends ModelOptions {
  /**
   * Dense layers per block; [6, 12, 24, 16] is DenseNet-121 (fewer, e.g. [2, 2, 2, 2], for a
   * reduced variant).
   * @defaultValue [6, 12, 24, 16]
   */
  blocks?: readonly number[];
}

/**
 * DenseNet-121 (Huang et al., CVPR 2017) as CheXNet uses it (paper.md §3.3): growth rate 32,
 * bottleneck 4·growth, compression 0.5, 64 stem features, blocks [6, 12, 24, 16], then a linear
 * head. CheXNet's sigmoid is not in the model: it returns logits, and `task: 'multi-label'` applies
 * the sigmoid in the losses and metrics. Layer names and padding follow torchvision's
 * `densenet121` (`features.denseblock1.denselayer1.conv1`, explicit zero padding, no conv bias),
 * so its weights can be mapped one to one. At width 1 and 1000 classes the model has 7,978,856
 * trainable parameters (torchvision's count) plus 83,648 batch-norm moving statistics.
 *
 * @param options - see {@link DenseNet121Options}; input side ≥ 32 (224 in the paper).
 * @returns a new LayersModel `[N, H, W, C] → logits [N, classes]`, owned by the caller.
 * @throws {InvalidArgumentError} for a bad option or an input smaller than 32×32.
 *
 * @example
 * ```ts
 * const chexnet = denseNet121({ classes: 14, normalization: PAPER_PRESETS.chestXray14.normalization });
 * const reduced = denseNet121({ inputShape: [32, 32, 3], classes: 8, width: 0.125, blocks: [2, 2, 2, 2], seed: 1 });
 * ```
 * @category Models
 */
export function denseNet121(options: DenseNet121Options = {}): tfl.LayersModel {
  return entry('denseNet121', () => {
    const fn = 'denseNet121';
    const { o, r } = resolveCommon(fn, options, [...COMMON_MODEL_KEYS, 'blocks'], { inputShape: [224, 224, 3], classes: 14 });
    const blocks = (o.blocks ?? [6, 12, 24, 16]) as number[];
    if (!Array.isArray(blocks) || blocks.length === 0 || blocks.some((c) => !Number.isInteger(c) || c < 1)) {
      throw new InvalidArgumentError(fn, 'options.blocks', 'a non-empty array of positive integers', describeValue(o.blocks));
    }
    assertInputSide(fn, r, 2 ** (blocks.length + 1));
    const growth = scaled(32, r.width);
    const b = new Builder(r);
    const { input, x: x0 } = b.input();
    let features = scaled(64, r.width);
    let x = b.conv(b.pad(x0, 3), 'features.conv0', features, 7, { strides: 2, padding: 'valid' });
    x = b.relu(b.bn(x, 'features.norm0'), 'features.relu0');
    x = b.maxPool(b.pad(x, 1), 3, 2, 'features.pool0');
    blocks.forEach((layers, i) => {
      for (let j = 0; j < layers; j++) {
        const name = `features.denseblock${i + 1}.denselayer${j + 1}`;
        let y = b.relu(b.bn(x, `${name}.norm1`));
        y = b.conv(y, `${name}.conv1`, 4 * growth, 1);
        y = b.relu(b.bn(y, `${name}.norm2`));
        y = b.conv(y, `${name}.conv2`, growth, 3);
        x = b.concat([x, y], `${name}.concat`);
        features += growth;
      }
      if (i < blocks.length - 1) {
        const name = `features.transition${i + 1}`;
        features = Math.floor(features / 2);
        x = b.conv(b.relu(b.bn(x, `${name}.norm`)), `${name}.conv`, features, 1);
        x = b.avgPool(x, 2, 2);
      }
    });
    x = b.relu(b.bn(x, 'features.norm5'));
    x = tfl.layers.globalAveragePooling2d({ name: 'avgpool' }).apply(x) as tfl.SymbolicTensor;
    const logits = b.dense(x, 'classifier', r.classes);
    return b.finish(tfl.model({ inputs: input, outputs: logits, name: 'densenet121' }));
  });
}
