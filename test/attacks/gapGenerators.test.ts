import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { gapResnet, gapUnet } from '../../src/attacks/gapGenerators.js';
import { GapDropout, GapReflectionPad2D } from '../../src/attacks/gapLayers.js';
import { InvalidArgumentError } from '../../src/errors.js';
import { BACKENDS, useTestBackend } from '../helpers/backends.js';
import { expectNoLeak } from '../helpers/expectNoLeak.js';

const trainable = (m: tfl.LayersModel): number => m.trainableWeights.reduce((s, w) => s + w.shape.reduce((a: number, b) => a * (b ?? 1), 1), 0);
const transposeKernels = (m: tfl.LayersModel): string[] =>
  m.layers.filter((l) => l.getClassName() === 'Conv2DTranspose').map((l) => (l.getConfig().kernelSize as number[]).join('x'));

describe('gap generators: architecture', () => {
  beforeAll(() => useTestBackend('cpu')); // the initialisers make tensors

  // Trainable parameter counts of the authors' generators in PyTorch 1.13 (test/parity/gap_port.py: 100,755 and
  // 110,763 at ngf 4; 25,573,635 and 28,083,843 at ngf 64), and of the same with a batch norm per use (+60·ngf).
  it.each([
    ['224 (ISIC / ChestX-ray)', { inputShape: [224, 224, 3], ngf: 4 }, 100755, ['3x3', '4x4', '4x4', '4x4', '4x4', '4x4']],
    ['224, a batch norm per use', { inputShape: [224, 224, 3], ngf: 4, sharedNorms: false }, 100755 + 60 * 4, ['3x3', '4x4', '4x4', '4x4', '4x4', '4x4']],
    ['299 (Messidor, SELU)', { inputShape: [299, 299, 3], ngf: 4, preset: 'messidor' }, 110763, ['3x3', '4x4', '5x5', '4x4', '5x5', '5x5']],
    ['8 px', { inputShape: [8, 8, 1], ngf: 4, preset: 'small' }, 1017, ['4x4', '4x4']],
    ['28 px', { inputShape: [28, 28, 1], preset: 'small' }, 15905, ['3x3', '4x4', '4x4']],
  ] as const)('U-Net %s restores the input size with the paper\'s kernels and matches PyTorch\'s parameter count', (_name, options, params, kernels) => {
    const g = gapUnet(options as never);
    expect(g.outputs[0]!.shape).toEqual([null, ...options.inputShape]);
    expect(transposeKernels(g)).toEqual(kernels);
    expect(trainable(g)).toBe(params);
    g.dispose();
  });

  it('ResNet generator matches PyTorch\'s parameter count', () => {
    const g = gapResnet({ inputShape: [32, 32, 3], ngf: 8, blocks: 2 });
    expect(g.outputs[0]!.shape).toEqual([null, 32, 32, 3]);
    expect(trainable(g)).toBe(51155);
    g.dispose();
  });

  it('puts dropout on the first decoder stage only by default', () => {
    const one = gapUnet({ inputShape: [64, 64, 1], preset: 'small', ngf: 2 });
    const three = gapUnet({ inputShape: [64, 64, 1], preset: 'small', ngf: 2, dropoutStages: 3 });
    const none = gapUnet({ inputShape: [64, 64, 1], preset: 'small', ngf: 2, dropout: 0 });
    expect(one.layers.filter((l) => l instanceof GapDropout)).toHaveLength(1);
    expect(three.layers.filter((l) => l instanceof GapDropout)).toHaveLength(3);
    expect(none.layers.filter((l) => l instanceof GapDropout)).toHaveLength(0);
    [one, three, none].forEach((g) => g.dispose());
  });

  describe('rejects bad input', () => {
    it('throws typed errors', () => {
      expect(() => gapUnet({ inputShape: [8, 8] } as never)).toThrow(/gapUnet: options.inputShape must be \[H, W, C\]/);
      expect(() => gapUnet({ inputShape: [8, 8, 1], depth: 5 })).toThrow(/options.depth must be at most 4 for a 8×8 image/);
      expect(() => gapUnet({ inputShape: [8, 8, 1], ngf: 0 })).toThrow(InvalidArgumentError);
      expect(() => gapUnet({ inputShape: [8, 8, 1], dropout: 1 })).toThrow(/options.dropout/);
      expect(() => gapUnet({ inputShape: [8, 8, 1], preset: 'big' } as never)).toThrow(/options.preset must be one of 'isic', 'messidor', 'small'/);
      expect(() => gapUnet({ inputShape: [8, 8, 1], ngF: 4 } as never)).toThrow(/did you mean 'ngf'/);
      expect(() => gapResnet({ inputShape: [30, 30, 3] })).toThrow(/gapResnet: options.inputShape must be H and W multiples of 4/);
      expect(() => gapResnet({ inputShape: [32, 32, 3], padding: 'edge' } as never)).toThrow(/options.padding/);
    });
  });
});

