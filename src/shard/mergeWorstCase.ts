import { InvalidArgumentError, ShardMergeError } from '../errors.js';
import { assertShard, shardCoverage, shardPositions, WHOLE } from '../internal/shard.js';
import type { Shard } from '../types.js';
import { entry } from '../internal/scope.js';
import { describeValue } from '../internal/validate.js';
import { summarizeWorstCase, type WorstCaseRecords, type WorstCaseReport, type WorstCaseRow } from '../metrics/evaluateWorstCase.js';
import { canonicalJson } from './mergeShards.js';

const list = (xs: readonly number[]): string => (xs.length > 12 ? `${xs.slice(0, 12).join(', ')}, … (${xs.length} in all)` : xs.join(', '));

/** Interleaves per-shard columns (ordered by shard index) into data-set order, `width` entries per image. */
function weave<T>(parts: readonly (readonly T[])[], total: number, width = 1): T[] {
  const count = parts.length;
  const out: T[] = [];
  for (let p = 0; p < total; p++) {
    const from = parts[p % count]!;
    const at = Math.floor(p / count) * width;
    for (let q = 0; q < width; q++) out.push(from[at + q]!);
  }
  return out;
}

/** Checks the form of one shard's report (its records and per-sample rows); returns its shard. @internal */
export function checkWorstCaseReport(fn: string, value: unknown, arg: string): Shard {
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  const expected = 'a report of evaluateWorstCase with its records';
  if (!isObject(value) || !isObject(value.records) || value.records.kind !== 'worst-case') throw new InvalidArgumentError(fn, arg, expected, describeValue(value));
  const shard = assertShard(fn, `${arg}.shard`, value.shard ?? null);
  const rec = value.records;
  const bad = (what: string, v: unknown): never => {
    throw new InvalidArgumentError(fn, `${arg}.${what}`, `${expected}: ${what} is not as evaluateWorstCase wrote it`, describeValue(v));
  };
  const arrays = (v: unknown): boolean => Array.isArray(v) && v.every(Array.isArray);
  const count = (v: unknown): boolean => typeof v === 'number' && Number.isInteger(v) && v >= 0;
  if (!count(rec.total) || rec.total === 0) bad('records.total', rec.total);
  if (!count(rec.classes) || rec.classes === 0) bad('records.classes', rec.classes);
  if (!count(rec.labelColumns) || rec.labelColumns === 0) bad('records.labelColumns', rec.labelColumns);
  for (const k of ['positions', 'labels', 'clean', 'cleanBroken', 'checkWarnings'] as const) if (!Array.isArray(rec[k])) bad(`records.${k}`, rec[k]);
  if (!(rec.positions as unknown[]).every(count)) bad('records.positions', rec.positions);
  if (!isObject(rec.settings) || !Array.isArray(rec.settings.epsilons) || !Array.isArray(rec.settings.attacks) || !rec.settings.attacks.every((a) => isObject(a) && typeof a.name === 'string' && typeof a.attack === 'string')) bad('records.settings', rec.settings);
  const st = rec.settings as Record<string, unknown>;
  if (!['single-label', 'multi-label'].includes(st.task as string) || !['linf', 'l2'].includes(st.norm as string) || !['macro', 'micro', 'weighted'].includes(st.aucAverage as string) || typeof st.threshold !== 'number') bad('records.settings', st);
  const epsilons = ((rec.settings as { epsilons: unknown[] }).epsilons).length;
  const attacks = ((rec.settings as { attacks: unknown[] }).attacks).length;
  if (!arrays(rec.worst) || (rec.worst as unknown[]).length !== epsilons) bad('records.worst', rec.worst);
  if (!arrays(rec.tallies) || (rec.tallies as unknown[][]).length !== epsilons || !(rec.tallies as unknown[][]).every((t) => t.length === attacks && t.every((x) => isObject(x) && ['attacked', 'broken', 'queries', 'seconds'].every((k) => typeof x[k] === 'number')))) bad('records.tallies', rec.tallies);
  if (!Array.isArray(value.eligible)) bad('eligible', value.eligible);
  if (typeof value.seconds !== 'number') bad('seconds', value.seconds);
  if (!Array.isArray(value.rows) || value.rows.length !== epsilons) bad('rows', value.rows);
  (value.rows as unknown[]).forEach((row, e) => {
    const samples = isObject(row) ? row.samples : undefined;
    if (!isObject(row) || typeof row.seconds !== 'number' || !isObject(samples) || !['broken', 'brokenBy', 'margin', 'queries'].every((k) => Array.isArray(samples[k]))) bad(`rows[${e}]`, row);
  });
  return shard;
}

