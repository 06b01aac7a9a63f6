/**
 * Per-channel normalisation built into a model as its first layer: (x − mean) / std. With it the
 * model takes images in [0, 1] and ε stays in pixel units (design.md: normalisation belongs inside
 * the model, never in the attack).
 * @category Models
 */
export interface Normalization {
  /** One mean per input channel, e.g. ImageNet's [0.485, 0.456, 0.406]. */
  readonly mean: readonly number[];
  /** One standard deviation (> 0) per input channel, e.g. [0.229, 0.224, 0.225]. */
  readonly std: readonly number[];
}

/**
 * Options every model builder accepts.
 * @category Models
 */
export interface ModelOptions {
  /**
   * `[height, width, channels]` of the NHWC input (each builder states its minimum size).
   * @defaultValue the architecture's own (224×224×3, 299×299×3, or 28×28×3 for the small nets)
   */
  inputShape?: readonly [number, number, number];
  /**
   * Number of classes (or findings, for multi-label tasks): the width of the logits.
   * @defaultValue the paper's (2 for AttnVGG, 4 for Inception-v3, 14 for DenseNet-121); required for the small nets
   */
  classes?: number;
  /**
   * Multiplies every channel count (rounded, at least 1). 1 is the reference architecture;
   * 1/8 or 1/16 gives a reduced variant that trains on a CPU.
   * @defaultValue 1
   */
  width?: number;
  /**
   * Seed of the weight initializers (each layer gets a fresh seed from it). Without one, tfjs's
   * own unseeded initializers are used.
   * @defaultValue unseeded
   */
  seed?: number;
  /**
   * Normalisation built into the model (a frozen first layer named `normalize`).
   * @defaultValue none
   */
  normalization?: Normalization;
}