describe.each(BACKENDS)('gap generators on %s', (backend) => {
  beforeAll(() => useTestBackend(backend));

  it('outputs tanh values in [−1, 1] of the input shape, for both generators', () => {
    for (const g of [gapUnet({ inputShape: [28, 28, 1], preset: 'small', ngf: 2 }), gapResnet({ inputShape: [16, 16, 2], ngf: 2, blocks: 1 })]) {
      const shape = g.inputs[0]!.shape.slice(1) as number[];
      const x = tf.randomUniform([2, ...shape], 0, 1, 'float32', 1);
      const y = g.apply(x, { training: false }) as tf.Tensor;
      expect(y.shape).toEqual([2, ...shape]);
      const v = y.dataSync();
      expect(Math.max(...v)).toBeLessThanOrEqual(1);
      expect(Math.min(...v)).toBeGreaterThanOrEqual(-1);
      expect(Math.max(...v) - Math.min(...v)).toBeGreaterThan(0);
      tf.dispose([x, y]);
      g.dispose();
    }
  });

  it('initialises from its seed: same seed, same weights; another seed, others', () => {
    const a = gapUnet({ inputShape: [8, 8, 1], preset: 'small', ngf: 2, seed: 4 });
    const b = gapUnet({ inputShape: [8, 8, 1], preset: 'small', ngf: 2, seed: 4 });
    const c = gapUnet({ inputShape: [8, 8, 1], preset: 'small', ngf: 2, seed: 5 });
    const values = (m: tfl.LayersModel): number[][] => m.getWeights().map((w) => Array.from(w.dataSync()));
    expect(values(a)).toEqual(values(b));
    expect(values(a)).not.toEqual(values(c));
    [a, b, c].forEach((g) => g.dispose());
  });

  it('reflection padding mirrors without repeating the edge (PyTorch ReflectionPad2d)', () => {
    const pad = new GapReflectionPad2D({ padding: 2 });
    const x = tf.tensor4d([1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 3, 3, 1]);
    const y = pad.apply(x) as tf.Tensor;
    expect(y.shape).toEqual([1, 7, 7, 1]);
    expect(Array.from(y.dataSync()).slice(0, 7)).toEqual([9, 8, 7, 8, 9, 8, 7]);
    expect(Array.from(y.dataSync()).slice(14, 21)).toEqual([3, 2, 1, 2, 3, 2, 1]);
    tf.dispose([x, y]);
  });

  it('draws dropout masks from the seed source in training and none in inference', () => {
    const layer = new GapDropout({ rate: 0.5 });
    const x = tf.ones([1, 64]);
    const before = tf.memory().numTensors;
    let next = 10;
    layer.seedSource = () => next;
    const run = (training: boolean): Float32Array => tf.tidy(() => (layer.apply(x, { training }) as tf.Tensor).dataSync() as Float32Array);
    const a = run(true);
    const b = run(true);
    next = 11;
    const c = run(true);
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(Array.from(a)).not.toEqual(Array.from(c));
    expect(new Set(a)).toEqual(new Set([0, 2])); // inverted dropout keeps the expectation
    expect(Array.from(run(false))).toEqual(new Array(64).fill(1));
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });

  // tfjs-layers' model.dispose() releases one reference per layer, and a layer applied k times holds k: the
  // authors' U-Nets share norm2, norm4 (2 uses) and norm8 (4 uses) at 224/299 px, whose 12 weights stayed
  // behind after every paper-preset GAP run (issue 13).
  it.each([
    ['isic', [224, 224, 3]], ['messidor', [299, 299, 3]], ['isic', [64, 64, 1]],
  ] as const)('dispose() frees every weight of the %s U-Net at %j, the shared batch norms included', (preset, inputShape) => {
    const before = tf.memory().numTensors;
    const g = gapUnet({ inputShape, preset, ngf: 2 });
    const shared = g.layers.filter((l) => l.inboundNodes.length > 1);
    expect(shared.length).toBeGreaterThan(0);
    const made = tf.memory().numTensors - before;
    expect(g.dispose()).toEqual({ refCountAfterDispose: 0, numDisposedVariables: made });
    expect(tf.memory().numTensors).toBe(before);
  });

  it('a shared norm another model also uses keeps its weights until that model is disposed too', () => {
    const before = tf.memory().numTensors;
    const g = gapUnet({ inputShape: [64, 64, 1], preset: 'isic', ngf: 2 });
    const norm = g.getLayer('norm2');
    const input = tfl.input({ shape: norm.outputShape.slice(1) as number[] });
    const other = tfl.model({ inputs: input, outputs: norm.apply(input) as tfl.SymbolicTensor });
    g.dispose();
    expect(tf.memory().numTensors - before).toBe(norm.weights.length);
    other.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('does not leak', async () => {
    await expectNoLeak(() => {
      const g = gapUnet({ inputShape: [8, 8, 1], preset: 'small', ngf: 2 });
      const x = tf.zeros([1, 8, 8, 1]);
      tf.tidy(() => { g.apply(x, { training: true }); });
      x.dispose();
      g.dispose();
    });
  });
});
