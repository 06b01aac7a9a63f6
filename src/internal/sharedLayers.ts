/**
 * A LayersModel whose dispose frees layers applied more than once (tfjs-layers' shared-layer leak).
 * @internal
 */
import type * as tfl from '@tensorflow/tfjs-layers';

/**
 * Makes `model.dispose()` free the weights of the layers the model applies more than once (the shared
 * batch norms of the authors' U-Nets, built by gapUnet or loaded from disk by loadModel). tfjs-layers 4.22
 * counts one reference per symbolic application of a layer but `LayersModel.dispose()` releases one per
 * layer, so a layer applied k times kept its weights (tensorflow/tfjs#7667, #8471): 12 tensors (3 shared
 * norms × 4 weights) after every paper-preset GAP run at 224/299 px. The model's dispose now releases the
 * k − 1 extra references once its own count reaches 0; a reference someone else took on the layer later
 * still keeps it.
 */
export function disposingSharedLayers(model: tfl.LayersModel): tfl.LayersModel {
  const extra = model.layers.map((layer) => [layer, layer.inboundNodes.length - 1] as const).filter(([, k]) => k > 0);
  if (extra.length === 0) return model;
  const dispose = model.dispose.bind(model);
  model.dispose = () => {
    const result = dispose();
    if (result.refCountAfterDispose === 0) {
      for (const [layer, k] of extra) for (let i = 0; i < k; i++) result.numDisposedVariables += layer.dispose().numDisposedVariables;
    }
    return result;
  };
  return model;
}
