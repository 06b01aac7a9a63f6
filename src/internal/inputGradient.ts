/**
 * The gradient of a scalar loss with respect to one input, with the memory behaviour of PyTorch's
 * autograd instead of tfjs-core's.
 *
 * tfjs-core 4.22's `engine.gradients` (the core of `tf.grad`/`tf.valueAndGrad`) keeps until the very end
 * of the backward pass (1) every tensor the tape saved, including those of kernels that do not lie
 * between the input and the loss, and (2) every intermediate gradient, which lives in the backward tidy
 * scope. Its peak is therefore about "all activations + all their gradients". PyTorch frees each node's
 * saved tensors and the gradients of its outputs as soon as the node's backward has run, so its peak is
 * about "all activations + one layer's gradients".
 *
 * {@link inputGradient} runs the same forward pass and the same backward kernels in the same order — the
 * result is bit for bit `tf.grad`'s — but frees saved tensors of nodes off the input→loss path before the
 * backward pass, and each node's saved tensors, upstream gradients and gradient temporaries right after
 * the node (the walk is {@link backpropagate}, shared with the training step's weight gradients). It can also return auxiliary tensors computed in the forward pass (the logits, for checks),
 * so that no second forward pass is needed.
 *
 * Inside another gradient (a caller's `tf.grad` around an attack) the tape is not ours to free: it falls
 * back to `engine.gradients`.
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import { backpropagate, disposeSaved, type EngineLike } from './leanGradients.js';
import { releaseStaleTape } from './scope.js';

interface EngineInternals extends EngineLike {
  gradients(f: () => tf.Tensor, xs: tf.Tensor[], dy?: tf.Tensor, allowNoGradients?: boolean): { value: tf.Tensor; grads: tf.Tensor[] };
}

/** The forward pass of {@link inputGradient}: a scalar loss, and tensors to return alongside. */
export interface ForwardResult {
  loss: tf.Scalar;
  aux?: tf.Tensor[];
}

/** The result of {@link inputGradient}; every tensor is new and owned by the caller. */
export interface InputGradient {
  loss: tf.Scalar;
  grad: tf.Tensor;
  aux: tf.Tensor[];
}

/**
 * ∂loss/∂x with the loss and auxiliary forward outputs, freeing memory as the backward pass goes (see the
 * module comment). A loss that does not depend on `x` has a zero gradient.
 */
export function inputGradient(f: (x: tf.Tensor) => ForwardResult, x: tf.Tensor): InputGradient {
  const engine = tf.engine() as unknown as EngineInternals;
  if (engine.state.gradientDepth > 0) return nestedGradient(engine, f, x);
  let outs: tf.Tensor[] = [];
  try {
    outs = engine.scopedRun(() => engine.startTape(), () => engine.endTape(), () => engine.tidy('forward', () => {
      const r = f(x);
      if (!(r.loss instanceof tf.Tensor) || r.loss.rank !== 0) throw new Error('medrobust: the loss of an input gradient must be a scalar tensor');
      return [r.loss, ...(r.aux ?? [])];
    }));
    const y = outs[0]!;
    const tape = engine.state.activeTape ?? [];
    const grad = engine.tidy('backward', () => backpropagate(engine, tape, [x], y)[0] ?? tf.zerosLike(x));
    for (const node of tape) disposeSaved(node, (t) => t === grad);
    engine.state.activeTape = null;
    return { loss: y as tf.Scalar, grad, aux: outs.slice(1) };
  } catch (err) {
    tf.dispose(outs);
    releaseStaleTape();
    throw err;
  }
}

function nestedGradient(engine: EngineInternals, f: (x: tf.Tensor) => ForwardResult, x: tf.Tensor): InputGradient {
  let aux: tf.Tensor[] = [];
  const { value, grads } = engine.gradients(() => {
    const r = f(x);
    aux = (r.aux ?? []).map((t) => tf.keep(t));
    return r.loss;
  }, [x], undefined, true);
  return { loss: value as tf.Scalar, grad: grads[0] ?? tf.zerosLike(x), aux };
}
