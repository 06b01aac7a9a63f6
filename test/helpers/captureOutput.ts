/**
 * Captures what the code under test writes to stdout and stderr, per test: registers a `beforeEach` that
 * empties both arrays and mocks `process.stdout.write`/`process.stderr.write` to append to them, and an
 * `afterEach` that restores the streams. Call it at the top of a test file (or a describe block); the
 * returned arrays stay the same objects, so clear them with `clearOutput` between calls inside one test.
 */
import { afterEach, beforeEach, vi } from 'vitest';

export interface CapturedOutput {
  out: string[];
  err: string[];
}

export function captureOutput(): CapturedOutput {
  const captured: CapturedOutput = { out: [], err: [] };
  beforeEach(() => {
    clearOutput(captured);
    vi.spyOn(process.stdout, 'write').mockImplementation((s) => { captured.out.push(String(s)); return true; });
    vi.spyOn(process.stderr, 'write').mockImplementation((s) => { captured.err.push(String(s)); return true; });
  });
  afterEach(() => vi.restoreAllMocks());
  return captured;
}

/** Empties both arrays (between two commands run by one test). */
export function clearOutput(captured: CapturedOutput): void {
  captured.out.length = 0;
  captured.err.length = 0;
}
