import { InvalidArgumentError, ShardMergeError } from '../errors.js';
import { summarizeCorruptions, type CorruptionSamples, type CorruptionTable } from '../corruptions/evaluateCorruptions.js';
import { summarizePerturbations, type PerturbationSamples, type PerturbationTable } from '../corruptions/evaluatePerturbations.js';
import { assertShard, shardCoverage, shardPositions, WHOLE } from '../internal/shard.js';
import { entry } from '../internal/scope.js';
import { describeValue } from '../internal/validate.js';
import { summarizeRobustness, type RobustnessReport, type RobustnessSamples } from '../metrics/evaluateRobustness.js';
import type { WorstCaseReport } from '../metrics/evaluateWorstCase.js';
import { checkWorstCaseReport, mergeWorstCaseReports } from './mergeWorstCase.js';
import type { Shard } from '../types.js';

/**
 * A report of a shardable evaluation: {@link evaluateRobustness}, {@link evaluateCorruptions} or
 * {@link evaluatePerturbations}, each with its per-sample records in `samples`, or
 * {@link evaluateWorstCase}, with its per-sample records in `records`.
 * @category Sharding
 */
export type ShardableReport = RobustnessReport | CorruptionTable | PerturbationTable | WorstCaseReport;

/** True for a report of evaluateWorstCase (its records in `records`, not `samples`). @internal */
export const isWorstCase = (r: unknown): r is WorstCaseReport => (r as { records?: { kind?: unknown } } | null)?.records?.kind === 'worst-case';

/**
 * One shard's part of a run: the reports of its evaluations (named, e.g. `'lesion/robustness'`)
 * with the run's full configuration. `writeShardResult` (`medrobust/node`) stores it as a file.
 * @category Sharding
 */
export interface ShardResult {
  /** The shard these reports cover. */
  readonly shard: Shard;
  /**
   * The run's full configuration, any JSON value (model, data, attack settings: whatever decides the
   * results). Shards merge only when their configurations are equal (key order aside).
   */
  readonly config: unknown;
  /** The shard's reports by name; every shard of a run has the same names. */
  readonly results: Readonly<Record<string, ShardableReport>>;
  /** Where the shard came from (a file name), for messages. @defaultValue none */
  readonly source?: string;
  /**
   * Where it was computed (backend, threads, host...), any JSON value; kept, never compared: shards
   * computed on different backends or CPU kinds merge, but may not equal an unsharded run bit for bit.
   * @defaultValue none
   */
  readonly environment?: unknown;
}

/**
 * The whole data set's results, merged from all shards by {@link mergeShards}.
 * @category Sharding
 */
export interface MergedResults {
  /** The number of shards merged. */
  readonly shards: number;
  /** The run's configuration (equal in every shard). */
  readonly config: unknown;
  /** Each evaluation's report over the whole data set, by name: equal to an unsharded run's. */
  readonly results: Record<string, ShardableReport>;
  /** Each shard's `environment` (undefined where none was given), by shard index. */
  readonly environments: readonly unknown[];
}

type AnySamples = RobustnessSamples | CorruptionSamples | PerturbationSamples;
const KINDS = ['robustness', 'corruptions', 'perturbations'] as const;

/** JSON with sorted keys (NaN and ±Infinity spelled out): equal strings ⇔ equal values. */
export function canonicalJson(value: unknown): string {
  if (typeof value === 'number') return Number.isFinite(value) ? (Object.is(value, -0) ? '-0' : JSON.stringify(value)) : `"${String(value)}"`;
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    return `{${Object.keys(o).sort().filter((k) => o[k] !== undefined).map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(',')}}`;
  }
  return value === undefined ? 'null' : JSON.stringify(value);
}