/**
 * Merges the reports of all shards of one {@link evaluateWorstCase} run (`options.shard`) into the
 * whole data set's report, recomputing every figure from the per-sample records: robust accuracy per
 * ε, what broke each image, each attack's share and queries, and the AUROC, AP and Hamming loss over
 * all images' worst-case logits (never an average of the shards' figures). The result equals the
 * unsharded report (same backend and seed) except for the timings, which are summed.
 *
 * It refuses, with a {@link ShardMergeError} naming the shards, when the shard counts differ, the
 * settings differ (ε, attacks, seed, goal...), a shard is given twice or is missing, or a shard's
 * records are not exactly its part of the data set.
 *
 * @param reports - one {@link WorstCaseReport} per shard, in any order.
 * @returns the whole data set's {@link WorstCaseReport} (`shard` `{ index: 0, count: 1 }`).
 * @throws {InvalidArgumentError} for an empty list or a value that is not a worst-case report.
 * @throws {ShardMergeError} when the reports do not make one run's complete, consistent set.
 *
 * @example
 * ```ts
 * const parts = [];
 * for (let index = 0; index < 3; index++) {
 *   parts.push(await evaluateWorstCase(model, batches, { epsilon: 8 / 255, seed: 1, shard: { index, count: 3 } }));
 * }
 * const report = mergeWorstCase(parts); // equals evaluateWorstCase(model, batches, { epsilon: 8 / 255, seed: 1 })
 * console.log(report.rows[0].robustAccuracy);
 * ```
 * @category Sharding
 */
export function mergeWorstCase(reports: readonly WorstCaseReport[]): WorstCaseReport {
  return entry('mergeWorstCase', () => mergeWorstCaseReports('mergeWorstCase', reports));
}

/**
 * {@link mergeWorstCase} under another function's name (mergeShards, for a worst-case result of shard
 * files); `label` names shard k in messages about its records. @internal
 */
