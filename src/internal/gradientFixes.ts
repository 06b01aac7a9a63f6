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
 * 3. **Less saved for the backward pass** (what PyTorch does not keep either; values unchanged, bit for bit):
 *    - ReLU saves its output instead of its input (`step(y) = step(x)`): the batch-norm output before a ReLU
 *      is then freed after the forward pass (PyTorch's `ReLU(inplace=True)` overwrites it).
 *    - While an input gradient is taken for an attack (`withInputGradientOnly`), batch norm does not save
 *      its input: dx = dy·γ/√(var+ε) does not need it, only the discarded dγ and dvar do.
 *    - Concat, Reshape, Sum and Mean keep only the shapes of their inputs (their gradients read nothing
 *      else): tfjs-core saved the tensors, which kept e.g. every concatenation of a DenseNet block alive.
 *    - tfjs-core's fused conv (every conv followed by batch norm) saves its input, filter and output for
 *      its custom gradient. The output is dropped when the activation is linear (the gradient does not
 *      read it: training steps too); while an attack takes an input gradient, the input is dropped too
 *      when the backend's filter gradient is medrobust's (it returns discarded zeros without reading it).
 * 4. **Less computed for the backward pass**: a fused conv's custom gradient runs with the input or filter
 *    gradient that the tape does not ask for marked discarded ({@link discardUnaskedConvGradients}).
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import { inputGradientOnly, withDiscardedConvGradients } from './inputGradientOnly.js';

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
  // Read by the engine when the forward kernel runs: without x while an attack takes an input gradient.
  get inputsToSave(): string[] {
    return inputGradientOnly() && !stockSaving ? ['mean', 'variance', 'scale'] : ['x', 'mean', 'variance', 'scale'];
  },
  gradFunc: (dy, saved, attrs) => {
    const { varianceEpsilon } = attrs as unknown as tf.FusedBatchNormAttrs;
    const withX = saved.length === 4;
    const [savedX, mean, variance, savedScale] = (withX ? saved : [undefined, ...saved]) as [tf.Tensor | undefined, tf.Tensor, tf.Tensor, tf.Tensor | undefined];
    const scale = isAbsent(savedScale) ? undefined : savedScale;
    const needX = (): tf.Tensor => {
      if (!savedX) throw new Error('medrobust: the batch-norm input was not saved (input-gradient-only mode), so no gradient of its statistics or scale can be taken');
      return savedX;
    };
    const x = { get shape() { return (savedX ?? (dy as tf.Tensor)).shape; } } as tf.Tensor;
    const g = dy as tf.Tensor;
    const axes = tf.backend_util.getReductionAxes(mean.shape, x.shape);
    const reduce = (t: tf.Tensor): tf.Tensor => tf.reshape(axes.length > 0 ? tf.sum(t, axes) : t, mean.shape);
    const invStd = (): tf.Tensor => tf.rsqrt(tf.add(variance, varianceEpsilon));
    const factor = (): tf.Tensor => (scale == null ? invStd() : tf.mul(scale, invStd()));
    const centeredDy = (): tf.Tensor => reduce(tf.mul(tf.sub(needX(), mean), g));
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

let stockSaving = false;

/** tfjs-core's own ReLU gradient (saves the input), used by {@link withStockSaving}. */
const stockReluGradConfig: tf.GradConfig = {
  kernelName: tf.Relu,
  inputsToSave: ['x'],
  gradFunc: (dy, saved) => ({ x: () => tf.mul(dy as tf.Tensor, tf.cast(tf.step((saved as tf.Tensor[])[0]!), 'float32')) }),
};

/**
 * Runs `fn` with tfjs-core's saving behaviour (fix 3 off): for before/after measurements and for tests
 * that the savings change no value.
 */
export function withStockSaving<T>(fn: () => T): T {
  ensureGradientFixes();
  const previous = stockSaving;
  stockSaving = true;
  tf.registerGradient(stockReluGradConfig);
  try {
    return fn();
  } finally {
    stockSaving = previous;
    if (!previous) tf.registerGradient(reluGradConfig);
  }
}

/** The fused ReLU-gradient kernel medrobust registers for wasm (dy·step(y) in one pass). */
const RELU_GRAD_KERNEL = 'MedrobustReluGrad';

/** ReLU's gradient from its output: dy·step(y), equal to tfjs-core's dy·step(x) (y > 0 exactly where x > 0). */
export const reluGradConfig: tf.GradConfig = {
  kernelName: tf.Relu,
  outputsToSave: [true],
  gradFunc: (dy, saved) => {
    const [y] = saved as [tf.Tensor];
    // One pass where the backend has medrobust's fused kernel (src/backend/kernels/nativeOps.ts, wasm): same values.
    if (tf.getKernel(RELU_GRAD_KERNEL, tf.getBackend())) return { x: () => tf.engine().runKernel(RELU_GRAD_KERNEL, { dy: dy as tf.Tensor, y }, {}) as tf.Tensor };
    return { x: () => tf.mul(dy as tf.Tensor, tf.cast(tf.step(y), 'float32')) };
  },
};

/** Kernels whose gradients read only the shapes of what they saved (tfjs-core 4.22's gradient code). */
const SHAPE_ONLY = new Set<string>([tf.Concat, tf.Reshape, tf.Sum, tf.Mean]);

/** Outputs of FusedConv2D kernels with a linear activation (their custom gradient never reads them). */
const linearConvOutputs = new WeakSet<object>();

/**
 * Wraps the active backend's FusedConv2D kernel to remember which outputs had a linear activation
 * (the tape node of tfjs-core's fused conv carries no attributes to tell).
 */
function watchFusedConv(): void {
  const name = tf.getBackend();
  if (!name) return;
  const kernel = tf.getKernel(tf.FusedConv2D, name) as (tf.KernelConfig & { medrobustWatch?: boolean }) | undefined;
  if (!kernel || kernel.medrobustWatch) return;
  tf.unregisterKernel(tf.FusedConv2D, name);
  const inner = kernel.kernelFunc;
  tf.registerKernel({
    ...kernel,
    kernelFunc: ((args: { attrs?: tf.NamedAttrMap }) => {
      const out = (inner as (a: unknown) => tf.TensorInfo | tf.TensorInfo[])(args);
      const activation = args.attrs?.activation;
      if (activation === undefined || activation === null || activation === 'linear') {
        for (const info of Array.isArray(out) ? out : [out]) linearConvOutputs.add(info.dataId);
      }
      return out;
    }) as unknown as tf.KernelFunc,
    medrobustWatch: true,
  } as tf.KernelConfig);
}

/** Whether the active backend's filter gradient is medrobust's (it skips reading x in input-gradient mode). */
function filterGradientSkipsInput(): boolean {
  const name = tf.getBackend();
  return !!name && (tf.getKernel('Conv2DBackpropFilter', name) as { medrobust?: boolean } | undefined)?.medrobust === true;
}

/** A stand-in for a saved tensor of which only the shape is needed. */
function shapeOnly(t: tf.Tensor): tf.Tensor {
  return Object.freeze({ shape: t.shape, dtype: t.dtype, rank: t.rank, size: t.size, isDisposed: true, dispose: (): void => undefined, medrobustShapeOnly: true }) as unknown as tf.Tensor;
}

/** tfjs-core's fused convs: custom gradients that compute the input and the filter gradient eagerly, asked for or not. */
const FUSED_CONVS = new Set<string>(['fusedConv2d__op', 'fusedDepthwiseConv2d__op']);

interface TapeNode {
  inputs: Record<string, unknown>;
  gradient?: (dys: tf.Tensor[]) => Record<string, () => tf.Tensor>;
}

/**
 * Makes the gradient of a fused conv's tape node (the last one on `tape`) compute only what the tape asks
 * for. tfjs-core's custom gradient computes dx and dW whatever is wanted; the engine then calls it on a copy
 * of the node whose inputs are pruned to those the gradient is taken through (tape.ts,
 * `backpropagateGradients` calls `node.gradient(dys)` on that copy). Input "0" is the conv's x, "1" its
 * filter: a missing one runs with its kernel marked discarded (zeros instead of a backward conv). A training
 * step's first conv then skips dx of the images; a generator's training step (GAP) skips dW of the frozen
 * classifier's convs. Values of what is asked for are unchanged.
 */
function discardUnaskedConvGradients(tape: TapeNode[] | undefined): void {
  const node = tape?.[tape.length - 1];
  const gradient = node?.gradient;
  if (!node || !gradient) return;
  node.gradient = function (this: TapeNode | undefined, dys) {
    const inputs = this?.inputs;
    if (!inputs || ('0' in inputs && '1' in inputs)) return gradient(dys);
    return withDiscardedConvGradients({ input: !('0' in inputs), filter: !('1' in inputs) }, () => gradient(dys));
  };
}

interface PatchableEngine {
  state: { activeTape?: TapeNode[] };
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
    if (!stockSaving && kernelName === 'fusedConv2d__op') {
      const saved = rest[2] as Array<tf.Tensor | undefined> | undefined;
      if (Array.isArray(saved) && saved.length >= 3) {
        const skipX = inputGradientOnly() && filterGradientSkipsInput();
        rest[2] = saved.map((t, i) => {
          if (!(t instanceof tf.Tensor)) return t;
          const drop = (i === 2 && linearConvOutputs.has(t.dataId)) || (i === 1 && skipX);
          if (!drop) return t;
          const standIn = shapeOnly(t);
          t.dispose();
          return standIn;
        });
      }
    }
    if (!stockSaving && SHAPE_ONLY.has(kernelName)) {
      const saved = rest[2] as Array<tf.Tensor | undefined> | undefined;
      if (Array.isArray(saved) && saved.length > 0) {
        rest[2] = saved.map((t) => {
          if (!(t instanceof tf.Tensor)) return t;
          const standIn = shapeOnly(t);
          t.dispose();
          return standIn;
        });
      }
    }
    let present = inputs;
    for (const key in inputs) {
      if (inputs[key] == null) {
        present = {};
        for (const k in inputs) if (inputs[k] != null) present[k] = inputs[k];
        break;
      }
    }
    addTapeNode(kernelName, present, ...rest);
    if (!stockSaving && FUSED_CONVS.has(kernelName)) discardUnaskedConvGradients(engine.state.activeTape);
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
  watchFusedConv();
  if (!stockSaving && tf.getGradient(tf.Relu) !== reluGradConfig) tf.registerGradient(reluGradConfig);
  if (tf.getGradient(tf.FusedBatchNorm) === batchNormGradConfig) return false;
  tf.registerGradient(batchNormGradConfig);
  return true;
}