/** Up to `limit` paths where two JSON values differ, `path: a → b`. */
function differences(a: unknown, b: unknown, path: string, out: string[], limit = 3): string[] {
  if (out.length >= limit) return out;
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (isObject(a) && isObject(b)) {
    for (const k of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) differences(a[k], b[k], path ? `${path}.${k}` : k, out, limit);
    return out;
  }
  if (Array.isArray(a) && Array.isArray(b) && a.length === b.length) {
    a.forEach((v, i) => differences(v, b[i], `${path}[${i}]`, out, limit));
    return out;
  }
  if (canonicalJson(a) !== canonicalJson(b)) {
    const show = (v: unknown): string => {
      const t = v === undefined ? '(unset)' : canonicalJson(v);
      return t.length > 60 ? `${t.slice(0, 57)}...` : t;
    };
    out.push(`${path || '(the value)'}: ${show(a)} → ${show(b)}`);
  }
  return out;
}

const list = (xs: readonly number[]): string => (xs.length > 12 ? `${xs.slice(0, 12).join(', ')}, … (${xs.length} in all)` : xs.join(', '));

/** Checks the form of one shard result (`arg` names it in messages); returns its shard. @internal */
export function checkShardResult(fn: string, value: unknown, arg: string): Shard {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new InvalidArgumentError(fn, arg, 'a shard result { shard, config, results }', describeValue(value));
  const r = value as Record<string, unknown>;
  const shard = assertShard(fn, `${arg}.shard`, r.shard ?? null);
  if (typeof r.results !== 'object' || r.results === null || Array.isArray(r.results) || Object.keys(r.results).length === 0) {
    throw new InvalidArgumentError(fn, `${arg}.results`, 'an object of named reports (at least one)', describeValue(r.results));
  }
  for (const [name, report] of Object.entries(r.results as Record<string, unknown>)) {
    if (isWorstCase(report)) {
      checkWorstCaseReport(fn, report, `${arg}.results[${JSON.stringify(name)}]`);
      continue;
    }
    const samples = (report as { samples?: { kind?: unknown; positions?: unknown; total?: unknown } } | null)?.samples;
    if (typeof samples !== 'object' || samples === null || !KINDS.includes(samples.kind as (typeof KINDS)[number]) || !Array.isArray(samples.positions) || typeof samples.total !== 'number') {
      throw new InvalidArgumentError(fn, `${arg}.results[${JSON.stringify(name)}]`, 'a report of evaluateRobustness, evaluateCorruptions or evaluatePerturbations with its samples, or of evaluateWorstCase with its records', describeValue(report));
    }
  }
  return shard;
}

/** The per-sample columns of a samples object: arrays with one entry per image. */
function columns(s: AnySamples): (readonly unknown[])[] {
  if (s.kind === 'robustness') return [s.labels, s.clean, ...s.adversarial, ...s.linf, ...s.l2];
  if (s.kind === 'corruptions') return [s.clean, ...s.corrupted];
  return [...s.predictions];
}

/** Interleaves per-shard columns (ordered by shard index) into data-set order: entry p from shard p mod count. */
function weave<T>(parts: readonly (readonly T[])[], total: number): T[] {
  const count = parts.length;
  const out = new Array<T>(total);
  for (let p = 0; p < total; p++) out[p] = parts[p % count]![Math.floor(p / count)]!;
  return out;
}

function mergeSamples(parts: readonly AnySamples[], total: number): AnySamples {
  const first = parts[0]!;
  const positions = Array.from({ length: total }, (_, p) => p);
  if (first.kind === 'robustness') {
    const ps = parts as readonly RobustnessSamples[];
    const rows = first.settings.rows.length;
    const perRow = (f: (s: RobustnessSamples) => readonly (readonly unknown[])[]) => Array.from({ length: rows }, (_, r) => weave(ps.map((s) => f(s)[r]!), total));
    return {
      ...first,
      total,
      positions,
      labels: weave(ps.map((s) => s.labels), total),
      clean: weave(ps.map((s) => s.clean), total),
      adversarial: perRow((s) => s.adversarial) as number[][][],
      linf: perRow((s) => s.linf) as number[][],
      l2: perRow((s) => s.l2) as number[][],
    };
  }
  if (first.kind === 'corruptions') {
    const ps = parts as readonly CorruptionSamples[];
    return {
      ...first,
      total,
      positions,
      decisions: Math.max(...ps.map((s) => s.decisions)),
      clean: weave(ps.map((s) => s.clean), total),
      corrupted: first.corrupted.map((_, c) => weave(ps.map((s) => s.corrupted[c]!), total)),
    };
  }
  const ps = parts as readonly PerturbationSamples[];
  return { ...first, total, positions, predictions: first.predictions.map((_, k) => weave(ps.map((s) => s.predictions[k]! as readonly unknown[]), total)) as PerturbationSamples['predictions'] };
}

