/**
 * Layers the paper's models need and tfjs-layers lacks. Registered for serialisation, so a saved model
 * loads again once medrobust is imported.
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

type LayerArgs = ConstructorParameters<typeof tfl.layers.Layer>[0];

/**
 * Bilinear upsampling by an integer factor with half-pixel centres: PyTorch's
 * `F.interpolate(x, scale_factor=k, mode='bilinear', align_corners=False)`. (tfjs-layers'
 * `upSampling2d({interpolation: 'bilinear'})` samples without half-pixel centres, which shifts the
 * result by (k − 1)/(2k) of an input pixel: 0.375 px at k = 4.) Its gradient needs the
 * ResizeBilinearGrad that `registerWasmGradients` installs; tfjs 4.22's own ignores the flag.
 */
export class BilinearUpsampling extends tfl.layers.Layer {
  /** @internal */
  static className = 'MedrobustBilinearUpsampling';
  /** The integer factor of both sides. */
  readonly factor: number;

  constructor(args: LayerArgs & { factor: number }) {
    super(args);
    this.factor = args.factor;
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    const s = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tfl.Shape;
    const grow = (d: number | null | undefined): number | null => (d == null ? null : d * this.factor);
    return [s[0] ?? null, grow(s[1]), grow(s[2]), s[3] ?? null];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const x = (Array.isArray(inputs) ? inputs[0]! : inputs) as tf.Tensor4D;
    return tf.image.resizeBilinear(x, [x.shape[1] * this.factor, x.shape[2] * this.factor], false, true);
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), factor: this.factor };
  }
}

tf.serialization.registerClass(BilinearUpsampling);
