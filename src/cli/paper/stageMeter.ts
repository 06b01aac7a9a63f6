/**
 * Time and peak memory of each stage of `medrobust reproduce`: wall time, the process's peak resident
 * memory during the stage (Linux resets the high-water mark through /proc/self/clear_refs; elsewhere
 * the process's peak so far), and on wasm the peak of the heap's tensor allocations during the stage
 * and the heap's size after it (the heap only grows, to at most 4 GiB).
 * @internal
 */
import { readFileSync, writeFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { wasmHeapBytes, wasmLiveBytes } from '../../internal/memory.js';

/** One stage's figures. */
export interface StageRecord {
  stage: string;
  seconds: number;
  /** Peak resident memory of the process during the stage (MiB). */
  peakRssMiB: number;
  /** Whether `peakRssMiB` is the stage's own peak (false: the process's peak so far). */
  rssOfStage: boolean;
  /** wasm: the largest bytes held by tensors in the heap during the stage (MiB). */
  peakTensorMiB?: number;
  /** wasm: the heap's size after the stage (MiB). */
  heapMiB?: number;
}

const MIB = 2 ** 20;

function statusKiB(key: string): number | undefined {
  try {
    const line = readFileSync('/proc/self/status', 'utf8').split('\n').find((l) => l.startsWith(key));
    const m = line ? /(\d+) kB/.exec(line) : null;
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Resets the kernel's peak-RSS mark to the current RSS; false where that is not possible. */
function resetRssPeak(): boolean {
  try {
    writeFileSync('/proc/self/clear_refs', '5');
    return statusKiB('VmHWM:') !== undefined;
  } catch {
    return false;
  }
}

function heapMeter(): { live: number; peak: number } | undefined {
  try {
    return (tf.backend() as unknown as { wasm?: { medrobustHeapMeter?: { live: number; peak: number } } }).wasm?.medrobustHeapMeter;
  } catch {
    return undefined;
  }
}

const mib = (bytes: number) => Math.round(bytes / MIB);

/** Formats a record as one line. */
export function formatStage(r: StageRecord): string {
  const wasm = r.heapMiB === undefined ? '' : `, wasm heap ${r.heapMiB} MiB (tensors peak ${r.peakTensorMiB} MiB)`;
  return `stage ${r.stage}: ${r.seconds.toFixed(1)} s, peak RSS ${r.peakRssMiB} MiB${r.rssOfStage ? '' : ' (process so far)'}${wasm}`;
}

/** Records each stage it runs and reports it through `print`. */
export class StageMeter {
  readonly records: StageRecord[] = [];
  constructor(private readonly print: (line: string) => void) {}

  /** Runs `body` as the stage `stage`, recording its time and memory even when it throws. */
  async run<T>(stage: string, body: () => Promise<T> | T): Promise<T> {
    const ofStage = resetRssPeak();
    const meter = heapMeter();
    // The tensor peak of this stage: start the meter's mark at what is live now.
    const outerPeak = meter?.peak ?? 0;
    if (meter) meter.peak = meter.live;
    const t0 = performance.now();
    try {
      return await body();
    } finally {
      const seconds = (performance.now() - t0) / 1000;
      const hwm = statusKiB('VmHWM:');
      const peakRssMiB = hwm !== undefined ? Math.round(hwm / 1024) : mib(process.resourceUsage().maxRSS * 1024);
      const record: StageRecord = { stage, seconds: +seconds.toFixed(2), peakRssMiB, rssOfStage: ofStage };
      const heap = wasmHeapBytes();
      if (heap !== undefined) {
        const now = heapMeter();
        record.heapMiB = mib(heap);
        record.peakTensorMiB = mib(now?.peak ?? wasmLiveBytes() ?? 0);
        if (now) now.peak = Math.max(outerPeak, now.peak);
      }
      this.records.push(record);
      this.print(formatStage(record));
    }
  }
}
