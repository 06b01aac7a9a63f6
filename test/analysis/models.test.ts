import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/errors.js';
import { activationShift, layerActivations } from '../../src/analysis/layerActivations.js';
import { featureMapImages } from '../../src/analysis/featureMapImages.js';
import { attentionOverlay } from '../../src/analysis/attentionOverlay.js';
import { saliencyMap } from '../../src/analysis/saliencyMap.js';
import { jetColormap } from '../../src/analysis/colormap.js';
import { BACKENDS, useTestBackend } from '../helpers/backends.js';
import { expectNoLeak } from '../helpers/expectNoLeak.js';

// Tests of the model-based analyses (layerActivations, featureMapImages, attentionOverlay, saliencyMap).
describe.each(BACKENDS)('model-based analyses (%s)', (name) => {
  let net: tfl.LayersModel;
  beforeAll(async () => {
    await useTestBackend(name);
    const input = tfl.input({ shape: [2, 2, 1] });
    const flat = tfl.layers.flatten({ name: 'flat' }).apply(input) as tfl.SymbolicTensor;
    const hidden = tfl.layers.dense({ units: 3, name: 'hidden', kernelInitializer: 'ones', biasInitializer: 'zeros' }).apply(flat) as tfl.SymbolicTensor;
    const out = tfl.layers.dense({ units: 2, name: 'out', kernelInitializer: 'ones', biasInitializer: 'zeros' }).apply(hidden) as tfl.SymbolicTensor;
    net = tfl.model({ inputs: input, outputs: out });
  });

  it('layerActivations returns the named layers (closed form for all-ones weights)', async () => {
    const x = tf.tensor4d([1, 2, 3, 4, 0, 0, 0, 1], [2, 2, 2, 1]);
    const acts = layerActivations(net, x, { layers: ['hidden', 'flat'] });
    expect(Object.keys(acts)).toEqual(['hidden', 'flat']);
    expect(Array.from(acts.hidden!.dataSync())).toEqual([10, 10, 10, 1, 1, 1]);
    expect(acts.flat!.shape).toEqual([2, 4]);
    tf.dispose(Object.values(acts));
    await expectNoLeak(() => layerActivations(net, x, { layers: ['out'] }));
    const shift = activationShift(net, x, tf.mul(x, 2) as tf.Tensor4D, { layers: ['hidden'] });
    expect(shift[0]!.relativeChange).toEqual([1, 1]);
    await expectNoLeak(() => activationShift(net, x, x, { layers: ['hidden'] }));
    expect(activationShift(net, x, x, { layers: ['hidden'] })[0]!.meanRelativeChange).toBe(0);
    x.dispose();
  });

  it('featureMapImages colours raw activations with jet, saturating outside [0, 1]', async () => {
    const acts = tf.tensor4d([0, 0.5, 1, 2, 0, 0, 0, 0], [1, 2, 2, 2]); // channel 0: [0, 1, 0, 0], channel 1: [0.5, 2, 0, 0]
    const [c0, c1] = featureMapImages(acts);
    expect([c0!.width, c0!.height]).toEqual([2, 2]);
    expect(Array.from(c1!.data)).toEqual(Array.from(jetColormap([0.5, 1, 0, 0])));
    expect(Array.from(c0!.data)).toEqual(Array.from(jetColormap([0, 1, 0, 0])));
    const [mm] = featureMapImages(acts, { channels: [1], normalize: 'minmax', size: [4, 4] });
    expect(mm!.data.length).toBe(48);
    await expectNoLeak(() => featureMapImages(acts, { size: [3, 3] }));
    expect(() => featureMapImages(acts, { channels: [2] })).toThrow(InvalidArgumentError);
    acts.dispose();
  });

  it('attentionOverlay blends 0.6·image + 0.4·jet(min-max attention)', async () => {
    const image = tf.fill([2, 2, 3], 0.5) as tf.Tensor3D;
    const att = tf.tensor2d([[0, 1], [0, 1]]);
    const pic = attentionOverlay(image, att);
    const heat = jetColormap([0, 1, 0, 1]);
    for (let p = 0; p < 12; p++) expect(pic.data[p]).toBe(Math.round(0.6 * 127.5 + 0.4 * heat[p]!));
    await expectNoLeak(() => attentionOverlay(image, att));
    expect(() => attentionOverlay(image, att, { alpha: 2 })).toThrow(/alpha/);
    tf.dispose([image, att]);
  });

  it('saliencyMap of a linear model is |w| summed over channels, normalised', async () => {
    const w = tf.tensor2d([[1, 0], [-3, 0], [2, 0], [0, 0]]);
    const model = (x: tf.Tensor4D): tf.Tensor2D => tf.matMul(tf.reshape(x, [x.shape[0], 4]), w) as tf.Tensor2D;
    const x = tf.zeros([1, 2, 2, 1]) as tf.Tensor4D;
    const map = saliencyMap(model, x, { classIndex: 0, percentile: 100 });
    // |grad| = [1, 3, 2, 0] → min-max → [1/3, 1, 2/3, 0]
    Array.from(map.dataSync()).forEach((v, i) => expect(v).toBeCloseTo([1 / 3, 1, 2 / 3, 0][i]!, 6));
    map.dispose();
    const inv = saliencyMap(model, x, { classIndex: [0], percentile: 100, invert: true });
    expect(inv.dataSync()[3]).toBeCloseTo(1, 6);
    inv.dispose();
    // clipping at a lower percentile flattens the top: 50th percentile of [0,1,2,3] = 1.5
    const clipped = saliencyMap(model, x, { classIndex: 0, percentile: 50 });
    Array.from(clipped.dataSync()).forEach((v, i) => expect(v).toBeCloseTo([2 / 3, 1, 1, 0][i]!, 6));
    clipped.dispose();
    await expectNoLeak(() => saliencyMap(model, x, { classIndex: 0 }));
    expect(() => saliencyMap(model, x, { classIndex: 5 })).toThrow(/below the model's 2 logits/);
    expect(() => saliencyMap(model, x, {} as never)).toThrow(/classIndex/);
    tf.dispose([w, x]);
  });

  it('rejects bad input', () => {
    const x = tf.zeros([1, 2, 2, 1]) as tf.Tensor4D;
    expect(() => layerActivations(net, x, { layers: ['nope'] })).toThrow(/names of layers of the model/);
    expect(() => layerActivations(net, x, { layers: [] })).toThrow(InvalidArgumentError);
    expect(() => layerActivations({} as never, x, { layers: ['out'] })).toThrow(/LayersModel/);
    expect(() => layerActivations(net, tf.zeros([2, 2]) as never, { layers: ['out'] })).toThrow(/rank-4/);
    expect(() => activationShift(net, x, tf.zeros([2, 2, 2, 1]) as tf.Tensor4D, { layers: ['out'] })).toThrow(/like clean/);
    x.dispose();
  });

  it('chunked analyses equal the unchunked ones bit for bit, and free everything on error paths', async () => {
    const cnn = tfl.sequential({ layers: [
      tfl.layers.conv2d({ inputShape: [6, 6, 1], filters: 4, kernelSize: 3, activation: 'relu', name: 'conv', kernelInitializer: tfl.initializers.glorotUniform({ seed: 3 }) }),
      tfl.layers.flatten({ name: 'flat2' }),
      tfl.layers.dense({ units: 3, name: 'logits', kernelInitializer: tfl.initializers.glorotUniform({ seed: 4 }) }),
    ] });
    const x = tf.randomUniform([7, 6, 6, 1], 0, 1, 'float32', 8) as tf.Tensor4D;
    const adv = tf.tidy(() => tf.clipByValue(tf.add(x, tf.randomUniform([7, 6, 6, 1], -0.1, 0.1, 'float32', 9)), 0, 1)) as tf.Tensor4D;
    const same = (a: tf.Tensor, b: tf.Tensor) => expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
    const s1 = saliencyMap(cnn, x, { classIndex: [0, 1, 2, 0, 1, 2, 0] });
    const s2 = saliencyMap(cnn, x, { classIndex: [0, 1, 2, 0, 1, 2, 0], batchSize: 3 });
    same(s1, s2);
    const a1 = layerActivations(cnn, x, { layers: ['conv', 'logits'] });
    const a2 = layerActivations(cnn, x, { layers: ['conv', 'logits'], batchSize: 2 });
    same(a1.conv!, a2.conv!);
    same(a1.logits!, a2.logits!);
    expect(activationShift(cnn, x, adv, { layers: ['conv'], batchSize: 3 })).toEqual(activationShift(cnn, x, adv, { layers: ['conv'] }));
    tf.dispose([s1, s2, ...Object.values(a1), ...Object.values(a2)]);
    await expectNoLeak(() => layerActivations(cnn, x, { layers: ['conv'], batchSize: 3 }));
    await expectNoLeak(() => saliencyMap(cnn, x, { classIndex: 1, batchSize: 2 }));
    // Errors after the model ran (class index checked against the logits) and memory errors free everything.
    await expectNoLeak(() => { expect(() => saliencyMap(cnn, x, { classIndex: 7, batchSize: 3 })).toThrow(/below the model's 3 logits/); });
    await expectNoLeak(() => { expect(() => saliencyMap(cnn, x, { classIndex: 0, memoryBudget: 100 })).toThrow(/saliencyMap: a batch of 1 needs about/); });
    expect(() => saliencyMap(cnn, tf.zeros([1, 5, 5, 1]) as tf.Tensor4D, { classIndex: 0 })).toThrow(/^saliencyMap: images must be a batch of shape \[N, 6, 6, 1\]/);
    expect(() => layerActivations(cnn, tf.zeros([1, 6, 6, 2]) as tf.Tensor4D, { layers: ['conv'] })).toThrow(/^layerActivations: images must be a batch of shape \[N, 6, 6, 1\]/);
    await expectNoLeak(() => { expect(() => layerActivations(cnn, x, { layers: ['conv'], memoryBudget: 100 })).toThrow(/layerActivations: a batch of 1 needs about/); });
    await expectNoLeak(() => { expect(() => activationShift(cnn, x, adv, { layers: ['conv'], memoryBudget: 100 })).toThrow(/activationShift: a batch of 1 needs about/); });
    const acts = tf.zeros([1, 2, 2, 3]);
    await expectNoLeak(() => { expect(() => featureMapImages(acts, { channels: [5] })).toThrow(InvalidArgumentError); });
    const [img, att] = [tf.zeros([2, 2, 3]), tf.zeros([2, 2])];
    await expectNoLeak(() => { expect(() => attentionOverlay(img, att, { alpha: 3 })).toThrow(/alpha/); });
    tf.dispose([acts, img, att]);
    tf.dispose([x, adv]);
    cnn.dispose();
  });
});
