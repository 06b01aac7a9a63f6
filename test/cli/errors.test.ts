/**
 * A failed run prints the library's typed error as ONE line (no stack trace) and exits 1: memory
 * budget, non-finite values, an attack outside its budget, a missing or corrupt file. The run itself is
 * replaced by one that throws, so that each error class is checked without staging the failure.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FileError, FormatError, MemoryBudgetError, NonFiniteError, PerturbationBudgetError } from '../../src/errors.js';

const thrown: { error: unknown } = { error: undefined };
vi.mock('../../src/cli/experiment.js', async (importOriginal) => ({
  ...(await importOriginal<object>()),
  runExperiment: async () => { throw thrown.error; },
}));
const { main } = await import('../../src/cli/main.js');

let err: string[];
beforeEach(() => {
  err = [];
  vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  vi.spyOn(process.stderr, 'write').mockImplementation((s) => { err.push(String(s)); return true; });
});
afterEach(() => vi.restoreAllMocks());

describe('typed errors of a run: one line, exit code 1', () => {
  const cases: Array<[string, Error]> = [
    ['MemoryBudgetError', new MemoryBudgetError('advTrain', 4, 2 ** 31, 2 ** 30, 'pass options.microBatch ≤ 2')],
    ['NonFiniteError', new NonFiniteError('advTrain', 'weights of dense/kernel', 'they hold NaN before the update at epoch 0, batch 3')],
    ['PerturbationBudgetError', new PerturbationBudgetError('evaluateRobustness', 'GAP', 0.03, 'linf', 0.5, 7)],
    ['FileError', new FileError('loadNpz', 'x.npz', 'ENOENT', 'loadNpz: x.npz does not exist')],
    ['FormatError', new FormatError('readNpy: the header is truncated\nsecond line of detail')],
  ];
  it.each(cases)('%s', async (_name, error) => {
    thrown.error = error;
    const code = await main(['demo', '--quiet']);
    const text = err.join('');
    expect(code, text).toBe(1);
    expect(text.trimEnd().split('\n'), text).toHaveLength(1);
    expect(text).not.toMatch(/\n\s+at |unexpected error/);
    expect(text.trimEnd()).toBe(`medrobust demo: ${error.message.split('\n')[0]}`);
  });
});
