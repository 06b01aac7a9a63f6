/**
 * loadTorchWeights and torchModuleOf without PyTorch: the renames of the paper's checkpoint wrappers, the
 * layout conversions on hand-made tensors, and the errors. (test/parity/weightLayouts.test.ts loads real
 * PyTorch-written checkpoints and compares logits.)
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { FormatError, InvalidArgumentError } from '../../src/errors.js';
import { attnVgg } from '../../src/models/attnVgg.js';
import { loadTorchWeights, torchModuleOf, type TorchTensor } from '../../src/models/torchWeights.js';
import { BACKENDS, useTestBackend } from '../helpers/backends.js';
import { expectNoLeak } from '../helpers/expectNoLeak.js';

const t = (shape: number[], start = 0): TorchTensor => ({ shape, data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => start + i) });

/** conv 'c' (2→3, 2×2) → bn 'b' → dense 'fc' (3 → 2), with a frozen 'normalize' layer first. */
function tiny(): tfl.LayersModel {
  const input = tfl.input({ shape: [4, 4, 2] });
  let x = tfl.layers.dense({ name: 'normalize', units: 2, trainable: false }).apply(input) as tfl.SymbolicTensor;
  x = tfl.layers.conv2d({ name: 'c', filters: 3, kernelSize: 2, padding: 'same' }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.batchNormalization({ name: 'b' }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.globalAveragePooling2d({}).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.dense({ name: 'fc', units: 2 }).apply(x) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: x });
}

const TINY_STATE = {
  'module.c.weight': t([3, 2, 2, 2]), 'module.c.bias': t([3], 100),
  'module.b.weight': t([3], 10), 'module.b.bias': t([3], 20), 'module.b.running_mean': t([3], 30), 'module.b.running_var': t([3], 40),
  'module.b.num_batches_tracked': { shape: [], data: new BigInt64Array([5n]) },
  'module.fc.0.weight': t([2, 3]), 'module.fc.0.bias': t([2], 50),
};

describe('torchModuleOf', () => {
  it('peels off the wrappers of the paper\'s checkpoints', () => {
    const dense = new Set(['features.denseblock1.denselayer1.norm1', 'features.denseblock1.denselayer12.conv2', 'classifier', 'features.norm0']);
    expect(torchModuleOf('module.densenet121.features.denseblock1.denselayer1.norm.1.weight', dense)).toEqual({ module: 'features.denseblock1.denselayer1.norm1', param: 'weight' });
    expect(torchModuleOf('module.densenet121.features.denseblock1.denselayer12.conv.2.weight', dense)).toEqual({ module: 'features.denseblock1.denselayer12.conv2', param: 'weight' });
    expect(torchModuleOf('module.densenet121.classifier.0.bias', dense)).toEqual({ module: 'classifier', param: 'bias' });
    expect(torchModuleOf('features.norm0.running_var', dense)).toEqual({ module: 'features.norm0', param: 'running_var' });
    const inception = new Set(['Conv2d_1a_3x3.conv', 'AuxLogits.fc', 'fc']);
    expect(torchModuleOf('module.model.AuxLogits.fc.weight', inception)).toEqual({ module: 'AuxLogits.fc', param: 'weight' });
    expect(torchModuleOf('module.model.Conv2d_1a_3x3.conv.weight', inception)).toEqual({ module: 'Conv2d_1a_3x3.conv', param: 'weight' });
    // a layer whose own name starts like a wrapper stays as it is
    expect(torchModuleOf('model.x.weight', new Set(['model.x']))).toEqual({ module: 'model.x', param: 'weight' });
  });
});

