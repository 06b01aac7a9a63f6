/** Progress lines: epochs counted from 1 everywhere, a whole-run bar with an ETA for training and for GAP. */
import { describe, expect, it } from 'vitest';
import { progressLine } from '../../src/cli/progress.js';
import type { Progress } from '../../src/types.js';

function tty() {
  const lines: string[] = [];
  const stream = { isTTY: true, write: (s: string) => { lines.push(s.replace(/\r\x1b\[2K/g, '').trim()); return true; } } as unknown as NodeJS.WriteStream;
  return { stream, lines };
}

const p = (phase: string, done: number, total: number, metrics?: Record<string, number>): Progress => ({ phase, done, total, elapsedSeconds: 0, etaSeconds: Number.NaN, ...(metrics ? { metrics } : {}) });

describe('progressLine', () => {
  it('training: epoch e/E counted from 1, a bar over all batches of the run, the last epoch\'s loss', () => {
    const { stream, lines } = tty();
    const heard: string[] = [];
    const on = progressLine(stream, false, (step, done, total) => heard.push(`${step} ${done}/${total}`)).training('train lesion', 3, 4);
    // The loop reports 0-based epochs in metrics.epoch and a NaN batch total in its first epoch.
    on(p('batch', 1, Number.NaN, { epoch: 0 }));
    on(p('batch', 4, Number.NaN, { epoch: 0 }));
    on(p('epoch', 1, 3, { loss: 0.6931 }));
    on(p('batch', 2, 4, { epoch: 1 }));
    expect(lines[0]).toMatch(/^train lesion \[.{20}\] 1\/12 0:00 ETA \d+:\d\d epoch 1\/3$/);
    expect(lines[1]).toMatch(/ 4\/12 .* epoch 1\/3$/);
    expect(lines[2]).toMatch(/ 6\/12 .* epoch 2\/3 loss=0\.693$/);
    expect(lines.join('\n')).not.toMatch(/epoch 0|epoch=/);
    expect(heard).toEqual(['train lesion batch 1/NaN', 'train lesion batch 4/NaN', 'train lesion epoch 1/3', 'train lesion batch 2/4']);
  });

  it('GAP: a total of epochs × steps and an ETA, although trainGap reports no total for a batch source', () => {
    const { stream, lines } = tty();
    const on = progressLine(stream).gap('GAP lesion m=8', 2, 5);
    on(p('step', 1, Number.NaN));
    on(p('step', 5, Number.NaN));
    on(p('epoch', 1, 2, { foolingRate: 0.25 }));
    on(p('step', 6, Number.NaN));
    expect(lines[0]).toMatch(/^GAP lesion m=8 \[.{20}\] 1\/10 0:00 ETA \d+:\d\d epoch 1\/2$/);
    expect(lines[1]).toMatch(/ 5\/10 .* epoch 1\/2$/);
    expect(lines[2]).toMatch(/ 6\/10 .* ETA \d+:\d\d epoch 2\/2 foolingRate=0\.250$/);
  });

  it('is silent when quiet, and writes plain lines (at most one per 5 s, plus final ones) off a terminal', () => {
    const { stream, lines } = tty();
    const quiet = progressLine(stream, true);
    quiet.update('x', 1, 2);
    quiet.end('done');
    expect(lines).toEqual([]);
    const plain: string[] = [];
    const log = progressLine({ isTTY: false, write: (s: string) => { plain.push(s); return true; } } as unknown as NodeJS.WriteStream);
    log.update('x', 1, 3);
    log.update('x', 2, 3);
    log.end('x finished');
    expect(plain).toEqual([expect.stringMatching(/^x \[.*\] 1\/3 /), 'x finished\n']);
  });
});
