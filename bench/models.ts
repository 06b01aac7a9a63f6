/**
 * The benchmark networks, built identically in bench/torch_bench.py (PyTorch, NCHW).
 * small CNN: 4 conv3x3 (32, 32, 64, 64; same; relu) with a 2×2 max pool after each pair, dense 128, dense 10.
 * ResNet-style: stem conv3x3(32)+BN+relu; three stages of two basic blocks (32; 64 stride 2; 128 stride 2),
 *   convs without bias + BN, 1×1 stride-2 projection shortcuts (conv + BN); global average pool; dense 10.
 * DenseNet-121: Huang et al. 2017 (growth 32, blocks 6-12-24-16, bottleneck 4·k, compression 0.5), 224×224.
 */
import * as tfl from '@tensorflow/tfjs-layers';

type SymbolicTensor = tfl.SymbolicTensor;

export function smallCnn(inputShape: [number, number, number], classes = 10): tfl.LayersModel {
  const conv = (filters: number) => tfl.layers.conv2d({ filters, kernelSize: 3, padding: 'same', activation: 'relu' });
  return tfl.sequential({
    layers: [
      tfl.layers.conv2d({ inputShape, filters: 32, kernelSize: 3, padding: 'same', activation: 'relu' }),
      conv(32), tfl.layers.maxPooling2d({ poolSize: 2 }),
      conv(64), conv(64), tfl.layers.maxPooling2d({ poolSize: 2 }),
      tfl.layers.flatten(),
      tfl.layers.dense({ units: 128, activation: 'relu' }),
      tfl.layers.dense({ units: classes }),
    ],
  });
}

const bn = (x: SymbolicTensor) => tfl.layers.batchNormalization({ epsilon: 1e-5, momentum: 0.9 }).apply(x) as SymbolicTensor;
const relu = (x: SymbolicTensor) => tfl.layers.activation({ activation: 'relu' }).apply(x) as SymbolicTensor;
const conv = (x: SymbolicTensor, filters: number, kernelSize: number, strides = 1) =>
  tfl.layers.conv2d({ filters, kernelSize, strides, padding: 'same', useBias: false }).apply(x) as SymbolicTensor;

export function resnet(inputShape: [number, number, number], classes = 10): tfl.LayersModel {
  const input = tfl.input({ shape: inputShape });
  let x = relu(bn(conv(input, 32, 3)));
  for (const [filters, stride] of [[32, 1], [64, 2], [128, 2]] as const) {
    for (let b = 0; b < 2; b++) {
      const s = b === 0 ? stride : 1;
      let y = relu(bn(conv(x, filters, 3, s)));
      y = bn(conv(y, filters, 3));
      const shortcut = s !== 1 || x.shape[3] !== filters ? bn(conv(x, filters, 1, s)) : x;
      x = relu(tfl.layers.add().apply([y, shortcut]) as SymbolicTensor);
    }
  }
  const pooled = tfl.layers.globalAveragePooling2d({}).apply(x) as SymbolicTensor;
  return tfl.model({ inputs: input, outputs: tfl.layers.dense({ units: classes }).apply(pooled) as SymbolicTensor });
}

export function densenet121(inputShape: [number, number, number], classes = 10): tfl.LayersModel {
  const growth = 32;
  const input = tfl.input({ shape: inputShape });
  let x = relu(bn(conv(input, 64, 7, 2)));
  x = tfl.layers.maxPooling2d({ poolSize: 3, strides: 2, padding: 'same' }).apply(x) as SymbolicTensor;
  const blocks = [6, 12, 24, 16];
  blocks.forEach((layers, i) => {
    for (let l = 0; l < layers; l++) {
      const y = conv(relu(bn(conv(relu(bn(x)), 4 * growth, 1))), growth, 3);
      x = tfl.layers.concatenate().apply([x, y]) as SymbolicTensor;
    }
    if (i < blocks.length - 1) {
      x = conv(relu(bn(x)), Math.floor(x.shape[3]! / 2), 1);
      x = tfl.layers.averagePooling2d({ poolSize: 2, strides: 2 }).apply(x) as SymbolicTensor;
    }
  });
  const pooled = tfl.layers.globalAveragePooling2d({}).apply(relu(bn(x))) as SymbolicTensor;
  return tfl.model({ inputs: input, outputs: tfl.layers.dense({ units: classes }).apply(pooled) as SymbolicTensor });
}
