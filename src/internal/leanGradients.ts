/**
 * Weight gradients with the memory of a framework that frees as it goes: the same tape, the same
 * gradient functions called in the same order with the same inputs (so the gradients are bit for bit
 * tfjs-core's), but every tensor is freed as soon as the backward pass is done with it.
 *
 * **Why** (tfjs-core 4.22, `engine.ts` `gradients` and `tape.ts` `backpropagateGradients`): the backward
 * pass runs in one tidy scope and keeps, until it returns,
 * - the gradient of every intermediate tensor (the map of accumulated gradients is never pruned: the
 *   gradient of the first layer's output is alive next to the gradient of the last's);
 * - every input gradient that was added into an existing sum (`add(cur, dx)` frees `cur`, not `dx`);
 * - the zeros made for outputs outside the gradient's path and the tensors a custom gradient computes
 *   eagerly (tfjs-core's fused conv, the batch-norm statistics' gradient);
 * - every tensor the forward pass saved, until the very end, also those of nodes whose gradient was
 *   already taken, and those of nodes off the path from the weights to the loss (the batch-norm
 *   running-average updates).
 * On DenseNet-121 at 224 px that is the activations' size again in gradients, on top of the saved
 * activations: a training step peaked at 2.8× the saved activations (BENCHMARKS.md, issue 13).
 *
 * {@link backpropagate} walks the tape itself (for {@link leanVariableGrads} and for the attacks'
 * `inputGradient`): a tensor's gradient is freed once its producer's
 * gradient has been taken (every consumer comes later in the tape, so its gradient is complete and
 * used by then), a node's saved tensors right after its gradient, a node's temporaries (zeros, eager
 * custom-gradient results) in a scope per node, an added `dx` right after the addition, and the saved
 * tensors of nodes off the path right after the forward pass. The peak is then the saved activations
 * plus the gradients of the tensors on the current frontier plus the weight gradients.
 *
 * Inside someone else's gradient (a higher-order gradient: the tape is theirs), it defers to
 * `tf.variableGrads` unchanged.
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';

export interface TapeNode {
  id: number;
  kernelName: string;
  inputs: Record<string, tf.Tensor>;
  outputs: tf.Tensor[];
  saved?: Array<tf.Tensor | undefined>;
  gradient?: (dys: Array<tf.Tensor | null>) => Record<string, () => tf.Tensor>;
}

export interface EngineLike {
  state: { activeTape: TapeNode[] | null; gradientDepth: number };
  startTape(): void;
  endTape(): void;
  scopedRun<T>(start: () => void, end: () => void, f: () => T): T;
  tidy<T extends tf.TensorContainer>(name: string, f: () => T): T;
}

/**
 * The nodes of `tape` on a path from one of `xs` to `y`, each with only the inputs that depend on
 * `xs` (what tfjs-core's `getFilteredNodesXToY` selects, in tape order).
 */
export function nodesOnPath(tape: readonly TapeNode[], xs: readonly tf.Tensor[], y: tf.Tensor): TapeNode[] {
  const fromX = new Set<number>(xs.map((x) => x.id));
  const nodeFromX = new Set<number>();
  for (const node of tape) {
    if (Object.values(node.inputs).some((t) => fromX.has(t.id))) {
      nodeFromX.add(node.id);
      for (const o of node.outputs) fromX.add(o.id);
    }
  }
  const toY = new Set<number>([y.id]);
  const nodeToY = new Set<number>();
  for (let i = tape.length - 1; i >= 0; i--) {
    const node = tape[i]!;
    if (node.outputs.some((o) => toY.has(o.id))) {
      nodeToY.add(node.id);
      for (const t of Object.values(node.inputs)) toY.add(t.id);
    }
  }
  const out: TapeNode[] = [];
  for (const node of tape) {
    if (!nodeFromX.has(node.id) || !nodeToY.has(node.id)) continue;
    const inputs: Record<string, tf.Tensor> = {};
    for (const [name, t] of Object.entries(node.inputs)) if (fromX.has(t.id)) inputs[name] = t;
    out.push({ ...node, inputs });
  }
  return out;
}

/** Frees what a node saved for its gradient, except tensors `keep` says are in use. */
export function disposeSaved(node: TapeNode, keep: (t: tf.Tensor) => boolean = () => false): void {
  for (const t of node.saved ?? []) if (t != null && typeof t.dispose === 'function' && !(t instanceof tf.Tensor && keep(t))) t.dispose();
}

/**
 * The backward pass of `tape` from `y` (seeded with ones) to `xs`, freeing as it goes (see the module
 * comment): run it inside the caller's backward scope, which then keeps only the returned gradients.
 * Frees the saved tensors of every node on the path; those of nodes off it first.
 * @returns the gradient of each of `xs`, or undefined where `y` does not depend on it.
 */
