/**
 * BatchMatMul for wasm in the one form XNNPACK runs fast: a single `[M, K] @ [K, N]` product without
 * transposes. wasm's own kernel takes a scalar loop for `transposeA`, `transposeB` and batched operands
 * (~10× slower: a dense layer's input and weight gradients use both transposes). Operands are transposed
 * explicitly (a fast rank-3 Transpose), a broadcast right operand folds the batch into rows, and other
 * batched products run one 2-D product per batch entry.
 *
 * With medrobust's kernel module (native.ts) a 2-D product (a batch folded into rows) with one transposed
 * operand, or a small plain one, runs as the module's 1×1 convolutions instead, with no explicit
 * transpose: `a @ b` is a forward conv of `a` (rows as the batch) with `b` as the filter, `a @ bᵀ` the
 * conv's input gradient with `b` as the filter, `aᵀ @ b` its filter gradient with `a` as the input and
 * `b` as dy. A large plain product stays with XNNPACK, whose GEMM is faster there (measured: 1.3 against
 * 2.9 ms for a 32×3136 · 3136×128 dense layer; the transposed forms took the same time either way, and a
 * 32×128 · 128×10 product 0.03 against 0.26 ms).
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import { nativeKernels } from './native.js';
import { nativeConvForward, nativeFilterGrad, nativeInputGrad } from './nativeConv.js';
import { composed, type KernelScope } from './scope.js';

type Info = tf.TensorInfo;

const originals = new Map<string, tf.KernelConfig>();

/** The backend's own BatchMatMul, saved before it is replaced. */
export function saveOriginalMatMul(backendName: string): tf.KernelConfig | undefined {
  const current = tf.getKernel('BatchMatMul', backendName);
  if (current && !(current as { medrobust?: boolean }).medrobust) originals.set(backendName, current);
  return originals.get(backendName);
}

/** Multiply-adds from which a plain product (no transposes) runs on XNNPACK rather than the module. */
const PLAIN_MACS_TO_XNNPACK = 1 << 20;

export function batchMatMul(args: { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend; attrs?: tf.NamedAttrMap }, backendName: string): Info {
  const original = originals.get(backendName);
  if (!original) throw new Error(`medrobust: no stock BatchMatMul saved for ${backendName}`);
  const { a, b } = args.inputs as { a: Info; b: Info };
  const { transposeA, transposeB } = args.attrs as unknown as tf.BatchMatMulAttrs;
  const plain = (s: KernelScope, x: Info, y: Info): Info => {
    const out = original.kernelFunc({ inputs: { a: x, b: y }, backend: s.backend, attrs: { transposeA: false, transposeB: false } }) as Info;
    return s.track(out);
  };
  const native = nativeKernels(args.backend);
  if (native && a.dtype === 'float32' && b.dtype === 'float32' && !(transposeA && transposeB)) {
    const batchA = a.shape.slice(0, -2).reduce((p, q) => p * q, 1);
    const batchB = b.shape.slice(0, -2).reduce((p, q) => p * q, 1);
    const [ra, ca] = a.shape.slice(-2) as [number, number];
    const [rb, cb] = b.shape.slice(-2) as [number, number];
    const outBatch = a.shape.length >= b.shape.length ? a.shape.slice(0, -2) : b.shape.slice(0, -2);
    const largePlain = !transposeA && !transposeB && batchA * ra * ca * cb > PLAIN_MACS_TO_XNNPACK;
    if (batchB === 1 && (!transposeA || batchA === 1) && ra * ca * rb * cb > 0 && !largePlain) {
      const conv = (x: number[], f: number[]) => tf.backend_util.computeConv2DInfo(x as [number, number, number, number], f as [number, number, number, number], 1, 1, 'valid');
      return composed(args.backend, backendName, (s) => {
        let out: Info;
        if (transposeA) {
          // aᵀ @ b: a [k, m], b [k, n] → the filter gradient over k positions.
          out = nativeFilterGrad(native, args.backend, a, b, conv([ra, 1, 1, ca], [1, 1, ca, cb]));
          return s.reshape(s.track(out), [...outBatch, ca, cb]);
        }
        const rows = batchA * ra;
        out = transposeB
          ? nativeInputGrad(native, args.backend, a, b, conv([rows, 1, 1, rb], [1, 1, rb, cb])) // a [rows, k] @ (b [n, k])ᵀ
          : nativeConvForward(native, args.backend, a, b, conv([rows, 1, 1, ca], [1, 1, rb, cb])); // a [rows, k] @ b [k, n]
        return s.reshape(s.track(out), [...outBatch, ra, transposeB ? rb : cb]);
      });
    }
  }
  return composed(args.backend, backendName, (s) => {
    const lastTwo = (x: Info): Info => {
      const r = x.shape.length;
      const perm = [...Array(r).keys()];
      [perm[r - 2], perm[r - 1]] = [perm[r - 1]!, perm[r - 2]!];
      return s.transpose(x, perm);
    };
    const x = transposeA ? lastTwo(a) : a;
    const y = transposeB ? lastTwo(b) : b;
    const batchA = x.shape.slice(0, -2).reduce((p, q) => p * q, 1);
    const batchB = y.shape.slice(0, -2).reduce((p, q) => p * q, 1);
    const [m, k] = x.shape.slice(-2) as [number, number];
    const n = y.shape[y.shape.length - 1]!;
    const outBatch = x.shape.length >= y.shape.length ? x.shape.slice(0, -2) : y.shape.slice(0, -2);
    if (batchB === 1) {
      const out = plain(s, s.reshape(x, [1, batchA * m, k]), s.reshape(y, [1, k, n]));
      return s.reshape(out, [...outBatch, m, n]);
    }
    if (batchA !== batchB || batchA > 64) {
      return s.track(original.kernelFunc({ inputs: { a: x, b: y }, backend: s.backend, attrs: { transposeA: false, transposeB: false } }) as Info);
    }
    const x3 = s.reshape(x, [batchA, m, k]);
    const y3 = s.reshape(y, [batchB, k, n]);
    const parts = Array.from({ length: batchA }, (_, i) =>
      plain(s, s.run('Slice', { x: x3 }, { begin: [i, 0, 0], size: [1, m, k] }), s.run('Slice', { x: y3 }, { begin: [i, 0, 0], size: [1, k, n] })));
    return s.reshape(parts.length === 1 ? parts[0]! : s.run('Concat', parts, { axis: 0 }), [...outBatch, m, n]);
  });
}
