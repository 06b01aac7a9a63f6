import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { FormatError, InvalidArgumentError } from '../errors.js';
import { describeValue } from '../internal/validate.js';
import { entry, entryAsync } from '../internal/scope.js';
import { canonicalJson, checkShardResult, mergeShardResults, type MergedResults, type ShardResult } from '../shard/mergeShards.js';
import { AtomicWriteError, writeFileAtomic } from './atomic.js';
import { assertPath, fileError } from './fileErrors.js';
// Imported for the {@link} references of the comments only.
import type { FileError, ShardMergeError } from '../errors.js';
import type { mergeShards } from '../shard/mergeShards.js';

/** The first bytes of every shard file; the SHA-256 of the content follows. */
const FORMAT = 'medrobust-shard/1';
const HEAD = new RegExp(`^\\{"format":"${FORMAT.replace('/', '\\/')}","sha256":"([0-9a-f]{64})","content":`);
const SPECIAL: Readonly<Record<string, number>> = { NaN: Number.NaN, Infinity: Number.POSITIVE_INFINITY, '-Infinity': Number.NEGATIVE_INFINITY, '-0': -0 };

const sha256 = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');

/** The SHA-256 (hex) of a configuration's canonical JSON (key order does not matter). @internal */
export function configHash(config: unknown): string {
  return sha256(canonicalJson(config));
}

function encode(fn: string, value: unknown): string {
  return JSON.stringify(value, function replacer(this: unknown, key: string, v: unknown) {
    if (typeof v === 'number' && (!Number.isFinite(v) || Object.is(v, -0))) return { $number: Object.is(v, -0) ? '-0' : String(v) };
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
      const keys = Object.keys(v);
      if (keys.length === 1 && keys[0] === '$number') throw new InvalidArgumentError(fn, `result (at key ${JSON.stringify(key)})`, 'values other than an object { $number } (reserved by the shard file format)', describeValue(v));
    }
    return v;
  });
}

function decode(text: string): unknown {
  return JSON.parse(text, (_key, v: unknown) => {
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
      const o = v as Record<string, unknown>;
      const keys = Object.keys(o);
      if (keys.length === 1 && keys[0] === '$number' && typeof o.$number === 'string' && o.$number in SPECIAL) return SPECIAL[o.$number];
    }
    return v;
  });
}

/**
 * Writes one shard's results to a file, atomically (a reader sees the old file or the new one, never
 * a part), as JSON: `{"format":"medrobust-shard/1","sha256":…,"content":{shard, config, configHash,
 * environment, results}}`. The content holds the run's full configuration and its SHA-256
 * (`configHash`, of the configuration's canonical JSON), and every report with its per-sample
 * records; `sha256` is the checksum of the content's text, so an edited or truncated file is refused
 * when read. Numbers are exact (NaN, ±Infinity and −0 are written as `{"$number": "NaN"}`).
 *
 * @param file - the file to write (its folder is created).
 * @param result - the shard's {@link ShardResult} (`source` is not stored).
 * @throws {InvalidArgumentError} for a bad path or a malformed result.
 * @throws {FileError} when the file cannot be written (the previous file, if any, is left intact).
 *
 * @example
 * ```ts
 * const shard = { index: Number(process.env.JOB_COMPLETION_INDEX), count: 8 };
 * const report = await evaluateRobustness(model, batches, attacks, { seed: 1, shard });
 * await writeShardResult(`results/shard-${shard.index}.json`, { shard, config, results: { robustness: report } });
 * ```
 * @category Node
 */
export async function writeShardResult(file: string, result: ShardResult): Promise<void> {
  const fn = 'writeShardResult';
  assertPath(fn, 'file', file);
  checkShardResult(fn, result, 'result');
  const { shard, config, results, environment } = result;
  const content = encode(fn, { shard: { index: shard.index, count: shard.count }, config: config ?? null, configHash: configHash(config ?? null), environment: environment ?? null, results });
  const text = `{"format":"${FORMAT}","sha256":"${sha256(content)}","content":${content}}\n`;
  try {
    await writeFileAtomic(file, text);
  } catch (err) {
    throw fileError(fn, file, err instanceof AtomicWriteError ? err.cause : err, 'the shard file', err instanceof AtomicWriteError && !err.replaced ? ' (nothing was replaced)' : '');
  }
}