export function backpropagate(engine: Pick<EngineLike, 'tidy'>, tape: readonly TapeNode[], xs: readonly tf.Tensor[], y: tf.Tensor): Array<tf.Tensor | undefined> {
  const path = nodesOnPath(tape, xs, y);
  const onPath = new Set(path.map((n) => n.id));
  for (const node of tape) if (!onPath.has(node.id)) disposeSaved(node);
  const xIds = new Set(xs.map((x) => x.id));
  // The accumulated gradient of each tensor id, and how many entries hold each tensor object (a gradient
  // function may return its dy, or one tensor for two inputs).
  const acc = new Map<number, tf.Tensor>();
  const refs = new Map<tf.Tensor, number>();
  const hold = (id: number, t: tf.Tensor): void => { acc.set(id, t); refs.set(t, (refs.get(t) ?? 0) + 1); };
  const held = (t: tf.Tensor): boolean => (refs.get(t) ?? 0) > 0 || t === y;
  const unhold = (id: number): tf.Tensor | undefined => {
    const t = acc.get(id);
    if (t === undefined) return undefined;
    acc.delete(id);
    const n = (refs.get(t) ?? 1) - 1;
    if (n > 0) refs.set(t, n);
    else refs.delete(t);
    return t;
  };
  const release = (t: tf.Tensor | undefined): void => { if (t !== undefined && !held(t)) t.dispose(); };
  hold(y.id, tf.ones(y.shape));
  // The first node (in tape order) that outputs each tensor, i.e. the last the backward pass reaches: a
  // tensor has one producer, this guards against a second.
  const producer = new Map<number, number>();
  path.forEach((node, i) => { for (const o of node.outputs) if (!producer.has(o.id)) producer.set(o.id, i); });
  for (let i = path.length - 1; i >= 0; i--) {
    const node = path[i]!;
    const gradient = node.gradient;
    if (gradient === undefined) throw new Error(`Cannot compute gradient: gradient function not found for ${node.kernelName}.`);
    const dys = node.outputs.map((o) => acc.get(o.id) ?? null);
    const names = Object.keys(node.inputs);
    // One scope per node: the zeros for absent dys and a custom gradient's eager results go with it.
    const dxs = engine.tidy(`backward:${node.kernelName}`, () => {
      // called on the pruned node, as tfjs-core's tape does: a fused conv's gradient reads which inputs are asked
      // for from it (gradientFixes.ts, discardUnaskedConvGradients)
      const fns = gradient.call(node, dys);
      return names.map((name) => {
        const fn = fns[name];
        if (fn === undefined) throw new Error(`Cannot backprop through input ${name}. Available gradients found: ${Object.keys(fns)}.`);
        return engine.tidy(name, fn);
      });
    });
    // The node is done: its outputs' gradients are complete and used, and what it saved is no longer
    // needed. Both go before its input gradients are added in (a dx that is one of them stays).
    const inFlight = (t: tf.Tensor): boolean => held(t) || dxs.includes(t);
    for (const o of node.outputs) {
      if (producer.get(o.id) !== i || xIds.has(o.id)) continue;
      const dy = unhold(o.id);
      if (dy !== undefined && !inFlight(dy)) dy.dispose();
    }
    disposeSaved(node, inFlight);
    names.forEach((name, k) => {
      const dx = dxs[k]!;
      const x = node.inputs[name]!;
      if (dx.dtype !== 'float32') throw new Error(`Error in gradient for op ${node.kernelName}. The gradient of input ${name} must have 'float32' dtype, but has '${dx.dtype}'`);
      if (!tf.util.arraysEqual(dx.shape, x.shape)) throw new Error(`Error in gradient for op ${node.kernelName}. The gradient of input '${name}' has shape '${dx.shape}', which does not match the shape of the input '${x.shape}'`);
      const cur = acc.get(x.id);
      if (cur === undefined) {
        hold(x.id, dx);
      } else {
        const sum = tf.add(cur, dx);
        unhold(x.id);
        hold(x.id, sum);
        if (!dxs.includes(cur, k + 1)) release(cur);
        if (!dxs.includes(dx, k + 1)) release(dx);
      }
    });
  }
  const grads = xs.map((x) => acc.get(x.id));
  for (const [id, t] of [...acc]) if (!xIds.has(id)) { unhold(id); release(t); }
  return grads;
}

/**
 * `tf.variableGrads(f, vars)` (what `optimizer.computeGradients` runs) with the backward pass's tensors
 * freed as soon as they are used (see the module comment). Same values, bit for bit.
 * @returns the loss and the gradient of every trainable variable of `vars` it depends on, by name.
 */
export function leanVariableGrads(f: () => tf.Scalar, vars: readonly tf.Variable[]): { value: tf.Scalar; grads: tf.NamedTensorMap } {
  const engine = tf.engine() as unknown as EngineLike;
  if (engine.state.gradientDepth !== 0) return tf.variableGrads(f, [...vars]) as { value: tf.Scalar; grads: tf.NamedTensorMap };
  const trainable = vars.filter((v) => v.trainable);
  if (trainable.length === 0) throw new Error(`leanVariableGrads: none of the ${vars.length} variables is trainable`);
  let returned: Set<tf.Tensor> = new Set();
  try {
    const y = engine.scopedRun(() => engine.startTape(), () => engine.endTape(), () => engine.tidy('forward', f));
    if (!(y instanceof tf.Tensor)) throw new Error('leanVariableGrads: f must return a tensor');
    const tape = engine.state.activeTape ?? [];
    const grads = engine.tidy('backward', () => backpropagate(engine, tape, trainable, y) as tf.Tensor[]) as Array<tf.Tensor | undefined>;
    returned = new Set(grads.filter((g): g is tf.Tensor => g !== undefined));
    const out: tf.NamedTensorMap = {};
    trainable.forEach((v, i) => { if (grads[i] !== undefined) out[v.name] = grads[i]!; });
    if (returned.size === 0) throw new Error('Cannot find a connection between any variable and the result of the loss function y=f(x).');
    if (y.rank !== 0) throw new Error(`The f passed in variableGrads(f) must return a scalar, but it returned a rank-${y.rank} tensor`);
    return { value: y as tf.Scalar, grads: out };
  } finally {
    // Whatever happened, the tape is spent: free what is left of it (a no-op for what was freed).
    for (const node of engine.state.activeTape ?? []) disposeSaved(node, (t) => returned.has(t));
    engine.state.activeTape = null;
  }
}
