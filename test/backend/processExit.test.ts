/**
 * Processes that use threaded wasm end by themselves: the pool's worker threads must not hold the event
 * loop open, and an uncaught error must reach Node's default handler (the error, exit code 1) instead of
 * Emscripten's rethrowing listener (55 KB of minified source, exit code 7). Each case is a child process.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const script = fileURLToPath(new URL('../fixtures/scripts/threadedWasm.ts', import.meta.url));
const tsx = fileURLToPath(new URL('../../node_modules/tsx/dist/cli.mjs', import.meta.url));

function run(mode: string) {
  return spawnSync(process.execPath, [tsx, script, mode], { encoding: 'utf8', timeout: 60_000 });
}

describe('a process on threaded wasm', () => {
  it('exits 0 by itself once its work is done', () => {
    const r = run('ok');
    expect(r.error, 'the process did not exit within 60 s').toBeUndefined();
    expect(r.stdout).toContain('backend=wasm threads=2 finite=true');
    expect(r.status).toBe(0);
  });

  it.each(['throw', 'reject'])('on an uncaught error (%s) prints the error briefly and exits 1', (mode) => {
    const r = run(mode);
    expect(r.error).toBeUndefined();
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/deliberate (failure|rejection) from the script/);
    expect(r.stderr.length).toBeLessThan(4000);
  });
});
