/**
 * The ResizeBilinearGrad that registerWasmGradients installs (src/backend/kernels/resizeBilinearGrad.ts):
 * the exact adjoint of the forward resize, with and without half-pixel centres, on cpu and wasm; and,
 * where PyTorch is installed, equal to PyTorch's `align_corners=False` gradient (tfjs 4.22's own kernel
 * ignores the flag and is not).
 */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { resizeBilinearGradValues } from '../../src/backend/kernels/resizeBilinearGrad.js';
import { BACKENDS, useTestBackend } from '../helpers/backends.js';
import { expectNoLeak } from '../helpers/expectNoLeak.js';
import { HAS_TORCH, maxDiff, npy, report, runPort, warnIfSkipped } from './python.js';

warnIfSkipped('ResizeBilinear PyTorch parity');

const CASES = [
  { x: [2, 7, 7, 3], size: [28, 28], align: false, half: true },
  { x: [1, 14, 14, 2], size: [28, 28], align: false, half: true },
  { x: [2, 5, 3, 2], size: [9, 11], align: false, half: true },
  { x: [1, 6, 4, 1], size: [4, 3], align: false, half: true },
  { x: [2, 5, 3, 2], size: [9, 11], align: false, half: false },
  { x: [2, 5, 3, 2], size: [9, 11], align: true, half: false },
] as const;

/** <resize(x), dy> and <x, grad(dy)>: equal for the exact adjoint. */
function adjointGap(c: (typeof CASES)[number]): { lhs: number; rhs: number } {
  return tf.tidy(() => {
    const x = tf.randomNormal([...c.x], 0, 1, 'float32', 1) as tf.Tensor4D;
    const dy = tf.randomNormal([c.x[0], c.size[0], c.size[1], c.x[3]], 0, 1, 'float32', 2);
    const f = (t: tf.Tensor) => tf.sum(tf.mul(tf.image.resizeBilinear(t as tf.Tensor4D, [...c.size], c.align, c.half), dy));
    const lhs = f(x).dataSync()[0]!;
    const dx = tf.grad(f)(x);
    const rhs = tf.sum(tf.mul(x, dx)).dataSync()[0]!;
    return { lhs, rhs };
  });
}

describe.each(BACKENDS)('ResizeBilinearGrad on %s', (backend) => {
  beforeAll(() => useTestBackend(backend));

  it.each(CASES)('is the adjoint of the forward resize: x $x → $size, alignCorners $align, halfPixelCenters $half', (c) => {
    const { lhs, rhs } = adjointGap(c);
    expect(Math.abs(lhs - rhs)).toBeLessThanOrEqual(1e-4 * Math.max(1, Math.abs(lhs)));
  });

  it('gives the closed form of a 1-D 2× upsampling with half-pixel centres', () => {
    // x = [a, b] → y = [a, .75a + .25b, .25a + .75b, b]: ∂Σy/∂a = 1 + .75 + .25 = 2 = ∂Σy/∂b
    const dx = tf.tidy(() => tf.grad((t: tf.Tensor) => tf.sum(tf.image.resizeBilinear(t as tf.Tensor4D, [1, 4], false, true)))(tf.tensor4d([1, 5], [1, 1, 2, 1])).dataSync());
    expect(Array.from(dx)).toEqual([2, 2]);
    // weighting the outputs 1, 2, 3, 4: a gets 1 + 2·.75 + 3·.25 = 3.25, b gets 2·.25 + 3·.75 + 4 = 6.75
    const w = tf.tidy(() => tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.image.resizeBilinear(t as tf.Tensor4D, [1, 4], false, true), tf.tensor4d([1, 2, 3, 4], [1, 1, 4, 1]))))(tf.tensor4d([1, 5], [1, 1, 2, 1])).dataSync());
    expect(Array.from(w)).toEqual([3.25, 6.75]);
  });

  it('does not leak', async () => {
    await expectNoLeak(() => {
      return tf.tidy(() => tf.grad((t: tf.Tensor) => tf.sum(tf.image.resizeBilinear(t as tf.Tensor4D, [8, 8], false, true)))(tf.ones([1, 4, 4, 2])));
    });
  });
});

describe.skipIf(!HAS_TORCH)('ResizeBilinear against PyTorch F.interpolate(align_corners=False)', () => {
  beforeAll(() => useTestBackend('cpu'));

  it.each([
    { x: [2, 7, 7, 3], size: [28, 28], scale: 4 },
    { x: [2, 14, 14, 3], size: [28, 28], scale: 2 },
    { x: [1, 5, 3, 2], size: [9, 11], scale: null },
  ])('forward and gradient equal PyTorch: x $x → $size', ({ x: shape, size, scale }) => {
    const xShape = shape as [number, number, number, number];
    const x = tf.randomNormal(xShape, 0, 1, 'float32', 3) as tf.Tensor4D;
    const dy = tf.randomNormal([shape[0]!, size[0]!, size[1]!, shape[3]!], 0, 1, 'float32', 4);
    const { out } = runPort('resize_bilinear.py', { x: npy(x), dy: npy(dy) }, { size, scale });
    const f = (t: tf.Tensor, half: boolean) => tf.sum(tf.mul(tf.image.resizeBilinear(t as tf.Tensor4D, size as [number, number], false, half), dy));
    const y = tf.image.resizeBilinear(x, size as [number, number], false, true);
    const dx = tf.grad((t: tf.Tensor) => f(t, true))(x);
    const fwd = maxDiff(y.dataSync(), out.y!.data as Float32Array);
    const grad = maxDiff(dx.dataSync(), out.dx!.data as Float32Array);
    // What tfjs 4.22 computes without the half-pixel flag (the old AttnVGG upsampling), for the record.
    const yOld = tf.image.resizeBilinear(x, size as [number, number], false, false);
    const old = maxDiff(yOld.dataSync(), out.y!.data as Float32Array);
    // The gradient of the stock kernel (which ignores halfPixelCenters), for the record.
    const stock = new Float32Array(dx.size);
    resizeBilinearGradValues(dy.dataSync(), stock, { batch: xShape[0], inH: xShape[1], inW: xShape[2], outH: size[0]!, outW: size[1]!, depth: xShape[3] }, false, false);
    const stockDiff = maxDiff(stock, out.dx!.data as Float32Array);
    report(`resize ${shape.join('×')} → ${size.join('×')}`, `forward ${fwd.abs.toExponential(2)}, gradient ${grad.abs.toExponential(2)} (without half-pixel centres: forward ${old.abs.toFixed(3)}, stock gradient ${stockDiff.abs.toFixed(3)})`);
    expect(fwd.abs).toBeLessThanOrEqual(1e-5);
    expect(grad.abs).toBeLessThanOrEqual(1e-5 * Math.max(1, grad.scale));
    expect(stockDiff.abs).toBeGreaterThan(0.1); // the stock gradient is measurably wrong
    tf.dispose([x, dy, y, dx, yOld]);
  });
});
