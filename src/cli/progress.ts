/**
 * One-line progress with elapsed time and ETA on stderr (a carriage-return bar on a TTY, plain lines
 * otherwise, so logs stay readable in CI).
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
  /** Ends the current line. */
  end(message?: string): void;
}

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
  const update = (step: string, done: number, total: number, extra = '') => {
    listener?.(step, done, total);
    if (step !== current) { current = step; stepStart = Date.now(); }
    const elapsed = (Date.now() - stepStart) / 1000;
    const known = Number.isFinite(total) && total > 0;
    const eta = known && done > 0 ? (elapsed / done) * (total - done) : Number.NaN;
    const width = 20;
    const filled = known ? Math.round((width * Math.min(done, total)) / total) : 0;
    const bar = known ? `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}` : `${done}`;
    write(`${step} ${bar} ${clock(elapsed)}${known ? ` ETA ${clock(eta)}` : ''} ${extra}`.trimEnd(), false);
  };
  return {
    update,
    callback: (step) => (p) => update(`${step}${p.phase ? ` ${p.phase}` : ''}`, p.done, p.total, p.metrics ? Object.entries(p.metrics).map(([k, v]) => `${k}=${v.toFixed(3)}`).join(' ') : ''),
    end: (message) => { write(message ?? `${current} done`, true); current = ''; },
  };
}