/**
 * Reads a file written by {@link writeShardResult}, checking its format and checksum.
 *
 * @param file - the shard file.
 * @returns the {@link ShardResult}, with `source` set to `file`.
 * @throws {FileError} when the file cannot be read.
 * @throws {FormatError} when it is not a shard file, was edited or truncated (checksum), or its
 *   configuration does not match its `configHash`.
 *
 * @example
 * ```ts
 * const part = await readShardResult('results/shard-3.json');
 * console.log(part.shard, Object.keys(part.results));
 * ```
 * @category Node
 */
export async function readShardResult(file: string): Promise<ShardResult> {
  return readShard('readShardResult', file);
}

async function readShard(fn: string, file: string): Promise<ShardResult> {
  assertPath(fn, 'file', file);
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    throw fileError(fn, file, err, 'the shard file');
  }
  const head = HEAD.exec(text);
  if (!head) throw new FormatError(`${fn}: ${file} is not a medrobust shard file (it must start with {"format":"${FORMAT}","sha256":…); was it edited or reformatted?`);
  const body = text.replace(/\s+$/, '');
  if (!body.endsWith('}')) throw new FormatError(`${fn}: ${file} is truncated (it does not end with '}')`);
  const content = body.slice(head[0].length, -1);
  if (sha256(content) !== head[1]) throw new FormatError(`${fn}: ${file} is corrupt or was edited: its content does not match its SHA-256 checksum; rerun the shard`);
  let parsed: { shard?: unknown; config?: unknown; configHash?: unknown; environment?: unknown; results?: unknown };
  try {
    parsed = decode(content) as typeof parsed;
  } catch (err) {
    throw new FormatError(`${fn}: ${file} holds malformed JSON: ${(err as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null) throw new FormatError(`${fn}: ${file} holds no shard result`);
  if (parsed.configHash !== configHash(parsed.config)) throw new FormatError(`${fn}: ${file} has a configuration that does not match its configHash`);
  const result = { shard: parsed.shard, config: parsed.config, results: parsed.results, ...(parsed.environment == null ? {} : { environment: parsed.environment }), source: file } as ShardResult;
  try {
    checkShardResult(fn, result, file);
  } catch (err) {
    if (err instanceof InvalidArgumentError) throw new FormatError(`${fn}: ${file} holds no valid shard result: ${err.message}`);
    throw err;
  }
  return result;
}

/**
 * Reads the shard files of a run and merges them with {@link mergeShards}: every figure recomputed
 * from the per-sample records, equal to an unsharded run bit for bit. Each file's checksum and
 * `configHash` are checked first.
 *
 * @param files - one file per shard (written by {@link writeShardResult}), in any order.
 * @returns the {@link MergedResults} of the whole data set.
 * @throws {InvalidArgumentError} for an empty list or a bad path.
 * @throws {FileError} when a file cannot be read.
 * @throws {FormatError} for a file that is not an intact shard file.
 * @throws {ShardMergeError} when a shard is missing or given twice, or the shards differ in
 *   configuration or shard count (the message names the files).
 *
 * @example
 * ```ts
 * const merged = await mergeResults(['out/shard-0.json', 'out/shard-1.json', 'out/shard-2.json']);
 * console.table(merged.results.robustness.rows);
 * ```
 * @category Node
 */
export async function mergeResults(files: readonly string[]): Promise<MergedResults> {
  return entryAsync('mergeResults', () => mergeFiles('mergeResults', files));
}

async function mergeFiles(fn: string, files: readonly string[]): Promise<MergedResults> {
  if (!Array.isArray(files) || files.length === 0) throw new InvalidArgumentError(fn, 'files', 'a non-empty array of shard file paths', describeValue(files));
  files.forEach((f, i) => assertPath(fn, `files[${i}]`, f));
  const shards: ShardResult[] = [];
  for (const file of files) shards.push(await readShard(fn, file));
  return entry(fn, () => mergeShardResults(fn, shards));
}
