/** A small conv net whose activations outweigh its weights, for memory tests of gradients and training steps. */
import * as tfl from '@tensorflow/tfjs-layers';

/**
 * A chain of `depth` conv → batch norm → ReLU blocks, with a DenseNet-style concatenation every other
 * block (so tensors have several consumers) and a split whose second half is unused (zeros gradient).
 */
export function chainNet(depth: number, width = 8, size = 12): tfl.LayersModel {
  const input = tfl.input({ shape: [size, size, 3] });
  let x: tfl.SymbolicTensor = input;
  for (let i = 0; i < depth; i++) {
    const conv = tfl.layers.conv2d({ filters: width, kernelSize: 3, padding: 'same', useBias: false, kernelInitializer: tfl.initializers.glorotUniform({ seed: 10 + i }) }).apply(x) as tfl.SymbolicTensor;
    const bn = tfl.layers.batchNormalization().apply(conv) as tfl.SymbolicTensor;
    const relu = tfl.layers.reLU().apply(bn) as tfl.SymbolicTensor;
    x = i % 2 === 1 ? (tfl.layers.concatenate().apply([x, relu]) as tfl.SymbolicTensor) : relu;
  }
  const pooled = tfl.layers.globalAveragePooling2d({}).apply(x) as tfl.SymbolicTensor;
  const logits = tfl.layers.dense({ units: 3, kernelInitializer: tfl.initializers.glorotUniform({ seed: 99 }) }).apply(pooled) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: logits });
}

/**
 * Bytes of every layer output of `model` for a batch of `n` (what a tape may save), the largest, and the
 * bytes of the outputs of layers of class `className` (e.g. batch norm, whose output nothing saves).
 */
export function activationBytes(model: tfl.LayersModel, n: number, className = 'BatchNormalization'): { total: number; largest: number; ofClass: number } {
  let total = 0;
  let largest = 0;
  let ofClass = 0;
  for (const layer of model.layers) {
    const shape = layer.outputShape as (number | null)[];
    const bytes = 4 * n * shape.slice(1).reduce<number>((p, d) => p * (d ?? 1), 1);
    total += bytes;
    largest = Math.max(largest, bytes);
    if (layer.getClassName() === className) ofClass += bytes;
  }
  return { total, largest, ofClass };
}
