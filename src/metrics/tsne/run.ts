/**
 * Cooperative scheduling for long pure-TypeScript jobs: yield to the event loop every ~25 ms and
 * honour an AbortSignal between slices.
 * @internal
 */
import { AbortError } from '../../errors.js';
import type { Progress } from '../../types.js';

export class Slicer {
  private last: number;
  readonly t0: number;
  constructor(private readonly signal: AbortSignal | undefined, private readonly what: string, private readonly sliceMs = 25) {
    this.t0 = now();
    this.last = this.t0;
    this.check();
  }

  check(): void {
    if (this.signal?.aborted) throw new AbortError(`${this.what} was aborted`);
  }

  /** Yields when the current slice is used up; throws AbortError once the signal fires. */
  async maybeYield(): Promise<void> {
    const t = now();
    if (t - this.last < this.sliceMs) return;
    await new Promise<void>((resolve) => setTimeout(resolve, 0));
    this.last = now();
    this.check();
  }

  private readonly phaseStart = new Map<string, number>();

  /** A progress report; the ETA uses the mean time per unit of this phase. */
  progress(phase: string, done: number, total: number, metrics?: Record<string, number>): Progress {
    if (!this.phaseStart.has(phase)) this.phaseStart.set(phase, now());
    const elapsedSeconds = (now() - this.phaseStart.get(phase)!) / 1000;
    const etaSeconds = done > 0 ? (elapsedSeconds / done) * (total - done) : Number.NaN;
    return metrics ? { phase, done, total, elapsedSeconds, etaSeconds, metrics } : { phase, done, total, elapsedSeconds, etaSeconds };
  }
}

function now(): number {
  return typeof performance !== 'undefined' ? performance.now() : Date.now();
}