function summarize(samples: AnySamples): ShardableReport {
  if (samples.kind === 'robustness') return summarizeRobustness(samples, WHOLE);
  if (samples.kind === 'corruptions') return summarizeCorruptions(samples, WHOLE);
  return summarizePerturbations(samples, WHOLE);
}

/**
 * Merges the results of all shards of a run into the whole data set's results, recomputing every
 * figure from the per-sample records: accuracies, AUCs (over all images, never an average of the
 * shards' AUCs), fooling rates, perturbation norms, co-occurrence matrices, corruption errors and
 * flip probabilities. The result equals an unsharded run bit for bit (same backend and seed).
 *
 * It refuses, with a {@link ShardMergeError} that names the shards (and their `source`), when the
 * shard counts differ, the configurations or evaluation settings differ, a shard is given twice or
 * is missing, or a shard's records are not exactly its part of the data set.
 *
 * @param shards - one {@link ShardResult} per shard, in any order.
 * @returns the merged results: the configuration and one report per name, over the whole data set.
 * @throws {InvalidArgumentError} for an empty list or a malformed shard result.
 * @throws {ShardMergeError} when the shards do not make one run's complete, consistent set.
 *
 * @example
 * ```ts
 * const parts = [];
 * for (let index = 0; index < 3; index++) {
 *   const report = await evaluateRobustness(model, batches, attacks, { seed: 1, shard: { index, count: 3 } });
 *   parts.push({ shard: { index, count: 3 }, config: { model: 'v1' }, results: { robustness: report } });
 * }
 * const merged = mergeShards(parts);
 * console.log(merged.results.robustness); // equals evaluateRobustness(model, batches, attacks, { seed: 1 })
 * ```
 * @category Sharding
 */
export function mergeShards(shards: readonly ShardResult[]): MergedResults {
  return entry('mergeShards', () => mergeShardResults('mergeShards', shards));
}

