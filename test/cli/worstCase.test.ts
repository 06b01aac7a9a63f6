/**
 * `medrobust evaluate`: the worst case of a saved model on an .npz, printed as a table with the sanity
 * checks' warnings and written as JSON; usage mistakes are one line with exit code 2.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { runEvaluate } from '../../src/cli/worstCase.js';
import { AbortError } from '../../src/errors.js';
import type { WorstCaseReport } from '../../src/metrics/evaluateWorstCase.js';
import { useTestBackend } from '../helpers/backends.js';
import { saveToyEvaluation } from '../helpers/savedToyModel.js';
import { captureOutput, clearOutput } from '../helpers/captureOutput.js';

const root = mkdtempSync(join(tmpdir(), 'medrobust-evaluate-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const output = captureOutput();
const { out, err } = output;

describe('medrobust evaluate', () => {
  const modelDir = join(root, 'model');
  const dataFile = join(root, 'test.npz');
  beforeAll(async () => {
    await useTestBackend('cpu');
    await saveToyEvaluation(modelDir, dataFile, 12);
  });

  it('prints clean, PGD-10 and worst-case accuracy with the gap, and writes the report', async () => {
    const json = join(root, 'report.json');
    const code = await main(['evaluate', '--model', modelDir, '--data', dataFile, '--epsilon', '20,80', '--version', 'cheap', '--backend', 'cpu', '--quiet', '--out', json]);
    const text = out.join('');
    expect(code, err.join('')).toBe(0);
    expect(text).toMatch(/12 images, single-label, L∞, cheap ensemble: pgd-10, apgd-ce, apgd-dlr/);
    expect(text).toMatch(/\| epsilon \| PGD-10 \| worst case \| gap \| AUROC \| broken by \|/);
    expect(text).toMatch(/\| 0 \(clean\) \|/);
    expect(text).toMatch(/\| 80\/255 \|/);
    const report = JSON.parse(readFileSync(json, 'utf8')) as WorstCaseReport;
    expect(report.n).toBe(12);
    expect(report.rows.map((r) => r.epsilon)).toEqual([20 / 255, 80 / 255]);
    for (const r of report.rows) expect(r.robustAccuracy).toBeLessThanOrEqual(r.pgdAccuracy);
    expect(report.rows[1]!.robustAccuracy).toBeLessThan(report.clean.accuracy);
  });

  it('stops on the run\'s signal (main\'s Ctrl-C) freeing the model, the data and every tensor', async () => {
    const controller = new AbortController();
    controller.abort();
    const before = tf.memory().numTensors;
    await expect(runEvaluate({ model: modelDir, data: dataFile, epsilon: '8', backend: 'cpu', quiet: true }, [], controller.signal)).rejects.toBeInstanceOf(AbortError);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('says what is wrong in one line, with exit code 2', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['evaluate', '--data', dataFile, '--epsilon', '8'], /--model <dir> is required/],
      [['evaluate', '--model', modelDir, '--data', dataFile], /--epsilon <list> is required/],
      [['evaluate', '--model', modelDir, '--data', dataFile, '--epsilon', '8,x'], /--epsilon must be numbers >= 0 separated by commas, received '8,x'/],
      [['evaluate', '--model', modelDir, '--data', dataFile, '--epsilon', '8', '--version', 'plus'], /--version must be standard or cheap/],
      [['evaluate', '--model', join(root, 'nothing'), '--data', dataFile, '--epsilon', '8'], /--model: no folder/],
      [['evaluate', '--model', modelDir, '--data', dataFile, '--epsilon', '8', '--epsilons', '2'], /unknown option '--epsilons'; did you mean '--epsilon'\?/],
    ];
    for (const [argv, message] of cases) {
      clearOutput(output);
      expect(await main(argv)).toBe(2);
      expect(err.join('').trimEnd().split('\n')).toHaveLength(1);
      expect(err.join('')).toMatch(message);
    }
  });
});
