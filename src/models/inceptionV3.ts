import * as tfl from '@tensorflow/tfjs-layers';
import { InvalidArgumentError } from '../errors.js';
import { assertBoolean } from '../internal/validate.js';
import { assertInputSide, Builder, COMMON_MODEL_KEYS, resolveCommon, scaled } from './common.js';
import type { ModelOptions } from './modelOptions.js';
import { entry } from '../internal/scope.js';

type ST = tfl.SymbolicTensor;

/**
 * Options of {@link inceptionV3}.
 * @category Models
 */
export interface InceptionV3Options extends ModelOptions {
  /**
   * Add torchvision's auxiliary classifier on `Mixed_6e`; the model then returns
   * `[logits, auxLogits]` (wrap it with `selectOutput(model, 0)` for attacks). The paper's network
   * has it but never uses it (paper.md §3.2). Needs an input of at least 299×299 at width 1's
   * geometry (the aux head's 5×5 valid convolution).
   * @defaultValue false
   */
  auxLogits?: boolean;
}

/**
 * Inception-v3 (Szegedy et al., CVPR 2016) as torchvision builds it, the paper's Messidor model
 * (paper.md §3.2): BasicConv2d = conv (no bias) + batch norm (ε = 0.001) + ReLU; blocks
 * Mixed_5b…Mixed_7c; global average pooling; a linear head `fc`. Average pools inside the blocks
 * count their zero padding (PyTorch's default). Layer names follow torchvision
 * (`Mixed_5b.branch1x1.conv`, `.bn`). Batch norm keeps its scale (gamma), unlike Keras's
 * InceptionV3: at width 1 and 1000 classes the model has 23,834,568 trainable parameters without
 * the aux head and 27,161,264 with it (torchvision's counts; Keras's InceptionV3 has 23,817,352
 * trainable, the 17,216 gammas fewer). Dropout before `fc` is omitted (inference is unchanged).
 *
 * @param options - see {@link InceptionV3Options}; input side ≥ 75 (299 in the paper).
 * @returns a new LayersModel `[N, H, W, C] → logits [N, classes]` (or `[logits, auxLogits]`),
 *   owned by the caller.
 * @throws {InvalidArgumentError} for a bad option, an input below 75×75, or `auxLogits` with an
 *   input too small for the aux head.
 *
 * @example
 * ```ts
 * const messidor = inceptionV3({ classes: 4 });
 * const reduced = inceptionV3({ inputShape: [75, 75, 3], classes: 4, width: 0.0625, seed: 1 });
 * ```
 * @category Models
 */
