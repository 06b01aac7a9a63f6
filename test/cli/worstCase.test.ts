/**
 * `medrobust evaluate`: the worst case of a saved model on an .npz, printed as a table with the sanity
 * checks' warnings and written as JSON; usage mistakes are one line with exit code 2.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/main.js';
import { runEvaluate } from '../../src/cli/worstCase.js';
import { AbortError } from '../../src/errors.js';
import type { WorstCaseReport } from '../../src/metrics/evaluateWorstCase.js';
import { saveModel } from '../../src/node/modelFiles.js';
import { saveNpz } from '../../src/node/npzFiles.js';
import { useTestBackend } from '../helpers/backends.js';
import { buildSmallNet, trainNet } from '../helpers/smallNet.js';
import { toySingleLabel } from '../helpers/toyData.js';

const root = mkdtempSync(join(tmpdir(), 'medrobust-evaluate-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

let out: string[];
let err: string[];
beforeEach(() => {
  out = [];
  err = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((s) => { out.push(String(s)); return true; });
  vi.spyOn(process.stderr, 'write').mockImplementation((s) => { err.push(String(s)); return true; });
});
afterEach(() => vi.restoreAllMocks());

describe('medrobust evaluate', () => {
  const modelDir = join(root, 'model');
  const dataFile = join(root, 'test.npz');
  beforeAll(async () => {
    await useTestBackend('cpu');
    const train = toySingleLabel({ n: 48, seed: 1 });
    const test = toySingleLabel({ n: 12, seed: 2 });
    const net = buildSmallNet({ inputShape: [8, 8, 1], outputs: 3, kind: 'mlp' });
    trainNet(net, train.images, train.labels, { steps: 80 });
    await saveModel(net, modelDir);
    await saveNpz(dataFile, { images: { dtype: 'float32', shape: [12, 8, 8, 1], data: Float32Array.from(test.images.dataSync()) }, labels: { dtype: 'int32', shape: [12], data: Int32Array.from(test.labels.dataSync()) } });
    net.dispose();
    tf.dispose([train.images, train.labels, test.images, test.labels]);
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
      out = [];
      err = [];
      expect(await main(argv)).toBe(2);
      expect(err.join('').trimEnd().split('\n')).toHaveLength(1);
      expect(err.join('')).toMatch(message);
    }
  });
});
