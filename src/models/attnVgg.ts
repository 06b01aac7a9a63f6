import * as tfl from '@tensorflow/tfjs-layers';
import { assertOneOf } from '../internal/validate.js';
import { assertInputSide, Builder, COMMON_MODEL_KEYS, resolveCommon, scaled } from './common.js';
import { BilinearUpsampling } from './layers.js';
import type { ModelOptions } from './modelOptions.js';
import { entry } from '../internal/scope.js';

type ST = tfl.SymbolicTensor;

/**
 * Options of {@link attnVgg}.
 * @category Models
 */
export interface AttnVggOptions extends ModelOptions {
  /**
   * How the compatibility scores c become attention maps a: `'softmax'` over all positions, with
   * g = Σ a ⊙ l (`normalize_attn=True`), or `'sigmoid'` per position, with g = mean(a ⊙ l)
   * (`normalize_attn=False`). The authors' code differs per experiment: their GAP script attacks the
   * IPMI checkpoint with softmax attention, their PGD script an adversarially trained one with
   * sigmoid attention (both share the same weights layout).
   * @defaultValue 'softmax'
   */
  attention?: 'softmax' | 'sigmoid';
}

/** VGG16-BN's five conv blocks (torchvision `vgg16_bn().features`, the max-pools taken out). */
const VGG16 = [[64, 64], [128, 128], [256, 256, 256], [512, 512, 512], [512, 512, 512]];

/**
 * AttnVGG of IPMI2019-AttnMel (Yan, Kawahara, Hamarneh, IPMI 2019), the paper's ISIC 2016 model
 * (paper.md §3.1): a VGG16-BN backbone split into five conv blocks, each followed by a 2×2
 * max-pool; the global feature g = GAP(pool5); two attention blocks on l₁ = pool3 (up ×4) and
 * l₂ = pool4 (up ×2): c = φ(ReLU(W_l l + up(W_g pool5))), with 1×1 convs W_l, W_g (no bias) and φ
 * (to one channel, with bias), bilinear `up`; then a = softmax(c) over positions and gᵢ = Σ a ⊙ l,
 * or a = sigmoid(c) and gᵢ = mean(a ⊙ l); the classifier `cls` is linear on [g, g₁, g₂]
 * (512 + 256 + 512 features at width 1).
 *
 * The model has three outputs: `[logits [N, classes], a₁ [N, H/8, W/8, 1], a₂ [N, H/16, W/16, 1]]`;
 * wrap it with `selectOutput(model, 0)` for attacks. Layer names follow the IPMI code
 * (`conv_block1.0` conv, `conv_block1.1` batch norm, `attn1.W_l`, `cls`), so the authors' checkpoint
 * maps by name ({@link loadTorchWeights}). `up` is PyTorch's `F.interpolate(align_corners=False)`:
 * bilinear with half-pixel centres, forward and gradient (the gradient needs the ResizeBilinearGrad
 * that `registerWasmGradients` installs). The global feature is the mean over pool5, which is the
 * authors' `AvgPool2d(7)` at 224 px. At width 1 and 2 classes the model has
 * 15,184,964 trainable parameters: 14,723,136 of VGG16-BN's features, 459,266 of the attention
 * blocks and 2,562 of the classifier.
 *
 * @param options - see {@link AttnVggOptions}; input sides must be multiples of 32 (224 in the paper).
 * @returns a new LayersModel with outputs `[logits, a1, a2]`, owned by the caller.
 * @throws {InvalidArgumentError} for a bad option or an input side that is not a multiple of 32.
 *
 * @example
 * ```ts
 * const net = attnVgg({ classes: 2, normalization: PAPER_PRESETS.isic2016.normalization });
 * const [logits, a1, a2] = net.predict(images) as tf.Tensor[];
 * const reduced = attnVgg({ inputShape: [32, 32, 3], width: 0.125, seed: 1 });
 * ```
 * @category Models
 */
export function attnVgg(options: AttnVggOptions = {}): tfl.LayersModel {
  return entry('attnVgg', () => {
    const fn = 'attnVgg';
    const { o, r } = resolveCommon(fn, options, [...COMMON_MODEL_KEYS, 'attention'], { inputShape: [224, 224, 3], classes: 2 });
    const attention = assertOneOf(fn, 'options.attention', o.attention, ['softmax', 'sigmoid'] as const) ?? 'softmax';
    assertInputSide(fn, r, 32, 32);
    const b = new Builder(r);
    const { input, x: x0 } = b.input();
    let x = x0;
    const pools: ST[] = [];
    VGG16.forEach((block, i) => {
      block.forEach((c, j) => {
        const name = `conv_block${i + 1}`;
        x = b.conv(x, `${name}.${3 * j}`, scaled(c, r.width), 3, { useBias: true });
        x = b.relu(b.bn(x, `${name}.${3 * j + 1}`));
      });
      x = b.maxPool(x, 2, 2, `pool${i + 1}`);
      pools.push(x);
    });
    const [, , pool3, pool4, pool5] = pools as [ST, ST, ST, ST, ST];
    const attnFeatures = scaled(256, r.width);
    const block = (name: string, l: ST, up: number): { a: ST; g: ST } => {
      const [, h, w, c] = l.shape as [null, number, number, number];
      const lw = b.conv(l, `${name}.W_l`, attnFeatures, 1);
      let gw = b.conv(pool5, `${name}.W_g`, attnFeatures, 1);
      gw = new BilinearUpsampling({ name: `${name}.up`, factor: up }).apply(gw) as ST;
      const sum = b.relu(tfl.layers.add({ name: `${name}.add` }).apply([lw, gw]) as ST);
      const scores = b.conv(sum, `${name}.phi`, 1, 1, { useBias: true });
      let a: ST;
      let g: ST;
      if (attention === 'softmax') {
        const flat = tfl.layers.reshape({ targetShape: [h * w] }).apply(scores) as ST;
        const soft = tfl.layers.softmax({ axis: -1 }).apply(flat) as ST;
        a = tfl.layers.reshape({ name: `${name}.a`, targetShape: [h, w, 1] }).apply(soft) as ST;
        const aCol = tfl.layers.reshape({ targetShape: [h * w, 1] }).apply(soft) as ST;
        const lFlat = tfl.layers.reshape({ targetShape: [h * w, c] }).apply(l) as ST;
        const dot = tfl.layers.dot({ axes: 1 }).apply([aCol, lFlat]) as ST; // [N, 1, C] = Σ a ⊙ l
        g = tfl.layers.flatten({ name: `${name}.g` }).apply(dot) as ST;
      } else {
        a = tfl.layers.activation({ name: `${name}.a`, activation: 'sigmoid' }).apply(scores) as ST;
        const weighted = tfl.layers.multiply().apply([a, l]) as ST;
        g = tfl.layers.globalAveragePooling2d({ name: `${name}.g` }).apply(weighted) as ST;
      }
      return { a, g };
    };
    const attn1 = block('attn1', pool3, 4);
    const attn2 = block('attn2', pool4, 2);
    const g = tfl.layers.globalAveragePooling2d({ name: 'pool' }).apply(pool5) as ST;
    const features = b.concat([g, attn1.g, attn2.g], 'g_hat');
    const logits = b.dense(features, 'cls', r.classes);
    return b.finish(tfl.model({ inputs: input, outputs: [logits, attn1.a, attn2.a], name: 'attn_vgg' }));
  });
}