export function inceptionV3(options: InceptionV3Options = {}): tfl.LayersModel {
  return entry('inceptionV3', () => {
    const fn = 'inceptionV3';
    const { o, r } = resolveCommon(fn, options, [...COMMON_MODEL_KEYS, 'auxLogits'], { inputShape: [299, 299, 3], classes: 4 });
    const aux = assertBoolean(fn, 'options.auxLogits', o.auxLogits) ?? false;
    assertInputSide(fn, r, 75);
    const b = new Builder(r);
    const w = (c: number): number => scaled(c, r.width);
    const basic = (x: ST, name: string, filters: number, kernel: number | [number, number], strides = 1, padding: 'same' | 'valid' = 'same'): ST =>
      b.relu(b.bn(b.conv(x, `${name}.conv`, w(filters), kernel, { strides, padding }), `${name}.bn`, 0.001));
    const poolBranch = (x: ST, name: string, filters: number): ST => basic(b.avgPool(x, 3, 1, 1), name, filters, 1);

    const blockA = (x: ST, name: string, poolFeatures: number): ST => b.concat([
      basic(x, `${name}.branch1x1`, 64, 1),
      basic(basic(x, `${name}.branch5x5_1`, 48, 1), `${name}.branch5x5_2`, 64, 5),
      basic(basic(basic(x, `${name}.branch3x3dbl_1`, 64, 1), `${name}.branch3x3dbl_2`, 96, 3), `${name}.branch3x3dbl_3`, 96, 3),
      poolBranch(x, `${name}.branch_pool`, poolFeatures),
    ], name);
    const blockB = (x: ST, name: string): ST => b.concat([
      basic(x, `${name}.branch3x3`, 384, 3, 2, 'valid'),
      basic(basic(basic(x, `${name}.branch3x3dbl_1`, 64, 1), `${name}.branch3x3dbl_2`, 96, 3), `${name}.branch3x3dbl_3`, 96, 3, 2, 'valid'),
      b.maxPool(x, 3, 2),
    ], name);
    const blockC = (x: ST, name: string, c7: number): ST => {
      let s = basic(x, `${name}.branch7x7_1`, c7, 1);
      s = basic(s, `${name}.branch7x7_2`, c7, [1, 7]);
      s = basic(s, `${name}.branch7x7_3`, 192, [7, 1]);
      let d = basic(x, `${name}.branch7x7dbl_1`, c7, 1);
      d = basic(d, `${name}.branch7x7dbl_2`, c7, [7, 1]);
      d = basic(d, `${name}.branch7x7dbl_3`, c7, [1, 7]);
      d = basic(d, `${name}.branch7x7dbl_4`, c7, [7, 1]);
      d = basic(d, `${name}.branch7x7dbl_5`, 192, [1, 7]);
      return b.concat([basic(x, `${name}.branch1x1`, 192, 1), s, d, poolBranch(x, `${name}.branch_pool`, 192)], name);
    };
    const blockD = (x: ST, name: string): ST => {
      const t = basic(basic(x, `${name}.branch3x3_1`, 192, 1), `${name}.branch3x3_2`, 320, 3, 2, 'valid');
      let s = basic(x, `${name}.branch7x7x3_1`, 192, 1);
      s = basic(s, `${name}.branch7x7x3_2`, 192, [1, 7]);
      s = basic(s, `${name}.branch7x7x3_3`, 192, [7, 1]);
      s = basic(s, `${name}.branch7x7x3_4`, 192, 3, 2, 'valid');
      return b.concat([t, s, b.maxPool(x, 3, 2)], name);
    };
    const blockE = (x: ST, name: string): ST => {
      const t = basic(x, `${name}.branch3x3_1`, 384, 1);
      const t2 = b.concat([basic(t, `${name}.branch3x3_2a`, 384, [1, 3]), basic(t, `${name}.branch3x3_2b`, 384, [3, 1])]);
      let d = basic(x, `${name}.branch3x3dbl_1`, 448, 1);
      d = basic(d, `${name}.branch3x3dbl_2`, 384, 3);
      const d2 = b.concat([basic(d, `${name}.branch3x3dbl_3a`, 384, [1, 3]), basic(d, `${name}.branch3x3dbl_3b`, 384, [3, 1])]);
      return b.concat([basic(x, `${name}.branch1x1`, 320, 1), t2, d2, poolBranch(x, `${name}.branch_pool`, 192)], name);
    };

    const { input, x: x0 } = b.input();
    let x = basic(x0, 'Conv2d_1a_3x3', 32, 3, 2, 'valid');
    x = basic(x, 'Conv2d_2a_3x3', 32, 3, 1, 'valid');
    x = basic(x, 'Conv2d_2b_3x3', 64, 3);
    x = b.maxPool(x, 3, 2, 'maxpool1');
    x = basic(x, 'Conv2d_3b_1x1', 80, 1);
    x = basic(x, 'Conv2d_4a_3x3', 192, 3, 1, 'valid');
    x = b.maxPool(x, 3, 2, 'maxpool2');
    x = blockA(x, 'Mixed_5b', 32);
    x = blockA(x, 'Mixed_5c', 64);
    x = blockA(x, 'Mixed_5d', 64);
    x = blockB(x, 'Mixed_6a');
    x = blockC(x, 'Mixed_6b', 128);
    x = blockC(x, 'Mixed_6c', 160);
    x = blockC(x, 'Mixed_6d', 160);
    x = blockC(x, 'Mixed_6e', 192);
    let auxOut: ST | undefined;
    if (aux) {
      const side = Math.min(x.shape[1] ?? 0, x.shape[2] ?? 0);
      if (Math.floor((side - 5) / 3) + 1 < 5) {
        throw new InvalidArgumentError(fn, 'options.inputShape', 'at least 299×299 when options.auxLogits is true (the aux head needs a 17×17 Mixed_6e map)', `[${r.inputShape.join(',')}]`);
      }
      let a = b.avgPool(x, 5, 3);
      a = basic(a, 'AuxLogits.conv0', 128, 1);
      a = basic(a, 'AuxLogits.conv1', 768, 5, 1, 'valid');
      a = tfl.layers.globalAveragePooling2d({ name: 'AuxLogits.avgpool' }).apply(a) as ST;
      auxOut = b.dense(a, 'AuxLogits.fc', r.classes);
    }
    x = blockD(x, 'Mixed_7a');
    x = blockE(x, 'Mixed_7b');
    x = blockE(x, 'Mixed_7c');
    x = tfl.layers.globalAveragePooling2d({ name: 'avgpool' }).apply(x) as ST;
    const logits = b.dense(x, 'fc', r.classes);
    return b.finish(tfl.model({ inputs: input, outputs: auxOut ? [logits, auxOut] : logits, name: 'inception_v3' }));
  });
}
