import * as tfl from '@tensorflow/tfjs-layers';
import { InvalidArgumentError } from '../errors.js';
import { describeValue } from '../internal/validate.js';
import { assertInputSide, Builder, COMMON_MODEL_KEYS, resolveCommon, scaled } from './common.js';
import type { ModelOptions } from './modelOptions.js';
import { entry } from '../internal/scope.js';

/**
 * Options of {@link smallResNet}.
 * @category Models
 */
export interface SmallResNetOptions extends ModelOptions {
  /**
   * Channels of each stage; every stage after the first halves the resolution.
   * @defaultValue [32, 64, 128]
   */
  stages?: readonly number[];
  /**
   * Basic blocks per stage.
   * @defaultValue 2
   */
  blocksPerStage?: number;
}

/**
 * A small ResNet (He et al. 2016, basic blocks): stem conv3×3 + BN + ReLU, then stages of basic
 * blocks (conv3×3–BN–ReLU–conv3×3–BN, identity or 1×1-stride-2 projection shortcut, ReLU after the
 * sum), global average pooling and a dense layer (the ResNet-style net timed in backend-notes.md).
 *
 * @param options - see {@link SmallResNetOptions}; `classes` is required; the input side must be
 *   ≥ 2^(stages − 1).
 * @returns a new LayersModel `[N, H, W, C] → logits [N, classes]`, owned by the caller.
 * @throws {InvalidArgumentError} for a missing or bad option.
 *
 * @example
 * ```ts
 * const net = smallResNet({ inputShape: [32, 32, 3], classes: 8, width: 0.5, seed: 1 });
 * ```
 * @category Models
 */
export function smallResNet(options: SmallResNetOptions): tfl.LayersModel {
  return entry('smallResNet', () => {
    const fn = 'smallResNet';
    const { o, r } = resolveCommon(fn, options, [...COMMON_MODEL_KEYS, 'stages', 'blocksPerStage'], { inputShape: [28, 28, 3] });
    const stages = (o.stages ?? [32, 64, 128]) as number[];
    if (!Array.isArray(stages) || stages.length === 0 || stages.some((c) => !Number.isInteger(c) || c < 1)) {
      throw new InvalidArgumentError(fn, 'options.stages', 'a non-empty array of positive integers', describeValue(o.stages));
    }
    const blocks = o.blocksPerStage ?? 2;
    if (!Number.isInteger(blocks) || (blocks as number) < 1) throw new InvalidArgumentError(fn, 'options.blocksPerStage', 'an integer >= 1', describeValue(blocks));
    assertInputSide(fn, r, 2 ** (stages.length - 1));
    const b = new Builder(r);
    const { input, x: x0 } = b.input();
    let channels = scaled(stages[0]!, r.width);
    let x = b.relu(b.bn(b.conv(x0, 'conv1', channels, 3), 'bn1'));
    stages.forEach((c, s) => {
      const out = scaled(c, r.width);
      for (let k = 0; k < (blocks as number); k++) {
        const name = `layer${s + 1}.${k}`;
        const stride = s > 0 && k === 0 ? 2 : 1;
        let y = b.relu(b.bn(b.conv(x, `${name}.conv1`, out, 3, { strides: stride }), `${name}.bn1`));
        y = b.bn(b.conv(y, `${name}.conv2`, out, 3), `${name}.bn2`);
        let shortcut = x;
        if (stride !== 1 || out !== channels) {
          shortcut = b.bn(b.conv(x, `${name}.downsample.0`, out, 1, { strides: stride }), `${name}.downsample.1`);
        }
        x = b.relu(tfl.layers.add({ name: `${name}.add` }).apply([y, shortcut]) as tfl.SymbolicTensor);
        channels = out;
      }
    });
    x = tfl.layers.globalAveragePooling2d({ name: 'avgpool' }).apply(x) as tfl.SymbolicTensor;
    const logits = b.dense(x, 'fc', r.classes);
    return b.finish(tfl.model({ inputs: input, outputs: logits, name: 'small_resnet' }));
  });
}
