/**
 * The state of a run folder: finished steps and their results in `state.json` (written atomically
 * after every step), so an interrupted run resumes without redoing finished work.
 * @internal
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../node/atomic.js';

export class RunState {
  private readonly file: string;
  private results: Record<string, unknown> = {};

  constructor(readonly dir: string) {
    this.file = join(dir, 'state.json');
    if (existsSync(this.file)) this.results = JSON.parse(readFileSync(this.file, 'utf8')) as Record<string, unknown>;
  }

  /** True when step `key` finished in this or an earlier run. */
  has(key: string): boolean {
    return key in this.results;
  }

  /** The result of a finished step. */
  get<T>(key: string): T {
    return this.results[key] as T;
  }

  /** Records a finished step and persists the whole state atomically. */
  async set(key: string, value: unknown): Promise<void> {
    this.results[key] = value;
    await writeFileAtomic(this.file, JSON.stringify(this.results, null, 1));
  }

  /** Runs `step` unless it finished before; returns its (possibly earlier) result. */
  async once<T>(key: string, step: () => Promise<T>): Promise<T> {
    if (this.has(key)) return this.get<T>(key);
    const value = await step();
    await this.set(key, value);
    return value;
  }

  /** Everything recorded so far. */
  all(): Readonly<Record<string, unknown>> {
    return this.results;
  }
}
