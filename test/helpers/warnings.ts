/** Collects the MedrobustWarnings emitted while `run` runs (codes and messages), from a clean slate. */
import { resetWarnings } from '../../src/internal/warnings.js';

export async function captureWarnings(run: () => unknown): Promise<Array<{ code: string; message: string }>> {
  resetWarnings();
  const seen: Array<{ code: string; message: string }> = [];
  const listener = (w: Error & { code?: string }): void => {
    if (w.name === 'MedrobustWarning') seen.push({ code: w.code ?? '', message: w.message });
  };
  process.on('warning', listener);
  try {
    await run();
    await new Promise((r) => setImmediate(r));
  } finally {
    process.off('warning', listener);
    resetWarnings();
  }
  return seen;
}