describe.each(BACKENDS)('loadTorchWeights (%s)', (backend) => {
  beforeAll(() => useTestBackend(backend));

  it('converts conv [out,in,kh,kw] → [kh,kw,in,out], linear [out,in] → [in,out], and batch norms by name', () => {
    const net = tiny();
    const before = net.getLayer('normalize').getWeights().map((w) => Array.from(w.dataSync()));
    const r = loadTorchWeights(net, TINY_STATE);
    expect(r).toEqual({ loaded: 8, missing: [], unused: [] });
    const [k, bias] = net.getLayer('c').getWeights() as [tf.Tensor4D, tf.Tensor];
    const kv = k.arraySync();
    // torch weight[o][i][y][x] = ((o·2 + i)·2 + y)·2 + x
    expect(kv[1]![0]![1]![2]).toBe(((2 * 2 + 1) * 2 + 1) * 2 + 0);
    expect(Array.from(bias.dataSync())).toEqual([100, 101, 102]);
    const [gamma, beta, mean, variance] = net.getLayer('b').getWeights().map((w) => Array.from(w.dataSync()));
    expect([gamma, beta, mean, variance]).toEqual([[10, 11, 12], [20, 21, 22], [30, 31, 32], [40, 41, 42]]);
    const fc = net.getLayer('fc').getWeights()[0]!.arraySync() as number[][];
    expect(fc).toEqual([[0, 3], [1, 4], [2, 5]]);
    expect(net.getLayer('normalize').getWeights().map((w) => Array.from(w.dataSync()))).toEqual(before);
    net.dispose();
  });

  it('maps the AttnVGG classifier `cls` and the attention blocks', () => {
    const net = attnVgg({ inputShape: [32, 32, 3], width: 1 / 16, seed: 1 });
    const state: Record<string, TorchTensor> = {
      'cls.weight': t([2, 32 + 32 + 16]), 'cls.bias': t([2]), 'attn1.W_l.weight': t([16, 16, 1, 1]), 'attn1.phi.bias': t([1], 7),
    };
    const r = loadTorchWeights(net, state, { strict: false });
    expect(r.loaded).toBe(4);
    expect(r.unused).toEqual([]);
    expect(r.missing).toContain('conv_block1.0/kernel');
    expect(Array.from(net.getLayer('attn1.phi').getWeights()[1]!.dataSync())).toEqual([7]);
    net.dispose();
  });

  describe('rejects bad input', () => {
    it('throws typed errors and leaves the model unchanged', () => {
      const net = tiny();
      const snapshot = () => net.getWeights().map((w) => Array.from(w.dataSync()));
      const before = snapshot();
      expect(() => loadTorchWeights(net, { ...TINY_STATE, 'module.c.weight': t([3, 2, 3, 3]) })).toThrow(/module.c.weight has PyTorch shape \[3,2,3,3\].*\[2,2,2,3\]/);
      expect(() => loadTorchWeights(net, { ...TINY_STATE, 'extra.weight': t([1]) })).toThrow(FormatError);
      expect(() => loadTorchWeights(net, { ...TINY_STATE, 'extra.weight': t([1]) })).toThrow(/unused: extra.weight/);
      const { 'module.b.running_var': _dropped, ...partial } = TINY_STATE;
      expect(() => loadTorchWeights(net, partial)).toThrow(/no tensor for b\/moving_variance/);
      expect(snapshot()).toEqual(before);
      expect(() => loadTorchWeights(null as never, TINY_STATE)).toThrow(InvalidArgumentError);
      expect(() => loadTorchWeights(net, [] as never)).toThrow(/stateDict must be an object/);
      expect(() => loadTorchWeights(net, TINY_STATE, { strict: 1 } as never)).toThrow(/options.strict/);
      expect(() => loadTorchWeights(net, TINY_STATE, { stict: true } as never)).toThrow(/did you mean 'strict'/);
      const lenient = loadTorchWeights(net, partial, { strict: false });
      expect(lenient.missing).toEqual(['b/moving_variance']);
      net.dispose();
    });
  });

  it('does not leak', async () => {
    const net = tiny();
    await expectNoLeak(() => { loadTorchWeights(net, TINY_STATE); });
    await expectNoLeak(() => { expect(() => loadTorchWeights(net, { ...TINY_STATE, 'module.c.weight': t([1, 1, 1, 1]) })).toThrow(); });
    net.dispose();
  });
});
