/**
 * The peak bytes of distinct tensor buffers held above a starting point. On wasm: the heap meter that
 * installHeapGuard adds (every tensor's malloc and free, exact). Elsewhere: the engine's tensors counted
 * once per data buffer (tfjs-core's `numBytes` counts a buffer again for every tensor sharing it: a
 * reshape, a tape's saved clone).
 */
import * as tf from '@tensorflow/tfjs-core';

interface EngineHooks {
  trackTensor: (a: tf.Tensor, backend?: unknown) => void;
  disposeTensor: (a: tf.Tensor) => void;
}

interface HeapMeter { live: number; peak: number }

/** Starts measuring; the returned function stops and returns the peak above the start (bytes). */
export function startPeakMeter(): () => number {
  const meter = (tf.backend() as unknown as { wasm?: { medrobustHeapMeter?: HeapMeter } }).wasm?.medrobustHeapMeter;
  if (meter) {
    const start = meter.live;
    const outer = meter.peak;
    meter.peak = start;
    return () => {
      const peak = meter.peak - start;
      meter.peak = Math.max(outer, meter.peak);
      return peak;
    };
  }
  const engine = tf.engine() as unknown as EngineHooks & { state: { tensorInfo: WeakMap<object, { bytes: number }> } };
  const { trackTensor, disposeTensor } = engine;
  const info = engine.state.tensorInfo;
  // A buffer is born when the engine first tracks its data id and dies when the engine forgets it (the
  // backend's reference count reached 0), whether it was made before the start or after.
  let live = 0;
  let peak = 0;
  engine.trackTensor = function (this: EngineHooks, a, backend) {
    const born = !info.has(a.dataId);
    trackTensor.call(this, a, backend);
    if (born && info.has(a.dataId)) {
      live += info.get(a.dataId)!.bytes;
      peak = Math.max(peak, live);
    }
  };
  engine.disposeTensor = function (this: EngineHooks, a) {
    const bytes = info.get(a.dataId)?.bytes;
    disposeTensor.call(this, a);
    if (bytes !== undefined && !info.has(a.dataId)) live -= bytes;
  };
  return () => {
    engine.trackTensor = trackTensor;
    engine.disposeTensor = disposeTensor;
    return peak;
  };
}

/** The peak bytes of distinct tensor buffers `body` holds above its start. */
export function peakBufferBytes(body: () => void): number {
  const stop = startPeakMeter();
  let peak = 0;
  try {
    body();
  } finally {
    peak = stop();
  }
  return peak;
}
