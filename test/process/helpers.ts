/**
 * Child processes for the process tests: start the CLI or `npm run demo`, wait until a file shows the
 * run has reached a point, signal it, and compare two run folders' results.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';

export const repo = fileURLToPath(new URL('../../', import.meta.url));
export const bin = join(repo, 'src/cli/bin.ts');
export const slow = process.env.MEDROBUST_SLOW === '1';

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  seconds: number;
}

export interface Running {
  child: ChildProcess;
  exit: Promise<Exit>;
}

/** Starts a command; `exit` settles when it ends (or rejects when it outlives `timeoutMs`, after killing it). */
export function start(command: string, args: readonly string[], options: { timeoutMs: number; detached?: boolean; env?: NodeJS.ProcessEnv }): Running {
  const t0 = performance.now();
  const env = { ...process.env, ...options.env };
  delete env.MEDROBUST_SLOW; // the child runs its normal work, whatever suite runs it
  const child = spawn(command, [...args], { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'], detached: options.detached ?? false, env });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => { stdout += d; });
  child.stderr!.on('data', (d) => { stderr += d; });
  const exit = new Promise<Exit>((resolve, reject) => {
    const timer = setTimeout(() => {
      if (options.detached) process.kill(-child.pid!, 'SIGKILL'); else child.kill('SIGKILL');
      reject(new Error(`${command} ${args.join(' ')} did not exit by itself within ${options.timeoutMs / 1000} s\n${stderr.slice(-2000)}`));
    }, options.timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, seconds: (performance.now() - t0) / 1000 });
    });
  });
  return { child, exit };
}

/** The CLI from source, in one Node process (no wrapper that would relay signals). */
export function cli(args: readonly string[], timeoutMs = 180_000): Running {
  return start(process.execPath, ['--import', 'tsx', bin, ...args], { timeoutMs });
}

/** `npm run demo -- <args>` in its own process group, as a terminal runs it (so Ctrl-C reaches the whole group). */
export function npmDemo(args: readonly string[], timeoutMs = 180_000): Running {
  return start('npm', ['run', '--silent', 'demo', '--', ...args], { timeoutMs, detached: true });
}

/** Resolves once `predicate` holds (polled every 20 ms); rejects if the process ends first. */
export async function waitFor(predicate: () => boolean, running: Running, what: string, timeoutMs = 120_000): Promise<void> {
  let ended = false;
  void running.exit.then(() => { ended = true; }, () => { ended = true; });
  const t0 = Date.now();
  while (!predicate()) {
    if (ended) throw new Error(`the process ended before ${what}`);
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** True once `state.json` records stage `key` as finished. */
export function stageDone(dir: string, key: string): boolean {
  try {
    return key in (JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as { stages: object }).stages;
  } catch {
    return false;
  }
}

export function results(dir: string): { config: unknown; attacks: unknown[]; defenses: unknown[]; analyses: unknown[]; training: { lastLoss?: number }[] } {
  return JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8'));
}

/**
 * Two runs' results are equal: every metric row, analysis and config bit for bit, every saved model's
 * weights byte for byte; the training summaries' mean losses to 1e-6 (an epoch interrupted and resumed
 * sums its batch losses in two parts, in float64 and float32).
 */
export function expectSameResults(dir: string, reference: string): void {
  const a = results(dir);
  const b = results(reference);
  expect(a.config).toEqual(b.config);
  expect(a.attacks).toEqual(b.attacks);
  expect(a.defenses).toEqual(b.defenses);
  expect(a.analyses).toEqual(b.analyses);
  expect(a.training.map((t) => ({ ...t, lastLoss: undefined }))).toEqual(b.training.map((t) => ({ ...t, lastLoss: undefined })));
  a.training.forEach((t, i) => expect(Math.abs(t.lastLoss! - b.training[i]!.lastLoss!)).toBeLessThan(1e-6));
  const models = readdirSync(join(reference, 'models'));
  expect(readdirSync(join(dir, 'models')).sort()).toEqual(models.sort());
  for (const m of models) {
    const weights = readFileSync(join(dir, 'models', m, 'weights.bin'));
    expect(weights.equals(readFileSync(join(reference, 'models', m, 'weights.bin'))), `models/${m}/weights.bin`).toBe(true);
  }
  expect(existsSync(join(dir, 'run.lock'))).toBe(false);
}

/** A user-facing error: one line, no stack trace. */
export function expectOneLine(stderr: string): void {
  expect(stderr.trimEnd().split('\n'), stderr).toHaveLength(1);
  expect(stderr).not.toMatch(/\n\s+at |node:internal|Error:/);
}