/** {@link mergeShards} under another function's name (the file-reading merge). @internal */
export function mergeShardResults(fn: string, shards: readonly ShardResult[]): MergedResults {
  if (!Array.isArray(shards) || shards.length === 0) throw new InvalidArgumentError(fn, 'shards', 'a non-empty array of shard results', describeValue(shards));
  const specs = shards.map((s, i) => checkShardResult(fn, s, `shards[${i}]`));
  const name = (i: number): string => `shard ${specs[i]!.index}/${specs[i]!.count}${shards[i]!.source ? ` (${shards[i]!.source})` : ''}`;

  const count = specs[0]!.count;
  const otherCount = specs.map((s, i) => (s.count === count ? -1 : i)).filter((i) => i >= 0);
  if (otherCount.length > 0) {
    throw new ShardMergeError(fn, 'count', `the shards were made for different shard counts: ${name(0)} is one of ${count}, but ${otherCount.map(name).join(', ')} ${otherCount.length === 1 ? 'is' : 'are'} not; merge the shards of one run`, { shards: otherCount.map((i) => specs[i]!.index) });
  }

  // Configuration and evaluation settings: everything that decides the results must be equal.
  const identity = (r: ShardResult) => ({
    config: r.config,
    evaluations: Object.fromEntries(Object.entries(r.results).map(([k, rep]) => [k, isWorstCase(rep) ? { kind: 'worst-case', settings: rep.records.settings } : { kind: rep.samples.kind, settings: rep.samples.settings }])),
  });
  const reference = identity(shards[0]!);
  const referenceText = canonicalJson(reference);
  const differing = shards.map((r, i) => (canonicalJson(identity(r)) === referenceText ? -1 : i)).filter((i) => i >= 0);
  if (differing.length > 0) {
    const diff = differences(reference, identity(shards[differing[0]!]!), '', []);
    throw new ShardMergeError(fn, 'config', `${differing.map(name).join(', ')} ${differing.length === 1 ? 'was' : 'were'} made with a different configuration than ${name(0)} (${diff.join('; ')}); rerun ${differing.length === 1 ? 'it' : 'them'} with the run's configuration, or merge the shards of one run`, { shards: differing.map((i) => specs[i]!.index) });
  }

  // Coverage: every index exactly once.
  const { at: seen, duplicated, missing } = shardCoverage(specs.map((s) => s.index), count);
  if (duplicated.length > 0) {
    const where = duplicated.slice(0, 6).map((k) => `${k} (${seen.get(k)!.map((i) => shards[i]!.source ?? `shards[${i}]`).join(', ')})`);
    throw new ShardMergeError(fn, 'duplicated', `shard${duplicated.length === 1 ? '' : 's'} ${where.join('; ')} of ${count} ${duplicated.length === 1 ? 'is' : 'are'} given more than once; pass each shard once${missing.length ? ` (and shards ${list(missing)} are missing)` : ''}`, { duplicated, missing });
  }
  if (missing.length > 0) {
    throw new ShardMergeError(fn, 'missing', `shard${missing.length === 1 ? '' : 's'} ${list(missing)} of ${count} ${missing.length === 1 ? 'is' : 'are'} missing; run ${missing.length === 1 ? 'it' : 'them'} (${missing.slice(0, 3).map((k) => `--shard ${k}/${count}`).join(', ')}${missing.length > 3 ? ', …' : ''}) and merge again`, { missing });
  }

  // Records: each shard holds exactly its positions, and every shard saw the same data set.
  const byIndex = specs.map((s, i) => [s.index, i] as const).sort((a, b) => a[0] - b[0]).map(([, i]) => shards[i]!);
  const results: Record<string, ShardableReport> = {};
  for (const key of Object.keys(shards[0]!.results)) {
    if (isWorstCase(shards[0]!.results[key])) {
      results[key] = mergeWorstCaseReports(fn, byIndex.map((r) => r.results[key] as WorstCaseReport), (k) => `${name(specs.findIndex((sp) => sp.index === k))}: result '${key}'`);
      continue;
    }
    const parts = byIndex.map((r) => (r.results[key] as Exclude<ShardableReport, WorstCaseReport>).samples as AnySamples);
    const total = parts[0]!.total;
    parts.forEach((s, k) => {
      const bad = (what: string) => new ShardMergeError(fn, 'records', `${name(specs.findIndex((sp) => sp.index === k))}: result '${key}' ${what}; rerun the shard`, { shards: [k] });
      if (s.total !== total) throw bad(`saw ${s.total} images in the data set, shard ${byIndex[0]!.shard.index} saw ${total} (the shards read different data)`);
      const expected = shardPositions(total, { index: k, count });
      if (s.positions.length !== expected.length || s.positions.some((p, j) => p !== expected[j])) throw bad(`holds ${s.positions.length} images that are not exactly its ${expected.length} positions p ≡ ${k} (mod ${count}) of ${total}`);
      const lengths = columns(s).map((c) => c.length);
      if (lengths.some((l) => l !== expected.length)) throw bad(`has records of ${[...new Set(lengths)].join('/')} images for its ${expected.length} positions`);
    });
    results[key] = summarize(mergeSamples(parts, total));
  }
  return { shards: count, config: shards[0]!.config, results, environments: byIndex.map((r) => r.environment) };
}
