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
 * the node. It can also return auxiliary tensors computed in the forward pass (the logits, for checks),
 * so that no second forward pass is needed.
 *
 * Inside another gradient (a caller's `tf.grad` around an attack) the tape is not ours to free: it falls
 * back to `engine.gradients`.
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import { releaseStaleTape } from './scope.js';

interface TapeNode {
  id: number;
  kernelName: string;
  inputs: Record<string, tf.Tensor>;
  outputs: tf.Tensor[];
  saved?: Array<tf.Tensor | undefined>;
  gradient?: (dys: Array<tf.Tensor | null>) => Record<string, () => tf.Tensor>;
}

interface EngineInternals {
  state: { activeTape: TapeNode[] | null; gradientDepth: number };
  scopedRun<R>(start: () => void, end: () => void, f: () => R): R;
  startTape(): void;
  endTape(): void;
  tidy<R extends tf.TensorContainer>(name: string, fn: () => R): R;
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

function disposeSaved(node: TapeNode): void {
  for (const t of node.saved ?? []) t?.dispose();
  node.saved = [];
}

/** The nodes that lie on a path from `x` to `y`, with inputs pruned to those that depend on x (tfjs' tape.ts). */
function pathNodes(tape: TapeNode[], x: tf.Tensor, y: tf.Tensor): { path: TapeNode[]; original: TapeNode[] } {
  const fromX = new Set<number>([x.id]);
  const nodesFromX = new Set<number>();
  for (const node of tape) {
    for (const name in node.inputs) {
      if (fromX.has(node.inputs[name]!.id)) {
        node.outputs.forEach((o) => fromX.add(o.id));
        nodesFromX.add(node.id);
        break;
      }
    }
  }
  const toY = new Set<number>([y.id]);
  const nodesToY = new Set<number>();
  for (let i = tape.length - 1; i >= 0; i--) {
    const node = tape[i]!;
    if (node.outputs.some((o) => toY.has(o.id))) {
      for (const name in node.inputs) toY.add(node.inputs[name]!.id);
      nodesToY.add(node.id);
    }
  }
  const path: TapeNode[] = [];
  const original: TapeNode[] = [];
  for (const node of tape) {
    if (!nodesFromX.has(node.id) || !nodesToY.has(node.id)) continue;
    const inputs: Record<string, tf.Tensor> = {};
    for (const name in node.inputs) if (fromX.has(node.inputs[name]!.id)) inputs[name] = node.inputs[name]!;
    path.push({ ...node, inputs });
    original.push(node);
  }
  return { path, original };
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
    const { path, original } = pathNodes(tape, x, y);
    const onPath = new Set(original.map((n) => n.id));
    for (const node of tape) if (!onPath.has(node.id)) disposeSaved(node);
    const grad = engine.tidy('backward', () => {
      const acc = new Map<number, tf.Tensor>();
      acc.set(y.id, tf.ones(y.shape));
      for (let i = path.length - 1; i >= 0; i--) {
        const node = path[i]!;
        if (node.gradient == null) throw new Error(`Cannot compute gradient: gradient function not found for ${node.kernelName}.`);
        const dys = node.outputs.map((o) => acc.get(o.id) ?? null);
        const names = Object.keys(node.inputs);
        const dxs = engine.tidy(node.kernelName, () => {
          const inputGradients = node.gradient!(dys);
          return names.map((name) => {
            if (!(name in inputGradients)) throw new Error(`Cannot backprop through input ${name}. Available gradients found: ${Object.keys(inputGradients)}.`);
            const dx = inputGradients[name]!();
            const input = node.inputs[name]!;
            if (dx.dtype !== 'float32') throw new Error(`Error in gradient for op ${node.kernelName}. The gradient of input ${name} must have 'float32' dtype, but has '${dx.dtype}'`);
            if (!tf.util.arraysEqual(dx.shape, input.shape)) throw new Error(`Error in gradient for op ${node.kernelName}. The gradient of input '${name}' has shape '${dx.shape}', which does not match the shape of the input '${input.shape}'`);
            return dx;
          });
        });
        // The node is done: free its upstream gradients and what it saved before accumulating.
        for (const o of node.outputs) {
          const dy = acc.get(o.id);
          if (dy && o.id !== x.id) {
            acc.delete(o.id);
            dy.dispose();
          }
        }
        disposeSaved(original[i]!);
        names.forEach((name, k) => {
          const input = node.inputs[name]!;
          const dx = dxs[k]!;
          const current = acc.get(input.id);
          if (current == null) acc.set(input.id, dx);
          else {
            acc.set(input.id, tf.add(current, dx));
            current.dispose();
            dx.dispose();
          }
        });
      }
      const g = acc.get(x.id);
      acc.forEach((t, id) => { if (id !== x.id) t.dispose(); });
      return g ?? tf.zerosLike(x);
    });
    for (const node of tape) disposeSaved(node);
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
