/**
 * Two small tfjs-layers layers the GAP generators need and tfjs-layers lacks: reflection padding
 * (Poursaeed's ResNet generator pads with `ReflectionPad2d`) and a dropout whose masks can be drawn
 * from a seeded generator (tfjs-layers' `Dropout` reuses one mask for a fixed seed, or draws from
 * `Math.random` without one, so training could not be replayed or resumed exactly).
 * Both are registered for serialisation, so a saved generator loads again once medrobust is imported.
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

type LayerArgs = ConstructorParameters<typeof tfl.layers.Layer>[0];

function one(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
  return Array.isArray(inputs) ? inputs[0]! : inputs;
}

/** Reflection padding of H and W by `padding` pixels each side (PyTorch `ReflectionPad2d`). */
export class GapReflectionPad2D extends tfl.layers.Layer {
  /** @internal */
  static className = 'MedrobustReflectionPad2D';
  /** Pixels added on each side of H and W. */
  readonly padding: number;

  constructor(args: LayerArgs & { padding: number }) {
    super(args);
    this.padding = args.padding;
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    const s = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tfl.Shape;
    const grow = (d: number | null | undefined): number | null => (d == null ? null : d + 2 * this.padding);
    return [s[0] ?? null, grow(s[1]), grow(s[2]), s[3] ?? null];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const p = this.padding;
    return tf.mirrorPad(one(inputs) as tf.Tensor4D, [[0, 0], [p, p], [p, p], [0, 0]], 'reflect');
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), padding: this.padding };
  }
}

/**
 * Dropout (inverted, like PyTorch and Keras) active only with `training: true`. While
 * {@link GapDropout.seedSource} is set, every call draws its mask from a fresh seed it returns;
 * otherwise tfjs draws one at random.
 */
export class GapDropout extends tfl.layers.Layer {
  /** @internal */
  static className = 'MedrobustGapDropout';
  /** The fraction of units dropped. */
  readonly rate: number;
  /** Supplies one seed per call (set by trainGap for the duration of a run). */
  seedSource: (() => number) | null = null;
  /**
   * Drop units even when called with `training: false` (set by trainGap while batch norms use their
   * moving statistics, `generatorBatchNorm: 'moving'`).
   */
  alwaysActive = false;

  constructor(args: LayerArgs & { rate: number }) {
    super(args);
    this.rate = args.rate;
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape | tfl.Shape[] {
    return inputShape;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: { training?: boolean }): tf.Tensor {
    const x = one(inputs);
    if ((kwargs.training !== true && !this.alwaysActive) || this.rate === 0) return x;
    const seed = this.seedSource === null ? undefined : this.seedSource();
    return tf.dropout(x, this.rate, undefined, seed);
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), rate: this.rate };
  }
}

tf.serialization.registerClass(GapReflectionPad2D);
tf.serialization.registerClass(GapDropout);

/** The {@link GapDropout} layers of a model (none for a user's own generator without them). */
export function gapDropoutLayers(model: tfl.LayersModel): GapDropout[] {
  return model.layers.filter((l): l is GapDropout => l instanceof GapDropout);
}