export function mergeWorstCaseReports(fn: string, reports: readonly WorstCaseReport[], label?: (k: number) => string): WorstCaseReport {
  {
    if (!Array.isArray(reports) || reports.length === 0) throw new InvalidArgumentError(fn, 'reports', 'a non-empty array of evaluateWorstCase reports', describeValue(reports));
    const specs = reports.map((r: unknown, i) => checkWorstCaseReport(fn, r, `reports[${i}]`));
    const name = (i: number): string => `shard ${specs[i]!.index}/${specs[i]!.count}`;
    const count = specs[0]!.count;
    const otherCount = specs.map((s, i) => (s.count === count ? -1 : i)).filter((i) => i >= 0);
    if (otherCount.length > 0) {
      throw new ShardMergeError(fn, 'count', `the reports were made for different shard counts: ${name(0)} is one of ${count}, but ${otherCount.map(name).join(', ')} ${otherCount.length === 1 ? 'is' : 'are'} not; merge the shards of one run`, { shards: otherCount.map((i) => specs[i]!.index) });
    }
    const identity = (r: WorstCaseReport): string => canonicalJson({ settings: r.records.settings, classes: r.records.classes, labelColumns: r.records.labelColumns });
    const reference = identity(reports[0]!);
    const differing = reports.map((r, i) => (identity(r) === reference ? -1 : i)).filter((i) => i >= 0);
    if (differing.length > 0) {
      throw new ShardMergeError(fn, 'config', `${differing.map(name).join(', ')} ${differing.length === 1 ? 'was' : 'were'} made with different settings than ${name(0)} (ε, attacks, seed, goal, clip or the model's outputs); rerun ${differing.length === 1 ? 'it' : 'them'} with the run's settings, or merge the shards of one run`, { shards: differing.map((i) => specs[i]!.index) });
    }
    const { duplicated, missing } = shardCoverage(specs.map((s) => s.index), count);
    if (duplicated.length > 0) {
      throw new ShardMergeError(fn, 'duplicated', `shard${duplicated.length === 1 ? '' : 's'} ${list(duplicated)} of ${count} ${duplicated.length === 1 ? 'is' : 'are'} given more than once; pass each shard once${missing.length ? ` (and shards ${list(missing)} are missing)` : ''}`, { duplicated, missing });
    }
    if (missing.length > 0) {
      throw new ShardMergeError(fn, 'missing', `shard${missing.length === 1 ? '' : 's'} ${list(missing)} of ${count} ${missing.length === 1 ? 'is' : 'are'} missing; run ${missing.length === 1 ? 'it' : 'them'} (shard { index, count: ${count} }) and merge again`, { missing });
    }

    const parts: WorstCaseReport[] = specs.map((s, i) => [s.index, i] as const).sort((a, b) => a[0] - b[0]).map(([, i]) => reports[i]!);
    const first: WorstCaseRecords = parts[0]!.records;
    const total = first.total;
    const epsilons = first.settings.epsilons.length;
    parts.forEach((r, k) => {
      const rec = r.records;
      const bad = (what: string): ShardMergeError => new ShardMergeError(fn, 'records', `${label ? label(k) : `shard ${k}/${count}`} ${what}; rerun the shard`, { shards: [k] });
      if (rec.total !== total) throw bad(`saw ${rec.total} images in the data set, shard 0 saw ${total} (the shards read different data)`);
      const size = total > k ? Math.floor((total - 1 - k) / count) + 1 : 0;
      if (rec.positions.length !== size) throw bad(`holds ${rec.positions.length} images, not the ${size} positions p ≡ ${k} (mod ${count}) of ${total}`);
      const expected = shardPositions(total, { index: k, count });
      const m = expected.length;
      if (rec.positions.length !== m || rec.positions.some((p, j) => p !== expected[j])) throw bad(`holds ${rec.positions.length} images that are not exactly its ${m} positions p ≡ ${k} (mod ${count}) of ${total}`);
      const sizes = [rec.labels.length / rec.labelColumns, rec.clean.length / rec.classes, rec.cleanBroken.length, r.eligible.length, ...rec.worst.map((w) => w.length / rec.classes),
        ...r.rows.flatMap((row) => [row.samples.broken.length, row.samples.brokenBy.length, row.samples.margin.length, row.samples.queries.length])];
      if (rec.worst.length !== epsilons || r.rows.length !== epsilons || sizes.some((l) => l !== m)) throw bad(`has records of ${[...new Set(sizes)].join('/')} images for its ${m} positions`);
    });
    const { classes, labelColumns } = first;
    const records: WorstCaseRecords = {
      ...first,
      total,
      positions: Array.from({ length: total }, (_, p) => p),
      labels: weave(parts.map((r) => r.records.labels), total, labelColumns),
      clean: weave(parts.map((r) => r.records.clean), total, classes),
      cleanBroken: weave(parts.map((r) => r.records.cleanBroken), total),
      worst: first.worst.map((_, e) => weave(parts.map((r) => r.records.worst[e]!), total, classes)),
      tallies: first.tallies.map((row, e) => row.map((_, a) => {
        const t = { attacked: 0, broken: 0, queries: 0, seconds: 0 };
        for (const r of parts) {
          const x = r.records.tallies[e]![a]!;
          t.attacked += x.attacked;
          t.broken += x.broken;
          t.queries += x.queries;
          t.seconds += x.seconds;
        }
        return t;
      })),
    };
    const samples: WorstCaseRow['samples'][] = first.worst.map((_, e) => ({
      broken: weave(parts.map((r) => r.rows[e]!.samples.broken), total),
      brokenBy: weave(parts.map((r) => r.rows[e]!.samples.brokenBy), total),
      margin: weave(parts.map((r) => r.rows[e]!.samples.margin), total),
      queries: weave(parts.map((r) => r.rows[e]!.samples.queries), total),
    }));
    // The warnings recomputed from the merged figures read as the unsharded run's (they are about the evaluation).
    return summarizeWorstCase('evaluateWorstCase', {
      records,
      eligible: weave(parts.map((r) => r.eligible), total),
      shard: WHOLE,
      samples,
      rowSeconds: first.worst.map((_, e) => parts.reduce((sum, r) => sum + r.rows[e]!.seconds, 0)),
      seconds: parts.reduce((sum, r) => sum + r.seconds, 0),
    });
  }
}
