/**
 * The FusedBatchNorm gradient with per-channel factors kept as `[C]` vectors and broadcast, each input's
 * gradient computed only when the tape asks for it. tfjs-core's own builds a full-size `tile` of
 * 1/√(var+ε) and computes every full-size product up front; wasm's Tile is a slow generic loop.
 *
 * With s = scale·(var+ε)^-½ and the reductions Σ over every axis that mean broadcasts along:
 * dx = dy·s, dmean = −s·Σdy, dvar = −½·scale·(var+ε)^-3/2·Σ(x−mean)·dy, dscale = (var+ε)^-½·Σ(x−mean)·dy, doffset = Σdy.
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';

export const batchNormGradConfig: tf.GradConfig = {
  kernelName: tf.FusedBatchNorm,
  inputsToSave: ['x', 'mean', 'variance', 'scale'],
  gradFunc: (dy, saved, attrs) => {
    const { varianceEpsilon } = attrs as unknown as tf.FusedBatchNormAttrs;
    const [x, mean, variance, scale] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor | undefined];
    const g = dy as tf.Tensor;
    const axes = tf.backend_util.getReductionAxes(mean.shape, x.shape);
    const reduce = (t: tf.Tensor): tf.Tensor => tf.reshape(axes.length > 0 ? tf.sum(t, axes) : t, mean.shape);
    const invStd = (): tf.Tensor => tf.rsqrt(tf.add(variance, varianceEpsilon));
    const factor = (): tf.Tensor => (scale == null ? invStd() : tf.mul(scale, invStd()));
    const centeredDy = (): tf.Tensor => reduce(tf.mul(tf.sub(x, mean), g));
    return {
      x: () => tf.reshape(tf.mul(g, factor()), x.shape),
      mean: () => tf.neg(tf.mul(factor(), reduce(g))),
      variance: () => {
        const inv = invStd();
        const k = tf.mul(-0.5, tf.mul(tf.mul(inv, inv), inv));
        return tf.mul(scale == null ? k : tf.mul(k, scale), centeredDy());
      },
      scale: () => tf.reshape(tf.mul(invStd(), centeredDy()), scale == null ? mean.shape : scale.shape),
      offset: () => reduce(g),
    };
  },
};
