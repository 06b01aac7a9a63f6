/**
 * `medrobust evaluate --shard i/n|auto` writes a checksummed shard file per shard; `medrobust merge`
 * merges them into the unsharded run's report (every figure from the per-sample records).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/main.js';
import type { WorstCaseReport } from '../../src/metrics/evaluateWorstCase.js';
import { useTestBackend } from '../helpers/backends.js';
import { saveToyEvaluation } from '../helpers/savedToyModel.js';
import { captureOutput } from '../helpers/captureOutput.js';

const root = mkdtempSync(join(tmpdir(), 'medrobust-evaluate-shard-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const output = captureOutput();
const { out, err } = output;

/** The figures of a report as JSON writes them (NaN as null in the plain report, as "NaN" in merged.json). */
const figures = (r: WorstCaseReport): unknown => JSON.parse(JSON.stringify({
  n: r.n, counted: r.counted, clean: r.clean, eligible: r.eligible, warnings: r.warnings.map((w) => w.code),
  rows: r.rows.map((row) => ({ epsilon: row.epsilon, robustAccuracy: row.robustAccuracy, robustCount: row.robustCount, pgdAccuracy: row.pgdAccuracy, gap: row.gap, auc: row.auc, samples: row.samples, attacks: row.attacks.map((a) => [a.name, a.attacked, a.broken, a.robustAccuracy, a.meanQueries]) })),
}));

describe('medrobust evaluate --shard and medrobust merge', () => {
  const modelDir = join(root, 'model');
  const dataFile = join(root, 'test.npz');
  const base = ['evaluate', '--model', modelDir, '--data', dataFile, '--epsilon', '20,80', '--version', 'cheap', '--backend', 'cpu', '--quiet', '--batch', '4'];
  beforeAll(async () => {
    await useTestBackend('cpu');
    await saveToyEvaluation(modelDir, dataFile, 11);
  });

  it('three shards (one by JOB_COMPLETION_INDEX) merge into the unsharded report; a missing shard is refused', async () => {
    const whole = join(root, 'whole.json');
    expect(await main([...base, '--out', whole]), err.join('')).toBe(0);
    const reference = JSON.parse(readFileSync(whole, 'utf8')) as WorstCaseReport;
    const shards = join(root, 'shards');
    for (const i of [0, 1]) {
      expect(await main([...base, '--shard', `${i}/3`, '--out', shards]), err.join('')).toBe(0);
      expect(out.join('')).toContain(`shard ${i}/3: ${i === 0 ? 4 : 4} of 11 images`);
    }
    // Shard 2 is missing: refused, naming it.
    expect(await main(['merge', shards, '--out', join(root, 'partial')])).not.toBe(0);
    expect(err.join('')).toMatch(/shard 2 of 3 is missing/);
    vi.stubEnv('JOB_COMPLETION_INDEX', '2');
    vi.stubEnv('MEDROBUST_SHARD_COUNT', '3');
    try {
      expect(await main([...base, '--shard', 'auto', '--out', shards]), err.join('')).toBe(0);
    } finally {
      vi.unstubAllEnvs();
    }
    expect(out.join('')).toContain('shard 2/3: 3 of 11 images');
    out.length = 0;
    expect(await main(['merge', shards, '--out', join(root, 'merged')]), err.join('')).toBe(0);
    expect(out.join('')).toMatch(/## worst-case/);
    expect(out.join('')).toMatch(/\| 80\.00 \|/);
    const merged = JSON.parse(readFileSync(join(root, 'merged.json'), 'utf8'), (_k, v: unknown) => (v === 'NaN' ? null : v)) as { shards: number; results: Record<string, WorstCaseReport> };
    expect(merged.shards).toBe(3);
    expect(figures(merged.results['worst-case']!)).toEqual(figures(reference));
    // A shard with other settings (another seed) is refused as a different configuration.
    const other = join(root, 'other');
    expect(await main([...base, '--shard', '1/3', '--seed', '2', '--out', other]), err.join('')).toBe(0);
    err.length = 0;
    expect(await main(['merge', join(shards, 'shard-0-of-3.json'), join(other, 'shard-1-of-3.json'), join(shards, 'shard-2-of-3.json'), '--out', join(root, 'bad')])).not.toBe(0);
    expect(err.join('')).toMatch(/different configuration/);
  });

  it('rejects a bad --shard with a usage error', async () => {
    expect(await main([...base, '--shard', '3/3'])).toBe(2);
    expect(err.join('')).toMatch(/--shard 3\/3: the index must be below the count/);
  });
});
