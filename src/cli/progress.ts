/**
 * One-line progress with elapsed time and ETA on stderr (a carriage-return bar on a TTY, plain lines
 * otherwise, so logs stay readable in CI). Epochs are shown 1-based (`epoch 1/6`) everywhere.
 * @internal
 */
import type { Progress } from '../types.js';

function clock(seconds: number): string {
  if (!Number.isFinite(seconds)) return '--:--';
  const s = Math.max(0, Math.round(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

export interface ProgressLine {
  /** Reports `done` of `total` units of the current step. */
  update(step: string, done: number, total: number, extra?: string): void;
  /** Adapts a library `onProgress` callback to this line. */
  callback(step: string): (p: Progress) => void;
  /**
   * Adapts the training loop's `onProgress` (advTrain and the defenses): a bar over the whole run's
   * batches with `epoch e/E` (1-based) and the last epoch's loss.
   */
  training(step: string, epochs: number, batchesPerEpoch: number): (p: Progress) => void;
  /**
   * Adapts trainGap's `onProgress` for a source of `stepsPerEpoch` batches: a bar over all
   * `epochs × stepsPerEpoch` steps with an ETA, and `epoch e/E` (1-based).
   */
  gap(step: string, epochs: number, stepsPerEpoch: number): (p: Progress) => void;
  /** Ends the current line. */
  end(message?: string): void;
}

const metricText = (metrics: Progress['metrics'], skip: readonly string[] = []) =>
  metrics ? Object.entries(metrics).filter(([k]) => !skip.includes(k)).map(([k, v]) => `${k}=${v.toFixed(3)}`).join(' ') : '';

export function progressLine(stream: NodeJS.WriteStream = process.stderr, quiet = false, listener?: (step: string, done: number, total: number) => void): ProgressLine {
  const tty = Boolean(stream.isTTY);
  let stepStart = Date.now();
  let current = '';
  let lastPlain = 0;
  const write = (text: string, final: boolean) => {
    if (quiet) return;
    if (tty) stream.write(`\r\x1b[2K${text}${final ? '\n' : ''}`);
    else if (final || Date.now() - lastPlain > 5000) {
      stream.write(`${text}\n`);
      lastPlain = Date.now();
    }
  };
  const draw = (step: string, done: number, total: number, extra: string, etaSeconds?: number) => {
    // a new step's first update is always written (a log then shows every step), later ones every 5 s
    const first = step !== current;
    if (first) { current = step; stepStart = Date.now(); }
    const elapsed = (Date.now() - stepStart) / 1000;
    const known = Number.isFinite(total) && total > 0;
    const eta = etaSeconds ?? (known && done > 0 ? (elapsed / done) * (total - done) : Number.NaN);
    const width = 20;
    const filled = known ? Math.round((width * Math.min(done, total)) / total) : 0;
    const bar = known ? `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}` : `${done}`;
    write(`${step} ${bar} ${clock(elapsed)}${known ? ` ETA ${clock(eta)}` : ''} ${extra}`.trimEnd(), first && !tty);
  };
  const update = (step: string, done: number, total: number, extra = '') => {
    listener?.(step, done, total);
    draw(step, done, total, extra);
  };
  return {
    update,
    callback: (step) => (p) => update(`${step}${p.phase ? ` ${p.phase}` : ''}`, p.done, p.total, metricText(p.metrics)),
    training: (step, epochs, batchesPerEpoch) => {
      let lastLoss = '';
      let first: { at: number; done: number } | undefined;
      return (p) => {
        listener?.(`${step} ${p.phase}`, p.done, p.total);
        if (p.phase === 'epoch') {
          lastLoss = [p.metrics?.loss !== undefined ? `loss=${p.metrics.loss.toFixed(3)}` : '', metricText(p.metrics, ['loss'])].join(' ').trim();
          return;
        }
        if (p.phase !== 'batch') return;
        const epoch = (p.metrics?.epoch ?? 0) + 1;
        const done = (epoch - 1) * batchesPerEpoch + p.done;
        const total = epochs * batchesPerEpoch;
        // The ETA counts only the batches of this call, so a resumed run's finished ones do not skew it.
        first ??= { at: Date.now(), done: done - 1 };
        const rate = (Date.now() - first.at) / 1000 / Math.max(1, done - first.done);
        draw(step, done, total, `epoch ${epoch}/${epochs} ${lastLoss}`.trimEnd(), rate * (total - done));
      };
    },
    gap: (step, epochs, stepsPerEpoch) => {
      let epoch = 1;
      let last = '';
      return (p) => {
        listener?.(`${step} ${p.phase}`, p.done, p.total);
        if (p.phase === 'epoch') {
          last = metricText(p.metrics);
          epoch = Math.min(epochs, p.done + 1);
          return;
        }
        const total = epochs * stepsPerEpoch;
        epoch = Math.min(epochs, Math.floor((p.done - 1) / stepsPerEpoch) + 1);
        draw(step, p.done, total, `epoch ${epoch}/${epochs} ${last}`.trimEnd());
      };
    },
    end: (message) => { write(message ?? `${current} done`, true); current = ''; },
  };
}
