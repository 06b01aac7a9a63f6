/**
 * Fixes to tfjs-core 4.22's gradient machinery that medrobust relies on, installed once (idempotent,
 * cheap to re-check) by every public entry and by `registerWasmGradients`/`registerCpuGradients`.
 * Only tfjs-core is touched; no backend is imported.
 *
 * 1. **Batch norm without `scale` (Keras `scale: false`, as in Inception-v3) or without `offset`**.
 *    `tf.batchNorm` passes `{scale: undefined}` to the engine. While a gradient is recorded the engine
 *    then clones `undefined` for the tape (`saveTensorsForBackwardMode`) and reads `undefined.id` when it
 *    filters the tape (`getFilteredNodesXToY`): a bare `TypeError: Cannot read properties of undefined`.
 *    The engine is patched to leave absent inputs out of tape nodes and to save them as absent;
 *    {@link batchNormGradConfig} treats an absent scale as 1.
 * 2. **A FusedBatchNorm gradient that does not tile**: see {@link batchNormGradConfig}.
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';

/**
 * The FusedBatchNorm gradient with per-channel factors kept as `[C]` vectors and broadcast, each input's
 * gradient computed only when the tape asks for it. tfjs-core's own builds a full-size `tile` of
 * 1/√(var+ε) and computes every full-size product up front (memory and time: wasm's Tile is a slow
 * generic loop), and cannot run without a scale.
 *
 * With s = scale·(var+ε)^-½ (scale = 1 when absent) and Σ over every axis that mean broadcasts along:
 * dx = dy·s, dmean = −s·Σdy, dvar = −½·scale·(var+ε)^-3/2·Σ(x−mean)·dy, dscale = (var+ε)^-½·Σ(x−mean)·dy, doffset = Σdy.
 */
export const batchNormGradConfig: tf.GradConfig = {
  kernelName: tf.FusedBatchNorm,
  inputsToSave: ['x', 'mean', 'variance', 'scale'],
  gradFunc: (dy, saved, attrs) => {
    const { varianceEpsilon } = attrs as unknown as tf.FusedBatchNormAttrs;
    const [x, mean, variance, savedScale] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor | undefined];
    const scale = isAbsent(savedScale) ? undefined : savedScale;
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

/**
 * What the tape saves for an absent optional input: the engine disposes every saved entry after the
 * backward pass, so the placeholder must take `dispose()`. Gradient functions test `isAbsent`.
 */
const ABSENT = Object.freeze({ isDisposed: true, dispose: (): void => undefined, medrobustAbsent: true });

/** True for a saved input that was absent (see {@link ABSENT}) or null. */
export function isAbsent(t: unknown): boolean {
  return t == null || (t as { medrobustAbsent?: boolean }).medrobustAbsent === true;
}

interface PatchableEngine {
  addTapeNode: (kernelName: string, inputs: Record<string, tf.Tensor | undefined>, ...rest: unknown[]) => void;
  saveTensorsForBackwardMode: (tensors: Array<tf.Tensor | undefined>) => Array<tf.Tensor | undefined>;
  medrobustOptionalInputs?: true;
}

/** Patches the engine so that kernels with absent optional inputs can be differentiated (fix 1). */
function patchEngine(): boolean {
  const engine = tf.engine() as unknown as PatchableEngine;
  if (engine.medrobustOptionalInputs) return false;
  const addTapeNode = engine.addTapeNode.bind(engine);
  const save = engine.saveTensorsForBackwardMode.bind(engine);
  engine.addTapeNode = (kernelName, inputs, ...rest) => {
    let present = inputs;
    for (const key in inputs) {
      if (inputs[key] == null) {
        present = {};
        for (const k in inputs) if (inputs[k] != null) present[k] = inputs[k];
        break;
      }
    }
    addTapeNode(kernelName, present, ...rest);
  };
  engine.saveTensorsForBackwardMode = (tensors) => {
    if (tensors.every((t) => t != null)) return save(tensors);
    return tensors.map((t) => (t == null ? (ABSENT as unknown as tf.Tensor) : save([t])[0]));
  };
  engine.medrobustOptionalInputs = true;
  return true;
}

/**
 * Installs both fixes when missing (after `tf.engine()` was replaced, or after tfjs-layers' Node
 * bundle re-registered tfjs-core's gradients). Cheap: two identity checks when nothing is to do.
 * @returns true when the batch-norm gradient was (re)installed by this call.
 */
export function ensureGradientFixes(): boolean {
  patchEngine();
  if (tf.getGradient(tf.FusedBatchNorm) === batchNormGradConfig) return false;
  tf.registerGradient(batchNormGradConfig);
  return true;
}
