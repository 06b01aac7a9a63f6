/**
 * The state of a run folder (`state.json`, written atomically after every stage): the config the run
 * was made with, and for every finished stage its result, the hash of the config fields it depends on,
 * the seconds it took (in the runs that computed it) and the backend. A rerun with the same config
 * resumes; a rerun with a changed config is refused with the list of changes, unless asked to start
 * over (`fresh`) or to redo only the stages the changes affect (`redo-changed`).
 * @internal
 */
import { existsSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../node/atomic.js';
import { configChanges } from './config.js';
import { UsageError } from './usageError.js';

export const STATE_FORMAT = 'medrobust-run/2';

/** What to do when the run folder was made with another config. */
export type ChangedConfigPolicy = 'refuse' | 'fresh' | 'redo-changed';

export interface StageRecord<T = unknown> {
  /** Hash of the config fields the stage depends on (config.ts, stageInputs). */
  hash: string;
  /** Seconds the stage took, summed over the runs that worked on it (an interrupted run's share included). */
  seconds: number;
  /** Backend that computed it. */
  backend: string;
  /** True when it was finished from a checkpoint or after an interruption. */
  resumed: boolean;
  value: T;
}

interface StateFile {
  format: string;
  config: unknown;
  stages: Record<string, StageRecord>;
  /** Seconds spent on stages that were interrupted before they finished. */
  partialSeconds: Record<string, number>;
}

export interface RunStateOptions {
  /** The experiment part of the current config (config.ts, experimentPart). */
  config: unknown;
  /** Hash of the current config's inputs of a stage, or undefined for a key the config no longer runs. */
  hashFor: (key: string) => string | undefined;
  /** Files and folders (relative to the run folder) a stage leaves behind: checkpoints, models. */
  artifactsOf: (key: string) => string[];
  /** Backend of this run, recorded with every stage it computes. */
  backend: string;
  onChangedConfig?: ChangedConfigPolicy;
}

/** Everything a run writes into its folder (what `fresh` removes; other files are left alone). */
export const RUN_OUTPUTS = ['state.json', 'checkpoints', 'models', 'plots', 'figures', 'tables', 'report.md', 'results.json'];

export class RunState {
  private readonly file: string;
  private state: StateFile;
  /** Keys computed (or reused) in this run, in order. */
  private readonly used: string[] = [];
  private readonly reusedKeys = new Set<string>();
  /** The backend recorded with the stages this run computes. */
  backend: string;

  constructor(readonly dir: string, private readonly options: RunStateOptions) {
    this.file = join(dir, 'state.json');
    this.backend = options.backend;
    const policy = options.onChangedConfig ?? 'refuse';
    const fresh: StateFile = { format: STATE_FORMAT, config: options.config, stages: {}, partialSeconds: {} };
    if (policy === 'fresh') {
      // Asked to start over: whatever the folder holds (even a damaged state.json) goes.
      for (const entry of RUN_OUTPUTS) rmSync(join(dir, entry), { recursive: true, force: true });
      this.state = fresh;
      return;
    }
    const stored = existsSync(this.file) ? this.read() : undefined;
    if (stored === undefined) {
      this.state = fresh;
      return;
    }
    const legacy = stored.format !== STATE_FORMAT;
    const changes = legacy ? ['the run folder was made by an older medrobust that did not record its config'] : configChanges(stored.config, options.config);
    if (changes.length === 0) {
      this.state = stored;
      return;
    }
    if (policy === 'refuse') {
      throw new UsageError(`run folder ${dir} holds results of a different config (${changes.join('; ')}): rerun with --redo-changed to recompute what these changes affect, --fresh to start over, or another --name`);
    }
    if (legacy) {
      for (const entry of RUN_OUTPUTS) rmSync(join(dir, entry), { recursive: true, force: true });
      this.state = fresh;
      return;
    }
    // redo-changed: keep the stages whose inputs did not change; drop the others with their artifacts,
    // and every checkpoint (unfinished stages were started under the old config).
    const stages: Record<string, StageRecord> = {};
    for (const [key, record] of Object.entries(stored.stages)) {
      if (options.hashFor(key) === record.hash) stages[key] = record;
      else for (const a of options.artifactsOf(key)) rmSync(join(dir, a), { recursive: true, force: true });
    }
    rmSync(join(dir, 'checkpoints'), { recursive: true, force: true });
    this.state = { format: STATE_FORMAT, config: options.config, stages, partialSeconds: {} };
  }

  private read(): StateFile {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(this.file, 'utf8'));
    } catch (err) {
      throw new UsageError(`${this.file} is not valid JSON (${(err as Error).message}); rerun with --fresh to start over`);
    }
    const o = parsed as Partial<StateFile> | null;
    if (typeof o !== 'object' || o === null || o.format !== STATE_FORMAT) return { format: 'legacy', config: undefined, stages: {}, partialSeconds: {} };
    if (typeof o.stages !== 'object' || o.stages === null || typeof o.partialSeconds !== 'object' || o.partialSeconds === null) {
      throw new UsageError(`${this.file} is damaged (no stages record); rerun with --fresh to start over`);
    }
    return o as StateFile;
  }

  /** Writes state.json (atomically); the first write also records the config. */
  async save(): Promise<void> {
    await writeFileAtomic(this.file, JSON.stringify(this.state, null, 1));
  }

  /** True when `key` finished with the current config's inputs. */
  has(key: string): boolean {
    const record = this.state.stages[key];
    return record !== undefined && record.hash === this.options.hashFor(key);
  }

  /** The result of a finished stage. */
  get<T>(key: string): T {
    return this.state.stages[key]!.value as T;
  }

  /** Forgets a finished stage (its results turned out unusable, e.g. a model file was deleted). */
  async forget(key: string): Promise<void> {
    delete this.state.stages[key];
    await this.save();
  }

  /**
   * Runs `step` unless it finished before with the same inputs; returns its (possibly earlier) result.
   * Its time is recorded with it; an interrupted attempt's time is kept and added when it finishes.
   */
  async once<T>(key: string, step: () => Promise<T>): Promise<T> {
    this.used.push(key);
    if (this.has(key)) {
      this.reusedKeys.add(key);
      return this.get<T>(key);
    }
    const hash = this.options.hashFor(key);
    if (hash === undefined) throw new Error(`runState: no config hash for stage '${key}'`);
    const hadCheckpoint = this.options.artifactsOf(key).some((a) => a.startsWith('checkpoints/') && existsSync(join(this.dir, a)));
    const earlier = this.state.partialSeconds[key] ?? 0;
    const start = performance.now();
    let value: T;
    try {
      value = await step();
    } catch (err) {
      this.state.partialSeconds[key] = earlier + (performance.now() - start) / 1000;
      await this.save().catch(() => undefined);
      throw err;
    }
    delete this.state.partialSeconds[key];
    this.state.stages[key] = { hash, seconds: earlier + (performance.now() - start) / 1000, backend: this.backend, resumed: earlier > 0 || hadCheckpoint, value };
    await this.save();
    return value;
  }

  /** One row per stage used in this run, in order: its recorded time and whether this run computed it. */
  timings(): { step: string; seconds: number; backend: string; computed: string }[] {
    return [...new Set(this.used)].filter((k) => this.state.stages[k]).map((k) => {
      const r = this.state.stages[k]!;
      const computed = this.reusedKeys.has(k) ? 'earlier run' : r.resumed ? 'this run (resumed)' : 'this run';
      return { step: k, seconds: r.seconds, backend: r.backend, computed };
    });
  }
}

/**
 * Holds `<dir>/run.lock` while a run works in the folder, so that two processes never write the same
 * run at once. A lock left by a process that no longer exists (kill -9) is taken over.
 */
export function lockRunFolder(dir: string): () => void {
  const file = join(dir, 'run.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, String(process.pid), { flag: 'wx' });
      return () => { try { unlinkSync(file); } catch { /* already gone */ } };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number(readFileSync(file, 'utf8'));
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
        throw new UsageError(`run folder ${dir} is in use by process ${pid}; wait for it to finish, or pick another --name`);
      }
      rmSync(file, { force: true });
    }
  }
  throw new UsageError(`cannot lock run folder ${dir} (${file})`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
